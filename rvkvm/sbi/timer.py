"""TIME extension ("TIME"): program the supervisor timer.

Named timer.py so that it does not shadow the standard library's `time`.
"""
from __future__ import annotations

from .constants import SBI_EXT_TIME, SBI_EXT_TIME_SET_TIMER
from .host import Extension, SbiHost, SbiResult, not_supported


def handle(host: SbiHost, fid: int, args: tuple[int, ...]) -> SbiResult:
    if fid != SBI_EXT_TIME_SET_TIMER:
        return not_supported()
    host.set_timer(args[0])    # the spec: always succeeds
    return SbiResult()


EXTENSION = Extension(SBI_EXT_TIME, SBI_EXT_TIME, "TIME", handle)
