"""The CSR table: one row per CSR that Python serves.

Unicorn executes the CSR accesses it implements natively; everything else traps
to Python as an illegal instruction and lands here: the M-level CSRs (guest M-mode
code runs in Unicorn's S-mode, see hart.py), `time`, satp while in M, and CSRs
Unicorn does not know. A row gives read and write functions over the hart;
privilege and read-only checks follow from the CSR number (spec 2.1), so no row
repeats them. Names come from csr_names.py, shared with the disassembler and dumps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from unicorn import riscv_const as rc

from .constants import M_INTERRUPTS, S_INTERRUPTS
from .csr_names import CSR_NUMBERS, csr_name

M64 = (1 << 64) - 1
# RV64 I M A F D C, S and U modes
MISA_VALUE = (2 << 62) | sum(1 << (ord(c) - ord("A")) for c in "IMAFDCSU")
# exceptions a hart may delegate (not ecall from M, not the H-extension causes)
MEDELEG_MASK = 0xB3FF
MIDELEG_MASK = S_INTERRUPTS
MIE_MASK = S_INTERRUPTS | M_INTERRUPTS
MIP_WRITABLE = S_INTERRUPTS            # M code may set/clear SSIP, STIP, SEIP
PMPADDR_MASK = (1 << 54) - 1
INTERRUPT_CSRS = {"mstatus", "mie", "mip", "mideleg"}


@dataclass
class Csr:
    name: str
    read: Callable[["object"], int]
    write: Callable[["object", int], None] | None = None    # None: writes ignored (WARL 0)
    # the value csrrs/csrrc modify, when it differs from what a read returns (mip.SEIP)
    rmw_read: Callable[["object"], int] | None = None
    # a write may make an interrupt pending and enabled: re-check after it
    affects_interrupts: bool = False

    def __post_init__(self):
        num = CSR_NUMBERS[self.name]
        self.min_priv = (num >> 8) & 3        # spec 2.1: bits 9:8
        self.read_only = (num >> 10) & 3 == 3
        self.stat_name = "csr_" + self.name


def _const(value: int):
    return lambda hart: value


def _field(attr: str, mask: int = M64):
    def read(hart):
        return getattr(hart.m, attr)

    def write(hart, value):
        setattr(hart.m, attr, value & mask)
    return read, write


def _uc(reg: int):
    """A CSR Unicorn holds, reached through PRIV=M register access."""
    return (lambda hart: hart.regs.csr_read(reg),
            lambda hart, value: hart.regs.csr_write(reg, value))


def build_table() -> dict[int, Csr]:
    t: dict[int, Csr] = {}

    def add(name, read, write=None, rmw_read=None):
        t[CSR_NUMBERS[name]] = Csr(name, read, write, rmw_read,
                                   affects_interrupts=name in INTERRUPT_CSRS)

    for name in ("mvendorid", "marchid", "mimpid", "mconfigptr"):
        add(name, _const(0))
    add("mhartid", lambda h: h.hart_id)
    add("misa", _const(MISA_VALUE), lambda h, v: None)   # WARL: extensions fixed
    add("mstatus", lambda h: h.read_mstatus(), lambda h, v: h.write_mstatus(v))
    add("medeleg", *_field("medeleg", MEDELEG_MASK))
    add("mideleg", lambda h: h.m.mideleg, lambda h, v: h.write_mideleg(v & MIDELEG_MASK))
    add("mie", lambda h: h.read_mie(), lambda h, v: h.write_mie(v & MIE_MASK))
    # spec 3.1.9: csrrs/csrrc on mip modify the software SEIP bit, not the PLIC's line
    add("mip", lambda h: h.read_mip(), lambda h, v: h.write_mip_sw(v & MIP_WRITABLE),
        rmw_read=lambda h: h.read_mip_sw())
    add("mtvec", lambda h: h.m.mtvec, _write_tvec)
    add("mcounteren", *_field("mcounteren", 0xFFFFFFFF))
    add("mcountinhibit", *_field("mcountinhibit", 0xFFFFFFFD))
    add("menvcfg", *_field("menvcfg", 0xF1))
    add("mscratch", *_field("mscratch"))
    add("mepc", *_field("mepc", M64 & ~1))
    add("mcause", *_field("mcause"))
    add("mtval", *_field("mtval"))
    add("mcycle", *_uc(rc.UC_RISCV_REG_MCYCLE))
    add("minstret", *_uc(rc.UC_RISCV_REG_MINSTRET))
    for i in range(3, 32):
        add(f"mhpmcounter{i}", _const(0), lambda h, v: None)
        add(f"mhpmevent{i}", _const(0), lambda h, v: None)
    for i in range(0, 16, 2):              # RV64: only even pmpcfg exist
        add(f"pmpcfg{i}", _pmp_reader("pmpcfg", i // 2), _pmp_writer("pmpcfg", i // 2, M64))
    for i in range(64):
        add(f"pmpaddr{i}", _pmp_reader("pmpaddr", i), _pmp_writer("pmpaddr", i, PMPADDR_MASK))
    # no debug triggers: tselect/tdata* exist (riscv-tests and firmware probe them) and
    # tdata1 reads 0, "no trigger at this index" (debug spec 5.7.2)
    for name in ("tselect", "tdata1", "tdata2", "tdata3"):
        add(name, _const(0), lambda h, v: None)
    add("time", lambda h: h.read_time())
    add("satp", lambda h: h.read_satp(), lambda h, v: h.write_satp(v))
    return t


def _write_tvec(hart, value):
    if value & 3 < 2:                      # modes 2 and 3 are reserved: keep the old value
        hart.m.mtvec = value & M64


def _pmp_reader(attr, i):
    return lambda h: getattr(h.m, attr)[i]


def _pmp_writer(attr, i, mask):
    def write(h, value):
        getattr(h.m, attr)[i] = value & mask
    return write


CSR_TABLE = build_table()

# counters a lower level may read only when mcounteren/scounteren allow it
COUNTER_BITS = {0xC00: 0, 0xC01: 1, 0xC02: 2, **{0xC00 + i: i for i in range(3, 32)}}


def csr_privilege(num: int) -> int:
    """Lowest privilege that may access CSR `num` (bits 9:8)."""
    return (num >> 8) & 3


def csr_read_only(num: int) -> bool:
    return (num >> 10) & 3 == 3


__all__ = ["CSR_TABLE", "Csr", "csr_name", "csr_privilege", "csr_read_only", "COUNTER_BITS"]
