/* counter: a bare-metal program for the gdb tests. It adds 1 to the variable
   `counter` COUNT times (one store per round, in a function of its own so that a
   breakpoint has a symbol to stop at), then exits with status 42 through the test
   finisher: a debugger that detaches must see the guest finish with its own status. */
#include "finisher.h"
#define COUNT 200000

    .text
    .globl _start
_start:
    li s0, COUNT
1:  call bump
    addi s0, s0, -1
    bnez s0, 1b
    li a0, 42
    FINISH_FAIL_A0

    .globl bump
bump:
    la t0, counter
    ld t1, 0(t0)
    addi t1, t1, 1
    sd t1, 0(t0)
    .globl bump_stored
bump_stored:                    /* a write watchpoint stops here, right after the store */
    addi s1, s1, 1
    ret

    .data
    .balign 4096                /* its own page: stores to a code page take a slow path */
    .globl counter
counter:
    .dword 0
