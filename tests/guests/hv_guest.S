/* hv_guest: bare-metal VS-mode programs for tests/test_hv_*.py, one per a0 (the test
 * sets core.a0 through one_reg). Runs with vsatp = 0 at GPA 0x80000000. Results go to
 * the VMM as MMIO stores to MMIO_BASE (no memory slot there); the end is SBI SRST. */
#define MMIO_BASE   0x40000000
#define RO_SLOT     0x90000000
#define DIRTY_SLOT  0xA0000000
#define NOWHERE     0x20000000
#define HOST_BASE   0x1000000000
#define SBI_SRST    0x53525354
#define SBI_TIME    0x54494D45

.macro SHUTDOWN
    li a7, SBI_SRST
    li a6, 0
    li a0, 0
    li a1, 0
    ecall
.endm

    .text
    .globl _start
_start:
    li s11, MMIO_BASE
    slli t0, a0, 2
    la t1, table
    add t1, t1, t0
    lw t1, 0(t1)
    la t2, _start
    add t1, t1, t2
    jr t1

    .balign 4
table:
    .word t_dirty - _start, t_mmio - _start, t_readonly - _start, t_sbi - _start
    .word t_wfi - _start, t_nowhere - _start, t_trap_loop - _start, t_pt_outside - _start
    .word t_flood - _start, t_pt_host - _start, t_mmio_fetch - _start, t_time - _start

/* 0: store to pages 0, 3, 5 of the dirty slot, load pages 1, 2; shut down; then
 *    store pages 3 and 7 and shut down again */
t_dirty:
    li s0, DIRTY_SLOT
    li t0, 0x1000
t_dirty_first_store:                    /* tests/test_hv_linux.py looks for its exit */
    sd t0, 0(s0)
    li t1, 3 * 0x1000
    add t1, t1, s0
    sd t0, 8(t1)
    li t1, 5 * 0x1000
    add t1, t1, s0
    sw t0, 0x7f0(t1)
    li t1, 0x1000
    add t1, t1, s0
    ld t2, 0(t1)
    li t1, 0x2000
    add t1, t1, s0
    ld t2, 0(t1)
    SHUTDOWN
    li t1, 3 * 0x1000
    add t1, t1, s0
    sb t0, 0(t1)
    li t1, 7 * 0x1000
    add t1, t1, s0
    sh t0, 0x10(t1)
    SHUTDOWN

/* 1: every load width from MMIO (the VMM answers 0x8182838485868788), each result
 *    stored back as a doubleword; then narrow stores and compressed forms */
t_mmio:
    lb t0, 0(s11)
    sd t0, 8(s11)
    lbu t0, 0(s11)
    sd t0, 8(s11)
    lh t0, 0(s11)
    sd t0, 8(s11)
    lhu t0, 0(s11)
    sd t0, 8(s11)
    lw t0, 0(s11)
    sd t0, 8(s11)
    lwu t0, 0(s11)
    sd t0, 8(s11)
    ld t0, 0(s11)
    sd t0, 8(s11)
    li t0, 0x1122334455667788
    sb t0, 16(s11)
    sh t0, 18(s11)
    sw t0, 20(s11)
    mv a2, s11
    c.lw a3, 4(a2)
    c.sw a3, 24(a2)
    c.ld a4, 8(a2)
    c.sd a4, 24(a2)
    SHUTDOWN

/* 2: read the READONLY slot (the test put 0x5a5a at its start), report it, then
 *    try to store to it (an MMIO write exit) and read it again */
t_readonly:
    li s0, RO_SLOT
    ld t0, 0(s0)
    sd t0, 0(s11)
    li t1, 0x77
    sd t1, 0(s0)
    ld t0, 0(s0)
    sd t0, 0(s11)
    SHUTDOWN

/* 3: an unknown EID (the VMM sees it; NOT_SUPPORTED unless it answers), BASE
 *    get_spec_version and probe of an unknown extension, TIME set_timer; results
 *    (a0, a1) of each stored to MMIO */
t_sbi:
    li a7, 0x0A000123
    li a6, 7
    li a0, 0x11
    ecall
    sd a0, 0(s11)
    sd a1, 8(s11)
    li a7, 0x10
    li a6, 0
    ecall
    sd a0, 0(s11)
    sd a1, 8(s11)
    li a7, 0x10
    li a6, 3
    li a0, 0x0A000123
    ecall
    sd a0, 0(s11)
    sd a1, 8(s11)
    li a7, 0x10
    li a6, 3
    li a0, SBI_TIME
    ecall
    sd a0, 0(s11)
    sd a1, 8(s11)
    SHUTDOWN

/* 4: arm the timer 2 ms ahead, enable STIE only (SIE stays 0), wfi until sip.STIP;
 *    report sip; the timer fires in the guest's own handler once SIE=1 */
t_wfi:
    la t0, timer_handler
    csrw stvec, t0
    li t0, 1 << 5
    csrw sie, t0
    rdtime a0
    li t0, 20000
    add a0, a0, t0
    li a7, SBI_TIME
    li a6, 0
    ecall
1:  wfi
    csrr t0, sip
    andi t0, t0, 1 << 5
    beqz t0, 1b
    sd t0, 0(s11)
    csrsi sstatus, 2
2:  j 2b
    .balign 4
timer_handler:
    csrr t0, scause
    sd t0, 0(s11)
    SHUTDOWN

/* 5: jump to a GPA no slot covers */
t_nowhere:
    li t0, NOWHERE
    jr t0

/* 6: stvec at an illegal instruction: the guest's handler faults at its own vector */
t_trap_loop:
    la t0, bad_vector
    csrw stvec, t0
    .word 0
    .balign 4
bad_vector:
    .word 0

/* 7: Sv39 with the root table at a GPA outside every slot */
t_pt_outside:
    li t0, (8 << 60) | (NOWHERE >> 12)
    csrw satp, t0
    sfence.vma
    ld t0, 0(zero)
    SHUTDOWN

/* 8: store to MMIO forever */
t_flood:
    sd zero, 0(s11)
    j t_flood

/* 9: Sv39 with gigapages for the code and MMIO, and one whose leaf names the VM's host
 *    physical base (where the G-stage tables are): the access must be an MMIO exit
 *    at that GPA, never a read of the tables */
t_pt_host:
    la t0, pt_root
    li t1, (0x80000000 >> 12) << 10 | 0xcf        /* VA 0x80000000: RWX A D, 1 GiB */
    sd t1, 2 * 8(t0)
    li t1, (HOST_BASE >> 12) << 10 | 0xc7          /* VA 0xC0000000: RW A D -> HOST_BASE */
    sd t1, 3 * 8(t0)
    li t1, (MMIO_BASE >> 12) << 10 | 0xc7          /* VA 0x40000000: the MMIO page */
    sd t1, 1 * 8(t0)
    srli t0, t0, 12
    li t1, 8 << 60
    or t0, t0, t1
    csrw satp, t0
    sfence.vma
    li t0, 0xC0000000
    ld t1, 0(t0)
    sd t1, 0(s11)
    SHUTDOWN

/* 11: rdtime twice (each = mtime + htimedelta), both stored to MMIO; shut down */
t_time:
    rdtime t0
    rdtime t1
    sd t0, 0(s11)
    sd t1, 8(s11)
    SHUTDOWN

/* 10: execute from MMIO space */
t_mmio_fetch:
    jr s11

    .balign 4096
pt_root:
    .zero 4096
