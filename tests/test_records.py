"""The record classes that replaced dataclasses (rvkvm/records.py) behave as the
dataclasses did where anything relies on it: value equality, repr, defaults made per
instance, replace; and a misspelt field is refused rather than silently added."""
import pytest

from rvkvm.cpu.levels import HS, LEVELS, M, VS, level_for
from rvkvm.cpu.state import HState, MState, SRegs
from rvkvm.cpu.trap import Trap
from rvkvm.cpu.walk import Walk, WalkConfig
from rvkvm.loaders.raw import LoadedKernel
from rvkvm.machine.virt import MachineConfig, RunResult


def test_trap_compares_and_prints_by_value():
    trap = Trap(13, 0x8000_0000, 0x1234, tval2=5)
    assert trap == Trap(13, 0x8000_0000, 0x1234, tval2=5)
    assert trap != Trap(13, 0x8000_0000, 0x1234, tval2=6)
    assert trap != (13, 0x8000_0000, 0x1234)
    assert repr(trap) == ("Trap(cause=13, epc=2147483648, tval=4660, interrupt=False, "
                          "tval2=5, tinst=0, gva=False)")
    assert Trap(7, 0, interrupt=True).mcause == (1 << 63) | 7


def test_state_lists_are_per_instance():
    a, b = MState(), MState()
    a.pmpcfg[0] = 0x1F
    a.pmpaddr[63] = 1
    assert b.pmpcfg == [0] * 8 and b.pmpaddr == [0] * 64


@pytest.mark.parametrize("record", [MState(), HState(), SRegs(), Trap(0, 0),
                                    MachineConfig(), RunResult(0, "ok"),
                                    LoadedKernel("raw", 0, 0, 0)])
def test_a_misspelt_field_is_refused(record):
    with pytest.raises(AttributeError):
        record.no_such_field = 1


def test_walk_config_replace_keeps_the_other_fields():
    cfg = WalkConfig(satp=8 << 60 | 0x80, hgatp=9 << 60, virt=True, priv=0, sum=True)
    vs_only = cfg._replace(hgatp=0)          # as hv/sbi.py walks the VS stage alone
    assert vs_only == WalkConfig(8 << 60 | 0x80, 0, True, 0, True)
    assert cfg.hgatp == 9 << 60
    with pytest.raises(AttributeError):
        cfg.satp = 0                          # still frozen


def test_walk_defaults():
    assert Walk(False, cause=13) == Walk(ok=False, pa=0, perms=0, cause=13, gpa=0)
    assert not Walk(False, cause=13).implicit


def test_levels_are_distinct_hashable_and_print_their_name():
    assert len(set(LEVELS)) == len(LEVELS)
    assert {HS: "hs"}[level_for(1)] == "hs"
    assert level_for(1, True) is VS and level_for(3, True) is M
    assert f"{VS}" == str(VS) == "VS"


def test_loaded_kernel_symbols_default_per_instance():
    a, b = LoadedKernel("raw", 0, 0, 0), LoadedKernel("raw", 0, 0, 0)
    a.symbols["tohost"] = 1
    assert b.symbols == {}


def test_the_machine_imports_no_dataclasses_nor_what_a_boot_may_not_need():
    """Start-up cost: the machine's import leaves out dataclasses (~1 ms a class), the
    Python walker (boots walk in C) and the ELF loader (imported for an ELF)."""
    import subprocess
    import sys
    code = ("import sys; before = set(sys.modules); import rvkvm.machine.virt; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert "rvkvm.cpu.walk" in loaded                  # the check sees rvkvm's imports
    out = [m for m in ("dataclasses", "rvkvm.cpu.pywalk", "rvkvm.loaders.elf", "platform")
           if m in loaded]
    assert out == []
