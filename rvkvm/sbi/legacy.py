"""Legacy extensions (SBI v0.1, EIDs 0x00-0x08): one EID per function.

They ignore a6, return a single value in a0 and leave a1 alone (so every
result is `legacy=True`). Hart masks are pointers to bitmaps in guest memory.
Where the spec leaves errors to the implementation, the standard SBI codes are used.
"""
from __future__ import annotations

from .constants import (
    SBI_ERR_INVALID_ADDRESS, SBI_EXT_0_1_CLEAR_IPI, SBI_EXT_0_1_CONSOLE_GETCHAR,
    SBI_EXT_0_1_CONSOLE_PUTCHAR, SBI_EXT_0_1_REMOTE_FENCE_I, SBI_EXT_0_1_REMOTE_SFENCE_VMA,
    SBI_EXT_0_1_REMOTE_SFENCE_VMA_ASID, SBI_EXT_0_1_SEND_IPI, SBI_EXT_0_1_SET_TIMER,
    SBI_EXT_0_1_SHUTDOWN, SBI_SRST_RESET_REASON_NONE, SBI_SRST_RESET_TYPE_SHUTDOWN,
)
from .hartmask import harts_from_legacy_mask
from .host import Extension, SbiHost, SbiResult
from .rfence import sfence_vma

NO_INPUT = -1    # console_getchar's "nothing to read"


def _ret(value: int = 0) -> SbiResult:
    return SbiResult(error=value, legacy=True)


def set_timer(host: SbiHost, args: tuple[int, ...]) -> SbiResult:
    host.set_timer(args[0])
    return _ret()


def console_putchar(host: SbiHost, args: tuple[int, ...]) -> SbiResult:
    host.console_write(bytes([args[0] & 0xFF]))
    return _ret()


def console_getchar(host: SbiHost, args: tuple[int, ...]) -> SbiResult:
    data = host.console_read(1)
    return _ret(data[0] if data else NO_INPUT)


def clear_ipi(host: SbiHost, args: tuple[int, ...]) -> SbiResult:
    host.clear_ipi()
    return _ret()


def send_ipi(host: SbiHost, args: tuple[int, ...]) -> SbiResult:
    harts = harts_from_legacy_mask(host, args[0])
    if harts is None:
        return _ret(SBI_ERR_INVALID_ADDRESS)
    if harts:
        host.send_ipi(harts)
    return _ret()


def remote_fence_i(host: SbiHost, args: tuple[int, ...]) -> SbiResult:
    harts = harts_from_legacy_mask(host, args[0])
    if harts is None:
        return _ret(SBI_ERR_INVALID_ADDRESS)
    if harts:
        host.remote_fence_i(harts)
    return _ret()


def remote_sfence_vma(host: SbiHost, args: tuple[int, ...]) -> SbiResult:
    harts = harts_from_legacy_mask(host, args[0])
    if harts is None:
        return _ret(SBI_ERR_INVALID_ADDRESS)
    return _ret(sfence_vma(host, harts, args[1], args[2], None))


def remote_sfence_vma_asid(host: SbiHost, args: tuple[int, ...]) -> SbiResult:
    harts = harts_from_legacy_mask(host, args[0])
    if harts is None:
        return _ret(SBI_ERR_INVALID_ADDRESS)
    return _ret(sfence_vma(host, harts, args[1], args[2], args[3]))


def shutdown(host: SbiHost, args: tuple[int, ...]) -> SbiResult:
    host.system_reset(SBI_SRST_RESET_TYPE_SHUTDOWN, SBI_SRST_RESET_REASON_NONE)
    return _ret()


def _row(eid: int, name: str, function) -> Extension:
    return Extension(eid, eid, name, lambda host, fid, args: function(host, args))


EXTENSIONS = (
    _row(SBI_EXT_0_1_SET_TIMER, "LEGACY_SET_TIMER", set_timer),
    _row(SBI_EXT_0_1_CONSOLE_PUTCHAR, "LEGACY_CONSOLE_PUTCHAR", console_putchar),
    _row(SBI_EXT_0_1_CONSOLE_GETCHAR, "LEGACY_CONSOLE_GETCHAR", console_getchar),
    _row(SBI_EXT_0_1_CLEAR_IPI, "LEGACY_CLEAR_IPI", clear_ipi),
    _row(SBI_EXT_0_1_SEND_IPI, "LEGACY_SEND_IPI", send_ipi),
    _row(SBI_EXT_0_1_REMOTE_FENCE_I, "LEGACY_REMOTE_FENCE_I", remote_fence_i),
    _row(SBI_EXT_0_1_REMOTE_SFENCE_VMA, "LEGACY_REMOTE_SFENCE_VMA", remote_sfence_vma),
    _row(SBI_EXT_0_1_REMOTE_SFENCE_VMA_ASID, "LEGACY_REMOTE_SFENCE_VMA_ASID",
         remote_sfence_vma_asid),
    _row(SBI_EXT_0_1_SHUTDOWN, "LEGACY_SHUTDOWN", shutdown),
)
