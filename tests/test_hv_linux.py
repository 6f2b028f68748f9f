"""Linux as a VS-mode guest of rvkvm's hypervisor: `rvkvm boot --guest`."""
from __future__ import annotations

import pexpect
import pytest

from conftest import GUESTS_DIR, REPO_ROOT, rvkvm_command, rvkvm_env

from rvkvm import exit_status

MARKER = "RVKVM-USERSPACE-OK"
PROMPT = "rvkvm:/# "
BOOT_TIMEOUT = 90


@pytest.fixture(scope="module")
def linux_dir(shared_dir):
    path = shared_dir / "linux"
    if not (path / "poweroff" / "Image").exists():
        pytest.skip(f"no Linux kernel at {path}/poweroff/Image")
    return path


def test_guest_linux_reaches_userspace_and_powers_off(rvkvm, linux_dir):
    proc = rvkvm("boot", "--guest", linux_dir / "poweroff" / "Image", "--timeout", BOOT_TIMEOUT,
                 "--stats")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, f"status {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr}"
    assert MARKER in proc.stdout and "RVKVM-POWEROFF" in proc.stdout
    assert "isa\t\t: rv64imafdc\r\n" in proc.stdout          # the guest sees no H extension
    # --stats: exits by reason with their time; MMIO exits drove the console
    assert "VM exits" in proc.stderr and "mmio" in proc.stderr and "ecall_vs" in proc.stderr


def test_guest_linux_with_expect_exits_0_at_the_marker(rvkvm, linux_dir):
    proc = rvkvm("boot", "--guest", linux_dir / "poweroff" / "Image", "--timeout", BOOT_TIMEOUT,
                 "--expect", MARKER)
    assert proc.returncode == 0, proc.stderr
    assert "RVKVM-POWEROFF" not in proc.stdout                # ended at the match


def test_trace_exit_prints_one_line_per_exit(rvkvm):
    proc = rvkvm("boot", "--guest", GUESTS_DIR / "hv_guest.elf", "--timeout", 20, "--trace", "exit")
    lines = [l for l in proc.stderr.splitlines() if l.startswith("[exit]")]
    # a0 = 0 (the dirty-log program): a G-stage fault maps the code; its stores to
    # 0xA0000000 (no slot in this VMM) exit as MMIO; then the SRST shutdown
    assert lines[0].startswith("[exit] insn_guest_page_fault bpc=0x80000000 mapped gpa 0x80000000")
    from hv_helpers import guest_symbol
    store = guest_symbol("t_dirty_first_store")
    assert f"[exit] mmio bpc={store:#x} write 0xa0000000 size 8 <- 0x1000" in lines
    assert lines[-1].startswith("[exit] system_event") and "shutdown" in lines[-1]
    assert proc.returncode == 0


def test_guest_timeout_ends_a_spinning_guest(rvkvm):
    proc = rvkvm("boot", "--guest", GUESTS_DIR / "spin.elf", "--timeout", 1)
    assert proc.returncode == 124 and "timeout" in proc.stderr and "Traceback" not in proc.stderr


def test_guest_that_dies_exits_died_with_a_dump(rvkvm):
    # die.elf's M-mode code is nonsense in VS: its mtvec write is an illegal instruction
    # for its own handler at stvec 0, where no memory slot is: INTERNAL_ERROR, a dump
    proc = rvkvm("boot", "--guest", GUESTS_DIR / "die.elf", "--timeout", 10)
    assert proc.returncode == exit_status.DIED, proc.stderr
    assert "which is no memory slot" in proc.stderr and "level VS (V=1)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_guest_refuses_bios(rvkvm):
    proc = rvkvm("boot", "--guest", "--bios", "none", GUESTS_DIR / "spin.elf")
    assert proc.returncode == exit_status.ERROR and "not with --guest" in proc.stderr


def test_guest_interactive_shell(linux_dir):
    cmd = rvkvm_command("boot", "--guest", "--timeout", BOOT_TIMEOUT, linux_dir / "shell" / "Image")
    child = pexpect.spawn(cmd[0], cmd[1:], cwd=str(REPO_ROOT), env=rvkvm_env(),
                          encoding="utf-8", codec_errors="replace", timeout=60)
    try:
        child.expect_exact(MARKER)
        child.expect_exact(PROMPT)
        child.sendline("echo hello-$((6*7))")
        child.expect_exact("hello-42")
        child.expect_exact(PROMPT)
        child.sendline("cat /proc/cpuinfo")
        child.expect(r"isa\s*:\s*rv64imafdc")
        child.expect_exact(PROMPT)
        child.sendline("poweroff -f")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus, child.before)


def test_guest_dtb_gets_chosen_patched_as_native(rvkvm, tmp_path):
    # --dtb FILE with --guest: /chosen/bootargs from --append, as a native boot does
    import fdt as fdtlib
    base = tmp_path / "base.dtb"
    assert rvkvm("boot", GUESTS_DIR / "spin.elf", "--dump-dtb", base).returncode == 0
    out = tmp_path / "guest.dtb"
    proc = rvkvm("boot", "--guest", "--dtb", base, "--append", "console=hvc0 quiet",
                 "--dump-dtb", out, GUESTS_DIR / "spin.elf")
    assert proc.returncode == 0, proc.stderr
    tree = fdtlib.parse_dtb(out.read_bytes())
    assert tree.get_property("bootargs", "/chosen").value == "console=hvc0 quiet"
