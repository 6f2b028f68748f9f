"""HSM extension ("HSM"): start, stop, query and suspend harts.

The extension checks what the spec lets it check without knowing the harts
(hart ids, suspend types); the host owns the hart states and answers the rest.
"""
from __future__ import annotations

from .constants import (
    SBI_ERR_INVALID_PARAM, SBI_EXT_HSM, SBI_EXT_HSM_HART_GET_STATUS, SBI_EXT_HSM_HART_START,
    SBI_EXT_HSM_HART_STOP, SBI_EXT_HSM_HART_SUSPEND, SBI_HSM_SUSPEND_NON_RET_DEFAULT,
    SBI_HSM_SUSPEND_RET_DEFAULT,
)
from .host import Extension, SbiHost, SbiResult, not_supported

# Only the two default suspend types exist here; the others are reserved or
# platform-specific and unimplemented, which the spec answers with INVALID_PARAM.
SUPPORTED_SUSPEND_TYPES = (SBI_HSM_SUSPEND_RET_DEFAULT, SBI_HSM_SUSPEND_NON_RET_DEFAULT)


def _valid_hart(host: SbiHost, hart_id: int) -> bool:
    return hart_id < host.num_harts


def handle(host: SbiHost, fid: int, args: tuple[int, ...]) -> SbiResult:
    if fid == SBI_EXT_HSM_HART_START:
        hart_id, start_addr, opaque = args[0], args[1], args[2]
        if not _valid_hart(host, hart_id):
            return SbiResult(error=SBI_ERR_INVALID_PARAM)
        return SbiResult(error=host.hart_start(hart_id, start_addr, opaque))
    if fid == SBI_EXT_HSM_HART_STOP:
        return SbiResult(error=host.hart_stop())
    if fid == SBI_EXT_HSM_HART_GET_STATUS:
        if not _valid_hart(host, args[0]):
            return SbiResult(error=SBI_ERR_INVALID_PARAM)
        state = host.hart_status(args[0])
        return SbiResult(error=state) if state < 0 else SbiResult(value=state)
    if fid == SBI_EXT_HSM_HART_SUSPEND:
        suspend_type = args[0] & 0xFFFF_FFFF    # a uint32_t parameter
        if suspend_type not in SUPPORTED_SUSPEND_TYPES:
            return SbiResult(error=SBI_ERR_INVALID_PARAM)
        return SbiResult(error=host.hart_suspend(suspend_type, args[1], args[2]))
    return not_supported()


EXTENSION = Extension(SBI_EXT_HSM, SBI_EXT_HSM, "HSM", handle)
