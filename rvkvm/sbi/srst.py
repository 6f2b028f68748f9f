"""SRST extension ("SRST"): system shutdown and reboot."""
from __future__ import annotations

from .constants import (
    SBI_ERR_INVALID_PARAM, SBI_EXT_SRST, SBI_EXT_SRST_RESET, SBI_SRST_RESET_REASON_NONE,
    SBI_SRST_RESET_REASON_SYSFAIL, SBI_SRST_RESET_TYPE_COLD_REBOOT,
    SBI_SRST_RESET_TYPE_SHUTDOWN, SBI_SRST_RESET_TYPE_WARM_REBOOT,
)
from .host import Extension, SbiHost, SbiResult, not_supported

RESET_TYPES = (SBI_SRST_RESET_TYPE_SHUTDOWN, SBI_SRST_RESET_TYPE_COLD_REBOOT,
               SBI_SRST_RESET_TYPE_WARM_REBOOT)
# no implementation- or vendor-specific reasons: those ranges are "unimplemented"
RESET_REASONS = (SBI_SRST_RESET_REASON_NONE, SBI_SRST_RESET_REASON_SYSFAIL)


def handle(host: SbiHost, fid: int, args: tuple[int, ...]) -> SbiResult:
    if fid != SBI_EXT_SRST_RESET:
        return not_supported()
    reset_type, reason = args[0] & 0xFFFF_FFFF, args[1] & 0xFFFF_FFFF   # uint32_t parameters
    if reset_type not in RESET_TYPES or reason not in RESET_REASONS:
        return SbiResult(error=SBI_ERR_INVALID_PARAM)
    host.system_reset(reset_type, reason)
    return SbiResult()    # only seen if the host lets the hart run on


EXTENSION = Extension(SBI_EXT_SRST, SBI_EXT_SRST, "SRST", handle)
