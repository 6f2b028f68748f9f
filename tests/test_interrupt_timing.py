"""An interrupt made pending by the guest's own action is taken at the next instruction
boundary, not at the end of the time slice (issue: sbi_set_timer(0) under OpenSBI)."""
from __future__ import annotations

import os

import pytest
from conftest import GUESTS_DIR

FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"


@pytest.mark.skipif(not os.path.exists(FW_JUMP),
                    reason=f"OpenSBI not installed: no {FW_JUMP} (Debian package opensbi)")
@pytest.mark.parametrize("slice_ms", [2, 100])
def test_sbi_set_timer_in_the_past_is_pending_on_return(rvkvm, slice_ms):
    # OpenSBI writes mtimecmp (MTIP pending) and mrets to S: the M timer interrupt must be
    # taken right after that mret, so that STIP is set before S's next instruction
    proc = rvkvm("boot", "--timeout", 20, "--slice-ms", slice_ms, "--bios", FW_JUMP,
                 GUESTS_DIR / "sbi_timer_now.elf")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
