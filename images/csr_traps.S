/*
 * csr_traps: privilege checks on CSRs and system instructions, each an
 * illegal-instruction trap to M with mtval = the instruction and MPP = the
 * mode that tried:
 *   mstatus.TW  (bit 21): wfi in S
 *   mstatus.TSR (bit 22): sret in S
 *   mstatus.TVM (bit 20): satp access and sfence.vma in S (allowed when clear)
 *   mcounteren/scounteren: rdtime in S and U (allowed when set; it then
 *                          reads the CLINT's mtime), rdcycle allowed when set
 *                          (rdcycle with the bit clear: known_gaps.S)
 *   U (entered by mret) touching mstatus, sstatus, or executing mret
 */
#include "rvtest.h"

/* Run `insn` in mode `prv`, expect no trap; back in M through an ecall. */
.macro EXPECT_ALLOWED code, prv, insn:vararg
    EXPECT_MTRAP .Lback\@
    ENTER_MODE \prv, .Ltry\@
.Ltry\@:
    \insn
.Lecall\@:
    ecall
    MISSED_TRAP \code
.Lback\@:
    ld t0, rt_mcause
    CHECK_EQI \code, t0, (8 + \prv)         /* ecall from that mode, not an illegal insn */
    la s2, .Lecall\@
    ld t0, rt_mepc
    CHECK_EQ (\code + 1), t0, s2
.endm

    TEST_NAME csr_traps

    .text
    .globl test_main
test_main:
    csrw mcounteren, zero
    csrw scounteren, zero

    /* 10: TW: wfi in S is illegal */
    li t0, MSTATUS_TW
    csrs mstatus, t0
    EXPECT_ILLEGAL 10, PRV_S, wfi
    li t0, MSTATUS_TW
    csrc mstatus, t0

    /* 20: TSR: sret in S is illegal (sepc points at a failure in case it is not) */
    li t0, MSTATUS_TSR
    csrs mstatus, t0
    la t0, .Ltsr_ignored
    csrw sepc, t0
    EXPECT_ILLEGAL 20, PRV_S, sret
    li t0, MSTATUS_TSR
    csrc mstatus, t0

    /* 30: TVM: satp read/write and sfence.vma in S are illegal */
    li t0, MSTATUS_TVM
    csrs mstatus, t0
    EXPECT_ILLEGAL 30, PRV_S, csrr a0, satp
    EXPECT_ILLEGAL 34, PRV_S, csrw satp, zero
    EXPECT_ILLEGAL 38, PRV_S, sfence.vma
    li t0, MSTATUS_TVM
    csrc mstatus, t0
    /* 42: without TVM they are allowed */
    EXPECT_ALLOWED 42, PRV_S, csrr a0, satp
    EXPECT_ALLOWED 44, PRV_S, sfence.vma

    /* 50: counters from S with mcounteren = 0 */
    EXPECT_ILLEGAL 50, PRV_S, rdtime a0
    /* 54 (rdcycle) is in known_gaps.S: Unicorn does not gate it */
    /* 60: mcounteren.TM/CY let S read them; rdtime agrees with mtime */
    li t0, COUNTEREN_TM | COUNTEREN_CY
    csrw mcounteren, t0
    READ_MTIME s4
    EXPECT_ALLOWED 60, PRV_S, rdtime s5
    READ_MTIME s6
    CHECK_RANGE 62, s5, s4, s6
    EXPECT_ALLOWED 64, PRV_S, rdcycle s5

    /* 70: U needs scounteren too */
    EXPECT_ILLEGAL 70, PRV_U, rdtime a0
    /* 74 (rdcycle) is in known_gaps.S */
    li t0, COUNTEREN_TM
    csrw scounteren, t0
    READ_MTIME s4
    EXPECT_ALLOWED 78, PRV_U, rdtime s5
    READ_MTIME s6
    CHECK_RANGE 80, s5, s4, s6
    /* 82 (rdcycle with CY clear in scounteren only) is in known_gaps.S */
    csrw mcounteren, zero                   /* scounteren.TM still set */
    EXPECT_ILLEGAL 86, PRV_U, rdtime a0     /* scounteren alone is not enough */
    csrw scounteren, zero

    /* 90: U (via mret with MPP = U) may not touch M or S CSRs, nor mret */
    EXPECT_ILLEGAL 90, PRV_U, csrr a0, mstatus
    EXPECT_ILLEGAL 94, PRV_U, csrw mscratch, a0
    EXPECT_ILLEGAL 98, PRV_U, csrr a0, sstatus
    EXPECT_ILLEGAL 102, PRV_U, mret
    EXPECT_ILLEGAL 106, PRV_U, sret
    /* 110: S may not touch M CSRs, nor mret */
    EXPECT_ILLEGAL 110, PRV_S, csrr a0, mepc
    EXPECT_ILLEGAL 114, PRV_S, mret

    li a0, 0
    j rt_pass

.Ltsr_ignored:
    li a0, 24
    j rt_fail_missed_trap

