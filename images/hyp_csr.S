/*
 * hyp_csr: the H-extension CSRs and their WARL masks, from M and HS.
 *
 *   1   misa.H
 *   10  mideleg: VS interrupt bits 2, 6, 10 read-only 1 (also after writing
 *       0); SGEI (12) read-only 1 when GEILEN > 0 (hgeie has writable bits)
 *   20  hstatus: VSXL reads 2 (after writing 0 or all ones); GVA, SPV, SPVP,
 *       HU, VTVM, VTW, VTSR writable
 *   30  hedeleg: bits 9-11 and 20-23 read-only 0; 1-8, 12, 13, 15 writable
 *   40  hideleg: only 2, 6, 10 of bits 1, 2, 5, 6, 9, 10, 12 writable
 *   50  hvip: VSSIP/VSTIP/VSEIP writable, reflected in hip and mip; hip.VSSIP
 *       writes hvip.VSSIP
 *   60  hie: VSSIE/VSTIE/VSEIE (SGEIE when GEILEN > 0) writable, aliases in mie
 *   70  hcounteren reads and writes; hgeie bit 0 read-only 0; hgeip read-only;
 *       htval, htinst, htimedelta, henvcfg read and write
 *  100  hgatp: Sv39x4 and Sv48x4 with all-ones VMID read back (VMID bits
 *       implemented from the bottom), PPN bits 1:0 read 0; a reserved mode
 *       leaves a legal mode
 *  120  VS CSRs from M: vsstatus (UXL = 2), vsie/vsip follow hideleg and
 *       hvip, vstvec, vsscratch, vsepc (bit 0 clear), vscause, vstval, vsatp
 *  140  mstatus.MPV and GVA writable; mtval2 and mtinst exist
 *  150  from HS the H and VS CSRs read and write without a trap
 *  160  from U (hstatus.HU = 0) an H or VS CSR is illegal (tval = the instruction)
 */
#include "hyp.h"

    TEST_NAME hyp_csr

#define VS_INTS     MIP_VS_ALL                      /* 0x444 */
#define S_INTS      (MIP_SSIP | MIP_STIP | MIP_SEIP | MIP_SGEIP)
#define VS_AS_S     (MIP_SSIP | MIP_STIP | (1 << 9))  /* 0x222 */
#define HSTATUS_RW  (HSTATUS_GVA | HSTATUS_SPV | HSTATUS_SPVP | HSTATUS_HU | HSTATUS_VTVM | HSTATUS_VTW | HSTATUS_VTSR)
#define HEDELEG_RO0 ((7 << 9) | (0xf << 20))
#define HEDELEG_RW  (0x1fe | (1 << 12) | (1 << 13) | (1 << 15))

/* write `val` (an immediate) to `csr`, read it back into `reg` */
.macro WRITE_READ reg, csr, val
    li \reg, \val
    csrw \csr, \reg
    csrr \reg, \csr
.endm

/* reg &= mask (immediate) */
.macro MASK reg, mask
    li t6, \mask
    and \reg, \reg, t6
.endm

    .text
    .globl test_main
test_main:
    HYP_REQUIRE_H
    la t0, hyp_mtrap
    csrw mtvec, t0

    /* s11 = the guest external interrupts implemented (GEILEN > 0: nonzero) */
    WRITE_READ s11, hgeie, -1
    csrw hgeie, zero
    li s10, 0                       /* s10 = SGEI's bit where it must read 1 */
    beqz s11, 1f
    li s10, MIP_SGEIP
1:
    /* ---- 10: mideleg ---- */
    csrr t0, mideleg
    MASK t0, VS_INTS
    CHECK_EQI_QEMU 10, t0, VS_INTS      /* QEMU 7.2 reads 0 until written */
    WRITE_READ t0, mideleg, 0           /* (bit 12 is free when GEILEN = 0) */
    ori t1, s10, VS_INTS
    and t0, t0, t1
    CHECK_EQ 11, t0, t1

    /* ---- 20: hstatus ---- */
    WRITE_READ t0, hstatus, 0
    srli t0, t0, HSTATUS_VSXL_SHIFT
    andi t0, t0, 3
    CHECK_EQI 20, t0, 2
    WRITE_READ t0, hstatus, -1
    srli t1, t0, HSTATUS_VSXL_SHIFT
    andi t1, t1, 3
    CHECK_EQI 21, t1, 2
    MASK t0, HSTATUS_RW
    CHECK_EQI 22, t0, HSTATUS_RW
    csrw hstatus, zero

    /* ---- 30: hedeleg ---- */
    WRITE_READ t0, hedeleg, -1
    MASK t0, HEDELEG_RO0
    CHECK_EQI 30, t0, 0
    csrr t0, hedeleg
    MASK t0, HEDELEG_RW
    CHECK_EQI 31, t0, HEDELEG_RW
    WRITE_READ t0, hedeleg, 0
    CHECK_EQI 32, t0, 0

    /* ---- 40: hideleg ---- */
    WRITE_READ t0, hideleg, -1
    MASK t0, VS_INTS | S_INTS
    CHECK_EQI 40, t0, VS_INTS
    WRITE_READ t0, hideleg, 0
    CHECK_EQI 41, t0, 0

    /* ---- 50: hvip, hip, mip ---- */
    WRITE_READ t0, hvip, -1
    MASK t0, 0xffff
    CHECK_EQI 50, t0, VS_INTS
    csrr t0, hip
    MASK t0, VS_INTS
    CHECK_EQI 51, t0, VS_INTS
    csrr t0, mip
    MASK t0, VS_INTS
    CHECK_EQI 52, t0, VS_INTS
    csrw hvip, zero
    csrr t0, hip
    MASK t0, VS_INTS
    CHECK_EQI 53, t0, 0
    csrsi hip, MIP_VSSIP                /* hip.VSSIP aliases hvip.VSSIP */
    csrr t0, hvip
    CHECK_EQI 54, t0, MIP_VSSIP
    csrw hvip, zero

    /* ---- 60: hie and mie ---- */
    WRITE_READ t0, hie, -1              /* (SGEIE is free when GEILEN = 0) */
    MASK t0, VS_INTS | MIP_SSIP | MIP_STIP | MIP_SEIP
    CHECK_EQI 60, t0, VS_INTS
    csrr t0, hie
    li t1, MIP_SGEIP
    and t0, t0, t1
    and t1, t1, s10
    beqz s10, 1f                        /* 63: SGEIE writable when GEILEN > 0 */
    CHECK_EQ 63, t0, t1
1:
    csrr t0, mie
    MASK t0, VS_INTS
    CHECK_EQI 61, t0, VS_INTS
    WRITE_READ t0, hie, 0
    CHECK_EQI 62, t0, 0

    /* ---- 70: hcounteren, hgeie, hgeip, htval, htinst, htimedelta, henvcfg ---- */
    WRITE_READ t0, hcounteren, 0
    CHECK_EQI 71, t0, 0
    andi t0, s11, 1                     /* 72: hgeie bit 0 read-only 0 */
    CHECK_EQI 72, t0, 0
    csrr t0, hgeip
    andi t0, t0, 1
    CHECK_EQI 73, t0, 0
    WRITE_READ t0, htval, 0
    CHECK_EQI 74, t0, 0
    WRITE_READ t0, htinst, 0
    CHECK_EQI 75, t0, 0
    WRITE_READ t0, htimedelta, 0x123456789abcdef0
    CHECK_EQI 76, t0, 0x123456789abcdef0
    csrw htimedelta, zero
    WRITE_READ t0, henvcfg, 0
    CHECK_EQI 77, t0, 0
    EXPECT_MTRAP 1f                     /* 78: hgeip is read-only */
.Lw78:
    csrw hgeip, zero
    MISSED_TRAP 78
1:  la s2, .Lw78
    LOAD_INSN32 s3, .Lw78
    CHECK_MTRAP 78, CAUSE_ILLEGAL_INSN, s2, s3, PRV_M

    /* ---- 100: hgatp ---- */
    li s1, HGATP_MODE_SV39X4 | HGATP_VMID | 0x80001
    csrw hgatp, s1
    csrr s2, hgatp
    srli t0, s2, HGATP_MODE_SHIFT
    CHECK_EQI 100, t0, 8
    srli t0, s2, HGATP_VMID_SHIFT       /* 101: VMID = 2^n - 1 */
    MASK t0, 0x3fff
    addi t1, t0, 1
    and t1, t1, t0
    CHECK_EQI 101, t1, 0
    li t0, HGATP_PPN                    /* 102: PPN bits 1:0 read 0, the rest kept */
    and t0, s2, t0
    CHECK_EQI_QEMU 102, t0, 0x80000     /* QEMU 7.2 keeps bits 1:0 */
    li s1, HGATP_MODE_SV48X4 | 0x80000
    csrw hgatp, s1
    csrr t0, hgatp
    li t1, ~HGATP_VMID
    and t0, t0, t1
    CHECK_EQ 103, t0, s1
    li t0, (1 << HGATP_MODE_SHIFT) | 0x80000   /* 104: reserved mode 1 */
    csrw hgatp, t0
    csrr t0, hgatp
    srli t0, t0, HGATP_MODE_SHIFT
    li t1, 0
    beq t0, t1, 1f
    li t1, 8
    beq t0, t1, 1f
    li t1, 9
    beq t0, t1, 1f
    li t1, 10
    beq t0, t1, 1f
    CHECK_EQI_QEMU 104, t0, 0
1:  csrw hgatp, zero

    /* ---- 120: VS CSRs from M ---- */
    li s1, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR
    csrw vsstatus, s1
    csrr t0, vsstatus
    and t1, t0, s1
    CHECK_EQ 120, t1, s1
    li t1, MSTATUS_UXL
    and t0, t0, t1
    srli t0, t0, 32
    CHECK_EQI 121, t0, 2
    csrw vsstatus, zero
    li t0, VS_INTS                      /* 122: vsie = hie's VS bits, as S bits */
    csrw hideleg, t0
    WRITE_READ t0, vsie, -1
    MASK t0, 0xffff
    CHECK_EQI 122, t0, VS_AS_S
    csrr t0, hie
    MASK t0, VS_INTS
    CHECK_EQI 123, t0, VS_INTS
    li t0, MIP_VSSIP                    /* 124: vsip.SSIP is hvip.VSSIP */
    csrw hvip, t0
    csrr t0, vsip
    MASK t0, 0xffff
    CHECK_EQI 124, t0, MIP_SSIP
    csrw hvip, zero
    csrw vsie, zero
    csrw hideleg, zero                  /* 125: without hideleg, vsie reads 0 */
    li t0, VS_INTS
    csrw hie, t0
    csrr t0, vsie
    MASK t0, 0xffff
    CHECK_EQI 125, t0, 0
    csrw hie, zero
    WRITE_READ t0, vstvec, 0x80001100
    CHECK_EQI 126, t0, 0x80001100
    WRITE_READ t0, vsscratch, 0x1234567887654321
    CHECK_EQI 127, t0, 0x1234567887654321
    WRITE_READ t0, vsepc, 0x80001235
    CHECK_EQI_QEMU 128, t0, 0x80001234  /* QEMU 7.2 keeps bit 0 */
    WRITE_READ t0, vscause, 13
    CHECK_EQI 129, t0, 13
    WRITE_READ t0, vstval, 0xdeadbeef000
    CHECK_EQI 130, t0, 0xdeadbeef000
    li s1, SATP_MODE_SV39 | 0x80123
    csrw vsatp, s1
    csrr t0, vsatp
    li t1, ~(0xffff << 44)              /* the ASID bits may be fewer */
    and t0, t0, t1
    CHECK_EQ 131, t0, s1
    csrw vsatp, zero

    /* ---- 140: mstatus.MPV and GVA; mtval2, mtinst ---- */
    li s1, MSTATUS_MPV | MSTATUS_GVA
    csrs mstatus, s1
    csrr t0, mstatus
    and t0, t0, s1
    CHECK_EQ 140, t0, s1
    csrc mstatus, s1
    csrr t0, mstatus
    and t0, t0, s1
    CHECK_EQI 141, t0, 0
    WRITE_READ t0, mtval2, 0
    CHECK_EQI 142, t0, 0
    WRITE_READ t0, mtinst, 0
    CHECK_EQI 143, t0, 0

    /* ---- 150: from HS, no trap; HS ends with an ecall ---- */
    EXPECT_MTRAP 1f
    M_ENTER PRV_S, 0, .Lhs150
.Lhs150:
    li t0, HSTATUS_VTW
    csrs hstatus, t0
    csrr s1, hstatus
    csrc hstatus, t0
    li t0, HGATP_MODE_SV39X4 | 0x80000
    csrw hgatp, t0
    csrr s2, hgatp
    csrw hgatp, zero
    li t0, 0x5150
    csrw vsscratch, t0
    csrr s3, vsscratch
    csrr s4, htval
    csrr s4, hvip
    csrr s4, vsstatus
    csrr s4, htimedelta
.Lecall150:
    ecall
    MISSED_TRAP 150
1:  la s5, .Lecall150
    CHECK_MTRAP 150, CAUSE_ECALL_S, s5, zero, PRV_S
    li t0, HSTATUS_VTW
    and s1, s1, t0
    CHECK_EQ 154, s1, t0
    CHECK_EQI 155, s2, HGATP_MODE_SV39X4 | 0x80000
    CHECK_EQI 156, s3, 0x5150

    /* ---- 160: from U, H and VS CSRs are illegal ---- */
    EXPECT_ILLEGAL 160, PRV_U, csrr t0, hstatus
    EXPECT_ILLEGAL 164, PRV_U, csrw hgatp, zero
    EXPECT_ILLEGAL 168, PRV_U, csrr t0, vsstatus
    EXPECT_ILLEGAL 172, PRV_U, csrr t0, htimedelta

    li a0, 0
    j rt_pass

    HYP_RUNTIME
