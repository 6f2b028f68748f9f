"""Why the hart is built the way it is: two engine costs, measured on raw Unicorn.

images/workload.elf (stores to its data on every iteration) runs on a bare Uc, in
Unicorn's S-mode as rvkvm runs guest M-mode code, three ways (median of 3 each):
  bare        satp = 0: every RAM page is executable, and Unicorn sends every store
              to an executable page down its slow path
  mmode map   rvkvm's identity map (rvkvm/cpu/mmode_map.py): pages become
              executable on first fetch, data pages stay fast        -> used
  + unmapped  the same with a UC_HOOK_MEM_UNMAPPED hook installed, never called:
              the hook rvkvm does not install                        -> avoided
Printed: bare / map and (map + hook) / map. No targets: these justify design choices.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    FINISHER_BASE, IMAGES, RAM_BASE, RAM_SIZE, UART0_BASE, median, raw_unicorn_with, report,
)


def run_workload(elf: str, mode: str) -> float:
    """Seconds of emu_start for `elf` from its entry to its finisher write."""
    import time

    from unicorn import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH, UC_HOOK_INTR, UC_HOOK_MEM_UNMAPPED
    from unicorn import riscv_const as rc

    from rvkvm.cpu.mmode_map import MachineModeMap

    uc, entry = raw_unicorn_with(elf)
    passed = []
    uc.mmio_map(UART0_BASE, 0x1000, lambda u, off, size, ud: 0x60 if off == 5 else 0, None,
                lambda u, off, size, value, ud: None, None)
    uc.mmio_map(FINISHER_BASE, 0x1000, lambda u, off, size, ud: 0, None,
                lambda u, off, size, value, ud: (passed.append(value), u.emu_stop()), None)
    uc.reg_write(rc.UC_RISCV_REG_MSTATUS, 3 << 13)           # FS on
    mmap = None
    if mode != "bare":
        mmap = MachineModeMap(uc, RAM_BASE, RAM_SIZE,
                              [(UART0_BASE, 0x1000), (FINISHER_BASE, 0x1000)])
        uc.reg_write(rc.UC_RISCV_REG_SATP, mmap.satp)
    if mode == "map+unmapped-hook":
        uc.hook_add(UC_HOOK_MEM_UNMAPPED, lambda *a: False)
    uc.reg_write(rc.UC_RISCV_REG_PRIV, 1)

    def on_trap(u, intno, ud):
        pc = u.reg_read(rc.UC_RISCV_REG_PC)
        if intno == 12 and mmap is not None and mmap.make_executable(pc - 4):
            u.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)
            u.reg_write(rc.UC_RISCV_REG_PC, pc - 4)          # first fetch: retry
        else:
            u.reg_write(rc.UC_RISCV_REG_PC, pc)              # an M CSR the runtime touches: skip
    uc.hook_add(UC_HOOK_INTR, on_trap)
    t0 = time.perf_counter()
    uc.emu_start(entry, 0)
    seconds = time.perf_counter() - t0
    if not passed or passed[0] & 0xFFFF != 0x5555:
        raise SystemExit(f"workload did not pass on raw Unicorn ({mode}): {passed}")
    return seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--elf", default=os.path.join(IMAGES, "workload.elf"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"engine_choices: {os.path.relpath(args.elf)} on raw Unicorn, median of {args.repeat}")
    times = {}
    for mode in ("bare", "map", "map+unmapped-hook"):
        times[mode] = median([run_workload(args.elf, mode) for _ in range(args.repeat)])
        print(f"  {mode:18s} {times[mode]:.3f} s")
    return [report("bare translation / M-mode map", times["bare"] / times["map"], "x"),
            report("unmapped hook installed / without", times["map+unmapped-hook"] / times["map"], "x")]


if __name__ == "__main__":
    main()
