/* The `time` CSR served inside the engine (rvkvm/cpu/native_time.py).
 *
 * Unicorn 2.1.4 reads `time` through env->rdtime_fn, which it never sets, so without
 * one every rdtime is an illegal instruction that Python completes (~20 us; an idle
 * Linux reads the time ~1,400 times a second). riscv_cpu_set_rdtime_fn takes a
 * function without arguments, so each hart gets one of SLOTS functions, each reading
 * its own slot. The formula is devices/base.py's Clock.mtime, on the same clock
 * (CLOCK_MONOTONIC), so Python and the engine read one timebase. Loaded with ctypes;
 * PyInit__timebase only makes it a valid extension module.
 */
#include "_native.h"
#include <time.h>

#define SLOTS 64

/* Mirrored by Timebase in native_time.py. */
struct timebase {
    int64_t t0_ns;      /* CLOCK_MONOTONIC at the clock's origin */
    int64_t hz;         /* timebase frequency */
    int64_t offset;     /* what writes to mtime moved it by (Clock.offset) */
    int64_t delta;      /* htimedelta while the guest (V=1) is loaded, else 0 */
};

static struct timebase slots[SLOTS];

/* Clock.mtime() at host time `now_ns`, plus the slot's delta: floor division as in
 * Python (now_ns >= t0_ns), 128-bit so that ns * hz does not overflow. */
static uint64_t ticks_at(const struct timebase *t, int64_t now_ns)
{
    __int128 ns = (__int128)now_ns - t->t0_ns;
    return (uint64_t)(ns * t->hz / 1000000000) + (uint64_t)t->offset + (uint64_t)t->delta;
}

static uint64_t read_slot(int i)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ticks_at(&slots[i], (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* rdtime_A_B reads slot 8 * A + B. */
#define RDTIME(a, b) static uint64_t rdtime_##a##_##b(void) { return read_slot(8 * a + b); }
#define EIGHT(a) RDTIME(a, 0) RDTIME(a, 1) RDTIME(a, 2) RDTIME(a, 3) \
                 RDTIME(a, 4) RDTIME(a, 5) RDTIME(a, 6) RDTIME(a, 7)
EIGHT(0) EIGHT(1) EIGHT(2) EIGHT(3) EIGHT(4) EIGHT(5) EIGHT(6) EIGHT(7)

#define FNS8(a) rdtime_##a##_0, rdtime_##a##_1, rdtime_##a##_2, rdtime_##a##_3, \
                rdtime_##a##_4, rdtime_##a##_5, rdtime_##a##_6, rdtime_##a##_7
static uint64_t (*const functions[SLOTS])(void) = {
    FNS8(0), FNS8(1), FNS8(2), FNS8(3), FNS8(4), FNS8(5), FNS8(6), FNS8(7),
};

RVKVM_EXPORT int rvkvm_timebase_slots(void)
{
    return SLOTS;
}

RVKVM_EXPORT struct timebase *rvkvm_timebase_slot(int i)
{
    return (i >= 0 && i < SLOTS) ? &slots[i] : NULL;
}

/* What riscv_cpu_set_rdtime_fn gets for slot i. */
RVKVM_EXPORT void *rvkvm_timebase_function(int i)
{
    return (i >= 0 && i < SLOTS) ? (void *)functions[i] : NULL;
}

/* The slot's reading at a given host time: for the test against Clock.mtime. */
RVKVM_EXPORT uint64_t rvkvm_timebase_ticks_at(int i, int64_t now_ns)
{
    return ticks_at(&slots[i], now_ns);
}

#define FIELD(f) offsetof(struct timebase, f)
RVKVM_LAYOUT_FUNCTION(rvkvm_timebase_layout,
    sizeof(struct timebase), FIELD(t0_ns), FIELD(hz), FIELD(offset), FIELD(delta))

RVKVM_MODULE(_timebase, "rdtime served by the engine for rvkvm; used through ctypes.")
