"""The C INTR hook (rvkvm/cpu/_intrhook.c): the S-mode SBI timer call served without
Python, and everything else passed on to the hart's Python handler."""
from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import GUESTS_DIR, REPO_ROOT, rvkvm_env
from rvkvm.cpu import intrhook, native_time
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
    assert raised == 0 if intr == "python" else raised >= TICKS // 2, m.hart.stats


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


SLEEPER = GUESTS_DIR / "sbi_sleep.elf"       # S mode: SBI timer an hour ahead, then WFI


def test_the_idle_loop_keeps_the_timeout():
    """Asleep in the C idle loop, the run still ends at --timeout (its other deadline)."""
    m = VirtMachine(MachineConfig(console_out=io.BytesIO()))
    m.load(str(SLEEPER))
    t0 = time.monotonic()
    result = m.run(timeout=0.5)
    assert result.status == VirtMachine.EXIT_TIMEOUT, result
    assert 0.5 <= time.monotonic() - t0 < 2.5
    assert m.hart.stats["wfi"] == 1 and m.hart.stats["sbi_timer_native"] == 0


def test_the_doorbell_ends_the_idle_loop():
    """Another thread's request (here an exit; host input and device lines ring the same
    doorbell) ends the C sleep at once, not at the SBI deadline an hour away."""
    m = VirtMachine(MachineConfig(console_out=io.BytesIO()))
    m.load(str(SLEEPER))
    timer = threading.Timer(0.3, m.request_exit, (7, "asked by the test"))
    timer.start()
    t0 = time.monotonic()
    try:
        result = m.run(timeout=30)
    finally:
        timer.cancel()
    assert (result.status, result.reason) == (7, "asked by the test")
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_end_a_run_asleep_in_the_idle_loop(signum, status):
    """The C sleep returns to Python on a signal, so its handler runs and ends the run."""
    proc = subprocess.Popen([sys.executable, "-m", "rvkvm.cli", "boot", str(SLEEPER)],
                            cwd=REPO_ROOT, env=rvkvm_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)                                   # booted and asleep
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == status, stderr


def test_console_output_made_in_the_idle_loop_is_flushed():
    """sbi_tick_print.S prints from two ticks the idle loop runs, then sleeps an hour:
    the console's doorbell must end the C sleep so that the output reaches the host."""
    env = rvkvm_env()
    env.pop("PYTHONUNBUFFERED", None)        # stdout buffered, as for any user's pipe
    proc = subprocess.Popen([sys.executable, "-m", "rvkvm.cli", "boot",
                             str(GUESTS_DIR / "sbi_tick_print.elf")],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    seen = b""
    try:
        deadline = time.monotonic() + 20
        while seen != b".." and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 16)
                if not chunk:
                    break
                seen += chunk
        alive = proc.poll() is None
    finally:
        proc.kill()
        proc.communicate()
    assert seen == b".." and alive, seen
