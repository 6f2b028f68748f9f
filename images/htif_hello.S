/*
 * htif_hello: a riscv-tests style image. It prints through HTIF (device 1,
 * command 1: console putchar) and reports through `tohost` like riscv-tests:
 * tohost = (code << 1) | 1, with code 0 for a pass. The host finds the
 * mailbox through the `tohost`/`fromhost` symbols (section .tohost, on a
 * page of its own). No UART, no finisher: run it on `qemu -M spike`.
 */
#define HTIF_DEV_CONSOLE    1
#define HTIF_CMD_PUTCHAR    1

    .section .text.init, "ax", @progbits
    .globl _start
_start:
    csrr t0, mhartid
    bnez t0, park
    la s0, message
1:  lbu a0, 0(s0)
    beqz a0, 2f
    call htif_putchar
    addi s0, s0, 1
    j 1b
2:  li a0, 0
    j htif_exit

/* htif_putchar(a0 = char). Clobbers t0-t2. */
htif_putchar:
    jal t2, htif_wait_idle
    li t0, (HTIF_DEV_CONSOLE << 56) | (HTIF_CMD_PUTCHAR << 48)
    or t0, t0, a0
    sd t0, tohost, t1
    ret

/* wait until the host took the previous command (it clears tohost);
 * acknowledge any response it left in fromhost. Returns through t2.
 * Clobbers t0, t1. */
htif_wait_idle:
    ld t0, fromhost
    beqz t0, 1f
    sd zero, fromhost, t1
1:  ld t0, tohost
    bnez t0, htif_wait_idle
    jr t2

/* htif_exit(a0 = code): tohost = (code << 1) | 1; never returns */
htif_exit:
    jal t2, htif_wait_idle
    slli a0, a0, 1
    ori a0, a0, 1
    sd a0, tohost, t1
1:  j 1b

park:
    wfi
    j park

    .section .rodata
message:
    .asciz "Hello from rvkvm over HTIF!\n"

    .section .tohost, "aw", @progbits
    .align 6
    .globl tohost
    .type tohost, @object
    .size tohost, 8
tohost:     .dword 0
    .align 6
    .globl fromhost
    .type fromhost, @object
    .size fromhost, 8
fromhost:   .dword 0
