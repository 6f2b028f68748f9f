"""DBCN extension ("DBCN"): the debug console, reading and writing guest memory directly.

Buffers are physical ranges given as (num_bytes, base_addr_lo, base_addr_hi).
An inaccessible range is SBI_ERR_INVALID_PARAM, as this extension's error table says.
"""
from __future__ import annotations

from .constants import (
    SBI_ERR_FAILED, SBI_ERR_INVALID_PARAM, SBI_EXT_DBCN, SBI_EXT_DBCN_CONSOLE_READ,
    SBI_EXT_DBCN_CONSOLE_WRITE, SBI_EXT_DBCN_CONSOLE_WRITE_BYTE,
)
from .host import Extension, SbiHost, SbiResult, not_supported

# Both calls are non-blocking and may transfer less than asked; capping one
# call bounds the host memory it touches. Callers loop on the returned count.
MAX_TRANSFER = 64 * 1024


def _guest_buffer(host: SbiHost, args: tuple[int, ...]) -> tuple[int, bytes] | None:
    """(physical address, the bytes there now, at most MAX_TRANSFER of them), or None
    when the range is inaccessible: beyond 64 bits (base_addr_hi != 0, nothing lives
    there on this machine) or outside guest memory. Reading first also checks a
    destination before console_read takes input, so a bad buffer loses no keystrokes."""
    num_bytes, base_lo, base_hi = args[0], args[1], args[2]
    if base_hi != 0:
        return None
    length = min(num_bytes, MAX_TRANSFER)
    data = host.read_guest_memory(base_lo, length) if length else b""
    return None if data is None else (base_lo, data)


def console_write(host: SbiHost, args: tuple[int, ...]) -> SbiResult:
    buf = _guest_buffer(host, args)
    if buf is None:
        return SbiResult(error=SBI_ERR_INVALID_PARAM)
    data = buf[1]
    if data:
        host.console_write(data)
    return SbiResult(value=len(data))


def console_read(host: SbiHost, args: tuple[int, ...]) -> SbiResult:
    buf = _guest_buffer(host, args)
    if buf is None:
        return SbiResult(error=SBI_ERR_INVALID_PARAM)
    addr, space = buf
    if not space:
        return SbiResult()
    data = host.console_read(len(space))[:len(space)]
    if data and not host.write_guest_memory(addr, data):
        return SbiResult(error=SBI_ERR_FAILED)
    return SbiResult(value=len(data))


def console_write_byte(host: SbiHost, args: tuple[int, ...]) -> SbiResult:
    host.console_write(bytes([args[0] & 0xFF]))
    return SbiResult()


FUNCTIONS = {
    SBI_EXT_DBCN_CONSOLE_WRITE: console_write,
    SBI_EXT_DBCN_CONSOLE_READ: console_read,
    SBI_EXT_DBCN_CONSOLE_WRITE_BYTE: console_write_byte,
}


def handle(host: SbiHost, fid: int, args: tuple[int, ...]) -> SbiResult:
    function = FUNCTIONS.get(fid)
    return function(host, args) if function else not_supported()


EXTENSION = Extension(SBI_EXT_DBCN, SBI_EXT_DBCN, "DBCN", handle)
