/* Native UC_HOOK_BLOCK callback for safe time slicing on Unicorn 2.1.4.
 *
 * Why native: an asynchronous uc_emu_stop() (from another thread, a timeout, a
 * cross-thread MIP write) is noticed after a guest load/store and rolls pc back
 * onto that memory instruction, so resuming runs it twice. A stop requested from
 * a block hook is taken at the block boundary instead, before any instruction of
 * the block runs. A Python block hook would cost ~0.65 us per block; this one
 * costs one predictable branch.
 *
 * The ticker thread (rvkvm/cpu/slicer.py) only sets stop_flag. The flag lives in
 * a per-Uc struct passed as the hook's user_data, so several engines slice
 * independently. The file is loaded with ctypes; PyInit__slicehook only makes it
 * a valid extension module so setuptools can build and install it.
 */
#include "_native.h"

typedef int (*uc_emu_stop_fn)(void *uc);

/* Mirrored by SliceState in slicer.py; rvkvm_slice_state_layout lets Python check it. */
struct slice_state {
    volatile int stop_flag;   /* set by the ticker or request_stop(), cleared here */
    uint64_t stops;           /* stops this hook has made */
    uc_emu_stop_fn uc_emu_stop;
};

RVKVM_EXPORT void rvkvm_slice_block_hook(void *uc, uint64_t address, uint32_t size,
                                         void *user_data)
{
    struct slice_state *state = (struct slice_state *)user_data;
    (void)address;
    (void)size;
    if (UNLIKELY(state->stop_flag)) {
        state->stop_flag = 0;
        state->stops++;
        state->uc_emu_stop(uc);
    }
}

#define FIELD(f) offsetof(struct slice_state, f)
RVKVM_LAYOUT_FUNCTION(rvkvm_slice_state_layout,
    sizeof(struct slice_state), FIELD(stop_flag), FIELD(stops), FIELD(uc_emu_stop))

RVKVM_MODULE(_slicehook, "Native block hook for rvkvm's time slicer; used through ctypes.")
