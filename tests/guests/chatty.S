/* chatty: print one line to the UART over and over, forever (a guest whose output
   never ends: console memory and closed-pipe tests). */
#define UART0 0x10000000
    .text
    .globl _start
_start:
    li t0, UART0
1:  la t1, line
2:  lbu t2, 0(t1)
    beqz t2, 1b
    sb t2, 0(t0)
    addi t1, t1, 1
    j 2b

    .section .rodata
line:
    .asciz "chatty: a line of guest output\n"
