/*
 * hyp_counters: hcounteren gating of the cycle and instret counters in VS
 * and VU (spec "Hypervisor Counter-Enable Register" and the list of
 * virtual-instruction cases); rdtime and htimedelta: hyp_int. Both
 * translation stages Bare. M sets mcounteren.CY/TM/IR and delegates ecalls
 * from VU/VS and virtual instructions to HS; HS runs the checks (trap
 * checks: hyp.h's 8 codes).
 *
 *   10  hcounteren = 0: rdcycle (10) and rdinstret (20) in VS are virtual
 *       instructions (22, stval = the instruction, SPV = 1)
 *   30  with hcounteren.CY/IR they read in VS and count up (30, 31)
 *   40  in VU with scounteren = 0: virtual instruction (40); with
 *       hcounteren.CY = 0 and scounteren.CY = 1: virtual instruction (50);
 *       with both: reads (58)
 *   60  mcounteren = 0: rdcycle in VS is an illegal instruction in M
 *       (MPV = 1), although hcounteren.CY = 1
 */
#include "hyp.h"

    TEST_NAME hyp_counters

/* In HS: run VS (PRV_S) or VU (PRV_U) code at `label`; its trap resumes HS at `back` */
.macro RUN_V prv, label, back
    EXPECT_STRAP \back
    HS_ENTER_V \prv, \label
.endm

/* In HS: `insn` in V-mode `prv` is a virtual instruction: code..code+7 */
.macro EXPECT_VIRTUAL code, prv, insn:vararg
    RUN_V \prv, .Lvi\@, .Lsh\@
.Lvi\@:
    \insn
    ecall                               /* no trap: HS checks the ecall's cause */
.Lsh\@:
    la s2, .Lvi\@
    LOAD_INSN32 s3, .Lvi\@
    CHECK_HTRAP \code, CAUSE_VIRTUAL_INSN, s2, s3, \prv, 1, 0, zero, zero
.endm

    .text
    .option norvc
    .globl test_main
test_main:
    HYP_SETUP
    li t0, (1 << CAUSE_ECALL_U) | (1 << CAUSE_ECALL_VS) | (1 << CAUSE_VIRTUAL_INSN)
    csrw medeleg, t0
    li t0, COUNTEREN_CY | COUNTEREN_TM | COUNTEREN_IR
    csrw mcounteren, t0
    EXPECT_MTRAP .Lm_back
    M_ENTER PRV_S, 0, hs_main

.Lm_back:                           /* 2: HS finished with an ecall */
    ld t0, rt_mcause
    CHECK_EQI 2, t0, CAUSE_ECALL_S

    /* ---- 60: mcounteren = 0: rdcycle in VS is illegal, in M ---- */
    csrw mcounteren, zero
    li t0, COUNTEREN_CY
    csrw hcounteren, t0
    EXPECT_MTRAP 1f
    M_ENTER PRV_S, 1, .Lvs60
.Lvs60:
    rdcycle t0
    ecall                               /* no trap: the ecall's cause is checked */
1:  la s2, .Lvs60
    LOAD_INSN32 s3, .Lvs60
    /* 65: QEMU 7.2 sets GVA (as hyp_enter 105) */
    CHECK_MTRAP_H 60, CAUSE_ILLEGAL_INSN, s2, s3, PRV_S, 1, 0, zero, zero, Q_GVA

    csrw medeleg, zero
    csrw hcounteren, zero
    li a0, 0
    j rt_pass

/* ======== HS ======== */
hs_main:
    csrw hcounteren, zero
    EXPECT_VIRTUAL 10, PRV_S, rdcycle t0
    EXPECT_VIRTUAL 20, PRV_S, rdinstret t0

    li t0, COUNTEREN_CY | COUNTEREN_IR
    csrw hcounteren, t0
    RUN_V PRV_S, .Lvs30, .Lhs30
.Lvs30:
    rdcycle s2
    rdinstret s3
    nop
    rdcycle s4
    rdinstret s5
    ecall
.Lhs30:
    ld t0, rt_scause                    /* 32: the reads did not trap */
    CHECK_EQI 32, t0, CAUSE_ECALL_VS
    sltu t0, s2, s4                     /* 30, 31: they count up */
    CHECK_EQI 30, t0, 1
    sltu t0, s3, s5
    CHECK_EQI 31, t0, 1

    csrw scounteren, zero               /* 40: VU needs scounteren too */
    EXPECT_VIRTUAL 40, PRV_U, rdcycle t0
    li t0, COUNTEREN_CY                 /* 50: and hcounteren */
    csrw scounteren, t0
    csrw hcounteren, zero
    EXPECT_VIRTUAL 50, PRV_U, rdcycle t0
    li t0, COUNTEREN_CY
    csrw hcounteren, t0
    RUN_V PRV_U, .Lvu58, .Lhs58
.Lvu58:
    rdcycle s2
    ecall
.Lhs58:
    ld t0, rt_scause
    CHECK_EQI 58, t0, CAUSE_ECALL_U
    csrw scounteren, zero

    ecall                               /* back to M */
    MISSED_TRAP 3

    HYP_RUNTIME
