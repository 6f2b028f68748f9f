"""WFI sleeps the host until the next deadline or event, not in polling steps: the run
loop's sleeps are counted (no timing is asserted)."""
import io
import struct
import threading

from conftest import GUESTS_DIR

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
