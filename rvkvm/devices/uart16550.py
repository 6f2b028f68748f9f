"""A 16550A UART, as on QEMU's virt machine: the console.

Transmission is instantaneous: every THR write goes straight to the `output`
sink, so THR and the shift register are always empty (LSR.THRE|TEMT) and no
byte is ever dropped or reordered. Host input arrives on another thread through
`feed()` into an unbounded queue; the 16-byte receive FIFO is refilled from it
as the guest drains it, so a paste is never lost to an overrun.

The RX interrupt fires as soon as the FIFO holds a byte (the real chip waits for
the trigger level or a character timeout; a guest cannot tell the difference
except by latency, and QEMU behaves the same way for the timeout case).
"""
from __future__ import annotations

import collections
from typing import Callable

from ..memory.layout import UART0_BASE, UART0_IRQ, UART0_SIZE
from .base import Device, Events, IrqSink

CLOCK_HZ = 3_686_400
FIFO_DEPTH = 16

# register offsets (DLAB=0 / DLAB=1 where they differ)
RBR_THR_DLL = 0
IER_DLM = 1
IIR_FCR = 2
LCR = 3
MCR = 4
LSR = 5
MSR = 6
SCR = 7

IER_ERBFI = 0x01      # receive data available
IER_ETBEI = 0x02      # transmit holding register empty
IER_MASK = 0x0F

IIR_NO_INT = 0x01
IIR_THR_EMPTY = 0x02
IIR_RX_DATA = 0x04
IIR_FIFO_ENABLED = 0xC0

FCR_FIFO_ENABLE = 0x01
FCR_CLEAR_RX = 0x02

LCR_DLAB = 0x80

MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_LOOP = 0x01, 0x02, 0x04, 0x08, 0x10
MCR_MASK = 0x1F

LSR_DR = 0x01
LSR_THRE = 0x20
LSR_TEMT = 0x40

MSR_CTS, MSR_DSR, MSR_RI, MSR_DCD = 0x10, 0x20, 0x40, 0x80


class Uart16550(Device):
    name = "uart16550"

    def __init__(self, output: Callable[[bytes], None], irq: IrqSink, irq_line: int,
                 events: Events, base: int = UART0_BASE, size: int = UART0_SIZE):
        super().__init__(base, size)
        self._output = output
        self._irq = irq
        self.irq_line = irq_line
        self._events = events
        self._host_input: collections.deque[int] = collections.deque()  # filled by feed()
        self._rx_fifo: collections.deque[int] = collections.deque()
        self._irq_level = False
        self.reset()

    def reset(self) -> None:
        self.ier = 0
        self.lcr = 0
        self.mcr = MCR_OUT2        # as QEMU's reset value
        self.scr = 0
        self.fifo_enabled = False
        self.divisor = 12          # 9600 baud at 1.8432 MHz; guests rewrite it
        self.thr_ipending = False  # the THR-empty interrupt latch
        self._rx_fifo.clear()

    # -- host side ------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Queue host input (thread-safe) and ask the run loop to deliver it."""
        self._host_input.extend(data)
        self._events.request_stop()

    def poll(self) -> None:
        # Only host input changes the UART between slices: every guest access that
        # can change the interrupt line updates it at once.
        if self._host_input:
            self._refill_rx()
            self._update_irq()

    # -- guest side -----------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        dlab = self.lcr & LCR_DLAB
        if offset == RBR_THR_DLL:
            return self.divisor & 0xFF if dlab else self._read_rbr()
        if offset == IER_DLM:
            return self.divisor >> 8 if dlab else self.ier
        if offset == IIR_FCR:
            return self._read_iir()
        if offset == LCR:
            return self.lcr
        if offset == MCR:
            return self.mcr
        if offset == LSR:
            return self._lsr()
        if offset == MSR:
            return self._msr()
        if offset == SCR:
            return self.scr
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        value &= 0xFF
        dlab = self.lcr & LCR_DLAB
        if offset == RBR_THR_DLL:
            if dlab:
                self.divisor = (self.divisor & 0xFF00) | value
            else:
                self._write_thr(value)
        elif offset == IER_DLM:
            if dlab:
                self.divisor = (self.divisor & 0x00FF) | (value << 8)
            else:
                self._write_ier(value)
        elif offset == IIR_FCR:
            self._write_fcr(value)
        elif offset == LCR:
            self.lcr = value
        elif offset == MCR:
            self.mcr = value & MCR_MASK
        elif offset == SCR:
            self.scr = value

    def _read_rbr(self) -> int:
        byte = self._rx_fifo.popleft() if self._rx_fifo else 0
        self._refill_rx()
        self._update_irq()
        return byte

    def _write_thr(self, byte: int) -> None:
        if self.mcr & MCR_LOOP:
            # loopback: the byte comes back on the receiver, nothing leaves the chip
            if len(self._rx_fifo) < self._rx_capacity():
                self._rx_fifo.append(byte)
        else:
            self._output(bytes((byte,)))
        # THR empties at once, so the THRE interrupt is re-armed straight away
        self.thr_ipending = True
        self._update_irq()

    def _write_ier(self, value: int) -> None:
        old = self.ier
        self.ier = value & IER_MASK
        if self.ier & IER_ETBEI and not old & IER_ETBEI:
            # enabling ETBEI with THR empty raises the interrupt (8250 drivers rely on it)
            self.thr_ipending = True
        self._update_irq()

    def _write_fcr(self, value: int) -> None:
        enable = bool(value & FCR_FIFO_ENABLE)
        if enable != self.fifo_enabled or value & FCR_CLEAR_RX:
            self._rx_fifo.clear()
        self.fifo_enabled = enable
        self._refill_rx()
        self._update_irq()

    def _read_iir(self) -> int:
        fifo_bits = IIR_FIFO_ENABLED if self.fifo_enabled else 0
        source = self._interrupt_source()
        if source == IIR_THR_EMPTY:
            self.thr_ipending = False     # reading IIR acknowledges THRE
            self._update_irq()
        return fifo_bits | source

    def _interrupt_source(self) -> int:
        """The highest-priority pending interrupt, as IIR bits 3:0."""
        if self.ier & IER_ERBFI and self._rx_fifo:
            return IIR_RX_DATA
        if self.ier & IER_ETBEI and self.thr_ipending:
            return IIR_THR_EMPTY
        return IIR_NO_INT

    def _lsr(self) -> int:
        return (LSR_DR if self._rx_fifo else 0) | LSR_THRE | LSR_TEMT

    def _msr(self) -> int:
        if self.mcr & MCR_LOOP:
            m = self.mcr
            return ((MSR_CTS if m & MCR_RTS else 0) | (MSR_DSR if m & MCR_DTR else 0)
                    | (MSR_RI if m & MCR_OUT1 else 0) | (MSR_DCD if m & MCR_OUT2 else 0))
        return MSR_DCD | MSR_DSR | MSR_CTS   # a terminal that is always there

    def _rx_capacity(self) -> int:
        return FIFO_DEPTH if self.fifo_enabled else 1

    def _refill_rx(self) -> None:
        capacity = self._rx_capacity()
        while len(self._rx_fifo) < capacity and self._host_input:
            self._rx_fifo.append(self._host_input.popleft())

    def _update_irq(self) -> None:
        level = self._interrupt_source() != IIR_NO_INT
        if level != self._irq_level:
            self._irq_level = level
            self._irq.set_irq(self.irq_line, level)
            self._events.request_stop()

    def fdt_node(self, tree) -> None:
        tree.add_node(f"{tree.SOC}/serial@{self.base:x}", {
            "compatible": "ns16550a",
            "reg": tree.reg(self.base, self.size),
            "clock-frequency": CLOCK_HZ,
            "interrupts": [self.irq_line],
            "interrupt-parent": tree.phandle(tree.PLIC),
        })


def make_uart0(output: Callable[[bytes], None], plic: IrqSink, events: Events) -> Uart16550:
    """The virt machine's console UART on PLIC source 10."""
    return Uart16550(output, plic, UART0_IRQ, events)
