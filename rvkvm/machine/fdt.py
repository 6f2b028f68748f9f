"""The flattened device tree the guest boots with, shaped like QEMU virt's.

The machine-wide nodes (/chosen, /memory, /cpus, /soc) are built here; each
device adds its own node through `DeviceTree` in its `fdt_node()`. Phandles are
named: whoever needs one first (a reference or the owning node) allocates it,
so devices can be visited in any order.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Iterable

import fdt as libfdt

from ..errors import LoadError
from ..loaders.raw import read_input
from ..memory.layout import TIMEBASE_HZ

FDT_MAGIC = 0xD00DFEED
FDT_VERSION = 17
MODEL = "riscv-virtio,qemu"


class DeviceTree:
    SOC = "/soc"
    # well-known phandle names
    PLIC = "plic"
    TEST = "test"

    def __init__(self, hart_count: int = 1):
        self.hart_count = hart_count
        self._tree = libfdt.FDT(entries=[])
        self._phandles: dict[str, int] = {}
        self._defined: set[int] = set()       # phandles some node carries

    def phandle(self, name: str) -> int:
        """The phandle called `name`, allocated on first use."""
        if name not in self._phandles:
            self._phandles[name] = len(self._phandles) + 1
        return self._phandles[name]

    def cpu_intc_phandle(self, hart: int) -> int:
        """The phandle of hart `hart`'s local interrupt controller (riscv,cpu-intc)."""
        return self.phandle(f"cpu{hart}-intc")

    @staticmethod
    def reg(*base_size: int) -> list[int]:
        """A `reg` value for (base, size, base, size, ...) with 2 address and 2 size cells."""
        return cells64(*base_size)

    def add_node(self, path: str, props: dict | None = None) -> None:
        """Create the node at `path` (and missing parents) and set `props`:
        True -> empty property, int -> one cell, list[int] -> cells,
        str -> string, list[str] -> string list, bytes -> raw."""
        node = self._tree.get_node(path, create=True)
        for name, value in (props or {}).items():
            node.append(_property(name, value))
        if "phandle" in (props or {}):
            self._defined.add(props["phandle"])

    def has_node(self, path: str) -> bool:
        return self._tree.exist_node(path)

    def to_dtb(self) -> bytes:
        dangling = [n for n, h in self._phandles.items() if h not in self._defined]
        if dangling:
            raise ValueError(f"device tree refers to phandles no node defines: {dangling}")
        return self._tree.to_dtb(version=FDT_VERSION)


def cells64(*values: int) -> list[int]:
    """64-bit values as pairs of 32-bit cells, high cell first."""
    out: list[int] = []
    for v in values:
        out += [(v >> 32) & 0xFFFF_FFFF, v & 0xFFFF_FFFF]
    return out


def _property(name: str, value):
    if value is True:
        return libfdt.Property(name)
    if isinstance(value, bool) or value is None:
        raise TypeError(f"property {name}: use True for an empty property")
    if isinstance(value, int):
        return libfdt.PropWords(name, _cell(name, value))
    if isinstance(value, str):
        return libfdt.PropStrings(name, value)
    if isinstance(value, (bytes, bytearray)):
        return libfdt.PropBytes(name, data=bytes(value))
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(v, str) for v in value):
            return libfdt.PropStrings(name, *value)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return libfdt.PropWords(name, *(_cell(name, v) for v in value))
    raise TypeError(f"property {name}: unsupported value {value!r}")


def _cell(name: str, value: int) -> int:
    if not 0 <= value <= 0xFFFF_FFFF:
        raise ValueError(f"property {name}: {value:#x} does not fit a 32-bit cell (use cells64)")
    return value


def chosen_properties(bootargs: str | None, initrd: tuple[int, int] | None) -> dict:
    """What /chosen says of the command line and the initrd (start, end), if given."""
    chosen: dict = {}
    if bootargs is not None:
        chosen["bootargs"] = bootargs
    if initrd is not None:
        start, end = initrd
        chosen["linux,initrd-start"] = cells64(start)
        chosen["linux,initrd-end"] = cells64(end)
    return chosen


def patch_chosen(blob: bytes, bootargs: str | None = None,
                 initrd: tuple[int, int] | None = None) -> bytes:
    """A user's DTB with /chosen given --append and --initrd, as QEMU does for -dtb:
    those properties are replaced (or added, /chosen too), everything else is kept."""
    props = chosen_properties(bootargs, initrd)
    if not props:
        return blob
    tree = libfdt.parse_dtb(blob)
    node = tree.get_node("/chosen", create=True)
    for name, value in props.items():
        if node.exist_property(name):
            node.remove_property(name)
        node.append(_property(name, value))
    return tree.to_dtb(version=FDT_VERSION)


def build_device_tree(*, ram_base: int, ram_size: int, isa: str, mmu_type: str,
                      hart_count: int = 1, devices: Iterable = (),
                      bootargs: str | None = None, stdout_path: str | None = None,
                      initrd: tuple[int, int] | None = None) -> bytes:
    """The DTB for a virt machine. `initrd` is (start, end) in guest physical memory."""
    tree = DeviceTree(hart_count)
    tree.add_node("/", {
        "#address-cells": 2,
        "#size-cells": 2,
        "compatible": "riscv-virtio",
        "model": MODEL,
    })
    chosen = chosen_properties(bootargs, initrd)
    if stdout_path is not None:
        chosen["stdout-path"] = stdout_path
    tree.add_node("/chosen", chosen)
    tree.add_node(f"/memory@{ram_base:x}", {
        "device_type": "memory",
        "reg": tree.reg(ram_base, ram_size),
    })
    _add_cpus(tree, isa, mmu_type)
    tree.add_node(tree.SOC, {
        "#address-cells": 2,
        "#size-cells": 2,
        "compatible": "simple-bus",
        "ranges": True,
    })
    for dev in devices:
        dev.fdt_node(tree)
    return tree.to_dtb()


def _add_cpus(tree: DeviceTree, isa: str, mmu_type: str) -> None:
    tree.add_node("/cpus", {
        "#address-cells": 1,
        "#size-cells": 0,
        "timebase-frequency": TIMEBASE_HZ,
    })
    for hart in range(tree.hart_count):
        cpu = f"/cpus/cpu@{hart:x}"
        tree.add_node(cpu, {
            "phandle": tree.phandle(f"cpu{hart}"),
            "device_type": "cpu",
            "reg": hart,
            "status": "okay",
            "compatible": "riscv",
            "riscv,isa": isa,
            "mmu-type": mmu_type,
        })
        tree.add_node(f"{cpu}/interrupt-controller", {
            "#address-cells": 0,
            "#interrupt-cells": 1,
            "interrupt-controller": True,
            "compatible": "riscv,cpu-intc",
            "phandle": tree.cpu_intc_phandle(hart),
        })
    for hart in range(tree.hart_count):
        tree.add_node(f"/cpus/cpu-map/cluster0/core{hart}", {"cpu": tree.phandle(f"cpu{hart}")})


def load_dtb(path: str | Path, max_size: int | None = None) -> bytes:
    """A user-supplied DTB (a regular file of at most `max_size` bytes), checked to be one."""
    data = read_input(str(path), "device tree", max_size=max_size)
    if len(data) < 40 or struct.unpack_from(">I", data)[0] != FDT_MAGIC:
        raise LoadError(f"{path} is not a device tree (no FDT magic 0xd00dfeed)")
    total_size = struct.unpack_from(">I", data, 4)[0]
    if total_size > len(data):
        raise LoadError(f"{path} is not a device tree: header says {total_size} bytes, "
                        f"file has {len(data)}")
    try:
        tree = libfdt.parse_dtb(data[:total_size])
    except Exception as e:            # the library raises bare Exceptions on corrupt blobs
        raise LoadError(f"{path} is not a device tree: {e}") from None
    if tree.root is None:
        raise LoadError(f"{path} is not a device tree: it has no root node")
    return data[:total_size]
