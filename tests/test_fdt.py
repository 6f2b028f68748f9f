"""The generated device tree, parsed back with the fdt library (and dtc when installed)."""
from __future__ import annotations

import shutil
import subprocess

import fdt
import pytest

from rvkvm.cpu.constants import IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI
from rvkvm.devices.base import Clock
from rvkvm.devices.clint import Clint
from rvkvm.devices.finisher import FINISHER_PASS, FINISHER_RESET, TestFinisher
from rvkvm.devices.plic import Plic
from rvkvm.devices.uart16550 import make_uart0
from rvkvm.errors import LoadError
from rvkvm.machine.fdt import DeviceTree, build_device_tree, cells64, load_dtb, patch_chosen


class Quiet:
    def set_irq(self, line, level): pass
    def request_stop(self): pass
    def request_exit(self, status, reason): pass


def virt_devices():
    q = Quiet()
    plic = Plic(q, q)
    # the UART comes before the PLIC on purpose: phandles must not depend on order
    return [TestFinisher(q), Clint(q, Clock(), q), make_uart0(lambda b: None, plic, q), plic]


def build(**overrides):
    args = dict(ram_base=0x8000_0000, ram_size=256 << 20, isa="rv64imafdc_zicsr_zifencei",
                mmu_type="riscv,sv48", devices=virt_devices())
    args.update(overrides)
    return build_device_tree(**args)


def prop(tree, path, name):
    p = tree.get_node(path).get_property(name)
    assert p is not None, f"{path} has no {name}"
    return p


def test_root_memory_and_chosen():
    t = fdt.parse_dtb(build(bootargs="console=ttyS0 earlycon", stdout_path="/soc/serial@10000000",
                            initrd=(0x8800_0000, 0x1_0000_0010)))
    assert prop(t, "/", "#address-cells").value == 2 and prop(t, "/", "#size-cells").value == 2
    assert prop(t, "/", "compatible").value == "riscv-virtio"
    assert prop(t, "/memory@80000000", "device_type").value == "memory"
    assert prop(t, "/memory@80000000", "reg").data == [0, 0x8000_0000, 0, 256 << 20]
    assert prop(t, "/chosen", "bootargs").value == "console=ttyS0 earlycon"
    assert prop(t, "/chosen", "stdout-path").value == "/soc/serial@10000000"
    assert prop(t, "/chosen", "linux,initrd-start").data == [0, 0x8800_0000]
    assert prop(t, "/chosen", "linux,initrd-end").data == [1, 0x10]


def test_chosen_is_empty_without_options():
    t = fdt.parse_dtb(build())
    assert t.get_node("/chosen").props == []


def test_cpus_and_interrupt_controller():
    t = fdt.parse_dtb(build(hart_count=2))
    assert prop(t, "/cpus", "timebase-frequency").value == 10_000_000
    for hart in (0, 1):
        cpu = f"/cpus/cpu@{hart}"
        assert prop(t, cpu, "device_type").value == "cpu"
        assert prop(t, cpu, "reg").value == hart
        assert prop(t, cpu, "status").value == "okay"
        assert prop(t, cpu, "riscv,isa").value == "rv64imafdc_zicsr_zifencei"
        assert prop(t, cpu, "mmu-type").value == "riscv,sv48"
        intc = cpu + "/interrupt-controller"
        assert prop(t, intc, "compatible").value == "riscv,cpu-intc"
        assert prop(t, intc, "#interrupt-cells").value == 1
        assert t.get_node(intc).exist_property("interrupt-controller")
    assert (prop(t, "/cpus/cpu@0/interrupt-controller", "phandle").value
            != prop(t, "/cpus/cpu@1/interrupt-controller", "phandle").value)


def test_devices_reference_the_right_phandles():
    t = fdt.parse_dtb(build())
    intc = prop(t, "/cpus/cpu@0/interrupt-controller", "phandle").value
    plic = prop(t, "/soc/plic@c000000", "phandle").value
    test = prop(t, "/soc/test@100000", "phandle").value
    assert len({intc, plic, test}) == 3
    assert prop(t, "/soc", "compatible").value == "simple-bus"
    assert t.get_node("/soc").exist_property("ranges")

    assert prop(t, "/soc/clint@2000000", "interrupts-extended").data == [intc, IRQ_MSI, intc, IRQ_MTI]
    assert list(prop(t, "/soc/clint@2000000", "compatible").data) == ["sifive,clint0", "riscv,clint0"]
    assert prop(t, "/soc/clint@2000000", "reg").data == [0, 0x0200_0000, 0, 0x10000]

    assert prop(t, "/soc/plic@c000000", "interrupts-extended").data == [intc, IRQ_MEI, intc, IRQ_SEI]
    assert prop(t, "/soc/plic@c000000", "riscv,ndev").value == 0x5F
    assert prop(t, "/soc/plic@c000000", "#address-cells").value == 0
    assert t.get_node("/soc/plic@c000000").exist_property("interrupt-controller")

    assert prop(t, "/soc/serial@10000000", "interrupt-parent").value == plic
    assert prop(t, "/soc/serial@10000000", "compatible").value == "ns16550a"

    assert list(prop(t, "/soc/test@100000", "compatible").data) == [
        "sifive,test1", "sifive,test0", "syscon"]
    assert prop(t, "/poweroff", "regmap").value == test
    assert prop(t, "/poweroff", "value").value == FINISHER_PASS
    assert prop(t, "/reboot", "regmap").value == test
    assert prop(t, "/reboot", "value").value == FINISHER_RESET
    assert prop(t, "/reboot", "compatible").value == "syscon-reboot"


def test_dangling_phandle_is_refused():
    q = Quiet()
    uart = make_uart0(lambda b: None, Plic(q, q), q)   # a PLIC that is not in the tree
    with pytest.raises(ValueError, match="plic"):
        build(devices=[uart])


def test_property_values_are_checked():
    tree = DeviceTree()
    with pytest.raises(ValueError, match="cells64"):
        tree.add_node("/x", {"big": 1 << 32})
    assert cells64(0x1_2345_6789) == [1, 0x2345_6789]


@pytest.mark.skipif(shutil.which("dtc") is None, reason="dtc (device-tree-compiler) not installed")
def test_dtc_decompiles_it_without_errors(tmp_path):
    path = tmp_path / "virt.dtb"
    path.write_bytes(build(bootargs="console=ttyS0", stdout_path="/soc/serial@10000000"))
    result = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(path)],
                            capture_output=True, text=True, check=True)
    assert "serial@10000000" in result.stdout
    assert 'compatible = "riscv,cpu-intc"' in result.stdout
    assert "Warning" not in result.stderr, result.stderr


def test_load_dtb_accepts_a_real_tree(tmp_path):
    path = tmp_path / "ok.dtb"
    blob = build()
    path.write_bytes(blob + b"\0" * 64)         # trailing padding is trimmed to totalsize
    assert load_dtb(path) == blob


@pytest.mark.parametrize("content", [
    b"this is not a device tree at all, just some text....",
    b"\xd0\x0d\xfe\xed" + b"\x00\x00\x10\x00" + b"\x00" * 40,   # magic, then a lie about size
])
def test_load_dtb_rejects_garbage(tmp_path, content):
    path = tmp_path / "bad.dtb"
    path.write_bytes(content)
    with pytest.raises(LoadError, match="is not a device tree"):
        load_dtb(path)


@pytest.mark.parametrize("token", [7, 9])   # undefined; FDT_END before the root node
def test_load_dtb_rejects_corrupt_structure(tmp_path, token):
    blob = bytearray(build())
    off_struct = int.from_bytes(blob[8:12], "big")
    blob[off_struct:off_struct + 4] = token.to_bytes(4, "big")
    path = tmp_path / "corrupt.dtb"
    path.write_bytes(bytes(blob))
    with pytest.raises(LoadError, match="is not a device tree"):
        load_dtb(path)


def test_load_dtb_missing_or_empty_file(tmp_path):
    with pytest.raises(LoadError, match="device tree .*nope.dtb.*: no such file"):
        load_dtb(tmp_path / "nope.dtb")
    (tmp_path / "empty.dtb").write_bytes(b"")
    with pytest.raises(LoadError, match="empty"):
        load_dtb(tmp_path / "empty.dtb")


# ---------------------------------------------------------------- --dtb: /chosen patched

def test_patch_chosen_sets_bootargs_and_initrd_and_keeps_the_rest():
    user = build(bootargs="old", stdout_path="/soc/serial@10000000")
    t = fdt.parse_dtb(patch_chosen(user, "console=ttyS0 new", (0x8800_0000, 0x1_0000_0010)))
    assert prop(t, "/chosen", "bootargs").value == "console=ttyS0 new"
    assert prop(t, "/chosen", "linux,initrd-start").data == [0, 0x8800_0000]
    assert prop(t, "/chosen", "linux,initrd-end").data == [1, 0x10]
    assert prop(t, "/chosen", "stdout-path").value == "/soc/serial@10000000"
    before = fdt.parse_dtb(user)
    for path in ["/cpus/cpu@0", "/soc/serial@10000000", "/memory@80000000"]:
        assert t.get_node(path) == before.get_node(path), path
    assert len([p for p in t.get_node("/chosen").props if p.name == "bootargs"]) == 1


def test_patch_chosen_creates_chosen_and_leaves_a_tree_alone_without_options():
    tree = DeviceTree()
    tree.add_node("/", {"#address-cells": 2, "#size-cells": 2, "model": "mine"})
    user = tree.to_dtb()
    assert patch_chosen(user) == user
    t = fdt.parse_dtb(patch_chosen(user, bootargs="x=1"))
    assert prop(t, "/chosen", "bootargs").value == "x=1"
    assert prop(t, "/", "model").value == "mine"
