"""The G-stage page tables of one VM (Sv39x4), built in host RAM on demand.

As KVM's `kvm_riscv_gstage_map()`: nothing is mapped up front; a guest-page fault on
slot memory maps the page (or the largest superpage the slot's alignment allows).
The tables live in a pool of host RAM that no slot maps, so no guest address ever
reaches them, and the hart's walker reads them straight from that RAM.

Mappings are always created with A and D set (the walker then never writes our
PTEs), U set (every G-stage access is a U access), W only when asked. When the
pool runs dry every mapping is dropped and the guest refaults what it still uses
(KVM's "zap all" on MMU pressure).
"""
from __future__ import annotations

import struct

from ..cpu import walk

SV39X4 = 8                                  # hgatp.MODE
LEVELS = 3
ROOT_BYTES = 16 << 10                       # the x4 root: 2048 entries, 16 KiB aligned
PAGE = 1 << 12
PTE_LEAF_BASE = walk.PTE_V | walk.PTE_R | walk.PTE_X | walk.PTE_U | walk.PTE_A | walk.PTE_D
GPA_BITS = 12 + 9 * LEVELS + walk.G_ROOT_EXTRA_BITS    # 41: Sv39x4 covers 2 TiB of GPA


def level_size(level: int) -> int:
    return PAGE << (9 * level)


class PoolExhausted(Exception):
    """No table page left: the caller zaps and retries."""


class GStage:
    """Sv39x4 tables in host RAM [pool_base, pool_base + pool_size)."""

    def __init__(self, ram, pool_base: int, pool_size: int, vmid: int = 1):
        if pool_base % ROOT_BYTES or pool_size < ROOT_BYTES + 4 * PAGE:
            raise ValueError("G-stage pool too small or misaligned")
        self.ram = ram
        self.root = pool_base
        self._first_table = pool_base + ROOT_BYTES
        self._pool_end = pool_base + pool_size
        self.vmid = vmid
        self.stats = {"maps": 0, "zaps": 0, "tables": 0}
        self.zap_all()

    @property
    def hgatp(self) -> int:
        return (SV39X4 << 60) | (self.vmid << 44) | (self.root >> 12)

    # ------------------------------------------------------------------ raw PTEs
    def _read(self, pa: int) -> int:
        return self.ram.read_u64(pa)

    def _write(self, pa: int, pte: int) -> None:
        self.ram.write_u64(pa, pte)

    def _new_table(self) -> int:
        if self._next_table >= self._pool_end:
            raise PoolExhausted()
        table = self._next_table
        self._next_table += PAGE
        self._zero(table, PAGE)
        self.stats["tables"] += 1
        return table

    def _zero(self, pa: int, size: int) -> None:
        off = pa - self.ram.base
        self.ram.view[off:off + size] = bytes(size)

    @staticmethod
    def _index(gpa: int, level: int) -> int:
        bits = 9 + (walk.G_ROOT_EXTRA_BITS if level == LEVELS - 1 else 0)
        return (gpa >> (12 + 9 * level)) & ((1 << bits) - 1)

    # ------------------------------------------------------------------ mapping
    def zap_all(self) -> None:
        """Drop every mapping (the caller flushes the hart's G-cache and TLB)."""
        self._zero(self.root, ROOT_BYTES)
        self._next_table = self._first_table
        self.stats["zaps"] += 1

    def map(self, gpa: int, hpa: int, level: int, writable: bool) -> None:
        """Map the naturally aligned 4K/2M/1G page at gpa (level 0/1/2) to hpa."""
        size = level_size(level)
        assert gpa % size == 0 and hpa % size == 0 and gpa >> GPA_BITS == 0
        table = self.root
        for lv in range(LEVELS - 1, level, -1):
            slot = table + self._index(gpa, lv) * 8
            pte = self._read(slot)
            if not pte & walk.PTE_V or pte & (walk.PTE_R | walk.PTE_X):
                # absent, or a leaf in the way (a superpage being split): a new table
                new = self._new_table()
                self._write(slot, ((new >> 12) << 10) | walk.PTE_V)
                table = new
            else:
                table = ((pte >> 10) & walk.PPN_MASK) << 12
        leaf = ((hpa >> 12) << 10) | PTE_LEAF_BASE | (walk.PTE_W if writable else 0)
        self._write(table + self._index(gpa, level) * 8, leaf)
        self.stats["maps"] += 1

    def lookup(self, gpa: int) -> tuple[int, int] | None:
        """(PTE address, level) of the leaf mapping gpa, or None."""
        table = self.root
        for lv in range(LEVELS - 1, -1, -1):
            slot = table + self._index(gpa, lv) * 8
            pte = self._read(slot)
            if not pte & walk.PTE_V:
                return None
            if pte & (walk.PTE_R | walk.PTE_X):
                return slot, lv
            table = ((pte >> 10) & walk.PPN_MASK) << 12
        return None

    def set_writable(self, gpa: int, writable: bool) -> bool:
        """Grant or take W on the leaf mapping gpa; False if unmapped."""
        found = self.lookup(gpa)
        if found is None:
            return False
        slot, _ = found
        pte = self._read(slot)
        self._write(slot, (pte | walk.PTE_W) if writable else (pte & ~walk.PTE_W))
        return True

    def leaves(self):
        """Every (gpa, level, pte) mapped now (tests and dirty-log write protection)."""
        yield from self._walk(self.root, LEVELS - 1, 0)

    def _walk(self, table: int, level: int, gpa_base: int):
        entries = (ROOT_BYTES if level == LEVELS - 1 else PAGE) // 8
        off = table - self.ram.base
        words = struct.unpack_from(f"<{entries}Q", self.ram.buf, off)
        for i, pte in enumerate(words):
            if not pte & walk.PTE_V:
                continue
            gpa = gpa_base | (i << (12 + 9 * level))
            if pte & (walk.PTE_R | walk.PTE_X):
                yield gpa, level, pte
            elif level:
                yield from self._walk(((pte >> 10) & walk.PPN_MASK) << 12, level - 1, gpa)
