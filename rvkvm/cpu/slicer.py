"""Time slicing of a Unicorn run without corrupting the guest.

On Unicorn 2.1.4 every asynchronous stop (uc.emu_stop() from another thread,
emu_start(timeout=), a cross-thread MIP write) is noticed after a guest load/store
and leaves pc on that instruction, so resuming executes it again. Two safe ways
to end a slice:

- NativeSlicer: a ticker thread only sets a flag; a C UC_HOOK_BLOCK callback
  (_slicehook.c, built by setup.py) turns it into uc_emu_stop() at the next block
  boundary, before any instruction of that block runs.
- PythonSlicer (no compiler, or RVKVM_SLICER=python): emu_start(count=N). The
  count hook stops before an instruction, which is safe, but costs ~8x in speed,
  and a requested stop can only take effect when the count runs out.

Tried and rejected, though free (bench/mips.py 1.07x raw instead of ~0.66x): set
Unicorn's private uc_struct.no_exit_request, which drops the per-load/store checks,
and let the ticker call uc_emu_stop(). Stops then land at block starts (once the
skip_sync_pc_on_exit flag, left set by any hook's pc write, is cleared), but Unicorn
2.1.4 reports a store to unmapped memory only through that same per-access check:
without it the rest of the block runs after the faulting store (images/exceptions.elf,
check 51). Hooks that would restore precision (UC_HOOK_MEM_*_UNMAPPED) make every
guest access ~5x slower under paging.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import threading
import time
import weakref

from unicorn import UC_HOOK_BLOCK, UcError
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

from ..errors import RvkvmError

ENV_VAR = "RVKVM_SLICER"
DEFAULT_SLICE_SECONDS = 0.002
# Unicorn runs ~235 M instr/s with an instruction count on a tight loop; real
# code is slower, so a slice of N instructions lasts about slice_seconds or less.
COUNT_MODE_INSTRUCTIONS_PER_SECOND = 100_000_000


class Slicer:
    """Runs one guest slice at a time on one Uc. Subclasses say how the slice ends."""

    kind = "none"

    def __init__(self, uc):
        self.uc = uc

    @property
    def stops(self) -> int:
        """How many slices ended because of a tick or request_stop()."""
        raise NotImplementedError

    def request_stop(self) -> None:
        """End the running slice (or the next one) as soon as it is safe.

        Thread-safe, and safe inside Unicorn MMIO/interrupt callbacks: it only sets a flag."""
        raise NotImplementedError

    def run(self, pc: int) -> bool:
        """Run one slice from pc. True: the slice ended because of a tick or
        request_stop(); False: emu_start returned for another reason (the hart
        stopped it itself, WFI, ...). UcError from emu_start propagates."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the ticker thread, if any. Idempotent; run() may still be called."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ----------------------------------------------------------------------------- native

class SliceState(ctypes.Structure):
    """struct slice_state in _slicehook.c: the hook's per-engine user_data."""
    _fields_ = [
        ("stop_flag", ctypes.c_int),
        ("stops", ctypes.c_uint64),
        ("uc_emu_stop", ctypes.c_void_p),
    ]


def _load_native():
    """The built hook library, or None when the extension was not compiled."""
    try:
        spec = importlib.util.find_spec("rvkvm.cpu._slicehook")
    except ImportError:
        return None
    if spec is None or not spec.origin or not os.path.exists(spec.origin):
        return None
    lib = ctypes.CDLL(spec.origin)
    layout = (ctypes.c_size_t * 4)()
    lib.rvkvm_slice_state_layout(layout)
    expected = (ctypes.sizeof(SliceState), SliceState.stop_flag.offset,
                SliceState.stops.offset, SliceState.uc_emu_stop.offset)
    if tuple(layout) != expected:
        raise RvkvmError(f"rvkvm/cpu/_slicehook was built with another struct layout "
                         f"({tuple(layout)} != {expected}); rebuild it (pip install -e .)")
    return lib


_native_lib = None
_native_loaded = False


def native_library():
    """The loaded _slicehook library (cached), or None if it is not built."""
    global _native_lib, _native_loaded
    if not _native_loaded:
        _native_lib = _load_native()
        _native_loaded = True
    return _native_lib


def native_available() -> bool:
    return native_library() is not None


class _Ticker:
    """Calls fire() once a slice has run for `period` seconds.

    Holds no reference to the slicer, so a forgotten slicer can still be
    collected (a weakref finalizer then closes the ticker)."""

    def __init__(self, period: float, fire):
        self.period = period
        self._fire = fire
        self._running = False
        self._slice_id = 0
        self._started = 0.0
        self._closed = False
        self._wake = threading.Event()          # a slice began (or close)
        self._closing = threading.Event()       # interrupts the ticker's sleeps
        self._thread = threading.Thread(target=self._loop, name="rvkvm-slice-ticker", daemon=True)
        self._thread.start()

    def slice_begins(self) -> None:
        self._started = time.monotonic()
        self._slice_id += 1
        self._running = True
        if not self._wake.is_set():
            self._wake.set()

    def slice_ends(self) -> None:
        self._running = False

    def close(self) -> None:
        self._closed = True
        self._closing.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        fired_for = -1
        while not self._closed:
            if not self._running:
                # Clear, then look again: a slice_begins() before the clear is seen
                # by the second look, one after it sets the event again.
                self._wake.clear()
                if not self._running:
                    self._wake.wait()
                continue
            slice_id, started = self._slice_id, self._started
            delay = started + self.period - time.monotonic()
            if delay > 0:
                self._closing.wait(delay)
                continue
            if slice_id != fired_for and self._running and self._slice_id == slice_id:
                fired_for = slice_id
                self._fire()
            else:
                self._closing.wait(self.period / 4)   # fired already: wait for the slice to end


class NativeSlicer(Slicer):
    kind = "native"

    def __init__(self, uc, slice_seconds: float = DEFAULT_SLICE_SECONDS):
        super().__init__(uc)
        lib = native_library()
        if lib is None:
            raise RvkvmError("the native slicer is not built (needs a C compiler at install time: "
                             "pip install -e .); use RVKVM_SLICER=python")
        self.slice_seconds = slice_seconds
        self._state = state = SliceState()
        state.uc_emu_stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
        hook_fn = ctypes.cast(lib.rvkvm_slice_block_hook, ctypes.c_void_p).value
        handle = uc_hook_h()
        status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC_HOOK_BLOCK,
                                   ctypes.c_void_p(hook_fn), ctypes.c_void_p(ctypes.addressof(state)),
                                   ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status != 0:
            raise UcError(status)
        self._hook = handle.value
        # The engine keeps its hooks' objects alive in _callbacks (uc.hook_del drops
        # them); keeping the state there ties its life to the Uc, not to this slicer.
        uc._callbacks[self._hook] = state
        self._ticker = None
        self._finalizer = None
        self._start_ticker()

    def _start_ticker(self) -> None:
        state = self._state

        def fire():
            state.stop_flag = 1
        self._ticker = _Ticker(self.slice_seconds, fire)
        self._finalizer = weakref.finalize(self, self._ticker.close)

    @property
    def stops(self) -> int:
        return self._state.stops

    def request_stop(self) -> None:
        self._state.stop_flag = 1

    def run(self, pc: int) -> bool:
        if self._ticker is None:              # closed, then run again
            self._start_ticker()
        stops_before = self._state.stops
        ticker = self._ticker
        ticker.slice_begins()
        try:
            self.uc.emu_start(pc, 0)
        finally:
            ticker.slice_ends()
        return self._state.stops != stops_before

    def close(self) -> None:
        """Stop the ticker thread. The hook stays (it costs one branch per block);
        a later run() starts a new ticker."""
        if self._ticker is not None:
            self._finalizer()
            self._ticker = None


# ----------------------------------------------------------------------------- python

class PythonSlicer(Slicer):
    """Slices by instruction count: emu_start(pc, 0, count=N).

    The end of the count cannot be told apart from another early return, so
    run() reports True only when request_stop() was called; a caller that finds
    no other reason for the return treats it as a slice end."""

    kind = "python"

    def __init__(self, uc, slice_seconds: float = DEFAULT_SLICE_SECONDS,
                 instructions_per_slice: int | None = None):
        super().__init__(uc)
        if instructions_per_slice is None:
            instructions_per_slice = int(slice_seconds * COUNT_MODE_INSTRUCTIONS_PER_SECOND)
        self.instructions_per_slice = max(1, instructions_per_slice)
        self._requested = False
        self._stops = 0
        # Unicorn 2.1.4: blocks translated during a run without count carry no
        # counter, so a later count is ignored until the translation cache is flushed.
        uc.ctl_flush_tb()

    @property
    def stops(self) -> int:
        return self._stops

    def request_stop(self) -> None:
        self._requested = True

    def run(self, pc: int) -> bool:
        if not self._requested:
            self.uc.emu_start(pc, 0, count=self.instructions_per_slice)
        if self._requested:
            self._requested = False
            self._stops += 1
            return True
        return False


# ----------------------------------------------------------------------------- choice

def make_slicer(uc, slice_seconds: float = DEFAULT_SLICE_SECONDS,
                prefer_native: bool = True) -> Slicer:
    """The native slicer when built and preferred, else the Python one.
    RVKVM_SLICER=native|python overrides the preference."""
    forced = os.environ.get(ENV_VAR, "").strip().lower()
    if forced not in ("", "native", "python"):
        raise RvkvmError(f"{ENV_VAR} must be 'native' or 'python', not {forced!r}")
    if forced == "native" or (forced == "" and prefer_native and native_available()):
        return NativeSlicer(uc, slice_seconds)
    return PythonSlicer(uc, slice_seconds)
