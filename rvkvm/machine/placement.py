"""Where a boot puts the initrd and the device tree in RAM, as QEMU's virt does: shared
by the native machine (virt.py) and the hypervisor's VMM (hv/vmm.py)."""
from __future__ import annotations

from .. import loaders
from ..errors import RvkvmError
from .fdt import load_dtb, patch_chosen

MEGA2 = 2 << 20


def place_initrd(path: str, ram, kernel_end: int) -> tuple[int, int]:
    """Load the initrd: halfway into RAM for small machines, else at 128 MiB (QEMU),
    after the kernel, below the last 2 MiB. Returns its (start, end)."""
    start = ram.base + min(ram.size // 2, 128 << 20)
    return loaders.load_initrd(path, ram, after=max(start, kernel_end), before=ram.end - MEGA2)


def device_tree_blob(dtb_path: str | None, append: str | None, initrd, build, ram) -> bytes:
    """The user's tree (as QEMU's -dtb: /chosen told of --append and --initrd; no
    bigger than RAM), or the one build(initrd) generates."""
    if dtb_path:
        return patch_chosen(load_dtb(dtb_path, max_size=ram.size), append, initrd)
    return build(initrd)


def place_device_tree(ram, blob: bytes, kernel_end: int, initrd=None) -> int:
    """Write the tree at the last 2 MiB boundary that fits, else the last page; after
    the kernel and the initrd. Returns its address."""
    addr = (ram.end - len(blob)) & ~(MEGA2 - 1)
    if addr < kernel_end or (initrd and addr < initrd[1]):
        addr = (ram.end - len(blob)) & ~0xFFF
    if addr < kernel_end:
        raise RvkvmError("no room in RAM for the device tree after the kernel (use -m)")
    ram.write(addr, blob, "device tree")
    return addr
