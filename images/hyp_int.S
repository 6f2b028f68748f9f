/*
 * hyp_int: VS-level interrupts (hvip, hideleg, hie, vsie, vsip), an HS
 * timer interrupt preempting a guest, htimedelta and hcounteren.TM.
 * Both translation stages Bare. M delegates ecalls from U/VU (8) and VS (10),
 * virtual instructions (22) and the S timer (mideleg bit 5) to HS; hedeleg 0.
 *
 * The three interrupt handlers (M, HS, VS) return to the interrupted code
 * (they save and restore x1-x31) and record the trap in their own record
 * (m_irq, hs_irq, vs_irq: cause, epc, tval, status, then hstatus / htval /
 * htinst for HS and mtval2 / mtinst for M, and a count). An interrupt check
 * with code c uses c cause, c+1 epc (exact, or within the waiting loop),
 * c+2 tval = 0, c+3 xPP, c+4 SPIE (VS) or SPV/MPV, c+5 GVA = 0 (HS, M),
 * c+6 htval/mtval2 = 0, c+7 htinst/mtinst = 0 (spec: 0 on an interrupt).
 * The VS handler masks the interrupt it took in sie (vsie), HS's in sie and
 * hie, M's sets mip.STIP and clears mie.MTIE (the SBI timer of timer_s.S).
 *
 *   10  hvip.VSSIP, hideleg bit 2: never taken in HS (V = 0) even with
 *       sstatus.SIE and hie.VSSIE; hip.VSSIP shows it (11);
 *       in VS vsip.SSIP and vsie.SSIE read 1 (14, 15) and vsstatus.SIE = 0
 *       keeps it (13); `csrsi sstatus, SIE` takes it at once (16: vscause
 *       0x8000000000000001, vsepc = the next instruction, SPP = 1, SPIE = 1,
 *       SIE = 0); registers survive (22); a VS write of 0 to sip.SSIP clears
 *       hvip.VSSIP (23)
 *   30  hvip.VSTIP, hideleg bit 6: taken in VS entered with vsstatus.SIE = 1
 *       (vscause 0x8000000000000005); vsip.STIP reads 1 and a VS write
 *       cannot clear it (37, 38)
 *   40  hvip.VSTIP, hideleg bit 6 clear: in HS with sstatus.SIE = 0 not taken
 *       (40); in VS (vsstatus.SIE = 1) taken in HS as 0x8000000000000006 with
 *       SPV = 1 (41); vsip.STIP reads 0 in VS (49); in HS, setting
 *       sstatus.SIE takes it at once with SPV = 0 (51)
 *   60  hvip.VSEIP, hideleg bit 10: vscause 0x8000000000000009 (61); vsip.SEIP
 *       reads 1 (60); VS masking vsie.SEIE clears hie.VSEIE (67)
 *   70  vsie gating: vsie.SSIE = 0 with vsstatus.SIE = 1 keeps a VSSI (70);
 *       `csrs sie, SSIE` in VS takes it at once (71); hie.VSSIE follows (77)
 *   80  in VU the VSSI is taken although vsstatus.SIE = 0 (vsstatus.SPP = 0,
 *       SPIE = 0); the VS handler returns to VU; registers survive (86)
 *   90  an HS timer interrupt preempts a guest with vsstatus.SIE = 0 and
 *       HS's sstatus.SIE = 0: M takes its timer from VS (90: mcause
 *       0x8000000000000007, MPP = S, MPV = 1) and sets mip.STIP; HS takes
 *       0x8000000000000005 with SPV = 1, SPP = 1 (98); the guest resumes
 *       with its registers (106)
 *  110  htimedelta: rdtime in VS and VU reads mtime + htimedelta (110, 111,
 *       also a "negative" delta, 112); in HS rdtime = mtime (113);
 *       hcounteren.TM = 0: rdtime in VS is a virtual instruction (120,
 *       stval = the instruction); in VU too with hcounteren.TM = 0 (130) or
 *       scounteren.TM = 0 (140)
 *  150  mcounteren.TM = 0: rdtime in VS is an illegal instruction in M
 *       (MPV = 1), not a virtual one
 */
#include "hyp.h"

    TEST_NAME hyp_int

#define TIMEOUT_TICKS   (5 * TIMEBASE_HZ)   /* rvkvm may deliver between time slices */
#define DELAY_TICKS     (TIMEBASE_HZ / 1000)
#define IDLE_LOOPS      2000                /* "not taken" windows */
#define TIME_DELTA      0x0123456700000000
#define TIME_DELTA_NEG  0xffffff0000000000  /* -2^40 */

/* record layouts */
#define IRQ_CAUSE   0
#define IRQ_EPC     8
#define IRQ_TVAL    16
#define IRQ_STATUS  24
#define IRQ_HSTATUS 32      /* HS; M: mtval2 at 32 */
#define IRQ_TVAL2   40      /* HS htval; M mtinst at 40 */
#define IRQ_TINST   48
#define IRQ_COUNT   56

/* Save x1-x31 (but t0, kept in `scratch`) into `area`; leaves t0 = area. */
.macro SAVE_ALL area, scratch
    csrw \scratch, t0
    la t0, \area
    .irp r, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    sd x\r, (\r * 8)(t0)
    .endr
    csrr t1, \scratch
    sd t1, (5 * 8)(t0)
.endm

.macro RESTORE_ALL area
    la t0, \area
    .irp r, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    ld x\r, (\r * 8)(t0)
    .endr
    ld t0, (5 * 8)(t0)
.endm

/* Registers an interrupt must not disturb: set, then checked in one code. */
#define MARKED_REGS gp, tp, s2, s3, s4, s5, s6, s7, s8, a0, a1, a2, a3, a4, a5, a6, a7, t1, t2
.macro MARK_REGS
    .set .Lv, 0x1357000000000100
    .irp r, MARKED_REGS
    li \r, .Lv
    .set .Lv, .Lv + 0x10001
    .endr
.endm

/* code: every marked register still holds its value (clobbers t4-t6) */
.macro CHECK_REGS code
    li t4, 0
    .set .Lv, 0x1357000000000100
    .irp r, MARKED_REGS
    li t6, .Lv
    xor t6, t6, \r
    or t4, t4, t6
    .set .Lv, .Lv + 0x10001
    .endr
    CHECK_EQI \code, t4, 0
.endm

/* spin (t3) for a while: a pending, enabled interrupt would be taken here */
.macro IDLE
    li t3, IDLE_LOOPS
1:  addi t3, t3, -1
    bnez t3, 1b
.endm

/* Wait (t0, t3) until the count of record `rec` is nonzero; code: timeout. */
.macro WAIT_IRQ code, rec
    READ_MTIME t3
    li t0, TIMEOUT_TICKS
    add t3, t3, t0
1:  ld t0, \rec + IRQ_COUNT
    bnez t0, 2f
    READ_MTIME t0
    bltu t0, t3, 1b
    li t6, 1
    FAIL_CHECK \code, zero, t6
2:
.endm

/* dword `off` of record `rec`: code, compared with immediate `imm` (bits
 * shift.. of width given by `mask` when shift >= 0) */
.macro CHECK_FIELD code, rec, off, imm, shift=-1, mask=1
    ld t5, \rec + \off
    .if \shift >= 0
    srli t5, t5, \shift
    andi t5, t5, \mask
    .endif
    CHECK_EQI \code, t5, \imm
.endm

/* the recorded epc lies in [lo, hi] (labels); code */
.macro CHECK_EPC code, rec, lo, hi
    la t3, \lo
    la t4, \hi
    ld t5, \rec + IRQ_EPC
    CHECK_RANGE \code, t5, t3, t4
.endm

/* The last interrupt into VS: code..code+5 (cause, epc, tval, SPP, SPIE, SIE) */
.macro CHECK_VS_IRQ code, cause, lo, hi, spp, spie
    CHECK_FIELD \code, vs_irq, IRQ_CAUSE, \cause
    CHECK_EPC (\code + 1), vs_irq, \lo, \hi
    CHECK_FIELD (\code + 2), vs_irq, IRQ_TVAL, 0
    CHECK_FIELD (\code + 3), vs_irq, IRQ_STATUS, \spp, 8
    CHECK_FIELD (\code + 4), vs_irq, IRQ_STATUS, \spie, 5
    CHECK_FIELD (\code + 5), vs_irq, IRQ_STATUS, 0, 1
.endm

/* The last interrupt into HS: code..code+7 */
.macro CHECK_HS_IRQ code, cause, lo, hi, spp, spv
    CHECK_FIELD \code, hs_irq, IRQ_CAUSE, \cause
    CHECK_EPC (\code + 1), hs_irq, \lo, \hi
    CHECK_FIELD (\code + 2), hs_irq, IRQ_TVAL, 0
    CHECK_FIELD (\code + 3), hs_irq, IRQ_STATUS, \spp, 8
    CHECK_FIELD (\code + 4), hs_irq, IRQ_HSTATUS, \spv, 7
    CHECK_FIELD (\code + 5), hs_irq, IRQ_HSTATUS, 0, 6
    CHECK_FIELD (\code + 6), hs_irq, IRQ_TVAL2, 0
    CHECK_FIELD (\code + 7), hs_irq, IRQ_TINST, 0
.endm

/* The last interrupt into M: code..code+7 */
.macro CHECK_M_IRQ code, cause, lo, hi, mpp, mpv
    CHECK_FIELD \code, m_irq, IRQ_CAUSE, \cause
    CHECK_EPC (\code + 1), m_irq, \lo, \hi
    CHECK_FIELD (\code + 2), m_irq, IRQ_TVAL, 0
    CHECK_FIELD (\code + 3), m_irq, IRQ_STATUS, \mpp, MSTATUS_MPP_SHIFT, 3
    CHECK_FIELD (\code + 4), m_irq, IRQ_STATUS, \mpv, MSTATUS_MPV_SHIFT
    CHECK_FIELD (\code + 5), m_irq, IRQ_STATUS, 0, MSTATUS_GVA_SHIFT
    CHECK_FIELD (\code + 6), m_irq, IRQ_HSTATUS, 0
    CHECK_FIELD (\code + 7), m_irq, IRQ_TVAL2, 0
.endm

/* zero a record (t0) */
.macro CLEAR_REC rec
    la t0, \rec
    .irp off, 0, 8, 16, 24, 32, 40, 48, 56
    sd zero, \off(t0)
    .endr
.endm

/* In HS: run VS (PRV_S) or VU (PRV_U) code at `label`; its ecall resumes HS at `back` */
.macro RUN_V prv, label, back
    EXPECT_STRAP \back
    HS_ENTER_V \prv, \label
.endm

/* reg = the masked bits of CSR `csr` */
.macro CSR_BITS reg, csr, mask
    csrr \reg, \csr
    li t6, \mask
    and \reg, \reg, t6
.endm

    .text
    .globl test_main
test_main:
    HYP_SETUP
    la t0, m_vec
    csrw mtvec, t0
    la t0, hs_vec
    csrw stvec, t0
    la t0, vs_vec
    csrw vstvec, t0
    li t0, CLINT_MTIMECMP           /* no M timer until the guest asks */
    li t1, -1
    sd t1, 0(t0)
    li t0, (1 << CAUSE_ECALL_U) | (1 << CAUSE_ECALL_VS) | (1 << CAUSE_VIRTUAL_INSN)
    csrw medeleg, t0
    li t0, MIP_STIP
    csrw mideleg, t0
    li t0, MIP_MTIP
    csrw mie, t0
    csrw mip, zero
    csrw hvip, zero
    li t0, COUNTEREN_TM
    csrw mcounteren, t0
    EXPECT_MTRAP .Lm_back
    M_ENTER PRV_S, 0, hs_main

.Lm_back:                           /* 2: HS finished with an ecall */
    ld t0, rt_mcause
    CHECK_EQI 2, t0, CAUSE_ECALL_S
    li t0, MIP_STIP
    csrc mip, t0

    /* ---- 150: mcounteren.TM = 0: rdtime in VS is illegal, in M ---- */
    csrw mcounteren, zero
    EXPECT_MTRAP 1f
    M_ENTER PRV_S, 1, .Lvs150
.Lvs150:
    rdtime t0
    MISSED_TRAP 150
1:  la s2, .Lvs150
    LOAD_INSN32 s3, .Lvs150
    CHECK_MTRAP_H 150, CAUSE_ILLEGAL_INSN, s2, s3, PRV_S, 1, 0, zero, zero, Q_GVA

    csrw medeleg, zero
    csrw mideleg, zero
    csrw mie, zero
    li a0, 0
    j rt_pass

/* ======== HS ======== */
hs_main:
    /* ---- 10: hvip.VSSIP delegated to VS ---- */
    li t0, MIP_VSSIP
    csrw hideleg, t0
    csrw hie, t0
    csrw hvip, t0
    csrsi sstatus, MSTATUS_SIE
    IDLE
    csrci sstatus, MSTATUS_SIE
    CHECK_FIELD 10, hs_irq, IRQ_COUNT, 0    /* 10: V = 0: not taken in HS */
    CSR_BITS t0, hip, MIP_VS_ALL
    CHECK_EQI 11, t0, MIP_VSSIP
    csrw vsstatus, zero                     /* 13: vsstatus.SIE = 0 */
    RUN_V PRV_S, .Lvs10, .Lhs10
.Lvs10:
    IDLE
    ld s1, vs_irq + IRQ_COUNT
    CSR_BITS s9, sip, MIP_SSIP | MIP_STIP | MIP_SEIP | MIP_VS_ALL
    CSR_BITS s10, sie, MIP_SSIP | MIP_STIP | MIP_SEIP | MIP_VS_ALL
    MARK_REGS
    csrsi sstatus, MSTATUS_SIE
.Lvs10_next:
    csrci sstatus, MSTATUS_SIE
    CHECK_REGS 22
    csrci sip, MIP_SSIP                     /* 23: clears hvip.VSSIP */
    ecall
    MISSED_TRAP 10
.Lhs10:
    CHECK_EQI 13, s1, 0
    /* 14, 15: QEMU 7.2 masks sip/sie in VS with HS's mideleg */
    CHECK_EQI_QEMU 14, s9, MIP_SSIP
    CHECK_EQI_QEMU 15, s10, MIP_SSIP
    CHECK_VS_IRQ 16, CAUSE_IRQ(IRQ_SSI), .Lvs10_next, .Lvs10_next, PRV_S, 1
    CSR_BITS t0, hvip, MIP_VS_ALL
    CHECK_EQI 23, t0, 0
    CHECK_FIELD 24, vs_irq, IRQ_COUNT, 1
    csrw hvip, zero

    /* ---- 30: hvip.VSTIP delegated to VS, VS entered with SIE = 1 ---- */
    CLEAR_REC vs_irq
    li t0, MIP_VSTIP
    csrw hideleg, t0
    csrw hie, t0
    csrw hvip, t0
    li t0, MSTATUS_SIE
    csrw vsstatus, t0
    RUN_V PRV_S, .Lvs30, .Lhs30
.Lvs30:
    WAIT_IRQ 30, vs_irq
.Lvs30_end:
    CSR_BITS s9, sip, MIP_SSIP | MIP_STIP | MIP_SEIP | MIP_VS_ALL
    li t0, MIP_STIP                         /* read-only: stays pending */
    csrc sip, t0
    CSR_BITS s10, sip, MIP_STIP
    ecall
    MISSED_TRAP 30
.Lhs30:
    CHECK_VS_IRQ 31, CAUSE_IRQ(IRQ_STI), .Lvs30, .Lvs30_end, PRV_S, 1
    /* 37, 38 (and 60): QEMU 7.2 reads vsip.STIP/SEIP as 0 */
    CHECK_EQI_QEMU 37, s9, MIP_STIP
    CHECK_EQI_QEMU 38, s10, MIP_STIP
    CSR_BITS t0, hie, MIP_VS_ALL            /* 39: VS's mask reached hie */
    CHECK_EQI 39, t0, 0
    csrw hvip, zero

    /* ---- 40: hvip.VSTIP not delegated: a VS timer interrupt for HS ---- */
    CLEAR_REC vs_irq
    csrw hideleg, zero
    li t0, MIP_VSTIP
    csrw hie, t0
    csrw hvip, t0
    IDLE                                    /* 40: sstatus.SIE = 0 in HS */
    CHECK_FIELD 40, hs_irq, IRQ_COUNT, 0
    li t0, MSTATUS_SIE
    csrw vsstatus, t0
    RUN_V PRV_S, .Lvs41, .Lhs41
.Lvs41:
    WAIT_IRQ 41, hs_irq
.Lvs41_end:
    CSR_BITS s9, sip, MIP_SSIP | MIP_STIP | MIP_SEIP | MIP_VS_ALL
    ld s1, vs_irq + IRQ_COUNT
    ecall
    MISSED_TRAP 41
.Lhs41:
    CHECK_HS_IRQ 42, CAUSE_IRQ(IRQ_VSTI), .Lvs41, .Lvs41_end, PRV_S, 1
    CHECK_EQI 49, s9, 0                     /* 49: vsip.STIP reads 0 */
    CHECK_EQI 50, s1, 0                     /* 50: VS took nothing */
    CLEAR_REC hs_irq
    li t0, MIP_VSTIP                        /* the handler masked hie.VSTIE */
    csrw hie, t0
    MARK_REGS
    csrsi sstatus, MSTATUS_SIE
.Lhs51_next:
    csrci sstatus, MSTATUS_SIE
    CHECK_REGS 59
    CHECK_HS_IRQ 51, CAUSE_IRQ(IRQ_VSTI), .Lhs51_next, .Lhs51_next, PRV_S, 0
    csrw hvip, zero

    /* ---- 60: hvip.VSEIP delegated to VS ---- */
    CLEAR_REC vs_irq
    li t0, MIP_VSEIP
    csrw hideleg, t0
    csrw hie, t0
    csrw hvip, t0
    csrw vsstatus, zero
    RUN_V PRV_S, .Lvs60, .Lhs60
.Lvs60:
    CSR_BITS s9, sip, MIP_SSIP | MIP_STIP | MIP_SEIP | MIP_VS_ALL
    csrsi sstatus, MSTATUS_SIE
.Lvs60_next:
    csrci sstatus, MSTATUS_SIE
    ecall
    MISSED_TRAP 60
.Lhs60:
    CHECK_EQI_QEMU 60, s9, MIP_SEIP
    CHECK_VS_IRQ 61, CAUSE_IRQ(IRQ_SEI), .Lvs60_next, .Lvs60_next, PRV_S, 1
    CSR_BITS t0, hie, MIP_VS_ALL
    CHECK_EQI 67, t0, 0
    csrw hvip, zero

    /* ---- 70: vsie gates a VS interrupt; VS enables it through sie ---- */
    CLEAR_REC vs_irq
    li t0, MIP_VSSIP
    csrw hideleg, t0
    csrw hie, zero
    csrw hvip, t0
    li t0, MSTATUS_SIE
    csrw vsstatus, t0
    RUN_V PRV_S, .Lvs70, .Lhs70
.Lvs70:
    IDLE
    ld s1, vs_irq + IRQ_COUNT
    li t0, MIP_SSIP
    csrs sie, t0
.Lvs70_next:
    csrci sstatus, MSTATUS_SIE
    ecall
    MISSED_TRAP 70
.Lhs70:
    CHECK_EQI 70, s1, 0
    CHECK_VS_IRQ 71, CAUSE_IRQ(IRQ_SSI), .Lvs70_next, .Lvs70_next, PRV_S, 1
    /* 77: the VS handler masked sie.SSIE again; hie.VSSIE followed both */
    CSR_BITS t0, hie, MIP_VS_ALL
    CHECK_EQI 77, t0, 0
    CHECK_FIELD 78, vs_irq, IRQ_COUNT, 1

    /* ---- 80: in VU a VS interrupt is taken regardless of vsstatus.SIE ---- */
    CLEAR_REC vs_irq
    li t0, MIP_VSSIP                        /* hvip.VSSIP still set */
    csrw hie, t0
    csrw vsstatus, zero
    RUN_V PRV_U, .Lvu80, .Lhs80
.Lvu80:
    MARK_REGS
.Lvu80_wait:
    WAIT_IRQ 80, vs_irq
.Lvu80_end:
    CHECK_REGS 86
    ecall
    MISSED_TRAP 80
.Lhs80:
    ld t0, rt_scause                        /* 87: VU's ecall */
    CHECK_EQI 87, t0, CAUSE_ECALL_U
    CHECK_VS_IRQ 81, CAUSE_IRQ(IRQ_SSI), .Lvu80, .Lvu80_end, PRV_U, 0
    csrw hvip, zero
    csrw hie, zero
    csrw hideleg, zero

    /* ---- 90: an HS timer interrupt preempts the guest ---- */
    CLEAR_REC m_irq
    CLEAR_REC hs_irq
    li t0, MIP_STIP
    csrw sie, t0
    csrw vsstatus, zero                     /* vsstatus.SIE = 0, sstatus.SIE = 0 */
    RUN_V PRV_S, .Lvs90, .Lhs90
.Lvs90:
    MARK_REGS
    READ_MTIME t0
    li t3, DELAY_TICKS
    add t0, t0, t3
    li t3, CLINT_MTIMECMP
    sd t0, 0(t3)
.Lvs90_wait:
    WAIT_IRQ 90, hs_irq
.Lvs90_end:
    CHECK_REGS 106
    ecall
    MISSED_TRAP 90
.Lhs90:
    CHECK_M_IRQ 90, CAUSE_IRQ(IRQ_MTI), .Lvs90_wait, .Lvs90_end, PRV_S, 1
    CHECK_HS_IRQ 98, CAUSE_IRQ(IRQ_STI), .Lvs90_wait, .Lvs90_end, PRV_S, 1
    CHECK_FIELD 107, m_irq, IRQ_COUNT, 1
    CHECK_FIELD 108, hs_irq, IRQ_COUNT, 1
    csrw sie, zero

    /* ---- 110: htimedelta and hcounteren.TM ---- */
    li t0, TIME_DELTA
    csrw htimedelta, t0
    li t0, COUNTEREN_TM
    csrw hcounteren, t0
    csrw scounteren, t0
    RUN_V PRV_S, .Lvs110, .Lhs110
.Lvs110:
    READ_MTIME s2
    rdtime s3
    READ_MTIME s4
    ecall
.Lhs110:
    li t0, TIME_DELTA
    add s2, s2, t0
    add s4, s4, t0
    CHECK_RANGE 110, s3, s2, s4
    RUN_V PRV_U, .Lvs110, .Lhs111
.Lhs111:
    li t0, TIME_DELTA
    add s2, s2, t0
    add s4, s4, t0
    CHECK_RANGE 111, s3, s2, s4
    li t0, TIME_DELTA_NEG
    csrw htimedelta, t0
    RUN_V PRV_S, .Lvs110, .Lhs112
.Lhs112:
    li t0, TIME_DELTA_NEG
    add s2, s2, t0
    add s4, s4, t0
    CHECK_RANGE 112, s3, s2, s4
    READ_MTIME s2                           /* 113: no delta in HS */
    rdtime s3
    READ_MTIME s4
    CHECK_RANGE 113, s3, s2, s4

    csrw hcounteren, zero                   /* 120: VS, hcounteren.TM = 0 */
    RUN_V PRV_S, .Lv120, .Lhs120
.Lv120:
    rdtime t0
    MISSED_TRAP 120
.Lhs120:
    la s2, .Lv120
    LOAD_INSN32 s3, .Lv120
    CHECK_HTRAP 120, CAUSE_VIRTUAL_INSN, s2, s3, PRV_S, 1, 0, zero, zero
    RUN_V PRV_U, .Lv120, .Lhs130            /* 130: VU, hcounteren.TM = 0 */
.Lhs130:
    CHECK_HTRAP 130, CAUSE_VIRTUAL_INSN, s2, s3, PRV_U, 1, 0, zero, zero
    li t0, COUNTEREN_TM                     /* 140: VU, scounteren.TM = 0 */
    csrw hcounteren, t0
    csrw scounteren, zero
    RUN_V PRV_U, .Lv120, .Lhs140
.Lhs140:
    CHECK_HTRAP 140, CAUSE_VIRTUAL_INSN, s2, s3, PRV_U, 1, 0, zero, zero
    csrw hcounteren, zero
    csrw htimedelta, zero

    ecall                                   /* back to M */
    MISSED_TRAP 3

/* ======== handlers ======== */

/* M: the timer interrupt (SBI-style: raise STIP for HS, mask MTIE) */
    .align 2
m_vec:
    csrw mscratch, t0
    csrr t0, mcause
    bltz t0, 1f
    csrr t0, mscratch
    j hyp_mtrap
1:  csrr t0, mscratch
    SAVE_ALL m_regs, mscratch
    la t0, m_irq
    csrr t1, mcause
    sd t1, IRQ_CAUSE(t0)
    csrr t1, mepc
    sd t1, IRQ_EPC(t0)
    csrr t1, mtval
    sd t1, IRQ_TVAL(t0)
    csrr t1, mstatus
    sd t1, IRQ_STATUS(t0)
    csrr t1, mtval2
    sd t1, IRQ_HSTATUS(t0)
    csrr t1, mtinst
    sd t1, IRQ_TVAL2(t0)
    ld t1, IRQ_COUNT(t0)
    addi t1, t1, 1
    sd t1, IRQ_COUNT(t0)
    li t1, MIP_MTIP
    csrc mie, t1
    li t1, MIP_STIP
    csrs mip, t1
    li t0, CLINT_MTIMECMP
    li t1, -1
    sd t1, 0(t0)
    RESTORE_ALL m_regs
    mret

/* HS: record, mask the interrupt in sie and hie, return */
    .align 2
hs_vec:
    csrw sscratch, t0
    csrr t0, scause
    bltz t0, 1f
    csrr t0, sscratch
    j hyp_hstrap
1:  csrr t0, sscratch
    SAVE_ALL hs_regs, sscratch
    la t0, hs_irq
    csrr t1, scause
    sd t1, IRQ_CAUSE(t0)
    csrr t1, sepc
    sd t1, IRQ_EPC(t0)
    csrr t1, stval
    sd t1, IRQ_TVAL(t0)
    csrr t1, sstatus
    sd t1, IRQ_STATUS(t0)
    csrr t1, hstatus
    sd t1, IRQ_HSTATUS(t0)
    csrr t1, htval
    sd t1, IRQ_TVAL2(t0)
    csrr t1, htinst
    sd t1, IRQ_TINST(t0)
    ld t1, IRQ_COUNT(t0)
    addi t1, t1, 1
    sd t1, IRQ_COUNT(t0)
    csrr t1, scause
    andi t1, t1, 63
    li t2, 1
    sll t2, t2, t1
    csrc sie, t2
    csrc hie, t2
    RESTORE_ALL hs_regs
    sret

/* VS: record as VS sees it, mask the interrupt in sie (vsie), return */
    .align 2
vs_vec:
    csrw sscratch, t0
    csrr t0, scause
    bltz t0, 1f
    csrr t0, sscratch
    j hyp_vstrap
1:  csrr t0, sscratch
    SAVE_ALL vs_regs, sscratch
    la t0, vs_irq
    csrr t1, scause
    sd t1, IRQ_CAUSE(t0)
    csrr t1, sepc
    sd t1, IRQ_EPC(t0)
    csrr t1, stval
    sd t1, IRQ_TVAL(t0)
    csrr t1, sstatus
    sd t1, IRQ_STATUS(t0)
    ld t1, IRQ_COUNT(t0)
    addi t1, t1, 1
    sd t1, IRQ_COUNT(t0)
    csrr t1, scause
    andi t1, t1, 63
    li t2, 1
    sll t2, t2, t1
    csrc sie, t2
    RESTORE_ALL vs_regs
    sret

    HYP_RUNTIME

    .bss
    .align 3
m_irq:      .space 64
hs_irq:     .space 64
vs_irq:     .space 64
m_regs:     .space 32 * 8
hs_regs:    .space 32 * 8
vs_regs:    .space 32 * 8
