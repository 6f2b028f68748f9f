/*
 * fp: F and D with exact, bit-for-bit results and fflags: loads and stores
 * (NaN-boxing of single values), fadd.d, fmul.d, fdiv.s, fsqrt.s/.d, fmadd.d,
 * conversions with explicit rounding modes and saturation; mstatus.FS turns
 * Dirty after FP writes; with FS = 0 FP instructions (also fcsr access) are
 * illegal instructions with tval = their bits (the 2-byte c.fld: known_gaps.S).
 */
#include "rvtest.h"

#define FFLAGS_NX 0x01
#define FFLAGS_DZ 0x08
#define FFLAGS_NV 0x10

/* check fflags == want, then clear them */
.macro CHECK_FFLAGS code, want
    csrrw t0, fflags, zero
    CHECK_EQI \code, t0, \want
.endm

    TEST_NAME fp

    .text
    .globl test_main
test_main:
    li t0, MSTATUS_FS
    csrc mstatus, t0
    li t0, MSTATUS_FS_INITIAL
    csrs mstatus, t0
    csrw fcsr, zero
    la s0, fpdata

    /* 10: fadd.d 1.5 + 2.25 = 3.75, exact; FS becomes Dirty, SD set */
    fld fa0, 0(s0)
    fld fa1, 8(s0)
    fadd.d fa2, fa0, fa1
    fmv.x.d a0, fa2
    CHECK_EQI 10, a0, 0x400e000000000000
    CHECK_FFLAGS 11, 0
    csrr t0, mstatus
    li t1, MSTATUS_FS
    and t1, t0, t1
    CHECK_EQI 12, t1, MSTATUS_FS_DIRTY
    srli t1, t0, 63
    CHECK_EQI 13, t1, 1

    /* 20: fmul.d 3.0 * -2.5 = -7.5 */
    fld fa3, 16(s0)
    fld fa4, 24(s0)
    fmul.d fa5, fa3, fa4
    fmv.x.d a0, fa5
    CHECK_EQI 20, a0, 0xc01e000000000000
    CHECK_FFLAGS 21, 0

    /* 30: fdiv.s 1.0f / 3.0f = 0x3eaaaaab (round to nearest), inexact */
    flw ft0, 32(s0)
    flw ft1, 36(s0)
    fdiv.s ft2, ft0, ft1
    fmv.x.w a0, ft2
    li t0, 0xffffffff
    and a0, a0, t0
    CHECK_EQI 30, a0, 0x3eaaaaab
    CHECK_FFLAGS 31, FFLAGS_NX
    /* 32: the same rounded toward zero */
    fdiv.s ft3, ft0, ft1, rtz
    fmv.x.w a0, ft3
    li t0, 0xffffffff
    and a0, a0, t0
    CHECK_EQI 32, a0, 0x3eaaaaaa
    CHECK_FFLAGS 33, FFLAGS_NX

    /* 40: flw NaN-boxes: the upper 32 bits of the register are all ones */
    fmv.x.d a0, ft0
    CHECK_EQI 40, a0, 0xffffffff3f800000

    /* 50: fsqrt.d 2.0, fsqrt.s 4.0f */
    fld fa0, 40(s0)
    fsqrt.d fa1, fa0
    fmv.x.d a0, fa1
    CHECK_EQI 50, a0, 0x3ff6a09e667f3bcd
    CHECK_FFLAGS 51, FFLAGS_NX
    flw ft0, 48(s0)
    fsqrt.s ft1, ft0
    fmv.x.w a0, ft1
    CHECK_EQI 52, a0, 0x40000000
    CHECK_FFLAGS 53, 0

    /* 60: fmadd.d 3.0 * -2.5 + 2.25 = -5.25 */
    fld fa1, 8(s0)
    fmadd.d fa0, fa3, fa4, fa1
    fmv.x.d a0, fa0
    CHECK_EQI 60, a0, 0xc015000000000000

    /* 70: conversions: 3.75 -> int rtz 3, rne 4; -7.5 rdn -8, rne -8 (ties to even) */
    fcvt.w.d a0, fa2, rtz
    CHECK_EQI 70, a0, 3
    CHECK_FFLAGS 71, FFLAGS_NX
    fcvt.w.d a0, fa2, rne
    CHECK_EQI 72, a0, 4
    fcvt.l.d a0, fa5, rdn
    CHECK_EQI 73, a0, -8
    fcvt.l.d a0, fa5, rne
    CHECK_EQI 74, a0, -8
    fcvt.l.d a0, fa5, rup
    CHECK_EQI 75, a0, -7
    csrw fflags, zero
    /* 76: out of range saturates and raises NV */
    fld fa0, 56(s0)
    fcvt.l.d a0, fa0, rtz
    CHECK_EQI 76, a0, 0x7fffffffffffffff
    CHECK_FFLAGS 77, FFLAGS_NV
    /* 78: int -> double, double -> single */
    li a0, -7
    fcvt.d.w fa0, a0
    fmv.x.d a0, fa0
    CHECK_EQI 78, a0, 0xc01c000000000000
    fcvt.s.d ft0, fa2
    fmv.x.w a0, ft0
    CHECK_EQI 79, a0, 0x40700000

    /* 80: 1.0 / 0.0 = +inf, DZ */
    fmv.d.x fa1, zero
    fld fa0, 64(s0)
    fdiv.d fa0, fa0, fa1
    fmv.x.d a0, fa0
    CHECK_EQI 80, a0, 0x7ff0000000000000
    CHECK_FFLAGS 81, FFLAGS_DZ

    /* 90: fsd/fsw store the exact bits */
    la s1, fpout
    fsd fa2, 0(s1)
    ld a0, 0(s1)
    CHECK_EQI 90, a0, 0x400e000000000000
    fsw ft2, 8(s1)
    lwu a0, 8(s1)
    CHECK_EQI 91, a0, 0x3eaaaaab

    /* 92: the rounding mode in frm applies to dyn instructions */
    li t0, 1                        /* RTZ */
    csrw frm, t0
    flw ft0, 32(s0)
    flw ft1, 36(s0)
    fdiv.s ft3, ft0, ft1
    fmv.x.w a0, ft3
    li t0, 0xffffffff
    and a0, a0, t0
    CHECK_EQI 92, a0, 0x3eaaaaaa
    csrr t0, fcsr
    CHECK_EQI 93, t0, (1 << 5) | FFLAGS_NX
    csrw fcsr, zero

    /* 100: FS = 0: FP instructions are illegal, tval = the instruction */
    li t0, MSTATUS_FS
    csrc mstatus, t0
    EXPECT_MTRAP 1f
    .align 2
.Lfadd_off:
    fadd.d fa0, fa1, fa2
    MISSED_TRAP 100
1:  la s2, .Lfadd_off
    LOAD_INSN32 s3, .Lfadd_off
    CHECK_MTRAP 100, CAUSE_ILLEGAL_INSN, s2, s3, PRV_M
    EXPECT_MTRAP 1f
.Lfcsr_off:
    csrr a0, fcsr
    MISSED_TRAP 110
1:  la s2, .Lfcsr_off
    LOAD_INSN32 s3, .Lfcsr_off
    CHECK_MTRAP 110, CAUSE_ILLEGAL_INSN, s2, s3, PRV_M
    /* 120 (c.fld) is in known_gaps.S: Unicorn lets it run with FS = 0 */
    EXPECT_MTRAP 1f
.Lfmv_off:
    fmv.x.d a0, fa2
    MISSED_TRAP 130
1:  la s2, .Lfmv_off
    LOAD_INSN32 s3, .Lfmv_off
    CHECK_MTRAP 130, CAUSE_ILLEGAL_INSN, s2, s3, PRV_M
    /* 140: and FS stayed Off */
    csrr t0, mstatus
    li t1, MSTATUS_FS
    and t0, t0, t1
    CHECK_EQI 140, t0, 0

    li a0, 0
    j rt_pass

    .section .rodata
    .align 3
fpdata:
    .dword 0x3ff8000000000000       /*  0: 1.5 */
    .dword 0x4002000000000000       /*  8: 2.25 */
    .dword 0x4008000000000000       /* 16: 3.0 */
    .dword 0xc004000000000000       /* 24: -2.5 */
    .word  0x3f800000               /* 32: 1.0f */
    .word  0x40400000               /* 36: 3.0f */
    .dword 0x4000000000000000       /* 40: 2.0 */
    .word  0x40800000               /* 48: 4.0f */
    .word  0
    .dword 0x441158e460913d00       /* 56: 1e20 */
    .dword 0x3ff0000000000000       /* 64: 1.0 */

    .bss
    .align 3
fpout:  .space 16
