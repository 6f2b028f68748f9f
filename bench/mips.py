"""Speed of straight-line guest code under rvkvm against raw Unicorn on the same code.

rvkvm: the virt machine runs images/bench_loop.elf (time of VirtMachine.run()).
Reference: a fresh Uc with only RAM runs the same ELF from its entry to its
finisher write, no hooks in the loop. Same instructions, same run of this script.
Target: rvkvm / raw >= 0.9 (what is lost: the slicer's block hook, the run loop).
"""
from __future__ import annotations

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import IMAGES, Skip, build_elf, median, report, run_raw_unicorn, run_rvkvm_machine  # noqa: E402

from rvkvm.cpu.slicer import native_available  # noqa: E402

TARGET = 0.9
LOOP_ITERATIONS = 200_000_000
LOOP_BODY = 5
# Used when images/bench_loop.elf is absent: the same shape, with a known count.
FALLBACK_SOURCE = f"""
    .globl _start
_start:
    li t0, {LOOP_ITERATIONS}
    li t1, 0
    li t2, 0
1:  addi t1, t1, 3
    xor t3, t1, t0
    add t2, t2, t3
    addi t0, t0, -1
    bnez t0, 1b
    li t0, 0x100000
    li t1, 0x5555
    sw t1, 0(t0)
2:  j 2b
"""


def instructions_of_image():
    """5 x BENCH_ITERS, read from images/bench_loop.S (None if it cannot be read)."""
    try:
        with open(os.path.join(IMAGES, "bench_loop.S")) as f:
            found = re.search(r"#define\s+BENCH_ITERS\s+(\d+)", f.read())
    except OSError:
        return None
    return int(found.group(1)) * LOOP_BODY if found else None


def pick_elf(path: str | None):
    """(elf, instruction count or None)."""
    if path:
        return path, None
    image = os.path.join(IMAGES, "bench_loop.elf")
    if os.path.exists(image):
        return image, instructions_of_image()
    return build_elf("bench_loop", FALLBACK_SOURCE), LOOP_ITERATIONS * LOOP_BODY + 9


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--elf", help="program to run (default images/bench_loop.elf)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print("mips: straight-line code, rvkvm vs raw Unicorn")
    try:
        elf, instructions = pick_elf(args.elf)
    except Skip as why:
        print(f"  skipped: {why}")
        return [report("rvkvm/raw speed", "skipped", "", f">= {TARGET}", None, str(why))]
    print(f"  program: {os.path.relpath(elf)}")
    raw_times, hook_times, rvkvm_times = [], [], []
    kind = "?"
    hook = native_available()
    for i in range(args.repeat):
        raw_times.append(run_raw_unicorn(elf))
        if hook:
            hook_times.append(run_raw_unicorn(elf, with_slicer_hook=True))
        status, seconds, kind = run_rvkvm_machine(elf)
        if status != 0:
            raise SystemExit(f"{elf} failed under rvkvm (exit status {status})")
        rvkvm_times.append(seconds)
        print(f"  run {i}: raw Unicorn {raw_times[-1]:.3f} s, "
              + (f"raw + slicer hook {hook_times[-1]:.3f} s, " if hook else "")
              + f"rvkvm {rvkvm_times[-1]:.3f} s")
    raw, rv = median(raw_times), median(rvkvm_times)
    print(f"  median: raw Unicorn {raw:.3f} s, rvkvm {rv:.3f} s (slicer: {kind})")
    if hook:
        print(f"  the native block hook alone makes raw Unicorn {raw / median(hook_times):.3f}x "
              f"as fast (it runs once per translated block)")
    if instructions:
        print(f"  ~{instructions:,} instructions: raw {instructions / raw / 1e6:,.0f} MIPS, "
              f"rvkvm {instructions / rv / 1e6:,.0f} MIPS")
    ratio = raw / rv
    return [report("rvkvm/raw speed", ratio, "x", f">= {TARGET}", ratio >= TARGET)]


if __name__ == "__main__":
    main()
