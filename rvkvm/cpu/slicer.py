"""Time slicing of a Unicorn run without corrupting the guest.

On Unicorn 2.1.4 every asynchronous stop (uc.emu_stop() from another thread,
emu_start(timeout=), a cross-thread MIP write) is noticed after a guest load/store
and leaves pc on that instruction, so resuming executes it again. Three safe ways
to end a slice, best first (make_slicer picks one; `kind` says which):

- ExitSlicer, "native-exit": turns off the per-load/store stop check on the
  engine (uc_struct.no_exit_request, see "the exit switch" below), after which a
  ticker thread may call uc_emu_stop() directly: the stop lands at the start of
  the next translated block. Costs nothing per block; needs no compiler, but
  needs a self-check to pass on the installed Unicorn.
- NativeSlicer, "native-block": a ticker thread only sets a flag; a C
  UC_HOOK_BLOCK callback (_slicehook.c, built by setup.py) turns it into
  uc_emu_stop() at the next block boundary. Unicorn calls the hook on every
  block executed: ~0.65x raw speed on a tight loop.
- PythonSlicer, "python": emu_start(count=N). The count hook stops before an
  instruction, which is safe, but costs ~8x in speed, and a requested stop can
  only take effect when the count runs out.

What the exit switch costs in precision: Unicorn 2.1.4 reports a load/store to
UNMAPPED physical memory (no RAM, no device) only through the per-access check the
switch removes, so under "native-exit" the rest of that block runs after the faulting
access before the run ends (rvkvm then reports the access fault at the right epc, but
later instructions of the block have run). Guest M-mode code is not affected: it runs
under an identity map of RAM and the devices only (mmode_map.py), so a hole is a page
fault, raised before the access. S/U code that reaches a hole (bare, satp=0, or
through its own page tables) does see the imprecision; well-behaved kernels never do,
and RVKVM_SLICER=native-block keeps those accesses precise too. (Turning the switch
off only while S/U runs bare would need a translation-cache flush at each change, as
the switch acts when a block is translated, and the block hook for slicing meanwhile.)
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
import weakref

from unicorn import (
    UC_HOOK_BLOCK,
    UcError,
)
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

from ..errors import RvkvmError
from .native import load_extension, struct_layout
from .exit_switch import (
    _engine_address,
    _engine_bytes,
    _EngineFlags,
    _switch_on,
    exit_switch,
    exit_switch_available,
)

ENV_VAR = "RVKVM_SLICER"
CHOICES = ("native", "native-exit", "native-block", "python")   # "native": the best native one
DEFAULT_SLICE_SECONDS = 0.002
# The `until` address of every emu_start. Unicorn ends a run when it reaches that
# address, so it must be one no guest can ever execute (0, the obvious choice, is
# ordinary code for a guest that maps VA 0: riscv-tests rv64si-p-icache-alias). This
# one is odd, so never a pc (IALIGN is 16: branches, jalr, xepc all clear bit 0); it is
# not canonical under Sv39, Sv48 or Sv57 (bit 63 differs from bits 56, 47 and 38); and
# as a physical address it is above the 56 bits RISC-V allows, so nothing is mapped there.
NEVER_A_PC = 0x7FFF_FFFF_FFFF_FFFF
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

        Thread-safe, and safe inside Unicorn MMIO/interrupt callbacks."""
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


class _Ticker:
    """Calls fire() every `period` seconds of a running slice (the first call one
    period after the slice began; later ones only if the slice is still running).

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
        fired_for, fired_at = -1, 0.0
        while not self._closed:
            if not self._running:
                # Clear, then look again: a slice_begins() before the clear is seen
                # by the second look, one after it sets the event again.
                self._wake.clear()
                if not self._running:
                    self._wake.wait()
                continue
            slice_id, started = self._slice_id, self._started
            since = fired_at if fired_for == slice_id else started
            delay = since + self.period - time.monotonic()
            if delay > 0:
                self._closing.wait(delay)
                continue
            if self._running and self._slice_id == slice_id:
                # Firing again a period later covers a stop the engine dropped
                # (one that raced with the start of emu_start).
                fired_for, fired_at = slice_id, time.monotonic()
                self._fire()


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_CLOCK_MONOTONIC = 1
_TFD_CLOEXEC = 0o2000000


def _timerfd_functions():
    """(timerfd_create, timerfd_settime) from libc on 64-bit Linux, else None."""
    if not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_long) != 8:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        create, settime = libc.timerfd_create, libc.timerfd_settime
    except (OSError, AttributeError):
        return None
    create.argtypes, create.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    settime.restype = ctypes.c_int
    return create, settime


class TickerState(ctypes.Structure):
    """What the ticker's thread checks before it fires: a slice is running and began
    (time.monotonic()) a period ago. Shared with _intrhook.c's idle loop, which runs
    slices of its own (struct ticker_state)."""
    _fields_ = [("running", ctypes.c_int64), ("started", ctypes.c_double)]


class _TimerfdTicker:
    """_Ticker's contract on a kernel timer (Linux timerfd): slice_begins() arms it
    (first expiry one period on, then every period), slice_ends() disarms it, and
    the thread sleeps in read() until an expiry. A slice that ends before its period
    (an idle guest's: a timer interrupt, then WFI) wakes no thread at all; _Ticker
    wakes its thread twice per slice (at the start, to time it, and a period later),
    which on an idle Linux guest was a third of rvkvm's idle CPU beside the guest's
    own work. Costs two system calls per slice."""

    def __init__(self, period: float, fire, functions):
        self.period = period
        self._fire = fire
        create, self._settime = functions
        self._fd = create(_CLOCK_MONOTONIC, _TFD_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        ns = max(1, round(period * 1e9))
        period_ts = _Timespec(ns // 1_000_000_000, ns % 1_000_000_000)
        self._specs = (_Itimerspec(period_ts, period_ts), _Itimerspec(),
                       _Itimerspec(_Timespec(), _Timespec(0, 1)))     # arm, disarm, now
        self._arm, self._disarm, self._now = (ctypes.addressof(t) for t in self._specs)
        self.state = TickerState()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="rvkvm-slice-ticker", daemon=True)
        self._thread.start()

    def slice_begins(self) -> None:
        state = self.state
        state.started = time.monotonic()
        state.running = 1
        self._settime(self._fd, 0, self._arm, None)

    def slice_ends(self) -> None:
        self.state.running = 0
        self._settime(self._fd, 0, self._disarm, None)

    def native_arming(self) -> tuple[int, int, int, int]:
        """(timerfd, TickerState address, arm and disarm itimerspec addresses): what
        C code running slices of its own needs to do slice_begins/slice_ends."""
        return self._fd, ctypes.addressof(self.state), self._arm, self._disarm

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._settime(self._fd, 0, self._now, None)        # wakes the thread's read()
        if self._thread is not threading.current_thread():
            self._thread.join()
        os.close(self._fd)

    def _loop(self) -> None:
        # An expiry read just as one slice ended and the next began belongs to the
        # old slice, and one read late (this thread kept from running) may be followed
        # at once by the next: fire only a period (less a margin for the timer's own
        # rounding) after the slice began and after the last fire, as _Ticker does.
        early = self.period * 0.9
        fired_at = 0.0
        state = self.state
        while True:
            try:
                os.read(self._fd, 8)
            except OSError:
                return
            if self._closed:
                return
            now = time.monotonic()
            if state.running and now - max(state.started, fired_at) >= early:
                fired_at = now
                self._fire()


_timerfd = _timerfd_functions()


def make_ticker(period: float, fire):
    """The cheapest ticker this host has: a timerfd one on Linux, else _Ticker."""
    if _timerfd is not None:
        try:
            return _TimerfdTicker(period, fire, _timerfd)
        except OSError:
            pass
    return _Ticker(period, fire)


class _TickedSlicer(Slicer):
    """A slicer whose slices are ended by a _Ticker, restarted by run() after close()."""

    def __init__(self, uc, slice_seconds: float):
        super().__init__(uc)
        self.slice_seconds = slice_seconds
        self._ticker = None
        self._finalizer = None
        self._start_ticker()

    def _make_fire(self):
        """The ticker's callback: must not refer to self (see _Ticker)."""
        raise NotImplementedError

    def _start_ticker(self) -> None:
        self._ticker = make_ticker(self.slice_seconds, self._make_fire())
        self._finalizer = weakref.finalize(self, self._ticker.close)

    def _run_ticked(self, pc: int) -> None:
        if self._ticker is None:              # closed, then run again
            self._start_ticker()
        ticker = self._ticker
        ticker.slice_begins()
        try:
            self.uc.emu_start(pc, NEVER_A_PC)
        finally:
            ticker.slice_ends()

    def close(self) -> None:
        """Stop the ticker thread; a later run() starts a new one."""
        if self._ticker is not None:
            self._finalizer()
            self._ticker = None


# uc_emu_stop through a prototype that keeps the GIL: a ticker's "set the flag, stop
# the engine" is then atomic for run(), which reads the flag with the GIL held.
_uc_emu_stop_keeping_gil = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(
    ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value)


class _StopLine:
    """What the ticker and request_stop() share with ExitSlicer.run()."""

    def __init__(self, uc, flags: _EngineFlags):
        self.uc = uc                  # keeps the engine alive while a ticker may fire
        self._engine = _engine_address(uc)
        self._skip_sync_pc = _engine_bytes(uc, flags.skip_sync_pc, 1)
        self.requested = False

    def fire(self) -> None:
        self.requested = True
        # Cleared before the stop is visible: the engine reads it only once it sees the stop.
        self._skip_sync_pc[0] = 0
        _uc_emu_stop_keeping_gil(self._engine)   # a no-op between runs: run() sees the flag


class ExitSlicer(_TickedSlicer):
    """Stops the engine with uc_emu_stop() from the ticker, with the exit switch on.

    A stop that lands as the run ends for another reason (WFI, an engine error) is
    still reported as a tick: run() cannot tell them apart."""

    kind = "native-exit"

    def __init__(self, uc, slice_seconds: float = DEFAULT_SLICE_SECONDS):
        flags, why = exit_switch()
        if flags is None:
            raise RvkvmError(f"the exit-switch slicer cannot be used with this Unicorn: {why}")
        _switch_on(uc, flags)
        self._line = _StopLine(uc, flags)
        self._stops = 0
        super().__init__(uc, slice_seconds)

    def _make_fire(self):
        return self._line.fire

    @property
    def stops(self) -> int:
        return self._stops

    def request_stop(self) -> None:
        self._line.fire()

    def run(self, pc: int) -> bool:
        line = self._line
        if not line.requested:                 # a pending request: no instruction runs
            self._run_ticked(pc)
        return self.take_stop_request()

    def take_stop_request(self) -> bool:
        """After a run: whether the ticker or request_stop() ended it (a tick)."""
        line = self._line
        if not line.requested:
            return False
        line.requested = False
        self._stops += 1
        return True

    def native_ticker(self) -> tuple[int, int, int, int] | None:
        """The ticker's native_arming() for C code running slices itself (the idle
        loop, intrhook.py), or None when the ticker is not a timerfd one."""
        if self._ticker is None:               # closed, then run again
            self._start_ticker()
        arming = getattr(self._ticker, "native_arming", None)
        return arming() if arming is not None else None


# ----------------------------------------------------------------------------- block hook

class SliceState(ctypes.Structure):
    """struct slice_state in _slicehook.c: the hook's per-engine user_data."""
    _fields_ = [
        ("stop_flag", ctypes.c_int),
        ("stops", ctypes.c_uint64),
        ("uc_emu_stop", ctypes.c_void_p),
    ]


def native_library():
    """The built _slicehook library, or None if it is not built."""
    return load_extension("_slicehook", "rvkvm_slice_state_layout", struct_layout(SliceState))


def native_available() -> bool:
    """Whether the block-hook slicer is built."""
    return native_library() is not None


class NativeSlicer(_TickedSlicer):
    """The ticker sets a flag that a C block hook turns into a stop at a block start."""

    kind = "native-block"

    def __init__(self, uc, slice_seconds: float = DEFAULT_SLICE_SECONDS):
        lib = native_library()
        if lib is None:
            raise RvkvmError("the native slicer is not built (needs a C compiler at install time: "
                             "pip install -e .); use RVKVM_SLICER=python")
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
        super().__init__(uc, slice_seconds)

    def _make_fire(self):
        state = self._state

        def fire():
            state.stop_flag = 1
        return fire

    @property
    def stops(self) -> int:
        return self._state.stops

    def request_stop(self) -> None:
        self._state.stop_flag = 1

    def run(self, pc: int) -> bool:
        stops_before = self._state.stops
        self._run_ticked(pc)
        return self._state.stops != stops_before

    def close(self) -> None:
        """Stop the ticker thread. The hook stays (it costs a call per block);
        a later run() starts a new ticker."""
        super().close()


# ----------------------------------------------------------------------------- python

class PythonSlicer(Slicer):
    """Slices by instruction count: emu_start(pc, NEVER_A_PC, count=N).

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
            self.uc.emu_start(pc, NEVER_A_PC, count=self.instructions_per_slice)
        if self._requested:
            self._requested = False
            self._stops += 1
            return True
        return False


# ----------------------------------------------------------------------------- choice

def make_slicer(uc, slice_seconds: float = DEFAULT_SLICE_SECONDS,
                prefer_native: bool = True) -> Slicer:
    """The best slicer that works here: the exit switch if proven on this Unicorn,
    else the block hook if built, else the Python one (also when not prefer_native).
    RVKVM_SLICER=native|native-exit|native-block|python overrides the choice."""
    forced = os.environ.get(ENV_VAR, "").strip().lower()
    if forced not in ("",) + CHOICES:
        raise RvkvmError(f"{ENV_VAR} must be one of {', '.join(CHOICES)}, not {forced!r}")
    if forced == "python" or (forced == "" and not prefer_native):
        return PythonSlicer(uc, slice_seconds)
    if forced == "native-exit" or (forced != "native-block" and exit_switch_available()):
        return ExitSlicer(uc, slice_seconds)
    if forced != "" or native_available():
        return NativeSlicer(uc, slice_seconds)
    return PythonSlicer(uc, slice_seconds)
