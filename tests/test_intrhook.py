"""The C INTR hook (rvkvm/cpu/_intrhook.c): the S-mode SBI timer call served without
Python, and everything else passed on to the hart's Python handler."""
from __future__ import annotations

import io
import subprocess
import sys

import pytest
from conftest import GUESTS_DIR, REPO_ROOT, rvkvm_env

from rvkvm.cpu import intrhook, native_time
from rvkvm.hv.vmm import GuestConfig, Vmm
from rvkvm.machine.virt import MachineConfig, VirtMachine

TICKS = 200                     # sbi_timer_ticks.S: a set_timer call per tick, and its mask
GUEST = GUESTS_DIR / "sbi_timer_ticks.elf"

# the hook reads the clock through the engine's native rdtime function
pytestmark = pytest.mark.skipif(
    intrhook._library() is None or not native_time._available(),
    reason="the C INTR hook is off: rvkvm/cpu/_intrhook.c or _timebase.c not built "
           "(pip install -e .), or RVKVM_INTR=python, or RVKVM_TIME=trap")


def run_ticks(monkeypatch, intr: str, **config):
    monkeypatch.setenv("RVKVM_INTR", intr)             # read when the hart is made
    m = VirtMachine(MachineConfig(console_out=io.BytesIO(), **config))
    m.load(str(GUEST))
    return m, m.run(timeout=60)


@pytest.mark.parametrize("intr", ["native", "python"])
def test_ticks_driven_by_sbi_timer_calls_work_either_way(monkeypatch, intr):
    """Each call for a later time clears STIP at once, the interrupt comes no earlier
    than asked, and the counts add up (the guest checks the first two itself)."""
    m, result = run_ticks(monkeypatch, intr)
    assert (result.status, result.reason) == (0, "poweroff")
    assert m.hart.stats["sbi_call"] == 2 * TICKS
    native = m.hart.stats["sbi_call_native"]
    if intr == "python":
        assert native == 0
    else:                       # the masks (deadline 2**64 - 1) at least; a tick's own
        assert native >= TICKS  # call goes to Python if the host stalled past its deadline
        assert m.firmware.timer_deadline == (1 << 64) - 1
    # the idle loop (rvkvm_idle) slept through the WFIs and raised STIP at the deadlines;
    # one only comes to Python if it was in control then (a stalled host, the first WFI)
    raised = m.hart.stats["sbi_timer_native"]
    assert raised == 0 if intr == "python" else raised >= TICKS // 4, m.hart.stats


@pytest.mark.parametrize("intr", ["native", "python"])
def test_a_guests_ticks_work_either_way(monkeypatch, intr):
    """The same guest under rvkvm's hypervisor (--guest): the hook serves its SBI
    set_timer calls in VS, and the idle loop its WFI exits (hstatus.VTW) and timer
    interrupts (hvip.VSTIP); the vcpu counts them as the exits they replace."""
    monkeypatch.setenv("RVKVM_INTR", intr)
    vmm = Vmm(GuestConfig(console_out=io.BytesIO()))
    vmm.load(str(GUEST))
    result = vmm.run(timeout=60)
    assert (result.status, result.reason) == (0, "poweroff")
    vcpu = vmm.vcpu
    assert vcpu.exit_counts["ecall_vs"] == 2 * TICKS                   # set_timer and its mask
    assert vcpu.exit_counts["virtual_insn"] >= TICKS                   # a WFI at least per tick
    raised = vcpu.hart.stats["sbi_timer_native"]
    assert raised == 0 if intr == "python" else raised >= TICKS // 4, vcpu.hart.stats
    assert vcpu.timer_armed is False                                   # the mask: 2**64 - 1
    assert vcpu.timer_deadline == (1 << 64) - 1


@pytest.mark.parametrize("intr", ["native", "python"])
def test_a_call_for_a_time_already_past_is_pythons(monkeypatch, intr):
    """sbi_timer_now.S asks for time 0 and needs STIP pending on return: the C hook
    leaves that call to Python, which raises STIP."""
    monkeypatch.setenv("RVKVM_INTR", intr)
    m = VirtMachine(MachineConfig(console_out=io.BytesIO()))
    m.load(str(GUESTS_DIR / "sbi_timer_now.elf"))
    result = m.run(timeout=20)
    assert (result.status, result.reason) == (0, "poweroff")
    assert m.hart.stats["sbi_call"] == 1 and m.hart.stats["sbi_call_native"] == 0


def test_trace_sbi_sees_every_call():
    """--trace sbi prints each call, so the C hook stands aside."""
    proc = subprocess.run([sys.executable, "-m", "rvkvm.cli", "boot", str(GUEST), "--trace", "sbi"],
                          cwd=REPO_ROOT, env=rvkvm_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("[sbi] TIME fid=0") == 2 * TICKS

