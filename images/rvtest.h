/*
 * rvtest.h: constants and macros shared by the bare-metal test images.
 *
 * Assembly images include it and link with runtime.S, which provides _start,
 * UART output, pass/fail reporting through the virt test finisher and two
 * generic trap handlers (M and S) that record a trap and resume at a label.
 * C images include it for the prototypes of the runtime's routines.
 *
 * Fail codes must be 1..255: the finisher reports (code << 16) | 0x3333 and
 * QEMU exits with `code`, so a multiple of 256 would read as success.
 */
#ifndef RVTEST_H
#define RVTEST_H

/* the virt machine's devices (rvkvm/memory/layout.py) */
#define FINISHER_BASE   0x100000
#define FINISHER_PASS   0x5555
#define FINISHER_FAIL   0x3333
#define UART0_BASE      0x10000000
#define UART_THR        0
#define UART_LSR        5
#define UART_LSR_THRE   0x20
#define CLINT_MSIP      0x2000000
#define CLINT_MTIMECMP  0x2004000
#define CLINT_MTIME     0x200bff8
#define TIMEBASE_HZ     10000000

/* an address where the virt machine (QEMU's and rvkvm's) maps nothing */
#define UNMAPPED_ADDR   0x00800000

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

#define MSTATUS_SIE     (1 << 1)
#define MSTATUS_MIE     (1 << 3)
#define MSTATUS_SPIE    (1 << 5)
#define MSTATUS_MPIE    (1 << 7)
#define MSTATUS_SPP     (1 << 8)
#define MSTATUS_MPP_SHIFT 11
#define MSTATUS_MPP     (3 << 11)
#define MSTATUS_FS      (3 << 13)
#define MSTATUS_FS_INITIAL (1 << 13)
#define MSTATUS_FS_DIRTY (3 << 13)
#define MSTATUS_MPRV    (1 << 17)
#define MSTATUS_SUM     (1 << 18)
#define MSTATUS_MXR     (1 << 19)
#define MSTATUS_TVM     (1 << 20)
#define MSTATUS_TW      (1 << 21)
#define MSTATUS_TSR     (1 << 22)
#define MSTATUS_SD      0x8000000000000000

#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define MIP_SSIP (1 << IRQ_SSI)
#define MIP_MSIP (1 << IRQ_MSI)
#define MIP_STIP (1 << IRQ_STI)
#define MIP_MTIP (1 << IRQ_MTI)
#define CAUSE_INTERRUPT 0x8000000000000000
#define CAUSE_IRQ(n)    (CAUSE_INTERRUPT | (n))

#define CAUSE_INSN_ACCESS       1
#define CAUSE_ILLEGAL_INSN      2
#define CAUSE_BREAKPOINT        3
#define CAUSE_LOAD_MISALIGNED   4
#define CAUSE_LOAD_ACCESS       5
#define CAUSE_STORE_MISALIGNED  6
#define CAUSE_STORE_ACCESS      7
#define CAUSE_ECALL_U           8
#define CAUSE_ECALL_S           9
#define CAUSE_ECALL_M           11
#define CAUSE_INSN_PAGE_FAULT   12
#define CAUSE_LOAD_PAGE_FAULT   13
#define CAUSE_STORE_PAGE_FAULT  15

#define COUNTEREN_CY (1 << 0)
#define COUNTEREN_TM (1 << 1)
#define COUNTEREN_IR (1 << 2)

#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_G (1 << 5)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)
#define SATP_MODE_SV39 (8 << 60)
#define SATP_MODE_SV48 (9 << 60)

#ifdef __ASSEMBLER__

/* The image's name, printed with PASS/FAIL. */
.macro TEST_NAME name
    .pushsection .rodata
    .globl test_name
test_name:
    .asciz "\name"
    .popsection
.endm

/* Print a string literal. Clobbers a0, t0-t2, ra. */
.macro PUTS str
    .pushsection .rodata
.Lstr\@:
    .asciz "\str"
    .popsection
    la a0, .Lstr\@
    call rt_puts
.endm

/*
 * Checks. `code` is the fail code; t5 and t6 belong to these macros.
 * On a mismatch: rt_fail(code, got, want), which never returns.
 */
/* report check `code` failed: rt_fail(code, got, want); never returns */
.macro FAIL_CHECK code, got, want
    mv t5, \got
    mv t6, \want
    li a0, \code
    mv a1, t5
    mv a2, t6
    j rt_fail
.endm

.macro CHECK_EQ code, got, want
    beq \got, \want, .Lok\@
    FAIL_CHECK \code, \got, \want
.Lok\@:
.endm

.macro CHECK_EQI code, got, imm
    li t6, \imm
    CHECK_EQ \code, \got, t6
.endm

.macro CHECK_NE code, got, notwant
    bne \got, \notwant, .Lok\@
    FAIL_CHECK \code, \got, \notwant
.Lok\@:
.endm

/* fail unless lo <= got <= hi (unsigned); reports hi as "want" */
.macro CHECK_RANGE code, got, lo, hi
    bltu \got, \lo, .Lbad\@
    bleu \got, \hi, .Lok\@
.Lbad\@:
    FAIL_CHECK \code, \got, \hi
.Lok\@:
.endm

/* reg = the 32-bit instruction word at label (read as two halves: it may be 2-aligned) */
.macro LOAD_INSN32 reg, label
    la t6, \label
    lhu \reg, 0(t6)
    lhu t6, 2(t6)
    slli t6, t6, 16
    or \reg, \reg, t6
.endm

.macro LOAD_INSN16 reg, label
    la t6, \label
    lhu \reg, 0(t6)
.endm

/*
 * Expected traps. EXPECT_MTRAP arms the runtime's M handler (rt_mtrap, the
 * default mtvec) for one trap: it records mcause/mepc/mtval/mstatus and jumps
 * to `resume` in M mode (no mret: mstatus keeps MPP/MPIE of the trap).
 * EXPECT_STRAP does the same for rt_strap in S mode (install it in stvec).
 * Both handlers clobber t0 and t1. An unarmed trap fails with code 254 (M)
 * or 253 (S). Put MISSED_TRAP right after the instruction that must trap.
 */
.macro EXPECT_MTRAP resume
    la t0, \resume
    sd t0, rt_mtrap_resume, t1
.endm

.macro EXPECT_STRAP resume
    la t0, \resume
    sd t0, rt_strap_resume, t1
.endm

.macro MISSED_TRAP code
    li a0, \code
    j rt_fail_missed_trap
.endm

/*
 * Check the trap last recorded by rt_mtrap: cause (immediate), epc and tval
 * (registers), the privilege it came from (mstatus.MPP, immediate).
 * Fail codes: code (cause), code+1 (epc), code+2 (tval), code+3 (MPP).
 */
.macro CHECK_MTRAP code, cause, epc, tval, prv
    ld t5, rt_mcause
    CHECK_EQI \code, t5, \cause
    ld t5, rt_mepc
    CHECK_EQ (\code + 1), t5, \epc
    ld t5, rt_mtval
    CHECK_EQ (\code + 2), t5, \tval
    ld t5, rt_mstatus
    srli t5, t5, MSTATUS_MPP_SHIFT
    andi t5, t5, 3
    CHECK_EQI (\code + 3), t5, \prv
.endm

/* The same for rt_strap; the privilege is sstatus.SPP (0 = U, 1 = S). */
.macro CHECK_STRAP code, cause, epc, tval, prv
    ld t5, rt_scause
    CHECK_EQI \code, t5, \cause
    ld t5, rt_sepc
    CHECK_EQ (\code + 1), t5, \epc
    ld t5, rt_stval
    CHECK_EQ (\code + 2), t5, \tval
    ld t5, rt_sstatus
    srli t5, t5, 8
    andi t5, t5, 1
    CHECK_EQI (\code + 3), t5, \prv
.endm

/*
 * Where QEMU 7.2 (the reference used to verify these images) departs from
 * the spec, the images check the spec. Built with -DQEMU_7_2_QUIRKS (as
 * `make check` does for the images listed in QEMU_QUIRK_IMAGES), this macro
 * rewrites QEMU's recorded mcause to the spec's value so that the rest of the
 * image can still be verified on QEMU. Otherwise it expands to nothing.
 */
.macro QEMU_QUIRK_MCAUSE qemu_cause, spec_cause
#ifdef QEMU_7_2_QUIRKS
    ld t0, rt_mcause
    li t1, \qemu_cause
    bne t0, t1, .Lnoquirk\@
    li t0, \spec_cause
    sd t0, rt_mcause, t1
.Lnoquirk\@:
#endif
.endm

/*
 * Run `insn` in mode `prv` (entered from M by mret) and expect an
 * illegal-instruction trap to M with mtval = the instruction's bits.
 * Fail codes code..code+3 (CHECK_MTRAP). A guard fails the check instead of
 * looping if an xRET that should trap returns to mepc (= the guard).
 */
.macro EXPECT_ILLEGAL code, prv, insn:vararg
    sd zero, rt_xret_guard, t0
    EXPECT_MTRAP .Lback\@
    ENTER_MODE \prv, .Lguard\@
.Lguard\@:
    ld t0, rt_xret_guard
    beqz t0, .Lfirst\@
    li a0, \code
    j rt_fail_missed_trap
.Lfirst\@:
    li t0, 1
    sd t0, rt_xret_guard, t1
    .align 2
.Ltry\@:
    \insn
    MISSED_TRAP \code
.Lback\@:
    la s2, .Ltry\@
    LOAD_INSN32 s3, .Ltry\@
    CHECK_MTRAP \code, CAUSE_ILLEGAL_INSN, s2, s3, \prv
.endm

/*
 * Checks that may fail without ending the run (known_gaps.S): after
 * ON_FAIL_CONTINUE, a failing check or missed trap prints its usual line,
 * then execution continues at `label` in M (the runtime gets there by an
 * ecall to rt_mtrap, so it works from any mode; ecalls must not be
 * delegated). One-shot; put ON_FAIL_STOP at `label` to disarm it when the
 * checks passed. rt_pass then fails with the first such code instead of
 * passing. Clobbers t0, t1.
 */
.macro ON_FAIL_CONTINUE label
    la t0, \label
    sd t0, rt_fail_continue, t1
.endm

.macro ON_FAIL_STOP
    sd zero, rt_fail_continue, t0
.endm

/*
 * A handler that returns to the code it interrupted (mret/sret) must leave
 * every register as it found it: an interrupt can land between any two
 * instructions. SAVE_REGS saves x1-x31 in the runtime's save area for that
 * mode (`m` or `s`; mscratch/sscratch hold t0 meanwhile) and leaves t0 =
 * the area; RESTORE_REGS reloads them all, right before the xret. Handlers
 * of one mode do not nest (xIE is clear while they run).
 */
.macro SAVE_REGS mode
    csrw \mode\()scratch, t0
    la t0, rt_\mode\()trap_regs
    .irp r, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    sd x\r, (\r * 8)(t0)
    .endr
    csrr t1, \mode\()scratch
    sd t1, (5 * 8)(t0)
.endm

.macro RESTORE_REGS mode
    la t0, rt_\mode\()trap_regs
    .irp r, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    ld x\r, (\r * 8)(t0)
    .endr
    ld t0, (5 * 8)(t0)
.endm

/* From M: continue at `label` in privilege `prv` (via mret). Clobbers t0. */
.macro ENTER_MODE prv, label
    li t0, MSTATUS_MPP
    csrc mstatus, t0
    li t0, (\prv << MSTATUS_MPP_SHIFT)
    csrs mstatus, t0
    la t0, \label
    csrw mepc, t0
    mret
.endm

/* From S: continue at `label` in U (via sret). Clobbers t0. */
.macro S_ENTER_U label
    li t0, MSTATUS_SPP
    csrc sstatus, t0
    la t0, \label
    csrw sepc, t0
    sret
.endm

/* reg = mtime, read from the CLINT */
.macro READ_MTIME reg
    li \reg, CLINT_MTIME
    ld \reg, 0(\reg)
.endm

#else /* C */

#include <stdint.h>

void rt_putc(int c);
void rt_puts(const char *s);
void rt_puthex(uint64_t v);
void rt_putdec(uint64_t v);
void rt_pass(void) __attribute__((noreturn));
void rt_fail(uint64_t code, uint64_t got, uint64_t want) __attribute__((noreturn));
extern const char test_name[];
/* an image's entry point: return 0 to pass, else a fail code (1..255) */
int test_main(void);

#endif /* __ASSEMBLER__ */
#endif /* RVTEST_H */
