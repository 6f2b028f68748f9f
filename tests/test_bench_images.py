"""The V=1 benchmark images of bench/hypervisor.py, in their small builds.

bench_vloop_small.elf is bench_vloop.S with 10 k loop iterations (the benchmark's
bench_vloop.elf has 200 M), bench_gpf_small.elf is bench_gpf.S with 200 guest-page
faults (20 k): the same code, checked by the image itself (closed-form loop result,
the trap came from VS with MPV = 1, the number and kind of faults), on rvkvm and on
QEMU 7.2 with -cpu rv64,h=true. Time is not asserted here (bench/ measures it).
"""

import os
import re
import subprocess
import sys

import pytest

from test_images import IMAGES, QEMU, REPO, describe

BOOT_TIMEOUT = 20
GPF_LINE = re.compile(r"^bench_gpf: loads (\d+) mapped_ticks (\d+) faulting_ticks (\d+)\r?$", re.M)

# image -> what it prints besides "bench_vloop: PASS" / "bench_gpf: PASS"
SMALL_IMAGES = {"bench_vloop_small": "bench_vloop", "bench_gpf_small": "bench_gpf"}


def boot_rvkvm(image):
    return subprocess.run(
        [sys.executable, "-m", "rvkvm.cli", "boot", str(IMAGES / f"{image}.elf"),
         "--timeout", str(BOOT_TIMEOUT)],
        cwd=REPO, capture_output=True, text=True, timeout=BOOT_TIMEOUT + 30)


def boot_qemu(image):
    return subprocess.run(
        [QEMU, "-M", "virt", "-cpu", "rv64,h=true", "-bios", "none", "-nographic",
         "-kernel", str(IMAGES / f"{image}.elf")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env={**os.environ, "TERM": "dumb"})


def check_passed(image, proc):
    name = SMALL_IMAGES[image]
    assert proc.returncode == 0, describe(proc)
    assert f"{name}: PASS" in proc.stdout, describe(proc)
    if name == "bench_gpf":
        found = GPF_LINE.search(proc.stdout)
        assert found, describe(proc)
        assert int(found.group(1)) == 200, describe(proc)


@pytest.mark.parametrize("image", sorted(SMALL_IMAGES))
def test_small_bench_image_passes_on_rvkvm(image):
    check_passed(image, boot_rvkvm(image))


@pytest.mark.skipif(QEMU is None, reason="qemu-system-riscv64 not installed")
@pytest.mark.parametrize("image", sorted(SMALL_IMAGES))
def test_small_bench_image_passes_on_qemu(image):
    check_passed(image, boot_qemu(image))


def test_bench_vloop_needs_the_h_extension():
    """Without H (--cpu rv64,h=off) the image fails its first check (code 1:
    misa.H) instead of running the loop at V=0 and passing."""
    proc = subprocess.run(
        [sys.executable, "-m", "rvkvm.cli", "boot", "--cpu", "rv64,h=off",
         str(IMAGES / "bench_vloop_small.elf"), "--timeout", str(BOOT_TIMEOUT)],
        cwd=REPO, capture_output=True, text=True, timeout=BOOT_TIMEOUT + 30)
    assert proc.returncode == 1, describe(proc)
    assert "bench_vloop: FAIL check 1:" in proc.stdout, describe(proc)


def test_the_benchmark_builds_are_committed():
    missing = [name for name in ("bench_vloop", "bench_gpf", *SMALL_IMAGES)
               if not (IMAGES / f"{name}.elf").exists()]
    assert not missing, f"not built (run make -C images): {missing}"
