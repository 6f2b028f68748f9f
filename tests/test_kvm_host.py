"""Real hypervisor software on rvkvm's H extension: ../shared/linux/kvm-host/Image is Linux
6.1 with KVM, whose /init runs the poweroff kernel as a KVM guest under kvmtool and prints
its exit (../shared/linux/kvm-host/BUILD.md). The guest's whole boot runs in VS mode under
the host kernel's G-stage tables, through KVM's own exits, SBI and MMIO emulation."""
from __future__ import annotations

import os

import pytest

FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"
# QEMU 7.2 takes ~2.7 s; rvkvm ~20 s with the built-in SBI, ~50 s under OpenSBI
BOOT_TIMEOUT = 300
GUEST_EXIT = "RVKVM-KVM-GUEST-EXIT status=0"


@pytest.fixture(scope="module")
def kvm_host(shared_dir):
    image = shared_dir / "linux" / "kvm-host" / "Image"
    if not image.exists():
        pytest.skip(f"{image} not found")
    return image


def assert_kvm_ran_its_guest(proc):
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:] + out[-3000:]
    # the host found H, KVM created a VM, the guest booted to userspace and powered off
    lines = ["kvm [1]: hypervisor extension available", "RVKVM-KVM-HOST: /dev/kvm present",
             "RVKVM-USERSPACE-OK", "RVKVM-POWEROFF", GUEST_EXIT]
    positions = [out.find(line) for line in lines]
    assert -1 not in positions, out[-3000:]
    assert positions == sorted(positions), out[-3000:]
    assert "Kernel panic" not in out and "Traceback" not in proc.stderr


def test_kvm_runs_its_guest_under_the_builtin_sbi(rvkvm, kvm_host):
    proc = rvkvm("boot", "-m", "512M", "--timeout", BOOT_TIMEOUT - 20, "--expect", GUEST_EXIT,
                 kvm_host, timeout=BOOT_TIMEOUT)
    assert_kvm_ran_its_guest(proc)


@pytest.mark.skipif(not os.path.exists(FW_JUMP),
                    reason=f"OpenSBI not installed: no {FW_JUMP} (Debian package opensbi)")
def test_kvm_runs_its_guest_under_opensbi(rvkvm, kvm_host):
    # OpenSBI in (virtual) M delegates the H causes itself (medeleg 10, 20-23)
    proc = rvkvm("boot", "-m", "512M", "--bios", FW_JUMP, "--timeout", BOOT_TIMEOUT - 20,
                 "--expect", GUEST_EXIT, kvm_host, timeout=BOOT_TIMEOUT)
    assert_kvm_ran_its_guest(proc)


def test_without_h_kvm_says_so_and_the_host_powers_off(rvkvm, kvm_host):
    proc = rvkvm("boot", "-m", "512M", "--cpu", "rv64,h=off", "--timeout", 60, kvm_host)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "kvm [1]: hypervisor extension not available" in proc.stdout
    assert "RVKVM-KVM-HOST: no /dev/kvm" in proc.stdout
    assert "RVKVM-USERSPACE-OK" not in proc.stdout
