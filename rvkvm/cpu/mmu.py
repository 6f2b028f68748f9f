"""Python page-table walks (Sv39/Sv48/Sv57).

Unicorn translates guest accesses itself; Python walks only on rare events: to
fetch the instruction at a trap's epc (for the trap value and for emulation) and
for debugger-style reads. No permission checks, no A/D updates: a lookup.
"""
from __future__ import annotations

from .constants import SATP_MODE_SHIFT

PPN_MASK = (1 << 44) - 1
PTE_V, PTE_R, PTE_W, PTE_X, PTE_U = 1, 2, 4, 8, 16
LEVELS = {8: 3, 9: 4, 10: 5}


def translate(ram, satp: int, va: int) -> int | None:
    """Physical address of `va` under `satp`, or None when unmapped."""
    mode = satp >> SATP_MODE_SHIFT
    if mode == 0:
        return va
    levels = LEVELS.get(mode)
    if levels is None:
        return None
    table = (satp & PPN_MASK) << 12
    for level in range(levels - 1, -1, -1):
        pte = ram.read_u64(table + ((va >> (12 + 9 * level)) & 0x1FF) * 8)
        if pte is None or not pte & 1:
            return None
        if pte & 0xA:                      # R or X set: a leaf
            mask = (1 << (12 + 9 * level)) - 1
            return (((pte >> 10) << 12) & ~mask) | (va & mask)
        table = ((pte >> 10) & PPN_MASK) << 12
    return None


def leaf_pte(ram, satp: int, va: int) -> int | None:
    """The leaf PTE mapping `va` under `satp`, or None (bare mode or unmapped)."""
    levels = LEVELS.get(satp >> SATP_MODE_SHIFT)
    if levels is None:
        return None
    table = (satp & PPN_MASK) << 12
    for level in range(levels - 1, -1, -1):
        pte = ram.read_u64(table + ((va >> (12 + 9 * level)) & 0x1FF) * 8)
        if pte is None or not pte & PTE_V:
            return None
        if pte & (PTE_R | PTE_X):
            return pte
        table = ((pte >> 10) & PPN_MASK) << 12
    return None


def read_u16_virt(ram, satp: int, va: int) -> int | None:
    pa = translate(ram, satp, va)
    return None if pa is None else ram.read_u16(pa)


def fetch_insn(ram, satp: int, va: int) -> tuple[int | None, int]:
    """(instruction bits, length) at `va`; (None, 0) if not readable."""
    lo = read_u16_virt(ram, satp, va)
    if lo is None:
        return None, 0
    if lo & 3 != 3:
        return lo, 2
    hi = read_u16_virt(ram, satp, va + 2)
    if hi is None:
        return None, 0
    return lo | (hi << 16), 4


def insn_at_physical(ram, pa: int) -> tuple[int | None, int]:
    """(bits, length) of the instruction at physical `pa`, within one page."""
    lo = ram.read_u16(pa)
    if lo is None:
        return None, 0
    if lo & 3 != 3:
        return lo, 2
    hi = ram.read_u16(pa + 2)
    return (None, 0) if hi is None else (lo | (hi << 16), 4)
