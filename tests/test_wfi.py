"""WFI sleeps the host until the next deadline or event, not in polling steps: the run
loop's sleeps are counted (only loose bounds on time are asserted). Where _intrhook.c
is built, an S-mode kernel's WFI under the built-in firmware sleeps in its C idle loop:
the doorbell, the timeout, signals and console output must end that sleep too."""
import io
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest
from conftest import GUESTS_DIR, REPO_ROOT, rvkvm_env

from rvkvm.machine import virt
from rvkvm.machine.virt import MachineConfig, VirtMachine
from rvkvm.machine.wakeup import Wakeup

WFI, JUMP_BACK = 0x10500073, 0xFFDFF06F          # wfi; j .-4


def machine(path):
    m = VirtMachine(MachineConfig(console_out=io.BytesIO()))
    m.load(str(path))
    return m


def count_sleeps(m):
    """Wrap the machine's doorbell: returns the list of timeouts it was slept on with."""
    waits = []
    sleep = m._wake.sleep

    def counted(timeout=None):
        waits.append(timeout)
        return sleep(timeout)
    m._wake.sleep = counted
    return waits


def test_wfi_sleeps_in_one_go_until_the_timer_deadline():
    """wfi_sleep.S arms the CLINT 1 s ahead and waits in WFI: one sleep (two if the host
    wakes a hair early), not one per polling period."""
    m = machine(GUESTS_DIR / "wfi_sleep.elf")
    waits = count_sleeps(m)
    result = m.run(timeout=30)
    assert (result.status, result.reason) == (0, "poweroff")
    assert 1 <= len(waits) <= 3, waits


def test_wfi_with_nothing_enabled_sleeps_until_the_timeout(tmp_path):
    """No interrupt enabled and no deadline: the hart sleeps until --timeout ends the run."""
    guest = tmp_path / "wfi_forever.bin"
    guest.write_bytes(struct.pack("<2I", WFI, JUMP_BACK))
    m = machine(guest)
    waits = count_sleeps(m)
    result = m.run(timeout=0.5)
    assert result.status == m.EXIT_TIMEOUT
    assert 1 <= len(waits) <= 3, waits


def test_the_doorbell_wakes_a_sleep_once_per_ring():
    bell = Wakeup()
    assert bell.sleep(0) is False                  # nobody rang
    bell.ring()
    bell.ring()                                    # two rings before a sleep: one wake-up
    assert bell.sleep(10) is True                  # ends at once: rung before the call
    assert bell.sleep(0.01) is False               # re-armed
    ringer = threading.Thread(target=bell.ring)
    ringer.start()
    assert bell.sleep(None) is True                # another thread's ring ends an open sleep
    ringer.join()
    assert bell.sleep(-1) is False                 # a deadline in the past: no wait, not rung


def test_only_devices_with_their_own_poll_and_deadline_are_called_between_slices():
    m = machine(GUESTS_DIR / "wfi_sleep.elf")
    assert virt._overriding(m.pollables, "poll") == [m.clint, m.uart]
    assert virt._overriding(m.pollables, "next_deadline") == [m.clint]


SLEEPER = GUESTS_DIR / "sbi_sleep.elf"       # S mode: SBI timer an hour ahead, then WFI


def idle_loop_expected(m) -> bool:
    """Whether this hart sleeps through WFI in C (rvkvm_idle; not with RVKVM_INTR=python,
    RVKVM_TIME=trap or an unbuilt _intrhook.c)."""
    return m.hart._idle_loop is not None


def test_a_sleep_of_an_hour_keeps_the_timeout():
    """Asleep in WFI (in the C idle loop where it runs), the run still ends at --timeout,
    and Python gets control back now and then all the same."""
    m = machine(SLEEPER)
    t0 = time.monotonic()
    result = m.run(timeout=0.5)
    assert result.status == VirtMachine.EXIT_TIMEOUT, result
    assert 0.5 <= time.monotonic() - t0 < 2.5
    assert m.hart.stats["wfi"] == 1 and m.hart.stats["sbi_timer_native"] == 0
    # it hands back to Python every 100 ms (a signal that came while the engine ran
    # interrupted no system call, and only Python runs its handler): ~5 in 0.5 s
    entered = m.hart.stats["idle_loop"]
    assert 3 <= entered <= 12 if idle_loop_expected(m) else entered == 0, entered


def test_the_doorbell_ends_the_idle_loop():
    """Another thread's request (here an exit; host input and device lines ring the same
    doorbell) ends the sleep at once, not at the SBI deadline an hour away."""
    m = machine(SLEEPER)
    timer = threading.Timer(0.3, m.request_exit, (7, "asked by the test"))
    timer.start()
    t0 = time.monotonic()
    try:
        result = m.run(timeout=30)
    finally:
        timer.cancel()
    assert (result.status, result.reason) == (7, "asked by the test")
    assert time.monotonic() - t0 < 5


TICK_PRINT = GUESTS_DIR / "sbi_tick_print.elf"   # prints ".." from two ticks, then sleeps


MACHINES = pytest.mark.parametrize("machine_option", [(), ("--guest",)], ids=["native", "guest"])


def start_tick_print(machine_option=()) -> tuple[subprocess.Popen, bytes]:
    """rvkvm running sbi_tick_print.elf with a buffered stdout, as for any user's pipe,
    and what it printed once ".." came (within 20 s), the guest then asleep for an hour."""
    env = rvkvm_env()
    env.pop("PYTHONUNBUFFERED", None)
    proc = subprocess.Popen([sys.executable, "-m", "rvkvm.cli", "boot", *machine_option,
                             str(TICK_PRINT)],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    seen = b""
    deadline = time.monotonic() + 20
    while seen != b".." and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 16)
            if not chunk:
                break
            seen += chunk
    return proc, seen


@MACHINES
def test_console_output_made_in_the_idle_loop_is_flushed(machine_option):
    """sbi_tick_print.S prints from two ticks the idle loop runs, then sleeps an hour:
    the console's doorbell (natively; under --guest the VMM's housekeeping kick) must
    end the C sleep so that the output reaches the host."""
    proc, seen = start_tick_print(machine_option)
    alive = proc.poll() is None
    proc.kill()
    proc.communicate()
    assert seen == b".." and alive, seen


@MACHINES
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_end_a_run_asleep_in_wfi(machine_option, signum, status):
    """The C idle loop returns to Python on a signal, so its handler runs and ends the run
    (Python's own sleep is interrupted likewise)."""
    proc, seen = start_tick_print(machine_option)
    try:
        assert seen == b"..", seen                       # running, and asleep now
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == status, stderr


def test_without_the_idle_loop_wfi_sleeps_in_python():
    """Where rvkvm_idle cannot run (it returns -1: here a zero timebase, as on a host
    without it), the hart falls back to Python's sleep once, rather than spinning."""
    m = machine(SLEEPER)
    if not idle_loop_expected(m):
        pytest.skip("no C idle loop on this build (RVKVM_INTR=python, RVKVM_TIME=trap)")
    m.hart._idle_loop.hz = 0
    waits = count_sleeps(m)
    result = m.run(timeout=0.5)
    assert result.status == VirtMachine.EXIT_TIMEOUT, result
    assert m.hart._idle_loop is None and m.hart.stats["idle_loop"] == 0
    assert 1 <= len(waits) <= 3, waits                   # asleep in Python, in one go


def test_a_guest_asleep_for_an_hour_keeps_the_timeout():
    """Under rvkvm's hypervisor the vcpu sleeps in the idle loop too (where it runs):
    the VMM's housekeeping kicks it when --timeout is reached, and not before."""
    from rvkvm.hv.vmm import EXIT_TIMEOUT, GuestConfig, Vmm
    vmm = Vmm(GuestConfig(console_out=io.BytesIO()))
    vmm.load(str(SLEEPER))
    kicks, kick = [], vmm.vcpu.kick
    vmm.vcpu.kick = lambda: (kicks.append(time.monotonic()), kick())
    t0 = time.monotonic()
    result = vmm.run(timeout=0.5)
    assert result.status == EXIT_TIMEOUT, result
    assert 0.5 <= time.monotonic() - t0 < 3
    hart = vmm.vcpu.hart
    assert (hart.stats["idle_loop"] > 0) == (hart._idle_loop is not None), hart.stats
    # the VMM kicked it for the timeout only, not every housekeeping period (25 here)
    assert 1 <= len(kicks) <= 3 and kicks[0] - t0 >= 0.5, [k - t0 for k in kicks]
