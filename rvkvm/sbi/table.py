"""The SBI extension table and the one entry point, `dispatch`.

Rows are looked up by EID (a7); the row's handler gets the FID (a6) and a0..a5.
Anything the table does not know answers SBI_ERR_NOT_SUPPORTED, as the spec
requires for an unsupported EID or FID: dispatch never raises for those.
"""
from __future__ import annotations

from . import base, dbcn, hsm, ipi, legacy, rfence, srst, timer
from .constants import XLEN_MASK
from .host import Extension, SbiHost, SbiResult, not_supported

EXTENSIONS: tuple[Extension, ...] = (
    *legacy.EXTENSIONS,
    base.EXTENSION,
    timer.EXTENSION,
    ipi.EXTENSION,
    rfence.EXTENSION,
    hsm.EXTENSION,
    srst.EXTENSION,
    dbcn.EXTENSION,
)

# every row covers a single EID, so a dict finds it in O(1) on the hot path
# (a Linux boot makes thousands of calls); ranged rows would be scanned.
_BY_EID = {row.eid_start: row for row in EXTENSIONS if row.eid_start == row.eid_end}
_RANGED = tuple(row for row in EXTENSIONS if row.eid_start != row.eid_end)


def find_extension(eid: int) -> Extension | None:
    row = _BY_EID.get(eid)
    if row is not None:
        return row
    for row in _RANGED:
        if row.eid_start <= eid <= row.eid_end:
            return row
    return None


def dispatch(host: SbiHost, eid: int, fid: int, args: tuple[int, ...]) -> SbiResult:
    """Serve one ecall: eid = a7, fid = a6, args = a0..a5 (fewer are padded with 0)."""
    row = find_extension(eid)
    if row is None:
        return not_supported()
    regs = tuple(a & XLEN_MASK for a in args[:6]) + (0,) * (6 - min(len(args), 6))
    return row.handler(host, fid, regs)
