"""The MMIO bus: which device owns which physical range, and wiring them into Unicorn.

Ranges never overlap and start on a 4 KiB page (Unicorn's granule); a device
whose size is not a multiple of 4 KiB is mapped on whole pages, and the slack
reads as 0 and drops writes.
"""
from __future__ import annotations

from bisect import bisect_right

from .base import Device

PAGE_SIZE = 0x1000


def _page_round_up(size: int) -> int:
    return (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def _describe(dev: Device) -> str:
    return f"{dev.name} [{dev.base:#x}-{dev.base + dev.size:#x})"


class Bus:
    def __init__(self) -> None:
        self._devices: list[Device] = []     # sorted by base
        self._bases: list[int] = []

    @property
    def devices(self) -> tuple[Device, ...]:
        return tuple(self._devices)

    def add(self, device: Device) -> Device:
        if device.size <= 0:
            raise ValueError(f"{_describe(device)} has no size")
        if device.base % PAGE_SIZE:
            raise ValueError(f"{_describe(device)} does not start on a 4 KiB page")
        # With page-aligned bases, real ranges overlap exactly when mapped pages do.
        for other in self._devices:
            if device.base < other.base + other.size and other.base < device.base + device.size:
                raise ValueError(f"{_describe(device)} overlaps {_describe(other)}")
        i = bisect_right(self._bases, device.base)
        self._bases.insert(i, device.base)
        self._devices.insert(i, device)
        return device

    def find(self, addr: int) -> Device | None:
        """The device whose register block contains physical address `addr`."""
        i = bisect_right(self._bases, addr) - 1
        if i >= 0:
            dev = self._devices[i]
            if addr < dev.base + dev.size:
                return dev
        return None

    def map_into(self, uc, trace=None) -> None:
        """Map every device into the engine. `trace`: callable(str) for --trace mmio."""
        for dev in self._devices:
            read_cb, write_cb = _callbacks(dev)
            if trace is not None:
                read_cb, write_cb = _traced(dev, read_cb, write_cb, trace)
            uc.mmio_map(dev.base, _page_round_up(dev.size), read_cb, None, write_cb, None)


def _callbacks(dev: Device):
    """Unicorn mmio callbacks bound to one device; offsets are relative to its base.
    They count accesses in `dev.mmio_reads`/`dev.mmio_writes` (for --stats)."""
    limit = dev.size
    dev.mmio_reads = dev.mmio_writes = 0

    def read_cb(uc, offset, size, user_data):
        dev.mmio_reads += 1
        if offset + size > limit:
            return 0
        return dev.read(offset, size)

    def write_cb(uc, offset, size, value, user_data):
        dev.mmio_writes += 1
        if offset + size <= limit:
            dev.write(offset, size, value & ((1 << (8 * size)) - 1))

    return read_cb, write_cb


def _traced(dev: Device, read_cb, write_cb, trace):
    """The same callbacks, printing one line per access (chosen at map time, so an
    untraced run pays nothing)."""
    def traced_read(uc, offset, size, user_data):
        value = read_cb(uc, offset, size, user_data)
        trace(f"[mmio] {dev.name} read  {dev.base + offset:#x} size {size} -> {value:#x}")
        return value

    def traced_write(uc, offset, size, value, user_data):
        trace(f"[mmio] {dev.name} write {dev.base + offset:#x} size {size} <- {value:#x}")
        write_cb(uc, offset, size, value, user_data)

    return traced_read, traced_write
