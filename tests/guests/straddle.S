/* Fetch faults of instructions that straddle a page boundary.
 * 1. M-mode: a 4-byte instruction at 0x80000ffe runs into a page M code has not
 *    fetched from yet (rvkvm's M-mode map makes pages executable on first fetch).
 * 2. S-mode under Sv39: a 4-byte instruction at the end of a mapped page runs into an
 *    unmapped one: the fetch page fault must have mepc = the instruction's start and
 *    mtval = the start of the unmapped page (spec: the faulting portion).
 * Finisher: 0x5555 pass, (n << 16) | 0x3333 fail n. */
#include "finisher.h"
#define PTE_LEAF 0xcf                   /* V R W X A D */
.option norvc
.globl _start
_start:
    la t0, m_trap
    csrw mtvec, t0
    li t0, -1                           /* PMP: let S reach everything (QEMU enforces it) */
    csrw pmpaddr0, t0
    li t0, 0x1f                         /* NAPOT, R W X */
    csrw pmpcfg0, t0
    j part1
.balign 4096, 0
    .fill (4096 - 8 - 2) / 4, 4, 0x00000013     /* nops up to 0x80001ff6 */
part1:                                  /* at 0x80001ff6: page 0x80001000 */
    nop
    nop
    .option rvc
    c.nop                               /* 0x80001ffe - 2 */
    .option norvc
    addi s1, zero, 1                    /* 4 bytes at 0x80001ffe: straddles */
    j part2
    .2byte 0                            /* realign to 4 (the c.nop above shifted us by 2) */
part2:
    /* page tables: root -> L1 -> L0 identity for 0x80000000.., page S_HOLE unmapped */
    la t0, l0_table
    li t1, 1
    slli t1, t1, 31
    li t2, 512
1:  srli t3, t1, 12
    slli t3, t3, 10
    ori t3, t3, PTE_LEAF
    sd t3, 0(t0)
    addi t0, t0, 8
    li t4, 4096
    add t1, t1, t4
    addi t2, t2, -1
    bnez t2, 1b
    la t0, s_hole                       /* unmap the page after s_code's page */
    li t1, 1
    slli t1, t1, 31
    sub t0, t0, t1
    srli t0, t0, 12
    slli t0, t0, 3
    la t1, l0_table
    add t0, t0, t1
    sd zero, 0(t0)
    la t0, l0_table                     /* L1[0] -> L0 */
    srli t0, t0, 12
    slli t0, t0, 10
    ori t0, t0, 1
    la t1, l1_table
    sd t0, 0(t1)
    srli t1, t1, 12                     /* root[2] -> L1 */
    slli t1, t1, 10
    ori t1, t1, 1
    la t2, root_table
    sd t1, 16(t2)
    srli t2, t2, 12
    li t3, 8 << 60
    or t2, t2, t3
    csrw satp, t2
    sfence.vma
    li t0, 3 << 11                      /* MPP = S */
    csrc mstatus, t0
    li t0, 1 << 11
    csrs mstatus, t0
    la t0, s_code
    csrw mepc, t0
    li s2, 1                            /* part 2 running */
    mret

m_trap:
    csrr t0, mcause
    li t1, 12                           /* instruction page fault from S */
    li a0, 2
    bne t0, t1, fail
    csrr t0, mepc
    la t1, s_straddler
    li a0, 3
    bne t0, t1, fail
    csrr t0, mtval
    la t1, s_hole
    li a0, 4
    bne t0, t1, fail
    li a0, 5
    beqz s1, fail                       /* part 1 ran its straddling addi */
    FINISH_PASS
fail:
    FINISH_FAIL_A0

.balign 4096, 0
    .fill (4096 - 8 - 2) / 4, 4, 0x00000013
s_code:                                 /* S-mode, page before s_hole */
    nop
    nop
    .option rvc
    c.nop
    .option norvc
s_straddler:
    addi s3, zero, 1                    /* its second half is in s_hole: fetch page fault */
.set s_hole, s_straddler + 2            /* the page after s_code's, left unmapped */
.balign 4096, 0
root_table: .fill 512, 8, 0
l1_table:   .fill 512, 8, 0
l0_table:   .fill 512, 8, 0
