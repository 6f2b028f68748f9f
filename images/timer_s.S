/*
 * timer_s: a supervisor timer interrupt the way SBI firmware makes one.
 * M delegates STI (mideleg bit 5) and runs S with sie.STIE/sstatus.SIE. When
 * M's own timer fires (taken in M although S is running: mcause ...07,
 * MPP = S), M sets mip.STIP and masks MTIE; S then takes scause
 * 0x8000000000000005 with sepc in its wait loop and SPP = S, and asks M by
 * ecall (a7 = 1) to clear STIP. S finishes with an ecall a7 = 2. Both
 * handlers restore every register they use: S's values survive.
 */
#include "rvtest.h"

#define DELAY_TICKS     (TIMEBASE_HZ / 1000)
#define TIMEOUT_TICKS   (5 * TIMEBASE_HZ)

#define REQ_CLEAR_STIP  1
#define REQ_DONE        2

    TEST_NAME timer_s

    .text
    .globl test_main
test_main:
    la t0, m_handler
    csrw mtvec, t0
    la t0, s_handler
    csrw stvec, t0
    li t0, MIP_STIP
    csrw mideleg, t0
    csrr t1, mideleg                /* 10: STI delegable (H harts force VS bits on too) */
    and t1, t1, t0
    CHECK_EQ 10, t1, t0
    csrw mip, zero
    li t0, MIP_MTIP | MIP_STIP
    csrw mie, t0

    READ_MTIME s0
    li t0, DELAY_TICKS
    add s1, s0, t0
    li t0, CLINT_MTIMECMP
    sd s1, 0(t0)
    li t0, TIMEOUT_TICKS
    add s2, s0, t0
    li s3, 0x5303                   /* registers the handlers use: checked at 34 */
    li s4, 0x5404
    li t1, 0x7101
    li a7, 0xa707
    ENTER_MODE PRV_S, s_main

/* S mode: enable, wait for the S timer interrupt, report to M */
s_main:
    csrsi sstatus, MSTATUS_SIE
.Ls_wait:
    ld t0, s_fired
    bnez t0, .Ls_wait_end
    READ_MTIME t0                   /* bare mode, PMP open: S reads the CLINT */
    bltu t0, s2, .Ls_wait
    li a0, 20                       /* 20: nothing within the timeout */
    ld a1, m_fired
    li a2, 1
    j rt_fail
.Ls_wait_end:
    /* 34: both handlers gave back the registers they used */
    CHECK_EQI 34, s3, 0x5303
    CHECK_EQI 35, s4, 0x5404
    CHECK_EQI 36, t1, 0x7101
    CHECK_EQI 37, a7, 0xa707
    csrr t0, sip                    /* 30: M cleared STIP */
    andi t0, t0, MIP_STIP
    CHECK_EQI 30, t0, 0
    ld t0, m_fired
    CHECK_EQI 31, t0, 1
    ld t0, s_fired
    CHECK_EQI 32, t0, 1
    li a7, REQ_DONE
    ecall
    MISSED_TRAP 33

    .align 2
s_handler:
    SAVE_REGS s                     /* it may land between any two instructions */
    csrr s3, scause
    CHECK_EQI 40, s3, CAUSE_IRQ(IRQ_STI)
    csrr s3, sepc
    la t0, .Ls_wait
    la t1, .Ls_wait_end
    CHECK_RANGE 41, s3, t0, t1
    csrr s3, sstatus
    andi t0, s3, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
    CHECK_EQI 42, t0, MSTATUS_SPP | MSTATUS_SPIE
    csrr t0, sip
    andi t0, t0, MIP_STIP
    CHECK_EQI 43, t0, MIP_STIP
    csrr t0, stval
    CHECK_EQI 44, t0, 0
    li a7, REQ_CLEAR_STIP
    ecall
    csrr t0, sip
    andi t0, t0, MIP_STIP
    CHECK_EQI 45, t0, 0
    ld t0, s_fired
    addi t0, t0, 1
    sd t0, s_fired, t1
    RESTORE_REGS s
    sret

/* M mode: the timer interrupt and S's requests */
    .align 2
m_handler:
    SAVE_REGS m
    csrr s4, mcause
    bgez s4, .Lm_sync
    CHECK_EQI 50, s4, CAUSE_IRQ(IRQ_MTI)
    csrr t0, mstatus
    srli t0, t0, MSTATUS_MPP_SHIFT
    andi t0, t0, 3
    CHECK_EQI 51, t0, PRV_S
    ld t0, m_fired
    addi t0, t0, 1
    sd t0, m_fired, t1
    li t0, MIP_MTIP
    csrc mie, t0
    li t0, MIP_STIP
    csrs mip, t0
    RESTORE_REGS m
    mret
.Lm_sync:
    CHECK_EQI 60, s4, CAUSE_ECALL_S
    csrr t0, mepc
    addi t0, t0, 4
    csrw mepc, t0
    li t0, REQ_CLEAR_STIP
    bne a7, t0, 1f
    li t0, MIP_STIP
    csrc mip, t0
    RESTORE_REGS m
    mret
1:  CHECK_EQI 61, a7, REQ_DONE
    li t0, CLINT_MTIMECMP
    li t1, -1
    sd t1, 0(t0)
    csrw mideleg, zero
    j rt_pass

    .bss
    .align 3
m_fired:    .dword 0
s_fired:    .dword 0
