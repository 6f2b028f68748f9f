"""Hand-built page tables for the walker and fill-hook tests: Sv39/48/57 and the x4
G-stage modes, in a Ram, with tables allocated from a pool of its pages."""
from __future__ import annotations

from rvkvm.cpu.walk import PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X

SV39, SV48, SV57 = 8, 9, 10
LEVELS = {SV39: 3, SV48: 4, SV57: 5}
RWX = PTE_R | PTE_W | PTE_X
LEAF = PTE_V | RWX | PTE_A | PTE_D          # everything allowed, A/D already set
ULEAF = LEAF | PTE_U


def pte(pa: int, flags: int) -> int:
    return ((pa >> 12) << 10) | flags


class PageTables:
    """Tables of one stage. `to_host` turns the addresses the tables use (GPAs for a
    VS-stage) into RAM addresses; `g` selects the x4 layout (16 KiB root)."""

    def __init__(self, ram, pool: int, mode: int, g: bool = False, to_host=lambda a: a):
        self.ram, self.mode, self.g, self.to_host = ram, mode, g, to_host
        self.levels = LEVELS[mode]
        self._next = pool
        self.root = self.alloc(4 if g else 1, align=4 if g else 1)

    def alloc(self, pages: int = 1, align: int = 1) -> int:
        step = align * 4096
        base = (self._next + step - 1) // step * step
        self._next = base + pages * 4096
        for off in range(0, pages * 4096, 8):
            self.ram.write_u64(self.to_host(base + off), 0)
        return base

    @property
    def satp(self) -> int:
        """satp / vsatp / hgatp value for these tables (ASID/VMID 0)."""
        return (self.mode << 60) | (self.root >> 12)

    def index(self, addr: int, level: int) -> int:
        top = level == self.levels - 1
        bits = 11 if (self.g and top) else 9
        return (addr >> (12 + 9 * level)) & ((1 << bits) - 1)

    def slot(self, addr: int, level: int, table_flags: int = PTE_V) -> int:
        """Address of the PTE for addr at `level`, creating the tables above it."""
        table = self.root
        for lv in range(self.levels - 1, level, -1):
            at = table + self.index(addr, lv) * 8
            entry = self.ram.read_u64(self.to_host(at))
            if not entry & PTE_V:
                entry = pte(self.alloc(), table_flags)
                self.ram.write_u64(self.to_host(at), entry)
            table = (entry >> 10) << 12
        return table + self.index(addr, level) * 8

    def map(self, addr: int, target: int, flags: int = LEAF, level: int = 0) -> int:
        """Map addr -> target with a leaf at `level` (0: 4 KiB); the leaf's address."""
        at = self.slot(addr, level)
        self.ram.write_u64(self.to_host(at), pte(target, flags))
        return at

    def set(self, at: int, value: int) -> None:
        self.ram.write_u64(self.to_host(at), value)

    def get(self, at: int) -> int:
        return self.ram.read_u64(self.to_host(at))
