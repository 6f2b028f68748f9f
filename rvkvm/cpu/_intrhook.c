/* The engine's one UC_HOOK_INTR callback (rvkvm/cpu/intrhook.py).
 *
 * Every exception Unicorn raises comes here; all but one kind go on to the hart's
 * Python handler. The one served here is the SBI timer call (TIME set_timer) of an
 * S-mode kernel under rvkvm's built-in firmware: a Linux guest makes it at every timer
 * tick, and an idle one does little else, so entering Python for it (~40-50 us, run
 * cold after each host wake-up) was a large part of an idle guest's host CPU. The
 * effect is the firmware's own (machine/firmware.py set_timer): the new deadline, STIP
 * cleared, a0 = a1 = 0. Python folds the call into its state (the deadline, mip,
 * stats) at its next entry from the engine. A deadline already due, or any doubt,
 * goes to Python. Loaded with ctypes; PyInit__intrhook only makes it a valid module.
 *
 * rvkvm_idle() is the rest of an idle tick, for the same kernel: asleep in WFI until
 * the SBI deadline, STIP raised as the firmware's poll would, the engine run until it
 * is back at the same WFI, and again, without entering Python (see IdleLoop in
 * intrhook.py for what makes it return).
 */
#include "_native.h"

#if defined(__linux__) && defined(__SIZEOF_INT128__)
#include <poll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#define HAVE_IDLE_LOOP 1
#endif

#define EXCP_ILLEGAL_INSN 2
#define EXCP_ECALL_FROM_S_OR_U 8      /* Unicorn's intno for ecall (cause 8 + priv) */
#define PRV_S 1
#define PRV_M 3
#define SBI_EXT_TIME 0x54494D45
#define SBI_TIME_SET_TIMER 0
#define MIP_STIP ((uint64_t)1 << 5)

typedef int (*uc_reg_fn)(void *uc, int regid, void *value);
typedef void (*intr_fn)(void *uc, uint32_t intno, void *user_data);
typedef uint64_t (*mtime_fn)(void);

/* Mirrored by IntrDispatch in intrhook.py. */
struct intr_dispatch {
    void *uc;
    uc_reg_fn reg_read;
    uc_reg_fn reg_write;
    intr_fn python;                  /* the hart's handler: everything not served here */
    mtime_fn mtime;                  /* the engine's clock (native_time), or NULL */
    int64_t reg_priv, reg_pc, reg_a0, reg_a1, reg_a6, reg_a7, reg_mip;
    volatile int64_t serve_sbi_timer;   /* set by Python while this may serve the call */
    volatile int64_t served;            /* calls served since Python last folded them in */
    uint64_t deadline;                  /* the stime_value of the last one */
    int64_t armed;                      /* it has not raised the timer interrupt yet */
    volatile int64_t python_calls;      /* exceptions handed to Python */
    int64_t raised;                     /* deadlines rvkvm_idle raised STIP for, unfolded */
    int64_t stip;                       /* STIP as the C side last left it (1: raised) */
    int (*emu_stop)(void *uc);
    uint64_t idle_wfi_pc;               /* rvkvm_idle runs: a WFI that traps here (a
                                           guest's, hstatus.VTW) is the idle one */
};

static uint64_t reg(struct intr_dispatch *d, int64_t id)
{
    uint64_t value = 0;
    d->reg_read(d->uc, (int)id, &value);
    return value;
}

static void set_reg(struct intr_dispatch *d, int64_t id, uint64_t value)
{
    d->reg_write(d->uc, (int)id, &value);
}

/* STIP in the engine's mip, at privilege `priv` again afterwards. */
static void set_stip(struct intr_dispatch *d, uint64_t priv, int level)
{
    set_reg(d, d->reg_priv, PRV_M);             /* mip is an M CSR to the engine */
    uint64_t mip = reg(d, d->reg_mip);
    set_reg(d, d->reg_mip, level ? mip | MIP_STIP : mip & ~MIP_STIP);
    set_reg(d, d->reg_priv, priv);
    d->stip = level;
}

static int serve_set_timer(struct intr_dispatch *d)
{
    uint64_t priv = reg(d, d->reg_priv);
    if (priv != PRV_S || reg(d, d->reg_a7) != SBI_EXT_TIME
            || reg(d, d->reg_a6) != SBI_TIME_SET_TIMER)
        return 0;
    uint64_t deadline = reg(d, d->reg_a0);
    if (d->mtime == NULL || d->mtime() >= deadline)
        return 0;                               /* due already: Python raises STIP */
    d->deadline = deadline;
    d->armed = deadline != UINT64_MAX;       /* 2**64 - 1: no timer (a mask) */
    d->served++;
    set_reg(d, d->reg_a0, 0);                   /* SBI_SUCCESS, value 0 */
    set_reg(d, d->reg_a1, 0);
    set_reg(d, d->reg_pc, reg(d, d->reg_pc));   /* resume after the ecall, as Python does */
    set_stip(d, priv, 0);
    return 1;
}

RVKVM_EXPORT void rvkvm_intr_hook(void *uc, uint32_t intno, void *user_data)
{
    struct intr_dispatch *d = (struct intr_dispatch *)user_data;
    if (intno == EXCP_ECALL_FROM_S_OR_U && d->serve_sbi_timer && serve_set_timer(d))
        return;
    if (intno == EXCP_ILLEGAL_INSN && d->idle_wfi_pc && reg(d, d->reg_pc) == d->idle_wfi_pc) {
        /* the idle WFI again (pc is past it, as for every exception): the vcpu's
         * wfi exit without Python, resuming after it (exits.on_virtual_insn) */
        set_reg(d, d->reg_pc, d->idle_wfi_pc);
        d->emu_stop(uc);
        return;
    }
    d->python_calls++;
    d->python(uc, intno, user_data);
}

/* ------------------------------------------------------------------ the idle loop */

#define U64_MAX_VALUE UINT64_MAX
#define NEVER_A_PC 0x7FFFFFFFFFFFFFFFull   /* slicer.py NEVER_A_PC */
#define IDLE_WOKEN 0                       /* the doorbell rang: Python must look */
#define IDLE_DEADLINE 1                    /* another deadline (CLINT, --timeout) is due */
#define IDLE_RAN 2                         /* the last run needs Python's post-run work */
#define IDLE_ERROR 3                       /* the last run ended with an engine error */
#define IDLE_UNAVAILABLE (-1)

typedef int (*emu_start_fn)(void *uc, uint64_t begin, uint64_t until, uint64_t timeout,
                            size_t count);

/* Mirrored by TickerState in slicer.py: what the slice ticker's thread checks before
 * it stops the engine (a slice is running, and began a period ago). */
struct ticker_state {
    volatile int64_t running;
    volatile double started;            /* CLOCK_MONOTONIC seconds, as time.monotonic() */
};

/* Mirrored by IdleLoop in intrhook.py. */
struct idle_loop {
    emu_start_fn emu_start;
    int64_t wake_fd;                    /* the run loop's doorbell (an eventfd) */
    int64_t ticker_fd;                  /* the slice ticker's timerfd */
    struct ticker_state *ticker;
    const void *ticker_arm, *ticker_disarm;   /* struct itimerspec, owned by the ticker */
    uint64_t hz;                        /* mtime ticks per second */
    uint64_t wfi_pc;                    /* where the engine stops after the idle WFI */
    uint64_t other_deadline;            /* mtime of the next other event (U64: none) */
    int64_t reg_scounteren;
    uint64_t scounteren;                /* at entry: S changing it ends the loop */
    int64_t runs, wfis, engine_ns, uc_err;    /* out */
};

#ifdef HAVE_IDLE_LOOP
static int64_t monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The doorbell has rung: re-arm it (an eventfd's counter back to 0), as Wakeup.sleep
 * does when it returns True; Python then looks at whatever rang it. */
static int answer_doorbell(struct idle_loop *s)
{
    uint64_t count;
    (void)!read((int)s->wake_fd, &count, sizeof count);   /* EAGAIN: drained already */
    return 1;
}

/* Sleep until the doorbell rings (1) or about `ticks` of mtime have passed (0). */
static int sleep_for(struct idle_loop *s, uint64_t ticks)
{
    struct pollfd fd = {(int)s->wake_fd, POLLIN, 0};
    struct timespec timeout, *limit = NULL;
    if (ticks != U64_MAX_VALUE) {
        unsigned __int128 ns = (unsigned __int128)ticks * 1000000000u / s->hz + 1;
        if (ns > (unsigned __int128)3600 * 1000000000u)
            ns = (unsigned __int128)3600 * 1000000000u;   /* and look again */
        timeout.tv_sec = (time_t)(ns / 1000000000u);
        timeout.tv_nsec = (long)(ns % 1000000000u);
        limit = &timeout;
    }
    int n = ppoll(&fd, 1, limit, NULL);
    if (n > 0)
        return answer_doorbell(s);
    return n < 0;             /* a signal (Python's handler must run) or a failed wait */
}

static int doorbell_rung(struct idle_loop *s)
{
    struct pollfd fd = {(int)s->wake_fd, POLLIN, 0};
    return poll(&fd, 1, 0) > 0 && answer_doorbell(s);
}

/* One slice from the WFI, bounded by the ticker as ExitSlicer's: 0 if it ended back at
 * the same WFI with nothing for Python to see, else IDLE_RAN or IDLE_ERROR. */
static int run_slice(struct intr_dispatch *d, struct idle_loop *s)
{
    int64_t calls = d->python_calls;
    int64_t t0 = monotonic_ns();
    s->ticker->started = (double)t0 / 1e9;
    s->ticker->running = 1;
    timerfd_settime((int)s->ticker_fd, 0, s->ticker_arm, NULL);
    int err = s->emu_start(d->uc, s->wfi_pc, NEVER_A_PC, 0, 0);
    s->ticker->running = 0;
    timerfd_settime((int)s->ticker_fd, 0, s->ticker_disarm, NULL);
    s->engine_ns += monotonic_ns() - t0;
    s->runs++;
    if (err) {
        s->uc_err = err;
        return IDLE_ERROR;
    }
    if (d->python_calls != calls || reg(d, d->reg_pc) != s->wfi_pc
            || reg(d, s->reg_scounteren) != s->scounteren)
        return IDLE_RAN;
    s->wfis++;
    return 0;
}

static int idle_loop(struct intr_dispatch *d, struct idle_loop *s);

RVKVM_EXPORT int rvkvm_idle(struct intr_dispatch *d, struct idle_loop *s)
{
    if (d->mtime == NULL || s->hz == 0)
        return IDLE_UNAVAILABLE;
    d->idle_wfi_pc = s->wfi_pc;
    int ended = idle_loop(d, s);
    d->idle_wfi_pc = 0;
    return ended;
}

/* A signal that comes while the engine runs interrupts no system call, and Python
 * runs its handler only once it has control: the loop hands back this often. */
#define LOOK_BACK_NS 100000000               /* 100 ms */

static int idle_loop(struct intr_dispatch *d, struct idle_loop *s)
{
    int64_t entered = monotonic_ns();
    for (;;) {
        uint64_t now = d->mtime();
        uint64_t timer = d->armed ? d->deadline : U64_MAX_VALUE;
        uint64_t due = timer < s->other_deadline ? timer : s->other_deadline;
        if (now < due) {
            int64_t left_ns = LOOK_BACK_NS - (monotonic_ns() - entered);
            if (left_ns <= 0)
                return IDLE_DEADLINE;                 /* Python looks, then comes back */
            uint64_t left = (uint64_t)((unsigned __int128)left_ns * s->hz / 1000000000u) + 1;
            uint64_t ticks = due == U64_MAX_VALUE ? U64_MAX_VALUE : due - now;
            if (sleep_for(s, ticks < left ? ticks : left))
                return IDLE_WOKEN;
            continue;
        }
        if (s->other_deadline <= now)
            return IDLE_DEADLINE;
        d->armed = 0;                           /* the firmware's poll: STIP rises once */
        d->raised++;
        set_stip(d, reg(d, d->reg_priv), 1);
        if (doorbell_rung(s))
            return IDLE_WOKEN;
        int ended = run_slice(d, s);
        if (ended)
            return ended;
    }
}
#else
RVKVM_EXPORT int rvkvm_idle(struct intr_dispatch *d, struct idle_loop *s)
{
    (void)d; (void)s;
    return IDLE_UNAVAILABLE;
}
#endif

#define FIELD(f) offsetof(struct intr_dispatch, f)
RVKVM_LAYOUT_FUNCTION(rvkvm_intr_dispatch_layout,
    sizeof(struct intr_dispatch), FIELD(uc), FIELD(reg_read), FIELD(reg_write),
    FIELD(python), FIELD(mtime), FIELD(reg_priv), FIELD(reg_pc), FIELD(reg_a0),
    FIELD(reg_a1), FIELD(reg_a6), FIELD(reg_a7), FIELD(reg_mip), FIELD(serve_sbi_timer),
    FIELD(served), FIELD(deadline), FIELD(armed), FIELD(python_calls), FIELD(raised), FIELD(stip),
    FIELD(emu_stop), FIELD(idle_wfi_pc))

#define IFIELD(f) offsetof(struct idle_loop, f)
RVKVM_LAYOUT_FUNCTION(rvkvm_idle_loop_layout,
    sizeof(struct idle_loop), IFIELD(emu_start), IFIELD(wake_fd), IFIELD(ticker_fd),
    IFIELD(ticker), IFIELD(ticker_arm), IFIELD(ticker_disarm), IFIELD(hz), IFIELD(wfi_pc),
    IFIELD(other_deadline), IFIELD(reg_scounteren), IFIELD(scounteren), IFIELD(runs),
    IFIELD(wfis), IFIELD(engine_ns), IFIELD(uc_err))

RVKVM_LAYOUT_FUNCTION(rvkvm_ticker_state_layout,
    sizeof(struct ticker_state), offsetof(struct ticker_state, running),
    offsetof(struct ticker_state, started))

RVKVM_MODULE(_intrhook, "rvkvm's native UC_HOOK_INTR dispatcher; used through ctypes.")
