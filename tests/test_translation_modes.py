"""How the engine translates: Unicorn's walker at V=0 by default, the fill hook for V=1,
and the hook everywhere with RVKVM_TLB=hook or --trace mmu (rvkvm/cpu/translation.py)."""
from __future__ import annotations

import re
import subprocess

import pytest
from conftest import IMAGES_DIR, rvkvm_command, rvkvm_env

TRACE_LINE = re.compile(r"^tlb_fill: addr 0x[0-9a-f]+, access_type [012], mmu_idx [013], "
                        r"ret [01], pc 0x[0-9a-f]+, gpa 0x[0-9a-f]+, stage (-|vs|g), "
                        r"bpc 0x[0-9a-f]+$")


def boot(image, *args, env=None):
    return subprocess.run(rvkvm_command("boot", "--timeout", 20, *args, IMAGES_DIR / image),
                          env={**rvkvm_env(), **(env or {})}, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("image", ["paging_sv39.elf", "paging_sv48.elf", "exceptions.elf",
                                   "hyp_gstage.elf", "hyp_mprv.elf", "va_zero.elf"])
def test_images_pass_with_the_hook_everywhere(image):
    # the same page faults, access faults and straddling fetches, now all refused fills
    proc = boot(image, env={"RVKVM_TLB": "hook"})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unknown_tlb_choice_is_one_clear_error():
    proc = boot("hello.elf", env={"RVKVM_TLB": "shadow"})
    assert proc.returncode == 125 and "RVKVM_TLB must be one of engine, hook" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_trace_mmu_prints_every_fill_and_fault_of_every_level():
    proc = boot("hyp_gstage.elf", "--trace", "mmu")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("tlb_fill:")]
    assert lines and all(TRACE_LINE.match(line) for line in lines), lines[:5]
    stages = {TRACE_LINE.match(line).group(1) for line in lines if " ret 0," in line}
    assert {"vs", "g"} <= stages                   # both stages' faults are named
    # M's own accesses (virtual M, bare) and V=1 two-stage fills are both there
    assert any(" gpa 0x80000000," in line for line in lines)


@pytest.mark.parametrize("image", ["hyp_gstage.elf", "hyp_mprv.elf", "hyp_fault.elf"])
def test_images_pass_with_the_python_fill_hook(image):
    # the fallback when _fillhook.c is not built: the same faults, probes and MPRV
    proc = boot(image, env={"RVKVM_FILLHOOK": "python"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
