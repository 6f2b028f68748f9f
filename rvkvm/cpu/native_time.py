"""rdtime served inside the engine, without a trap to Python.

Unicorn 2.1.4 reads the `time` CSR through env->rdtime_fn and never sets one, so
every rdtime is an illegal instruction Python completes (~20 us each; an idle Linux
reads the time ~1,400 times a second, 5 of the 6 traps of each timer tick). Unicorn exports
riscv_cpu_set_rdtime_fn(env, fn); fn is one of the C functions of _timebase.c, each
reading its own slot (the clock's origin, rate and offset, and htimedelta while the
guest is loaded) on CLOCK_MONOTONIC, as devices/base.py's Clock does.

Two things Unicorn does not do decide when the function is installed (`NativeTime.set`):
- env is private: uc_reg_read's own code says where it is (uc->cpu->env_ptr), and each
  engine proves it (its 31 general registers, written through the API, must be there);
- Unicorn's `time` ignores mcounteren/scounteren/hcounteren (priv 1.10 counters are
  always readable), so the hart installs the function only while every level the
  engine can reach on its own may read `time` (Hart.sync_time_source); otherwise
  rdtime traps and Python applies the spec's checks.
RVKVM_TIME=trap keeps every rdtime in Python (the reference path).
"""
from __future__ import annotations

import ctypes
import os
import re
import weakref

from unicorn.riscv_const import UC_RISCV_REG_X1
from unicorn.unicorn_py3.unicorn import uclib

from .native import load_extension, struct_layout

M64 = (1 << 64) - 1


class Timebase(ctypes.Structure):
    """struct timebase in _timebase.c."""
    _fields_ = [("t0_ns", ctypes.c_int64), ("hz", ctypes.c_int64),
                ("offset", ctypes.c_int64), ("delta", ctypes.c_int64)]


# uc_reg_read: `mov cpu(%rbx),%rax; ...; mov env_ptr(%rax),%rdi; call *reg_read(%rbx)`
_ENV_LOADS = re.compile(rb"\x48\x8b\x83(.{4}).{0,40}?\x48\x8b\xb8(.{4})\xff\x93", re.DOTALL)


def _load():
    lib = load_extension("_timebase", "rvkvm_timebase_layout", struct_layout(Timebase))
    if lib is None:
        return None
    lib.rvkvm_timebase_slots.restype = ctypes.c_int
    lib.rvkvm_timebase_slot.restype = ctypes.POINTER(Timebase)
    lib.rvkvm_timebase_slot.argtypes = [ctypes.c_int]
    lib.rvkvm_timebase_function.restype = ctypes.c_void_p
    lib.rvkvm_timebase_function.argtypes = [ctypes.c_int]
    lib.rvkvm_timebase_ticks_at.restype = ctypes.c_uint64
    lib.rvkvm_timebase_ticks_at.argtypes = [ctypes.c_int, ctypes.c_int64]
    return lib


def _env_offsets() -> tuple[int, int] | None:
    """(offsetof(uc_struct, cpu), offsetof(CPUState, env_ptr)) read from uc_reg_read."""
    if os.uname().machine.lower() not in ("x86_64", "amd64"):   # platform costs 2.5 ms
        return None
    try:
        set_fn = uclib.riscv_cpu_set_rdtime_fn_riscv64
        code = ctypes.string_at(ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p).value, 0x60)
    except AttributeError:
        return None
    set_fn.restype = None
    set_fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    found = _ENV_LOADS.search(code)
    if found is None:
        return None
    return tuple(int.from_bytes(g, "little", signed=True) for g in found.groups())


_LIB = None
_OFFSETS = None
_FREE: list[int] = []
_checked = False


def _available() -> bool:
    global _LIB, _OFFSETS, _checked
    if not _checked:
        _checked = True
        if os.environ.get("RVKVM_TIME", "native") != "trap":
            _OFFSETS = _env_offsets()
            _LIB = _load() if _OFFSETS is not None else None
            if _LIB is not None:
                _FREE.extend(reversed(range(_LIB.rvkvm_timebase_slots())))
    return _LIB is not None


def _engine_env(uc) -> int | None:
    """env of engine `uc`, once its general registers prove it (None: not found)."""
    cpu_offset, env_offset = _OFFSETS
    engine = ctypes.cast(uc._uch, ctypes.c_void_p).value
    uc.ctl_flush_tb()                      # initializes the engine: uc->cpu exists after it
    cpu = ctypes.c_uint64.from_address(engine + cpu_offset).value
    if not cpu:
        return None
    env = ctypes.c_uint64.from_address(cpu + env_offset).value
    if not env:
        return None
    saved = [uc.reg_read(UC_RISCV_REG_X1 + i) for i in range(31)]
    marks = [0x5A17_0000_0000_0000 | (i + 1) << 8 | 0xA5 for i in range(31)]
    for i, mark in enumerate(marks):
        uc.reg_write(UC_RISCV_REG_X1 + i, mark)
    seen = list((ctypes.c_uint64 * 31).from_address(env + 8))   # gpr[1..31]
    for i, value in enumerate(saved):
        uc.reg_write(UC_RISCV_REG_X1 + i, value)
    return env if seen == marks else None


class NativeTime:
    """One engine's native `time`: a slot mirroring `clock`, installed or not."""

    def __init__(self, uc, clock, env: int, index: int):
        self.env = env
        self.index = index
        self.slot = _LIB.rvkvm_timebase_slot(index).contents
        self.slot.t0_ns, self.slot.hz = clock.t0_ns, clock.hz
        self.slot.offset, self.slot.delta = _signed(clock.offset), 0
        self.function = _LIB.rvkvm_timebase_function(index)   # what the engine calls
        self.installed = False
        clock.mirrors.append(self)
        # the slot is free again once the engine is gone (not before: it reads it)
        weakref.finalize(uc, _release, index)

    @classmethod
    def attach(cls, uc, clock) -> "NativeTime | None":
        """The engine's native time, or None: then every rdtime traps to Python."""
        if not _available() or not _FREE:
            return None
        env = _engine_env(uc)
        if env is None:
            return None
        return cls(uc, clock, env, _FREE.pop())

    def clock_moved(self, offset: int) -> None:
        """The clock's mtime was written (Clock.set_mtime)."""
        self.slot.offset = _signed(offset)

    def set(self, installed: bool, delta: int) -> None:
        """Serve `time` natively (as the clock's mtime + `delta`) or not: trap."""
        self.slot.delta = _signed(delta)
        if installed != self.installed:
            uclib.riscv_cpu_set_rdtime_fn_riscv64(self.env, self.function if installed else None)
            self.installed = installed

    def ticks_at(self, now_ns: int) -> int:
        """What the engine reads at host time `now_ns` (CLOCK_MONOTONIC ns)."""
        return _LIB.rvkvm_timebase_ticks_at(self.index, now_ns)


def _signed(value: int) -> int:
    value &= M64
    return value - (1 << 64) if value >> 63 else value


def _release(index: int) -> None:
    _FREE.append(index)
