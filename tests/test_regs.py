"""RegisterFile's CSR access: the native one-call path (_regs.c) against the Python one."""
import pytest
from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, Uc
from unicorn import riscv_const as rc

from rvkvm.cpu import regs as regs_module
from rvkvm.cpu.regs import PRIV, RegisterFile


def python_register_file(uc):
    saved = regs_module._NATIVE
    regs_module._NATIVE = None
    try:
        return RegisterFile(uc)
    finally:
        regs_module._NATIVE = saved


@pytest.mark.skipif(regs_module._NATIVE is None, reason="rvkvm/cpu/_regs is not built")
@pytest.mark.parametrize("priv", [0, 1, 3])
def test_native_csr_access_matches_python_at_every_privilege(priv):
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    native, python = RegisterFile(uc), python_register_file(uc)
    assert native.csr_read.__name__ == "<lambda>" and python.csr_read.__name__ == "csr_read"
    regs = (rc.UC_RISCV_REG_MSCRATCH, rc.UC_RISCV_REG_MEPC, rc.UC_RISCV_REG_SSCRATCH)
    for i, reg in enumerate(regs):
        native.write(PRIV, priv)
        native.csr_write(reg, 0x1000 + i)
        assert native.read(PRIV) == priv          # the privilege comes back
        assert python.csr_read(reg) == native.csr_read(reg) == 0x1000 + i
        python.csr_write(reg, 0x2000 + i)
        assert native.csr_read(reg) == 0x2000 + i
    assert native.csr_read_batch(regs) == python.csr_read_batch(regs) == [0x2000, 0x2001, 0x2002]
    assert native.read(PRIV) == priv
