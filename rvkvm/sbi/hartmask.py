"""Hart lists as SBI passes them: (hart_mask, hart_mask_base), or a legacy in-memory bitmap."""
from __future__ import annotations

from .constants import HART_MASK_BASE_ALL, XLEN
from .host import SbiHost


def harts_from_mask(host: SbiHost, hart_mask: int, hart_mask_base: int) -> list[int] | None:
    """The hart ids selected by a v0.2+ hart mask, or None if the base or any set bit
    names a hart that does not exist (the caller answers SBI_ERR_INVALID_PARAM)."""
    if hart_mask_base == HART_MASK_BASE_ALL:
        return list(range(host.num_harts))
    harts = [hart_mask_base + bit for bit in range(XLEN) if hart_mask >> bit & 1]
    if hart_mask_base >= host.num_harts or any(h >= host.num_harts for h in harts):
        return None
    return harts


def harts_from_legacy_mask(host: SbiHost, mask_addr: int) -> list[int] | None:
    """The hart ids in a v0.1 hart mask: an array of XLEN-bit words in guest memory.

    A null pointer means every hart (as OpenSBI treats it). None if the words
    cannot be read or name a hart that does not exist.
    """
    if mask_addr == 0:
        return list(range(host.num_harts))
    words = (host.num_harts + XLEN - 1) // XLEN
    raw = host.read_guest_memory(mask_addr, words * 8)
    if raw is None or len(raw) != words * 8:
        return None
    harts: list[int] = []
    for index in range(words):
        word = int.from_bytes(raw[index * 8:index * 8 + 8], "little")
        chunk = harts_from_mask(host, word, index * XLEN) if word else []
        if chunk is None:
            return None
        harts.extend(chunk)
    return harts
