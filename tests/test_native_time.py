"""rdtime served by the engine (rvkvm/cpu/native_time.py) against Python's path."""
from __future__ import annotations

import gc
import io
from pathlib import Path

import pytest
from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, Uc
from unicorn import riscv_const as rc

from rvkvm.cpu import native_time
from rvkvm.cpu.native_time import NativeTime
from rvkvm.devices import base
from rvkvm.devices.base import Clock
from rvkvm.machine.virt import MachineConfig, VirtMachine

IMAGES = Path(__file__).resolve().parent.parent / "images"
READS = 2 * (4000 + 2)        # rdtime_loop.S: READS + 2 reads in S, the same in U
M64 = (1 << 64) - 1

pytestmark = pytest.mark.skipif(
    not native_time._available(),
    reason="native rdtime unavailable: _timebase not built (pip install -e .), "
           "RVKVM_TIME=trap, or a Unicorn whose uc_reg_read has other code")


def run_image(name: str, native: bool = True):
    m = VirtMachine(MachineConfig(console_out=io.BytesIO()))
    if not native:
        m.hart.native_time = None           # every rdtime traps, as with RVKVM_TIME=trap
    m.load(str(IMAGES / f"{name}.elf"))
    result = m.run(timeout=60)
    return m, result


def test_a_guest_reading_the_time_in_s_and_u_traps_never():
    m, result = run_image("rdtime_loop")
    assert result.status == 0, result.reason
    assert m.hart.native_time is not None
    assert m.hart.stats["csr_time"] == 0


def test_pythons_path_serves_the_same_reads():
    m, result = run_image("rdtime_loop", native=False)
    assert result.status == 0, result.reason
    assert m.hart.stats["csr_time"] == READS


def test_counter_gating_still_traps_where_the_spec_says():
    """csr_traps clears mcounteren/scounteren between rdtime reads from S and U:
    the engine must not serve those, Python raises the illegal instructions."""
    m, result = run_image("csr_traps")
    assert result.status == 0, result.reason


def test_a_guest_reads_mtime_plus_htimedelta_without_trapping():
    """VS-mode rdtime under rvkvm/hv: the engine adds htimedelta (one_reg timer.time)."""
    from hv_helpers import SYSTEM_EVENT, T_TIME, guest_vm, mmio_writes, run_until
    vm, vcpu = guest_vm(T_TIME)
    vcpu.set_reg("timer.time", 1 << 50)
    before = vcpu.get_reg("timer.time")
    seen = run_until(vcpu, SYSTEM_EVENT)
    after = vcpu.get_reg("timer.time")
    first, second = [data for _, _, data in mmio_writes(seen)]
    assert before <= first <= second <= after < (1 << 50) + 10_000_000 * 60
    assert vcpu.hart.stats["csr_time"] == 0


def test_the_engine_reads_what_the_clock_says(monkeypatch):
    """The C formula is Clock.mtime's: same origin, rate, offset (mtime writes),
    plus htimedelta in the guest; at host times from 0 to days on, and wrapped."""
    clock = Clock()
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    native = NativeTime.attach(uc, clock)
    assert native is not None
    now = [clock.t0_ns]
    monkeypatch.setattr(base.time, "monotonic_ns", lambda: now[0])
    for later_ns in (0, 1, 99, 100, 123_456_789, 3 * 86400 * 10**9 + 7):
        now[0] = clock.t0_ns + later_ns
        assert native.ticks_at(now[0]) == clock.mtime()
    clock.set_mtime(5)                      # a guest wrote mtime: back to 5
    assert native.ticks_at(now[0]) == clock.mtime() == 5
    clock.set_mtime(M64 - 2)                # near the top: wraps like the 64-bit CSR
    now[0] += 1000                          # 10 ticks later
    assert native.ticks_at(now[0]) == clock.mtime() == 7
    native.set(False, (1 << 64) - 7)        # htimedelta = -7
    assert native.ticks_at(now[0]) == 0


def test_attach_keeps_the_registers_it_proved_env_with():
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    values = [(0x1111 * (i + 1)) << 20 for i in range(31)]
    for i, v in enumerate(values):
        uc.reg_write(rc.UC_RISCV_REG_X1 + i, v)
    assert NativeTime.attach(uc, Clock()) is not None
    assert [uc.reg_read(rc.UC_RISCV_REG_X1 + i) for i in range(31)] == values


def test_slots_return_when_their_engine_is_gone(monkeypatch):
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    native = NativeTime.attach(uc, Clock())
    taken = native.index
    assert taken not in native_time._FREE
    del uc, native
    gc.collect()
    assert taken in native_time._FREE
    monkeypatch.setattr(native_time, "_FREE", [])      # none left: Python serves rdtime
    m, result = run_image("rdtime_loop")
    assert m.hart.native_time is None and result.status == 0
    assert m.hart.stats["csr_time"] == READS
