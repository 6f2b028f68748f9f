"""IPI extension ("sPI"): supervisor software interrupts to a set of harts."""
from __future__ import annotations

from .constants import SBI_ERR_INVALID_PARAM, SBI_EXT_IPI, SBI_EXT_IPI_SEND_IPI
from .hartmask import harts_from_mask
from .host import Extension, SbiHost, SbiResult, not_supported


def handle(host: SbiHost, fid: int, args: tuple[int, ...]) -> SbiResult:
    if fid != SBI_EXT_IPI_SEND_IPI:
        return not_supported()
    harts = harts_from_mask(host, args[0], args[1])
    if harts is None:
        return SbiResult(error=SBI_ERR_INVALID_PARAM)
    if harts:
        host.send_ipi(harts)
    return SbiResult()


EXTENSION = Extension(SBI_EXT_IPI, SBI_EXT_IPI, "IPI", handle)
