/*
 * hyp_fault: guest-page faults of accesses and instructions that straddle a
 * page boundary into an unmapped G-stage page (counter gating in V = 1:
 * hyp_counters and hyp_int).
 *
 * G-stage (hgatp Sv39x4, built by M):
 *   GPA 0x80000000 1 GiB U RWX identity (the image, VS tables)
 *   GPA 0xC0000000 U RW -> g_data      GPA 0xC0002000 U RX -> g_code
 *   GPA 0xC0001000 invalid              GPA 0xC0003000 invalid
 * VS-stage (vsatp Sv39, in guest memory): VA 0x80000000 1 GiB identity RWX;
 *   VA 0x40000000 + n * 0x1000 -> GPA 0xC0000000 + n * 0x1000 (n = 0, 1: RW;
 *   n = 2, 3: RX): every VA differs from its GPA.
 * M delegates guest-page faults, virtual instructions and ecalls from VU/VS
 * to HS; HS runs the checks (trap checks: hyp.h's 8 codes).
 *
 *   10  misaligned loads/stores whose second part falls in the invalid G
 *       page: lw (offset 2), sd (4), lhu (1): load/store guest-page fault
 *       with stval = the first byte of that page (VA 0x40001000), htval =
 *       its GPA >> 2, htinst = the transformed instruction with the offset
 *       of stval from the original address in bits 19:15 (spec "Transformed
 *       Instruction or Pseudoinstruction"), GVA = 1, SPV = 1
 *   40  a 32-bit instruction at the last halfword of an executable guest
 *       page, the next page G-invalid: instruction guest-page fault (20)
 *       with sepc = the instruction, stval = the next page (VA 0x40003000),
 *       htval = its GPA >> 2, htinst = 0; 48: code on that page runs
 */
#include "hyp.h"

    TEST_NAME hyp_fault

#define RAM_BASE        0x80000000
#define GPA_DATA        0xC0000000
#define GPA_HOLE        0xC0001000
#define GPA_CODE        0xC0002000
#define GPA_CODE_HOLE   0xC0003000
#define VA_DATA         0x40000000
#define VA_HOLE         0x40001000
#define VA_CODE         0x40002000
#define VA_CODE_HOLE    0x40003000

#define LEAF_A_D        (PTE_V | PTE_A | PTE_D)
#define LEAF_RW         (LEAF_A_D | PTE_R | PTE_W)
#define LEAF_RX         (LEAF_A_D | PTE_R | PTE_X)
#define LEAF_RWX        (LEAF_RW | PTE_X)


/* In HS: run VS (PRV_S) or VU (PRV_U) code at `label`; its trap resumes HS at `back` */
.macro RUN_V prv, label, back
    EXPECT_STRAP \back
    HS_ENTER_V \prv, \label
.endm

/*
 * In HS: run `insn` (an access at s1 = `va`, which straddles into
 * VA_HOLE) in VS and expect guest-page fault `cause` at the first byte of the
 * G-invalid page: stval = VA_HOLE, htval = GPA_HOLE >> 2, htinst = the
 * transformed instruction (`mask`) with offset VA_HOLE - va. code..code+7.
 */
.macro EXPECT_STRADDLE code, cause, va, mask, insn:vararg
    RUN_V PRV_S, .Lsv\@, .Lsh\@
.Lsv\@:
    li s1, \va
.Ltry\@:
    \insn
    MISSED_TRAP \code
.Lsh\@:
    la s2, .Ltry\@
    li s3, VA_HOLE
    li s4, GPA_HOLE >> 2
    TINST s5, .Ltry\@, \mask, (VA_HOLE - (\va))
    CHECK_HTRAP \code, \cause, s2, s3, PRV_S, 1, 1, s4, s5, Q_TINST
.endm

    .text
    .option norvc                   /* the checked instructions stay 32-bit */
    .globl test_main
test_main:
    addi sp, sp, -16
    sd ra, 8(sp)
    HYP_SETUP

    SET_PTE_ABS g_root, 2, RAM_BASE, LEAF_RWX | PTE_U
    SET_PTE g_root, 3, g_l1, PTE_V
    SET_PTE g_l1, 0, g_l0, PTE_V
    SET_PTE g_l0, 0, g_data, LEAF_RW | PTE_U
    SET_PTE g_l0, 2, g_code, LEAF_RX | PTE_U
    SET_PTE_ABS vs_root, 2, RAM_BASE, LEAF_RWX
    SET_PTE vs_root, 1, vs_l1, PTE_V
    SET_PTE vs_l1, 0, vs_l0, PTE_V
    SET_PTE_ABS vs_l0, 0, GPA_DATA, LEAF_RW
    SET_PTE_ABS vs_l0, 1, GPA_HOLE, LEAF_RW
    SET_PTE_ABS vs_l0, 2, GPA_CODE, LEAF_RX
    SET_PTE_ABS vs_l0, 3, GPA_CODE_HOLE, LEAF_RX

    la t0, g_root
    srli t0, t0, 12
    li t1, HGATP_MODE_SV39X4
    or t0, t0, t1
    csrw hgatp, t0
    la t0, vs_root
    srli t0, t0, 12
    li t1, SATP_MODE_SV39
    or t0, t0, t1
    csrw vsatp, t0
    hfence.gvma
    hfence.vvma

    li t0, (1 << CAUSE_ECALL_U) | (1 << CAUSE_ECALL_VS) | (1 << CAUSE_INSN_GUEST_PF) | (1 << CAUSE_LOAD_GUEST_PF) | (1 << CAUSE_VIRTUAL_INSN) | (1 << CAUSE_STORE_GUEST_PF)
    csrw medeleg, t0
    EXPECT_MTRAP .Lm_back
    M_ENTER PRV_S, 0, hs_main

.Lm_back:                           /* 2: HS finished with an ecall */
    ld t0, rt_mcause
    CHECK_EQI 2, t0, CAUSE_ECALL_S

    csrw hgatp, zero
    csrw vsatp, zero
    csrw medeleg, zero
    ld ra, 8(sp)
    addi sp, sp, 16
    li a0, 0
    ret


/* ======== HS ======== */
hs_main:
    /* ---- 10: misaligned accesses straddling into the G-invalid page ---- */
    EXPECT_STRADDLE 10, CAUSE_LOAD_GUEST_PF, VA_HOLE - 2, TINST_LOAD, lw a0, 0(s1)
    EXPECT_STRADDLE 20, CAUSE_STORE_GUEST_PF, VA_HOLE - 4, TINST_STORE, sd s1, 0(s1)
    EXPECT_STRADDLE 30, CAUSE_LOAD_GUEST_PF, VA_HOLE - 1, TINST_LOAD, lhu a0, 0(s1)

    /* ---- 40: an instruction straddling into the G-invalid page ---- */
    RUN_V PRV_S, .Lvs40, .Lhs40
.Lvs40:
    li s1, VA_CODE + 0xffe
    jr s1
    MISSED_TRAP 40
.Lhs40:
    li s3, VA_CODE_HOLE
    li s4, GPA_CODE_HOLE >> 2
    CHECK_HTRAP 40, CAUSE_INSN_GUEST_PF, s1, s3, PRV_S, 1, 1, s4, zero
    RUN_V PRV_S, .Lvs48, .Lhs48         /* 48: g_code's ecall runs at VA_CODE */
.Lvs48:
    li s1, VA_CODE
    jr s1
    MISSED_TRAP 48
.Lhs48:
    ld t0, rt_scause
    CHECK_EQI 48, t0, CAUSE_ECALL_VS
    ld t0, rt_sepc
    li t1, VA_CODE
    CHECK_EQ 49, t0, t1

    ecall                               /* back to M */
    MISSED_TRAP 3

    HYP_RUNTIME

/* g_code: the page behind GPA_CODE; a 32-bit instruction (addi a0, a0, 1)
 * starts at its last halfword, its second half would be on the next page */
    .text
    .align 12
g_code:
    ecall
    .org g_code + 0xffe
    .half 0x0513
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
