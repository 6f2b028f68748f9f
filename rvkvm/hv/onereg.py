"""vcpu registers by name, after KVM's ONE_REG classes for RISC-V:
config (isa, mvendorid, ...), core (pc, x1..x31 by ABI name, mode), csr (the guest's
S-level CSRs: sstatus, sie, stvec, sscratch, sepc, scause, stval, sip, satp,
scounteren), timer (frequency, time, compare, state), and `bpc` (the guest pc at
the last exit). Names are "class.name": "core.pc", "csr.satp", "timer.compare".

The vcpu's hart holds the guest loaded from creation on (V=1 context), so the
guest's S CSRs are Unicorn's S CSRs and its GPRs Unicorn's.
"""
from __future__ import annotations

from unicorn import riscv_const as rc

from ..cpu.constants import S_INTERRUPTS, VS_INTERRUPTS
from ..cpu.csr_views import UC_WRITABLE
from ..cpu.regs import PC, PRIV
from ..errors import RvkvmError
from ..memory.layout import TIMEBASE_HZ

M64 = (1 << 64) - 1
ABI_NAMES = ("zero ra sp gp tp t0 t1 t2 s0 s1 a0 a1 a2 a3 a4 a5 a6 a7 "
             "s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 t3 t4 t5 t6").split()
ISA_LETTERS = "imafdc"
CONFIG_ISA = sum(1 << (ord(c) - ord("a")) for c in ISA_LETTERS)
# guest CSRs that are plainly Unicorn's S CSRs while the guest is loaded
UC_CSRS = {"stvec": rc.UC_RISCV_REG_STVEC, "sscratch": rc.UC_RISCV_REG_SSCRATCH,
           "sepc": rc.UC_RISCV_REG_SEPC, "scause": rc.UC_RISCV_REG_SCAUSE,
           "stval": rc.UC_RISCV_REG_STVAL, "scounteren": rc.UC_RISCV_REG_SCOUNTEREN}


class RegError(RvkvmError):
    """An unknown register name, or a value a register cannot take."""


def _gpr(n):
    return (lambda v: v.hart.regs.read_x(n), lambda v, x: v.hart.regs.write_x(n, x))


def _uc_csr(reg):
    return (lambda v: v.hart.regs.csr_read(reg), lambda v, x: v.hart.regs.csr_write(reg, x))


def _write_sstatus(v, value: int) -> None:
    r = v.hart.regs
    ms = r.csr_read(rc.UC_RISCV_REG_MSTATUS)
    r.csr_write(rc.UC_RISCV_REG_MSTATUS, (ms & ~UC_WRITABLE) | (value & UC_WRITABLE))


def _write_sie(v, value: int) -> None:
    """Loaded, the guest's sie is Unicorn's S bits of mie (those hideleg delegates)."""
    r, deleg = v.hart.regs, (v.hart.h.hideleg & VS_INTERRUPTS) >> 1
    mie = r.csr_read(rc.UC_RISCV_REG_MIE)
    r.csr_write(rc.UC_RISCV_REG_MIE, (mie & ~S_INTERRUPTS) | (value & deleg))


def _write_satp(v, value: int) -> None:
    if value >> 60 not in (0, 8, 9, 10):
        raise RegError(f"csr.satp: mode {value >> 60} is not Bare, Sv39, Sv48 or Sv57")
    v.hart.regs.csr_write(rc.UC_RISCV_REG_SATP, value)
    v.hart.flush_tlb()


def _write_mode(v, value: int) -> None:
    if value not in (0, 1):
        raise RegError("core.mode: 1 (VS) or 0 (VU)")
    v.hart.regs.write(PRIV, value)


def _read_only(name, read):
    def write(v, value):
        if value != read(v):
            raise RegError(f"{name} is read-only ({read(v):#x})")
    return read, write


def _write_time(v, value: int) -> None:
    v.hart.h.htimedelta = (value - v.clock.mtime()) & M64


REGISTERS = {
    "bpc": (lambda v: v.hart.h.bpc, lambda v, x: setattr(v.hart.h, "bpc", x & M64)),
    "config.isa": _read_only("config.isa", lambda v: CONFIG_ISA),
    "config.mvendorid": _read_only("config.mvendorid", lambda v: 0),
    "config.marchid": _read_only("config.marchid", lambda v: 0),
    "config.mimpid": _read_only("config.mimpid", lambda v: 0),
    "core.pc": (lambda v: v.hart.regs.read(PC), lambda v, x: v.hart.regs.write(PC, x)),
    "core.mode": (lambda v: v.hart.regs.read(PRIV) & 1, _write_mode),
    **{f"core.{name}": _gpr(n) for n, name in enumerate(ABI_NAMES) if n},
    **{f"core.x{n}": _gpr(n) for n in range(1, 32)},
    "csr.sstatus": (lambda v: v.hart.read_vsstatus(), _write_sstatus),
    "csr.sie": (lambda v: v.hart.read_vsie(), _write_sie),
    "csr.sip": (lambda v: v.hart.read_vsip(), lambda v, x: v.hart.write_vsip(x)),
    "csr.satp": (lambda v: v.hart.regs.csr_read(rc.UC_RISCV_REG_SATP), _write_satp),
    **{f"csr.{name}": _uc_csr(reg) for name, reg in UC_CSRS.items()},
    "timer.frequency": _read_only("timer.frequency", lambda v: TIMEBASE_HZ),
    "timer.time": (lambda v: (v.clock.mtime() + v.hart.h.htimedelta) & M64, _write_time),
    "timer.compare": (lambda v: v.timer_deadline, lambda v, x: v.set_timer(x & M64)),
    "timer.state": (lambda v: int(v.timer_armed),
                    lambda v, x: None if x else v.set_timer(M64)),
}


def lookup(name: str):
    row = REGISTERS.get(name)
    if row is None:
        raise RegError(f"unknown vcpu register {name!r} (e.g. core.pc, core.a0, csr.satp, "
                       f"timer.compare, config.isa, bpc)")
    return row

