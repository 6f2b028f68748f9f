/*
 * wfi: WFI waits for an interrupt that is pending in mie even when
 * mstatus.MIE masks it. With mie.MTIE set and MIE clear, wfi must not return
 * before the timer fires (a few spurious wake-ups are tolerated, a wfi that
 * does not wait is not), no trap is taken, and time (rdtime and CLINT mtime)
 * has advanced past mtimecmp. Then setting MIE takes the pending interrupt
 * at once: mcause 0x8000000000000007, mepc = the instruction after the csrs.
 */
#include "rvtest.h"

#define DELAY_TICKS     (TIMEBASE_HZ / 50)      /* 20 ms */
#define MAX_WAKEUPS     100

    TEST_NAME wfi

    .text
    .globl test_main
test_main:
    csrci mstatus, MSTATUS_MIE
    li t0, MIP_MTIP
    csrw mie, t0

    /* 10: rdtime reads the CLINT's mtime */
    READ_MTIME s0
    rdtime s1
    READ_MTIME s2
    CHECK_RANGE 10, s1, s0, s2

    li t0, DELAY_TICKS
    add s3, s1, t0                  /* s3 = deadline */
    li t0, CLINT_MTIMECMP
    sd s3, 0(t0)
    csrr t0, mip                    /* 11: not pending yet */
    andi t0, t0, MIP_MTIP
    CHECK_EQI 11, t0, 0

    li s4, 0                        /* wake-ups */
.Lsleep:
    wfi
    addi s4, s4, 1
    csrr t0, mip
    andi t0, t0, MIP_MTIP
    bnez t0, .Lwoken
    li t0, MAX_WAKEUPS
    bltu s4, t0, .Lsleep
    li a0, 20                       /* 20: wfi kept returning with nothing pending */
    rdtime a1
    mv a2, s3
    j rt_fail
.Lwoken:
    rdtime s5
    CHECK_RANGE 21, s5, s3, s5      /* 21: time reached mtimecmp */
    sub t0, s5, s1
    li t1, DELAY_TICKS
    CHECK_RANGE 22, t0, t1, t0      /* 22: time advanced by the delay at least */
    ld t0, rt_mtrap_count           /* 23: no trap with MIE clear */
    CHECK_EQI 23, t0, 0
    csrr t0, mcause
    CHECK_EQI 24, t0, 0

    /* 30: setting MIE takes the pending timer interrupt immediately */
    EXPECT_MTRAP .Ltaken
    csrsi mstatus, MSTATUS_MIE
.Lafter_mie:
    nop
    nop
    nop
    nop
.Lafter_mie_end:
    MISSED_TRAP 30
.Ltaken:
    ld t0, rt_mcause
    CHECK_EQI 31, t0, CAUSE_IRQ(IRQ_MTI)
    /* The spec (3.1.9) has interrupt conditions evaluated immediately
     * after an explicit write to mstatus: mepc must be the next instruction. */
    ld t0, rt_mepc
    la t1, .Lafter_mie
    CHECK_EQ 32, t0, t1
    ld t0, rt_mstatus
    li t1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE
    and t0, t0, t1
    CHECK_EQI 33, t0, MSTATUS_MPP | MSTATUS_MPIE
    li t0, CLINT_MTIMECMP
    li t1, -1
    sd t1, 0(t0)
    csrw mie, zero
    li a0, 0
    j rt_pass
