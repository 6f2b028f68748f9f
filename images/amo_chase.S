/*
 * amo_chase: a long memory workload that catches a memory operation executed
 * twice (for example re-run after an emulator stopped and resumed on it).
 *
 * A ring of RING_NODES 64-byte nodes is linked with stride RING_STRIDE (odd,
 * so one cycle through all nodes). Each of AMO_CHASE_ITERS iterations:
 *   p = p->next                      the next node's index must follow
 *   amoadd.w p->hits += 1
 *   amoadd.d add_counter += 1        must return i
 *   amoswap.d swap_counter = i + 1   must return i
 *   lr.d/sc.d lrsc_counter += 1      must read i
 *   p->sum += i                      plain load/add/store
 * and in the end every counter, each node's hits and the total of the sums
 * are compared with their closed forms. AMO_CHASE_ITERS sets the length
 * (about 1-3 s under an emulator); override with -DAMO_CHASE_ITERS=n.
 */
#include "rvtest.h"

#ifndef AMO_CHASE_ITERS
#define AMO_CHASE_ITERS 12000000
#endif
#define RING_NODES      4096            /* a power of two */
#define RING_STRIDE     1237
#define NODE_SHIFT      6               /* 64-byte nodes */
#define NODE_NEXT       0
#define NODE_HITS       8
#define NODE_INDEX      16
#define NODE_SUM        24

    TEST_NAME amo_chase

    .text
    .globl test_main
test_main:
    addi sp, sp, -16
    sd ra, 8(sp)
    PUTS "amo_chase: running\n"

    /* link node i -> node (i + STRIDE) mod N, record each index */
    la s0, ring
    li t0, 0
    li t3, RING_NODES - 1
1:  slli t1, t0, NODE_SHIFT
    add t1, t1, s0
    addi t2, t0, RING_STRIDE
    and t2, t2, t3
    slli t4, t2, NODE_SHIFT
    add t4, t4, s0
    sd t4, NODE_NEXT(t1)
    sd t0, NODE_INDEX(t1)
    addi t0, t0, 1
    bleu t0, t3, 1b

    mv s1, s0                       /* p = node 0 */
    li s2, 0                        /* i */
    li s3, AMO_CHASE_ITERS
    la s4, add_counter
    la s5, swap_counter
    la s6, lrsc_counter
    li s7, 0                        /* expected index of p */
    li s8, RING_NODES - 1
    li s9, 1
.Lloop:
    ld s1, NODE_NEXT(s1)
    addi s7, s7, RING_STRIDE
    and s7, s7, s8
    ld t0, NODE_INDEX(s1)
    bne t0, s7, .Lbad_chase
    addi t2, s1, NODE_HITS
    amoadd.w zero, s9, (t2)
    amoadd.d t1, s9, (s4)
    bne t1, s2, .Lbad_add
    addi t2, s2, 1
    amoswap.d t1, t2, (s5)
    bne t1, s2, .Lbad_swap
.Lretry:
    lr.d t1, (s6)
    addi t3, t1, 1
    sc.d t4, t3, (s6)
    bnez t4, .Lretry
    bne t1, s2, .Lbad_lrsc
    ld t3, NODE_SUM(s1)
    add t3, t3, s2
    sd t3, NODE_SUM(s1)
    addi s2, s2, 1
    bne s2, s3, .Lloop

    /* 20: the counters */
    ld t0, 0(s4)
    CHECK_EQI 20, t0, AMO_CHASE_ITERS
    ld t0, 0(s5)
    CHECK_EQI 21, t0, AMO_CHASE_ITERS
    ld t0, 0(s6)
    CHECK_EQI 22, t0, AMO_CHASE_ITERS
    /* 23: p ended ITERS steps from node 0 */
    ld t0, NODE_INDEX(s1)
    li t1, (AMO_CHASE_ITERS * RING_STRIDE) % RING_NODES
    CHECK_EQ 23, t0, t1

    /* 30: walk the ring once more from node 0: the node k steps away was
     * visited ITERS / N times, once more if k <= ITERS % N */
    mv s1, s0
    li s2, 1                        /* k */
    li s3, AMO_CHASE_ITERS / RING_NODES
    li s4, AMO_CHASE_ITERS % RING_NODES
    li s5, 0                        /* total of the sums */
.Lwalk:
    ld s1, NODE_NEXT(s1)
    lwu t0, NODE_HITS(s1)
    mv t1, s3
    bgtu s2, s4, 1f
    addi t1, t1, 1
1:  CHECK_EQ 30, t0, t1
    ld t0, NODE_SUM(s1)
    add s5, s5, t0
    addi s2, s2, 1
    li t0, RING_NODES
    bleu s2, t0, .Lwalk
    /* 31: sum of i over all iterations = ITERS * (ITERS - 1) / 2 */
    li t0, AMO_CHASE_ITERS * (AMO_CHASE_ITERS - 1) / 2
    CHECK_EQ 31, s5, t0

    ld ra, 8(sp)
    addi sp, sp, 16
    li a0, 0
    ret

.Lbad_chase:                        /* 10: the pointer chase skipped or repeated */
    li a0, 10
    mv a1, t0
    mv a2, s7
    j rt_fail
.Lbad_add:
    li a0, 11
    mv a1, t1
    mv a2, s2
    j rt_fail
.Lbad_swap:
    li a0, 12
    mv a1, t1
    mv a2, s2
    j rt_fail
.Lbad_lrsc:
    li a0, 13
    mv a1, t1
    mv a2, s2
    j rt_fail

    .bss
    .align 6
ring:           .space RING_NODES << NODE_SHIFT
add_counter:    .dword 0
    .align 6
swap_counter:   .dword 0
    .align 6
lrsc_counter:   .dword 0
