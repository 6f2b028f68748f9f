"""The RISC-V Linux flat `Image` (Documentation/riscv/boot-image-header.rst,
arch/riscv/include/asm/image.h): a 64-byte header, then the kernel, loaded at
RAM base + text_offset and entered at its first byte.

    0x00 code0, code1   0x08 text_offset   0x10 image_size   0x18 flags
    0x20 version        0x30 magic "RISCV\\0\\0\\0"          0x38 magic2 "RSC\\x05"
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from ..errors import LoadError
from ..memory.ram import Ram
from .raw import LoadedKernel, check_fits, read_input

HEADER_SIZE = 64
MAGIC = b"RISCV\0\0\0"
MAGIC2 = b"RSC\x05"
FLAG_BIG_ENDIAN = 1 << 0
# Sanity limits that only a corrupt header exceeds.
MAX_IMAGE_SIZE = 1 << 30
MAX_TEXT_OFFSET = 1 << 30
# Linux RV64 maps itself with 2 MiB pages and BUG()s in setup_vm() otherwise.
KERNEL_ALIGN = 2 << 20


class ImageHeader(NamedTuple):
    text_offset: int
    image_size: int    # bytes of RAM the kernel occupies, bss included
    flags: int
    version: int       # major << 16 | minor


def has_image_magic(data: bytes) -> bool:
    """Either magic identifies the header (magic2 is current, magic is deprecated)."""
    return data[0x38:0x3C] == MAGIC2 or data[0x30:0x38] == MAGIC


def parse_header(data: bytes, path: str, what: str = "kernel") -> ImageHeader:
    """The header of an Image file, or a LoadError saying what is wrong with it."""
    if len(data) < HEADER_SIZE:
        raise LoadError(f"{what} {path!r}: truncated Linux Image header "
                        f"({len(data)} of {HEADER_SIZE} bytes)")
    text_offset, image_size, flags, version = struct.unpack_from("<QQQI", data, 0x08)
    header = ImageHeader(text_offset, image_size, flags, version)
    bad = f"{what} {path!r}: corrupt Linux Image header:"
    if flags & FLAG_BIG_ENDIAN:
        raise LoadError(f"{what} {path!r}: big-endian Linux Image; RISC-V here is little-endian")
    if text_offset % 4096 or text_offset > MAX_TEXT_OFFSET:
        raise LoadError(f"{bad} text_offset {text_offset:#x} is not a 4 KiB aligned "
                        f"offset below {MAX_TEXT_OFFSET:#x}")
    if image_size < len(data):
        raise LoadError(f"{bad} image_size {image_size:#x} is smaller than the file "
                        f"({len(data):#x} bytes)")
    if image_size > MAX_IMAGE_SIZE:
        raise LoadError(f"{bad} image_size {image_size:#x} is absurdly large")
    return header


def load_linux_image(path: str, ram: Ram, load_addr: int | None = None,
                     what: str = "kernel") -> LoadedKernel:
    data = read_input(path, what, max_size=ram.size)
    header = parse_header(data, path, what)
    addr = ram.base + header.text_offset if load_addr is None else load_addr
    if addr % KERNEL_ALIGN:
        raise LoadError(f"{what} {path!r}: load address {addr:#x} is not 2 MiB aligned, "
                        f"which a RISC-V 64 Linux kernel requires")
    end = addr + header.image_size
    check_fits(ram, path, what, addr, end)
    ram.write(addr, data, f"{what} {path!r}")
    # The bss beyond the file must start zeroed, even if RAM was used before.
    ram.write(addr + len(data), bytes(end - addr - len(data)), f"{what} {path!r}")
    return LoadedKernel("linux-image", entry=addr, start=addr, end=end, is_linux=True)
