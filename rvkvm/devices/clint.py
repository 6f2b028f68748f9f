"""The SiFive CLINT for one hart: msip, mtimecmp and mtime (the layout of QEMU virt).

MTIP is level `mtime >= mtimecmp`. It is recomputed when mtimecmp is written
and in `poll()`, which the run loop calls once `next_deadline()` has passed.
"""
from __future__ import annotations

from ..cpu.constants import IRQ_MSI, IRQ_MTI
from ..memory.layout import CLINT_BASE, CLINT_SIZE
from .base import Clock, Device, Events, IrqSink

MSIP = 0x0
MTIMECMP = 0x4000
MTIME = 0xBFF8

U64 = (1 << 64) - 1


def _read_u64_part(reg: int, reg_offset: int, offset: int, size: int) -> int:
    """The bytes [offset, offset+size) of a 64-bit register that starts at reg_offset."""
    shift = 8 * (offset - reg_offset)
    return (reg >> shift) & ((1 << (8 * size)) - 1)


def _write_u64_part(reg: int, reg_offset: int, offset: int, size: int, value: int) -> int:
    """`reg` with the bytes [offset, offset+size) replaced: 4-byte halves are legal."""
    shift = 8 * (offset - reg_offset)
    mask = ((1 << (8 * size)) - 1) << shift
    return (reg & ~mask) | ((value << shift) & mask)


class Clint(Device):
    name = "clint"

    def __init__(self, hart_irq: IrqSink, clock: Clock, events: Events,
                 base: int = CLINT_BASE, size: int = CLINT_SIZE):
        super().__init__(base, size)
        self._hart_irq = hart_irq
        self._clock = clock
        self._events = events
        self.msip = False
        self.mtip = False
        self.mtimecmp = U64

    def mtime(self) -> int:
        return self._clock.mtime()

    def read(self, offset: int, size: int) -> int:
        if MSIP <= offset < MSIP + 4:
            return int(self.msip) if offset == MSIP else 0
        if MTIMECMP <= offset < MTIMECMP + 8:
            return _read_u64_part(self.mtimecmp, MTIMECMP, offset, size)
        if MTIME <= offset < MTIME + 8:
            return _read_u64_part(self.mtime(), MTIME, offset, size)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset == MSIP:
            msip = bool(value & 1)
            if msip != self.msip:
                self.msip = msip
                self._set_line(IRQ_MSI, msip)
        elif MTIMECMP <= offset < MTIMECMP + 8:
            self.mtimecmp = _write_u64_part(self.mtimecmp, MTIMECMP, offset, size, value)
            self._update_mtip()
        elif MTIME <= offset < MTIME + 8:
            self._clock.set_mtime(_write_u64_part(self.mtime(), MTIME, offset, size, value))
            self._update_mtip()

    def next_deadline(self) -> int | None:
        """The mtime at which MTIP will rise (None while it is already high)."""
        if self.mtip:
            return None
        return self.mtimecmp

    def poll(self) -> None:
        self._update_mtip()

    def _update_mtip(self) -> None:
        mtip = self.mtime() >= self.mtimecmp
        if mtip != self.mtip:
            self.mtip = mtip
            self._set_line(IRQ_MTI, mtip)

    def _set_line(self, line: int, level: bool) -> None:
        self._hart_irq.set_irq(line, level)
        self._events.request_stop()

    def fdt_node(self, tree) -> None:
        intc = tree.cpu_intc_phandle(0)
        tree.add_node(f"{tree.SOC}/clint@{self.base:x}", {
            "compatible": ["sifive,clint0", "riscv,clint0"],
            "reg": tree.reg(self.base, self.size),
            "interrupts-extended": [intc, IRQ_MSI, intc, IRQ_MTI],
        })
