"""The identity page table that guest M-mode code runs under.

Guest M-mode code runs in Unicorn's S-mode (see hart.py), so Unicorn translates
its accesses. With bare translation every RAM page is executable, and Unicorn
sends every store to an executable page down its slow path (52 ns a store; a C
workload runs ~2.3x slower: bench/engine_choices.py). So virtual M runs under this Sv39 identity map
instead: every page is readable and writable, and a RAM page becomes executable
the first time M code fetches from it (a fetch page fault that Python resolves
and the guest never sees). Pages that hold code stay slow for stores, as they
are on QEMU; data pages are fast.

Only RAM and the devices' register blocks are mapped. An M-mode access to a hole
then has no PTE: a page fault, which Unicorn raises before the access and
precisely (exceptions.py `_mmode_page_fault` makes it an access fault). Unicorn's
own report of an access to unmapped physical memory is imprecise when the slicer's
exit switch is on (see slicer.py), so M code never relies on it.

The tables live in a region of Unicorn's physical address space outside the
`virt` map, so the guest cannot see them at addresses it uses.
"""
from __future__ import annotations

import sys
from array import array

from unicorn import UC_PROT_READ, UC_PROT_WRITE

from .constants import SATP_MODE_SV39

TABLES_BASE = 0x10_0000_0000          # 64 GiB: above RAM, below Sv39's 2^38 canonical limit
PAGE = 4096
MEGA = 2 << 20                        # an Sv39 level-1 leaf
GIGA = 1 << 30                        # what one level-1 table covers
SV39_LIMIT = 1 << 38                  # identity-mappable: VA bit 38 must stay clear
PTE_V, PTE_R, PTE_W, PTE_X, PTE_A, PTE_D = 1, 2, 4, 8, 0x40, 0x80
LEAF_RW = PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
PTE_PPN_STEP = 1 << 10                # the PTEs of consecutive pages differ by this
assert array("Q").itemsize == 8


def _vpn(va: int, level: int) -> int:
    return (va >> (12 + 9 * level)) & 0x1FF


def _run(first_pte: int, count: int) -> bytes:
    """`count` little-endian PTEs from `first_pte`, each naming the next page."""
    ptes = array("Q", range(first_pte, first_pte + count * PTE_PPN_STEP, PTE_PPN_STEP))
    if sys.byteorder != "little":
        ptes.byteswap()
    return ptes.tobytes()


class MachineModeMap:
    """RAM in 4 KiB pages; each (base, size) of `mmio_ranges` rounded out to whole
    pages, in 2 MiB leaves where a whole aligned 2 MiB is inside it, else 4 KiB."""

    def __init__(self, uc, ram_base: int, ram_size: int, mmio_ranges=()):
        assert ram_base % MEGA == 0 and ram_size % MEGA == 0
        self.ram_base, self.ram_end = ram_base, ram_base + ram_size
        self.tables = bytearray(PAGE)                  # the root
        self.root = TABLES_BASE
        for base, size in mmio_ranges:
            start, end = base & ~(PAGE - 1), (base + size + PAGE - 1) & ~(PAGE - 1)
            if end > SV39_LIMIT or (start < self.ram_end and self.ram_base < end):
                raise ValueError(f"device range [{base:#x}, {base + size:#x}) cannot be "
                                 "identity-mapped beside RAM under Sv39")
            self._map_range(start, end)
        self._map_ram()
        self._uc = uc
        uc.mem_map(TABLES_BASE, len(self.tables), UC_PROT_READ | UC_PROT_WRITE)
        uc.mem_write(TABLES_BASE, bytes(self.tables))
        self.satp = (SATP_MODE_SV39 << 60) | (self.root >> 12)

    # ------------------------------------------------------------------ building
    def _map_range(self, start: int, end: int) -> None:
        """A device range: 2 MiB leaves where they fit, 4 KiB pages elsewhere."""
        pa = start
        while pa < end:
            if pa % MEGA == 0 and pa + MEGA <= end:
                self._set(self._slot(pa, 1), (pa >> 12) << 10 | LEAF_RW)
                pa += MEGA
            else:
                self._set(self._slot(pa, 0), (pa >> 12) << 10 | LEAF_RW)
                pa += PAGE

    def _map_ram(self) -> None:
        """RAM in 4 KiB pages. Per GiB: the level-0 tables go side by side, so both
        their PTEs and the level-1 entries pointing at them are arithmetic runs,
        built in C by array(range(...)) (a PTE at a time in Python costs 10+ ms at
        start-up for 128 MiB)."""
        pa = self.ram_base
        while pa < self.ram_end:
            stop = min(self.ram_end, (pa | (GIGA - 1)) + 1)
            chunks = (stop - pa) // MEGA
            l1_off = self._slot(pa, 1) - TABLES_BASE
            assert not any(self.tables[l1_off:l1_off + 8 * chunks]), "RAM's slots are taken"
            l0_base = TABLES_BASE + len(self.tables)
            self.tables += _run(pa >> 12 << 10 | LEAF_RW, chunks * 512)
            self.tables[l1_off:l1_off + 8 * chunks] = _run(l0_base >> 12 << 10 | PTE_V, chunks)
            pa = stop

    def _slot(self, va: int, level: int) -> int:
        """The address of the PTE for `va` at `level`, making the tables above it."""
        table = self.root
        for upper in range(2, level, -1):
            addr = table + 8 * _vpn(va, upper)
            pte = self._get(addr)
            if not pte & PTE_V:
                next_table = TABLES_BASE + len(self.tables)
                self.tables.extend(bytes(PAGE))
                pte = (next_table >> 12) << 10 | PTE_V
                self._set(addr, pte)
            assert not pte & (PTE_R | PTE_W | PTE_X), "a leaf where a table should be"
            table = (pte >> 10) << 12
        return table + 8 * _vpn(va, level)

    def _get(self, addr: int) -> int:
        off = addr - TABLES_BASE
        return int.from_bytes(self.tables[off:off + 8], "little")

    def _set(self, addr: int, pte: int) -> None:
        off = addr - TABLES_BASE
        self.tables[off:off + 8] = pte.to_bytes(8, "little")

    # ------------------------------------------------------------------ queries
    def is_mapped(self, pa: int) -> bool:
        """Whether M code can reach physical address `pa` (RAM or a device page)."""
        if not 0 <= pa < SV39_LIMIT:
            return False
        table = self.root
        for level in (2, 1, 0):
            pte = self._get(table + 8 * _vpn(pa, level))
            if not pte & PTE_V:
                return False
            if pte & (PTE_R | PTE_W | PTE_X):
                return True
            table = (pte >> 10) << 12
        return False

    def is_executable(self, va: int) -> bool:
        """Whether M code may fetch from `va` now (a RAM page it has fetched from)."""
        if not self.ram_base <= va < self.ram_end:
            return False
        return bool(self._get(self._slot(va, 0)) & PTE_X)

    def make_executable(self, va: int) -> bool:
        """Let M code fetch from the RAM page holding `va`. False if `va` is not RAM
        (a real fetch access fault) or already executable."""
        if not self.ram_base <= va < self.ram_end:
            return False
        addr = self._slot(va, 0)
        pte = self._get(addr)
        if pte & PTE_X:
            return False
        pte |= PTE_X
        self._set(addr, pte)
        self._uc.mem_write(addr, pte.to_bytes(8, "little"))
        return True
