"""Cost of one TLB fill, in nanoseconds: Unicorn's own walker against rvkvm's fill hook
(rvkvm/cpu/fillhook.py), native and Python, single-stage and two-stage.

An S-mode loop does `sfence.vma` (the engine flushes its whole TLB) and then loads
from P distinct pages, under Sv39 tables with 4 KiB leaves. cost per fill =
(t(P=65) - t(P=1)) / 64 per iteration, minus the same difference without the
sfence.vma (TLB hits), so the loads, the fence and the loop cancel out. "+ G" walks
an identity Sv39x4 G-stage with 4 KiB leaves for every VS PTE and the final address
(the deepest case), with and without the hook's G-cache.
"""
from __future__ import annotations

import argparse
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RAM_BASE, median, report  # noqa: E402

from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, UC_PROT_ALL, UC_TLB_VIRTUAL, Uc  # noqa: E402
from unicorn.riscv_const import (  # noqa: E402
    UC_RISCV_REG_PRIV, UC_RISCV_REG_S0, UC_RISCV_REG_S1, UC_RISCV_REG_S2, UC_RISCV_REG_S3,
    UC_RISCV_REG_SATP,
)

from rvkvm.cpu import fillhook  # noqa: E402
from rvkvm.memory.ram import Ram  # noqa: E402

RAM_SIZE = 32 << 20
CODE, DATA, TABLES = RAM_BASE, RAM_BASE + (1 << 20), RAM_BASE + (16 << 20)
MAPPED = 4 << 20                              # identity-mapped at the VS stage from RAM_BASE
T0, T1, T2, S0, S1, S2, S3 = 5, 6, 7, 8, 9, 18, 19
SFENCE, NOP = 0x12000073, 0x13


def _addi(rd, rs1, imm):
    return (imm & 0xFFF) << 20 | rs1 << 15 | rd << 7 | 0x13


def _ld(rd, rs1, imm):
    return (imm & 0xFFF) << 20 | rs1 << 15 | 3 << 12 | rd << 7 | 0x03


def _add(rd, rs1, rs2):
    return rs2 << 20 | rs1 << 15 | rd << 7 | 0x33


def _bne(rs1, rs2, off):
    o = off & 0x1FFF
    return ((o >> 12) & 1) << 31 | ((o >> 5) & 0x3F) << 25 | rs2 << 20 | rs1 << 15 | 1 << 12 \
        | ((o >> 1) & 0xF) << 8 | ((o >> 11) & 1) << 7 | 0x63


def _loop(fence: bool) -> bytes:
    words = [SFENCE if fence else NOP, _addi(T0, S1, 0), _addi(T1, S2, 0),
             _ld(T2, T0, 0), _add(T0, T0, S3), _addi(T1, T1, -1), _bne(T1, 0, -12),
             _addi(S0, S0, -1), _bne(S0, 0, -32), NOP]
    return b"".join(struct.pack("<I", w) for w in words)


class _Tables:
    """4 KiB identity leaves from RAM_BASE, allocated upwards from `pool`."""

    def __init__(self, ram, pool, levels, root_pages):
        self.ram, self.levels, self.next = ram, levels, pool
        self.root = self._alloc(root_pages)

    def _alloc(self, pages=1):
        base = self.next
        self.next += pages * 4096
        return base

    def map_identity(self, size, flags):
        for addr in range(RAM_BASE, RAM_BASE + size, 4096):
            table = self.root
            for level in range(self.levels - 1, 0, -1):
                index = (addr >> (12 + 9 * level)) & (0x7FF if level == self.levels - 1 else 0x1FF)
                entry = self.ram.read_u64(table + index * 8)
                if not entry & 1:
                    entry = (self._alloc() >> 12) << 10 | 1
                    self.ram.write_u64(table + index * 8, entry)
                table = (entry >> 10) << 12
            self.ram.write_u64(table + ((addr >> 12) & 0x1FF) * 8, (addr >> 12) << 10 | flags)


class _Machine:
    def __init__(self, hook: str | None, gstage: bool, gcache: bool, fence: bool):
        self.ram = ram = Ram(RAM_BASE, RAM_SIZE)
        self.uc = uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
        uc.mem_map_ptr(RAM_BASE, RAM_SIZE, UC_PROT_ALL, ram.host_addr)
        loop = _loop(fence)
        ram.write(CODE, loop)
        self.end = CODE + len(loop) - 4
        vs = _Tables(ram, TABLES, 3, 1)
        vs.map_identity(MAPPED, 0xCF)                       # V R W X A D
        g = _Tables(ram, vs.next + 0x4000 - (vs.next % 0x4000), 3, 4) if gstage else None
        if g:
            g.map_identity(RAM_SIZE, 0xDF)                  # ... and U
        uc.reg_write(UC_RISCV_REG_PRIV, 3)
        uc.reg_write(UC_RISCV_REG_SATP, (8 << 60) | (vs.root >> 12))
        uc.reg_write(UC_RISCV_REG_PRIV, 1)
        self.fills = None
        if hook:
            os.environ[fillhook.ENV_VAR] = hook
            self.fills = fillhook.FillHook(uc, ram, [(RAM_BASE, RAM_SIZE)])
            self.fills.set_virt(gstage, (8 << 60) | (g.root >> 12) if g else 0, False)
            self.fills.use_gcache = gcache
            self.fills.install()
            uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)

    def run(self, pages: int, iterations: int) -> float:
        uc = self.uc
        uc.reg_write(UC_RISCV_REG_S0, iterations)
        uc.reg_write(UC_RISCV_REG_S1, DATA)
        uc.reg_write(UC_RISCV_REG_S2, pages)
        uc.reg_write(UC_RISCV_REG_S3, 4096)
        start = time.perf_counter()
        uc.emu_start(CODE, self.end)
        return time.perf_counter() - start


CONFIGS = [  # name, hook, G-stage, G-cache, iteration divisor
    ("Unicorn walker (UC_TLB_CPU)", None, False, False, 1),
    ("native hook, Sv39", "native", False, False, 1),
    ("native hook, Sv39 + G Sv39x4, no G-cache", "native", True, False, 1),
    ("native hook, Sv39 + G Sv39x4, G-cache", "native", True, True, 1),
    ("python hook, Sv39", "python", False, False, 20),
    ("python hook, Sv39 + G Sv39x4", "python", True, False, 40),
]


def _per_fill(machines, iterations: int) -> float:
    diff = {}
    for fence in (True, False):
        m = machines[fence]
        m.run(65, 2)                                        # translate the loop
        diff[fence] = (m.run(65, iterations) - m.run(1, iterations)) / iterations / 64
    return (diff[True] - diff[False]) * 1e9


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=2000)
    args = ap.parse_args(argv)
    saved = os.environ.get(fillhook.ENV_VAR)
    results = []
    try:
        print("fill_cost: ns per TLB fill (sfence.vma + 64 distinct pages per iteration)")
        native = fillhook.native_available()
        for name, hook, gstage, gcache, divisor in CONFIGS:
            if hook == "native" and not native:
                print(f"  {name}: skipped (the native fill hook is not built)")
                continue
            machines = {fence: _Machine(hook, gstage, gcache, fence) for fence in (True, False)}
            costs = [_per_fill(machines, max(10, args.iterations // divisor))
                     for _ in range(args.repeat)]
            note = f"min {min(costs):.0f}, max {max(costs):.0f}"
            results.append(report(name, round(median(costs)), "ns/fill", note=note))
    finally:
        if saved is None:
            os.environ.pop(fillhook.ENV_VAR, None)
        else:
            os.environ[fillhook.ENV_VAR] = saved
    return results


if __name__ == "__main__":
    main()
