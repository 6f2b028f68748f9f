"""Run every benchmark and print a summary of the headline figures.

    python bench/run_all.py            # all of them
    python bench/run_all.py mips trap_cost
    python bench/run_all.py --strict   # exit 1 if a figure misses its target or a run fails
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

BENCHMARKS = ["mips", "trap_cost", "vs_qemu", "startup", "linux_boot", "engine_choices",
              "gdb_idle", "idle_cpu", "fill_cost", "guest_boot", "hypervisor"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run rvkvm's benchmarks.")
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    ap.add_argument("--strict", action="store_true", help="exit 1 on a missed target or a failure")
    args = ap.parse_args(argv)
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        ap.error(f"unknown benchmark {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}")
    from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, Uc

    from rvkvm.cpu.slicer import make_slicer
    with make_slicer(Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)) as slicer:
        print(f"slicer: {slicer.kind} (RVKVM_SLICER={os.environ.get('RVKVM_SLICER', '')!r})\n")
    summary, failed = [], False
    for name in args.names or BENCHMARKS:
        t0 = time.perf_counter()
        try:
            summary += importlib.import_module(name).main([])
        except SystemExit as err:            # a benchmark's guest failed: report, go on
            print(f"  FAILED: {err}")
            summary.append({"name": name, "value": "FAILED", "unit": "", "target": None,
                            "ok": False, "note": str(err)})
        print(f"  ({time.perf_counter() - t0:.1f} s)\n")
    print("summary")
    for row in summary:
        value = f"{row['value']:.3f}" if isinstance(row["value"], float) else row["value"]
        target = f"target {row['target']}" if row["target"] else ""
        verdict = {True: "ok", False: "MISSED", None: ""}[row["ok"]]
        print(f"  {row['name']:40s} {value:>9} {row['unit']:3s} {target:12s} {verdict}")
        failed |= row["ok"] is False
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
