/* hello: the smallest image: print a greeting and pass. */
#include "rvtest.h"

    TEST_NAME hello

    .text
    .globl test_main
test_main:
    addi sp, sp, -16
    sd ra, 8(sp)
    PUTS "Hello from rvkvm!\n"
    ld ra, 8(sp)
    addi sp, sp, 16
    li a0, 0
    ret
