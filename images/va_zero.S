/*
 * va_zero: S-mode code at virtual address 0 runs, as on hardware (riscv-tests
 * rv64si-p-icache-alias maps its code there). Sv39: VA 0 is a 4 KiB S page
 * (RX) onto zero_page; the image is identity-mapped by a gigapage, the
 * finisher page and the UART too (rt_fail works from S).
 *
 *   10, 11: a call to VA 0 runs its loop to the end and returns. The loop
 *           lasts many time slices and its block starts at VA 0, so slices
 *           also begin at pc 0.
 *   20, 21: sret with sepc = 0 enters the same code at VA 0.
 *   30:     the auipc at VA 12 reads 12.
 *   40..43: the ecall back to M.
 */
#include "rvtest.h"

    TEST_NAME va_zero

#define RAM_BASE    0x80000000
#define LEAF_RX     (PTE_V | PTE_R | PTE_X | PTE_A)
#define LEAF_RW     (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
#define LOOP_ITERS  3000000             /* ~10 ms on QEMU: several 2 ms slices */

/* table[index] = leaf or pointer PTE for physical address pa (both registers) */
.macro SET_PTE table, index, pa, flags
    la t0, \table
    li t1, \index * 8
    add t0, t0, t1
    srli t1, \pa, 12
    slli t1, t1, 10
    ori t1, t1, \flags
    sd t1, 0(t0)
.endm

    .text
    .globl test_main
test_main:
    addi sp, sp, -16
    sd ra, 8(sp)
    li t2, RAM_BASE
    SET_PTE l2_table, 2, t2, LEAF_RX | PTE_W | PTE_D    /* the image, 1 GiB */
    la t2, l1_table
    SET_PTE l2_table, 0, t2, PTE_V
    li t2, UART0_BASE
    SET_PTE l1_table, UART0_BASE >> 21, t2, LEAF_RW     /* 2 MiB */
    la t2, l0_table
    SET_PTE l1_table, 0, t2, PTE_V
    la t2, zero_page
    SET_PTE l0_table, 0, t2, LEAF_RX                    /* VA 0 */
    li t2, FINISHER_BASE
    SET_PTE l0_table, FINISHER_BASE >> 12, t2, LEAF_RW
    la t0, l2_table
    srli t0, t0, 12
    li t1, SATP_MODE_SV39
    or t0, t0, t1
    csrw satp, t0
    sfence.vma
    EXPECT_MTRAP .Lback_in_m
    ENTER_MODE PRV_S, s_main

.Lback_in_m:
    la s2, .Ls_done
    CHECK_MTRAP 40, CAUSE_ECALL_S, s2, zero, PRV_S
    csrw satp, zero
    sfence.vma
    ld ra, 8(sp)
    addi sp, sp, 16
    li a0, 0
    ret

/* ---- S mode, translated ---- */
s_main:
    /* 10, 11: call VA 0 */
    li a0, LOOP_ITERS
    li a1, 0
    jalr ra, 0(zero)
    CHECK_EQI 10, a1, 1
    CHECK_EQI 11, a0, 0

    /* 20, 21: sret to VA 0 (SPP = S); it returns to ra */
    li a0, 3
    li a1, 0
    la ra, .Lafter_sret
    li t0, MSTATUS_SPP
    csrs sstatus, t0
    csrw sepc, zero
    sret
.Lafter_sret:
    CHECK_EQI 20, a1, 1
    CHECK_EQI 21, a0, 0

    /* 30: auipc at VA 0 + 12 (the loop's last instruction) reads 12 */
    CHECK_EQI 30, a2, 12
.Ls_done:
    ecall
    MISSED_TRAP 44

/* Mapped at VA 0: count a0 down to 0, a1 = 1, a2 = its own pc + 0, back to ra.
 * Position-independent: it runs only at VA 0, never at its link address. */
    .align 12
    .option push
    .option norvc                   /* fixed offsets: the auipc is at 12 */
zero_page:
1:  addi a0, a0, -1
    bnez a0, 1b
    li a1, 1
    auipc a2, 0
    ret
    .option pop
    .align 12

    .bss
    .align 12
l2_table: .space 4096
l1_table: .space 4096
l0_table: .space 4096
