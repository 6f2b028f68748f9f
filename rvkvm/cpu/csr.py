"""The CSR table: one row per CSR the hart implements beyond what Unicorn runs natively.

Unicorn executes the S-level and unprivileged CSR accesses it implements; everything
else traps to Python as an illegal instruction and lands here: the M-level CSRs (guest
M code runs in Unicorn's S-mode, see levels.py), the H and VS CSRs (Unicorn has no H
extension), `time`, satp in M, and S CSRs touched from VU (a virtual-instruction fault).

A row says who may access it and which trap anyone else gets (as QEMU's csr_ops
predicates and Spike's verify_permissions): the default rule follows from the CSR
number (spec 2.1 and 8.6.1), `check` adds a row's own conditions (counter enables,
TVM/VTVM). Names come from csr_names.py, shared with the disassembler and dumps.
"""
from __future__ import annotations

from typing import Callable

from unicorn import riscv_const as rc

from ..records import slots_repr
from .constants import (
    EXC_ILLEGAL_INSN,
    EXC_VIRTUAL_INSN,
    HSTATUS_GVA,
    HSTATUS_HU,
    HSTATUS_SPV,
    HSTATUS_SPVP,
    HSTATUS_VTSR,
    HSTATUS_VTVM,
    HSTATUS_VTW,
    M_INTERRUPTS,
    MIP_VSSIP,
    MSTATUS_TVM,
    PRV_M,
    PRV_S,
    PRV_U,
    S_INTERRUPTS,
    VS_INTERRUPTS,
)
from .csr_names import CSR_NUMBERS, csr_name

M64 = (1 << 64) - 1
ILLEGAL, VIRTUAL = EXC_ILLEGAL_INSN, EXC_VIRTUAL_INSN
# RV64 I M A F D C, S and U modes, and H when the hart has it
MISA_BASE = (2 << 62) | sum(1 << (ord(c) - ord("A")) for c in "IMAFDCSU")
MISA_H = 1 << (ord("H") - ord("A"))
# exceptions M may delegate: not ecall from M; with H also ecall from VS (10) and the
# guest-page and virtual-instruction faults (20-23)
MEDELEG_MASK = 0xB3FF
MEDELEG_MASK_H = MEDELEG_MASK | (1 << 10) | (0xF << 20)
# exceptions HS may delegate to VS: not the ecalls from HS/VS/M nor 20-23 (spec 8.2.2)
HEDELEG_MASK = 0xB1FF
MIDELEG_MASK = S_INTERRUPTS
MIE_MASK = S_INTERRUPTS | M_INTERRUPTS
MIP_WRITABLE = S_INTERRUPTS            # M code may set/clear SSIP, STIP, SEIP
HSTATUS_WRITABLE = (HSTATUS_GVA | HSTATUS_SPV | HSTATUS_SPVP | HSTATUS_HU | HSTATUS_VTVM |
                    HSTATUS_VTW | HSTATUS_VTSR)
HSTATUS_VSXL_64 = 2 << 32
PMPADDR_MASK = (1 << 54) - 1
INTERRUPT_CSRS = {"mstatus", "mie", "mip", "mideleg", "hideleg", "hie", "hip", "hvip",
                  "vsie", "vsip"}

# CSRs Unicorn implements at S level: native, but listed so the predicates below can
# say what an access from a level Unicorn cannot judge (VU) raises
NATIVE_S = {"sstatus": rc.UC_RISCV_REG_SSTATUS, "sie": rc.UC_RISCV_REG_SIE,
            "stvec": rc.UC_RISCV_REG_STVEC, "scounteren": rc.UC_RISCV_REG_SCOUNTEREN,
            "sscratch": rc.UC_RISCV_REG_SSCRATCH, "sepc": rc.UC_RISCV_REG_SEPC,
            "scause": rc.UC_RISCV_REG_SCAUSE, "stval": rc.UC_RISCV_REG_STVAL,
            "sip": rc.UC_RISCV_REG_SIP}


def default_access(num: int, level, writes: bool) -> int | None:
    """The trap an access to CSR `num` from `level` raises by its number alone
    (None: allowed). Bits 9:8 name the lowest privilege (0 U, 1 S, 2 HS, 3 M); from
    V=1 an access HS could make is a virtual-instruction fault (spec 8.6.1)."""
    if writes and (num >> 10) & 3 == 3:
        return ILLEGAL
    need = (num >> 8) & 3
    if level.priv == PRV_M:
        return None
    if need == 3:
        return ILLEGAL
    if not level.virt:
        if need == 2:
            return None if level.priv == PRV_S else ILLEGAL
        return None if level.priv >= need else ILLEGAL
    # V=1: H and VS CSRs (need 2) always; S CSRs from VU
    if need == 2 or (need == 1 and level.priv == PRV_U):
        return VIRTUAL
    return None


class Csr:
    """One row of the table (~190 are built at import: a slotted class, quick to make)."""
    __slots__ = ("name", "read", "write", "rmw_read", "affects_interrupts", "check",
                 "hypervisor", "num", "stat_name")

    def __init__(self, name: str, read: Callable[[object], int],
                 write: Callable[[object, int], None] | None = None,
                 rmw_read: Callable[[object], int] | None = None,
                 affects_interrupts: bool = False,
                 check: Callable[[object, object, bool], int | None] | None = None,
                 hypervisor: bool = False):
        self.name = name
        self.read = read
        self.write = write                 # None: writes ignored (WARL 0)
        # the value csrrs/csrrc modify, when it differs from what a read returns (mip.SEIP)
        self.rmw_read = rmw_read
        # a write may make an interrupt pending and enabled: re-check after it
        self.affects_interrupts = affects_interrupts
        # the row's own conditions beyond the number's: (hart, level, writes) -> trap or None
        self.check = check
        self.hypervisor = hypervisor       # exists only when the hart has the H extension
        self.num = CSR_NUMBERS[name]
        self.stat_name = "csr_" + name

    __repr__ = slots_repr

    def access_fault(self, hart, level, writes: bool) -> int | None:
        """The trap this access raises (ILLEGAL or VIRTUAL), or None: allowed."""
        fault = default_access(self.num, level, writes)
        if fault is None and self.check is not None:
            fault = self.check(hart, level, writes)
        return fault


def _const(value: int):
    return lambda hart: value


def _ignore(hart, value):
    return None


def _field(obj: str, attr: str, mask: int = M64):
    def read(hart):
        return getattr(getattr(hart, obj), attr)

    def write(hart, value):
        setattr(getattr(hart, obj), attr, value & mask)
    return read, write


def _uc(reg: int):
    """A CSR Unicorn holds, reached through PRIV=M register access."""
    return (lambda hart: hart.regs.csr_read(reg),
            lambda hart, value: hart.regs.csr_write(reg, value))


# ---------------------------------------------------------------------- row conditions
def _counter_check(bit: int):
    """cycle/time/instret/hpmcounterN: mcounteren, then hcounteren (V=1), then
    scounteren (U, VU) must allow it (spec 3.1.11, 8.6.1)."""
    def check(hart, level, writes):
        if level.priv == PRV_M:
            return None
        if not hart.m.mcounteren >> bit & 1:
            return ILLEGAL
        if level.virt and not hart.h.hcounteren >> bit & 1:
            return VIRTUAL
        if level.priv == PRV_U and not hart.regs.csr_read(rc.UC_RISCV_REG_SCOUNTEREN) >> bit & 1:
            return VIRTUAL if level.virt else ILLEGAL
        return None
    return check


def _satp_check(hart, level, writes):
    """satp reaches Python below M only when TVM (HS) or VTVM (VS) makes Unicorn trap it."""
    if level.priv == PRV_M:
        return None
    if level.virt:
        return VIRTUAL if hart.h.hstatus & HSTATUS_VTVM else None
    return ILLEGAL if hart.m.mstatus & MSTATUS_TVM else None


def _hgatp_check(hart, level, writes):
    return ILLEGAL if level.priv == PRV_S and hart.m.mstatus & MSTATUS_TVM else None


def build_table() -> dict[int, Csr]:
    t: dict[int, Csr] = {}

    def add(name, read, write=None, rmw_read=None, check=None, hypervisor=False):
        row = Csr(name, read, write, rmw_read, affects_interrupts=name in INTERRUPT_CSRS,
                  check=check, hypervisor=hypervisor)
        t[row.num] = row

    def hyp(name, read, write=None, rmw_read=None, check=None):
        add(name, read, write, rmw_read, check, hypervisor=True)

    # ---- machine level
    for name in ("mvendorid", "marchid", "mimpid", "mconfigptr"):
        add(name, _const(0))
    add("mhartid", lambda h: h.hart_id)
    add("misa", lambda h: MISA_BASE | (MISA_H if h.has_h else 0), _ignore)  # WARL: fixed
    add("mstatus", lambda h: h.read_mstatus(), lambda h, v: h.write_mstatus(v))
    add("medeleg", lambda h: h.m.medeleg,
        lambda h, v: setattr(h.m, "medeleg", v & (MEDELEG_MASK_H if h.has_h else MEDELEG_MASK)))
    add("mideleg", lambda h: h.read_mideleg(), lambda h, v: h.write_mideleg(v & MIDELEG_MASK))
    add("mie", lambda h: h.read_mie(), lambda h, v: h.write_mie(v))
    # spec 3.1.9: csrrs/csrrc on mip modify the software SEIP bit, not the PLIC's line
    add("mip", lambda h: h.read_mip(), lambda h, v: h.write_mip_sw(v),
        rmw_read=lambda h: h.read_mip_sw())
    add("mtvec", lambda h: h.m.mtvec, lambda h, v: setattr(h.m, "mtvec", _tvec(h.m.mtvec, v)))
    add("mcounteren", *_field("m", "mcounteren", 0xFFFFFFFF))
    add("mcountinhibit", *_field("m", "mcountinhibit", 0xFFFFFFFD))
    add("menvcfg", *_field("m", "menvcfg", 0xF1))
    add("mscratch", *_field("m", "mscratch"))
    add("mepc", *_field("m", "mepc", M64 & ~1))
    add("mcause", *_field("m", "mcause"))
    add("mtval", *_field("m", "mtval"))
    hyp("mtval2", *_field("m", "mtval2"))
    hyp("mtinst", *_field("m", "mtinst"))
    add("mcycle", lambda h: h.read_counter("cycle"), lambda h, v: h.write_counter("cycle", v))
    add("minstret", lambda h: h.read_counter("instret"),
        lambda h, v: h.write_counter("instret", v))
    for i in range(3, 32):
        add(f"mhpmcounter{i}", _const(0), _ignore)
        add(f"mhpmevent{i}", _const(0), _ignore)
    for i in range(0, 16, 2):              # RV64: only even pmpcfg exist
        add(f"pmpcfg{i}", _pmp_reader("pmpcfg", i // 2), _pmp_writer("pmpcfg", i // 2, M64))
    for i in range(64):
        add(f"pmpaddr{i}", _pmp_reader("pmpaddr", i), _pmp_writer("pmpaddr", i, PMPADDR_MASK))
    # no debug triggers: tselect/tdata* exist (riscv-tests and firmware probe them) and
    # tdata1 reads 0, "no trigger at this index" (debug spec 5.7.2)
    for name in ("tselect", "tdata1", "tdata2", "tdata3"):
        add(name, _const(0), _ignore)

    # ---- supervisor level: native in Unicorn, except satp in M and under (V)TVM
    for name, reg in NATIVE_S.items():
        add(name, *_uc(reg))
    add("satp", lambda h: h.read_satp(), lambda h, v: h.write_satp(v), check=_satp_check)

    # ---- unprivileged counters
    add("time", lambda h: h.read_time_csr(), check=_counter_check(1))

    # ---- hypervisor level (spec 8.2)
    hyp("hstatus", lambda h: h.h.hstatus | HSTATUS_VSXL_64, lambda h, v: h.write_hstatus(v))
    hyp("hedeleg", *_field("h", "hedeleg", HEDELEG_MASK))
    hyp("hideleg", *_field("h", "hideleg", VS_INTERRUPTS))
    hyp("hie", lambda h: h.read_hie(), lambda h, v: h.write_hie(v & VS_INTERRUPTS))
    # hip: hvip's bits (no guest external interrupt files: GEILEN = 0); VSSIP writable
    hyp("hip", lambda h: h.read_hvip(), lambda h, v: h.write_hvip_bits(MIP_VSSIP, v))
    hyp("hvip", lambda h: h.read_hvip(), lambda h, v: h.write_hvip_bits(VS_INTERRUPTS, v))
    hyp("hcounteren", *_field("h", "hcounteren", 0xFFFFFFFF))
    hyp("hgeie", _const(0), _ignore)       # GEILEN = 0: no guest external interrupts
    hyp("hgeip", _const(0))
    hyp("htval", *_field("h", "htval"))
    hyp("htinst", *_field("h", "htinst"))
    hyp("hgatp", lambda h: h.h.hgatp, lambda h, v: h.write_hgatp(v), check=_hgatp_check)
    hyp("htimedelta", *_field("h", "htimedelta"))
    hyp("henvcfg", *_field("h", "henvcfg", 0xF1))
    # ---- virtual supervisor CSRs, reached from HS and M (spec 8.2.x)
    hyp("vsstatus", lambda h: h.read_vsstatus(), lambda h, v: h.write_vsstatus(v))
    hyp("vsie", lambda h: h.read_vsie(), lambda h, v: h.write_vsie(v))
    hyp("vsip", lambda h: h.read_vsip(), lambda h, v: h.write_vsip(v))
    hyp("vstvec", *_vs_reg("tvec", rc.UC_RISCV_REG_STVEC, _tvec))
    hyp("vsscratch", *_vs_reg("scratch", rc.UC_RISCV_REG_SSCRATCH))
    hyp("vsepc", *_vs_reg("epc", rc.UC_RISCV_REG_SEPC, lambda old, v: v & ~1))
    hyp("vscause", *_vs_reg("cause", rc.UC_RISCV_REG_SCAUSE))
    hyp("vstval", *_vs_reg("tval", rc.UC_RISCV_REG_STVAL))
    hyp("vsatp", lambda h: h.read_vsatp_any(), lambda h, v: h.write_vsatp(v))
    return t


def _vs_reg(field: str, uc_reg: int, warl=lambda old, value: value):
    """A VS CSR: in the idle S set (s_vs) while V=0, where HS and M reach it; live in
    Unicorn's S CSR while V=1 (what a register dump or gdb then sees)."""
    def read(hart):
        return hart.regs.csr_read(uc_reg) if hart.context == "guest" else getattr(hart.s_vs, field)

    def write(hart, value):
        new = warl(read(hart), value & M64)
        if hart.context == "guest":
            hart.regs.csr_write(uc_reg, new)
        else:
            setattr(hart.s_vs, field, new)
    return read, write


def _tvec(old: int, value: int) -> int:
    """xtvec WARL: modes 2 and 3 are reserved, so such a write keeps the old value."""
    return value & M64 if value & 3 < 2 else old


def _pmp_reader(attr, i):
    return lambda h: getattr(h.m, attr)[i]


def _pmp_writer(attr, i, mask):
    def write(h, value):
        getattr(h.m, attr)[i] = value & mask
    return write


CSR_TABLE = build_table()
CSR_TABLE_NO_H = {num: row for num, row in CSR_TABLE.items() if not row.hypervisor}

__all__ = ["CSR_TABLE", "CSR_TABLE_NO_H", "Csr", "csr_name", "default_access", "ILLEGAL",
           "VIRTUAL"]
