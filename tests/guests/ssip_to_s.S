/* A supervisor software interrupt that M-mode code makes pending must survive the
 * mret to S (riscv-tests rv64mi-p-illegal relies on it): M sets mip.SSIP, delegates
 * it, enables sie.SSIE, and drops to S with SIE clear. S's wfi must fall through
 * (pending & enabled), and sip must still show SSIP; once S clears it, M's mip
 * shows it clear. Also: the trigger CSRs exist
 * (tselect/tdata1 read 0, no trap). Finisher: 0x5555 pass, (n << 16) | 0x3333 fail n. */
#include "finisher.h"
.globl _start
_start:
    la t0, m_trap
    csrw mtvec, t0
    csrw tselect, zero          /* check 1: trap here means no trigger CSRs */
    csrr t1, tdata1
    li a0, 1
    bnez t1, fail
    li t0, 2                    /* SSIP */
    csrs mip, t0
    csrw mideleg, t0
    csrs mie, t0
    li t0, (3 << 11) | 2        /* MPP = S ... */
    csrc mstatus, t0
    li t0, (1 << 11)
    csrs mstatus, t0            /* MPP = S, SIE = 0 */
    la t0, s_code
    csrw mepc, t0
    mret
s_code:
    wfi                         /* must not sleep forever: SSIP pending and enabled */
    csrr t1, sip
    andi t1, t1, 2
    li a0, 2
    beqz t1, s_fail
    csrc sip, t1                /* S clears it: M's mip must show it clear (check 4) */
    li a0, 0
    ecall                       /* to M: report a0 */
s_fail:
    ecall
    .align 2                    /* mtvec: 4-byte aligned (its low bits are MODE) */
m_trap:
    csrr t0, mcause
    li t1, 9                    /* ecall from S */
    bne t0, t1, trap_fail
    bnez a0, fail
    csrr t0, mip
    andi t0, t0, 2
    li a0, 4
    bnez t0, fail
    j pass
trap_fail:
    li a0, 3
fail:
    FINISH_FAIL_A0
pass:
    FINISH_PASS
