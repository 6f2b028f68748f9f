/*
 * die: a guest that cannot continue. mtvec points at memory nothing backs, then an
 * illegal instruction traps there: the fetch of the handler faults at the vector
 * itself, a trap loop the machine must report as a dead guest with a register dump.
 * a0/a1 hold recognisable values so the test can find them in the dump.
 */
#define UNMAPPED 0x30000000        /* no RAM or device on virt (QEMU: PCIe ECAM) */

    .text
    .globl _start
_start:
    li t0, UNMAPPED
    csrw mtvec, t0
    li a0, 0xdeadbeef
    li a1, 0x0123456789abcdef
    .word 0                        /* an illegal instruction */
    j _start
