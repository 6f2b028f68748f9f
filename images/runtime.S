/*
 * runtime.S: what every virt test image shares (see rvtest.h).
 *
 *   _start        hart 0 sets up and calls test_main; other harts park
 *   test_main     the image's code, in M mode; returns 0 (pass) or a fail code
 *   rt_putc/rt_puts/rt_puthex/rt_putdec   UART output (C ABI, leaf, no stack)
 *   rt_pass, rt_fail(code, got, want)     report through the test finisher
 *   rt_mtrap, rt_strap                    generic trap handlers (EXPECT_MTRAP)
 *   rt_mtrap_regs, rt_strap_regs          save areas for SAVE_REGS/RESTORE_REGS
 *
 * The output routines and the reporting use no stack and touch only a-, t-
 * and s-registers, so they also work from S or U mode and from handlers.
 */
#include "rvtest.h"

    .section .text.init, "ax", @progbits
    .globl _start
_start:
    csrr t0, mhartid
    bnez t0, rt_park
    la sp, rt_stack_top
    la t0, rt_mtrap
    csrw mtvec, t0
    /* QEMU implements PMP: with no matching entry, S and U could reach
     * nothing. One NAPOT entry over all of memory gives them everything. */
    li t0, -1
    csrw pmpaddr0, t0
    li t0, 0x1f                     /* NAPOT | X | W | R */
    csrw pmpcfg0, t0
    /* FP on (Initial) so that compiled code may use FP registers. */
    li t0, MSTATUS_FS
    csrc mstatus, t0
    li t0, MSTATUS_FS_INITIAL
    csrs mstatus, t0
    csrwi fcsr, 0
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:  call test_main
    beqz a0, rt_pass
    mv a1, a0
    li a2, 0
    j rt_fail

rt_park:
    wfi
    j rt_park

    .text

/* rt_putc(a0 = char). Clobbers t0, t1. */
    .globl rt_putc
rt_putc:
    li t0, UART0_BASE
1:  lbu t1, UART_LSR(t0)
    andi t1, t1, UART_LSR_THRE
    beqz t1, 1b
    sb a0, UART_THR(t0)
    ret

/* rt_puts(a0 = NUL-terminated string). Clobbers a0, t0-t2. */
    .globl rt_puts
rt_puts:
    li t0, UART0_BASE
1:  lbu t2, 0(a0)
    beqz t2, 3f
2:  lbu t1, UART_LSR(t0)
    andi t1, t1, UART_LSR_THRE
    beqz t1, 2b
    sb t2, UART_THR(t0)
    addi a0, a0, 1
    j 1b
3:  ret

/* rt_puthex(a0): "0x" and 16 hex digits. Clobbers t0-t4. */
    .globl rt_puthex
rt_puthex:
    li t0, UART0_BASE
    li t3, '0'
    li t4, -2                       /* -2, -1: the "0x" prefix */
1:  lbu t1, UART_LSR(t0)
    andi t1, t1, UART_LSR_THRE
    beqz t1, 1b
    bltz t4, 3f
    slli t1, t4, 2
    neg t1, t1
    addi t1, t1, 60
    srl t2, a0, t1
    andi t2, t2, 15
    li t1, 10
    addi t3, t2, '0'
    blt t2, t1, 3f
    addi t3, t2, 'a' - 10
3:  sb t3, UART_THR(t0)
    li t3, 'x'
    addi t4, t4, 1
    li t1, 16
    blt t4, t1, 1b
    ret

/* rt_putdec(a0): unsigned decimal. Clobbers a0, t0-t4. */
    .globl rt_putdec
rt_putdec:
    la t2, rt_decbuf + 24
    sb zero, 0(t2)
    li t3, 10
1:  remu t4, a0, t3
    divu a0, a0, t3
    addi t4, t4, '0'
    addi t2, t2, -1
    sb t4, 0(t2)
    bnez a0, 1b
    mv a0, t2
    j rt_puts

/* rt_pass(): print "<name>: PASS", finisher pass; but if a check failed
 * under ON_FAIL_CONTINUE, fail with the first such code (its line is out). */
    .globl rt_pass
rt_pass:
    ld a0, rt_first_fail
    bnez a0, rt_finish_fail
    la a0, test_name
    call rt_puts
    la a0, .Lpass_msg
    call rt_puts
    li t0, FINISHER_BASE
    li t1, FINISHER_PASS
    sw t1, 0(t0)
1:  j 1b

/* print "<name>: FAIL check <a0>", keeping the code in s9 (callers never return) */
.macro PRINT_FAIL_HEAD
    mv s9, a0
    la a0, test_name
    call rt_puts
    la a0, .Lfail_msg
    call rt_puts
    mv a0, s9
    call rt_putdec
.endm

/* rt_fail(a0 = code, a1 = got, a2 = want): print, finisher fail with code. */
    .globl rt_fail
rt_fail:
    mv s10, a1
    mv s11, a2
    PRINT_FAIL_HEAD
    la a0, .Lgot_msg
    call rt_puts
    mv a0, s10
    call rt_puthex
    la a0, .Lwant_msg
    call rt_puts
    mv a0, s11
    call rt_puthex
    li a0, '\n'
    call rt_putc
    mv a0, s9
    j rt_fail_end

/* a0 = code: print "<name>: FAIL check <code>: expected a trap" */
    .globl rt_fail_missed_trap
rt_fail_missed_trap:
    PRINT_FAIL_HEAD
    la a0, .Lmissed_msg
    call rt_puts
    mv a0, s9
    j rt_fail_end

/* a0 = code, its line printed: finish, or continue where ON_FAIL_CONTINUE
 * said, in M by an ecall to rt_mtrap (the check may have run in S or U) */
rt_fail_end:
    la t0, rt_fail_continue
    ld t1, 0(t0)
    beqz t1, rt_finish_fail
    sd zero, 0(t0)
    ld t2, 8(t0)                    /* rt_first_fail */
    bnez t2, 1f
    sd a0, 8(t0)
1:  sd t1, rt_mtrap_resume, t2
    ecall
    j rt_finish_fail                /* the ecall did not trap */

/* finisher fail with code a0 (kept within 1..255, see rvtest.h) */
rt_finish_fail:
    andi a0, a0, 0xff
    bnez a0, 1f
    li a0, 255
1:  slli a0, a0, 16
    li t0, FINISHER_FAIL
    or a0, a0, t0
    li t0, FINISHER_BASE
    sw a0, 0(t0)
2:  j 2b

/* print "<name>: unexpected <M|S> trap cause=.. epc=.. tval=.." and fail */
rt_unexpected_trap:                 /* s8 = fail code, s9-s11 = cause, epc, tval */
    la a0, test_name
    call rt_puts
    la a0, .Lunexpected_msg
    call rt_puts
    mv a0, s9
    call rt_puthex
    la a0, .Lepc_msg
    call rt_puts
    mv a0, s10
    call rt_puthex
    la a0, .Ltval_msg
    call rt_puts
    mv a0, s11
    call rt_puthex
    li a0, '\n'
    call rt_putc
    mv a0, s8
    j rt_finish_fail

/* Generic M trap handler: record, then resume at rt_mtrap_resume (one-shot). */
    .align 2
    .globl rt_mtrap
rt_mtrap:
    la t0, rt_mcause
    csrr t1, mcause
    sd t1, 0(t0)
    csrr t1, mepc
    sd t1, 8(t0)
    csrr t1, mtval
    sd t1, 16(t0)
    csrr t1, mstatus
    sd t1, 24(t0)
    ld t1, 40(t0)
    addi t1, t1, 1
    sd t1, 40(t0)                   /* rt_mtrap_count */
    ld t1, 32(t0)
    beqz t1, 1f
    sd zero, 32(t0)
    jr t1
1:  li s8, 254
    csrr s9, mcause
    csrr s10, mepc
    csrr s11, mtval
    j rt_unexpected_trap

/* Generic S trap handler: the same with the S CSRs, resuming in S mode. */
    .align 2
    .globl rt_strap
rt_strap:
    la t0, rt_scause
    csrr t1, scause
    sd t1, 0(t0)
    csrr t1, sepc
    sd t1, 8(t0)
    csrr t1, stval
    sd t1, 16(t0)
    csrr t1, sstatus
    sd t1, 24(t0)
    ld t1, 40(t0)
    addi t1, t1, 1
    sd t1, 40(t0)                   /* rt_strap_count */
    ld t1, 32(t0)
    beqz t1, 1f
    sd zero, 32(t0)
    jr t1
1:  li s8, 253
    csrr s9, scause
    csrr s10, sepc
    csrr s11, stval
    j rt_unexpected_trap

    .section .rodata
.Lpass_msg:       .asciz ": PASS\n"
.Lfail_msg:       .asciz ": FAIL check "
.Lgot_msg:        .asciz ": got "
.Lwant_msg:       .asciz " want "
.Lmissed_msg:     .asciz ": expected a trap, none taken\n"
.Lunexpected_msg: .asciz ": unexpected trap cause="
.Lepc_msg:        .asciz " epc="
.Ltval_msg:       .asciz " tval="

    .bss
    .align 3
    .globl rt_mcause, rt_mepc, rt_mtval, rt_mstatus, rt_mtrap_resume, rt_mtrap_count
rt_mcause:       .dword 0
rt_mepc:         .dword 0
rt_mtval:        .dword 0
rt_mstatus:      .dword 0
rt_mtrap_resume: .dword 0
rt_mtrap_count:  .dword 0
    .globl rt_scause, rt_sepc, rt_stval, rt_sstatus, rt_strap_resume, rt_strap_count
rt_scause:       .dword 0
rt_sepc:         .dword 0
rt_stval:        .dword 0
rt_sstatus:      .dword 0
rt_strap_resume: .dword 0
rt_strap_count:  .dword 0
rt_decbuf:       .space 32
    .globl rt_xret_guard, rt_fail_continue, rt_first_fail
rt_xret_guard:    .dword 0          /* EXPECT_ILLEGAL */
rt_fail_continue: .dword 0          /* ON_FAIL_CONTINUE; rt_first_fail must follow */
rt_first_fail:    .dword 0
    .globl rt_mtrap_regs, rt_strap_regs
rt_mtrap_regs:    .space 32 * 8     /* SAVE_REGS m: x1-x31 at 8 * n */
rt_strap_regs:    .space 32 * 8
