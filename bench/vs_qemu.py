"""Wall time of a whole bare-metal workload: `rvkvm boot` against QEMU.

Both run images/workload.elf as subprocesses (process start to exit, so start-up
counts), median of 3, in the same run of this script:
    rvkvm boot images/workload.elf
    qemu-system-riscv64 -M virt -bios none -nographic -kernel images/workload.elf
Target: rvkvm / QEMU <= 2.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import IMAGES, QEMU, median, report, rvkvm_command, time_process  # noqa: E402

TARGET = 2.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--elf", default=os.path.join(IMAGES, "workload.elf"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    name = "rvkvm/QEMU wall time (workload.elf)"
    print(f"vs_qemu: {os.path.relpath(args.elf)}, median of {args.repeat}")
    if not os.path.exists(args.elf):
        why = f"{args.elf} does not exist (make -C images)"
        print(f"  skipped: {why}")
        return [report(name, "skipped", "", f"<= {TARGET}", None, why)]
    if shutil.which(QEMU) is None:
        why = f"{QEMU} is not installed (apt install qemu-system-misc)"
        print(f"  skipped: {why}")
        return [report(name, "skipped", "", f"<= {TARGET}", None, why)]
    commands = {
        "rvkvm": rvkvm_command() + ["boot", args.elf],
        "QEMU": [QEMU, "-M", "virt", "-bios", "none", "-nographic", "-kernel", args.elf],
    }
    times = {k: [] for k in commands}
    for i in range(args.repeat):
        for who, argv_ in commands.items():
            _, seconds, status, out = time_process(argv_, timeout=300)
            if status != 0:                 # None: killed after the timeout
                tail = out.decode(errors="replace").strip().splitlines()[-3:]
                raise SystemExit(f"vs_qemu: {who} exited with {status}: {tail}")
            times[who].append(seconds)
        print(f"  run {i}: rvkvm {times['rvkvm'][-1]:.3f} s, QEMU {times['QEMU'][-1]:.3f} s")
    rv, qemu = median(times["rvkvm"]), median(times["QEMU"])
    print(f"  median: rvkvm {rv:.3f} s, QEMU {qemu:.3f} s")
    ratio = rv / qemu
    return [report(name, ratio, "x", f"<= {TARGET}", ratio <= TARGET)]


if __name__ == "__main__":
    main()
