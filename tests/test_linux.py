"""Linux smoke boots of the shared kernels (../shared/linux, see its README): the built-in
SBI and OpenSBI fw_jump, the Image and the unstripped vmlinux, --expect, a kernel panic,
--initrd, and an interactive shell over a pseudo-terminal. Each boot takes about 0.7 s."""
from __future__ import annotations

import os
from pathlib import Path
import re
import time

import fdt
import pexpect
import pytest

from conftest import REPO_ROOT, rvkvm_command, rvkvm_env

MARKER = "RVKVM-USERSPACE-OK"
POWEROFF_MARKER = "RVKVM-POWEROFF"
FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"
BOOT_TIMEOUT = 60          # guest seconds; a boot needs about 0.7


@pytest.fixture(scope="module")
def poweroff_dir(shared_dir):
    path = shared_dir / "linux" / "poweroff"
    if not (path / "Image").exists():
        pytest.skip(f"no Linux kernel at {path}/Image")
    return path


def assert_booted_and_powered_off(proc):
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, f"status {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr}"
    assert MARKER in proc.stdout
    assert POWEROFF_MARKER in proc.stdout
    assert proc.stdout.index(MARKER) < proc.stdout.index(POWEROFF_MARKER)


def test_image_with_builtin_sbi(rvkvm, poweroff_dir):
    proc = rvkvm("boot", "--timeout", BOOT_TIMEOUT, poweroff_dir / "Image")
    assert_booted_and_powered_off(proc)
    # /init prints `uname -a` and /proc/cpuinfo between the markers
    assert re.search(r"Linux \S+ 6\.1\.\d+ .* riscv64", proc.stdout)
    assert re.search(r"^isa\s*:\s*rv64", proc.stdout, re.M)


@pytest.mark.skipif(not os.path.exists(FW_JUMP),
                    reason=f"OpenSBI not installed: no {FW_JUMP} (Debian package opensbi)")
def test_image_with_opensbi_fw_jump(rvkvm, poweroff_dir):
    proc = rvkvm("boot", "--timeout", BOOT_TIMEOUT, "--bios", FW_JUMP, poweroff_dir / "Image")
    assert_booted_and_powered_off(proc)
    assert "OpenSBI" in proc.stdout                 # the firmware's banner: it really ran
    assert proc.stdout.index("OpenSBI") < proc.stdout.index(MARKER)


def test_image_with_opensbi_fw_dynamic(rvkvm, poweroff_dir):
    """fw_dynamic finds the kernel through the fw_dynamic_info struct at a2, as QEMU passes it."""
    fw = Path("/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.elf")
    if not fw.exists():
        pytest.skip(f"{fw} not installed (Debian package opensbi)")
    proc = rvkvm("boot", "--bios", fw, "--timeout", BOOT_TIMEOUT, poweroff_dir / "Image")
    assert_booted_and_powered_off(proc)


def test_unstripped_vmlinux(rvkvm, poweroff_dir):
    """The ELF as the build leaves it (physical load address 0) is moved into RAM."""
    proc = rvkvm("boot", "--timeout", BOOT_TIMEOUT, poweroff_dir / "vmlinux")
    assert_booted_and_powered_off(proc)


def test_expect_exits_at_the_marker(rvkvm, poweroff_dir):
    proc = rvkvm("boot", "--timeout", BOOT_TIMEOUT, "--expect", MARKER, poweroff_dir / "Image")
    assert proc.returncode == 0, proc.stderr
    assert MARKER in proc.stdout
    # it stopped at the marker rather than running on to the poweroff
    assert POWEROFF_MARKER not in proc.stdout


def test_kernel_panic_is_detected(rvkvm, poweroff_dir):
    """Device tree bootargs replace the built-in command line: keep console=ttyS0."""
    proc = rvkvm("boot", "--timeout", BOOT_TIMEOUT,
                 "--append", "console=ttyS0 rdinit=/does-not-exist", poweroff_dir / "Image")
    assert proc.returncode == 122, f"status {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr}"
    assert "Kernel panic" in proc.stdout
    assert MARKER not in proc.stdout
    assert "panic" in proc.stderr                   # rvkvm says why it ended the run
    assert "Traceback" not in proc.stderr


def cpio_newc(files: dict[str, bytes]) -> bytes:
    """A cpio archive in the "newc" format the kernel unpacks as an initramfs."""
    out = bytearray()

    def member(name: str, mode: int, data: bytes, ino: int) -> None:
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0")
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, data) in enumerate(files.items(), 1):
        member(name, 0o100644, data, ino)
    member("TRAILER!!!", 0, b"", 0)
    return bytes(out)


def test_initrd_is_accepted(rvkvm, poweroff_dir, tmp_path):
    """The kernel has a built-in initramfs; an extra initrd must not get in its way, and
    the kernel must have been given it: it unpacks it (no error) and frees its pages."""
    initrd = tmp_path / "extra.initrd"
    data = cpio_newc({"rvkvm-extra.txt": os.urandom(60 * 1024)})
    data += bytes(-len(data) % 4096)        # whole pages (zeros after the trailer are padding)
    initrd.write_bytes(data)
    proc = rvkvm("boot", "--timeout", BOOT_TIMEOUT, "--initrd", initrd, poweroff_dir / "Image")
    assert_booted_and_powered_off(proc)
    assert "Initramfs unpacking failed" not in proc.stdout, proc.stdout
    assert f"Freeing initrd memory: {len(data) // 1024}K" in proc.stdout, proc.stdout


def test_initrd_files_reach_the_guest(shell_image, tmp_path):
    """The initrd's bytes, not just its range: a file in it is readable in the shell."""
    token = os.urandom(8).hex()
    initrd = tmp_path / "extra.initrd"
    initrd.write_bytes(cpio_newc({"rvkvm-token": f"token-{token}\n".encode()}))
    index, before = shell_command(shell_image, "cat /rvkvm-token", [f"\ntoken-{token}"],
                                  "--initrd", initrd)
    assert index == 0, before


def initrd_range(tree: fdt.FDT) -> tuple[int, int]:
    start_hi, start_lo = tree.get_property("linux,initrd-start", "/chosen")
    end_hi, end_lo = tree.get_property("linux,initrd-end", "/chosen")
    return start_hi << 32 | start_lo, end_hi << 32 | end_lo


def test_initrd_in_the_device_tree_the_kernel_gets(poweroff_dir, tmp_path):
    """In process: after loading, the DTB in guest RAM (a1 at entry) names the initrd's
    range, and the initrd's bytes are there."""
    from rvkvm.machine.virt import MachineConfig, VirtMachine
    data = os.urandom(64 * 1024)
    initrd = tmp_path / "extra.initrd"
    initrd.write_bytes(data)
    machine = VirtMachine(MachineConfig(initrd=str(initrd)))
    machine.load(str(poweroff_dir / "Image"))
    total = int.from_bytes(machine.ram.read(machine.dtb_addr + 4, 4), "big")
    tree = fdt.parse_dtb(machine.ram.read(machine.dtb_addr, total))
    start, end = initrd_range(tree)
    assert end - start == len(data)
    assert machine.ram.read(start, len(data)) == data
    assert start >= machine.kernel.end                # not over the kernel's bss
    assert end <= machine.dtb_addr                    # nor under the device tree


def test_initrd_in_dumped_device_tree(rvkvm, poweroff_dir, tmp_path):
    """--dump-dtb writes the device tree the kernel would get, initrd range included."""
    initrd = tmp_path / "extra.initrd"
    initrd.write_bytes(os.urandom(64 * 1024))
    dtb = tmp_path / "virt.dtb"
    proc = rvkvm("boot", "--initrd", initrd, "--dump-dtb", dtb, poweroff_dir / "Image")
    assert proc.returncode == 0, proc.stderr
    tree = fdt.parse_dtb(dtb.read_bytes())
    assert tree.exist_property("linux,initrd-start", "/chosen"), tree.to_dts()
    start, end = initrd_range(tree)
    assert end - start == 64 * 1024
    assert 0x8000_0000 <= start and end <= 0x8000_0000 + (128 << 20)
    assert start % 4096 == 0


# ---------------------------------------------------------------- interactive shell

PROMPT = "rvkvm:/# "


@pytest.fixture
def shell_image(shared_dir):
    path = shared_dir / "linux" / "shell" / "Image"
    if not path.exists():
        pytest.skip(f"no Linux kernel at {path}")
    return path


def spawn_shell(shell_image, *options) -> pexpect.spawn:
    """rvkvm booting the shell kernel in a pseudo-terminal (raw mode, as for a user)."""
    cmd = rvkvm_command("boot", "--timeout", BOOT_TIMEOUT, *options, shell_image)
    return pexpect.spawn(cmd[0], cmd[1:], cwd=str(REPO_ROOT), env=rvkvm_env(),
                         encoding="utf-8", codec_errors="replace", timeout=30)


def shell_command(shell_image, command: str, patterns: list[str], *options):
    """Run `command` at the shell prompt, then quit: (the index of the first of
    `patterns` it printed, or len(patterns) if none did; the output before it)."""
    child = spawn_shell(shell_image, *options)
    try:
        child.expect_exact(PROMPT)
        child.sendline(f"{command}; echo end-$((6*7))")
        index = child.expect(patterns + ["end-42"])
        before = child.before
        if index < len(patterns):
            child.expect_exact("end-42")
        child.expect_exact(PROMPT)
        child.send("\x01x")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    return index, before


def test_interactive_shell(shell_image):
    child = spawn_shell(shell_image)
    try:
        child.expect_exact(MARKER)
        child.expect_exact(PROMPT)
        child.sendline("echo hello-$((6*7))")
        child.expect_exact("hello-42")              # the echoed command line reads hello-$((6*7))
        child.expect_exact(PROMPT)
        child.sendline("ls /proc")
        child.expect(r"\bcpuinfo\b")
        child.expect_exact(PROMPT)
        child.sendline("cat /proc/cpuinfo")
        child.expect(r"isa\s*:\s*rv64")
        child.expect_exact(PROMPT)
        child.sendline("poweroff -f")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus, child.before)


def test_terminal_is_restored_after_the_shell(shell_image):
    """rvkvm puts the terminal in raw mode for the guest; it must give it back."""
    import termios
    child = spawn_shell(shell_image)
    try:
        before = termios.tcgetattr(child.child_fd)
        child.expect_exact(PROMPT)
        raw = termios.tcgetattr(child.child_fd)
        assert raw[3] & termios.ECHO == 0            # the guest echoes, not the host tty
        child.sendline("poweroff -f")
        child.expect(pexpect.EOF)
        deadline = time.monotonic() + 5
        while child.isalive() and time.monotonic() < deadline:
            time.sleep(0.05)
        after = termios.tcgetattr(child.child_fd)
    finally:
        child.close(force=True)
    assert after[3] == before[3], "local modes (ECHO, ICANON) not restored"


def test_ctrl_c_goes_to_the_guest_and_ctrl_a_x_quits(shell_image):
    """In raw mode Ctrl-C interrupts the guest's command, not rvkvm; Ctrl-A x ends
    rvkvm as it ends QEMU -nographic."""
    child = spawn_shell(shell_image)
    try:
        child.expect_exact(PROMPT)
        child.sendline("sleep 30")
        time.sleep(0.3)
        child.send("\x03")                           # the guest's shell gets SIGINT
        child.expect_exact(PROMPT)
        assert child.isalive()
        child.send("\x01x")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, (child.exitstatus, child.before)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (clock ticks)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_idle_guest_does_not_burn_a_core(shell_image):
    """At the shell prompt Linux idles in WFI: rvkvm must sleep, not spin."""
    child = spawn_shell(shell_image)
    try:
        child.expect_exact(PROMPT)
        cpu0, wall0 = _cpu_seconds(child.pid), time.monotonic()
        time.sleep(2.0)
        cpu1, wall1 = _cpu_seconds(child.pid), time.monotonic()
        child.send("\x01x")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert cpu1 - cpu0 < 0.5 * (wall1 - wall0), (cpu1 - cpu0, wall1 - wall0)


def test_user_mode_reads_the_time(shell_image):
    """busybox `time` reads the clock through the vDSO, i.e. `rdtime` in U-mode: the
    firmware must leave scounteren.TM set (OpenSBI sets CY|TM|IR), or U gets SIGILL."""
    index, before = shell_command(shell_image, "time true",
                                  [r"real\s+\d+m\s*[\d.]+s", "Illegal instruction"])
    assert index == 0, before


@pytest.mark.parametrize("bios, request_", [
    ((), "SBI cold reboot"),                                # rvkvm's own SBI
    (("--bios", FW_JUMP), "reset through the test finisher"),   # OpenSBI resets through it
], ids=["builtin-sbi", "opensbi"])
def test_reboot_ends_the_run_with_the_reset_status(shell_image, bios, request_):
    """rvkvm does not reboot (README, "Exit status"): `reboot` in the guest ends the run
    with the reset status and says so."""
    from rvkvm.machine.virt import VirtMachine
    if bios and not os.path.exists(FW_JUMP):
        pytest.skip(f"OpenSBI not installed: no {FW_JUMP} (Debian package opensbi)")
    child = spawn_shell(shell_image, *bios)
    try:
        child.expect_exact(PROMPT)
        child.sendline("reboot -f")
        child.expect_exact(f"{request_} (rvkvm does not reboot: the run ends)")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == VirtMachine.EXIT_RESET, (child.exitstatus, child.before)
