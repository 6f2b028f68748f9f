"""The exit switch: the private Unicorn 2.1.4 engine flags that let a thread stop the
engine safely (at the next block start), found in the library's code and proven on
this binary before use. rvkvm/cpu/slicer.py's ExitSlicer is the one user."""

from __future__ import annotations

import ctypes
import os
import re

from unicorn import (
    UC_ARCH_RISCV,
    UC_HOOK_INTR,
    UC_HOOK_MEM_WRITE,
    UC_MODE_RISCV64,
    UC_PROT_ALL,
    UC_PROT_READ,
    UC_PROT_WRITE,
    Uc,
    UcError,
)
from unicorn.riscv_const import (
    UC_RISCV_REG_A0,
    UC_RISCV_REG_PC,
    UC_RISCV_REG_S0,
    UC_RISCV_REG_S1,
    UC_RISCV_REG_T1,
)
from unicorn.unicorn_py3.unicorn import uclib

from .. import __version__
from ..errors import RvkvmError

# Unicorn 2.1.4 looks for a stop request in generated code at two kinds of places,
# both calls of helper_check_exit_request:
# - at the start of every translated block (gen_tb_start): nothing of the block has
#   run, so the pc it restores, the block's start, is exact;
# - after every guest load/store and UC_HOOK_CODE callback (check_exit_request()):
#   there it puts pc back on an instruction that has already run.
# Two private fields of struct uc_struct (include/uc_priv.h) decide what happens:
# - no_exit_request: while set, check_exit_request() emits nothing (Unicorn sets it
#   around ARM IT blocks only). With it set, blocks carry only the first kind of check.
# - skip_sync_pc_on_exit: uc_reg_write(PC) sets it, so that a stop following a hook's
#   pc write keeps that pc; the helper then exits WITHOUT restoring pc. Only that exit
#   clears it, so after any trap hook that wrote pc (rvkvm's do) it lingers for the
#   rest of the run, and the next stop leaves whatever pc the engine last stored:
#   chained blocks do not store it, so that is often a block that ran long ago.
# ExitSlicer sets no_exit_request once per engine, and each stop it asks for clears
# skip_sync_pc_on_exit first: the stop then lands at the next block start, with pc
# restored to it. Side effects on that engine: every stop, from hooks too, lands at
# the next block start rather than after the current access or instruction, and
# emu_start(count=N) may run on to the end of a block.
#
# The offsets are private, so they are read from the library's own code and then
# proven (_prove_exit_switch), else make_slicer uses the block hook:
# - check_exit_request_riscv64 starts `mov uc(%rdi),%rsi; cmpb $0,no_exit_request(%rsi)`;
#   uc_emu_stop's UC_INIT test reads init_done, declared right after no_exit_request,
#   which a fresh engine flips from 0 to 1 when it initializes;
# - uc_reg_write's pc path stores 1 to quit_request, then to skip_sync_pc_on_exit,
#   which a pc write on an idle engine flips from 0 to 1;
# - a guest that traps once (the hook writes pc back) and is later stopped from a store
#   hook in the middle of a block must show the known rollback onto the store without
#   the switch, a stale pc with the switch but the flag left set, and the next block
#   start, the rest of the block run once, with both (_probe).

_CHECK_EXIT_CODE = re.compile(rb"\A\x48\x8b\xb7(.{4})\x80\xbe(.{4})\x00", re.DOTALL)
_CMPB_RDI_ZERO = re.compile(rb"\x80\xbf(.{4})\x00", re.DOTALL)        # cmpb $0x0,disp32(%rdi)
_TWO_FLAGS_SET = re.compile(rb"\xc6\x83(.{4})\x01\xc6\x83(.{4})\x01", re.DOTALL)  # 2x movb $1,d(%rbx)

# The self-check's guest: a trap, then a two-block loop with a store in block A.
_PROBE_CODE, _PROBE_DATA = 0x1_0000, 0x2_0000
_PROBE_WORDS = (
    0x00000073,       # 0x00 ecall              the interrupt hook writes pc back
    0x00140413,       # 0x04 L: addi s0, s0, 1  block A
    0x00853023,       # 0x08    sd   s0, 0(a0)  the store hook stops the run on its 3rd hit
    0x0040006F,       # 0x0c    j    .+4
    0x00130313,       # 0x10 M: addi t1, t1, 1  block B
    0xFE9418E3,       # 0x14    bne  s0, s1, L
    0x10500073,       # 0x18    wfi
)
_PROBE_LOOP, _PROBE_STORE, _PROBE_NEXT_BLOCK = (_PROBE_CODE + 4, _PROBE_CODE + 8,
                                                _PROBE_CODE + 16)
_PROBE_STOP_AT = 3


class _EngineFlags:
    """Where the two private bools live in struct uc_struct."""

    def __init__(self, no_exit_request: int, skip_sync_pc: int):
        self.no_exit_request = no_exit_request
        self.skip_sync_pc = skip_sync_pc


def _exported_code(name: str, size: int = 32) -> bytes | None:
    try:
        function = getattr(uclib, name)
    except AttributeError:
        return None
    return ctypes.string_at(ctypes.cast(function, ctypes.c_void_p).value, size)


def _engine_address(uc) -> int:
    return ctypes.cast(uc._uch, ctypes.c_void_p).value


def _engine_bytes(uc, offset: int, count: int):
    return (ctypes.c_uint8 * count).from_address(_engine_address(uc) + offset)


def _disp32(raw: bytes) -> int:
    return int.from_bytes(raw, "little", signed=True)


def _locate_engine_flags() -> tuple[_EngineFlags | None, str]:
    # os.uname(), not platform.machine(): importing platform costs ~2.5 ms of a start-up
    if os.uname().machine.lower() not in ("x86_64", "amd64"):
        return None, f"no known code pattern for {os.uname().machine}"
    check = _exported_code("check_exit_request_riscv64")
    stop = _exported_code("uc_emu_stop", 16)
    reg_write = _exported_code("uc_reg_write", 0x90)
    if check is None or stop is None or reg_write is None:
        return None, "libunicorn does not export check_exit_request_riscv64/uc_emu_stop/uc_reg_write"
    found = _CHECK_EXIT_CODE.match(check)
    init = _CMPB_RDI_ZERO.search(stop)
    pc_write = _TWO_FLAGS_SET.search(reg_write)
    if not found or not init or not pc_write:
        return None, "check_exit_request_riscv64/uc_emu_stop/uc_reg_write do not have the expected code"
    no_exit_request = _disp32(found.group(2))
    if _disp32(init.group(1)) != no_exit_request + 1:
        return None, f"init_done is not right after no_exit_request ({no_exit_request:#x})"
    return _EngineFlags(no_exit_request, _disp32(pc_write.group(2))), ""


def _switch_on(uc, flags: _EngineFlags) -> None:
    uc.ctl_flush_tb()                          # initializes the engine (sets init_done)
    no_exit_request, init_done = _engine_bytes(uc, flags.no_exit_request, 2)
    if init_done != 1 or no_exit_request not in (0, 1):
        raise RvkvmError(f"unexpected Unicorn engine layout at {flags.no_exit_request:#x}: "
                         f"{no_exit_request}, {init_done} (expected two bools, 0/1 and 1)")
    _engine_bytes(uc, flags.no_exit_request, 1)[0] = 1
    uc.ctl_flush_tb()                          # blocks translated before carry per-access checks


def _probe(flags: _EngineFlags, switch: bool, clear_skip_sync: bool) -> tuple[int, int, int]:
    """Run the probe guest on a fresh engine; returns (pc, s0, t1) after the stop."""
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    uc.mem_map(_PROBE_CODE, 0x1000, UC_PROT_ALL)
    uc.mem_map(_PROBE_DATA, 0x1000, UC_PROT_READ | UC_PROT_WRITE)
    uc.mem_write(_PROBE_CODE, b"".join(w.to_bytes(4, "little") for w in _PROBE_WORDS))
    uc.reg_write(UC_RISCV_REG_A0, _PROBE_DATA)
    uc.reg_write(UC_RISCV_REG_S1, 100)
    if switch:
        _switch_on(uc, flags)
    skip_sync = _engine_bytes(uc, flags.skip_sync_pc, 1)
    stores = []

    def on_store(uc_, *_):
        stores.append(1)
        if len(stores) == _PROBE_STOP_AT:
            if clear_skip_sync:
                skip_sync[0] = 0
            uc_.emu_stop()

    def on_trap(uc_, *_):                      # resume after the ecall, as rvkvm's traps do
        uc_.reg_write(UC_RISCV_REG_PC, uc_.reg_read(UC_RISCV_REG_PC))
    uc.hook_add(UC_HOOK_MEM_WRITE, on_store, begin=_PROBE_DATA, end=_PROBE_DATA)
    uc.hook_add(UC_HOOK_INTR, on_trap)
    uc.emu_start(_PROBE_CODE, 0)
    return uc.reg_read(UC_RISCV_REG_PC), uc.reg_read(UC_RISCV_REG_S0), uc.reg_read(UC_RISCV_REG_T1)


def _prove_exit_switch() -> tuple[_EngineFlags | None, str]:
    flags, why = _locate_engine_flags()
    if flags is None:
        return None, why
    try:
        fresh = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
        before = tuple(_engine_bytes(fresh, flags.no_exit_request, 2))
        fresh.ctl_flush_tb()                   # known event 1: lazy initialization
        after = tuple(_engine_bytes(fresh, flags.no_exit_request, 2))
        if (before, after) != ((0, 0), (0, 1)):
            return None, (f"bytes at {flags.no_exit_request:#x} went {before} -> {after} on "
                          "initialization, not (0, 0) -> (0, 1)")
        idle = _engine_bytes(fresh, flags.skip_sync_pc, 1)[0]
        fresh.reg_write(UC_RISCV_REG_PC, _PROBE_CODE)   # known event 2: a pc write
        if (idle, _engine_bytes(fresh, flags.skip_sync_pc, 1)[0]) != (0, 1):
            return None, f"a pc write did not set the byte at {flags.skip_sync_pc:#x}"
        expected = {
            # (switch, clear): (pc, s0, t1) after a stop asked for by the 3rd store
            (False, True): (_PROBE_STORE, _PROBE_STOP_AT, _PROBE_STOP_AT - 1),  # rollback
            (True, False): (_PROBE_LOOP, _PROBE_STOP_AT, _PROBE_STOP_AT - 1),   # stale pc
            (True, True): (_PROBE_NEXT_BLOCK, _PROBE_STOP_AT, _PROBE_STOP_AT - 1),
        }
        for (switch, clear), want in expected.items():
            got = _probe(flags, switch, clear)
            if got != want:
                return None, (f"self-check (switch={switch}, clear={clear}) stopped at pc/s0/t1 "
                              f"{got[0]:#x}/{got[1]}/{got[2]}, expected "
                              f"{want[0]:#x}/{want[1]}/{want[2]}")
    except (UcError, RvkvmError) as err:
        return None, f"self-check failed: {err}"
    return flags, ""


# The proof costs ~5 ms (three engines), a third of a bare-metal run's own work, so a
# passed proof is remembered across processes in the user's cache directory, keyed
# strictly: the library file (path, size, mtime, inode), this module's source (size,
# mtime: the probe lives here) and rvkvm's version. A hit is still re-checked: the
# offsets read from the library's code now must be the proven ones, and _switch_on
# checks the engine's bytes on every engine it switches. Any doubt (no file, another
# key, unreadable, unwritable): the proof runs, as without a cache.
CACHE_NAME = "exit_switch"
_CACHE_FORMAT = "rvkvm exit switch 1"


def cache_path() -> str:
    """$XDG_CACHE_HOME/rvkvm/exit_switch (else ~/.cache/rvkvm/exit_switch)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rvkvm", CACHE_NAME)


def _cache_key() -> str | None:
    """What a proof depends on, as one line; None if the library cannot be named."""
    try:
        library = os.path.realpath(uclib._name)
        lib, me = os.stat(library), os.stat(__file__)
    except (AttributeError, TypeError, OSError):
        return None
    return repr((_CACHE_FORMAT, __version__, os.uname().machine, library, lib.st_size,
                 lib.st_mtime_ns, lib.st_ino, me.st_size, me.st_mtime_ns))


def _cached_flags(key: str, located: _EngineFlags) -> bool:
    """Whether the cache holds a passed proof for `key` of exactly the `located` offsets."""
    try:
        with open(cache_path(), encoding="utf-8") as f:
            cached_key, offsets = f.read().split("\n")[:2]
        no_exit_request, skip_sync_pc = map(int, offsets.split())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return cached_key == key and (no_exit_request, skip_sync_pc) == (
        located.no_exit_request, located.skip_sync_pc)


def _remember(key: str, flags: _EngineFlags) -> None:
    path = cache_path()
    partial = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(partial, "w", encoding="utf-8") as f:
            f.write(f"{key}\n{flags.no_exit_request} {flags.skip_sync_pc}\n")
        os.replace(partial, path)          # whole or not at all, for concurrent runs
    except OSError:
        try:
            os.unlink(partial)
        except OSError:
            pass


def _proven_or_cached() -> tuple[_EngineFlags | None, str]:
    located, why = _locate_engine_flags()
    if located is None:
        return None, why
    key = _cache_key()
    if key is not None and _cached_flags(key, located):
        return located, ""
    flags, why = _prove_exit_switch()
    if flags is not None and key is not None:
        _remember(key, flags)
    return flags, why


_exit_switch: tuple[_EngineFlags | None, str] | None = None


def exit_switch() -> tuple[_EngineFlags | None, str]:
    """(where the engine flags are, "") once proven on this Unicorn (checked once per
    process, and remembered across processes: see cache_path), else (None, why not)."""
    global _exit_switch
    if _exit_switch is None:
        _exit_switch = _proven_or_cached()
    return _exit_switch


def exit_switch_available() -> bool:
    return exit_switch()[0] is not None
