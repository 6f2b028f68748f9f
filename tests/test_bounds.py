"""Bounds that must hold whatever the input: --timeout ends a run whatever the slice,
SIGINT/SIGTERM end it (and restore the terminal), only regular files are read (a FIFO
or /dev/zero would hang or eat memory), `disas` streams and stops on a closed pipe,
and console output is not kept in memory.

No timed assertions: a bound that does not hold shows as a run that never ends, which
the host-side timeout of each subprocess turns into a failure."""
from __future__ import annotations

import os
import pty
import signal
import subprocess
import termios
import tracemalloc

import pytest

from conftest import GUESTS_DIR, IMAGES_DIR, REPO_ROOT, rvkvm_command, rvkvm_env
from test_cli import (ERROR, SIGINT_STATUS, SIGPIPE_STATUS, SIGTERM_STATUS, TIMEOUT,
                      assert_one_line_error)

HELLO = IMAGES_DIR / "hello.elf"
SPIN = GUESTS_DIR / "spin.elf"
HANG = 60        # seconds: far beyond what a bounded run needs, short of a hung suite


# ---------------------------------------------------------------- --timeout, --slice-ms

@pytest.mark.parametrize("option, value", [("--timeout", "nan"), ("--timeout", "inf"),
                                           ("--timeout", "0"), ("--timeout", "-1"),
                                           ("--slice-ms", "inf"), ("--slice-ms", "0")])
def test_non_finite_or_non_positive_times_are_refused(rvkvm, option, value):
    proc = rvkvm("boot", f"{option}={value}", HELLO, timeout=HANG)
    line = assert_one_line_error(proc, mentions=option)
    assert "finite number above 0" in line


@pytest.mark.parametrize("slice_ms", ["1e9", "1e300"])
def test_timeout_holds_whatever_the_slice(rvkvm, slice_ms):
    """A slice longer than the timeout is cut, so the spinning guest still times out."""
    proc = rvkvm("boot", "--slice-ms", slice_ms, "--timeout", 1, SPIN, timeout=HANG)
    assert proc.returncode == TIMEOUT, proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- signals

def start_spinning(*extra, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    """rvkvm running spin.elf, returned once the guest runs (the --trace int banner
    is printed just before the run loop starts)."""
    proc = subprocess.Popen(rvkvm_command("boot", "--trace", "int", *extra, SPIN),
                            cwd=REPO_ROOT, env=rvkvm_env(), stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    banner = proc.stderr.readline().decode()
    assert banner.startswith("rvkvm: time slicing"), banner
    return proc


@pytest.mark.parametrize("signum, status, slice_ms", [(signal.SIGINT, SIGINT_STATUS, "1e9"),
                                                     (signal.SIGTERM, SIGTERM_STATUS, "2")])
def test_signal_ends_the_run_with_its_status(signum, status, slice_ms):
    proc = start_spinning("--slice-ms", slice_ms)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=HANG)
    err = err.decode()
    assert proc.returncode == status, (proc.returncode, err)
    assert f"ended by {signal.Signals(signum).name} (exit status {status})" in err
    assert "Traceback" not in err


def test_sigterm_restores_the_terminal():
    """On a terminal rvkvm puts stdin in raw mode; a SIGTERM must not leave it so."""
    master, slave = pty.openpty()
    try:
        cooked = termios.tcgetattr(slave)
        proc = start_spinning(stdin=slave)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=HANG)
        assert proc.returncode == SIGTERM_STATUS
        assert termios.tcgetattr(slave) == cooked
    finally:
        os.close(master)
        os.close(slave)


# ---------------------------------------------------------------- only regular files

@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("where, special", [
    (where, "fifo") for where in ("kernel", "--initrd", "--bios", "--dtb", "disas", "disas --raw")
] + [("kernel", "/dev/zero"), ("disas --raw", "/dev/zero")])
def test_only_regular_files_are_read(rvkvm, request, where, special):
    """A FIFO would block the open forever; /dev/zero would be read until memory ran out."""
    path = request.getfixturevalue("fifo") if special == "fifo" else special
    if where == "kernel":
        args = ["boot", path]
    elif where.startswith("disas"):
        args = [*where.split(), path]
    else:
        args = ["boot", where, path, HELLO]
    line = assert_one_line_error(rvkvm(*args, timeout=HANG), mentions="not a regular file")
    label = {"kernel": "kernel", "--initrd": "initrd", "--bios": "bios",
             "--dtb": "device tree"}.get(where, "file")
    assert line.startswith(f"rvkvm: error: {label} '{path}'"), line


@pytest.mark.parametrize("where, label", [("kernel", "kernel"), ("--dtb", "device tree")])
def test_a_file_bigger_than_ram_is_refused_before_it_is_read(rvkvm, tmp_path, where, label):
    """Sparse, so it costs no disk: 200 MiB against 128 MiB of RAM."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(200 << 20)
    args = ["boot", "-m", "128M", big] if where == "kernel" else \
        ["boot", "-m", "128M", where, big, HELLO]
    line = assert_one_line_error(rvkvm(*args, timeout=HANG), mentions="does not fit")
    assert line.startswith(f"rvkvm: error: {label} '{big}' ("), line


# ---------------------------------------------------------------- disas streams

def test_disas_streams_and_stops_quietly_on_a_closed_pipe(tmp_path):
    """`rvkvm disas --raw big.bin | head -1`: the first line comes before the whole file
    is decoded, and the closed pipe ends it with 141 and nothing on stderr."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(32 << 20))
    proc = subprocess.Popen(rvkvm_command("disas", "--raw", big), cwd=REPO_ROOT,
                            env=rvkvm_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline().decode()
    proc.stdout.close()                             # as `head -1` does
    err = proc.stderr.read().decode()
    proc.wait(timeout=HANG)
    assert first.startswith("80000000: "), first
    assert proc.returncode == SIGPIPE_STATUS, (proc.returncode, err)
    assert err == ""


@pytest.mark.parametrize("command", [["disas", HELLO], ["boot", HELLO]])
def test_full_stdout_is_one_error_line(command):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(rvkvm_command(*command), cwd=REPO_ROOT, env=rvkvm_env(),
                              stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE,
                              timeout=HANG)
    err = proc.stderr.decode()
    assert proc.returncode == ERROR, err
    assert err.strip().splitlines() == [err.strip()], err      # one line
    assert err.startswith("rvkvm: error: cannot write") and "No space left" in err


@pytest.mark.parametrize("command", [["disas", HELLO], ["boot", HELLO]])
def test_closed_stdout_is_one_error_line(command):
    proc = subprocess.run(rvkvm_command(*command), cwd=REPO_ROOT, env=rvkvm_env(),
                          stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=HANG,
                          pass_fds=(), close_fds=True, preexec_fn=lambda: os.close(1))
    err = proc.stderr.decode()
    assert proc.returncode == ERROR, err
    assert err.startswith("rvkvm: error: stdout is closed") and err.count("\n") == 1, err


def test_boot_into_a_closed_pipe_ends_quietly():
    """`rvkvm boot chatty | head -c 1`: the run stops when the reader goes, status 141
    (chatty.S prints forever; it ran until --timeout, then a traceback at exit)."""
    proc = subprocess.Popen(rvkvm_command("boot", "--timeout", HANG, GUESTS_DIR / "chatty.elf"),
                            cwd=REPO_ROOT, env=rvkvm_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(1)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=HANG)
    assert proc.returncode == SIGPIPE_STATUS, (proc.returncode, err)
    assert err == ""


# ---------------------------------------------------------------- console memory

class NullOut:
    def write(self, data):
        return len(data)

    def flush(self):
        pass


@pytest.mark.parametrize("expect", [None, "NEVER-PRINTED"])
def test_console_keeps_only_what_expect_needs(expect):
    """64 MiB of guest output must not stay in host memory (it did: ~130 KB/s of a
    chatty guest, for the whole run)."""
    from rvkvm.machine.console import MATCH_WINDOW, Console
    console = Console(NullOut(), expect=expect, on_panic=lambda: None)
    chunk = b"a line of guest output, over and over\n" * 100
    tracemalloc.start()
    try:
        for _ in range((64 << 20) // len(chunk)):
            console.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MATCH_WINDOW + 4 * len(chunk), peak
    assert not console.matched
