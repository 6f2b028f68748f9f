"""The RISC-V target description gdb reads with qXfer:features:read: the integer
registers, the FPU, every CSR the project names (rvkvm/cpu/csr_names.py, so the H and
VS CSRs appear as soon as they are named there) and the privilege level.

Remote register numbers follow gdb's own RISC-V numbering (and QEMU's): x0-x31 0-31,
pc 32, f0-f31 33-64, CSR n at 65 + n, priv at 4161."""
from __future__ import annotations

import re
from functools import lru_cache

from ..cpu.csr_names import CSR_NUMBERS

XLEN_BYTES = 8
GPR_NAMES = ("zero ra sp gp tp t0 t1 t2 fp s1 a0 a1 a2 a3 a4 a5 a6 a7 "
             "s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 t3 t4 t5 t6").split()
FPR_NAMES = ("ft0 ft1 ft2 ft3 ft4 ft5 ft6 ft7 fs0 fs1 fa0 fa1 fa2 fa3 fa4 fa5 fa6 fa7 "
             "fs2 fs3 fs4 fs5 fs6 fs7 fs8 fs9 fs10 fs11 ft8 ft9 ft10 ft11").split()
PC_REGNUM = 32
FIRST_FPR_REGNUM = 33
FIRST_CSR_REGNUM = 65
PRIV_REGNUM = 4161
FPU_CSRS = ("fflags", "frm", "fcsr")          # gdb wants these in the FPU feature


def csr_regnum(num: int) -> int:
    return FIRST_CSR_REGNUM + num


def regnum_to_csr(regnum: int) -> int | None:
    num = regnum - FIRST_CSR_REGNUM
    return num if 0 <= num < 4096 else None


NAME = re.compile(r"[a-z][a-z0-9_]*\Z")       # every register name: no XML quoting needed
# (xml.sax.saxutils' quoteattr would import urllib: 30 ms of every boot with the stub)


def _reg(name: str, regnum: int, bits: int = 64, type_: str = "int") -> str:
    if not NAME.match(name):
        raise ValueError(f"register name {name!r} needs quoting in the target description")
    return f'  <reg name="{name}" bitsize="{bits}" regnum="{regnum}" type="{type_}"/>'


def _cpu_feature() -> list[str]:
    types = {"sp": "data_ptr", "fp": "data_ptr"}
    lines = ['<feature name="org.gnu.gdb.riscv.cpu">']
    lines += [_reg(n, i, type_=types.get(n, "int")) for i, n in enumerate(GPR_NAMES)]
    lines.append(_reg("pc", PC_REGNUM, type_="code_ptr"))
    return lines + ["</feature>"]


def _fpu_feature() -> list[str]:
    lines = ['<feature name="org.gnu.gdb.riscv.fpu">',
             '  <union id="riscv_double">',
             '    <field name="float" type="ieee_single"/>',
             '    <field name="double" type="ieee_double"/>',
             '  </union>']
    lines += [_reg(n, FIRST_FPR_REGNUM + i, type_="riscv_double")
              for i, n in enumerate(FPR_NAMES)]
    lines += [_reg(n, csr_regnum(CSR_NUMBERS[n]), bits=32) for n in FPU_CSRS]
    return lines + ["</feature>"]


def _csr_feature() -> list[str]:
    csrs = sorted((num, name) for name, num in CSR_NUMBERS.items() if name not in FPU_CSRS)
    lines = ['<feature name="org.gnu.gdb.riscv.csr">']
    lines += [_reg(name, csr_regnum(num)) for num, name in csrs]
    return lines + ["</feature>"]


def _virtual_feature() -> list[str]:
    return ['<feature name="org.gnu.gdb.riscv.virtual">', _reg("priv", PRIV_REGNUM),
            "</feature>"]


@lru_cache(maxsize=1)
def target_xml() -> bytes:
    lines = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
             "<target>", "<architecture>riscv:rv64</architecture>"]
    for feature in (_cpu_feature, _fpu_feature, _csr_feature, _virtual_feature):
        lines += feature()
    lines.append("</target>")
    return "\n".join(lines).encode()

