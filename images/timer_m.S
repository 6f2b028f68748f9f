/*
 * timer_m: an M timer interrupt from the CLINT. mtimecmp = mtime + 1 ms,
 * mie.MTIE, mstatus.MIE; the handler checks mcause = 0x8000000000000007,
 * that mepc lies in the loop that waited, MPP/MPIE/MIE, and that mip.MTIP is
 * set, then moves mtimecmp to the end of time, which must clear MTIP. The
 * handler restores every register it uses: the loop's values survive.
 */
#include "rvtest.h"

#define DELAY_TICKS     (TIMEBASE_HZ / 1000)    /* 1 ms */
#define TIMEOUT_TICKS   (5 * TIMEBASE_HZ)       /* give up after 5 s */

    TEST_NAME timer_m

    .text
    .globl test_main
test_main:
    la t0, mtimer_handler
    csrw mtvec, t0
    li t1, CLINT_MTIMECMP           /* 10: no timer pending with mtimecmp at the end of time */
    li t2, -1
    sd t2, 0(t1)
    csrr t0, mip
    andi t0, t0, MIP_MTIP
    CHECK_EQI 10, t0, 0

    READ_MTIME s0
    li t0, DELAY_TICKS
    add s1, s0, t0                  /* s1 = deadline */
    li t0, CLINT_MTIMECMP
    sd s1, 0(t0)
    li t0, MIP_MTIP
    csrs mie, t0
    li t0, TIMEOUT_TICKS
    add s2, s0, t0
    li s3, 0x5303                   /* registers the handler uses: checked at 34 */
    li t1, 0x7101
    csrsi mstatus, MSTATUS_MIE
.Lwait:
    ld t0, fired
    bnez t0, .Lwait_end
    READ_MTIME t0
    bltu t0, s2, .Lwait
    li a0, 20                       /* 20: no interrupt within the timeout */
    mv a1, t0
    mv a2, s1
    j rt_fail
.Lwait_end:
    /* 34: the handler gave back the registers it used */
    CHECK_EQI 34, s3, 0x5303
    CHECK_EQI 35, t1, 0x7101
    /* 30: back from mret: MIE restored from MPIE, interrupt no longer pending */
    csrr t0, mstatus
    andi t0, t0, MSTATUS_MIE
    CHECK_EQI 30, t0, MSTATUS_MIE
    csrr t0, mip
    andi t0, t0, MIP_MTIP
    CHECK_EQI 31, t0, 0
    /* 32: it fired no earlier than mtimecmp */
    ld t0, fired_at
    CHECK_RANGE 32, t0, s1, s2
    ld t0, fired
    CHECK_EQI 33, t0, 1
    csrci mstatus, MSTATUS_MIE
    li a0, 0
    j rt_pass

    .align 2
mtimer_handler:
    SAVE_REGS m                     /* it may land between any two instructions */
    csrr s3, mcause
    CHECK_EQI 40, s3, CAUSE_IRQ(IRQ_MTI)
    csrr s3, mepc                   /* 41: the trap interrupted the wait loop */
    la t0, .Lwait
    la t1, .Lwait_end
    CHECK_RANGE 41, s3, t0, t1
    csrr s3, mstatus
    srli t0, s3, MSTATUS_MPP_SHIFT
    andi t0, t0, 3
    CHECK_EQI 42, t0, PRV_M
    andi t0, s3, MSTATUS_MPIE | MSTATUS_MIE
    CHECK_EQI 43, t0, MSTATUS_MPIE
    csrr t0, mip
    andi t0, t0, MIP_MTIP
    CHECK_EQI 44, t0, MIP_MTIP
    csrr t0, mtval
    CHECK_EQI 45, t0, 0
    READ_MTIME t0
    sd t0, fired_at, t1
    li t0, CLINT_MTIMECMP
    li t1, -1
    sd t1, 0(t0)
    ld t0, fired
    addi t0, t0, 1
    sd t0, fired, t1
    RESTORE_REGS m
    mret

    .bss
    .align 3
fired:      .dword 0
fired_at:   .dword 0
