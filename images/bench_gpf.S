/*
 * bench_gpf: the cost of one guest-page-fault round trip (bench/hypervisor.py).
 *
 * VS (vsatp Bare, hgatp Sv39x4 mapping only the RAM gigapage, U RWX) runs a
 * loop of GPF_LOADS loads twice, timed by M with the CLINT's mtime:
 *   1. from a GPA the G-stage maps (a page of RAM): no trap;
 *   2. from GPA 0xC0000000, which it does not map: every load is a load
 *      guest-page fault taken in M (medeleg = 0), whose handler steps mepc
 *      past the load and mrets back into VS (MPV = 1, set by the trap).
 * It prints "bench_gpf: loads N mapped_ticks A faulting_ticks B" (mtime
 * ticks, 10 MHz), so (B - A) / N is one round trip, and passes.
 * Checks: no trap in loop 1 (2) and exactly N in loop 2 (3); after each loop
 * VS loads once more with s4 = 2, which the handler records: none in loop 1
 * (4), a load guest-page fault with mtval2 = GPA >> 2 in loop 2 (5, 6); each
 * run ends with an ecall from VS (7).
 */
#include "hyp.h"

#ifndef GPF_LOADS
#define GPF_LOADS 20000
#endif

    TEST_NAME bench_gpf

#define RAM_GIGAPAGE    0x80000000
#define GPA_UNMAPPED    0xC0000000
#define PTE_PPN(pa)     (((pa) >> 12) << 10)
#define LEAF_URWX_A_D   (PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D)

/* Registers shared by M and VS (neither saves them):
 *   s1 the GPA loaded, s2 loads left, s3 faults taken, s4 VS's request to the
 *   handler (0 step over the load, 2 record it and step, 1 back to M at s7),
 *   s5/s6 the recorded mcause/mtval2 */

/* run the VS loop loading from `gpa` (register), mtime before and after in
 * s8, s9; clobbers t0, t1 */
.macro RUN_LOADS gpa, back
    mv s1, \gpa
    li s2, GPF_LOADS
    li s3, 0
    li s4, 0
    li s5, 0
    li s6, 0
    la s7, \back
    READ_MTIME s8
    M_ENTER PRV_S, 1, vs_loads
\back:
    READ_MTIME s9
    csrr t0, mcause
    CHECK_EQI 7, t0, CAUSE_ECALL_VS
.endm

    .text
    .globl test_main
test_main:
    HYP_SETUP
    la t0, g_root
    li t1, PTE_PPN(RAM_GIGAPAGE) | LEAF_URWX_A_D
    sd t1, 2 * 8(t0)                /* root index of GPA 0x80000000 (bits 40:30) */
    srli t0, t0, 12
    li t1, HGATP_MODE_SV39X4
    or t0, t0, t1
    csrw hgatp, t0
    hfence.gvma
    la t0, gpf_mtrap
    csrw mtvec, t0

    la a0, gpf_data
    RUN_LOADS a0, .Lmapped_back
    sub s10, s9, s8                 /* mapped ticks */
    CHECK_EQI 2, s3, 0
    CHECK_EQI 4, s5, 0

    li a0, GPA_UNMAPPED
    RUN_LOADS a0, .Lfaulting_back
    sub s11, s9, s8                 /* faulting ticks */
    CHECK_EQI 3, s3, GPF_LOADS + 1
    CHECK_EQI 5, s5, CAUSE_LOAD_GUEST_PF
    CHECK_EQI 6, s6, GPA_UNMAPPED >> 2

    csrw hgatp, zero
    la a0, test_name
    call rt_puts
    PUTS ": loads "
    li a0, GPF_LOADS
    call rt_putdec
    PUTS " mapped_ticks "
    mv a0, s10
    call rt_putdec
    PUTS " faulting_ticks "
    mv a0, s11
    call rt_putdec
    li a0, '\n'
    call rt_putc
    li a0, 0
    j rt_pass

/* VS: GPF_LOADS loads, one recorded load, back to M. No compressed
 * instructions: the handler steps over a 4-byte load. */
    .option push
    .option norvc
vs_loads:
1:  ld a0, 0(s1)
    addi s2, s2, -1
    bnez s2, 1b
    li s4, 2
    ld a0, 0(s1)
    li s4, 1
    ecall
    .option pop
    MISSED_TRAP 8

/* M: the round trip under test is the first five instructions */
    .align 2
gpf_mtrap:
    bnez s4, 2f
1:  csrr t0, mepc
    addi t0, t0, 4
    csrw mepc, t0
    addi s3, s3, 1
    mret
2:  li t0, 1
    bne s4, t0, 3f
    jr s7                           /* the ecall ending a run */
3:  csrr s5, mcause
    csrr s6, mtval2
    j 1b

    HYP_RUNTIME

    .data
    .align 12
gpf_data:   .dword 0x1122334455667788
    .align 12

    .bss
    .align 14                       /* the Sv39x4 root: 16 KiB, 16 KiB aligned */
g_root:     .space 16384
