/*
 * hyp_enter: into VS and back (H extension; both translation stages Bare).
 *
 *   10  mret with MPV = 1, MPP = S enters VS: an ecall from VS is cause 10,
 *       taken in M with MPV = 1, MPP = S, GVA = 0, mtval2 = mtinst = 0; in VS
 *       sstatus/sscratch/sepc are vsstatus/vsscratch/vsepc (18..23)
 *   30  sret from HS with hstatus.SPV = 1, SPP = 1 enters VS; sret clears SPV
 *   40  a VS ecall delegated by medeleg goes to HS: scause 10, SPP = 1,
 *       hstatus.SPV = 1, SPVP = 1, GVA = 0, htval = htinst = 0; M not entered;
 *       an HS ecall then reaches M with MPV = 0 (50)
 *   56  a VU ecall (not in hedeleg) goes to HS: cause 8, SPP = 0, SPV = 1, SPVP = 0
 *   70  hedeleg: VS ebreak (3) and illegal instruction (2: an M CSR) and a VU
 *       ecall (8) are taken in VS (vscause/vsepc/vstval/vsstatus.SPP), V stays
 *       1 (the next VS ecall reaches M with MPV = 1), HS is never entered
 *  100  an M CSR from VS, not delegated: illegal instruction (2) in M, not virtual
 *  110  virtual-instruction faults (22, stval = the instruction, SPV = 1) in
 *       HS for: hstatus from VS (110), hfence.gvma (120), wfi with VTW (130),
 *       sret with VTSR (140), satp with VTVM (150), sfence.vma with VTVM (160)
 *  180  without VTW/VTSR/VTVM they work in VS: wfi (a pending, enabled but
 *       globally disabled VS software interrupt wakes it), satp reads vsatp,
 *       sfence.vma, sret returns within VS
 */
#include "hyp.h"

    TEST_NAME hyp_enter

#define HS_SCRATCH  0x1111222233334444
#define VS_SCRATCH  0x5555666677778888
#define VS_EPC      0x0000000080001234
#define HS_EPC      0x0000000080005678
#define HS_CAUSE    0x33

/*
 * In HS: run `insn` in VS with hstatus bits `hbits` (of VTW/VTSR/VTVM) set,
 * expect a virtual-instruction fault in HS: scause 22, sepc, stval = the
 * instruction, SPP = 1, SPV = 1, GVA = 0, htval = htinst = 0 (code..code+7).
 * vsepc points at a guard, so a VS sret that does not trap fails the check.
 * With `qemu` = 1 (QEMU 7.2 takes no trap here), a missing trap is reported
 * by CHECK_EQ_QEMU (got: 0 traps, want: 1) and the run goes on.
 */
.macro EXPECT_VIRTUAL code, hbits, qemu, insn:vararg
    li t0, HSTATUS_VTW | HSTATUS_VTSR | HSTATUS_VTVM
    csrc hstatus, t0
    .if \hbits
    li t0, \hbits
    csrs hstatus, t0
    .endif
    la t0, .Lguard\@
    csrw vsepc, t0
    li t0, MSTATUS_SPP
    csrs vsstatus, t0
    li s4, 0
    EXPECT_STRAP .Lback\@
    HS_ENTER_V PRV_S, .Ltry\@
    .align 2
.Ltry\@:
    \insn
.Lguard\@:
    .if \qemu
    li s4, 1
    li t0, 1
    CHECK_EQ_QEMU \code, zero, t0
    csrr t0, hstatus                    /* back to HS by a virtual fault */
    .endif
    MISSED_TRAP \code
.Lback\@:
    bnez s4, .Lskip\@
    la s2, .Ltry\@
    LOAD_INSN32 s3, .Ltry\@
    CHECK_HTRAP \code, CAUSE_VIRTUAL_INSN, s2, s3, PRV_S, 1, 0, zero, zero
.Lskip\@:
.endm

    .text
    .globl test_main
test_main:
    HYP_SETUP

    /* ---- 10: VS by mret; sstatus, sscratch, sepc are the VS copies ---- */
    li t0, MSTATUS_SUM | MSTATUS_MXR
    csrc mstatus, t0
    li t0, MSTATUS_MXR              /* HS sstatus: MXR, no SUM */
    csrs mstatus, t0
    li t0, MSTATUS_SUM | MSTATUS_SPP
    csrw vsstatus, t0               /* vsstatus: SUM, no MXR */
    li t0, HS_SCRATCH
    csrw sscratch, t0
    li t0, HS_EPC
    csrw sepc, t0
    csrw vsscratch, zero
    csrw vsepc, zero
    EXPECT_MTRAP 1f
    M_ENTER PRV_S, 1, .Lvs10
.Lvs10:                             /* VS */
    csrr s1, sstatus
    li t0, MSTATUS_MXR
    csrs sstatus, t0
    li t0, VS_SCRATCH
    csrw sscratch, t0
    csrr s3, sscratch
    li t0, VS_EPC
    csrw sepc, t0
.Lecall10:
    ecall
    MISSED_TRAP 10
1:  la s2, .Lecall10
    CHECK_MTRAP_H 10, CAUSE_ECALL_VS, s2, zero, PRV_S, 1, 0, zero, zero
    li t0, MSTATUS_SUM | MSTATUS_MXR    /* 18: VS read vsstatus */
    and s1, s1, t0
    CHECK_EQI 18, s1, MSTATUS_SUM
    csrr t1, vsstatus                   /* 19: VS's write went to vsstatus */
    and t1, t1, t0
    CHECK_EQI 19, t1, MSTATUS_SUM | MSTATUS_MXR
    csrr t1, mstatus                    /* 20: HS's sstatus untouched */
    and t1, t1, t0
    CHECK_EQI 20, t1, MSTATUS_MXR
    CHECK_EQI 21, s3, VS_SCRATCH        /* 21: sscratch in VS is vsscratch */
    csrr t0, vsscratch
    CHECK_EQI 22, t0, VS_SCRATCH
    csrr t0, sscratch
    CHECK_EQI 23, t0, HS_SCRATCH
    csrr t0, vsepc
    CHECK_EQI 24, t0, VS_EPC            /* 24: sepc in VS is vsepc */
    csrr t0, sepc
    CHECK_EQI 25, t0, HS_EPC
    li t0, MSTATUS_MXR
    csrc mstatus, t0

    /* ---- 30: VS by sret from HS (hstatus.SPV = 1, SPP = 1) ---- */
    EXPECT_MTRAP 1f
    M_ENTER PRV_S, 0, .Lhs30
.Lhs30:                             /* HS */
    HS_ENTER_V PRV_S, .Lvs30
.Lvs30:                             /* VS */
    csrr s1, sscratch
.Lecall30:
    ecall
    MISSED_TRAP 30
1:  la s2, .Lecall30
    CHECK_MTRAP_H 30, CAUSE_ECALL_VS, s2, zero, PRV_S, 1, 0, zero, zero
    CHECK_EQI 38, s1, VS_SCRATCH
    csrr t0, hstatus                    /* 39: sret set hstatus.SPV = 0 */
    andi t0, t0, HSTATUS_SPV
    CHECK_EQI 39, t0, 0

    /* ---- 40: a VS ecall delegated to HS; then HS's ecall to M ---- */
    li t0, 1 << CAUSE_ECALL_VS
    csrw medeleg, t0
    ld s5, rt_mtrap_count
    EXPECT_MTRAP .Lm50
    M_ENTER PRV_S, 0, .Lhs40
.Lhs40:                             /* HS */
    li t0, HSTATUS_SPVP
    csrc hstatus, t0
    EXPECT_STRAP 1f
    HS_ENTER_V PRV_S, .Lecall40
.Lecall40:                          /* VS */
    ecall
    MISSED_TRAP 40
1:  la s2, .Lecall40                /* HS */
    CHECK_HTRAP 40, CAUSE_ECALL_VS, s2, zero, PRV_S, 1, 0, zero, zero
    CHECK_SPVP 48, 1
    ld t0, rt_mtrap_count               /* 49: M saw nothing */
    CHECK_EQ 49, t0, s5
.Lecall50:
    ecall
    MISSED_TRAP 50
.Lm50:
    la s2, .Lecall50
    CHECK_MTRAP_H 50, CAUSE_ECALL_S, s2, zero, PRV_S, 0, 0, zero, zero

    /* ---- 56 (+2): a VU ecall, not in hedeleg, goes to HS ---- */
    li t0, (1 << CAUSE_ECALL_U) | (1 << CAUSE_ECALL_VS)
    csrw medeleg, t0
    EXPECT_MTRAP .Lm66
    M_ENTER PRV_S, 0, .Lhs58
.Lhs58:                             /* HS */
    li t0, HSTATUS_SPVP
    csrs hstatus, t0
    EXPECT_STRAP 1f
    HS_ENTER_V PRV_U, .Lecall58
.Lecall58:                          /* VU */
    ecall
    MISSED_TRAP 58
1:  la s2, .Lecall58                /* HS */
    CHECK_HTRAP 58, CAUSE_ECALL_U, s2, zero, PRV_U, 1, 0, zero, zero
    CHECK_SPVP 66, 0
    ecall
    MISSED_TRAP 67
.Lm66:
    ld t0, rt_mcause
    CHECK_EQI 67, t0, CAUSE_ECALL_S

    /* ---- 70: hedeleg: traps from VS/VU taken in VS ---- */
    li t0, (1 << CAUSE_ILLEGAL_INSN) | (1 << CAUSE_BREAKPOINT) | (1 << CAUSE_ECALL_U)
    csrw medeleg, t0
    csrw hedeleg, t0
    li t0, HS_CAUSE
    csrw scause, t0
    ld s5, rt_strap_count
    EXPECT_MTRAP .Lm82
    M_ENTER PRV_S, 1, .Lvs70
.Lvs70:                             /* VS */
    EXPECT_VSTRAP 1f
.Lebreak70:
    ebreak
    MISSED_TRAP 70
1:  la s2, .Lebreak70
    ld t0, hyp_vstval                   /* 72: tval 0 or the pc, both allowed */
    beqz t0, 2f
    CHECK_EQ 72, t0, s2
2:  CHECK_VSTRAP 70, CAUSE_BREAKPOINT, s2, t0, PRV_S
    EXPECT_VSTRAP 1f
.Lill74:
    csrr t0, mscratch
    MISSED_TRAP 74
1:  la s2, .Lill74
    LOAD_INSN32 s3, .Lill74
    /* 74: QEMU 7.2 turns exception causes 2, 6, 10 taken in VS into 1, 5,
     * 9 (the VS-interrupt translation applied to exceptions too) */
    CHECK_VSTRAP 74, CAUSE_ILLEGAL_INSN, s2, s3, PRV_S, Q_CAUSE
    EXPECT_VSTRAP 1f
    li t0, MSTATUS_SPP                  /* sret in VS to VU */
    csrc sstatus, t0
    la t0, .Lecall78
    csrw sepc, t0
    sret
.Lecall78:                          /* VU */
    ecall
    MISSED_TRAP 78
1:  la s2, .Lecall78                /* VS */
    CHECK_VSTRAP 78, CAUSE_ECALL_U, s2, zero, PRV_U
.Lecall82:
    ecall                               /* cause 10: not delegated, to M */
    MISSED_TRAP 82
.Lm82:
    la s2, .Lecall82
    CHECK_MTRAP_H 82, CAUSE_ECALL_VS, s2, zero, PRV_S, 1, 0, zero, zero
    ld t0, rt_strap_count               /* 90: HS never entered */
    CHECK_EQ 90, t0, s5
    csrr t0, vscause                    /* 91: M sees the VS trap CSRs */
    CHECK_EQI 91, t0, CAUSE_ECALL_U
    csrr t0, vsepc
    la t1, .Lecall78
    CHECK_EQ 92, t0, t1
    csrr t0, scause
    CHECK_EQI 93, t0, HS_CAUSE
    ld t0, hyp_vstrap_count
    CHECK_EQI 94, t0, 3

    /* ---- 100: an M CSR from VS, not delegated: illegal in M ---- */
    csrw medeleg, zero
    csrw hedeleg, zero
    EXPECT_MTRAP 1f
    M_ENTER PRV_S, 1, .Lill100
.Lill100:
    csrr t0, mscratch
    MISSED_TRAP 100
1:  la s2, .Lill100
    LOAD_INSN32 s3, .Lill100
    /* 105: QEMU 7.2 sets mstatus.GVA on any trap from V = 1 with tval != 0 */
    CHECK_MTRAP_H 100, CAUSE_ILLEGAL_INSN, s2, s3, PRV_S, 1, 0, zero, zero, Q_GVA

    /* ---- 110: virtual-instruction faults, taken in HS ---- */
    li t0, 1 << CAUSE_VIRTUAL_INSN
    csrw medeleg, t0
    EXPECT_MTRAP .Lm170
    M_ENTER PRV_S, 0, .Lhs110
.Lhs110:                            /* HS */
    EXPECT_VIRTUAL 110, 0, 0, csrr t0, hstatus
    EXPECT_VIRTUAL 120, 0, 0, hfence.gvma
    EXPECT_VIRTUAL 130, HSTATUS_VTW, 0, wfi
    EXPECT_VIRTUAL 140, HSTATUS_VTSR, 0, sret
    /* 150: QEMU 7.2 lets VS read satp (vsatp) under VTVM */
    EXPECT_VIRTUAL 150, HSTATUS_VTVM, 1, csrr t0, satp
    EXPECT_VIRTUAL 160, HSTATUS_VTVM, 0, sfence.vma
    li t0, HSTATUS_VTW | HSTATUS_VTSR | HSTATUS_VTVM
    csrc hstatus, t0
    ecall
    MISSED_TRAP 170
.Lm170:
    ld t0, rt_mcause
    CHECK_EQI 170, t0, CAUSE_ECALL_S

    /* ---- 180: without VTW/VTSR/VTVM, in VS: wfi, satp, sfence.vma, sret ---- */
    csrw medeleg, zero
    /* wfi wakes on a pending, enabled VS software interrupt that vsstatus.SIE
     * = 0 keeps from being taken */
    li t0, MIP_VSSIP
    csrw hideleg, t0
    csrw hvip, t0
    li t0, MIP_SSIP                     /* vsie.SSIE */
    csrw vsie, t0
    li t0, MSTATUS_SPP
    csrw vsstatus, t0
    EXPECT_MTRAP 1f
    M_ENTER PRV_S, 1, .Lvs180
.Lvs180:                            /* VS */
    wfi
    csrr s1, satp
    sfence.vma
    la t0, .Lvs180_back
    csrw sepc, t0
    li t0, MSTATUS_SPP
    csrs sstatus, t0
    sret
    MISSED_TRAP 180                     /* sret did not go to sepc */
.Lvs180_back:
    li t0, MSTATUS_SPP
    csrr s3, sstatus
    and s3, s3, t0
.Lecall181:
    ecall
    MISSED_TRAP 181
1:  la s2, .Lecall181
    CHECK_MTRAP_H 181, CAUSE_ECALL_VS, s2, zero, PRV_S, 1, 0, zero, zero
    CHECK_EQI 189, s1, 0                /* 189: satp read vsatp (Bare) */
    CHECK_EQI 190, s3, 0                /* 190: VS's sret cleared vsstatus.SPP */
    ld t0, hyp_vstrap_count             /* 191: the interrupt was not taken */
    CHECK_EQI 191, t0, 3
    csrw hvip, zero
    csrw vsie, zero
    csrw hideleg, zero

    li a0, 0
    j rt_pass

    HYP_RUNTIME
