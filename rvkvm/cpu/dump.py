"""A register and CSR dump for a guest that died, laid out like QEMU's `info registers`."""
from __future__ import annotations

from unicorn import riscv_const as rc

from .csr import CSR_TABLE
from .csr_names import CSR_NUMBERS

ABI_NAMES = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2",
             "a3", "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9",
             "s10", "s11", "t3", "t4", "t5", "t6"]
# CSRs Unicorn holds, shown next to the ones Python serves
UC_CSRS = {"sstatus": rc.UC_RISCV_REG_SSTATUS, "stvec": rc.UC_RISCV_REG_STVEC,
           "sepc": rc.UC_RISCV_REG_SEPC, "scause": rc.UC_RISCV_REG_SCAUSE,
           "stval": rc.UC_RISCV_REG_STVAL, "sscratch": rc.UC_RISCV_REG_SSCRATCH}
DUMP_CSRS = ["mstatus", "mie", "mip", "mideleg", "medeleg", "mtvec", "mepc", "mcause",
             "mtval", "mscratch", "satp", "sstatus", "stvec", "sepc", "scause", "stval",
             "sscratch"]
# with the H extension: the hypervisor's view, and the guest's CSRs
DUMP_CSRS_H = ["hstatus", "hedeleg", "hideleg", "hgatp", "htval", "htinst", "mtval2",
               "vsstatus", "vstvec", "vsepc", "vscause", "vstval", "vsatp"]


def format_dump(hart) -> str:
    regs = hart.regs
    level = hart.level
    bpc = f"   bpc {hart.h.bpc:016x}" if hart.has_h else ""
    lines = [f" pc       {regs.read(rc.UC_RISCV_REG_PC):016x}   level {level} (V={int(level.virt)})"
             f"   hart {hart.hart_id}{bpc}"]
    csrs = []
    names = DUMP_CSRS + (DUMP_CSRS_H if hart.has_h else [])
    for name in names:
        if name in UC_CSRS:               # at V=1 these are VS's (Unicorn holds them)
            value = regs.csr_read(UC_CSRS[name])
        else:
            value = CSR_TABLE[CSR_NUMBERS[name]].read(hart)
        csrs.append(f" {name:<9}{value:016x}")
    lines += ["".join(csrs[i:i + 4]) for i in range(0, len(csrs), 4)]
    gprs = regs.read_gprs()
    for i in range(0, 32, 4):
        lines.append("".join(f" x{j:<2} {ABI_NAMES[j]:<4} {gprs[j]:016x}" for j in range(i, i + 4)))
    return "\n".join(lines)
