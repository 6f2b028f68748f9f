"""gdb's register numbers (tdesc.py) to the target's accessors, with their sizes."""
from __future__ import annotations

from .tdesc import (
    FIRST_FPR_REGNUM,
    FPU_CSRS,
    PC_REGNUM,
    PRIV_REGNUM,
    regnum_to_csr,
)
from ..cpu.csr_names import CSR_NAMES, CSR_NUMBERS

NARROW_CSRS = {CSR_NUMBERS[name] for name in FPU_CSRS}    # 32 bits in the description


class UnknownRegister(KeyError):
    pass


def register_size(regnum: int) -> int:
    csr = regnum_to_csr(regnum)
    if regnum <= PC_REGNUM or FIRST_FPR_REGNUM <= regnum < FIRST_FPR_REGNUM + 32:
        return 8
    if regnum == PRIV_REGNUM:
        return 8
    if csr is not None and csr in CSR_NAMES:
        return 4 if csr in NARROW_CSRS else 8
    raise UnknownRegister(regnum)


def read_register(target, regnum: int) -> int | None:
    """The value, or None when the hart has none (gdb shows <unavailable>)."""
    register_size(regnum)                      # raises for numbers gdb was not given
    if regnum < PC_REGNUM:
        return target.read_gpr(regnum)
    if regnum == PC_REGNUM:
        return target.read_pc()
    if regnum < FIRST_FPR_REGNUM + 32:
        return target.read_fpr(regnum - FIRST_FPR_REGNUM)
    if regnum == PRIV_REGNUM:
        return target.privilege()
    return target.read_csr(regnum_to_csr(regnum))


def write_register(target, regnum: int, value: int) -> bool:
    register_size(regnum)
    if regnum < PC_REGNUM:
        target.write_gpr(regnum, value)
    elif regnum == PC_REGNUM:
        target.write_pc(value)
    elif regnum < FIRST_FPR_REGNUM + 32:
        target.write_fpr(regnum - FIRST_FPR_REGNUM, value)
    elif regnum == PRIV_REGNUM:
        return False                           # a privilege change is the hart's business
    else:
        return target.write_csr(regnum_to_csr(regnum), value)
    return True
