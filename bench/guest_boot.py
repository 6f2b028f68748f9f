"""Guest boot: seconds to RVKVM-USERSPACE-OK for `rvkvm boot --guest Image` (Linux as a
VS-mode guest of rvkvm/hv) against the native `rvkvm boot Image` of the same kernel,
interleaved in one run, median of N each; the ratio is the headline (target <= 1.2x).
Then one profiled guest boot: VM exits by reason, their count and microseconds each.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import LINUX_IMAGE, median, report, rvkvm_command, time_process  # noqa: E402

MARKER = b"RVKVM-USERSPACE-OK"
TARGET = 1.2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=LINUX_IMAGE)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args(argv)
    print(f"guest_boot: {os.path.relpath(args.image)} to {MARKER.decode()}, median of {args.repeat}")
    if not os.path.exists(args.image):
        print(f"  skipped: {args.image} does not exist")
        return [report("guest boot", "skipped", "", None, None, "no kernel")]
    configs = {"native": rvkvm_command() + ["boot", args.image],
               "guest": rvkvm_command() + ["boot", "--guest", args.image]}
    marks = {name: [] for name in configs}
    for i in range(args.repeat):
        for name, cmd in configs.items():
            t_marker, t_exit, status, out = time_process(cmd, MARKER, timeout=args.timeout)
            if t_marker is None:
                tail = out.decode(errors="replace").strip().splitlines()[-2:]
                print(f"  run {i}: {name:7s} no marker (status {status}): {tail}")
                return [report("guest boot", "FAILED", "", None, False, f"{name}: no marker")]
            marks[name].append(t_marker)
            print(f"  run {i}: {name:7s} marker {t_marker:6.3f} s")
    native, guest = median(marks["native"]), median(marks["guest"])
    profile = subprocess.run(configs["guest"] + ["--stats", "--expect", MARKER.decode()],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             timeout=args.timeout).stderr
    print("  exit profile of one guest boot (to the marker):")
    for line in profile.splitlines():
        if line.startswith("rvkvm guest stats") or line.startswith("  ") and "hart" not in line:
            print("  " + line)
    ratio = guest / native
    return [report("guest boot to marker", guest, "s"),
            report("native boot to marker", native, "s"),
            report("guest / native boot", ratio, "x", f"<= {TARGET}", ratio <= TARGET)]


if __name__ == "__main__":
    main()
