"""Idle CPU: the share of one host core an idle Linux shell guest costs.

Boots ../shared/linux/shell/Image in a pseudo-terminal (as a user would), waits for the
shell prompt, lets the guest settle, then reads the emulator's CPU time (user + system,
all threads, from /proc) over a quiet interval. Same kernel, in the same run:
    rvkvm boot shell/Image                 (rvkvm's built-in SBI firmware)
    rvkvm boot --guest shell/Image         (the kernel in VS under rvkvm's hypervisor)
    qemu-system-riscv64 -M virt -m 128M -smp 1 -nographic -bios fw_jump.elf -kernel Image
Each is ended with Ctrl-A x. Prints the percentages and rvkvm/QEMU.
"""
from __future__ import annotations

import argparse
import os
import pty
import select
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FW_JUMP, QEMU, REPO, SHARED, report, rvkvm_command  # noqa: E402

SHELL_IMAGE = os.path.join(os.environ.get("RVKVM_SHARED", SHARED), "linux", "shell", "Image")
PROMPT = b"rvkvm:/# "
TARGET_PERCENT = 6.0                  # about QEMU's (5 %)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and all its threads, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wakeups(pid: int) -> int:
    """Context switches of all the process's threads so far: each is a thread that
    slept and was woken (a ticker, a timer), which costs CPU beyond the guest's work."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                total += sum(int(line.split()[1]) for line in f
                             if line.startswith(("voluntary_ctxt_switches",
                                                 "nonvoluntary_ctxt_switches")))
        except OSError:                # the thread ended meanwhile
            pass
    return total


def read_until(fd: int, marker: bytes, timeout: float) -> bool:
    seen = bytearray()
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:                # the child closed the terminal
            return False
        if not chunk:
            return False
        seen += chunk
        if marker in seen:
            return True
        del seen[:-len(marker)]
    return False


def drain(fd: int, seconds: float) -> None:
    """Read whatever the guest prints for `seconds` (a full pty would block it)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                os.read(fd, 65536)
            except OSError:
                return


def idle_percent(argv: list[str], settle: float, interval: float, timeout: float):
    """(CPU % of one core while idle at the prompt, or None; why not; wake-ups/s)."""
    master, slave = pty.openpty()
    # this checkout's rvkvm, even where another one is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True, env=env)
    os.close(slave)
    try:
        if not read_until(master, PROMPT, timeout):
            return None, "no shell prompt", 0.0
        drain(master, settle)
        cpu0, woken0, wall0 = cpu_seconds(proc.pid), wakeups(proc.pid), time.monotonic()
        drain(master, interval)
        cpu1, woken1, wall1 = cpu_seconds(proc.pid), wakeups(proc.pid), time.monotonic()
        os.write(master, b"\x01x")     # Ctrl-A x: both rvkvm and QEMU quit
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return (100.0 * (cpu1 - cpu0) / (wall1 - wall0), "",
                (woken1 - woken0) / (wall1 - wall0))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def sleep_floor(period: float = 0.004, seconds: float = 2.0) -> float:
    """CPU % of a core a thread costs that does nothing but sleep `period` and wake,
    as rvkvm's run loop must at each tick of the guest's 250 Hz timer (shell/Image is
    HZ_PERIODIC): what this host charges for waking alone, before any work. On a VM
    (CONFIG_TICK_CPU_ACCOUNTING, virtualized timers) it is not small."""
    cpu0, wall0 = time.thread_time(), time.monotonic()
    while time.monotonic() - wall0 < seconds:
        time.sleep(period)
    return 100.0 * (time.thread_time() - cpu0) / (time.monotonic() - wall0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=SHELL_IMAGE)
    ap.add_argument("--fw-jump", default=FW_JUMP)
    ap.add_argument("--settle", type=float, default=2.0, help="seconds at the prompt before measuring")
    ap.add_argument("--interval", type=float, default=5.0, help="seconds measured")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to reach the prompt")
    args = ap.parse_args(argv)
    print(f"idle_cpu: {os.path.relpath(args.image)} at its shell prompt, "
          f"CPU over {args.interval:g} s after {args.settle:g} s")
    if not os.path.exists(args.image):
        why = f"{args.image} does not exist"
        print(f"  skipped: {why}")
        return [report("idle CPU", "skipped", "", None, None, why)]
    configs = {"rvkvm (built-in SBI)": rvkvm_command() + ["boot", args.image],
               "rvkvm --guest": rvkvm_command() + ["boot", "--guest", args.image]}
    if shutil.which(QEMU) and os.path.exists(args.fw_jump):
        configs["QEMU + OpenSBI"] = [QEMU, "-M", "virt", "-m", "128M", "-smp", "1", "-nographic",
                                     "-bios", args.fw_jump, "-kernel", args.image]
    else:
        print(f"  QEMU skipped: needs {QEMU} and {args.fw_jump}")
    results, percents = [], {}
    for name, cmd in configs.items():
        percent, why, woken = idle_percent(cmd, args.settle, args.interval, args.timeout)
        if percent is None:
            print(f"  {name:22s} FAILED: {why}")
            results.append(report(f"idle CPU, {name}", "FAILED", "", None, False, why))
            continue
        percents[name] = percent
        print(f"  {name:22s} {percent:5.1f} % of a core, {woken:5.0f} thread wake-ups/s")
    floor = sleep_floor()
    print(f"  {'a thread sleeping 4 ms':22s} {floor:5.1f} % of a core (the host's cost of 250 "
          f"wake-ups/s with no work: part of all the figures above)")
    results.append(report("idle CPU, bare 250 Hz sleep/wake", floor, "%"))
    rvkvm = percents.get("rvkvm (built-in SBI)")
    if rvkvm is not None:
        results.append(report("idle CPU, rvkvm", rvkvm, "%", f"<= {TARGET_PERCENT:g} %",
                              rvkvm <= TARGET_PERCENT))
    guest = percents.get("rvkvm --guest")
    if guest is not None:            # the same kernel in VS under rvkvm's hypervisor
        results.append(report("idle CPU, rvkvm --guest", guest, "%", f"<= {TARGET_PERCENT:g} %",
                              guest <= TARGET_PERCENT))
    qemu = percents.get("QEMU + OpenSBI")
    if qemu is not None:
        results.append(report("idle CPU, QEMU", qemu, "%"))
        if rvkvm is not None and qemu > 0:
            results.append(report("idle CPU, rvkvm / QEMU", rvkvm / qemu, "x"))
    return results


if __name__ == "__main__":
    main()
