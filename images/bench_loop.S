/*
 * bench_loop: BENCH_ITERS iterations of a 5-instruction integer loop
 * (5 * BENCH_ITERS instructions), then pass: a MIPS measurement. The result
 * is checked against its closed form so that the loop cannot be skipped.
 */
#include "rvtest.h"

#ifndef BENCH_ITERS
#define BENCH_ITERS 200000000
#endif

    TEST_NAME bench_loop

    .text
    .globl test_main
test_main:
    li t0, BENCH_ITERS
    li t1, 0                        /* t1 = 3 * i */
    li t2, 0                        /* t2 = sum of t1 */
    li t3, 0                        /* t3 = xor of t1 */
.Lloop:
    addi t1, t1, 3
    add t2, t2, t1
    xor t3, t3, t1
    addi t0, t0, -1
    bnez t0, .Lloop
    /* sum_{i=1..n} 3i = 3 n (n + 1) / 2 */
    li t4, 3 * BENCH_ITERS * (BENCH_ITERS + 1) / 2
    CHECK_EQ 10, t2, t4
    li t4, 3 * BENCH_ITERS
    CHECK_EQ 11, t1, t4
    li a0, 0
    j rt_pass
