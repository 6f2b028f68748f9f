/*
 * exceptions: every synchronous exception an M-mode RV64GC hart can take on
 * its own, each checked for mcause, mepc (exact, also for 2-byte
 * instructions), mtval and mstatus.MPP; also that the faulting instruction
 * had no effect. (The misaligned SC is in known_gaps.S.)
 */
#include "rvtest.h"

    TEST_NAME exceptions

    .text
    .globl test_main
test_main:
    /* 10: illegal 32-bit instruction (unimp = csrrw x0, cycle, x0): tval = its bits */
    EXPECT_MTRAP 1f
    .align 2
.Lill32:
    .word 0xc0001073
    MISSED_TRAP 10
1:  la s2, .Lill32
    LOAD_INSN32 s3, .Lill32
    CHECK_EQI 14, s3, 0xc0001073
    CHECK_MTRAP 10, CAUSE_ILLEGAL_INSN, s2, s3, PRV_M

    /* 20: illegal 16-bit c.unimp (all zeros): tval = 0 */
    EXPECT_MTRAP 1f
.Lill16_zero:
    .half 0
    MISSED_TRAP 20
1:  la s2, .Lill16_zero
    CHECK_MTRAP 20, CAUSE_ILLEGAL_INSN, s2, zero, PRV_M

    /* 24: illegal 16-bit c.addi4spn with nzuimm = 0 (reserved), at a 2-mod-4
     * address: tval = the 16 bits, zero-extended */
    .align 2
    c.nop
    EXPECT_MTRAP 1f
    .option push
    .option norvc
    nop                             /* keep .Lill16 at 2 mod 4 after the 4-byte li/sd */
    .option pop
    c.nop
.Lill16:
    .half 0x0004
    MISSED_TRAP 24
1:  la s2, .Lill16
    li s3, 0x0004
    CHECK_MTRAP 24, CAUSE_ILLEGAL_INSN, s2, s3, PRV_M

    /* 30: ebreak (4 bytes): tval is 0 or the pc (both allowed by the spec) */
    EXPECT_MTRAP 1f
    .option push
    .option norvc
.Lebreak:
    ebreak
    .option pop
    MISSED_TRAP 30
1:  la s2, .Lebreak
    ld s3, rt_mtval
    beqz s3, 2f
    mv s3, s2
2:  CHECK_MTRAP 30, CAUSE_BREAKPOINT, s2, s3, PRV_M

    /* 34: c.ebreak (2 bytes) */
    EXPECT_MTRAP 1f
.Lcebreak:
    c.ebreak
    MISSED_TRAP 34
1:  la s2, .Lcebreak
    ld s3, rt_mtval
    beqz s3, 2f
    mv s3, s2
2:  CHECK_MTRAP 34, CAUSE_BREAKPOINT, s2, s3, PRV_M
    LOAD_INSN16 s3, .Lcebreak
    CHECK_EQI 38, s3, 0x9002

    /* 40: load access fault from an unmapped address; rd keeps its value */
    li s1, UNMAPPED_ADDR
    li a0, 0x1234
    EXPECT_MTRAP 1f
.Lload_fault:
    ld a0, 8(s1)
    MISSED_TRAP 40
1:  la s2, .Lload_fault
    addi s3, s1, 8
    CHECK_MTRAP 40, CAUSE_LOAD_ACCESS, s2, s3, PRV_M
    CHECK_EQI 44, a0, 0x1234

    /* 50: store access fault */
    EXPECT_MTRAP 1f
.Lstore_fault:
    sw a0, 16(s1)
    MISSED_TRAP 50
1:  la s2, .Lstore_fault
    addi s3, s1, 16
    CHECK_MTRAP 50, CAUSE_STORE_ACCESS, s2, s3, PRV_M

    /* 54: an AMO to an unmapped address is a store/AMO access fault (7) */
    addi s3, s1, 32
    li a0, 0x5678
    EXPECT_MTRAP 1f
.Lamo_fault:
    amoadd.w a0, a1, (s3)
    MISSED_TRAP 54
1:  QEMU_QUIRK_MCAUSE CAUSE_LOAD_ACCESS, CAUSE_STORE_ACCESS
    la s2, .Lamo_fault
    CHECK_MTRAP 54, CAUSE_STORE_ACCESS, s2, s3, PRV_M
    CHECK_EQI 58, a0, 0x5678

    /* 60: misaligned AMO: store/AMO address misaligned, memory untouched */
    la s4, scratch
    li t0, 0x1111111111111111
    sd t0, 0(s4)
    sd t0, 8(s4)
    addi s3, s4, 2
    li a1, 1
    EXPECT_MTRAP 1f
.Lamo_misaligned:
    amoadd.w a0, a1, (s3)
    MISSED_TRAP 60
1:  QEMU_QUIRK_MCAUSE CAUSE_LOAD_MISALIGNED, CAUSE_STORE_MISALIGNED
    la s2, .Lamo_misaligned
    CHECK_MTRAP 60, CAUSE_STORE_MISALIGNED, s2, s3, PRV_M
    ld t0, 0(s4)
    CHECK_EQI 64, t0, 0x1111111111111111

    /* 70: amoswap.d at a 4-aligned, not 8-aligned address */
    addi s3, s4, 4
    EXPECT_MTRAP 1f
.Lamod_misaligned:
    amoswap.d a0, a1, (s3)
    MISSED_TRAP 70
1:  QEMU_QUIRK_MCAUSE CAUSE_LOAD_MISALIGNED, CAUSE_STORE_MISALIGNED
    la s2, .Lamod_misaligned
    CHECK_MTRAP 70, CAUSE_STORE_MISALIGNED, s2, s3, PRV_M
    ld t0, 8(s4)
    CHECK_EQI 74, t0, 0x1111111111111111

    /* 80: misaligned LR: load address misaligned */
    addi s3, s4, 2
    li a0, 0x77
    EXPECT_MTRAP 1f
.Llr_misaligned:
    lr.w a0, (s3)
    MISSED_TRAP 80
1:  la s2, .Llr_misaligned
    CHECK_MTRAP 80, CAUSE_LOAD_MISALIGNED, s2, s3, PRV_M
    CHECK_EQI 84, a0, 0x77

    /* 90, 94 (misaligned SC) are in known_gaps.S: Unicorn does not trap */

    /* 100: ecall from M: tval = 0 */
    EXPECT_MTRAP 1f
.Lecall:
    ecall
    MISSED_TRAP 100
1:  la s2, .Lecall
    CHECK_MTRAP 100, CAUSE_ECALL_M, s2, zero, PRV_M

    /* 110: instruction access fault: jump to an unmapped address;
     * epc = tval = the target, ra was written by the jalr */
    li s3, UNMAPPED_ADDR
    EXPECT_MTRAP 1f
.Ljump:
    jalr ra, 0(s3)
    MISSED_TRAP 110
1:  CHECK_MTRAP 110, CAUSE_INSN_ACCESS, s3, s3, PRV_M
    la s2, .Ljump
    addi s2, s2, 4
    CHECK_EQ 114, ra, s2

    /* 120: the same at a 2-aligned target (legal with C) */
    li s3, UNMAPPED_ADDR + 0x102
    EXPECT_MTRAP 1f
    jr s3
    MISSED_TRAP 120
1:  CHECK_MTRAP 120, CAUSE_INSN_ACCESS, s3, s3, PRV_M

    /* 140-159: compressed loads/stores with every offset bit set fault with
     * tval = base + offset (rvkvm decodes the offset: the engine gives no tval) */
    mv s5, sp
    li sp, UNMAPPED_ADDR
    EXPECT_MTRAP 1f
.Lc_sdsp:
    c.sdsp a0, 504(sp)              /* 140: uimm[5:3] and [8:6] */
    MISSED_TRAP 140
1:  mv sp, s5
    la s2, .Lc_sdsp
    li s3, UNMAPPED_ADDR + 504
    CHECK_MTRAP 140, CAUSE_STORE_ACCESS, s2, s3, PRV_M
    li sp, UNMAPPED_ADDR
    EXPECT_MTRAP 1f
.Lc_swsp:
    c.swsp a0, 252(sp)              /* 144: uimm[5:2] and [7:6] */
    MISSED_TRAP 144
1:  mv sp, s5
    la s2, .Lc_swsp
    li s3, UNMAPPED_ADDR + 252
    CHECK_MTRAP 144, CAUSE_STORE_ACCESS, s2, s3, PRV_M
    li sp, UNMAPPED_ADDR
    EXPECT_MTRAP 1f
.Lc_ldsp:
    c.ldsp a0, 504(sp)              /* 148: uimm[5], [4:3], [8:6] */
    MISSED_TRAP 148
1:  mv sp, s5
    la s2, .Lc_ldsp
    li s3, UNMAPPED_ADDR + 504
    CHECK_MTRAP 148, CAUSE_LOAD_ACCESS, s2, s3, PRV_M
    EXPECT_MTRAP 1f
.Lc_sd:
    c.sd a0, 248(s1)                /* 152: uimm[5:3] and [7:6] */
    MISSED_TRAP 152
1:  la s2, .Lc_sd
    addi s3, s1, 248
    CHECK_MTRAP 152, CAUSE_STORE_ACCESS, s2, s3, PRV_M
    EXPECT_MTRAP 1f
.Lc_sw:
    c.sw a0, 124(s1)                /* 156: uimm[5:3], [2] and [6] */
    MISSED_TRAP 156
1:  la s2, .Lc_sw
    addi s3, s1, 124
    CHECK_MTRAP 156, CAUSE_STORE_ACCESS, s2, s3, PRV_M

    /* 130: one trap per case, none unexpected */
    ld t0, rt_mtrap_count
    CHECK_EQI 130, t0, 19

    li a0, 0
    j rt_pass

    .bss
    .align 4
scratch:
    .space 16
