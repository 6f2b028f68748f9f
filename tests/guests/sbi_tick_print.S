/*
 * sbi_tick_print: an S-mode payload that prints from its timer ticks while it idles in
 * one WFI: two ticks 50 ms apart each print a '.' to the UART, then it sleeps an hour.
 * The prints happen while rvkvm's idle loop (rvkvm/cpu/_intrhook.c) runs the guest
 * without Python's run loop, so only the console's doorbell gets them flushed
 * (tests/test_intrhook.py).
 */
#include "sbi_payload.h"
#define UART_THR     0x10000000
#define TICK         500000         /* 50 ms at the virt machine's 10 MHz timebase */
#define HOUR_TICKS   36000000000

    LINUX_BANNER

    .text
    .globl _start
_start:
    li t0, SIP_STIP
    csrs sie, t0
    li s1, 2                        /* ticks that print */
    li s2, UART_THR
tick:
    rdtime a0
    li t0, TICK
    bnez s1, 1f
    li t0, HOUR_TICKS
1:  add a0, a0, t0
    li a7, SBI_EXT_TIME
    li a6, 0                        /* sbi_set_timer: clears STIP until then */
    ecall
asleep:
    wfi                             /* SIE clear: wakes without a trap */
    csrr t0, sip
    andi t0, t0, SIP_STIP
    beqz t0, asleep
    li t0, '.'
    sb t0, 0(s2)
    addi s1, s1, -1
    j tick
