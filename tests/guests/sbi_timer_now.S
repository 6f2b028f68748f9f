/*
 * sbi_timer_now: an S-mode payload for OpenSBI fw_jump (loaded at 0x80200000). It asks
 * for a timer in the past, sbi_set_timer(0), with sie.STIE set and sstatus.SIE clear, and
 * reads sip right after the ecall: STIP must already be pending, as on hardware and QEMU
 * (OpenSBI's mtimecmp write makes MTIP pending; the M-level interrupt is taken at the
 * next instruction boundary after mret, and its handler sets STIP). Fails with 1 if not.
 * Without --bios it runs under rvkvm's built-in SBI (the loader takes an ELF with a
 * `linux_banner` symbol for Linux), which must do the same (tests/test_intrhook.py).
 */
#include "finisher.h"
#include "sbi_payload.h"

    LINUX_BANNER

    .text
    .globl _start
_start:
    li t0, SIP_STIP
    csrs sie, t0
    li a7, SBI_EXT_TIME
    li a6, 0                        /* sbi_set_timer */
    li a0, 0                        /* stime_value 0: in the past */
    ecall
    csrr t1, sip
    andi t1, t1, SIP_STIP
    beqz t1, fail
    FINISH_PASS
fail:
    li a0, 1
    FINISH_FAIL_A0
