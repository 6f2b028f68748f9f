"""The platform-level interrupt controller, laid out as QEMU virt's SiFive PLIC.

96 sources (id 0 is reserved, so the device tree says riscv,ndev = 95) and two
contexts for hart 0: context 0 is M-mode and drives MEIP, context 1 is S-mode
and drives SEIP.

Sources are level-triggered, as in QEMU: a source's pending bit follows its
line until the source is claimed; from claim to complete the gateway forwards
nothing, and a complete re-pends a source whose line is still high.

Registers are 32 bits wide. Unicorn already splits 8-byte accesses in two;
narrower accesses are ignored (QEMU rejects them).
"""
from __future__ import annotations

from ..cpu.constants import IRQ_MEI, IRQ_SEI
from ..memory.layout import PLIC_BASE, PLIC_SIZE
from .base import Device, Events, IrqSink

NUM_SOURCES = 96
PRIORITY_MASK = 0x7            # QEMU virt: 3 priority bits

PRIORITY_BASE = 0x0
PENDING_BASE = 0x1000
ENABLE_BASE = 0x2000
ENABLE_STRIDE = 0x80
CONTEXT_BASE = 0x20_0000
CONTEXT_STRIDE = 0x1000
THRESHOLD = 0x0
CLAIM_COMPLETE = 0x4

# context -> the hart's interrupt line it drives
HART0_CONTEXT_LINES = (IRQ_MEI, IRQ_SEI)


class Plic(Device):
    name = "plic"

    def __init__(self, hart_irq: IrqSink, events: Events, base: int = PLIC_BASE,
                 size: int = PLIC_SIZE, num_sources: int = NUM_SOURCES,
                 context_lines: tuple[int, ...] = HART0_CONTEXT_LINES):
        super().__init__(base, size)
        self._hart_irq = hart_irq
        self._events = events
        self.num_sources = num_sources
        self.context_lines = context_lines
        self._valid_sources = ((1 << num_sources) - 1) & ~1   # source 0 does not exist
        self.priority = [0] * num_sources
        self.level = 0          # bitmap: sources whose line is high
        self.pending = 0        # bitmap: requests forwarded by the gateways
        self.claimed = 0        # bitmap: claimed and not yet completed
        self.enable = [0] * len(context_lines)
        self.threshold = [0] * len(context_lines)
        self._outputs = [False] * len(context_lines)

    # -- IrqSink for devices ----------------------------------------------------
    def set_irq(self, line: int, level: bool) -> None:
        if not 0 < line < self.num_sources:
            raise ValueError(f"PLIC source {line} does not exist (1..{self.num_sources - 1})")
        bit = 1 << line
        self.level = self.level | bit if level else self.level & ~bit
        if not self.claimed & bit:
            self.pending = self.pending | bit if level else self.pending & ~bit
        self._update()

    # -- registers ---------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        if size == 8:
            return self.read(offset, 4) | (self.read(offset + 4, 4) << 32)
        if size != 4 or offset & 3:
            return 0
        if offset < PENDING_BASE:
            src = (offset - PRIORITY_BASE) // 4
            return self.priority[src] if src < self.num_sources else 0
        if offset < ENABLE_BASE:
            return self._bitmap_word(self.pending, offset - PENDING_BASE)
        if offset < CONTEXT_BASE:
            ctx, rel = divmod(offset - ENABLE_BASE, ENABLE_STRIDE)
            if ctx < len(self.enable):
                return self._bitmap_word(self.enable[ctx], rel)
            return 0
        ctx, rel = divmod(offset - CONTEXT_BASE, CONTEXT_STRIDE)
        if ctx >= len(self.threshold):
            return 0
        if rel == THRESHOLD:
            return self.threshold[ctx]
        if rel == CLAIM_COMPLETE:
            return self.claim(ctx)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if size == 8:
            self.write(offset, 4, value & 0xFFFF_FFFF)
            self.write(offset + 4, 4, value >> 32)
            return
        if size != 4 or offset & 3:
            return
        if offset < PENDING_BASE:
            src = (offset - PRIORITY_BASE) // 4
            if 0 < src < self.num_sources:
                self.priority[src] = value & PRIORITY_MASK
                self._update()
        elif offset < ENABLE_BASE:
            pass                            # pending bits are read-only
        elif offset < CONTEXT_BASE:
            ctx, rel = divmod(offset - ENABLE_BASE, ENABLE_STRIDE)
            if ctx < len(self.enable) and rel * 8 < self.num_sources:
                shift = rel * 8             # rel is a byte offset: word i covers sources 32i..
                word_mask = 0xFFFF_FFFF << shift
                new = (self.enable[ctx] & ~word_mask) | (value << shift)
                self.enable[ctx] = new & self._valid_sources
                self._update()
        else:
            ctx, rel = divmod(offset - CONTEXT_BASE, CONTEXT_STRIDE)
            if ctx >= len(self.threshold):
                return
            if rel == THRESHOLD:
                self.threshold[ctx] = value & PRIORITY_MASK
                self._update()
            elif rel == CLAIM_COMPLETE:
                self.complete(ctx, value)

    def _bitmap_word(self, bitmap: int, byte_offset: int) -> int:
        return (bitmap >> (byte_offset * 8)) & 0xFFFF_FFFF

    # -- claim / complete ----------------------------------------------------------
    def best_source(self, ctx: int) -> int:
        """The pending, enabled source above the threshold with the highest
        priority (lowest id on a tie), or 0."""
        candidates = self.pending & self.enable[ctx]
        best, best_prio = 0, self.threshold[ctx]
        while candidates:
            low = candidates & -candidates
            src = low.bit_length() - 1
            if self.priority[src] > best_prio:
                best, best_prio = src, self.priority[src]
            candidates ^= low
        return best

    def claim(self, ctx: int) -> int:
        src = self.best_source(ctx)
        if src:
            bit = 1 << src
            self.pending &= ~bit
            self.claimed |= bit
            self._update()
        return src

    def complete(self, ctx: int, src: int) -> None:
        # The spec ignores a completion for a source not enabled for this context.
        if not 0 < src < self.num_sources or not self.enable[ctx] >> src & 1:
            return
        bit = 1 << src
        if self.claimed & bit:
            self.claimed &= ~bit
            if self.level & bit:
                self.pending |= bit
            self._update()

    def _update(self) -> None:
        for ctx, line in enumerate(self.context_lines):
            level = self.best_source(ctx) != 0
            if level != self._outputs[ctx]:
                self._outputs[ctx] = level
                self._hart_irq.set_irq(line, level)
                self._events.request_stop()

    def fdt_node(self, tree) -> None:
        intc = tree.cpu_intc_phandle(0)
        extended: list[int] = []
        for line in self.context_lines:
            extended += [intc, line]
        tree.add_node(f"{tree.SOC}/plic@{self.base:x}", {
            "phandle": tree.phandle(tree.PLIC),
            "compatible": ["sifive,plic-1.0.0", "riscv,plic0"],
            "reg": tree.reg(self.base, self.size),
            "#interrupt-cells": 1,
            "#address-cells": 0,
            "interrupt-controller": True,
            "riscv,ndev": self.num_sources - 1,
            "interrupts-extended": extended,
        })
