"""Putting kernels, firmware, initrds and device trees into guest RAM.

    detect_kind(path)                 "elf", "linux-image" or "raw", from the file's magic
    load_kernel(path, ram, load_addr, what) any of the three -> LoadedKernel
                                      (`what` labels errors: "kernel", "bios")
    load_initrd(path, ram, after=, before=)  page-aligned above `after`
    load_blob(path, ram, addr, what)  raw bytes (firmware, dtb) at a fixed address

Every bad input raises rvkvm.errors.LoadError with one line that names the file.
"""
from __future__ import annotations

from importlib import import_module

from ..memory.ram import Ram
from .linux_image import has_image_magic
from .raw import LoadedKernel, load_blob, load_initrd, read_input

__all__ = ["LoadedKernel", "detect_kind", "load_kernel", "load_initrd", "load_blob"]

ELF_MAGIC = b"\x7fELF"             # elf.ELF_MAGIC, here so that detecting one needs no elf.py

# kind -> (module, function): a loader is imported only to load its kind (a Linux
# Image boot does without elf.py, ~2 ms of imports)
_LOADERS = {
    "elf": (".elf", "load_elf"),
    "linux-image": (".linux_image", "load_linux_image"),
    "raw": (".raw", "load_raw"),
}


def detect_kind(path: str, what: str = "kernel") -> str:
    """What a kernel file is, by its magic: an ELF, a Linux Image, or else raw bytes."""
    head = read_input(path, what, limit=64)
    if head.startswith(ELF_MAGIC):
        return "elf"
    if has_image_magic(head):
        return "linux-image"
    return "raw"


def load_kernel(path: str, ram: Ram, *, load_addr: int | None = None,
                what: str = "kernel") -> LoadedKernel:
    """Load a kernel of any supported kind. `load_addr` overrides where it goes: a raw
    binary (default RAM base), a Linux Image (default RAM base + text_offset), or an ELF
    moved as a whole (default: its own physical addresses)."""
    module, function = _LOADERS[detect_kind(path, what)]
    load = getattr(import_module(module, __name__), function)
    return load(path, ram, load_addr, what)
