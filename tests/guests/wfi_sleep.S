/*
 * wfi_sleep: sleep about 1 s in WFI. The CLINT timer is armed 1 s ahead (10 MHz
 * mtime), mie.MTIE is set with mstatus.MIE clear so WFI wakes without a trap, and
 * the guest waits until mtime passes the deadline, then passes through the finisher.
 * A host that implements WFI by sleeping spends little CPU time on this.
 */
#define CLINT_MTIMECMP  0x02004000
#define CLINT_MTIME     0x0200bff8
#include "finisher.h"
#define DELAY_TICKS     10000000   /* 1 s at 10 MHz */
#define MIP_MTIP        (1 << 7)
#define MSTATUS_MIE     (1 << 3)

    .text
    .globl _start
_start:
    csrci mstatus, MSTATUS_MIE
    li t0, CLINT_MTIME
    ld s0, 0(t0)
    li t1, DELAY_TICKS
    add s0, s0, t1                 /* s0 = deadline */
    li t0, CLINT_MTIMECMP
    sd s0, 0(t0)
    li t0, MIP_MTIP
    csrw mie, t0
    li t2, CLINT_MTIME
1:  wfi
    ld t1, 0(t2)
    bltu t1, s0, 1b
    FINISH_PASS
