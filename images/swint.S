/*
 * swint: software interrupts. M: writing the CLINT's msip raises mip.MSIP and
 * traps with mcause 0x8000000000000003 (the handler clears msip, which must
 * clear MSIP). S: with SSI delegated, `csrs sip, SSIP` in S traps to S with
 * scause 0x8000000000000001, SPP = S, sepc = the instruction after the
 * csrs (interrupts are evaluated immediately after a CSR write); clearing
 * sip.SSIP in the handler ends it. Then S sets sip.SSIP with SIE clear and
 * asks M to pass (ecall): M's mip shows the bit S set. Last, with SSI not
 * delegated, a pending SSI traps S code to M. Both
 * handlers restore every register they use.
 */
#include "rvtest.h"

/* give up after 5 s of mtime (rvkvm may take M interrupts only between time slices) */
#define TIMEOUT_TICKS (5 * TIMEBASE_HZ)

    TEST_NAME swint

    .text
    .globl test_main
test_main:
    la t0, m_handler
    csrw mtvec, t0
    li t0, MIP_MSIP
    csrw mie, t0
    li t0, CLINT_MSIP
    li t1, 1
    sw t1, 0(t0)
    READ_MTIME s1
    li t0, TIMEOUT_TICKS
    add s1, s1, t0
    li s3, 0x5303                   /* registers the handler uses: checked at 13 */
    li s4, 0x5404
    li t1, 0x7101
    li t2, 0x7202
    csrsi mstatus, MSTATUS_MIE
.Lm_wait:
    ld t0, m_fired
    bnez t0, .Lm_wait_end
    READ_MTIME t0
    bltu t0, s1, .Lm_wait
    li a0, 10                       /* 10: no M software interrupt */
    csrr a1, mip
    li a2, MIP_MSIP
    j rt_fail
.Lm_wait_end:
    csrci mstatus, MSTATUS_MIE
    CHECK_EQI 13, s3, 0x5303        /* 13: the handler gave back its registers */
    CHECK_EQI 14, s4, 0x5404
    CHECK_EQI 15, t1, 0x7101
    CHECK_EQI 16, t2, 0x7202
    csrr t0, mip                    /* 11: msip = 0 cleared MSIP */
    andi t0, t0, MIP_MSIP
    CHECK_EQI 11, t0, 0
    li t0, CLINT_MSIP
    lw t0, 0(t0)
    CHECK_EQI 12, t0, 0

    /* S software interrupt, delegated */
    la t0, s_handler
    csrw stvec, t0
    li t0, MIP_SSIP
    csrw mideleg, t0
    csrw mie, t0
    ENTER_MODE PRV_S, s_main

s_main:
    csrr t0, sip                    /* 20: nothing pending yet */
    andi t0, t0, MIP_SSIP
    CHECK_EQI 20, t0, 0
    csrsi sstatus, MSTATUS_SIE
    READ_MTIME s1
    li t0, TIMEOUT_TICKS
    add s1, s1, t0
    li s3, 0x5303                   /* registers the handler uses: checked at 24 */
    li t1, 0x7101
    csrsi sip, MIP_SSIP
.Ls_raised:
    ld t0, s_fired
    bnez t0, .Ls_wait_end
    READ_MTIME t0
    bltu t0, s1, .Ls_raised
    li a0, 21                       /* 21: no S software interrupt */
    csrr a1, sip
    li a2, MIP_SSIP
    j rt_fail
.Ls_wait_end:
    CHECK_EQI 24, s3, 0x5303        /* 24: the handler gave back its registers */
    CHECK_EQI 25, t1, 0x7101
    csrr t0, sip
    andi t0, t0, MIP_SSIP
    CHECK_EQI 22, t0, 0
    csrci sstatus, MSTATUS_SIE
    csrsi sip, MIP_SSIP             /* pending, not taken (SIE = 0): M sees it (53) */
    ecall
    MISSED_TRAP 23

    .align 2
s_handler:
    SAVE_REGS s
    csrr s3, scause
    CHECK_EQI 30, s3, CAUSE_IRQ(IRQ_SSI)
    csrr s3, sepc                   /* 31: taken right after the sip write (spec 3.1.9) */
    la t0, .Ls_raised
    CHECK_EQ 31, s3, t0
    csrr s3, sstatus
    andi t0, s3, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
    CHECK_EQI 32, t0, MSTATUS_SPP | MSTATUS_SPIE
    csrr t0, sip
    andi t0, t0, MIP_SSIP
    CHECK_EQI 33, t0, MIP_SSIP
    csrci sip, MIP_SSIP
    ld t0, s_fired
    addi t0, t0, 1
    sd t0, s_fired, t1
    RESTORE_REGS s
    sret

    .align 2
m_handler:
    SAVE_REGS m                     /* it may land between any two instructions */
    csrr s4, mcause
    bgez s4, .Lm_sync
    CHECK_EQI 40, s4, CAUSE_IRQ(IRQ_MSI)
    csrr t0, mepc
    la t1, .Lm_wait
    la t2, .Lm_wait_end
    CHECK_RANGE 41, t0, t1, t2
    csrr t0, mip
    andi t0, t0, MIP_MSIP
    CHECK_EQI 42, t0, MIP_MSIP
    li t0, CLINT_MSIP
    sw zero, 0(t0)
    ld t0, m_fired
    addi t0, t0, 1
    sd t0, m_fired, t1
    RESTORE_REGS m
    mret
.Lm_sync:                           /* S is done */
    CHECK_EQI 50, s4, CAUSE_ECALL_S
    ld t0, s_fired
    CHECK_EQI 51, t0, 1
    ld t0, m_fired
    CHECK_EQI 52, t0, 1
    csrr t0, mip                    /* 53: S's own sip.SSIP write is M's mip.SSIP */
    andi t0, t0, MIP_SSIP
    CHECK_EQI 53, t0, MIP_SSIP
    li t0, MIP_SSIP
    csrc mip, t0

    /* 60-63: SSI pending and enabled but not delegated: S code traps to M
     * (mcause 0x8000000000000001, MPP = S, mepc in S's loop), not to S */
    csrw mideleg, zero
    la t0, rt_mtrap
    csrw mtvec, t0
    la t0, s_handler_not_wanted
    csrw stvec, t0
    EXPECT_MTRAP .Lssi_in_m
    li t0, MIP_SSIP
    csrw mie, t0
    csrs mip, t0
    ENTER_MODE PRV_S, s_spin
.Lssi_in_m:
    ld t0, rt_mcause
    CHECK_EQI 60, t0, CAUSE_IRQ(IRQ_SSI)
    ld t0, rt_mepc
    la t1, s_spin
    la t2, .Ls_spin_end
    CHECK_RANGE 61, t0, t1, t2
    ld t0, rt_mstatus
    srli t0, t0, MSTATUS_MPP_SHIFT
    andi t0, t0, 3
    CHECK_EQI 62, t0, PRV_S
    csrw mie, zero
    li t0, MIP_SSIP
    csrc mip, t0
    /* 70-73: M goes on as M: its ecall traps with mcause 11 (an engine that
     * had taken the SSI itself would leave its own stale mcause there) */
    EXPECT_MTRAP 1f
.Lm_ecall:
    ecall
    MISSED_TRAP 70
1:  la s2, .Lm_ecall
    CHECK_MTRAP 70, CAUSE_ECALL_M, s2, zero, PRV_M
    j rt_pass

s_spin:                             /* SIE = 1: S would take it, if it were S's */
    csrsi sstatus, MSTATUS_SIE
    li t0, 100000000
1:  addi t0, t0, -1
    bnez t0, 1b
.Ls_spin_end:
    MISSED_TRAP 63
    .align 2
s_handler_not_wanted:
    li a0, 64                       /* 64: S took an interrupt it was not given */
    csrr a1, scause
    li a2, 0
    j rt_fail

    .bss
    .align 3
m_fired:    .dword 0
s_fired:    .dword 0
