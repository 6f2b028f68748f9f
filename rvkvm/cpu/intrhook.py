"""The hart's UC_HOOK_INTR: _intrhook.c when built, else the binding's Python hook.

The C hook serves one call itself, the S-mode SBI timer call under rvkvm's built-in
firmware (the one an idle Linux makes at every tick), and hands every other exception
to the hart's Python handler. `fold()` brings the calls it served into Python's state;
the hart calls it first thing whenever it gets control from the engine.
"""
from __future__ import annotations

import ctypes
import os

from unicorn import UC_HOOK_INTR
from unicorn import riscv_const as rc
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

from .native import check_layout, load_extension, struct_layout

_HOOK_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)


class IntrDispatch(ctypes.Structure):
    """struct intr_dispatch in _intrhook.c."""
    _fields_ = [("uc", ctypes.c_void_p), ("reg_read", ctypes.c_void_p),
                ("reg_write", ctypes.c_void_p), ("python", ctypes.c_void_p),
                ("mtime", ctypes.c_void_p),
                ("reg_priv", ctypes.c_int64), ("reg_pc", ctypes.c_int64),
                ("reg_a0", ctypes.c_int64), ("reg_a1", ctypes.c_int64),
                ("reg_a6", ctypes.c_int64), ("reg_a7", ctypes.c_int64),
                ("reg_mip", ctypes.c_int64),
                ("serve_sbi_timer", ctypes.c_int64), ("served", ctypes.c_int64),
                ("deadline", ctypes.c_uint64), ("armed", ctypes.c_int64),
                ("python_calls", ctypes.c_int64),
                ("raised", ctypes.c_int64), ("stip", ctypes.c_int64),
                ("emu_stop", ctypes.c_void_p), ("idle_wfi_pc", ctypes.c_uint64)]


class IdleLoop(ctypes.Structure):
    """struct idle_loop in _intrhook.c: rvkvm_idle()'s arguments and results.

    rvkvm_idle() sleeps (ppoll on the doorbell) until the SBI deadline, raises STIP,
    runs the engine from the WFI as ExitSlicer does (the slice ticker armed), and goes
    on while the run ends back at the same WFI with no exception for Python, no change
    of scounteren (native time depends on it) and no engine error. It returns when the
    doorbell rings (host input, a device line, console output to flush, an exit
    request), on a signal (for Python's handler), when `other_deadline` (the CLINT's,
    --timeout's) is due, after a run that needs Python (IDLE_RAN, IDLE_ERROR), and at
    least every 100 ms: a signal that comes while the engine runs interrupts no system
    call, and its Python handler runs only once Python has control."""
    _fields_ = [("emu_start", ctypes.c_void_p), ("wake_fd", ctypes.c_int64),
                ("ticker_fd", ctypes.c_int64), ("ticker", ctypes.c_void_p),
                ("ticker_arm", ctypes.c_void_p), ("ticker_disarm", ctypes.c_void_p),
                ("hz", ctypes.c_uint64), ("wfi_pc", ctypes.c_uint64),
                ("other_deadline", ctypes.c_uint64), ("reg_scounteren", ctypes.c_int64),
                ("scounteren", ctypes.c_uint64), ("runs", ctypes.c_int64),
                ("wfis", ctypes.c_int64), ("engine_ns", ctypes.c_int64),
                ("uc_err", ctypes.c_int64)]


IDLE_WOKEN, IDLE_DEADLINE, IDLE_RAN, IDLE_ERROR = range(4)
IDLE_UNAVAILABLE = -1                  # not on this platform: the caller sleeps in Python


def _library():
    if os.environ.get("RVKVM_INTR") == "python":
        return None
    lib = load_extension("_intrhook", "rvkvm_intr_dispatch_layout", struct_layout(IntrDispatch))
    if lib is not None:
        from .slicer import TickerState
        check_layout(lib, "rvkvm_idle_loop_layout", struct_layout(IdleLoop))
        check_layout(lib, "rvkvm_ticker_state_layout", struct_layout(TickerState))
        lib.rvkvm_idle.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.rvkvm_idle.restype = ctypes.c_int
    return lib


class NativeIntrHook:
    """The C dispatcher installed on `uc`, calling `handler(uc, intno, user)` for what
    it does not serve. Exceptions `handler` raises end the run as with the binding's
    hooks (saved for emu_start to raise)."""

    def __init__(self, uc, handler, lib, mtime_function: int | None):
        def python(_uc_handle, intno, _user):
            try:
                handler(uc, intno, None)
            except BaseException as err:      # as the binding's hooks do (uccallback)
                if uc._hook_exception is None:
                    uc._hook_exception = err
                uc.emu_stop()
        self._python = _HOOK_FN(python)
        self._lib = lib
        d = self.dispatch = IntrDispatch()
        d.uc = ctypes.cast(uc._uch, ctypes.c_void_p).value
        d.reg_read = ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p).value
        d.reg_write = ctypes.cast(uclib.uc_reg_write, ctypes.c_void_p).value
        d.python = ctypes.cast(self._python, ctypes.c_void_p).value
        d.emu_stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
        d.mtime = mtime_function or 0
        d.reg_priv, d.reg_pc, d.reg_mip = rc.UC_RISCV_REG_PRIV, rc.UC_RISCV_REG_PC, rc.UC_RISCV_REG_MIP
        d.reg_a0, d.reg_a1 = rc.UC_RISCV_REG_A0, rc.UC_RISCV_REG_A1
        d.reg_a6, d.reg_a7 = rc.UC_RISCV_REG_A6, rc.UC_RISCV_REG_A7
        handle = uc_hook_h()
        status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC_HOOK_INTR,
                                   ctypes.c_void_p(ctypes.cast(lib.rvkvm_intr_hook,
                                                               ctypes.c_void_p).value),
                                   ctypes.c_void_p(ctypes.addressof(d)),
                                   ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status != 0:
            raise OSError(f"uc_hook_add(UC_HOOK_INTR) failed: {status}")
        # the engine keeps its hooks' objects in _callbacks: they live as long as it
        uc._callbacks[handle.value] = (d, self._python)

    def serve_sbi_timer(self, on: bool) -> None:
        self.dispatch.serve_sbi_timer = int(on)

    def fold(self) -> tuple[int, int, int, bool, bool] | None:
        """(calls served, deadlines the idle loop raised the interrupt for, the last
        call's deadline, whether it is still armed, STIP now) since the last fold, or
        None if there were none."""
        d = self.dispatch
        served, raised = d.served, d.raised
        if not (served or raised):
            return None
        d.served = d.raised = 0
        return served, raised, d.deadline, bool(d.armed), bool(d.stip)

    def idle(self, loop: IdleLoop, deadline: int, armed: bool, stip: bool) -> int:
        """rvkvm_idle from the SBI timer's state; fold() after it."""
        d = self.dispatch
        d.deadline, d.armed, d.stip = deadline, int(armed), int(stip)
        loop.runs = loop.wfis = loop.engine_ns = loop.uc_err = 0
        return self._lib.rvkvm_idle(ctypes.addressof(d), ctypes.addressof(loop))


def idle_loop(hz: int) -> IdleLoop:
    """rvkvm_idle()'s arguments, less what the hart and its machine fill in per WFI."""
    loop = IdleLoop()
    loop.emu_start = ctypes.cast(uclib.uc_emu_start, ctypes.c_void_p).value
    loop.hz = hz
    loop.wake_fd = loop.ticker_fd = -1
    loop.reg_scounteren = rc.UC_RISCV_REG_SCOUNTEREN
    return loop


def install(uc, handler, mtime_function: int | None):
    """The C dispatcher if built, else None after hooking `handler` through the binding."""
    lib = _library()
    if lib is not None:
        return NativeIntrHook(uc, handler, lib, mtime_function)
    uc.hook_add(UC_HOOK_INTR, handler)
    return None
