/*
 * sbi_sleep: an S-mode payload that sleeps in WFI for an hour. It asks the SBI for a
 * timer interrupt an hour ahead, enables only sie.STIE (sstatus.SIE stays clear, so a
 * wake-up takes no trap) and loops on WFI. Whatever runs it (the built-in SBI, or
 * rvkvm's hypervisor with --guest) has the hart asleep until then: the gdb tests
 * interrupt it there (tests/test_gdb_guest.py).
 */
#include "sbi_payload.h"
#define HOUR_TICKS   36000000000    /* at the virt machine's 10 MHz timebase */

    LINUX_BANNER

    .text
    .globl _start
_start:
    rdtime a0
    li t0, HOUR_TICKS
    add a0, a0, t0
    li a7, SBI_EXT_TIME
    li a6, 0                        /* sbi_set_timer(now + 1 h) */
    ecall
    li t0, SIP_STIP
    csrs sie, t0
    .globl asleep
asleep:
    wfi
    j asleep
