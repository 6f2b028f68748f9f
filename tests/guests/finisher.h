/* Ending a test guest through the virt test finisher (sifive,test at 0x100000). */
#define FINISHER      0x100000
#define FINISHER_PASS 0x5555
#define FINISHER_FAIL 0x3333

/* power off with exit status 0 */
.macro FINISH_PASS
    li t0, FINISHER
    li t1, FINISHER_PASS
    sw t1, 0(t0)
1:  j 1b
.endm

/* exit with status a0 (the failed check's number) */
.macro FINISH_FAIL_A0
    slli a0, a0, 16
    li t0, FINISHER_FAIL
    or a0, a0, t0
    li t0, FINISHER
    sw a0, 0(t0)
1:  j 1b
.endm
