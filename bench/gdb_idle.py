"""The gdb stub's idle cost: a Linux boot with the stub listening (--gdb tcp::0) and no
debugger attached, against the same boot without it. Seconds from process start to
the console line RVKVM-USERSPACE-OK, median of 5 each, runs interleaved. The stub
installs nothing in the engine until gdb connects (one attribute test per slice in
the run loop), so the ratio should be 1 within the noise of a boot.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import LINUX_IMAGE, median, report, rvkvm_command, time_process  # noqa: E402

MARKER = b"RVKVM-USERSPACE-OK"
TARGET_RATIO = 1.05                    # a boot's run-to-run noise is a few percent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=LINUX_IMAGE)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args(argv)
    print(f"gdb_idle: {os.path.relpath(args.image)} to {MARKER.decode()}, median of {args.repeat}")
    if not os.path.exists(args.image):
        why = f"{args.image} does not exist"
        print(f"  skipped: {why}")
        return [report("gdb stub idle / none", "skipped", "", None, None, why)]
    configs = {"no stub": rvkvm_command() + ["boot", args.image],
               "stub, no gdb": rvkvm_command() + ["boot", "--gdb", "tcp::0", args.image]}
    marks = {name: [] for name in configs}
    for i in range(args.repeat):
        for name, command in configs.items():
            t_marker, t_exit, status, out = time_process(command, MARKER, timeout=args.timeout)
            if t_marker is None:
                tail = out.decode(errors="replace").strip().splitlines()[-2:]
                raise SystemExit(f"{name}: no marker (status {status}); last output: {tail}")
            marks[name].append(t_marker)
            print(f"  run {i}: {name:14s} marker {t_marker:6.3f} s")
    idle, plain = median(marks["stub, no gdb"]), median(marks["no stub"])
    return [report("boot, no stub", plain, "s"),
            report("boot, stub listening", idle, "s"),
            report("gdb stub idle / none", idle / plain, "x", f"<= {TARGET_RATIO}",
                   idle / plain <= TARGET_RATIO)]


if __name__ == "__main__":
    main()
