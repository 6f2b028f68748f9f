"""The TLB-fill hook: the engine's translations under UC_TLB_VIRTUAL come from our walker.

FillHook adds a UC_HOOK_TLB_FILL callback to a Uc: the native one (_fillhook.c,
built by setup.py) when it is built, else a Python callback running walk.py. `kind`
says which ("native" / "python"); RVKVM_FILLHOOK=native|python forces one, and a
`trace` callable always gets the Python one (it prints a line per fill). Putting the
engine in UC_TLB_VIRTUAL is the hart's job (uc.ctl_set_tlb_mode), and so is every TLB
flush the engine does not do itself (V transitions, hgatp, HFENCE, vsatp swaps).

Both kinds keep their state in one FillState (the C struct): V, hgatp, HS-level MXR
and the MPRV override come from the host; satp and sstatus are read from the engine at
each S-mode fill and kept for U-mode fills (the engine returns garbage for them at U;
see ../shared/notes/two-stage-native.md). So the host calls refresh() whenever it
changed them itself, or S code ran without the hook, before resuming.

A refused fill returns false: emu_start then raises UcError(UC_ERR_EXCEPTION) with pc
at the faulting instruction (for a fetch, the target), and last_fault() says why.
"""
from __future__ import annotations

import ctypes
import os
from typing import Callable, Iterable, NamedTuple

from unicorn import UC_HOOK_TLB_FILL, UC_PROT_EXEC, UcError
from unicorn.riscv_const import (
    UC_RISCV_REG_PC,
    UC_RISCV_REG_PRIV,
    UC_RISCV_REG_SATP,
    UC_RISCV_REG_SSTATUS,
)
from unicorn.unicorn_const import UC_MEM_FETCH, UC_MEM_WRITE
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

uclib.uc_reg_read_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                    ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]

from ..errors import RvkvmError
from .native import load_extension, struct_layout
from .slicer import NEVER_A_PC
from .walk import ACCESS_FAULT, FETCH, GUEST_PAGE_FAULT, LOAD, PAGE_FAULT, STORE, Walk, \
    WalkConfig, translate

ENV_VAR = "RVKVM_FILLHOOK"
CHOICES = ("native", "python")
MAX_RANGES = 16
GCACHE_SIZE = 4096
STATUS_SUM, STATUS_MXR = 1 << 18, 1 << 19
ACCESS_OF_MEM_TYPE = {UC_MEM_WRITE: STORE, UC_MEM_FETCH: FETCH}    # anything else: a load
_BARE_M = WalkConfig(satp=0, priv=3)          # fetches under the MPRV override


class WalkCfgStruct(ctypes.Structure):
    """struct walk_cfg: WalkConfig for C."""
    _fields_ = [(name, ctypes.c_uint64)
                for name in ("satp", "hgatp", "virt", "priv", "sum", "mxr", "hs_mxr", "hlvx")]


class WalkOut(ctypes.Structure):
    """struct walk_out: Walk for C."""
    _fields_ = [(name, ctypes.c_uint64)
                for name in ("ok", "pa", "perms", "cause", "gpa", "implicit", "implicit_write")]

    def to_walk(self) -> Walk:
        return Walk(bool(self.ok), self.pa, self.perms, self.cause, self.gpa,
                    bool(self.implicit), bool(self.implicit_write))


class PhysRange(ctypes.Structure):
    _fields_ = [("base", ctypes.c_uint64), ("size", ctypes.c_uint64)]


class GcacheEntry(ctypes.Structure):
    _fields_ = [("tag", ctypes.c_uint64), ("hgatp", ctypes.c_uint64),
                ("leaf", ctypes.c_void_p), ("level", ctypes.c_uint64)]


_U64 = ctypes.c_uint64
MAX_PROBES = 8                        # _fillhook.c


class FillState(ctypes.Structure):
    """struct fill_state in _fillhook.c: the hook's per-hart user_data."""
    _fields_ = [
        ("ram", ctypes.c_void_p), ("ram_base", _U64), ("ram_size", _U64),
        ("nranges", _U64), ("ranges", PhysRange * MAX_RANGES),
        ("virt", _U64), ("hgatp", _U64), ("hs_mxr", _U64),
        ("satp", _U64), ("status", _U64), ("pin_satp", _U64),
        ("mprv", _U64), ("mprv_cfg", WalkCfgStruct), ("use_gcache", _U64),
        ("reg_read", ctypes.c_void_p), ("reg_priv", _U64), ("reg_satp", _U64),
        ("reg_sstatus", _U64), ("nprobes", _U64), ("probe_pages", _U64 * MAX_PROBES),
        ("fault_pending", _U64), ("fault_cause", _U64), ("fault_va", _U64), ("fault_gpa", _U64),
        ("fault_implicit", _U64), ("fault_implicit_write", _U64), ("fault_access", _U64),
        ("fills", _U64), ("faults", _U64), ("gcache_hits", _U64), ("gcache_misses", _U64),
        ("gcache", GcacheEntry * GCACHE_SIZE),
    ]


class Fault(NamedTuple):
    """The last refused fill: what the hart needs to deliver the trap."""
    cause: int
    va: int
    gpa: int
    implicit: bool
    implicit_write: bool
    access: int


def _expected_layout() -> tuple[int, ...]:
    """What rvkvm_fill_layout reports: the four struct sizes, then fill_state's offsets."""
    sizes = (ctypes.sizeof(FillState), ctypes.sizeof(WalkCfgStruct), ctypes.sizeof(WalkOut),
             ctypes.sizeof(GcacheEntry))
    return sizes + struct_layout(FillState)[1:]


def native_library():
    """The built _fillhook library with its prototypes, or None if it is not built."""
    lib = load_extension("_fillhook", "rvkvm_fill_layout", _expected_layout())
    if lib is not None and lib.rvkvm_walk.argtypes is None:
        lib.rvkvm_walk.restype = ctypes.c_int
        lib.rvkvm_walk.argtypes = [ctypes.POINTER(FillState), ctypes.c_uint64, ctypes.c_int,
                                   ctypes.c_int, ctypes.c_uint64, ctypes.c_int, ctypes.c_int,
                                   ctypes.c_int, ctypes.POINTER(WalkOut)]
        lib.rvkvm_fill_flush_gcache.restype = None
        lib.rvkvm_fill_flush_gcache.argtypes = [ctypes.POINTER(FillState)]
    return lib


def native_available() -> bool:
    return native_library() is not None


def choose_kind(trace=None) -> str:
    """"native" or "python": the environment's choice, else native when built."""
    forced = os.environ.get(ENV_VAR, "").strip().lower()
    if forced not in ("",) + CHOICES:
        raise RvkvmError(f"{ENV_VAR} must be one of {', '.join(CHOICES)}, not {forced!r}")
    if trace is not None or forced == "python":
        return "python"
    if forced == "native" and not native_available():
        raise RvkvmError(f"{ENV_VAR}=native, but the native fill hook is not built (needs a C "
                         "compiler at install time: pip install -e .)")
    return "native" if native_available() else "python"


def _check_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    checked = [(int(base), int(size)) for base, size in ranges]
    if not checked or len(checked) > MAX_RANGES:
        raise RvkvmError(f"the fill hook takes 1 to {MAX_RANGES} physical ranges, "
                         f"got {len(checked)}")
    for base, size in checked:
        if base < 0 or size <= 0 or base + size > 1 << 64:
            raise RvkvmError(f"bad physical range {base:#x}+{size:#x} for the fill hook")
    return checked


class FillHook:
    """The TLB-fill hook of one hart (one Uc): ram is memory/ram.py's Ram, ranges the
    (base, size) blocks final physical addresses may touch (RAM + devices)."""

    def __init__(self, uc, ram, ranges: Iterable[tuple[int, int]],
                 trace: Callable[[str], None] | None = None):
        self.uc, self.ram, self.trace = uc, ram, trace
        self._ranges = _check_ranges(ranges)
        self.kind = choose_kind(trace)
        self._lib = native_library() if self.kind == "native" else None
        self._hook = None
        self._batch = None                       # the Python hook's uc_reg_read_batch arguments
        self._last_key, self._last_cfg = None, None
        st = self._state = FillState()
        st.ram, st.ram_base, st.ram_size = ram.host_addr, ram.base, ram.size
        st.nranges = len(self._ranges)
        for i, (base, size) in enumerate(self._ranges):
            st.ranges[i].base, st.ranges[i].size = base, size
        st.use_gcache = 1
        self.set_exit_probes(())
        st.reg_read = ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p).value
        st.reg_priv, st.reg_satp, st.reg_sstatus = (UC_RISCV_REG_PRIV, UC_RISCV_REG_SATP,
                                                    UC_RISCV_REG_SSTATUS)

    # ------------------------------------------------------------------ install

    def install(self) -> int:
        """Add the hook to the Uc (once); its hook handle."""
        if self._hook is not None:
            raise RvkvmError("this fill hook is already installed")
        if self.kind == "native":
            handle = uc_hook_h()
            fn = ctypes.cast(self._lib.rvkvm_tlb_fill, ctypes.c_void_p).value
            status = uclib.uc_hook_add(self.uc._uch, ctypes.byref(handle), UC_HOOK_TLB_FILL,
                                       ctypes.c_void_p(fn),
                                       ctypes.c_void_p(ctypes.addressof(self._state)),
                                       ctypes.c_uint64(1), ctypes.c_uint64(0))
            if status != 0:
                raise UcError(status)
            self._hook = handle.value
            # The Uc keeps its hooks' objects in _callbacks: the state lives as long as the hook.
            self.uc._callbacks[self._hook] = self._state
        else:
            self._hook = self.uc.hook_add(UC_HOOK_TLB_FILL, self._python_fill)
        return self._hook

    # ------------------------------------------------------------------ host-side state

    def set_virt(self, virt: bool, hgatp: int = 0, hs_mxr: bool = False) -> None:
        """Two-stage translation on/off, the G-stage root, the HS-level MXR."""
        st = self._state
        st.virt, st.hgatp, st.hs_mxr = int(bool(virt)), hgatp, int(bool(hs_mxr))

    def refresh(self, satp: int, mstatus: int) -> None:
        """The host changed satp or the status (SUM/MXR) itself: the next fills,
        U-mode ones included, use these."""
        self._state.satp, self._state.status = satp, mstatus

    def pin_satp(self, satp: int | None) -> None:
        """With TVM set the engine's satp cannot be read at S: fills use this one
        (the host updates it at every emulated satp write). None: read it again."""
        st = self._state
        if satp is None:
            st.pin_satp = 0
        else:
            st.pin_satp, st.satp = 1, satp

    def set_mprv(self, cfg: WalkConfig | None) -> None:
        """M-mode with MPRV: fetches are bare, loads/stores translate under cfg.
        None ends the override."""
        st = self._state
        if cfg is None:
            st.mprv = 0
            return
        for name, _ in WalkCfgStruct._fields_:
            setattr(st.mprv_cfg, name, int(getattr(cfg, name)))
        st.mprv = 1

    def flush_gcache(self) -> None:
        """HFENCE.GVMA or an hgatp write: forget every cached G-stage walk."""
        if self._lib is not None:
            self._lib.rvkvm_fill_flush_gcache(ctypes.byref(self._state))

    @property
    def use_gcache(self) -> bool:
        return bool(self._state.use_gcache)

    @use_gcache.setter
    def use_gcache(self, on: bool) -> None:
        self._state.use_gcache = int(bool(on))
        self.flush_gcache()

    def last_fault(self) -> Fault | None:
        """The first refused fill since the previous call (or clear_fault), or None."""
        st = self._state
        if not st.fault_pending:
            return None
        st.fault_pending = 0
        return Fault(st.fault_cause, st.fault_va, st.fault_gpa, bool(st.fault_implicit),
                     bool(st.fault_implicit_write), st.fault_access)

    def set_exit_probes(self, exits) -> None:
        """The engine probes the byte before each exit (its stop address, and gdb's
        breakpoints) through this hook: those pages translate, to nothing."""
        pages = sorted({NEVER_A_PC & ~0xFFF} | {(a - 1) & ~0xFFF for a in exits})[:MAX_PROBES]
        st = self._state
        for i, page in enumerate(pages):
            st.probe_pages[i] = page
        st.nprobes = len(pages)

    def clear_fault(self) -> None:
        """Forget a refusal that did not end a run (a probe of the engine's own)."""
        self._state.fault_pending = 0

    def stats(self) -> dict[str, int]:
        st = self._state
        return {"fills": st.fills, "faults": st.faults, "gcache_hits": st.gcache_hits,
                "gcache_misses": st.gcache_misses}

    # ------------------------------------------------------------------ the Python hook

    def _engine_state(self) -> tuple[int, int, int]:
        """PRIV, satp, sstatus in one call (satp and sstatus are garbage at U)."""
        if self._batch is None:
            ids = (UC_RISCV_REG_PRIV, UC_RISCV_REG_SATP, UC_RISCV_REG_SSTATUS)
            values = (ctypes.c_uint64 * 3)()
            self._batch = (self.uc._uch, (ctypes.c_int * 3)(*ids),
                           (ctypes.c_void_p * 3)(*[ctypes.addressof(values) + 8 * i
                                                   for i in range(3)]), values)
        handle, ids, pointers, values = self._batch
        uclib.uc_reg_read_batch(handle, ids, pointers, 3)
        return values[0] & 3, values[1], values[2]

    def _config(self, access: int) -> tuple[WalkConfig, int]:
        """The walk for this fill, and the engine's PRIV (as the C hook decides it)."""
        st = self._state
        priv, satp, status = self._engine_state()
        if st.mprv:
            if access == FETCH:
                return _BARE_M, priv
            c = st.mprv_cfg
            key = ("mprv",) + tuple(getattr(c, name) for name, _ in WalkCfgStruct._fields_)
        else:
            if priv == 1:
                if not st.pin_satp:
                    st.satp = satp
                st.status = status
            key = (st.satp, st.status, st.virt, st.hgatp, st.hs_mxr, priv)
        if key != self._last_key:           # building a WalkConfig costs more than the walk
            if st.mprv:
                cfg = WalkConfig(c.satp, c.hgatp, bool(c.virt), c.priv, bool(c.sum),
                                 bool(c.mxr), bool(c.hs_mxr), bool(c.hlvx))
            else:
                cfg = WalkConfig(st.satp, st.hgatp, bool(st.virt), priv if priv <= 1 else 3,
                                 bool(st.status & STATUS_SUM), bool(st.status & STATUS_MXR),
                                 bool(st.hs_mxr))
            self._last_key, self._last_cfg = key, cfg
        return self._last_cfg, priv

    def _allowed(self, pa: int) -> bool:
        page = pa & ~0xFFF
        return any(page < base + size and base < page + 0x1000 for base, size in self._ranges)

    def _python_fill(self, uc, vaddr: int, mem_type: int, entry, _user_data) -> bool:
        st = self._state
        st.fills += 1
        access = ACCESS_OF_MEM_TYPE.get(mem_type, LOAD)
        cfg, priv = self._config(access)
        walk = translate(self.ram, vaddr, access, cfg)
        if walk.ok and not self._allowed(walk.pa):
            walk = Walk(False, cause=ACCESS_FAULT[access])
        if self.trace is not None:
            self.trace(_trace_line(vaddr, access, priv, walk, uc.reg_read(UC_RISCV_REG_PC)))
        if not walk.ok and vaddr & ~0xFFF in st.probe_pages[:st.nprobes]:
            # the engine's probe of an exit that does not translate (see _fillhook.c)
            entry.paddr, entry.perms = 0, UC_PROT_EXEC
            return True
        if not walk.ok:
            st.faults += 1
            if st.fault_pending:           # the first refusal wins (see _fillhook.c)
                return False
            st.fault_pending, st.fault_cause, st.fault_va = 1, walk.cause, vaddr
            st.fault_gpa, st.fault_implicit = walk.gpa, int(walk.implicit)
            st.fault_implicit_write, st.fault_access = int(walk.implicit_write), access
            return False
        entry.paddr = walk.pa & ~0xFFF
        entry.perms = walk.perms
        return True


class NativeWalker:
    """The C walker alone, on a Ram, with its own G-cache: rvkvm_walk for tests and
    benchmarks (no Uc, no hook)."""

    def __init__(self, ram, use_gcache: bool = True):
        self._lib = native_library()
        if self._lib is None:
            raise RvkvmError("the native fill hook is not built (pip install -e .)")
        self.ram = ram
        st = self._state = FillState()
        st.ram, st.ram_base, st.ram_size = ram.host_addr, ram.base, ram.size
        st.use_gcache = int(bool(use_gcache))

    def translate(self, va: int, access: int, cfg: WalkConfig) -> Walk:
        """walk.translate(ram, va, access, cfg), in C."""
        st = self._state
        st.virt, st.hgatp, st.hs_mxr = int(cfg.virt), cfg.hgatp, int(cfg.hs_mxr)
        out = WalkOut()
        self._lib.rvkvm_walk(ctypes.byref(st), va, access, cfg.priv, cfg.satp, int(cfg.sum),
                             int(cfg.mxr), int(cfg.hlvx), ctypes.byref(out))
        return out.to_walk()

    def flush_gcache(self) -> None:
        self._lib.rvkvm_fill_flush_gcache(ctypes.byref(self._state))

    def stats(self) -> dict[str, int]:
        return {"gcache_hits": self._state.gcache_hits,
                "gcache_misses": self._state.gcache_misses}


def _trace_line(vaddr: int, access: int, priv: int, walk: Walk, pc: int) -> str:
    if walk.ok:
        stage = "-"
    elif walk.cause in GUEST_PAGE_FAULT.values():
        stage = "g"
    elif walk.cause in PAGE_FAULT.values():
        stage = "vs"
    else:
        stage = "-"
    return (f"tlb_fill: addr {vaddr:#x}, access_type {access}, mmu_idx {priv}, "
            f"ret {int(walk.ok)}, pc {pc:#x}, gpa {walk.gpa:#x}, stage {stage}")
