/*
 * hyp.h: what the hypervisor-extension images (hyp_*.S) share, on top of
 * rvtest.h: the H constants, trap handlers that also record the H trap CSRs,
 * checks of a whole trap (cause, epc, tval, previous mode, previous V, GVA,
 * htval/mtval2, htinst/mtinst), and ways into VS, VU and HS.
 *
 * Trap checks use 8 codes (rvtest.h's 4, then more):
 *   c cause, c+1 epc, c+2 tval, c+3 MPP or SPP, c+4 MPV or hstatus.SPV,
 *   c+5 mstatus.GVA or hstatus.GVA, c+6 mtval2 or htval, c+7 mtinst or htinst.
 * A trap into VS (CHECK_VSTRAP) has only the first 4 (vsstatus.SPP).
 * Trap-check macros clobber t3-t6.
 *
 * Handlers: hyp_mtrap (mtvec) records mtval2/mtinst, then runs rt_mtrap;
 * hyp_hstrap (stvec) records hstatus/htval/htinst, then runs rt_strap; both
 * are armed with rvtest.h's EXPECT_MTRAP/EXPECT_STRAP. hyp_vstrap (vstvec)
 * runs in VS, records vscause/vsepc/vstval/vsstatus (as VS sees them:
 * scause, ...) and resumes in VS at the label of EXPECT_VSTRAP; an unarmed
 * VS trap fails with code 252. Every image emits them with HYP_RUNTIME.
 */
#ifndef HYP_H
#define HYP_H

#include "rvtest.h"

#define MISA_H              (1 << 7)

#define HSTATUS_VSBE        (1 << 5)
#define HSTATUS_GVA         (1 << 6)
#define HSTATUS_SPV         (1 << 7)
#define HSTATUS_SPVP        (1 << 8)
#define HSTATUS_HU          (1 << 9)
#define HSTATUS_VGEIN       (0x3f << 12)
#define HSTATUS_VTVM        (1 << 20)
#define HSTATUS_VTW         (1 << 21)
#define HSTATUS_VTSR        (1 << 22)
#define HSTATUS_VSXL_SHIFT  32
#define HSTATUS_VSXL        (3 << 32)

#define MSTATUS_UXL         (3 << 32)
#define MSTATUS_GVA_SHIFT   38
#define MSTATUS_GVA         (1 << 38)
#define MSTATUS_MPV_SHIFT   39
#define MSTATUS_MPV         (1 << 39)

#define CAUSE_ECALL_VS          10
#define CAUSE_INSN_GUEST_PF     20
#define CAUSE_LOAD_GUEST_PF     21
#define CAUSE_VIRTUAL_INSN      22
#define CAUSE_STORE_GUEST_PF    23

#define IRQ_VSSI    2
#define IRQ_VSTI    6
#define IRQ_SEI     9
#define IRQ_VSEI    10
#define IRQ_SGEI    12
#define MIP_VSSIP   (1 << IRQ_VSSI)
#define MIP_VSTIP   (1 << IRQ_VSTI)
#define MIP_SEIP    (1 << IRQ_SEI)
#define MIP_VSEIP   (1 << IRQ_VSEI)
#define MIP_SGEIP   (1 << IRQ_SGEI)
#define MIP_VS_ALL  (MIP_VSSIP | MIP_VSTIP | MIP_VSEIP)

#define HGATP_MODE_SHIFT    60
#define HGATP_MODE_SV39X4   (8 << 60)
#define HGATP_MODE_SV48X4   (9 << 60)
#define HGATP_VMID_SHIFT    44
#define HGATP_VMID          (0x3fff << 44)
#define HGATP_PPN           0xfffffffffff

/* htinst/mtinst pseudo-instruction: a 64-bit read for VS-stage translation */
#define TINST_VS_PTE_READ   0x00003000


#ifdef __ASSEMBLER__

/* code 1: the hart has the H extension (misa bit 7) */
.macro HYP_REQUIRE_H
    csrr t0, misa
    li t1, MISA_H
    and t0, t0, t1
    CHECK_EQ 1, t0, t1
.endm

/* Install the three handlers; no delegation (but the VS interrupts, which
 * always go past M), both translation stages Bare. */
.macro HYP_SETUP
    HYP_REQUIRE_H
    la t0, hyp_mtrap
    csrw mtvec, t0
    la t0, hyp_hstrap
    csrw stvec, t0
    la t0, hyp_vstrap
    csrw vstvec, t0
    csrw medeleg, zero
    csrw mideleg, zero              /* VS interrupts stay delegated (read-only 1) */
    csrw hedeleg, zero
    csrw hideleg, zero
    csrw hgatp, zero
    csrw vsatp, zero
    csrw satp, zero
.endm

.macro EXPECT_VSTRAP resume
    la t0, \resume
    sd t0, hyp_vstrap_resume, t1
.endm

/* From M by mret: continue at `label` with privilege `prv` and V = `v`
 * (PRV_S, 1 = VS; PRV_U, 1 = VU; PRV_S, 0 = HS). Clears mstatus.GVA, so
 * that a trap that fails to write it cannot pass on an old value (QEMU 7.2
 * only ever sets it). Clobbers t0. */
.macro M_ENTER prv, v, label
    li t0, MSTATUS_MPP | MSTATUS_MPV | MSTATUS_GVA
    csrc mstatus, t0
    li t0, (\prv << MSTATUS_MPP_SHIFT) | (\v << MSTATUS_MPV_SHIFT)
    csrs mstatus, t0
    la t0, \label
    csrw mepc, t0
    mret
.endm

/* From HS by sret with hstatus.SPV = 1: continue at `label` in VS (PRV_S)
 * or VU (PRV_U). Clobbers t0. */
.macro HS_ENTER_V prv, label
    li t0, HSTATUS_SPV
    csrs hstatus, t0
    li t0, MSTATUS_SPP
    csrc sstatus, t0
    .if \prv
    csrs sstatus, t0
    .endif
    la t0, \label
    csrw sepc, t0
    sret
.endm

/*
 * Where QEMU 7.2 departs from the spec in one field of a trap, the trap
 * check names that field in its `qemu` mask, and that field alone is checked
 * with CHECK_EQ_QEMU (below) instead of failing the run.
 */
#define Q_CAUSE     (1 << 0)
#define Q_EPC       (1 << 1)
#define Q_TVAL      (1 << 2)
#define Q_PRV       (1 << 3)
#define Q_V         (1 << 4)
#define Q_GVA       (1 << 5)
#define Q_TVAL2     (1 << 6)
#define Q_TINST     (1 << 7)

/* check the dword at `sym` (bits shift.. of width 1 or 2 when shift >= 0)
 * against register `want`; CHECK_EQ_QEMU when `soft` is nonzero */
.macro CHECK_REC code, sym, want, soft=0, shift=-1, mask=1
    ld t5, \sym
    .if \shift >= 0
    srli t5, t5, \shift
    andi t5, t5, \mask
    .endif
    .if \soft
    CHECK_EQ_QEMU \code, t5, \want
    .else
    CHECK_EQ \code, t5, \want
    .endif
.endm

/* the same against an immediate (in t4) */
.macro CHECK_RECI code, sym, imm, soft=0, shift=-1, mask=1
    li t4, \imm
    CHECK_REC \code, \sym, t4, \soft, \shift, \mask
.endm

/* The last trap into M (hyp_mtrap): codes code..code+7, see above.
 * cause, prv, mpv, gva: immediates; epc, tval, tval2, tinst: registers.
 * Clobbers t4-t6 (t3 too for a `qemu` field). */
.macro CHECK_MTRAP_H code, cause, epc, tval, prv, mpv, gva, tval2, tinst, qemu=0
    CHECK_RECI \code, rt_mcause, \cause, (\qemu) & Q_CAUSE
    CHECK_REC (\code + 1), rt_mepc, \epc, (\qemu) & Q_EPC
    CHECK_REC (\code + 2), rt_mtval, \tval, (\qemu) & Q_TVAL
    CHECK_RECI (\code + 3), rt_mstatus, \prv, (\qemu) & Q_PRV, MSTATUS_MPP_SHIFT, 3
    CHECK_RECI (\code + 4), rt_mstatus, \mpv, (\qemu) & Q_V, MSTATUS_MPV_SHIFT
    CHECK_RECI (\code + 5), rt_mstatus, \gva, (\qemu) & Q_GVA, MSTATUS_GVA_SHIFT
    CHECK_REC (\code + 6), hyp_mtval2, \tval2, (\qemu) & Q_TVAL2
    CHECK_REC (\code + 7), hyp_mtinst, \tinst, (\qemu) & Q_TINST
.endm

/* The last trap into HS (hyp_hstrap): codes code..code+7; spp, spv, gva:
 * immediates. */
.macro CHECK_HTRAP code, cause, epc, tval, spp, spv, gva, htval, htinst, qemu=0
    CHECK_RECI \code, rt_scause, \cause, (\qemu) & Q_CAUSE
    CHECK_REC (\code + 1), rt_sepc, \epc, (\qemu) & Q_EPC
    CHECK_REC (\code + 2), rt_stval, \tval, (\qemu) & Q_TVAL
    CHECK_RECI (\code + 3), rt_sstatus, \spp, (\qemu) & Q_PRV, 8
    CHECK_RECI (\code + 4), hyp_hstatus, \spv, (\qemu) & Q_V, 7
    CHECK_RECI (\code + 5), hyp_hstatus, \gva, (\qemu) & Q_GVA, 6
    CHECK_REC (\code + 6), hyp_htval, \htval, (\qemu) & Q_TVAL2
    CHECK_REC (\code + 7), hyp_htinst, \htinst, (\qemu) & Q_TINST
.endm

/* hstatus.SPVP recorded by the last trap into HS (immediate) */
.macro CHECK_SPVP code, spvp
    CHECK_RECI \code, hyp_hstatus, \spvp, 0, 8
.endm

/* The last trap into VS (hyp_vstrap), as VS sees it: codes code..code+3. */
.macro CHECK_VSTRAP code, cause, epc, tval, spp, qemu=0
    CHECK_RECI \code, hyp_vscause, \cause, (\qemu) & Q_CAUSE
    CHECK_REC (\code + 1), hyp_vsepc, \epc, (\qemu) & Q_EPC
    CHECK_REC (\code + 2), hyp_vstval, \tval, (\qemu) & Q_TVAL
    CHECK_RECI (\code + 3), hyp_vsstatus, \spp, (\qemu) & Q_PRV, 8
.endm

/*
 * A check where QEMU 7.2 (the reference) departs from the spec: it expects
 * the spec, and on a mismatch prints the usual FAIL line and carries on, so
 * one run on QEMU shows every such departure; rt_pass then fails with the
 * first such code (rt_first_fail), except in the -DQEMU_7_2_QUIRKS build of
 * `make check`, which passes. Clobbers t3-t6 (and nothing else).
 */
.macro CHECK_EQ_QEMU code, got, want
    beq \got, \want, .Lok\@
    mv t5, \got
    mv t6, \want
    jal t4, hyp_soft_fail
    .word \code
.Lok\@:
.endm

/* the same against an immediate (clobbers t3-t6) */
.macro CHECK_EQI_QEMU code, got, imm
    li t4, \imm
    CHECK_EQ_QEMU \code, \got, t4
.endm

/* Emit the handlers and their records (once per image). */
/* transformed-instruction masks (htinst/mtinst): the fields kept from the instruction */
#define TINST_LOAD      0x00007fff      /* funct3, rd, opcode */
#define TINST_STORE     0x01f0707f      /* rs2, funct3, opcode */
#define TINST_OFFSET_SHIFT 15           /* Addr. Offset replaces rs1 */

/* reg = the transformed instruction at `label`: its bits & mask, with Addr. Offset `off` */
.macro TINST reg, label, mask, off=0
    LOAD_INSN32 \reg, \label
    li t6, \mask
    and \reg, \reg, t6
    .if \off
    li t6, \off << TINST_OFFSET_SHIFT
    or \reg, \reg, t6
    .endif
.endm

/* a page-table entry: set_pte(table, index, physical address, flags), from HYP_RUNTIME */
.macro SET_PTE table, index, pa, flags
    la a0, \table
    li a1, \index
    la a2, \pa
    li a3, \flags
    call set_pte
.endm

.macro SET_PTE_ABS table, index, pa, flags
    la a0, \table
    li a1, \index
    li a2, \pa
    li a3, \flags
    call set_pte
.endm

.macro HYP_RUNTIME
    .text
    .align 2
hyp_mtrap:
    la t0, hyp_mtval2
    csrr t1, mtval2
    sd t1, 0(t0)
    csrr t1, mtinst
    sd t1, 8(t0)
    j rt_mtrap

    .align 2
hyp_hstrap:
    la t0, hyp_hstatus
    csrr t1, hstatus
    sd t1, 0(t0)
    csrr t1, htval
    sd t1, 8(t0)
    csrr t1, htinst
    sd t1, 16(t0)
    j rt_strap

    .align 2
hyp_vstrap:                         /* runs in VS: s* CSRs are the vs* ones */
    la t0, hyp_vscause
    csrr t1, scause
    sd t1, 0(t0)
    csrr t1, sepc
    sd t1, 8(t0)
    csrr t1, stval
    sd t1, 16(t0)
    csrr t1, sstatus
    sd t1, 24(t0)
    ld t1, 32(t0)
    addi t1, t1, 1
    sd t1, 32(t0)                   /* hyp_vstrap_count */
    ld t1, 40(t0)
    beqz t1, 1f
    sd zero, 40(t0)
    jr t1
1:  csrr s9, scause
    csrr s10, sepc
    csrr s11, stval
    la a0, test_name
    call rt_puts
    PUTS ": unexpected VS trap cause="
    mv a0, s9
    call rt_puthex
    PUTS " epc="
    mv a0, s10
    call rt_puthex
    PUTS " tval="
    mv a0, s11
    call rt_puthex
    li a0, '\n'
    call rt_putc
    li t0, FINISHER_BASE
    li t1, (252 << 16) | FINISHER_FAIL
    sw t1, 0(t0)
2:  j 2b

/* CHECK_EQ_QEMU's report: t4 = return address (the code word follows the
 * jal), t5 = got, t6 = want. Saves and restores what the printing uses. */
hyp_soft_fail:
    la t3, hyp_soft_save
    sd ra, 0(t3)
    sd a0, 8(t3)
    sd t0, 16(t3)
    sd t1, 24(t3)
    sd t2, 32(t3)
    sd t4, 40(t3)
    sd t5, 48(t3)
    sd t6, 56(t3)
    lhu t0, 0(t4)                   /* the code word may be 2-aligned */
    lhu t1, 2(t4)
    slli t1, t1, 16
    or t0, t0, t1
    sd t0, 64(t3)
#ifndef QEMU_7_2_QUIRKS                 /* the quirks build reports and passes */
    ld t1, rt_first_fail
    bnez t1, 1f
    sd t0, rt_first_fail, t1
#endif
1:  la a0, test_name
    call rt_puts
    PUTS ": FAIL check "
    ld a0, hyp_soft_save + 64
    call rt_putdec
    PUTS ": got "
    ld a0, hyp_soft_save + 48
    call rt_puthex
    PUTS " want "
    ld a0, hyp_soft_save + 56
    call rt_puthex
    PUTS " (QEMU 7.2 departs here)\n"
    la t3, hyp_soft_save
    ld ra, 0(t3)
    ld a0, 8(t3)
    ld t0, 16(t3)
    ld t1, 24(t3)
    ld t2, 32(t3)
    ld t4, 40(t3)
    addi t4, t4, 4
    jr t4

    .bss
    .align 3
hyp_mtval2:         .dword 0
hyp_mtinst:         .dword 0
hyp_hstatus:        .dword 0
hyp_htval:          .dword 0
hyp_htinst:         .dword 0
hyp_vscause:        .dword 0
hyp_vsepc:          .dword 0
hyp_vstval:         .dword 0
hyp_vsstatus:       .dword 0
hyp_vstrap_count:   .dword 0
hyp_vstrap_resume:  .dword 0
hyp_soft_save:      .space 9 * 8
    .text
set_pte:
    srli a2, a2, 12
    slli a2, a2, 10
    or a2, a2, a3
    slli a1, a1, 3
    add a0, a0, a1
    sd a2, 0(a0)
    ret
.endm

#endif /* __ASSEMBLER__ */
#endif /* HYP_H */
