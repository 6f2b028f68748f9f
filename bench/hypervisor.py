"""The H-extension figures (issue 7): V=1 speed, guest-page faults, the fill hook, kvm-host.

Four parts, each printing its figures and measuring its reference in the same run:
  vloop  MIPS of bench_loop's loop at V=0 (images/bench_loop.elf, M-mode) and at V=1
         (images/bench_vloop.elf: VS under Sv39 over Sv39x4, gigapages), time of
         VirtMachine.run(), interleaved; headline V1/V0 speed (target >= 0.9)
  gpf    one guest-page-fault round trip (VS load -> M handler -> mret to VS):
         images/bench_gpf.elf times, with mtime, N loads of a mapped GPA and N of an
         unmapped one; (faulting - mapped) / N, on rvkvm and on QEMU -cpu rv64,h=true
  tlb    native Linux boot (../shared/linux/poweroff/Image to RVKVM-USERSPACE-OK) with
         RVKVM_TLB=engine (Unicorn's walker, the default) and RVKVM_TLB=hook (the C fill
         hook for HS/U too), interleaved, 5 rounds; median of the per-round ratios (target <= 1.1)
  kvm    ../shared/linux/kvm-host/Image to RVKVM-KVM-GUEST-EXIT: rvkvm -m 512M (built-in
         SBI, and --bios fw_jump.elf) vs qemu-system-riscv64 -M virt -cpu rv64,h=true
         -smp 1 -m 512M -bios fw_jump.elf -kernel Image; one run each unless --kvm-repeat
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (FW_JUMP, IMAGES, LINUX_IMAGE, QEMU, SHARED, median, report,  # noqa: E402
                     rvkvm_command, run_rvkvm_machine, time_process)
from mips import LOOP_BODY, instructions_of_image  # noqa: E402

VLOOP_TARGET = 0.9
TLB_TARGET = 1.1
KVM_HOST_IMAGE = os.path.join(SHARED, "linux", "kvm-host", "Image")
USERSPACE_MARKER = b"RVKVM-USERSPACE-OK"
KVM_MARKER = b"RVKVM-KVM-GUEST-EXIT"
KVM_STATUS = re.compile(rb"RVKVM-KVM-GUEST-EXIT status=(-?\d+)")
GPF_LINE = re.compile(rb"bench_gpf: loads (\d+) mapped_ticks (\d+) faulting_ticks (\d+)")
TIMEBASE_HZ = 10_000_000            # mtime of the virt machine, rvkvm and QEMU alike
PARTS = ("vloop", "gpf", "tlb", "kvm")


def qemu_h(*args: str) -> list[str]:
    return [QEMU, "-M", "virt", "-cpu", "rv64,h=true", "-nographic", *args]


def tail(out: bytes) -> list[str]:
    return out.decode(errors="replace").strip().splitlines()[-2:]


def missing(*paths: str) -> str | None:
    """Why a part cannot run (a file or QEMU missing), or None."""
    for path in paths:
        if path == QEMU:
            if shutil.which(QEMU) is None:
                return f"{QEMU} is not installed (apt install qemu-system-misc)"
        elif not os.path.exists(path):
            return f"{path} does not exist"
    return None


# ----------------------------------------------------------------------------- 1. V=0 vs V=1

def vloop(repeat: int) -> list[dict]:
    v0_elf = os.path.join(IMAGES, "bench_loop.elf")
    v1_elf = os.path.join(IMAGES, "bench_vloop.elf")
    print("  vloop: bench_loop's loop at V=0 (M) and at V=1 (VS, Sv39 over Sv39x4)")
    why = missing(v0_elf, v1_elf)
    if why:
        print(f"  skipped: {why}")
        return [report("V1/V0 loop speed", "skipped", "", f">= {VLOOP_TARGET}", None, why)]
    times = {"V=0": [], "V=1": []}
    for i in range(repeat):
        for name, elf in (("V=0", v0_elf), ("V=1", v1_elf)):
            status, seconds, _ = run_rvkvm_machine(elf)
            if status != 0:
                raise SystemExit(f"{os.path.basename(elf)} failed under rvkvm (exit status {status})")
            times[name].append(seconds)
        print(f"  run {i}: V=0 {times['V=0'][-1]:.3f} s, V=1 {times['V=1'][-1]:.3f} s")
    v0, v1 = median(times["V=0"]), median(times["V=1"])
    instructions = instructions_of_image() or 0
    if instructions:
        print(f"  ~{instructions:,} instructions ({LOOP_BODY} a loop): V=0 {instructions / v0 / 1e6:,.0f} MIPS, "
              f"V=1 {instructions / v1 / 1e6:,.0f} MIPS")
    ratio = v0 / v1
    return [report("V1/V0 loop speed", ratio, "x", f">= {VLOOP_TARGET}", ratio >= VLOOP_TARGET)]


# ----------------------------------------------------------------------------- 2. guest-page faults

def gpf_round_trip_us(argv: list[str]) -> tuple[float | None, str]:
    """µs per round trip from one run of bench_gpf.elf, or (None, why it failed)."""
    _, seconds, status, out = time_process(argv, timeout=120, grace_after_marker=5)
    found = GPF_LINE.search(out)
    if status != 0 or not found or b"bench_gpf: PASS" not in out:
        return None, f"exit status {status} after {seconds:.1f} s; last output: {tail(out)}"
    loads, mapped, faulting = (int(g) for g in found.groups())
    # each loop makes one load more than `loads` (the one the handler records)
    return (faulting - mapped) / (loads + 1) / TIMEBASE_HZ * 1e6, ""


def gpf(repeat: int) -> list[dict]:
    elf = os.path.join(IMAGES, "bench_gpf.elf")
    print("  gpf: guest-page-fault round trip, VS load -> M handler (mepc += 4, mret) -> VS")
    why = missing(elf)
    if why:
        print(f"  skipped: {why}")
        return [report("guest-page fault round trip (rvkvm)", "skipped", "", None, None, why)]
    configs = {"rvkvm": rvkvm_command() + ["boot", elf]}
    if missing(QEMU) is None:
        configs["QEMU"] = qemu_h("-bios", "none", "-kernel", elf)
    else:
        print(f"  QEMU skipped: {missing(QEMU)}")
    costs = {name: [] for name in configs}
    for i in range(repeat):
        for name, argv in configs.items():
            us, why = gpf_round_trip_us(argv)
            if us is None:
                print(f"  run {i}: {name} FAILED: {why}")
                return [report(f"guest-page fault round trip ({name})", "FAILED", "", None, False, why)]
            costs[name].append(us)
        print(f"  run {i}: " + ", ".join(f"{name} {v[-1]:.2f} µs" for name, v in costs.items()))
    results = [report(f"guest-page fault round trip ({name})", median(v), "µs")
               for name, v in costs.items()]
    if "QEMU" in costs:
        results.append(report("guest-page fault rvkvm / QEMU",
                               median(costs["rvkvm"]) / median(costs["QEMU"]), "x"))
    return results


# ----------------------------------------------------------------------------- 3. walker vs fill hook

def tlb(repeat: int, timeout: float) -> list[dict]:
    print(f"  tlb: {os.path.relpath(LINUX_IMAGE)} to {USERSPACE_MARKER.decode()}, "
          "RVKVM_TLB=engine vs RVKVM_TLB=hook")
    why = missing(LINUX_IMAGE)
    if why:
        print(f"  skipped: {why}")
        return [report("fill hook / walker boot", "skipped", "", f"<= {TLB_TARGET}", None, why)]
    marks = {"engine": [], "hook": []}
    ratios = []
    for i in range(repeat):
        for mode in marks:
            argv = ["env", f"RVKVM_TLB={mode}"] + rvkvm_command() + ["boot", LINUX_IMAGE]
            t_marker, t_exit, status, out = time_process(argv, USERSPACE_MARKER, timeout=timeout)
            if t_marker is None:
                why = f"RVKVM_TLB={mode}: no marker (status {status}); last output: {tail(out)}"
                print(f"  run {i}: {why}")
                return [report("fill hook / walker boot", "FAILED", "", f"<= {TLB_TARGET}", False, why)]
            marks[mode].append(t_marker)
        ratios.append(marks["hook"][-1] / marks["engine"][-1])
        print(f"  run {i}: engine {marks['engine'][-1]:6.3f} s, hook {marks['hook'][-1]:6.3f} s, "
              f"ratio {ratios[-1]:.3f}")
    ratio = median(ratios)
    return [report("native boot, walker (RVKVM_TLB=engine)", median(marks["engine"]), "s"),
            report("native boot, fill hook (RVKVM_TLB=hook)", median(marks["hook"]), "s"),
            report("fill hook / walker boot", ratio, "x", f"<= {TLB_TARGET}", ratio <= TLB_TARGET)]


# ----------------------------------------------------------------------------- 4. kvm-host

def kvm(repeat: int, timeout: float) -> list[dict]:
    print(f"  kvm: {os.path.relpath(KVM_HOST_IMAGE)} to {KVM_MARKER.decode()}, -m 512M")
    why = missing(KVM_HOST_IMAGE)
    if why:
        print(f"  skipped: {why}")
        return [report("kvm-host boot", "skipped", "", None, None, why)]
    rvkvm = rvkvm_command() + ["boot", "-m", "512M"]
    configs = {"rvkvm (built-in SBI)": rvkvm + [KVM_HOST_IMAGE]}
    if missing(FW_JUMP) is None:
        configs["rvkvm + OpenSBI"] = rvkvm + ["--bios", FW_JUMP, KVM_HOST_IMAGE]
        if missing(QEMU) is None:
            configs["QEMU + OpenSBI"] = qemu_h("-smp", "1", "-m", "512M", "-bios", FW_JUMP,
                                               "-kernel", KVM_HOST_IMAGE)
        else:
            print(f"  QEMU skipped: {missing(QEMU)}")
    else:
        print(f"  OpenSBI runs skipped: {FW_JUMP} does not exist (apt install opensbi)")
    marks = {name: [] for name in configs}
    failed = {}
    for i in range(repeat):
        for name, argv in configs.items():
            if name in failed:
                continue
            t_marker, t_exit, status, out = time_process(argv, KVM_MARKER, timeout=timeout)
            guest = KVM_STATUS.search(out)
            if t_marker is None or not guest or guest.group(1) != b"0":
                failed[name] = (f"no marker with status=0 (exit status {status} after "
                                f"{t_exit:.0f} s); last output: {tail(out)}")
                print(f"  run {i}: {name:22s} {failed[name]}")
                continue
            marks[name].append(t_marker)
            print(f"  run {i}: {name:22s} marker {t_marker:6.2f} s, exit status {status}")
    results = [report(f"kvm-host {name}", "FAILED", "", None, False, why)
               for name, why in failed.items()]
    medians = {name: median(v) for name, v in marks.items() if v}
    results += [report(f"kvm-host {name} to marker", m, "s") for name, m in medians.items()]
    qemu = medians.get("QEMU + OpenSBI")
    if qemu:
        results += [report(f"kvm-host {name} / QEMU", m / qemu, "x")
                    for name, m in medians.items() if name.startswith("rvkvm")]
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="rounds of vloop, gpf and tlb")
    ap.add_argument("--tlb-repeat", type=int, default=5,
                    help="rounds of tlb (its per-round ratios are noisy on a shared host)")
    ap.add_argument("--kvm-repeat", type=int, default=1, help="rounds of kvm (20-60 s each on rvkvm)")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    ap.add_argument("--timeout", type=float, default=120, help="seconds a Linux boot may take")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        ap.error(f"unknown part {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    if min(args.repeat, args.tlb_repeat, args.kvm_repeat) < 1:
        ap.error("--repeat, --tlb-repeat and --kvm-repeat must be at least 1")
    print(f"hypervisor: the H-extension figures, median of {args.repeat} "
          f"(tlb: {args.tlb_repeat}, kvm: {args.kvm_repeat})")
    run = {"vloop": lambda: vloop(args.repeat), "gpf": lambda: gpf(args.repeat),
           "tlb": lambda: tlb(args.tlb_repeat, args.timeout),
           "kvm": lambda: kvm(args.kvm_repeat, args.timeout)}
    results = []
    for part in parts:
        results += run[part]()
    return results


if __name__ == "__main__":
    main()
