"""The bare-metal test images (images/, see images/README.md) boot and pass on rvkvm.

Each image checks one architectural area by itself and reports through the
virt test finisher (or HTIF for htif_hello); `rvkvm boot` exits with that
status, so exit status 0 means every check inside the image passed. The
images also print "<name>: PASS" on the UART, which is asserted too so that a
boot that never ran the guest cannot pass.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "images"

# image -> the line it must print (besides "<image>: PASS" for UART images)
UART_IMAGES = {
    "hello": "Hello from rvkvm!",
    "exceptions": None,
    "ecall_modes": None,
    "timer_m": None,
    "timer_s": None,
    "swint": None,
    "wfi": None,
    "paging_sv39": None,
    "paging_sv48": None,
    "fp": None,
    "csr_traps": None,
    "amo_chase": None,
    "va_zero": None,
    "rdtime_loop": None,
}
HTIF_IMAGES = {"htif_hello": "Hello from rvkvm over HTIF!"}
BENCHMARKS = {"bench_loop", "workload",    # run by bench/, not here;
              "bench_vloop", "bench_gpf"}   # their _small builds: test_bench_images.py

# Checks rvkvm fails because of its engine, Unicorn 2.1.4 (QEMU 5.0 inside),
# kept in their own image (images/README.md, "Known gaps"): check -> why.
# Each is a strict xfail, so the test fails once the engine gets it right.
GAP_IMAGE = "known_gaps"
RDCYCLE_GAP = ("Unicorn 2.1.4 (QEMU 5.0 ctr()) ignores mcounteren/scounteren "
               "for rdcycle/rdinstret (unicorn#2387)")
FMIN_SNAN_GAP = ("Unicorn 2.1.4 (QEMU 5.0 minnum/maxnum, IEEE 754-2008) returns the "
                 "canonical NaN for fmin/fmax with a signalling NaN, not the other operand")
KNOWN_GAPS = {
    54: RDCYCLE_GAP,
    74: RDCYCLE_GAP,
    82: RDCYCLE_GAP,
    90: "Unicorn 2.1.4 (QEMU 5.0) lets a misaligned sc.d fail without a "
        "store/AMO address-misaligned trap",
    120: "Unicorn 2.1.4 (QEMU 5.0) runs c.fld with mstatus.FS = 0 instead of "
         "raising illegal instruction",
    130: FMIN_SNAN_GAP,
    131: FMIN_SNAN_GAP,
    140: "Unicorn 2.1.4 (QEMU 5.0) fsgnj.s uses the low 32 bits of an operand that "
         "is not NaN-boxed instead of the canonical NaN",
}

# Interrupt images: also run with count-based slicing, which delivers
# interrupts in the middle of translated blocks.
INTERRUPT_IMAGES = ["swint", "timer_m", "timer_s", "wfi"]

# checks where QEMU 7.2 departs from the spec (images/README.md): the
# committed image checks the spec, so it is not expected to pass on QEMU 7.2
QEMU_7_2_DEPARTS = {"exceptions", GAP_IMAGE}

BOOT_TIMEOUT = 60


def run_rvkvm(image, env=None):
    return subprocess.run(
        [sys.executable, "-m", "rvkvm.cli", "boot", str(IMAGES / f"{image}.elf"),
         "--timeout", str(BOOT_TIMEOUT)],
        cwd=REPO, capture_output=True, text=True, timeout=BOOT_TIMEOUT + 30,
        env=None if env is None else {**os.environ, **env})


def describe(proc):
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


@pytest.mark.parametrize("image", sorted(UART_IMAGES))
def test_uart_image_passes(image):
    proc = run_rvkvm(image)
    assert proc.returncode == 0, describe(proc)
    assert f"{image}: PASS" in proc.stdout, describe(proc)
    expected = UART_IMAGES[image]
    if expected:
        assert expected in proc.stdout, describe(proc)


@pytest.mark.parametrize("image", INTERRUPT_IMAGES)
def test_interrupt_image_passes_with_count_slicing(image):
    proc = run_rvkvm(image, env={"RVKVM_SLICER": "python"})
    assert proc.returncode == 0, describe(proc)
    assert f"{image}: PASS" in proc.stdout, describe(proc)


@pytest.mark.parametrize("slicer", ["native-exit", "native-block", "python"])
def test_code_at_va_zero_runs_under_every_slicer(slicer):
    """Each slicer's emu_start ends a run at its `until` address: that address must be
    one no guest executes, and VA 0 is ordinary code here (slices also begin at pc 0)."""
    from rvkvm.cpu import slicer as slicers
    if slicer == "native-exit" and not slicers.exit_switch_available():
        pytest.skip("the exit switch is not proven on this Unicorn")
    if slicer == "native-block" and not slicers.native_available():
        pytest.skip("the native block hook is not built")
    proc = run_rvkvm("va_zero", env={"RVKVM_SLICER": slicer})
    assert proc.returncode == 0, describe(proc)
    assert "va_zero: PASS" in proc.stdout, describe(proc)


@pytest.fixture(scope="module")
def known_gaps_run():
    """known_gaps on rvkvm: (process, the check codes it reported failing).
    Every gap runs even if an earlier one failed; the exit status is the
    first failing code, or 0 with "known_gaps: PASS"."""
    proc = run_rvkvm(GAP_IMAGE)
    failed = [int(code) for code in
              re.findall(rf"^{GAP_IMAGE}: FAIL check (\d+):", proc.stdout, re.M)]
    return proc, failed


def ran_to_verdict(proc, failed):
    if failed:
        return proc.returncode == failed[0]
    return proc.returncode == 0 and f"{GAP_IMAGE}: PASS" in proc.stdout


def test_known_gaps_image_fails_only_known_gaps(known_gaps_run):
    proc, failed = known_gaps_run
    assert ran_to_verdict(proc, failed), describe(proc)
    assert set(failed) <= set(KNOWN_GAPS), describe(proc)


@pytest.mark.parametrize("check", [
    pytest.param(check, marks=pytest.mark.xfail(strict=True, reason=reason))
    for check, reason in sorted(KNOWN_GAPS.items())])
def test_known_gap(known_gaps_run, check):
    proc, failed = known_gaps_run
    assert ran_to_verdict(proc, failed), describe(proc)
    assert check not in failed, describe(proc)


@pytest.mark.parametrize("image", sorted(HTIF_IMAGES))
def test_htif_image_passes(image):
    proc = run_rvkvm(image)
    assert proc.returncode == 0, describe(proc)
    assert HTIF_IMAGES[image] in proc.stdout, describe(proc)


def test_every_image_is_covered():
    """A new image in images/ must be listed here (or be a benchmark)."""
    sources = {p.stem for p in IMAGES.glob("*.S")
               if p.name != "runtime.S" and not p.name.startswith("hyp_")}  # test_hyp_images.py
    sources |= {p.stem for p in IMAGES.glob("*.c")}
    listed = set(UART_IMAGES) | set(HTIF_IMAGES) | BENCHMARKS | {GAP_IMAGE}
    assert sources == listed
    missing = sorted(name for name in listed if not (IMAGES / f"{name}.elf").exists())
    assert not missing, f"not built (run make -C images): {missing}"


# The reference: the same images on QEMU, when it is installed.
QEMU = shutil.which("qemu-system-riscv64")


@pytest.mark.skipif(QEMU is None, reason="qemu-system-riscv64 not installed")
@pytest.mark.parametrize("image", sorted(set(UART_IMAGES) - QEMU_7_2_DEPARTS)
                         + sorted(HTIF_IMAGES))
def test_image_passes_on_qemu(image):
    machine = "spike" if image in HTIF_IMAGES else "virt"
    proc = subprocess.run(
        [QEMU, "-M", machine, "-bios", "none", "-nographic", "-kernel",
         str(IMAGES / f"{image}.elf")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env={**os.environ, "TERM": "dumb"})
    assert proc.returncode == 0, describe(proc)
