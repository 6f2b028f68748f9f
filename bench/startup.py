"""Whole-process start-up: `rvkvm boot images/hello.elf` against QEMU, in one run.

hello.elf prints one line and powers off, so its process time is almost all start-up
(interpreter, imports, engine, RAM, the slicer's self-check, device tree). A CI job
running one process per ISA test pays it every time. Measured, median of --repeat:
    python -c pass                       the interpreter and site alone (the floor)
    rvkvm boot images/hello.elf          bytecode cached (a warm checkout; the slicer's
                                         exit-switch proof cached in ~/.cache/rvkvm by
                                         the warm-up run, as after any first run)
    the same, no bytecode                a fresh copy of the package, PYTHONDONTWRITEBYTECODE=1
                                         (as on CI machines that set it: every module of
                                         rvkvm compiled at every start)
    qemu-system-riscv64 -M virt -bios none -nographic -kernel images/hello.elf
Target: rvkvm (cached) / QEMU <= 3.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import IMAGES, QEMU, REPO, median, report  # noqa: E402

TARGET = 3.0


def time_run(argv: list[str], env: dict, cwd: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"startup: {argv[:4]}... exited {proc.returncode}: "
                         f"{proc.stderr.decode(errors='replace').strip()[-300:]}")
    return seconds


def fresh_copy(into: str) -> str:
    """The rvkvm package without any __pycache__, for the no-bytecode runs."""
    shutil.copytree(os.path.join(REPO, "rvkvm"), os.path.join(into, "rvkvm"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    return into


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--elf", default=os.path.join(IMAGES, "hello.elf"))
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    name = "rvkvm/QEMU process time (hello.elf)"
    print(f"startup: {os.path.relpath(args.elf)}, median of {args.repeat}")
    if shutil.which(QEMU) is None:
        why = f"{QEMU} is not installed (apt install qemu-system-misc)"
        print(f"  skipped: {why}")
        return [report(name, "skipped", "", f"<= {TARGET}", None, why)]
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    boot = [sys.executable, "-m", "rvkvm.cli", "boot", args.elf]
    with tempfile.TemporaryDirectory(prefix="rvkvm-startup-") as tmp:
        cold_env = dict(os.environ, PYTHONPATH=fresh_copy(tmp), PYTHONDONTWRITEBYTECODE="1")
        runs = {
            "python -c pass": ([sys.executable, "-c", "pass"], env, REPO),
            "rvkvm": (boot, env, REPO),
            "rvkvm, no bytecode": (boot, cold_env, tmp),
            "QEMU": ([QEMU, "-M", "virt", "-bios", "none", "-nographic", "-kernel", args.elf],
                     env, REPO),
        }
        time_run(boot, env, REPO)                      # bytecode written, files cached
        times = {who: [] for who in runs}
        for _ in range(args.repeat):
            for who, (argv_, env_, cwd) in runs.items():
                times[who].append(time_run(argv_, env_, cwd))
    med = {who: median(t) for who, t in times.items()}
    for who, seconds in med.items():
        print(f"  {who:<20} {seconds:.3f} s")
    ratio = med["rvkvm"] / med["QEMU"]
    return [report(name, ratio, "x", f"<= {TARGET}", ratio <= TARGET,
                   f"(no bytecode: {med['rvkvm, no bytecode'] / med['QEMU']:.1f}x; "
                   f"interpreter floor {med['python -c pass']:.3f} s)")]


if __name__ == "__main__":
    main()
