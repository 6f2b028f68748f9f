/*
 * bench_vloop: bench_loop's loop (BENCH_ITERS iterations of 5 instructions)
 * run in VS mode under two-stage paging, for the V=1 / V=0 MIPS ratio of
 * bench/hypervisor.py (against bench_loop.elf in M).
 *
 * M builds an Sv39x4 G-stage identity map of the RAM gigapage (U RWX: G-stage
 * accesses are all U-level) and an Sv39 VS-stage identity map of the same
 * gigapage (RWX, no U), enters VS by mret (MPV = 1, MPP = S), where the loop
 * runs and ends with an ecall to M (not delegated). M checks the trap came
 * from VS (2, 3) and the loop's results against their closed forms (10, 11).
 * bench_vloop_small.elf is the same with BENCH_ITERS = 10000 (for the tests).
 */
#include "hyp.h"

#ifndef BENCH_ITERS
#define BENCH_ITERS 200000000
#endif

    TEST_NAME bench_vloop

#define RAM_GIGAPAGE    0x80000000
#define PTE_PPN(pa)     (((pa) >> 12) << 10)
#define LEAF_RWX_A_D    (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)

    .text
    .globl test_main
test_main:
    HYP_SETUP
    /* root index of GPA/VA 0x80000000: bits 40:30 (Sv39x4) and 38:30 (Sv39) = 2 */
    la t0, g_root
    li t1, PTE_PPN(RAM_GIGAPAGE) | LEAF_RWX_A_D | PTE_U
    sd t1, 2 * 8(t0)
    srli t0, t0, 12
    li t1, HGATP_MODE_SV39X4
    or t0, t0, t1
    csrw hgatp, t0
    la t0, vs_root                  /* a GPA: the G-stage is the identity */
    li t1, PTE_PPN(RAM_GIGAPAGE) | LEAF_RWX_A_D
    sd t1, 2 * 8(t0)
    srli t0, t0, 12
    li t1, SATP_MODE_SV39
    or t0, t0, t1
    csrw vsatp, t0
    hfence.gvma
    hfence.vvma

    EXPECT_MTRAP .Lback
    M_ENTER PRV_S, 1, vs_loop

.Lback:
    ld t0, rt_mcause                /* 2: the ecall came from VS */
    CHECK_EQI 2, t0, CAUSE_ECALL_VS
    ld t0, rt_mstatus               /* 3: with MPV = 1 */
    srli t0, t0, MSTATUS_MPV_SHIFT
    andi t0, t0, 1
    CHECK_EQI 3, t0, 1
    /* sum_{i=1..n} 3i = 3 n (n + 1) / 2 */
    li t4, 3 * BENCH_ITERS * (BENCH_ITERS + 1) / 2
    CHECK_EQ 10, s4, t4
    li t4, 3 * BENCH_ITERS
    CHECK_EQ 11, s3, t4
    csrw hgatp, zero
    csrw vsatp, zero
    li a0, 0
    j rt_pass

/* VS: the loop of bench_loop.S in s-registers (M's trap handler uses t0/t1) */
vs_loop:
    li s2, BENCH_ITERS
    li s3, 0                        /* s3 = 3 * i */
    li s4, 0                        /* s4 = sum of s3 */
    li s5, 0                        /* s5 = xor of s3 */
.Lloop:
    addi s3, s3, 3
    add s4, s4, s3
    xor s5, s5, s3
    addi s2, s2, -1
    bnez s2, .Lloop
    ecall
    MISSED_TRAP 4

    HYP_RUNTIME

    .bss
    .align 14                       /* the Sv39x4 root: 16 KiB, 16 KiB aligned */
g_root:     .space 16384
vs_root:    .space 4096
