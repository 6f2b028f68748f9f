"""The identity page table that guest M-mode code runs under.

Guest M-mode code runs in Unicorn's S-mode (see hart.py), so Unicorn translates
its accesses. With bare translation every RAM page is executable, and Unicorn
sends every store to an executable page down its slow path (52 ns a store; a C
workload ran 2.5x slower). So virtual M runs under this Sv39 identity map
instead: every page is readable and writable, and a RAM page becomes executable
the first time M code fetches from it (a fetch page fault that Python resolves
and the guest never sees). Pages that hold code stay slow for stores, as they
are on QEMU; data pages are fast.

The tables live in a region of Unicorn's physical address space outside the
`virt` map, so the guest cannot see them at addresses it uses.
"""
from __future__ import annotations

from unicorn import UC_PROT_READ, UC_PROT_WRITE

from .constants import SATP_MODE_SV39

TABLES_BASE = 0x10_0000_0000          # 64 GiB: above RAM, below Sv39's 2^38 canonical limit
PAGE = 4096
GIGA = 1 << 30
PTE_V, PTE_R, PTE_W, PTE_X, PTE_A, PTE_D = 1, 2, 4, 8, 0x40, 0x80
LEAF_RW = PTE_V | PTE_R | PTE_W | PTE_A | PTE_D


class MachineModeMap:
    def __init__(self, uc, ram_base: int, ram_size: int):
        assert ram_base % (2 << 20) == 0 and ram_size % (2 << 20) == 0
        self.ram_base, self.ram_end = ram_base, ram_base + ram_size
        n_l0 = ram_size // (2 << 20)                   # one 4 KiB table per 2 MiB of RAM
        first_giga, last_giga = ram_base // GIGA, (self.ram_end - 1) // GIGA
        n_l1 = last_giga - first_giga + 1
        size = (1 + n_l1 + n_l0) * PAGE
        self.tables = bytearray(size)
        self.root = TABLES_BASE
        self._l0_base = TABLES_BASE + (1 + n_l1) * PAGE
        # below RAM: 1 GiB leaves, so device MMIO is reachable (no execute)
        for giga in range(first_giga):
            self._set(self.root + 8 * giga, ((giga * GIGA) >> 12) << 10 | LEAF_RW)
        for i, giga in enumerate(range(first_giga, last_giga + 1)):
            l1 = TABLES_BASE + (1 + i) * PAGE
            self._set(self.root + 8 * giga, (l1 >> 12) << 10 | PTE_V)
        for page_index in range(ram_size // PAGE):
            pa = ram_base + page_index * PAGE
            if page_index % 512 == 0:                  # a new L0 table for this 2 MiB
                l0 = self._l0_base + (page_index // 512) * PAGE
                giga = pa // GIGA
                l1 = TABLES_BASE + (1 + giga - first_giga) * PAGE
                self._set(l1 + 8 * ((pa >> 21) & 0x1FF), (l0 >> 12) << 10 | PTE_V)
            self._set(self._pte_addr(pa), (pa >> 12) << 10 | LEAF_RW)
        self._uc = uc
        uc.mem_map(TABLES_BASE, size, UC_PROT_READ | UC_PROT_WRITE)
        uc.mem_write(TABLES_BASE, bytes(self.tables))
        self.satp = (SATP_MODE_SV39 << 60) | (self.root >> 12)

    def _pte_addr(self, pa: int) -> int:
        return self._l0_base + ((pa - self.ram_base) // PAGE) * 8

    def _set(self, addr: int, pte: int) -> None:
        off = addr - TABLES_BASE
        self.tables[off:off + 8] = pte.to_bytes(8, "little")

    def make_executable(self, va: int) -> bool:
        """Let M code fetch from the RAM page holding `va`. False if `va` is not RAM
        (a real fetch access fault) or already executable."""
        if not self.ram_base <= va < self.ram_end:
            return False
        addr = self._pte_addr(va & ~(PAGE - 1))
        off = addr - TABLES_BASE
        pte = int.from_bytes(self.tables[off:off + 8], "little")
        if pte & PTE_X:
            return False
        pte |= PTE_X
        self.tables[off:off + 8] = pte.to_bytes(8, "little")
        self._uc.mem_write(addr, pte.to_bytes(8, "little"))
        return True
