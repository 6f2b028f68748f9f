/*
 * sbi_timer_ticks: what an idle Linux does at every tick, N times over: read the time,
 * ask the SBI for a timer interrupt a little later (the call rvkvm's C hook serves:
 * rvkvm/cpu/_intrhook.c), find STIP clear right after the call, sleep in WFI until the
 * interrupt, and find that it came no earlier than asked. The handler masks the timer
 * with a call for a deadline far away, as Linux's does. It runs as a kernel under
 * rvkvm's built-in SBI: the loader takes an ELF with a `linux_banner` symbol for Linux.
 * Finisher: 0x5555 pass, (n << 16) | 0x3333 fail n:
 *   1 set_timer returned an error   2 STIP pending after a call for a later time,
 *   before that time
 *   3 the interrupt came before its deadline   4 not N interrupts   5 another trap
 */
#include "finisher.h"
#include "sbi_payload.h"
#define SSTATUS_SIE     (1 << 1)
#define SCAUSE_STI      ((1 << 63) | 5)
#define TICKS           200
#define DELAY           2000            /* 200 us of mtime (10 MHz) */

    LINUX_BANNER

    .text
    .globl _start
_start:
    la t0, s_trap
    csrw stvec, t0
    li t0, SIP_STIP
    csrs sie, t0
    li s0, TICKS                        /* ticks left */
    li s3, 0                            /* timer interrupts taken */
tick:
    rdtime s1
    li t0, DELAY
    add s1, s1, t0                      /* s1: this tick's deadline */
    li a7, SBI_EXT_TIME
    li a6, 0                            /* sbi_set_timer */
    mv a0, s1
    ecall
    bnez a0, fail1
    csrr t1, sip
    rdtime t2                           /* read after sip: a deadline met meanwhile */
    andi t1, t1, SIP_STIP               /* (a slow host) may have raised STIP again */
    beqz t1, 2f
    bltu t2, s1, fail2
2:
    mv s4, s3
1:  wfi                                 /* SIE clear: wakes once STIP is pending... */
    csrsi sstatus, SSTATUS_SIE          /* ...and the interrupt is taken here */
    csrci sstatus, SSTATUS_SIE
    beq s3, s4, 1b                      /* until the handler has counted one */
    addi s0, s0, -1
    bnez s0, tick
    li t0, TICKS
    bne s3, t0, fail4
    FINISH_PASS

    .align 2
s_trap:
    csrr t0, scause
    li t1, SCAUSE_STI
    bne t0, t1, fail5
    rdtime t0
    bltu t0, s1, fail3
    addi s3, s3, 1
    li a7, SBI_EXT_TIME                 /* mask it until the next tick asks again */
    li a6, 0
    li a0, -1
    ecall
    sret

fail1: li a0, 1
    j fail
fail2: li a0, 2
    j fail
fail3: li a0, 3
    j fail
fail4: li a0, 4
    j fail
fail5: li a0, 5
fail:
    FINISH_FAIL_A0
