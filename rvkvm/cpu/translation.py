"""How the engine translates guest addresses, per context (see levels.py).

- machine (M) and host (HS/U): Unicorn's own walker (UC_TLB_CPU) over satp, the
  identity map standing in for M's bare translation. It is the fastest there is,
  and native Linux boots on it.
- guest (VS/VU), and M with MPRV: the fill hook (fillhook.py: C when built, else
  walk.py through Python) under UC_TLB_VIRTUAL, walking the VS stage and the G stage.

The engine mode is switched at these context changes, which flush the engine's TLB
anyway (V=0 and V=1 share Unicorn's mmu_idx). After a switch into the hook the hook's
cached satp/sstatus are refreshed: U-mode fills rely on them (two-stage-native.md).
A refused fill ends emu_start with UC_ERR_EXCEPTION; `last_fault()` says why.
"""
from __future__ import annotations

import os

from unicorn import UC_TLB_CPU, UC_TLB_VIRTUAL
from unicorn import riscv_const as rc

from .constants import (
    HSTATUS_VTVM,
    MSTATUS_MPP,
    MSTATUS_MPP_SHIFT,
    MSTATUS_MPRV,
    MSTATUS_MPV,
    MSTATUS_MXR,
    MSTATUS_SUM,
    MSTATUS_TVM,
    PRV_M,
)
from ..errors import RvkvmError
from .walk import WalkConfig


ENV_VAR = "RVKVM_TLB"
BARE_M = WalkConfig(satp=0, priv=PRV_M)       # M's own accesses: no translation
CHOICES = ("engine", "hook")


def hook_everywhere() -> bool:
    """RVKVM_TLB=hook: HS and U translate through the fill hook too (the walker
    comparison of bench/hypervisor.py); the default "engine" keeps Unicorn's walker."""
    choice = os.environ.get(ENV_VAR, "").strip().lower() or "engine"
    if choice not in CHOICES:
        raise RvkvmError(f"{ENV_VAR} must be one of {', '.join(CHOICES)}, not {choice!r}")
    return choice == "hook"


class Translation:
    def __init__(self, hart, trace=None):
        self.hart = hart
        self.trace = trace
        # --trace mmu sees every fill only if every fill goes through the hook
        self.hook_host = hook_everywhere() or trace is not None
        self._hook = None
        self._hooked = False          # the engine is in UC_TLB_VIRTUAL with the hook
        self.mprv_virt = False        # M's loads/stores translate as V=1 (MPRV with MPV)
        self._exits = ()              # gdb's breakpoints

    @property
    def hooked(self) -> bool:
        """Whether the engine translates through the fill hook now."""
        return self._hooked

    @property
    def kind(self) -> str:
        """Which fill hook serves two-stage translation: "native" or "python"."""
        return self._fill_hook().kind

    def _fill_hook(self):
        if self._hook is None:
            from .fillhook import FillHook
            h = self.hart
            ranges = [(h.ram.base, h.ram.size), *h.mmio_ranges]
            trace = None
            if self.trace is not None:
                def trace(line, out=self.trace, hart=h):
                    out(f"{line}, bpc {hart.h.bpc:#x}")
            self._hook = FillHook(h.uc, h.ram, ranges, trace=trace)
            self._hook.set_exit_probes(self._exits)
            self._hook.install()
        return self._hook

    def set_exits(self, exits) -> None:
        """gdb's breakpoints (Unicorn exits): the engine probes them through the hook."""
        self._exits = tuple(exits)
        if self._hook is not None:
            self._hook.set_exit_probes(self._exits)

    def reset(self) -> None:
        if self._hooked:
            self._use_engine_walker()

    # ---------------------------------------------------------------- context changes
    def enter_guest(self) -> None:
        """V=1 is loaded (Unicorn's satp/mstatus are vsatp/vsstatus): walk both stages."""
        h = self.hart
        hook = self._fill_hook()
        hook.set_mprv(None)
        hook.set_virt(True, h.h.hgatp, bool(h.s_hs.status & MSTATUS_MXR))
        self._refresh()
        self._use_hook()

    def leave_guest(self) -> None:
        self._hook.set_virt(False)
        self._use_engine_walker()

    def enter_machine(self) -> None:
        """M loaded: the identity map through Unicorn's walker (mprv_changed() then
        brings the hook back if MPRV asks for it), or the hook translating bare
        (RVKVM_TLB=hook, --trace mmu)."""
        if self.hook_host:
            self._bare_machine()
        elif self._hooked:
            self._hook.set_virt(False)
            self._use_engine_walker()

    def _bare_machine(self) -> None:
        hook = self._fill_hook()
        hook.set_virt(False)
        hook.set_mprv(BARE_M)
        self._use_hook()

    def enter_host(self) -> None:
        """HS/U loaded: Unicorn's walker, or the hook single-stage (RVKVM_TLB=hook,
        --trace mmu)."""
        if self.hook_host:
            hook = self._fill_hook()
            hook.set_mprv(None)
            hook.set_virt(False)
            self._refresh()
            self._use_hook()

    def mprv_changed(self) -> None:
        """M-mode with mstatus.MPRV=1 (and MPP below M) makes loads and stores
        translate as MPP (and MPV) would, while fetches stay bare (spec 3.1.6.3):
        only the hook can tell the two apart."""
        h = self.hart
        ms = h.m.mstatus
        mpp = (ms & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT
        wanted = h.context == "machine" and ms & MSTATUS_MPRV and mpp != PRV_M
        self.mprv_virt = bool(wanted and ms & MSTATUS_MPV and h.has_h)
        if not wanted:
            if self._hooked and h.context == "machine":
                self.enter_machine() if self.hook_host else self._use_engine_walker()
                h.flush_tlb()              # a mode switch keeps the other mode's entries
            return
        if self.mprv_virt:
            cfg = h.guest_walk_config(mpp)
        else:
            status = h.read_sstatus_hs()
            cfg = WalkConfig(satp=h.s_hs.satp, priv=mpp, sum=bool(status & MSTATUS_SUM),
                             mxr=bool(status & MSTATUS_MXR))
        hook = self._fill_hook()
        hook.set_virt(False)
        hook.set_mprv(cfg)
        self._use_hook()
        h.flush_tlb()

    def refresh(self) -> None:
        """The host changed satp/sstatus behind the hook's back (see the module doc)."""
        if self._hooked:
            self._refresh()

    def _refresh(self) -> None:
        h = self.hart
        satp, ms = h.regs.csr_read_batch((rc.UC_RISCV_REG_SATP, rc.UC_RISCV_REG_MSTATUS))
        self._hook.refresh(satp, ms)
        # with Unicorn's TVM set (VTVM at V=1, TVM at HS), reading satp at S returns
        # garbage (two-stage-native.md): the hook uses this one, which only Python changes
        tvm = (h.h.hstatus & HSTATUS_VTVM) if h.context == "guest" else (h.m.mstatus & MSTATUS_TVM)
        self._hook.pin_satp(satp if tvm and h.context != "machine" else None)

    def _use_hook(self) -> None:
        if not self._hooked:
            self.hart.regs.set_tlb_mode(UC_TLB_VIRTUAL)
            self._hooked = True

    def _use_engine_walker(self) -> None:
        self.hart.regs.set_tlb_mode(UC_TLB_CPU)
        self._hooked = False

    # ---------------------------------------------------------------- invalidation
    def flush_gstage(self) -> None:
        """hgatp writes and hfence.gvma: the G-stage cache goes, and the hook learns
        the new hgatp if a guest is loaded."""
        h = self.hart
        if self._hook is not None:
            self._hook.flush_gcache()
            if h.context == "guest":
                self._hook.set_virt(True, h.h.hgatp, bool(h.s_hs.status & MSTATUS_MXR))

    def slice_begins(self) -> None:
        if self._hooked:
            self._hook.clear_fault()
            if self._exits:                # an exit probe's stand-in entry must not stay
                self.hart.flush_tlb()

    def last_fault(self):
        """(cause, va, gpa, implicit, implicit_write, access) of the fill the hook
        refused, or None (the engine error had another reason)."""
        if self._hook is None or not self._hooked:
            return None
        return self._hook.last_fault()

    def stats(self) -> dict[str, int]:
        return self._hook.stats() if self._hook is not None else {}
