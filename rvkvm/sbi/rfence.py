"""RFENCE extension ("RFNC"): FENCE.I and SFENCE.VMA on other harts.

The HFENCE functions (FIDs 3-6) are for harts with the H extension run by a
hypervisor in the guest; this firmware does not offer them (NOT_SUPPORTED, as
the spec allows).
"""
from __future__ import annotations

from .constants import (
    SBI_ERR_INVALID_ADDRESS, SBI_ERR_INVALID_PARAM, SBI_EXT_RFENCE,
    SBI_EXT_RFENCE_REMOTE_FENCE_I, SBI_EXT_RFENCE_REMOTE_SFENCE_VMA,
    SBI_EXT_RFENCE_REMOTE_SFENCE_VMA_ASID, XLEN_MASK,
)
from .hartmask import harts_from_mask
from .host import Extension, SbiHost, SbiResult, not_supported

WHOLE_ADDRESS_SPACE = XLEN_MASK   # a size of 2**XLEN - 1 means "everything"


def fence_range(start: int, size: int) -> tuple[int, int] | None:
    """(start, size) with both flush-everything spellings folded into size = 2**XLEN - 1,
    or None if the range runs past the top of the address space."""
    if (start == 0 and size == 0) or size == WHOLE_ADDRESS_SPACE:
        return 0, WHOLE_ADDRESS_SPACE
    if start + size > XLEN_MASK + 1:
        return None
    return start, size


def sfence_vma(host: SbiHost, harts: list[int], start: int, size: int,
               asid: int | None) -> int:
    """Ask the host for the flush; returns the SBI error."""
    span = fence_range(start, size)
    if span is None:
        return SBI_ERR_INVALID_ADDRESS
    if harts:
        host.remote_sfence_vma(harts, span[0], span[1], asid)
    return 0


def handle(host: SbiHost, fid: int, args: tuple[int, ...]) -> SbiResult:
    if fid not in (SBI_EXT_RFENCE_REMOTE_FENCE_I, SBI_EXT_RFENCE_REMOTE_SFENCE_VMA,
                   SBI_EXT_RFENCE_REMOTE_SFENCE_VMA_ASID):
        return not_supported()
    harts = harts_from_mask(host, args[0], args[1])
    if harts is None:
        return SbiResult(error=SBI_ERR_INVALID_PARAM)
    if fid == SBI_EXT_RFENCE_REMOTE_FENCE_I:
        if harts:
            host.remote_fence_i(harts)
        return SbiResult()
    asid = args[4] if fid == SBI_EXT_RFENCE_REMOTE_SFENCE_VMA_ASID else None
    return SbiResult(error=sfence_vma(host, harts, args[2], args[3], asid))


EXTENSION = Extension(SBI_EXT_RFENCE, SBI_EXT_RFENCE, "RFENCE", handle)
