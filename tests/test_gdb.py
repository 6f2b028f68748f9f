"""The gdb remote stub (rvkvm/gdb): Debian's gdb-multiarch in batch mode against
`python -m rvkvm.cli boot ... --gdb tcp::0`, on Linux (symbols from vmlinux) and on
tests/guests/counter.elf; bad input on the command line and on the socket; and the
framing and target description without a guest."""
from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from rvkvm import exit_status
from rvkvm.cpu import intrhook, native_time

from conftest import GUESTS_DIR, HOST_TIMEOUT, REPO_ROOT, rvkvm_command, rvkvm_env
from rvkvm.gdb import rsp
from rvkvm.gdb.tdesc import target_xml

GDB = shutil.which("gdb-multiarch")
needs_gdb = pytest.mark.skipif(GDB is None, reason="gdb-multiarch not installed "
                               "(Debian package gdb-multiarch)")
COUNTER = GUESTS_DIR / "counter.elf"          # exits 42 after 200000 rounds
SPIN = GUESTS_DIR / "spin.elf"
COUNTER_STATUS = 42
KERNEL_VA = 0xFFFFFFFF80000000                # where vmlinux is linked
KERNEL_PA = 0x80200000                        # where rvkvm loads it (RAM + 2 MiB)


class Guest:
    """rvkvm running KERNEL with the stub on a free port (tcp::0: it says which)."""

    def __init__(self, kernel, *options):
        self.proc = subprocess.Popen(
            rvkvm_command("boot", "--gdb", "tcp::0", *options, kernel), cwd=REPO_ROOT,
            env=rvkvm_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        line = self.proc.stderr.readline().decode()
        found = re.search(r"localhost:(\d+)", line)
        if not found:
            self.proc.kill()
            raise AssertionError(f"no port announced: {line!r} {self.proc.stderr.read()!r}")
        self.port = int(found.group(1))

    def finish(self, timeout=HOST_TIMEOUT):
        """(exit status, stdout, stderr) once the guest has ended."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate()
        return self.proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def gdb_command(port: int, elf, commands: list[str]) -> list[str]:
    args = [GDB, "-batch", "-nx", "-ex", "set confirm off", "-ex", "set pagination off",
            "-ex", f"target remote :{port}"]
    for c in commands:
        args += ["-ex", c]
    return args + [str(elf)]


def run_gdb(port: int, elf, commands: list[str]) -> str:
    proc = subprocess.run(gdb_command(port, elf, commands), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=HOST_TIMEOUT)
    return proc.stdout.decode(errors="replace")


def interrupt_gdb(guest: Guest, elf, commands: list[str], ready=lambda guest: time.sleep(1.5)):
    """gdb runs `commands` (the first a continue) on `guest`; once `ready(guest)` has
    returned (by default 1.5 s: connected and running) it gets Ctrl-C. Returns (gdb's
    output, the guest's stderr) once both have ended."""
    try:
        gdb = subprocess.Popen(gdb_command(guest.port, elf, commands), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        ready(guest)
        gdb.send_signal(signal.SIGINT)
        out = gdb.communicate(timeout=HOST_TIMEOUT)[0].decode()
        _, _, stderr = guest.finish()
    finally:
        guest.kill()
    return out, stderr


def gdb_values(output: str) -> list[str]:
    """What each `p` printed, in order."""
    return re.findall(r"^\$\d+ = (.*)$", output, re.M)


@pytest.fixture(scope="module")
def vmlinux(shared_dir) -> Path:
    path = shared_dir / "linux" / "poweroff" / "vmlinux"
    if not path.exists():
        pytest.skip(f"no {path}")
    return path


# ----------------------------------------------------------------------------- Linux

@needs_gdb
def test_linux_break_at_start_kernel_step_and_walk(vmlinux):
    guest = Guest(vmlinux, "-S")
    out = run_gdb(guest.port, vmlinux, [
        "info registers pc",                       # -S: nothing has run yet
        "break start_kernel", "continue", "info registers pc",
        "p/x $sstatus", "p $hstatus", "p/x $satp", "p $priv",
        "x/2i $pc", "stepi", "info registers pc", "x/4i $pc",
        "monitor priv",
        "monitor phys on", "x/xw 0x80200000", "monitor phys off", "x/xw 0x80200000",
        "delete", "detach"])
    status, stdout, stderr = guest.finish()
    assert "Traceback" not in stderr, stderr
    assert re.search(r"^pc\s+0x80200000\b", out, re.M), out        # the kernel's entry
    hit = re.search(r"Breakpoint 1, (0x[0-9a-f]+) in start_kernel", out)
    assert hit, out
    bp = int(hit.group(1), 16)
    assert bp >= KERNEL_VA
    pcs = [int(v, 16) for v in re.findall(r"^pc\s+(0x[0-9a-f]+)", out, re.M)]
    assert pcs[1] == bp                                            # stopped before it ran
    sstatus, hstatus, satp, priv = gdb_values(out)[:4]
    assert int(sstatus, 16) & 0x2 == 0                             # SIE: interrupts still off
    assert int(hstatus) >> 32 & 3 == 2                             # hstatus.VSXL: 64-bit VS
    assert int(satp, 16) >> 60 in (8, 9, 10)                       # paging is on
    assert priv == "1"                                             # S-mode
    # stepi moved to the next instruction x/2i showed, exactly one instruction on
    listed = re.findall(r"^(?:=> )?\s*(0x[0-9a-f]+) <start_kernel\+?\d*>:", out, re.M)
    assert int(listed[1], 16) == pcs[2], out
    assert len(re.findall(r"^(?:=> )?\s*0x[0-9a-f]+ <start_kernel\+\d+>:\t\w+", out, re.M)) >= 5
    assert "privilege S, V=0" in out
    assert "gdb memory accesses are physical" in out
    assert re.search(r"^0x80200000:\s+0x[0-9a-f]{8}$", out, re.M), out   # physical: RAM
    assert "Cannot access memory at address 0x80200000" in out           # virtual: unmapped
    assert status == 0 and "RVKVM-POWEROFF" in stdout, (status, stderr)  # detached: it ran on


@needs_gdb
def test_linux_monitor_walk_prints_each_level(vmlinux):
    start_kernel = int(next(line.split()[0] for line in
                            (vmlinux.parent / "System.map").read_text().splitlines()
                            if line.endswith(" start_kernel")), 16)
    guest = Guest(vmlinux, "-S")
    out = run_gdb(guest.port, vmlinux, [
        "break start_kernel", "continue", f"monitor walk {start_kernel:#x}",
        "monitor walk 0x1000", "kill"])
    guest.finish()
    first = out[out.index(f"{start_kernel:#x}: level HS, V=0"):out.index("0x1000: level")]
    levels = re.findall(r"^  s L(\d): pte @0x[0-9a-f]+ = 0x[0-9a-f]+$", first, re.M)
    assert levels, out
    assert [int(lv) for lv in levels] == list(range(int(levels[0]), int(levels[-1]) - 1, -1))
    pa = int(re.search(r"^  ok: pa (0x[0-9a-f]+)", first, re.M).group(1), 16)
    assert pa == start_kernel - KERNEL_VA + KERNEL_PA
    assert re.search(r"0x1000: level HS, V=0\n(  .*\n)*  fault: cause 13 ", out), out   # unmapped


# ----------------------------------------------------------------------------- bare metal

@needs_gdb
@pytest.mark.parametrize("where", [(), ("--guest",)], ids=["native", "guest"])
def test_watchpoint_stops_at_the_write_and_detach_lets_the_guest_finish(where):
    guest = Guest(COUNTER, *where, "-S")
    out = run_gdb(guest.port, COUNTER, [
        "watch *(long *)&counter", "continue", "info registers pc", "p $s1",
        "continue", "p $s1", "delete", "detach"])
    status, _, stderr = guest.finish()
    assert "Traceback" not in stderr, stderr
    assert re.search(r"Old value = 0\s+New value = 1", out), out
    assert re.search(r"Old value = 1\s+New value = 2", out), out
    # right after the store: bump_stored (its addi s1 has not run yet)
    assert re.search(r"^pc\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <bump_stored>$", out, re.M), out
    assert gdb_values(out) == ["0", "1"]                           # the store ran once
    assert status == COUNTER_STATUS, stderr                        # its own exit status


@needs_gdb
def test_breakpoint_continue_and_stepi_on_bare_metal():
    guest = Guest(COUNTER, "-S")
    out = run_gdb(guest.port, COUNTER, [
        "break *bump", "continue", "p (long) $s0", "continue", "p (long) $s0", "stepi",
        "info registers pc", "p/x $mstatus", "p $priv", "kill"])
    status, _, stderr = guest.finish()
    values = gdb_values(out)
    assert values[:2] == ["200000", "199999"], out    # the second continue ran one round
    assert re.search(r"^pc\s+0x8000002e\b", out, re.M), out       # bump + 4 (auipc)
    assert int(values[2], 16) >> 32 == 0xA                         # mstatus: UXL = SXL = 64
    assert values[3] == "3"                                        # M-mode
    assert "killed from gdb" in stderr and "Traceback" not in stderr


@needs_gdb
def test_ctrl_c_stops_a_running_guest():
    out, stderr = interrupt_gdb(Guest(SPIN), SPIN, ["continue", "info registers pc", "kill"])
    assert "Program received signal SIGINT" in out, out
    assert re.search(r"^pc\s+0x80000000\b", out, re.M), out       # spin's one-instruction loop
    assert "killed from gdb" in stderr


def test_stub_listening_without_a_debugger_changes_nothing():
    guest = Guest(COUNTER)
    status, _, stderr = guest.finish()
    assert status == COUNTER_STATUS, stderr
    assert "Traceback" not in stderr


@pytest.mark.skipif(intrhook._library() is None or not native_time._available(),
                    reason="no C idle loop: _intrhook.c or _timebase.c not built, or "
                           "RVKVM_INTR=python, or RVKVM_TIME=trap")
def test_an_idle_kernel_sleeps_in_the_idle_loop_with_the_stub_listening():
    """Nothing set by a debugger: WFI is slept through in C as without the stub (a
    client connecting, or its Ctrl-C, rings the run loop's doorbell)."""
    guest = Guest(GUESTS_DIR / "sbi_tick_print.elf", "--stats", "--timeout", "1")
    status, stdout, stderr = guest.finish()
    assert status == exit_status.TIMEOUT and stdout == "..", (status, stdout, stderr)
    assert re.search(r"^\s+idle_loop\s+[1-9]", stderr, re.M), stderr


# ----------------------------------------------------------------------------- bad input

def test_port_in_use_is_one_clear_error(rvkvm):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = rvkvm("boot", "--gdb", f"tcp::{port}", COUNTER)
    assert proc.returncode == exit_status.ERROR
    assert proc.stderr.strip() == f"rvkvm: error: --gdb tcp::{port}: port {port} is in use"


@pytest.mark.parametrize("spec, says", [
    ("tcp::abc", "the port must be a number from 0 to 65535, not 'abc'"),
    ("tcp::99999", "the port must be a number from 0 to 65535, not '99999'"),
    ("1234", "expected tcp::PORT"),
    ("tcp:example.org:1234", "the stub listens on localhost only"),
])
def test_bad_gdb_spec_is_one_clear_error(rvkvm, spec, says):
    proc = rvkvm("boot", "--gdb", spec, COUNTER)
    assert proc.returncode == exit_status.ERROR
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in proc.stderr


def test_wait_without_a_stub_is_refused(rvkvm):
    proc = rvkvm("boot", "-S", COUNTER)
    assert proc.returncode == exit_status.ERROR and "-S" in proc.stderr
    assert "Traceback" not in proc.stderr


def _exchange(sock: socket.socket, data: bytes, want: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    deadline = time.monotonic() + 30
    while want not in got and time.monotonic() < deadline:
        got += sock.recv(65536)
    return got


def test_garbage_then_a_disconnect_mid_packet_leaves_the_guest_running():
    guest = Guest(COUNTER, "-S")
    with socket.create_connection(("127.0.0.1", guest.port), timeout=30) as sock:
        # noise outside packets is ignored; a bad checksum is refused with '-'
        assert _exchange(sock, b"hello\x00\xff$qSupported#00", b"-").endswith(b"-")
        # an unknown packet gets the empty reply, a malformed one an error
        assert b"$#00" in _exchange(sock, rsp.frame(b"Qbogus"), b"$#00")
        assert b"$E01#" in _exchange(sock, rsp.frame(b"mzz,4"), b"$E01#")
        assert b"$E45#" in _exchange(sock, rsp.frame(b"p9999"), b"#")
        # a 4 GiB watchpoint and an address past 64 bits are refused, not attempted
        assert b"$E22#" in _exchange(sock, rsp.frame(b"Z2,80001000,ffffffff"), b"#")
        assert b"$E01#" in _exchange(sock, rsp.frame(b"Z0,1" + b"0" * 16 + b",2"), b"#")
        sock.sendall(b"$m80000000,")                               # and gone, mid-packet
    status, _, stderr = guest.finish()
    assert status == COUNTER_STATUS, stderr
    assert "gdb disconnected; the guest runs on" in stderr
    assert "bad checksum" in stderr and "Traceback" not in stderr


# ----------------------------------------------------------------------------- units

def test_framing_round_trip_and_noise():
    parser = rsp.PacketParser()
    payload = b"X80000000,4:$#}*"
    events = parser.feed(b"junk+" + rsp.frame(payload)[:5])
    events += parser.feed(rsp.frame(payload)[5:] + b"\x03$m0,1#00")
    kinds = [e.kind for e in events]
    assert kinds == ["ack", "packet", "interrupt", "bad"]
    assert rsp.unescape(events[1].payload) == payload


def test_target_description_names_the_h_vs_and_fpu_registers():
    xml = target_xml().decode()
    for name, regnum in (("hstatus", 65 + 0x600), ("vsatp", 65 + 0x280), ("sstatus", 65 + 0x100),
                         ("mstatus", 65 + 0x300), ("fcsr", 65 + 3), ("ft0", 33), ("pc", 32),
                         ("priv", 4161)):
        assert re.search(rf'<reg name="{name}" bitsize="\d+" regnum="{regnum}"', xml), name
    fpu = xml[xml.index("org.gnu.gdb.riscv.fpu"):xml.index("org.gnu.gdb.riscv.csr")]
    assert '"fflags"' in fpu and '"fflags"' not in xml[xml.index("org.gnu.gdb.riscv.csr"):]
