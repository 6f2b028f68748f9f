/*
 * rdtime_loop: the time CSR read thousands of times from S and from U, as a
 * kernel and its vDSO do. It never goes backwards, it advances, and it agrees
 * with the CLINT's mtime read around it. rvkvm's engine serves these reads
 * itself (rvkvm/cpu/native_time.py): tests/test_native_time.py checks that
 * none of them trapped to Python, and that Python's path gives the same.
 *   10  S: READS reads, each >= the one before (10), the last above the first
 *       (11), mtime <= rdtime <= mtime read around it (12)
 *   20  U (scounteren.TM): the same (20, 21, 22)
 *   30  back in M by an ecall from U
 *   40  mcounteren = 0: rdtime in S is an illegal instruction again
 */
#include "rvtest.h"

#define READS 4000

.macro TIME_CHECKS code
    li s0, READS
    rdtime s1
    mv s2, s1
.Lloop\@:
    rdtime s3
    bgeu s3, s2, .Lforward\@
    FAIL_CHECK \code, s3, s2                /* went backwards */
.Lforward\@:
    mv s2, s3
    addi s0, s0, -1
    bnez s0, .Lloop\@
    CHECK_NE (\code + 1), s2, s1
    READ_MTIME s4
    rdtime s5
    READ_MTIME s6
    CHECK_RANGE (\code + 2), s5, s4, s6
.endm

    TEST_NAME rdtime_loop

    .text
    .globl test_main
test_main:
    li t0, COUNTEREN_TM
    csrw mcounteren, t0
    csrw scounteren, t0
    EXPECT_MTRAP .Lback
    ENTER_MODE PRV_S, .Ls
.Ls:
    TIME_CHECKS 10
    S_ENTER_U .Lu
.Lu:
    TIME_CHECKS 20
    ecall
    MISSED_TRAP 29
.Lback:
    ld t0, rt_mcause
    CHECK_EQI 30, t0, 8                     /* ecall from U */

    csrw mcounteren, zero
    EXPECT_ILLEGAL 40, PRV_S, rdtime a0

    li a0, 0
    j rt_pass
