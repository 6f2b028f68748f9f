"""BASE extension (EID 0x10): spec version, implementation id and version, probing."""
from __future__ import annotations

from .. import __version__
from .constants import (
    RVKVM_IMPL_ID, SBI_EXT_BASE, SBI_EXT_BASE_GET_IMPL_ID, SBI_EXT_BASE_GET_IMPL_VERSION,
    SBI_EXT_BASE_GET_MARCHID, SBI_EXT_BASE_GET_MIMPID, SBI_EXT_BASE_GET_MVENDORID,
    SBI_EXT_BASE_GET_SPEC_VERSION, SBI_EXT_BASE_PROBE_EXT, SBI_SPEC_VERSION,
)
from .host import Extension, SbiHost, SbiResult, not_supported


def _impl_version(version: str) -> int:
    """rvkvm's version as major << 16 | minor (OpenSBI's encoding)."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return major << 16 | minor


RVKVM_IMPL_VERSION = _impl_version(__version__)


def probe_extension(host: SbiHost, eid: int) -> int:
    from .table import find_extension   # the table imports this module: look up at call time
    row = find_extension(eid)
    return row.probe(host) if row is not None else 0


def handle(host: SbiHost, fid: int, args: tuple[int, ...]) -> SbiResult:
    if fid == SBI_EXT_BASE_GET_SPEC_VERSION:
        return SbiResult(value=SBI_SPEC_VERSION)
    if fid == SBI_EXT_BASE_GET_IMPL_ID:
        return SbiResult(value=RVKVM_IMPL_ID)
    if fid == SBI_EXT_BASE_GET_IMPL_VERSION:
        return SbiResult(value=RVKVM_IMPL_VERSION)
    if fid == SBI_EXT_BASE_PROBE_EXT:
        return SbiResult(value=probe_extension(host, args[0]))
    if fid in (SBI_EXT_BASE_GET_MVENDORID, SBI_EXT_BASE_GET_MARCHID, SBI_EXT_BASE_GET_MIMPID):
        return SbiResult(value=host.machine_ids()[fid - SBI_EXT_BASE_GET_MVENDORID])
    return not_supported()


EXTENSION = Extension(SBI_EXT_BASE, SBI_EXT_BASE, "BASE", handle)
