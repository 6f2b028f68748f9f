"""What every device model implements, and what the machine gives devices.

A device owns one register block on the bus. Accesses arrive as (offset, size)
with size 1, 2, 4 or 8; Unicorn splits 8-byte MMIO accesses into two 4-byte
ones, so a device with 64-bit registers must accept 4-byte halves.

Device code runs inside Unicorn's MMIO callback, in the middle of a guest
instruction: it must never touch the Uc. To change an interrupt line it calls an
`IrqSink`; to end the run it calls `Events.request_exit`. Both only set state
and ask the run loop to stop at the next block boundary, which is safe.
"""
from __future__ import annotations

import time
from typing import Protocol

from ..memory.layout import TIMEBASE_HZ

U64 = (1 << 64) - 1


class IrqSink(Protocol):
    def set_irq(self, line: int, level: bool) -> None:
        """Drive interrupt `line` high or low (a PLIC source, or an mip bit at a hart)."""


class Events(Protocol):
    """Services the machine offers to devices."""

    def request_stop(self) -> None:
        """Make the run loop regain control at the next block boundary."""

    def request_exit(self, status: int, reason: str) -> None:
        """End the run; the CLI exits with `status`. `reason` is shown in traces."""


class Clock:
    """mtime: a 10 MHz counter on the host's monotonic clock, moved by writes to mtime.

    Integer arithmetic on CLOCK_MONOTONIC nanoseconds: the engine's native rdtime
    (cpu/native_time.py, `mirrors`) computes the same formula from the same fields."""

    def __init__(self, hz: int = TIMEBASE_HZ):
        self.hz = hz
        self.t0_ns = time.monotonic_ns()
        self.offset = 0            # what writes to mtime moved it by
        self.mirrors: list = []    # native copies of the offset (NativeTime)

    def ticks(self) -> int:
        """Host time since the origin, in timebase ticks."""
        return (time.monotonic_ns() - self.t0_ns) * self.hz // 1_000_000_000

    def mtime(self) -> int:
        return (self.ticks() + self.offset) & U64

    def set_mtime(self, value: int) -> None:
        self.offset = value - self.ticks()
        for mirror in self.mirrors:
            mirror.clock_moved(self.offset)

    def seconds_until(self, ticks: int) -> float:
        """Host seconds until mtime reaches `ticks` (<= 0 if already past)."""
        return (ticks - self.mtime()) / self.hz


class Device:
    """A register block at [base, base + size)."""

    name = "device"

    def __init__(self, base: int, size: int):
        self.base = base
        self.size = size

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        pass

    def fdt_node(self, fdt) -> None:
        """Add this device's node to the device tree (an `rvkvm.machine.fdt.DeviceTree`)."""

    def next_deadline(self) -> int | None:
        """The mtime at which this device next needs `poll()`, or None."""
        return None

    def poll(self) -> None:
        """Called by the run loop between slices: update lines from time or host input."""
