"""Linux boot time: seconds from process start to the console line RVKVM-USERSPACE-OK.

Same kernel (../shared/linux/poweroff/Image), three ways, median of 3 each, in the
same run of this script:
    rvkvm boot Image                      (rvkvm's built-in SBI firmware)
    rvkvm boot --bios fw_jump.elf Image   (OpenSBI in guest M-mode)
    qemu-system-riscv64 -M virt -m 128M -smp 1 -nographic -bios fw_jump.elf -kernel Image
stdout is read as it comes and the marker timed on arrival. Prints rvkvm/QEMU.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FW_JUMP, LINUX_IMAGE, QEMU, median, report, rvkvm_command, time_process  # noqa: E402

MARKER = b"RVKVM-USERSPACE-OK"


def configurations(image: str, fw_jump: str) -> dict:
    rvkvm = rvkvm_command()
    configs = {"rvkvm (built-in SBI)": rvkvm + ["boot", image]}
    if os.path.exists(fw_jump):
        configs["rvkvm + OpenSBI"] = rvkvm + ["boot", "--bios", fw_jump, image]
        if shutil.which(QEMU):
            configs["QEMU + OpenSBI"] = [QEMU, "-M", "virt", "-m", "128M", "-smp", "1",
                                         "-nographic", "-bios", fw_jump, "-kernel", image]
        else:
            print(f"  QEMU skipped: {QEMU} is not installed (apt install qemu-system-misc)")
    else:
        print(f"  OpenSBI runs skipped: {fw_jump} does not exist (apt install opensbi)")
    return configs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=LINUX_IMAGE)
    ap.add_argument("--fw-jump", default=FW_JUMP)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args(argv)
    print(f"linux_boot: {os.path.relpath(args.image)} to {MARKER.decode()}, median of {args.repeat}")
    if not os.path.exists(args.image):
        why = f"{args.image} does not exist"
        print(f"  skipped: {why}")
        return [report("Linux boot", "skipped", "", None, None, why)]
    configs = configurations(args.image, args.fw_jump)
    marks = {name: [] for name in configs}
    failed = {}
    for i in range(args.repeat):
        for name, argv_ in configs.items():
            if name in failed:
                continue
            t_marker, t_exit, status, out = time_process(argv_, MARKER, timeout=args.timeout)
            ended = f"exit {t_exit:6.3f} s (status {status})" if status is not None \
                else f"killed after {t_exit:.0f} s"
            if t_marker is None:
                tail = out.decode(errors="replace").strip().splitlines()[-2:]
                failed[name] = f"no marker, {ended}; last output: {tail}"
                print(f"  run {i}: {name:22s} {failed[name]}")
                continue
            marks[name].append(t_marker)
            print(f"  run {i}: {name:22s} marker {t_marker:6.3f} s, {ended}")
    results = []
    for name, why in failed.items():
        results.append(report(f"{name} to marker", "FAILED", "", None, False, why))
    medians = {name: median(v) for name, v in marks.items() if name not in failed}
    for name, m in medians.items():
        results.append(report(f"{name} to marker", m, "s"))
    qemu = medians.get("QEMU + OpenSBI")
    if qemu:
        for name, m in medians.items():
            if name.startswith("rvkvm"):
                results.append(report(f"{name} / QEMU", m / qemu, "x"))
    return results


if __name__ == "__main__":
    main()
