/* sbi_console: an S-mode kernel that reads the console through SBI only, as Linux's
   hvc0 does: legacy console_getchar until a byte comes, then DBCN console_read until
   more come, echoes both through DBCN console_write and shuts down (SRST).

   It defines `linux_banner`, so rvkvm takes it for a Linux kernel and serves SBI
   itself (no --bios): the hart starts here in S-mode. Never using the UART, it leaves
   the UART's receive interrupt off, as a kernel whose console is hvc0 does. */
#define SBI_LEGACY_GETCHAR 2
#define SBI_EXT_DBCN       0x4442434E
#define DBCN_WRITE         0
#define DBCN_READ          1
#define SBI_EXT_SRST       0x53525354

/* DBCN console_write of the bytes at `label` (length in a0) */
.macro DBCN_PUTS label, len
    li a7, SBI_EXT_DBCN
    li a6, DBCN_WRITE
    li a0, \len
    la a1, \label
    li a2, 0
    ecall
.endm

    .text
    .globl _start
_start:
1:  li a7, SBI_LEGACY_GETCHAR
    ecall
    bltz a0, 1b                 /* -1: nothing typed yet */
    la t0, got_char
    sb a0, 0(t0)

2:  li a7, SBI_EXT_DBCN
    li a6, DBCN_READ
    li a0, 16                   /* num_bytes */
    la a1, read_buf             /* base_addr_lo (physical: no paging here) */
    li a2, 0                    /* base_addr_hi */
    ecall
    bnez a0, fail               /* an SBI error */
    beqz a1, 2b                 /* nothing read yet */
    mv s0, a1                   /* bytes read */

    DBCN_PUTS msg_getchar, 8    /* "getchar=" */
    DBCN_PUTS got_char, 1
    DBCN_PUTS msg_read, 6       /* " read=" */
    li a7, SBI_EXT_DBCN
    li a6, DBCN_WRITE
    mv a0, s0
    la a1, read_buf
    li a2, 0
    ecall
    DBCN_PUTS msg_end, 1        /* "\n" */
    li a0, 0                    /* shutdown ... */
    li a1, 0                    /* ... with no reason: exit status 0 */
    j shutdown
fail:
    li a0, 0                    /* shutdown ... */
    li a1, 1                    /* ... of a system failure: exit status 1 */
shutdown:
    li a7, SBI_EXT_SRST
    li a6, 0
    ecall
3:  j 3b

    .section .rodata
    .globl linux_banner
linux_banner:
    .asciz "sbi_console test guest (not Linux)"
msg_getchar:
    .ascii "getchar="
msg_read:
    .ascii " read="
msg_end:
    .ascii "\n"

    .data
got_char:
    .byte 0
read_buf:
    .space 16
