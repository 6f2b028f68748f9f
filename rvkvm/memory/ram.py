"""Guest RAM: one host mmap shared with Unicorn (mem_map_ptr), so Python reads and
writes guest memory without going through the engine."""
from __future__ import annotations

import ctypes
import mmap
import struct

from ..errors import LoadError


_U32 = struct.Struct("<I")

class Ram:
    def __init__(self, base: int, size: int):
        if size <= 0 or size % 4096:
            raise LoadError(f"RAM size must be a positive multiple of 4 KiB, got {size}")
        self.base = base
        self.size = size
        self.end = base + size
        self.buf = mmap.mmap(-1, size)
        self.view = memoryview(self.buf)
        self.host_addr = ctypes.addressof(ctypes.c_char.from_buffer(self.buf))

    def contains(self, pa: int, length: int = 1) -> bool:
        return self.base <= pa and pa + length <= self.end

    def write(self, pa: int, data: bytes, what: str = "data") -> None:
        if not self.contains(pa, len(data)):
            raise LoadError(
                f"{what} at {pa:#x}-{pa + len(data):#x} does not fit in RAM "
                f"{self.base:#x}-{self.end:#x} (use -m to enlarge RAM)")
        off = pa - self.base
        self.view[off:off + len(data)] = data

    def read(self, pa: int, length: int) -> bytes:
        if not self.contains(pa, length):
            raise IndexError(f"read {pa:#x}+{length} outside RAM")
        off = pa - self.base
        return bytes(self.view[off:off + length])

    def read_u16(self, pa: int) -> int | None:
        off = pa - self.base
        if 0 <= off <= self.size - 2:
            return self.buf[off] | (self.buf[off + 1] << 8)
        return None

    def read_u32(self, pa: int) -> int | None:
        off = pa - self.base
        if 0 <= off <= self.size - 4:
            return _U32.unpack_from(self.buf, off)[0]
        return None

    def read_u64(self, pa: int) -> int | None:
        off = pa - self.base
        if 0 <= off <= self.size - 8:
            return struct.unpack_from("<Q", self.buf, off)[0]
        return None

    def write_u64(self, pa: int, value: int) -> None:
        off = pa - self.base
        struct.pack_into("<Q", self.buf, off, value & (2**64 - 1))
