/*
 * hyp_mprv: M-mode loads and stores with mstatus.MPRV = 1 (the H chapter's
 * table "Effect of MPRV"): with MPV = 0 through satp (Sv39) at MPP's
 * privilege, with MPV = 1 through vsatp and hgatp (Sv39x4) at VS or VU
 * privilege. No delegation: every fault is taken in M, where MPP becomes M,
 * so the handler's own accesses are not translated.
 *
 * satp (HS-level), tables built by M:
 *   VA 0x80000000 1 GiB RW, no X (the image: M's fetches must not translate)
 *   VA 0x00800000 + 0x0000 S RW -> s_data    +0x3000 U RW  -> u_data
 *                 + 0x1000 S R  -> s_data    +0x4000 S X   -> s_data
 *                 + 0x2000 invalid           +0x5000 U X   -> u_data
 * (physical 0x00800000 is unmapped on the virt machine)
 * hgatp: GPA 0x80000000 1 GiB U RWX identity (the VS tables);
 *   GPA 0x00800000 + 0x0000 U RW -> g_data, +0x1000 U R -> g_data,
 *   +0x2000 invalid
 * vsatp: VA 0x00800000 + 0x0000 RW -> GPA +0x0000   +0x3000 U RW -> GPA +0x0000
 *                      + 0x1000 RW -> GPA +0x1000   +0x4000 X    -> GPA +0x0000
 *                      + 0x2000 RW -> GPA +0x2000
 *
 *   10  MPP = S: ld, sd, amoadd.d and lw through satp (VA != PA); 14: M's
 *       fetches are not translated (the image has no X under satp)
 *   20  MPP = S: sd to a read-only page: store page fault (15) in M, mtval =
 *       VA, MPP = M, mtval2 = 0, mtinst 0 or the transformed sd; 30: a load
 *       from an invalid page (13), rd unchanged (38)
 *   40  MPP = U: a U page reads; an S page faults (13, 15)
 *   60  MPP = S: a U page faults without SUM (13) and reads with SUM (68)
 *   70  MXR: an execute-only S page faults without MXR (13), reads with it
 *       (78); MPP = U with MXR reads an execute-only U page (79)
 *   80  after a trap into M with MPRV = 1 (MPP = M), MPRV stays 1 and
 *       accesses are no longer translated: VA 0x00800000 is then a load
 *       access fault (5)
 *   90  mret to S clears MPRV (90); mret to M keeps it (91)
 *  100  MPV = 1, MPP = S, vsatp Bare: ld/sd at GPAs through hgatp (100, 101);
 *       vsatp Sv39: ld/sd (102, 103)
 *  110  store guest-page fault (23) on a G-stage read-only page: mtval = VA,
 *       mtval2 = GPA >> 2, mtinst = the transformed sd, GVA = 1, MPV = 0,
 *       MPP = M; 120: load guest-page fault (21) on an invalid G page
 *  130  a VS-stage U page with MPP = S: vsstatus.SUM applies, not
 *       mstatus.SUM: page fault (13) with GVA = 1, mtval2 = 0 (130); reads
 *       with vsstatus.SUM (138)
 *  140  MPP = U with MPV = 1 (VU access): the U page reads (140), an S page
 *       faults (141)
 *  150  vsstatus.MXR makes a VS-stage execute-only page readable (150), and
 *       so does the HS-level mstatus.MXR (151); neither: page fault (152)
 */
#include "hyp.h"

    TEST_NAME hyp_mprv

#define RAM_BASE        0x80000000
#define VA_BASE         UNMAPPED_ADDR           /* 0x00800000 */
#define VA_S_RW         (VA_BASE + 0x0000)
#define VA_S_RO         (VA_BASE + 0x1000)
#define VA_INVALID      (VA_BASE + 0x2000)
#define VA_U_RW         (VA_BASE + 0x3000)
#define VA_S_XO         (VA_BASE + 0x4000)
#define VA_U_XO         (VA_BASE + 0x5000)
#define GPA_RW          (VA_BASE + 0x0000)
#define GPA_RO          (VA_BASE + 0x1000)
#define GPA_INVALID     (VA_BASE + 0x2000)
#define VA_G_RO         (VA_BASE + 0x1000)      /* vsatp -> GPA_RO */
#define VA_G_INVALID    (VA_BASE + 0x2000)      /* vsatp -> GPA_INVALID */
#define VA_VS_U         (VA_BASE + 0x3000)      /* vsatp U -> GPA_RW */
#define VA_VS_XO        (VA_BASE + 0x4000)      /* vsatp X only -> GPA_RW */

#define LEAF_A_D        (PTE_V | PTE_A | PTE_D)
#define LEAF_RW         (LEAF_A_D | PTE_R | PTE_W)
#define LEAF_RO         (LEAF_A_D | PTE_R)
#define LEAF_XO         (LEAF_A_D | PTE_X)
#define LEAF_RWX        (LEAF_RW | PTE_X)

#define MARK_S          0x5151515100000001
#define MARK_U          0x7575757500000002
#define MARK_G          0x6767676700000003
#define MARK_NEW        0x0123456789abcdef
#define RD_KEPT         0x0badbadbadbadbad


/* MPRV = 1 with MPP = prv, MPV = v and the extra mstatus bits (SUM, MXR);
 * clears the others. Every access until MPRV_OFF is translated: no loads or
 * stores of the image's data (rt_* records) meanwhile. Clobbers t0. */
.macro MPRV_ON prv, v, bits=0
    li t0, MSTATUS_MPP | MSTATUS_MPV | MSTATUS_GVA | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_MPRV
    csrc mstatus, t0
    li t0, (\prv << MSTATUS_MPP_SHIFT) | (\v << MSTATUS_MPV_SHIFT) | MSTATUS_MPRV | (\bits)
    csrs mstatus, t0
.endm

.macro MPRV_OFF
    li t0, MSTATUS_MPRV
    csrc mstatus, t0
.endm

/* a `qemu` flag of EXPECT_MPRV_FAULT: QEMU 7.2 takes no trap here */
#define Q_MISS      (1 << 8)

/*
 * Expect `insn` (accessing `va` through s1) with MPRV on to trap to M
 * with `cause`, mtval = va + off (tval of the access), and the fields of
 * CHECK_MTRAP_H: MPP = M (the trap came from M), MPV = 0, GVA = `gva`,
 * mtval2 = `tval2` (immediate), mtinst = the instruction & `tmask` or, when
 * `tany` = 1, also 0. codes code..code+7. `qemu`: the fields where QEMU
 * 7.2 departs (hyp.h), or Q_MISS: a missing trap is reported, not fatal.
 */
.macro EXPECT_MPRV_FAULT code, cause, prv, v, bits, va, off, gva, tval2, tmask, tany, qemu, insn:vararg
    EXPECT_MTRAP .Lback\@               /* uses t0 and t1: before the access */
    li s1, \va
    MPRV_ON \prv, \v, \bits
.Ltry\@:
    \insn
    MPRV_OFF
    .if (\qemu) & Q_MISS
    sd zero, rt_mtrap_resume, t0
    li t0, 1
    CHECK_EQ_QEMU \code, zero, t0          /* got 0 traps, want 1 */
    j .Lskip\@
    .else
    MISSED_TRAP \code
    .endif
.Lback\@:
    MPRV_OFF
    la s2, .Ltry\@
    li s3, \va + \off
    li s4, \tval2
    TINST s5, .Ltry\@, \tmask
    .if \tany
    ld t5, hyp_mtinst                   /* 0 is allowed too */
    bnez t5, .Lkeep\@
    li s5, 0
.Lkeep\@:
    .endif
    CHECK_MTRAP_H \code, \cause, s2, s3, PRV_M, 0, \gva, s4, s5, (\qemu) & 0xff
.Lskip\@:
.endm

/* code: `ld` of `va` with MPRV (as MPRV_ON prv, v, bits) reads `want`;
 * a trap there is reported by CHECK_EQ_QEMU (got = mcause, want = 0) */
.macro MPRV_LD_QEMU code, prv, v, bits, va, want
    EXPECT_MTRAP .Ltrap\@               /* uses t0 and t1: before the access */
    li s1, \va
    li s2, 0
    MPRV_ON \prv, \v, \bits
    ld s2, 0(s1)
    MPRV_OFF
    sd zero, rt_mtrap_resume, t0
    CHECK_EQI \code, s2, \want
    j .Ldone\@
.Ltrap\@:
    MPRV_OFF
    ld t1, rt_mcause
    CHECK_EQ_QEMU \code, t1, zero
.Ldone\@:
.endm

    .text
    .option norvc                   /* the checked accesses stay 32-bit */
    .globl test_main
test_main:
    addi sp, sp, -16
    sd ra, 8(sp)
    HYP_SETUP

    /* satp */
    SET_PTE_ABS s_root, 2, RAM_BASE, LEAF_RW
    SET_PTE s_root, 0, s_l1, PTE_V
    SET_PTE s_l1, 4, s_l0, PTE_V
    SET_PTE s_l0, 0, s_data, LEAF_RW
    SET_PTE s_l0, 1, s_data, LEAF_RO
    SET_PTE s_l0, 3, u_data, LEAF_RW | PTE_U
    SET_PTE s_l0, 4, s_data, LEAF_XO
    SET_PTE s_l0, 5, u_data, LEAF_XO | PTE_U
    /* hgatp */
    SET_PTE_ABS g_root, 2, RAM_BASE, LEAF_RWX | PTE_U
    SET_PTE g_root, 0, g_l1, PTE_V
    SET_PTE g_l1, 4, g_l0, PTE_V
    SET_PTE g_l0, 0, g_data, LEAF_RW | PTE_U
    SET_PTE g_l0, 1, g_data, LEAF_RO | PTE_U
    /* vsatp (in guest memory: GPA = PA in the RAM gigapage) */
    SET_PTE vs_root, 0, vs_l1, PTE_V
    SET_PTE vs_l1, 4, vs_l0, PTE_V
    SET_PTE_ABS vs_l0, 0, GPA_RW, LEAF_RW
    SET_PTE_ABS vs_l0, 1, GPA_RO, LEAF_RW
    SET_PTE_ABS vs_l0, 2, GPA_INVALID, LEAF_RW
    SET_PTE_ABS vs_l0, 3, GPA_RW, LEAF_RW | PTE_U
    SET_PTE_ABS vs_l0, 4, GPA_RW, LEAF_XO

    li t1, MARK_S
    sd t1, s_data, t0
    li t1, MARK_U
    sd t1, u_data, t0
    li t1, MARK_G
    sd t1, g_data, t0

    la t0, s_root
    srli t0, t0, 12
    li t1, SATP_MODE_SV39
    or t0, t0, t1
    csrw satp, t0
    sfence.vma

    /* ---- 10: MPP = S, loads and stores through satp ---- */
    li s1, VA_S_RW
    li s5, VA_S_RO
    li t1, MARK_NEW
    li t2, 5
    MPRV_ON PRV_S, 0
    ld s2, 0(s1)
    sd t1, 8(s1)
    amoadd.d s3, t2, (s1)
    lw s4, 0(s5)
    MPRV_OFF
    li t0, MARK_S
    CHECK_EQ 10, s2, t0
    ld t1, s_data + 8
    CHECK_EQI 11, t1, MARK_NEW
    CHECK_EQ 12, s3, t0
    ld t1, s_data
    CHECK_EQI 13, t1, MARK_S + 5
    CHECK_EQI 15, s4, (MARK_S + 5) & 0xffffffff
    li t1, MARK_S
    sd t1, s_data, t0

    /* 14: fetches stay physical (executing with MPRV = 1 and no X under satp) */
    EXPECT_MTRAP .Lfetch_fault
    MPRV_ON PRV_S, 0
    nop
    nop
    MPRV_OFF
    sd zero, rt_mtrap_resume, t0
    j 1f
.Lfetch_fault:
    MPRV_OFF
    ld a1, rt_mcause
    li a0, 14
    li a2, 0
    j rt_fail
1:

    /* ---- 20: a store to a read-only page; 30: a load from an invalid one ---- */
    EXPECT_MPRV_FAULT 20, CAUSE_STORE_PAGE_FAULT, PRV_S, 0, 0, VA_S_RO, 8, 0, 0, TINST_STORE, 1, 0, sd s1, 8(s1)
    li s6, RD_KEPT
    EXPECT_MPRV_FAULT 30, CAUSE_LOAD_PAGE_FAULT, PRV_S, 0, 0, VA_INVALID, 16, 0, 0, TINST_LOAD, 1, 0, ld s6, 16(s1)
    CHECK_EQI 38, s6, RD_KEPT

    /* ---- 40: MPP = U ---- */
    li s1, VA_U_RW
    MPRV_ON PRV_U, 0
    ld s2, 0(s1)
    MPRV_OFF
    CHECK_EQI 40, s2, MARK_U
    EXPECT_MPRV_FAULT 41, CAUSE_LOAD_PAGE_FAULT, PRV_U, 0, 0, VA_S_RW, 0, 0, 0, TINST_LOAD, 1, 0, ld s2, 0(s1)
    EXPECT_MPRV_FAULT 49, CAUSE_STORE_PAGE_FAULT, PRV_U, 0, 0, VA_S_RW, 0, 0, 0, TINST_STORE, 1, 0, sd s2, 0(s1)

    /* ---- 60: MPP = S and a U page: SUM ---- */
    EXPECT_MPRV_FAULT 60, CAUSE_LOAD_PAGE_FAULT, PRV_S, 0, 0, VA_U_RW, 0, 0, 0, TINST_LOAD, 1, 0, ld s2, 0(s1)
    li s1, VA_U_RW
    MPRV_ON PRV_S, 0, MSTATUS_SUM
    ld s2, 0(s1)
    MPRV_OFF
    CHECK_EQI 68, s2, MARK_U

    /* ---- 70: MXR ---- */
    EXPECT_MPRV_FAULT 70, CAUSE_LOAD_PAGE_FAULT, PRV_S, 0, 0, VA_S_XO, 0, 0, 0, TINST_LOAD, 1, 0, ld s2, 0(s1)
    li s1, VA_S_XO
    li s3, VA_U_XO
    MPRV_ON PRV_S, 0, MSTATUS_MXR
    ld s2, 0(s1)
    MPRV_OFF
    MPRV_ON PRV_U, 0, MSTATUS_MXR
    ld s4, 0(s3)
    MPRV_OFF
    CHECK_EQI 78, s2, MARK_S
    CHECK_EQI 79, s4, MARK_U

    /* ---- 80: a trap into M leaves MPRV = 1 with MPP = M: no translation ---- */
    EXPECT_MTRAP 1f
    li s1, VA_INVALID
    MPRV_ON PRV_S, 0
    ld s2, 0(s1)
    MPRV_OFF
    MISSED_TRAP 80
1:  csrr s3, mstatus                    /* MPRV still set: checked below */
    EXPECT_MTRAP 1f                     /* untranslated (MPP = M) */
    li s1, VA_S_RW
.Lld81:
    ld s2, 0(s1)
    MPRV_OFF
    MISSED_TRAP 81
1:  MPRV_OFF
    li t0, MSTATUS_MPRV | MSTATUS_MPP
    and s3, s3, t0
    CHECK_EQI 80, s3, MSTATUS_MPRV | MSTATUS_MPP
    la s2, .Lld81
    CHECK_MTRAP 81, CAUSE_LOAD_ACCESS, s2, s1, PRV_M

    /* ---- 90: mret to S clears MPRV; mret to M keeps it ---- */
    csrw satp, zero
    sfence.vma
    EXPECT_MTRAP 1f
    MPRV_ON PRV_S, 0
    la t0, .Ls90
    csrw mepc, t0
    mret
.Ls90:
    ecall
    MISSED_TRAP 90
1:  ld t0, rt_mstatus
    li t1, MSTATUS_MPRV
    and t0, t0, t1
    CHECK_EQI_QEMU 90, t0, 0                /* 90: QEMU 7.2 keeps MPRV */
    MPRV_ON PRV_M, 0
    la t0, .Lm91
    csrw mepc, t0
    mret
.Lm91:
    csrr s2, mstatus
    MPRV_OFF
    li t0, MSTATUS_MPRV
    and s2, s2, t0
    CHECK_EQI 91, s2, MSTATUS_MPRV

    /* ---- 100: MPV = 1: two-stage ---- */
    la t0, g_root
    srli t0, t0, 12
    li t1, HGATP_MODE_SV39X4
    or t0, t0, t1
    csrw hgatp, t0
    hfence.gvma
    csrw vsatp, zero
    hfence.vvma
    li s1, GPA_RW
    li t1, MARK_NEW
    MPRV_ON PRV_S, 1
    ld s2, 0(s1)
    sd t1, 8(s1)
    MPRV_OFF
    CHECK_EQI 100, s2, MARK_G
    ld t0, g_data + 8
    CHECK_EQI 101, t0, MARK_NEW
    la t0, vs_root
    srli t0, t0, 12
    li t1, SATP_MODE_SV39
    or t0, t0, t1
    csrw vsatp, t0
    hfence.vvma
    li s1, VA_VS_U                      /* U page: needs vsstatus.SUM */
    li t1, MARK_S
    li t0, MSTATUS_SUM
    csrw vsstatus, t0
    MPRV_ON PRV_S, 1
    ld s2, 0(s1)
    sd t1, 16(s1)
    MPRV_OFF
    csrw vsstatus, zero
    CHECK_EQI 102, s2, MARK_G
    ld t0, g_data + 16
    CHECK_EQI 103, t0, MARK_S

    /* ---- 110: guest-page faults ---- */
    /* 111..117, 121..127: QEMU 7.2 reports a page fault (13/15), GVA 0 and mtinst 0 (as hyp_gstage 191) */
    EXPECT_MPRV_FAULT 110, CAUSE_STORE_GUEST_PF, PRV_S, 1, 0, VA_G_RO, 8, 1, (GPA_RO + 8) >> 2, TINST_STORE, 0, Q_CAUSE | Q_GVA | Q_TINST, sd s1, 8(s1)
    EXPECT_MPRV_FAULT 120, CAUSE_LOAD_GUEST_PF, PRV_S, 1, 0, VA_G_INVALID, 0, 1, GPA_INVALID >> 2, TINST_LOAD, 0, Q_CAUSE | Q_GVA | Q_TINST, ld s2, 0(s1)

    /* ---- 130: vsstatus.SUM, not mstatus.SUM, for MPV = 1, MPP = S ---- */
    /* 130: QEMU 7.2 applies mstatus.SUM: no trap */
    EXPECT_MPRV_FAULT 130, CAUSE_LOAD_PAGE_FAULT, PRV_S, 1, MSTATUS_SUM, VA_VS_U, 0, 1, 0, TINST_LOAD, 1, Q_MISS, ld s2, 0(s1)
    li t0, MSTATUS_SUM
    csrw vsstatus, t0
    li s1, VA_VS_U
    MPRV_ON PRV_S, 1
    ld s2, 0(s1)
    MPRV_OFF
    csrw vsstatus, zero
    CHECK_EQI 138, s2, MARK_G

    /* ---- 140: MPV = 1, MPP = U: VU permissions ---- */
    li s1, VA_VS_U
    MPRV_ON PRV_U, 1
    ld s2, 0(s1)
    MPRV_OFF
    CHECK_EQI 140, s2, MARK_G
    /* 141, 146: QEMU 7.2 raises a load access fault (5) with GVA = 0 */
    EXPECT_MPRV_FAULT 141, CAUSE_LOAD_PAGE_FAULT, PRV_U, 1, 0, GPA_RW, 0, 1, 0, TINST_LOAD, 1, Q_CAUSE | Q_GVA, ld s2, 0(s1)

    /* ---- 150: MXR, VS-level and HS-level ---- */
    /* 150: QEMU 7.2 raises a load access fault (reported as got = mcause, want 0) */
    li t0, MSTATUS_MXR
    csrw vsstatus, t0
    MPRV_LD_QEMU 150, PRV_S, 1, 0, VA_VS_XO, MARK_G
    csrw vsstatus, zero
    MPRV_LD_QEMU 151, PRV_S, 1, MSTATUS_MXR, VA_VS_XO, MARK_G
    /* 152, 157: QEMU 7.2 raises a load access fault (5) with GVA = 0 */
    EXPECT_MPRV_FAULT 152, CAUSE_LOAD_PAGE_FAULT, PRV_S, 1, 0, VA_VS_XO, 0, 1, 0, TINST_LOAD, 1, Q_CAUSE | Q_GVA, ld s2, 0(s1)

    csrw hgatp, zero
    csrw vsatp, zero
    csrw satp, zero
    ld ra, 8(sp)
    addi sp, sp, 16
    li a0, 0
    ret


    HYP_RUNTIME

    .bss
    .align 14                       /* the Sv39x4 root: 16 KiB, 16 KiB aligned */
g_root:     .space 16384
g_l1:       .space 4096
g_l0:       .space 4096
s_root:     .space 4096
s_l1:       .space 4096
s_l0:       .space 4096
vs_root:    .space 4096
vs_l1:      .space 4096
vs_l0:      .space 4096
s_data:     .space 4096
u_data:     .space 4096
g_data:     .space 4096
