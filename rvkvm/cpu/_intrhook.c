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
 */
#include "_native.h"

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
    d->served++;
    set_reg(d, d->reg_a0, 0);                   /* SBI_SUCCESS, value 0 */
    set_reg(d, d->reg_a1, 0);
    set_reg(d, d->reg_pc, reg(d, d->reg_pc));   /* resume after the ecall, as Python does */
    set_reg(d, d->reg_priv, PRV_M);             /* mip is an M CSR to the engine */
    set_reg(d, d->reg_mip, reg(d, d->reg_mip) & ~MIP_STIP);
    set_reg(d, d->reg_priv, priv);
    return 1;
}

RVKVM_EXPORT void rvkvm_intr_hook(void *uc, uint32_t intno, void *user_data)
{
    struct intr_dispatch *d = (struct intr_dispatch *)user_data;
    if (intno == EXCP_ECALL_FROM_S_OR_U && d->serve_sbi_timer && serve_set_timer(d))
        return;
    d->python(uc, intno, user_data);
}

#define FIELD(f) offsetof(struct intr_dispatch, f)
RVKVM_LAYOUT_FUNCTION(rvkvm_intr_dispatch_layout,
    sizeof(struct intr_dispatch), FIELD(uc), FIELD(reg_read), FIELD(reg_write),
    FIELD(python), FIELD(mtime), FIELD(reg_priv), FIELD(reg_pc), FIELD(reg_a0),
    FIELD(reg_a1), FIELD(reg_a6), FIELD(reg_a7), FIELD(reg_mip), FIELD(serve_sbi_timer),
    FIELD(served), FIELD(deadline))

RVKVM_MODULE(_intrhook, "rvkvm's native UC_HOOK_INTR dispatcher; used through ctypes.")
