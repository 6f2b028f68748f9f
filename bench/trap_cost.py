"""Cost of one trap round trip under rvkvm, in microseconds.

A bare-metal program takes N traps in a loop, each to a handler that counts it,
steps the exception pc past the trapping instruction and returns (mret/sret).
The same loop with a nop in place of the trap is the reference:
(time with traps - time without) / N. Two trap kinds (ecall, illegal instruction)
at two levels:
  M  the program and its handler run in M-mode: under rvkvm the handler's CSR
     accesses and mret are emulated in Python too (M-mode is virtual);
  S  the program runs in S-mode and M delegates the trap to an S handler, as a
     Linux kernel's own traps are (the handler's CSRs and sret are native).
Each program checks it took exactly N traps and fails through the finisher if not.
At S also an H-CSR read (`csrr vsstatus` at HS), which Python completes without a
guest handler: the cost of each of a KVM host's H-CSR accesses.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Skip, build_elf, median, report, run_rvkvm_machine  # noqa: E402

TRAPS = {"ecall": "ecall", "illegal": ".word 0xc0001073   /* unimp: csrrw zero, cycle, zero */",
         "none": "nop; nop",
         # an H CSR read at HS: no guest handler runs, Python completes the instruction
         # (what KVM's ~500,000 H-CSR accesses of a kvm-host boot each cost)
         "hcsr": "csrr t0, 0x200      /* vsstatus */"}
GUEST_HANDLED = ("ecall", "illegal")    # the traps the program's own handler counts

PROLOGUE = """
    .globl _start
_start:
    li s2, {n}
    li s1, 0
"""
LOOP_AND_FINISH = """
loop:
    {trap}
    addi s2, s2, -1
    bnez s2, loop
    li t0, 0x100000
    li t1, 0x5555
    li t2, {expect}
    beq s1, t2, 1f
    li t1, 0x13333             /* fail code 1: wrong number of traps */
1:  sw t1, 0(t0)
2:  j 2b
"""
M_LEVEL = PROLOGUE + """
    la t0, m_handler
    csrw mtvec, t0
""" + LOOP_AND_FINISH + """
    .align 2
m_handler:
    addi s1, s1, 1
    csrr t0, mepc
    addi t0, t0, 4
    csrw mepc, t0
    mret
"""
S_LEVEL = PROLOGUE + """
    li t0, -1                  /* PMP: let S reach all memory (as QEMU requires) */
    csrw pmpaddr0, t0
    li t0, 0x1f
    csrw pmpcfg0, t0
    la t0, s_handler
    csrw stvec, t0
    li t0, (1 << 2) | (1 << 9) /* delegate illegal instruction, ecall from S */
    csrw medeleg, t0
    li t0, 3 << 11
    csrc mstatus, t0
    li t0, 1 << 11             /* MPP = S */
    csrs mstatus, t0
    la t0, loop
    csrw mepc, t0
    mret
""" + LOOP_AND_FINISH + """
    .align 2
s_handler:
    addi s1, s1, 1
    csrr t0, sepc
    addi t0, t0, 4
    csrw sepc, t0
    sret
"""


def program(level: str, trap: str, n: int) -> str:
    template = M_LEVEL if level == "M" else S_LEVEL
    return template.format(n=n, trap=TRAPS[trap], expect=n if trap in GUEST_HANDLED else 0)


def timed_run(level, trap, n):
    elf = build_elf(f"trap_{level}_{trap}", program(level, trap, n))
    status, seconds, kind = run_rvkvm_machine(elf)
    if status != 0:
        raise SystemExit(f"trap_cost: {level}-level {trap} program failed under rvkvm "
                         f"(exit status {status})")
    return seconds, kind


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--traps", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    n = args.traps
    print(f"trap_cost: {n} trap round trips per run, median of {args.repeat}")
    results = []
    for level in ("S", "M"):
        try:
            base = median([timed_run(level, "none", n)[0] for _ in range(args.repeat)])
        except Skip as why:
            print(f"  skipped: {why}")
            return [report("trap round trip", "skipped", "", None, None, str(why))]
        print(f"  {level}-level loop without traps: {base * 1e3:.1f} ms")
        for trap in ("ecall", "illegal") + (("hcsr",) if level == "S" else ()):
            t = median([timed_run(level, trap, n)[0] for _ in range(args.repeat)])
            cost = (t - base) / n * 1e6
            print(f"  {level}-level {trap:8s} {t * 1e3:8.1f} ms")
            results.append(report(f"{level}-level {trap} round trip", cost, "us"))
    return results


if __name__ == "__main__":
    main()
