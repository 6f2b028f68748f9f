/*
 * ecall_modes: ecall from U (8), S (9) and M (11), taken in M, then the
 * medeleg routing: a U ecall delegated to S (scause 8, sepc, sstatus.SPP = 0,
 * M not involved), S asking M with an ecall, and S ecalls delegated to S.
 */
#include "rvtest.h"

    TEST_NAME ecall_modes

    .text
    .globl test_main
test_main:
    /* 10: ecall from M */
    EXPECT_MTRAP 1f
.Lecall_m:
    ecall
    MISSED_TRAP 10
1:  la s2, .Lecall_m
    CHECK_MTRAP 10, CAUSE_ECALL_M, s2, zero, PRV_M

    /* 20: ecall from S, not delegated */
    EXPECT_MTRAP 1f
    ENTER_MODE PRV_S, .Lecall_s
.Lecall_s:
    ecall
    MISSED_TRAP 20
1:  la s2, .Lecall_s
    CHECK_MTRAP 20, CAUSE_ECALL_S, s2, zero, PRV_S

    /* 30: ecall from U, not delegated */
    EXPECT_MTRAP 1f
    ENTER_MODE PRV_U, .Lecall_u
.Lecall_u:
    ecall
    MISSED_TRAP 30
1:  la s2, .Lecall_u
    CHECK_MTRAP 30, CAUSE_ECALL_U, s2, zero, PRV_U

    /* 40: U ecall delegated to S; then S ecalls M (50) */
    li t0, 1 << CAUSE_ECALL_U
    csrw medeleg, t0
    csrr t1, medeleg
    CHECK_EQ 40, t1, t0
    la t0, rt_strap
    csrw stvec, t0
    ld s5, rt_mtrap_count
    EXPECT_MTRAP .Lback_in_m
    ENTER_MODE PRV_S, .Ls_part

.Ls_part:                           /* S */
    EXPECT_STRAP .Ls_back
    S_ENTER_U .Lu_part
.Lu_part:                           /* U */
    ecall
    MISSED_TRAP 41
.Ls_back:                           /* S, after the delegated trap */
    la s2, .Lu_part
    CHECK_STRAP 44, CAUSE_ECALL_U, s2, zero, PRV_U
    ld t0, rt_mtrap_count           /* M saw nothing */
    CHECK_EQ 48, t0, s5
.Ls_ecall:
    ecall                           /* not delegated: to M */
    MISSED_TRAP 50

.Lback_in_m:
    la s2, .Ls_ecall
    CHECK_MTRAP 50, CAUSE_ECALL_S, s2, zero, PRV_S
    ld t0, rt_strap_count
    CHECK_EQI 54, t0, 1

    /* 60: S ecalls delegated too: S takes its own ecall (scause 9, SPP = 1);
     * S gets back to M through an illegal instruction (not delegated) */
    li t0, (1 << CAUSE_ECALL_U) | (1 << CAUSE_ECALL_S)
    csrw medeleg, t0
    EXPECT_MTRAP .Lback_in_m2
    ENTER_MODE PRV_S, .Ls_part2

.Ls_part2:                          /* S */
    EXPECT_STRAP .Ls_back2
.Ls_ecall2:
    ecall
    MISSED_TRAP 60
.Ls_back2:
    la s2, .Ls_ecall2
    CHECK_STRAP 60, CAUSE_ECALL_S, s2, zero, PRV_S
.Ls_illegal:
    csrr t0, mscratch               /* M CSR from S: illegal, to M */
    MISSED_TRAP 64

.Lback_in_m2:
    la s2, .Ls_illegal
    LOAD_INSN32 s3, .Ls_illegal
    CHECK_MTRAP 70, CAUSE_ILLEGAL_INSN, s2, s3, PRV_S
    ld t0, rt_strap_count
    CHECK_EQI 74, t0, 2

    csrw medeleg, zero
    li a0, 0
    j rt_pass
