"""Bytes from a file into guest RAM: the primitives every loader shares (reading the
file, checking the destination fits) and the loaders for flat binaries, firmware
blobs, device trees and initrds."""
from __future__ import annotations

import os
import stat

from ..errors import LoadError
from ..memory.ram import Ram
from ..records import slots_repr

PAGE_SIZE = 4096


class LoadedKernel:
    """Where a kernel landed in guest physical memory."""
    __slots__ = ("kind", "entry", "start", "end", "symbols", "is_linux")

    def __init__(self, kind: str, entry: int, start: int, end: int,
                 symbols: dict[str, int] | None = None, is_linux: bool = False):
        self.kind = kind               # "elf", "linux-image" or "raw"
        self.entry = entry             # physical entry point
        self.start = start             # physical range [start, end) it occupies,
        self.end = end                 # bss included
        self.symbols = {} if symbols is None else symbols
        self.is_linux = is_linux

    __repr__ = slots_repr


def align_up(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)


# What a path is when it is not a regular file, for the error line.
_NOT_REGULAR = ((stat.S_ISDIR, "is a directory, not a file"),
                (stat.S_ISFIFO, "is a FIFO, not a regular file"),
                (stat.S_ISCHR, "is a character device, not a regular file"),
                (stat.S_ISBLK, "is a block device, not a regular file"),
                (stat.S_ISSOCK, "is a socket, not a regular file"))


def read_input(path: str, what: str, limit: int = -1, max_size: int | None = None) -> bytes:
    """The file (its first `limit` bytes if given), or a LoadError naming it: missing,
    unreadable, empty, not a regular file, or (whole reads) larger than `max_size`.
    Only regular files: a FIFO would block the open and /dev/zero never ends, so the
    open does not wait (O_NONBLOCK) and the size is known before anything is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise LoadError(f"{what} {path!r}: no such file") from None
    except IsADirectoryError:
        raise LoadError(f"{what} {path!r}: is a directory, not a file") from None
    except PermissionError:
        raise LoadError(f"{what} {path!r}: permission denied") from None
    except OSError as e:
        raise LoadError(f"{what} {path!r}: cannot open ({e.strerror or e})") from None
    try:
        info = os.fstat(fd)
        for is_kind, why in _NOT_REGULAR:
            if is_kind(info.st_mode):
                raise LoadError(f"{what} {path!r}: {why}")
        if limit < 0 and max_size is not None and info.st_size > max_size:
            raise LoadError(f"{what} {path!r} ({info.st_size} bytes) does not fit in RAM "
                            f"({max_size >> 20} MiB; use -m to enlarge RAM)")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit)
    except OSError as e:
        raise LoadError(f"{what} {path!r}: cannot read ({e.strerror or e})") from None
    finally:
        os.close(fd)
    if not data:
        raise LoadError(f"{what} {path!r}: file is empty")
    return data


def check_fits(ram: Ram, path: str, what: str, start: int, end: int) -> None:
    """Refuse a placement outside RAM before anything is written."""
    if not (ram.base <= start <= end <= ram.end):
        raise LoadError(
            f"{what} {path!r} at {start:#x}-{end:#x} does not fit in RAM "
            f"{ram.base:#x}-{ram.end:#x} ({ram.size >> 20} MiB; use -m to enlarge RAM)")


def load_raw(path: str, ram: Ram, load_addr: int | None = None,
             what: str = "kernel") -> LoadedKernel:
    """A flat binary, entered at its first byte (RAM base unless told otherwise)."""
    data = read_input(path, what, max_size=ram.size)
    addr = ram.base if load_addr is None else load_addr
    check_fits(ram, path, what, addr, addr + len(data))
    ram.write(addr, data, f"{what} {path!r}")
    return LoadedKernel("raw", entry=addr, start=addr, end=addr + len(data))


def load_blob(path: str, ram: Ram, addr: int, what: str) -> tuple[int, int]:
    """Copy a file (firmware, device tree) to `addr`; returns its [start, end)."""
    data = read_input(path, what, max_size=ram.size)
    check_fits(ram, path, what, addr, addr + len(data))
    ram.write(addr, data, f"{what} {path!r}")
    return addr, addr + len(data)


def load_initrd(path: str, ram: Ram, *, after: int, before: int) -> tuple[int, int]:
    """Place an initrd at the first page boundary at or above `after`, ending at or
    below `before` (typically: after the kernel, before the device tree)."""
    data = read_input(path, "initrd", max_size=ram.size)
    start = align_up(after, PAGE_SIZE)
    end = start + len(data)
    limit = min(before, ram.end)
    if start < ram.base or end > limit:
        room = max(0, limit - start)
        raise LoadError(
            f"initrd {path!r} ({len(data)} bytes) does not fit in RAM between "
            f"{start:#x} and {limit:#x} ({room} bytes free; use -m to enlarge RAM)")
    ram.write(start, data, f"initrd {path!r}")
    return start, end
