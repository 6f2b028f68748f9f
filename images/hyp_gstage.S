/*
 * hyp_gstage: two-stage translation (hgatp Sv39x4, vsatp Bare then Sv39),
 * guest-page faults, HLV/HLVX/HSV, HFENCE.GVMA and MPRV with MPV = 1.
 *
 * G-stage (guest physical -> supervisor physical), built by M:
 *   GPA 0x00000000  1 GiB  U RW    identity (the devices)
 *   GPA 0x80000000  1 GiB  U RWX   identity (the image, its tables and data)
 *   GPA 0x100000000 1 GiB  U RW    -> 0x200000000, past the end of RAM
 *   GPA 0xC0000000 + 0x0000 U RW -> g_data      +0x4000 RW, no U -> g_data
 *                  + 0x1000 U R  -> g_data      +0x5000 U X only -> g_code
 *                  + 0x2000 invalid             +0x7000 invalid
 *                  + 0x3000 U RX -> g_code
 * VS-stage (guest virtual -> guest physical, tables in guest memory):
 *   VA 0 and 0x80000000: 1 GiB identity (RW / RWX); VA 0x40000000: a level-1
 *   table at GPA 0xC0007000, which the G-stage does not map;
 *   VA 0xC0000000 + 0x0000 RW -> GPA 0xC0000000   +0x3000 X only -> 0xC0005000
 *                 + 0x1000 RW -> GPA 0xC0002000   +0x4000 U RW   -> 0xC0000000
 *                 + 0x2000 invalid                 +0x5000 X only -> GPA_CODE
 *
 * M delegates guest-page faults (20, 21, 23), access and page faults,
 * illegal instructions, ecalls from U/VU/VS and virtual instructions to HS;
 * HS delegates VS-stage page faults (12, 13, 15) to VS. HS runs the checks:
 *   10  VS (vsatp Bare) loads/stores at translated GPAs; 126: runs code there
 *   20  load (21), store (28: 23), fetch (36, 44: 20) guest-page faults and a
 *       G-stage leaf without U (52): stval = GVA = GPA, htval = GPA >> 2,
 *       hstatus.GVA = 1, htinst = the transformed load/store (0 for fetches);
 *       c.lw (60) and amoadd.w (68) transformed too
 *   76  a G-stage leaf past RAM: load access fault (5), htval = 0
 *   84  hgatp's root outside RAM: instruction access fault (1)
 *   92  vsatp Sv39: VA -> GPA -> SPA; a guest-page fault reports the VA in
 *       stval and the GPA in htval (93); a VS-stage fault is taken in VS (101);
 *       a G-stage fault on the VS-stage PTE read (106 load, 114 fetch):
 *       htval = the PTE's GPA >> 2, htinst = 0x3000; a VS store page fault in VS (122)
 *  130  HLV.B/BU/H/HU/W/WU/D, HLVX.HU/WU (137; execute-only pages: 128 at
 *       VS-stage, 183 at both stages), HSV.B/H/W/D (147) from HS; HLV of an
 *       X-only page faults (139, 13, GVA = 1, SPV = 0);
 *       HSV/HLV guest-page faults in HS (151, 159); SPVP selects VU or VS
 *       permissions, vsstatus.SUM (167); HLV from U with HU = 1 (173), and
 *       with HU = 0 illegal (175)
 *  185  HFENCE.GVMA makes a changed G-stage PTE visible
 *  190  M with MPRV = 1, MPV = 1, MPP = S loads through both stages; its
 *       guest-page fault is taken in M with mtval2 = GPA >> 2, mtinst (191)
 */
#include "hyp.h"

    TEST_NAME hyp_gstage

#define RAM_BASE        0x80000000
#define GPA_TEST        0xC0000000
#define GPA_RW          (GPA_TEST + 0x0000)
#define GPA_RO          (GPA_TEST + 0x1000)
#define GPA_INVALID     (GPA_TEST + 0x2000)
#define GPA_CODE        (GPA_TEST + 0x3000)
#define GPA_NOU         (GPA_TEST + 0x4000)
#define GPA_XONLY       (GPA_TEST + 0x5000)
#define GPA_NO_TABLE    (GPA_TEST + 0x7000)
#define GPA_PAST_RAM    0x100000000
#define SPA_PAST_RAM    0x200000000

#define VA_RW           (GPA_TEST + 0x0000)
#define VA_GINVALID     (GPA_TEST + 0x1000)     /* -> GPA_INVALID */
#define VA_INVALID      (GPA_TEST + 0x2000)
#define VA_XONLY        (GPA_TEST + 0x3000)     /* -> GPA_XONLY */
#define VA_USER         (GPA_TEST + 0x4000)     /* U, -> GPA_RW */
#define VA_XONLY_VS     (GPA_TEST + 0x5000)     /* X only, -> GPA_CODE */
#define VA_NO_TABLE     0x40000000

#define LEAF_A_D        (PTE_V | PTE_A | PTE_D)
#define LEAF_RW         (LEAF_A_D | PTE_R | PTE_W)
#define LEAF_RWX        (LEAF_RW | PTE_X)

#define MARKER1         0x1122334455667788
#define MARKER2         0x0a0b0c0d0e0f1011
#define MARKER3         0x5a5a00005a5a0000
#define MARKER_H        0x8182838485868788
#define CODE_WORD       0x8badf00d

/* transformed-instruction masks (htinst): fields kept from the instruction */
#define TINST_RS1_ZERO  0xfff07fff      /* AMO, HLV, HSV: all but rs1 */
#define TINST_C_LW_A0   0x00002501      /* c.lw a0: lw a0, 0(x0), bit 1 clear */

/*
 * In HS: HLVX.WU of the word after g_code's ecall through `va`, an execute-
 * only page: code = no trap, code + 1 = the word. QEMU 7.2 either raises a
 * load access fault (reported as got = scause, want = 0) or reads a wrong
 * value, so both are CHECK_EQ_QEMU.
 */
.macro HLVX_X_ONLY code, va
    EXPECT_STRAP .Ltrap\@              /* uses t0 and t1: before they are set */
    li t1, \va + 4
    li t0, 0
    hlvx.wu t0, (t1)
    sd zero, rt_strap_resume, t1
    li t1, CODE_WORD
    CHECK_EQ_QEMU (\code + 1), t0, t1
    j .Ldone\@
.Ltrap\@:
    ld t1, rt_scause
    CHECK_EQ_QEMU \code, t1, zero
.Ldone\@:
.endm

/* In HS: run VS code at `label`; continue at `back` in HS after its trap */
.macro RUN_VS label, back
    EXPECT_STRAP \back
    HS_ENTER_V PRV_S, \label
.endm

    .text
    .option norvc                   /* the faulting loads/stores stay 32-bit */
    .globl test_main
test_main:
    addi sp, sp, -16
    sd ra, 8(sp)
    HYP_SETUP

    /* G-stage */
    SET_PTE_ABS g_root, 0, 0, LEAF_RW | PTE_U
    SET_PTE_ABS g_root, 2, RAM_BASE, LEAF_RWX | PTE_U
    SET_PTE g_root, 3, g_l1, PTE_V
    SET_PTE_ABS g_root, 4, SPA_PAST_RAM, LEAF_RW | PTE_U
    SET_PTE g_l1, 0, g_l0, PTE_V
    SET_PTE g_l0, 0, g_data, LEAF_RW | PTE_U
    SET_PTE g_l0, 1, g_data, PTE_V | PTE_R | PTE_A | PTE_U
    SET_PTE g_l0, 3, g_code, PTE_V | PTE_R | PTE_X | PTE_A | PTE_U
    SET_PTE g_l0, 4, g_data, LEAF_RW
    SET_PTE g_l0, 5, g_code, PTE_V | PTE_X | PTE_A | PTE_U
    /* VS-stage */
    SET_PTE_ABS vs_root, 0, 0, LEAF_RW
    SET_PTE_ABS vs_root, 1, GPA_NO_TABLE, PTE_V
    SET_PTE_ABS vs_root, 2, RAM_BASE, LEAF_RWX
    SET_PTE vs_root, 3, vs_l1, PTE_V
    SET_PTE vs_l1, 0, vs_l0, PTE_V
    SET_PTE_ABS vs_l0, 0, GPA_RW, LEAF_RW
    SET_PTE_ABS vs_l0, 1, GPA_INVALID, LEAF_RW
    SET_PTE_ABS vs_l0, 3, GPA_XONLY, PTE_V | PTE_X | PTE_A
    SET_PTE_ABS vs_l0, 4, GPA_RW, LEAF_RW | PTE_U
    SET_PTE_ABS vs_l0, 5, GPA_CODE, PTE_V | PTE_X | PTE_A

    la t0, g_data
    li t1, MARKER1
    sd t1, 0(t0)
    li t1, MARKER_H
    sd t1, 0x100(t0)
    la t0, g_data2
    li t1, MARKER2
    sd t1, 0(t0)

    la t0, g_root                   /* 2: Sv39x4 is supported */
    srli t0, t0, 12
    li t1, HGATP_MODE_SV39X4
    or s0, t0, t1
    csrw hgatp, s0
    csrr t0, hgatp
    CHECK_EQ 2, t0, s0
    hfence.gvma

    li t0, (1 << CAUSE_INSN_ACCESS) | (1 << CAUSE_ILLEGAL_INSN) | (1 << CAUSE_LOAD_ACCESS) | (1 << CAUSE_STORE_ACCESS) | (1 << CAUSE_ECALL_U) | (1 << CAUSE_ECALL_VS) | (1 << CAUSE_INSN_PAGE_FAULT) | (1 << CAUSE_LOAD_PAGE_FAULT) | (1 << CAUSE_STORE_PAGE_FAULT) | (1 << CAUSE_INSN_GUEST_PF) | (1 << CAUSE_LOAD_GUEST_PF) | (1 << CAUSE_VIRTUAL_INSN) | (1 << CAUSE_STORE_GUEST_PF)
    csrw medeleg, t0
    li t0, (1 << CAUSE_INSN_PAGE_FAULT) | (1 << CAUSE_LOAD_PAGE_FAULT) | (1 << CAUSE_STORE_PAGE_FAULT)
    csrw hedeleg, t0
    EXPECT_MTRAP .Lm_back
    M_ENTER PRV_S, 0, hs_main

.Lm_back:                           /* 3: HS finished with an ecall */
    ld t0, rt_mcause
    CHECK_EQI 3, t0, CAUSE_ECALL_S

    /* ---- 190: M loads with MPRV = 1, MPV = 1, MPP = S ---- */
    li t0, MSTATUS_MPP | MSTATUS_MPV | MSTATUS_GVA
    csrc mstatus, t0
    li t0, (PRV_S << MSTATUS_MPP_SHIFT) | MSTATUS_MPV | MSTATUS_MPRV
    li s1, VA_RW
    csrs mstatus, t0
    ld s2, 0(s1)
    li t0, MSTATUS_MPRV
    csrc mstatus, t0
    CHECK_EQI 190, s2, MARKER1
    EXPECT_MTRAP 1f                     /* uses t0 and t1: before they are set */
    li t0, (PRV_S << MSTATUS_MPP_SHIFT) | MSTATUS_MPV | MSTATUS_MPRV
    li s1, VA_GINVALID
    csrs mstatus, t0
.Lld191:
    ld s2, 8(s1)
    MISSED_TRAP 191
1:  li t0, MSTATUS_MPRV
    csrc mstatus, t0
    la s2, .Lld191
    addi s3, s1, 8
    li s4, (GPA_INVALID + 8) >> 2
    TINST s5, .Lld191, TINST_LOAD
    CHECK_MTRAP_H 191, CAUSE_LOAD_GUEST_PF, s2, s3, PRV_M, 0, 1, s4, s5, Q_CAUSE | Q_GVA | Q_TVAL2 | Q_TINST

    csrw hgatp, zero
    csrw vsatp, zero
    csrw medeleg, zero
    csrw hedeleg, zero
    ld ra, 8(sp)
    addi sp, sp, 16
    li a0, 0
    ret


/* ======== HS ======== */
hs_main:
    /* ---- 10: vsatp Bare: VS runs, loads and stores at translated GPAs ---- */
    RUN_VS .Lvs10, .Lhs10
.Lvs10:
    li s1, GPA_RW
    ld s2, 0(s1)
    li t0, MARKER3
    sd t0, 8(s1)
    ecall
    MISSED_TRAP 10
.Lhs10:
    CHECK_EQI 10, s2, MARKER1
    la t0, g_data
    ld t1, 8(t0)
    CHECK_EQI 11, t1, MARKER3
    ld t0, rt_scause
    CHECK_EQI 12, t0, CAUSE_ECALL_VS

    /* ---- 20: load guest-page fault ---- */
    RUN_VS .Lvs20, .Lhs20
.Lvs20:
    li s1, GPA_INVALID
.Lld20:
    lw a0, 8(s1)
    MISSED_TRAP 20
.Lhs20:
    la s2, .Lld20
    addi s3, s1, 8
    srli s4, s3, 2
    TINST s5, .Lld20, TINST_LOAD
    CHECK_HTRAP 20, CAUSE_LOAD_GUEST_PF, s2, s3, PRV_S, 1, 1, s4, s5, Q_TINST

    /* ---- 28: store guest-page fault on a read-only GPA ---- */
    RUN_VS .Lvs28, .Lhs28
.Lvs28:
    li s1, GPA_RO
.Lsd28:
    sd s1, 16(s1)
    MISSED_TRAP 28
.Lhs28:
    la s2, .Lsd28
    addi s3, s1, 16
    srli s4, s3, 2
    TINST s5, .Lsd28, TINST_STORE
    CHECK_HTRAP 28, CAUSE_STORE_GUEST_PF, s2, s3, PRV_S, 1, 1, s4, s5, Q_TINST

    /* ---- 36: fetch from an invalid GPA; 44: from a GPA without X ---- */
    RUN_VS .Lvs36, .Lhs36
.Lvs36:
    li s3, GPA_INVALID + 0x10
    jr s3
    MISSED_TRAP 36
.Lhs36:
    srli s4, s3, 2
    CHECK_HTRAP 36, CAUSE_INSN_GUEST_PF, s3, s3, PRV_S, 1, 1, s4, zero
    RUN_VS .Lvs44, .Lhs44
.Lvs44:
    li s3, GPA_RW + 0x20
    jr s3
    MISSED_TRAP 44
.Lhs44:
    srli s4, s3, 2
    CHECK_HTRAP 44, CAUSE_INSN_GUEST_PF, s3, s3, PRV_S, 1, 1, s4, zero

    /* ---- 52: a G-stage leaf without U (G-stage accesses are all U-level) ---- */
    RUN_VS .Lvs52, .Lhs52
.Lvs52:
    li s1, GPA_NOU
.Lld52:
    ld a0, 0(s1)
    MISSED_TRAP 52
.Lhs52:
    la s2, .Lld52
    srli s4, s1, 2
    TINST s5, .Lld52, TINST_LOAD
    CHECK_HTRAP 52, CAUSE_LOAD_GUEST_PF, s2, s1, PRV_S, 1, 1, s4, s5, Q_TINST

    /* ---- 60: c.lw, transformed to lw with bit 1 clear ---- */
    RUN_VS .Lvs60, .Lhs60
.Lvs60:
    li a1, GPA_INVALID + 0x24
    .option push
    .option rvc
.Lclw60:
    c.lw a0, 0(a1)
    c.nop                               /* back to 4-byte alignment */
    .option pop
    MISSED_TRAP 60
.Lhs60:
    la s2, .Lclw60
    srli s4, a1, 2
    li s5, TINST_C_LW_A0
    CHECK_HTRAP 60, CAUSE_LOAD_GUEST_PF, s2, a1, PRV_S, 1, 1, s4, s5, Q_TINST

    /* ---- 68: amoadd.w on a read-only GPA: store/AMO guest-page fault ---- */
    RUN_VS .Lvs68, .Lhs68
.Lvs68:
    li s1, GPA_RO + 0x40
.Lamo68:
    amoadd.w a0, a1, (s1)
    MISSED_TRAP 68
.Lhs68:
    la s2, .Lamo68
    srli s4, s1, 2
    TINST s5, .Lamo68, TINST_RS1_ZERO
    CHECK_HTRAP 68, CAUSE_STORE_GUEST_PF, s2, s1, PRV_S, 1, 1, s4, s5, Q_TINST

    /* ---- 76: a G-stage leaf past RAM: load access fault, not a guest-page fault ---- */
    RUN_VS .Lvs76, .Lhs76
.Lvs76:
    li s1, GPA_PAST_RAM
.Lld76:
    ld a0, 8(s1)
    MISSED_TRAP 76
.Lhs76:
    la s2, .Lld76
    addi s3, s1, 8
    TINST s5, .Lld76, TINST_LOAD
    CHECK_HTRAP 76, CAUSE_LOAD_ACCESS, s2, s3, PRV_S, 1, 1, zero, s5, Q_TINST

    /* ---- 84: hgatp's root table outside RAM: instruction access fault ---- */
    li t0, HGATP_MODE_SV39X4 | (SPA_PAST_RAM >> 12)
    csrw hgatp, t0
    hfence.gvma
    RUN_VS .Lvs84, .Lhs84
.Lvs84:
    MISSED_TRAP 84
.Lhs84:
    csrw hgatp, s0
    hfence.gvma
    la s2, .Lvs84
    CHECK_HTRAP 84, CAUSE_INSN_ACCESS, s2, s2, PRV_S, 1, 1, zero, zero, Q_CAUSE | Q_TVAL2

    /* ---- 126: VS executes at a translated GPA (an ecall at g_code) ---- */
    RUN_VS .Lvs126, .Lhs126
.Lvs126:
    li t0, GPA_CODE
    jr t0
.Lhs126:
    ld t0, rt_scause
    CHECK_EQI 126, t0, CAUSE_ECALL_VS
    ld t0, rt_sepc
    CHECK_EQI 127, t0, GPA_CODE

    /* ======== vsatp Sv39 ======== */
    la t0, vs_root
    srli t0, t0, 12
    li t1, SATP_MODE_SV39
    or t0, t0, t1
    csrw vsatp, t0
    hfence.vvma

    /* ---- 92: a load through both stages; 93: VA in stval, GPA in htval ---- */
    RUN_VS .Lvs92, .Lhs92
.Lvs92:
    li s1, VA_RW
    ld s2, 0(s1)
    li s1, VA_GINVALID
.Lld93:
    ld a0, 8(s1)
    MISSED_TRAP 93
.Lhs92:
    CHECK_EQI 92, s2, MARKER1
    la s2, .Lld93
    addi s3, s1, 8
    li s4, (GPA_INVALID + 8) >> 2
    TINST s5, .Lld93, TINST_LOAD
    CHECK_HTRAP 93, CAUSE_LOAD_GUEST_PF, s2, s3, PRV_S, 1, 1, s4, s5, Q_TINST

    /* ---- 101: a VS-stage load page fault, taken in VS (hedeleg) ---- */
    ld s6, rt_strap_count
    RUN_VS .Lvs101, .Lhs101
.Lvs101:
    li s1, VA_INVALID
    EXPECT_VSTRAP .Lvs101_back
.Lld101:
    ld a0, 0(s1)
    MISSED_TRAP 101
.Lvs101_back:
    ecall
.Lhs101:
    la s2, .Lld101
    CHECK_VSTRAP 101, CAUSE_LOAD_PAGE_FAULT, s2, s1, PRV_S
    ld t0, rt_strap_count               /* 105: only the ecall reached HS */
    addi t0, t0, -1
    CHECK_EQ 105, t0, s6

    /* ---- 106: load, 114: fetch, whose VS-stage PTE read faults in G-stage ---- */
    RUN_VS .Lvs106, .Lhs106
.Lvs106:
    li s1, VA_NO_TABLE + 0x10
.Lld106:
    ld a0, 0(s1)
    MISSED_TRAP 106
.Lhs106:
    la s2, .Lld106
    li s4, GPA_NO_TABLE >> 2
    li s5, TINST_VS_PTE_READ
    CHECK_HTRAP 106, CAUSE_LOAD_GUEST_PF, s2, s1, PRV_S, 1, 1, s4, s5
    RUN_VS .Lvs114, .Lhs114
.Lvs114:
    li s3, VA_NO_TABLE + 0x20
    jr s3
    MISSED_TRAP 114
.Lhs114:
    li s4, GPA_NO_TABLE >> 2
    li s5, TINST_VS_PTE_READ
    CHECK_HTRAP 114, CAUSE_INSN_GUEST_PF, s3, s3, PRV_S, 1, 1, s4, s5, Q_CAUSE

    /* ---- 122: a VS store page fault (X-only VS page), taken in VS ---- */
    RUN_VS .Lvs122, .Lhs122
.Lvs122:
    li s1, VA_XONLY + 8
    EXPECT_VSTRAP .Lvs122_back
.Lsd122:
    sd a0, 0(s1)
    MISSED_TRAP 122
.Lvs122_back:
    ecall
.Lhs122:
    la s2, .Lsd122
    CHECK_VSTRAP 122, CAUSE_STORE_PAGE_FAULT, s2, s1, PRV_S

    /* ======== HLV, HLVX, HSV from HS ======== */
    li t0, HSTATUS_SPVP
    csrs hstatus, t0
    /* 130: every width and sign of HLV */
    li s1, VA_RW + 0x100
    hlv.b t0, (s1)
    CHECK_EQI 130, t0, 0xffffffffffffff88
    hlv.bu t0, (s1)
    CHECK_EQI 131, t0, 0x88
    hlv.h t0, (s1)
    CHECK_EQI 132, t0, 0xffffffffffff8788
    hlv.hu t0, (s1)
    CHECK_EQI 133, t0, 0x8788
    hlv.w t0, (s1)
    CHECK_EQI 134, t0, 0xffffffff85868788
    hlv.wu t0, (s1)
    CHECK_EQI 135, t0, 0x85868788
    hlv.d t0, (s1)
    CHECK_EQI 136, t0, MARKER_H
    /* 139: HLV of an execute-only VS page: load page fault, in HS with GVA = 1
     * (before any HLVX: QEMU 7.2 then lets HLV read the page) */
    li s1, VA_XONLY
    EXPECT_STRAP 1f
.Lhlv139:
    hlv.w t0, (s1)
    MISSED_TRAP 139
1:  la s2, .Lhlv139
    TINST s5, .Lhlv139, TINST_RS1_ZERO
    CHECK_HTRAP 139, CAUSE_LOAD_PAGE_FAULT, s2, s1, PRV_S, 0, 1, zero, s5, Q_CAUSE | Q_TINST
    /* 137: HLVX reads (the image's RWX page) */
    la s1, g_code
    addi t1, s1, 4
    hlvx.wu t0, (t1)
    CHECK_EQI 137, t0, CODE_WORD
    addi t1, s1, 6
    hlvx.hu t0, (t1)
    CHECK_EQI 138, t0, CODE_WORD >> 16
    /* 128: HLVX reads a page execute-only at VS-stage, 183: at both stages */
    HLVX_X_ONLY 128, VA_XONLY_VS
    HLVX_X_ONLY 183, VA_XONLY
    /* 147: HSV of each width lands in g_data */
    li s1, VA_RW + 0x200
    la s2, g_data + 0x200
    li t0, MARKER1
    hsv.d t0, (s1)
    ld t1, 0(s2)
    CHECK_EQ 147, t1, t0
    addi t2, s1, 8
    hsv.w t0, (t2)
    lwu t1, 8(s2)
    CHECK_EQI 148, t1, MARKER1 & 0xffffffff
    addi t2, s1, 16
    hsv.h t0, (t2)
    lhu t1, 16(s2)
    CHECK_EQI 149, t1, MARKER1 & 0xffff
    addi t2, s1, 24
    hsv.b t0, (t2)
    lbu t1, 24(s2)
    CHECK_EQI 150, t1, MARKER1 & 0xff
    /* 151: HSV, 159: HLV guest-page faults: SPV = 0, GVA = 1 */
    li s1, VA_GINVALID + 0x30
    EXPECT_STRAP 1f
.Lhsv151:
    hsv.w t0, (s1)
    MISSED_TRAP 151
1:  la s2, .Lhsv151
    li s4, (GPA_INVALID + 0x30) >> 2
    TINST s5, .Lhsv151, TINST_RS1_ZERO
    CHECK_HTRAP 151, CAUSE_STORE_GUEST_PF, s2, s1, PRV_S, 0, 1, s4, s5, Q_TINST
    EXPECT_STRAP 1f
.Lhlv159:
    hlv.d t0, (s1)
    MISSED_TRAP 159
1:  la s2, .Lhlv159
    TINST s5, .Lhlv159, TINST_RS1_ZERO
    CHECK_HTRAP 159, CAUSE_LOAD_GUEST_PF, s2, s1, PRV_S, 0, 1, s4, s5, Q_TINST

    /* 167: SPVP = 0 (VU): a U page reads, a supervisor page faults (168) */
    li t0, HSTATUS_SPVP
    csrc hstatus, t0
    hfence.vvma
    li s1, VA_USER
    hlv.d t0, (s1)
    CHECK_EQI 167, t0, MARKER1
    li s1, VA_RW
    EXPECT_STRAP 1f
    hlv.d t0, (s1)
    MISSED_TRAP 168
1:  ld t0, rt_scause                 /* QEMU 7.2: load access fault (5) */
    li t1, CAUSE_LOAD_PAGE_FAULT
    CHECK_EQ_QEMU 168, t0, t1
    ld t0, rt_stval
    CHECK_EQ 169, t0, s1
    /* 170: SPVP = 1 (VS): a U page faults without vsstatus.SUM, reads with it */
    li t0, HSTATUS_SPVP
    csrs hstatus, t0
    hfence.vvma
    li s1, VA_USER
    EXPECT_STRAP 1f
    hlv.d t0, (s1)
    /* QEMU 7.2 takes no trap: reported as got = 0 traps, want = 1 */
    sd zero, rt_strap_resume, t1
    li t1, 1
    CHECK_EQ_QEMU 170, zero, t1
    j 2f
1:  ld t0, rt_scause
    CHECK_EQI 170, t0, CAUSE_LOAD_PAGE_FAULT
    ld t0, rt_stval
    CHECK_EQ 171, t0, s1
2:
    li t0, MSTATUS_SUM
    csrs vsstatus, t0
    hlv.d t0, (s1)
    CHECK_EQI 172, t0, MARKER1
    li t0, MSTATUS_SUM
    csrc vsstatus, t0

    /* 173: HLV in U with hstatus.HU = 1 works; 175: with HU = 0 it is illegal */
    li t0, HSTATUS_SPV                  /* sret to U, not VU */
    csrc hstatus, t0
    li t0, HSTATUS_HU
    csrs hstatus, t0
    li s1, VA_RW
    li s2, 0
    EXPECT_STRAP 1f
    S_ENTER_U .Lu173
.Lu173:
    hlv.d s2, (s1)
    ecall
    MISSED_TRAP 173
1:  CHECK_EQI 173, s2, MARKER1
    ld t0, rt_scause
    CHECK_EQI 174, t0, CAUSE_ECALL_U
    li t0, HSTATUS_HU
    csrc hstatus, t0
    EXPECT_STRAP 1f
    S_ENTER_U .Lu175
.Lu175:
    hlv.d s2, (s1)
    MISSED_TRAP 175
1:  la s2, .Lu175
    LOAD_INSN32 s3, .Lu175
    CHECK_HTRAP 175, CAUSE_ILLEGAL_INSN, s2, s3, PRV_U, 0, 0, zero, zero, Q_TVAL

    /* ---- 185: a G-stage change made visible by HFENCE.GVMA ---- */
    la a0, g_l0
    li a1, 0
    la a2, g_data2
    li a3, LEAF_RW | PTE_U
    call set_pte
    hfence.gvma
    RUN_VS .Lvs185, .Lhs185
.Lvs185:
    li s1, VA_RW
    ld s2, 0(s1)
    ecall
.Lhs185:
    CHECK_EQI 185, s2, MARKER2
    la a0, g_l0
    li a1, 0
    la a2, g_data
    li a3, LEAF_RW | PTE_U
    call set_pte
    hfence.gvma
    RUN_VS .Lvs185, .Lhs186
.Lhs186:
    CHECK_EQI 186, s2, MARKER1

    ecall                               /* back to M */
    MISSED_TRAP 4

    HYP_RUNTIME

/* g_code: the page behind GPA_CODE (U RX) and GPA_XONLY (U X) */
    .text
    .align 12
g_code:
    ecall
    .word CODE_WORD
    .align 12

    .bss
    .align 14                       /* the Sv39x4 root: 16 KiB, 16 KiB aligned */
g_root:     .space 16384
g_l1:       .space 4096
g_l0:       .space 4096
vs_root:    .space 4096
vs_l1:      .space 4096
vs_l0:      .space 4096
g_data:     .space 4096
g_data2:    .space 4096
