"""The architectural hart: Unicorn executes, Python supplies what Unicorn's RISC-V lacks.

Levels and who runs them (levels.py has the table; ../shared/notes/h-on-unicorn.md why):
- HS (S) and U code runs in Unicorn's S and U modes, translated by Unicorn's own MMU.
- Guest M-mode code (bare-metal programs, real firmware) runs in Unicorn's *S*-mode
  under an identity page table (mmode_map.py): "virtual M". From S-mode every M-CSR
  access and every `mret` traps, so Python keeps the whole M-level state with spec
  semantics.
- VS and VU code (V=1) runs in Unicorn's S and U modes with the guest's vsstatus,
  vstvec, ... loaded into Unicorn's S CSRs, translated in two stages by the fill hook
  (translation.py). Unicorn has no H extension: every H CSR and instruction traps to
  Python, and V changes only in Python (mret with MPV, sret with SPV, traps out of V=1).
- When no guest code serves M (a Linux kernel booted without --bios), a Python
  `firmware` object serves traps to M: the SBI.

Every synchronous trap reaches Python through Unicorn's interrupt hook (Unicorn
writes no trap CSRs) or as an engine error after the run (unmapped access, ebreak, a
refused two-stage fill). `take_trap` is the one place that routes a trap, by
medeleg/mideleg then hedeleg/hideleg, to M, HS or VS, and `set_level` the one place
that changes level. Interrupts for M, and for HS while V=1, are entered by Python;
those of the level Unicorn runs (S at V=0, VS at V=1) are presented in Unicorn's mip
and taken natively, so their timing is exact.
"""
from __future__ import annotations

import sys
from collections import Counter
from time import perf_counter

from unicorn import (
    UC_HOOK_INSN_INVALID,
    UcError,
)
from unicorn import riscv_const as rc

from . import intrhook, walk
from .constants import (
    EXC_BREAKPOINT,
    HSTATUS_GVA,
    HSTATUS_SPV,
    HSTATUS_SPVP,
    HSTATUS_VTSR,
    HSTATUS_VTVM,
    HSTATUS_VTW,
    INSN_WFI,
    MIP_STIP,
    MIP_VSTIP,
    MSTATUS_FS,
    MSTATUS_GVA,
    MSTATUS_MIE,
    MSTATUS_MPIE,
    MSTATUS_MPP,
    MSTATUS_MPP_SHIFT,
    MSTATUS_MPRV,
    MSTATUS_MPV,
    MSTATUS_MXR,
    MSTATUS_SIE,
    MSTATUS_SPIE,
    MSTATUS_SPP,
    MSTATUS_SUM,
    MSTATUS_TSR,
    MSTATUS_TVM,
    MSTATUS_TW,
    PRV_M,
    PRV_S,
    S_INTERRUPTS,
    UC_MSTATUS_TSR,
    UC_MSTATUS_TW,
    VS_INTERRUPTS,
)
from .csr import CSR_TABLE, CSR_TABLE_NO_H
from .csr_views import UC_OWNED, CsrViews
from .dump import format_dump
from .exceptions import ExceptionHandling
from .levels import HS, VS, Level, M, level_for, level_in_context
from .mmode_map import MachineModeMap
from .native_time import NativeTime
from .regs import PC, PRIV, RegisterFile
from .slicer import NEVER_A_PC, ExitSlicer, make_slicer
from .state import HState, MState, SRegs
from .translation import Translation
from .trap import GuestDied, Trap

M64 = (1 << 64) - 1
COUNTEREN_TM = 1 << 1              # mcounteren/hcounteren/scounteren: `time` readable
# Unicorn's supervisor CSRs that make up one SRegs set, in SRegs field order
S_REG_IDS = (rc.UC_RISCV_REG_MSTATUS, rc.UC_RISCV_REG_STVEC, rc.UC_RISCV_REG_SSCRATCH,
             rc.UC_RISCV_REG_SEPC, rc.UC_RISCV_REG_SCAUSE, rc.UC_RISCV_REG_STVAL,
             rc.UC_RISCV_REG_SATP, rc.UC_RISCV_REG_MIE)
# Unicorn's mstatus bits rvkvm sets: the S fields of the loaded set and the trap bits
UC_TRAP_AND_OWNED = UC_OWNED | MSTATUS_TVM | UC_MSTATUS_TW | UC_MSTATUS_TSR
# causes whose tval is a virtual address: from V=1 it is a guest one (hstatus/mstatus.GVA)
GVA_CAUSES = frozenset((0, 1, 3, 4, 5, 6, 7, 12, 13, 15, 20, 21, 23))


class Hart(CsrViews, ExceptionHandling):
    def __init__(self, uc, ram, clock, *, hart_id: int = 0, firmware=None,
                 slice_seconds: float = 0.002, trace=None, time_traps: bool = False,
                 has_h: bool = True, trace_mmu=None):
        self.uc = uc
        self.ram = ram
        self.clock = clock
        self.hart_id = hart_id
        self.firmware = firmware           # serves traps to M in Python, or None
        # serves traps from V=1 to HS in Python (rvkvm/hv), or None: HS guest code does
        self.hypervisor = None
        self.has_h = has_h
        self.csr_table = CSR_TABLE if has_h else CSR_TABLE_NO_H
        self.regs = RegisterFile(uc)
        self.m = MState()
        self.h = HState()
        self.s_hs = SRegs()                # HS's supervisor CSRs while Unicorn holds VS's,
        self.s_vs = SRegs()                # and VS's while Unicorn holds HS's
        self.context = "host"              # what Unicorn holds now: see levels.py
        self.trace = trace                 # callable(str) for --trace int, or None
        self.stats = Counter()                 # traps and emulated instructions, by name
        self.engine_seconds = 0.0              # wall time inside emu_start (hooks included)
        self.trap_seconds = 0.0                # of which in Python trap handling (time_traps)
        self.slicer = make_slicer(uc, slice_seconds)
        self.translation = Translation(self, trace=trace_mmu)
        self._fetch_walker = _NOT_YET          # the C fetch walker, made at first use
        self.native_time = NativeTime.attach(uc, clock)   # None: every rdtime traps
        self._presented_mip = -1
        self._sip_folded = False                # _sync_sip ran since S code last ran
        # a VS interrupt kept at HS waits only for HS's sstatus.SIE (check_interrupts),
        # and whether the engine's blocks count instructions (see _run_one_block)
        self.sie_watch = False
        self._counting = False
        self._invalid_insn = False
        self._running_prefix = False            # exceptions._run_block_prefix is running
        self._death: GuestDied | None = None
        self._stop_reason: str | None = None
        self._mmap: MachineModeMap | None = None
        # (base, size) of the devices' register blocks: what M code reaches besides RAM.
        # The machine sets it before the hart first enters M.
        self.mmio_ranges: tuple[tuple[int, int], ...] = ()
        self._kernel_code_pages: dict[tuple[int, int], int] = {}
        self._last_s_entry = (0, 0)             # for tracing engine-taken interrupts
        self._sw_pending_changed = False        # an SBI call changed mip_sw
        self._intr = intrhook.install(                   # None: the binding's hook
            uc, self._on_intr_timed if time_traps else self._on_intr,
            self.native_time.function if self.native_time is not None else None)
        self.idle_wfis = 0                     # WFIs the last idle loop went back to
        self._idle_loop = (intrhook.idle_loop(clock.hz)     # None: WFI sleeps in Python
                           if self._intr is not None and self.native_time is not None
                           and isinstance(self.slicer, ExitSlicer) else None)
        # No UC_HOOK_MEM_UNMAPPED: merely installing it makes guest code ~2.5x
        # slower under paging (bench/engine_choices.py). Accesses to nowhere are
        # reconstructed after the run.
        uc.hook_add(UC_HOOK_INSN_INVALID, self._on_insn_invalid)

    # ------------------------------------------------------------------ reset
    def reset(self, pc: int, priv: int, a0: int = 0, a1: int = 0, a2: int = 0) -> None:
        """Start at `pc` in `priv` with V=0. With a Python firmware the hart never runs M code."""
        r = self.regs
        r.write(PRIV, 3)
        for reg in (rc.UC_RISCV_REG_SATP, rc.UC_RISCV_REG_MIE, rc.UC_RISCV_REG_MIP,
                    rc.UC_RISCV_REG_MIDELEG, rc.UC_RISCV_REG_MEDELEG):
            r.write(reg, 0)
        r.write(rc.UC_RISCV_REG_MSTATUS, 0)
        self.m, self.h, self.s_hs, self.s_vs = MState(), HState(), SRegs(), SRegs()
        self.context = "host"
        self.translation.reset()
        self.set_level(level_for(priv), force=True)
        r.write_x(10, a0)
        r.write_x(11, a1)
        r.write_x(12, a2)
        r.write(PC, pc)

    @property
    def level(self) -> Level:
        """The level running now. Below M, S and U change natively (sret, traps to S),
        so Unicorn's PRIV within the loaded context is the truth."""
        if self.context == "machine":
            return M
        return level_in_context(self.context, self.regs.read(PRIV))

    def pc_and_level(self) -> tuple[int, Level]:
        """pc and the level running now, in one engine call (every trap wants both)."""
        pc, priv = self.regs.read_pc_priv()
        return pc, M if self.context == "machine" else level_in_context(self.context, priv)

    @property
    def priv(self) -> int:
        return self.level.priv

    @property
    def virt(self) -> bool:
        return self.context == "guest"

    @property
    def pc(self) -> int:
        return self.regs.read(PC)

    # ------------------------------------------------------------------ running
    def run_slice(self) -> str:
        """Run until the slice ends. Returns "tick" (time slice or stop request),
        "wfi" (the hart executed WFI), or "stop" (a Python handler ended the run)."""
        self._stop_reason = None
        self.present_interrupts(force=True)
        self.translation.slice_begins()
        self.sync_time_source()
        pc = self.regs.read(PC)
        self._sip_folded = False
        t0 = perf_counter()
        try:
            ticked = self._run_one_block(pc) if self.sie_watch else self._run_slice_engine(pc)
        except UcError as err:
            self.fold_native_calls()
            self.engine_seconds += perf_counter() - t0
            return self._engine_failed(err)
        self.fold_native_calls()
        self.engine_seconds += perf_counter() - t0
        return self._slice_ended(ticked)

    def _engine_failed(self, err: UcError) -> str:
        if self._death:
            raise self._death
        self._on_engine_error(err)
        return "stop" if self._stop_reason else "tick"

    def _slice_ended(self, ticked: bool) -> str:
        if self._death:
            raise self._death
        if self.trace is not None:
            self._trace_native_interrupt()
        if self._stop_reason:
            return "stop"
        if ticked:
            return "tick"
        if self._insn_at(self.regs.read(PC) - 4) == (INSN_WFI, 4):
            self.stats["wfi"] += 1
            return "wfi"
        return "tick"

    def idle_in_wfi(self, wake_fd: int, other_deadline: int) -> str | None:
        """Asleep in WFI, an S kernel under the built-in firmware or a guest under rvkvm's
        hypervisor: let _intrhook.c's idle loop sleep, raise the timer interrupt at the
        SBI deadline and run the kernel's ticks until it needs Python
        (intrhook.IdleLoop). Returns "waiting" (still asleep in the WFI: the doorbell
        rang or `other_deadline`, in mtime, is due), what run_slice() would have for
        the loop's last run, or None when the loop cannot serve this WFI (then the
        caller sleeps in Python)."""
        self.idle_wfis = 0
        loop = self._idle_loop
        if loop is None or not self._idle_native_ok():
            return None
        ticker = self.slicer.native_ticker()    # each time: a closed slicer makes a new one
        if ticker is None:
            self._idle_loop = None
            return None
        loop.wake_fd = wake_fd
        loop.ticker_fd, loop.ticker, loop.ticker_arm, loop.ticker_disarm = ticker
        loop.wfi_pc = self.regs.read(PC)
        loop.other_deadline = other_deadline
        loop.scounteren = self.regs.csr_read(rc.UC_RISCV_REG_SCOUNTEREN)
        self._stop_reason = None
        self._counting = False                 # its runs count nothing (as _run_slice_engine)
        self.translation.slice_begins()
        self.uc._hook_exception = None
        ended = self._intr.idle(loop, *self._sbi_timer_state())
        if ended == intrhook.IDLE_UNAVAILABLE:
            self._idle_loop = None
            return None
        self.stats["idle_loop"] += 1            # WFIs the C loop took (--stats)
        self._sip_folded = False
        self.fold_native_calls()
        self.stats["wfi"] += loop.wfis
        self.idle_wfis = loop.wfis
        self.engine_seconds += loop.engine_ns / 1e9
        if ended in (intrhook.IDLE_WOKEN, intrhook.IDLE_DEADLINE):
            return "waiting"
        if ended == intrhook.IDLE_ERROR:
            return self._engine_failed(UcError(loop.uc_err))
        if self.uc._hook_exception is not None:
            raise self.uc._hook_exception
        return self._slice_ended(self.slicer.take_stop_request())

    def _idle_native_ok(self) -> bool:
        """What the idle loop assumes of the hart (its machine checks the rest): the SBI
        timer calls are the C hook's (intrhook.py), native time, no --trace, no block
        stepping, and the loaded S level is the one the timer interrupts: HS with STIP
        delegated, or a guest's VS with VSTIP delegated to it."""
        if not (self._intr.dispatch.serve_sbi_timer and self.native_time.installed
                and self.trace is None and not self.sie_watch
                and isinstance(self.slicer, ExitSlicer)):
            return False
        level = self.level
        if level is VS:
            return bool(self.h.hideleg & MIP_VSTIP)
        return bool(level is HS and self.m.mideleg & MIP_STIP)

    def _run_slice_engine(self, pc: int) -> bool:
        self._counting = False                 # (Unicorn drops its count hook itself)
        return self.slicer.run(pc)

    def _run_one_block(self, pc: int) -> bool:
        """Run one translated block, for check_interrupts to look again after it.
        Unicorn cannot take a VS interrupt at V=0 (it has no H extension), so one that
        HS keeps (hideleg clear) is Python's to take, at the instruction boundary where
        HS sets sstatus.SIE (spec 3.1.9): a native CSR write, which Python sees only
        between blocks. A CSR write ends a block, and with the exit switch on a counted
        run ends at a block's end, so block steps find that boundary exactly."""
        if not self._counting:
            self.uc.ctl_flush_tb()             # blocks translated uncounted ignore a count
            self._counting = True
        self.uc.emu_start(pc, NEVER_A_PC, count=1)
        return False

    def flush_tlb(self) -> None:
        self.regs.flush_tlb()

    def fold_native_calls(self) -> None:
        """Bring in what the C side did (intrhook.py) as Python would have: the SBI
        timer calls the hook served and the deadlines the idle loop raised, into the
        firmware's state (HS) or the hypervisor's (a guest), STIP as the engine has it
        already, and the stats. First thing whenever Python gets control from the engine."""
        folded = self._intr.fold() if self._intr is not None else None
        if folded is None:
            return
        served, raised, deadline, armed, stip = folded
        self.stats["sbi_call"] += served
        self.stats["sbi_call_native"] += served      # of them (--stats shows both)
        self.stats["sbi_timer_native"] += raised     # deadlines the idle loop raised
        # the engine's STIP is the loaded S level's: HS's (mip) or the guest's (hvip.VSTIP)
        self._presented_mip = (self._presented_mip | MIP_STIP) if stip else (
            self._presented_mip & ~MIP_STIP)
        if self.context == "guest":
            self.h.hvip = (self.h.hvip | MIP_VSTIP) if stip else (self.h.hvip & ~MIP_VSTIP)
            self.hypervisor.fold_sbi_timer(served, deadline, armed)
            return
        self.m.mip_sw = (self.m.mip_sw | MIP_STIP) if stip else (self.m.mip_sw & ~MIP_STIP)
        self.firmware.timer_deadline = deadline if armed else M64

    def _sbi_timer_state(self) -> tuple[int, bool, bool]:
        """(deadline, armed, STIP) of the SBI timer of whoever serves the loaded S
        level: the firmware for HS, the hypervisor for a guest."""
        if self.context == "guest":
            deadline, armed = self.hypervisor.sbi_timer()
            return deadline, armed, bool(self.h.hvip & MIP_VSTIP)
        deadline = self.firmware.timer_deadline
        return deadline, deadline != M64, bool(self.m.mip_sw & MIP_STIP)

    def _sync_sbi_fast_path(self) -> None:
        """Let the C hook serve the loaded S level's SBI timer calls while nothing else
        must see them: HS's to rvkvm's own firmware (ecalls from S not delegated), or a
        guest's to rvkvm's hypervisor (ecalls from VS not delegated); no --trace int,
        sbi or exit. All of it is fixed before the first slice but the context, so
        context loads decide it (reset loads one after the machine gave the hart its
        firmware)."""
        if self._intr is not None:
            if self.context == "guest":
                hypervisor = self.hypervisor
                serve = (hypervisor is not None and hypervisor.serves_sbi_timer_natively()
                         and self.trace is None and not self.h.hedeleg >> 10 & 1)
            else:
                firmware = self.firmware
                serve = (firmware is not None and getattr(firmware, "trace", True) is None
                         and self.trace is None and self.context == "host"
                         and not self.m.medeleg >> 9 & 1)
            self._intr.serve_sbi_timer(serve)

    def sync_time_source(self) -> None:
        """Let the engine serve rdtime itself (native_time.py) while every level it can
        reach without Python may read `time`: Unicorn checks none of mcounteren,
        hcounteren, scounteren. Otherwise rdtime traps and the CSR table's check decides.
        Called when the context or a counter-enable changes, at each slice start (S and
        U write scounteren natively) and after each rdtime Python served."""
        native = self.native_time
        if native is None:
            return
        context = self.context
        allowed = context == "machine" or bool(
            self.m.mcounteren & COUNTEREN_TM
            and (context == "host" or self.h.hcounteren & COUNTEREN_TM)
            and self.regs.csr_read(rc.UC_RISCV_REG_SCOUNTEREN) & COUNTEREN_TM)
        native.set(allowed, self.h.htimedelta if context == "guest" else 0)

    def forget_code_pages(self) -> None:
        """Python's own cache of kernel code translations (see _insn_at): keyed by
        satp and hgatp, so only fences that may move kernel code need to drop it."""
        self._kernel_code_pages.clear()

    def request_stop(self) -> None:
        """Thread-safe: regain control at the next block boundary."""
        self.slicer.request_stop()

    def stop(self, reason: str) -> None:
        """From inside a hook: end the current run (the machine decides what next)."""
        self._stop_reason = reason
        self.uc.emu_stop()

    # ------------------------------------------------------------------ levels
    def set_level(self, level: Level, force: bool = False) -> None:
        """Make Unicorn run `level`: load its context if it differs, then its PRIV,
        trap bits and interrupts. The one place the hart changes level."""
        if level is M and self.context == "machine" and not force:
            return                             # M to M: nothing in Unicorn changes
        if level.context != self.context or force:
            self._load_context(level.context, level.uc_priv, force)
            return
        self.regs.write(PRIV, level.uc_priv)
        self.update_trap_bits()
        self.present_interrupts()

    def _load_context(self, new: str, uc_priv: int, force: bool) -> None:
        """Swap what Unicorn holds (see levels.py): the S CSR sets at V transitions,
        satp (the identity map in M), mideleg as Unicorn must apply it, the trap bits,
        the interrupts shown, translation; then PRIV. One engine read, one write."""
        old = self.context
        if not force:
            self._sync_sip()               # fold S's native SSIP writes before leaving
        old_owner = "vs" if old == "guest" else "hs"
        new_owner = "vs" if new == "guest" else "hs"
        r = self.regs
        uc_vals = r.csr_read_batch(S_REG_IDS)
        if not force:
            if old_owner != new_owner:
                self._save_s_regs(old_owner, uc_vals, with_satp=old != "machine")
            elif old == "host":            # host -> machine: HS's satp waits in Python
                self.s_hs.satp = uc_vals[6]
            if old == "guest":
                self.translation.leave_guest()
        self.context = new
        slot = self.s_vs if new_owner == "vs" else self.s_hs
        satp = self._mmode_map().satp if new == "machine" else slot.satp
        ucms, mie = uc_vals[0], uc_vals[7]
        if force or old_owner != new_owner:
            status, ie = self._s_status_and_ie(new_owner, slot)
            regs = ((rc.UC_RISCV_REG_STVEC, slot.tvec), (rc.UC_RISCV_REG_SSCRATCH, slot.scratch),
                    (rc.UC_RISCV_REG_SEPC, slot.epc), (rc.UC_RISCV_REG_SCAUSE, slot.cause),
                    (rc.UC_RISCV_REG_STVAL, slot.tval),
                    (rc.UC_RISCV_REG_MIE, (mie & ~S_INTERRUPTS) | ie))
        else:
            status, regs = ucms & UC_OWNED, ()
        self._presented_mip = mip = self._interrupts_to_present()
        r.write_batch(((PRIV, 3),
                       (rc.UC_RISCV_REG_MSTATUS, (ucms & ~UC_TRAP_AND_OWNED) | status | self._trap_bits()),
                       *regs, (rc.UC_RISCV_REG_SATP, satp),
                       (rc.UC_RISCV_REG_MIDELEG, self._uc_mideleg()), (rc.UC_RISCV_REG_MIP, mip),
                       (PRIV, uc_priv)))
        if new == "guest":
            self.translation.enter_guest()
        elif new == "host":
            self.translation.enter_host()
        else:
            self.translation.enter_machine()
        self.flush_tlb()
        self.sync_time_source()
        self._sync_sbi_fast_path()

    def _save_s_regs(self, owner: str, vals: list[int], with_satp: bool) -> None:
        ms, tvec, scratch, epc, cause, tval, satp, mie = vals
        slot = self.s_vs if owner == "vs" else self.s_hs
        status = ms & UC_OWNED
        if owner == "vs":
            hs_fs = self.s_hs.status & MSTATUS_FS
            if not hs_fs:                  # FP off in HS: the guest's FS was not in use
                status = (status & ~MSTATUS_FS) | (slot.status & MSTATUS_FS)
            elif ms & MSTATUS_FS == MSTATUS_FS:
                self.s_hs.status |= MSTATUS_FS   # a guest that dirtied FP dirties HS's FS
            deleg = self.h.hideleg & VS_INTERRUPTS
            self.h.hie = (self.h.hie & ~deleg) | ((mie << 1) & deleg)
        else:
            slot.ie = mie & S_INTERRUPTS
        slot.status, slot.tvec, slot.scratch = status, tvec, scratch
        slot.epc, slot.cause, slot.tval = epc, cause, tval
        if with_satp:
            slot.satp = satp

    def _s_status_and_ie(self, owner: str, slot: SRegs) -> tuple[int, int]:
        """The sstatus bits and sie (S positions) Unicorn gets for `owner`'s set."""
        if owner == "hs":
            return slot.status, slot.ie
        status = slot.status
        if not self.s_hs.status & MSTATUS_FS:
            status &= ~MSTATUS_FS          # FP instructions trap while HS's FS is Off
        return status, (self.h.hie & self.h.hideleg & VS_INTERRUPTS) >> 1

    def _uc_mideleg(self) -> int:
        """mideleg as Unicorn must apply it to the S level it runs: VS's delegated
        interrupts (hideleg, moved to the S positions) inside V=1."""
        if self.context == "guest":
            return (self.h.hideleg & VS_INTERRUPTS) >> 1
        return self.m.mideleg

    def _mmode_map(self) -> MachineModeMap:
        if self._mmap is None:
            self._mmap = MachineModeMap(self.uc, self.ram.base, self.ram.size, self.mmio_ranges)
        return self._mmap

    def update_trap_bits(self) -> None:
        """Write Unicorn's mstatus trap bits for the context it runs now (_trap_bits)."""
        r = self.regs
        ucms = r.csr_read(rc.UC_RISCV_REG_MSTATUS) & UC_OWNED
        r.csr_write(rc.UC_RISCV_REG_MSTATUS, ucms | self._trap_bits())

    def _trap_bits(self) -> int:
        """Unicorn's mstatus trap bits, for the context it runs now:
        - M: TVM and TSR (satp, sfence.vma and sret must reach Python);
        - host: the spec's TVM/TW/TSR, and TSR while hstatus.SPV=1, so that an HS
          `sret` that enters V=1 reaches Python;
        - guest: TW for mstatus.TW or VTW, TSR for VTSR, TVM for VTVM (Python then
          decides between illegal and virtual instruction)."""
        ms, hs = self.m.mstatus, self.h.hstatus
        bits = 0
        if self.context == "machine":
            bits = MSTATUS_TVM | UC_MSTATUS_TSR
        elif self.context == "host":
            bits = ms & MSTATUS_TVM
            if ms & MSTATUS_TW:
                bits |= UC_MSTATUS_TW
            if ms & MSTATUS_TSR or hs & HSTATUS_SPV:
                bits |= UC_MSTATUS_TSR
        else:
            if ms & MSTATUS_TW or hs & HSTATUS_VTW:
                bits |= UC_MSTATUS_TW
            if hs & HSTATUS_VTSR:
                bits |= UC_MSTATUS_TSR
            if hs & HSTATUS_VTVM:
                bits |= MSTATUS_TVM
        return bits

    # ------------------------------------------------------------------ traps
    def route(self, trap: Trap, level: Level) -> Level:
        """Where `trap` taken at `level` goes: M, HS or VS (spec 3.1.8, 8.4.1)."""
        if level.priv == PRV_M:
            return M
        deleg = self.read_mideleg() if trap.interrupt else self.m.medeleg
        if not deleg >> trap.cause & 1:
            return M
        if level.virt:
            hdeleg = self.h.hideleg if trap.interrupt else self.h.hedeleg
            if hdeleg >> trap.cause & 1:
                return VS
        return HS

    def take_trap(self, trap: Trap) -> None:
        """Route `trap` and enter it: at VS (the guest's own handler), at HS (leaving
        V=1 if it came from there), or at M (guest code or the Python firmware)."""
        level = self.level
        target = self.route(trap, level)
        gva = trap.gva or (level.virt and not trap.interrupt and trap.cause in GVA_CAUSES)
        if target is VS:
            if trap.interrupt:             # VS sees its interrupts at the S positions
                trap = Trap(trap.cause - 1, trap.epc, interrupt=True)
            self._enter_s(trap, level, level)
            return
        if target is HS:
            h = self.h
            h.htval, h.htinst = trap.tval2, trap.tinst
            if level.virt and self.hypervisor is not None:
                # a VM exit to rvkvm's own hypervisor: it runs in Python "at HS" while
                # Unicorn keeps the guest loaded, so serving it costs no V switch
                h.bpc = trap.epc
                self.stats["vm_exit"] += 1
                self.hypervisor.handle_exit(self, trap, gva)
                return
            if level.virt:
                hs = h.hstatus & ~(HSTATUS_SPVP | HSTATUS_GVA)
                hs |= HSTATUS_SPV | (HSTATUS_SPVP if level.priv else 0) | (HSTATUS_GVA if gva else 0)
                h.hstatus, h.bpc = hs, trap.epc
                self.set_level(HS)         # the VM exit: Unicorn gets HS's CSRs back
                self._trace_v(level, HS, trap.epc)
            elif h.hstatus & (HSTATUS_SPV | HSTATUS_GVA) or gva:
                spv_was = h.hstatus & HSTATUS_SPV
                h.hstatus = (h.hstatus & ~(HSTATUS_SPV | HSTATUS_GVA)) | (HSTATUS_GVA if gva else 0)
                if spv_was:
                    self.update_trap_bits()
            self._enter_s(trap, level, HS)
            return
        if self.firmware is not None:
            self._trace(trap, level, M, "firmware")
            self.firmware.handle_trap(self, trap)
            return
        m = self.m
        ms = m.mstatus & ~(MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_MPV | MSTATUS_GVA)
        ms |= level.priv << MSTATUS_MPP_SHIFT
        if m.mstatus & MSTATUS_MIE:
            ms |= MSTATUS_MPIE
        if level.virt:
            ms |= MSTATUS_MPV
        if gva:
            ms |= MSTATUS_GVA
        m.mstatus = ms
        m.mepc, m.mcause, m.mtval = trap.epc, trap.mcause, trap.tval
        m.mtval2, m.mtinst = trap.tval2, trap.tinst
        vector = self._vector(m.mtvec, trap)
        if level is not M:
            if level.virt:
                self.h.bpc = trap.epc
                self._trace_v(level, M, trap.epc)
            self.set_level(M)
        if ms & MSTATUS_MPRV:
            self.translation.mprv_changed()    # MPP is M now: MPRV stops translating
        self.regs.write(PC, vector)
        self.stats[trap.name] += 1
        self._trace(trap, level, M)

    def _vector(self, tvec: int, trap: Trap) -> int:
        vector = tvec & ~3
        if trap.interrupt and tvec & 1:
            vector += 4 * trap.cause
        if not trap.interrupt and trap.epc == vector and trap.cause != EXC_BREAKPOINT:
            self.die(f"trap loop: {trap.name} at the trap vector {vector:#x} itself", trap.epc)
        return vector

    def _enter_s(self, trap: Trap, came_from: Level, target: Level) -> None:
        """Trap entry into the S level whose CSRs Unicorn holds now (HS at V=0, VS at
        V=1): the hot path of a kernel's page faults and syscalls, so four engine
        calls (PRIV=M to reach the CSRs, two reads, one batch)."""
        r = self.regs
        r.write(PRIV, 3)
        ms, tvec = r.csr_read_batch((rc.UC_RISCV_REG_MSTATUS, rc.UC_RISCV_REG_STVEC))
        ucms = ms & ~(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE)
        if came_from.priv == PRV_S:
            ucms |= MSTATUS_SPP
        if ms & MSTATUS_SIE:
            ucms |= MSTATUS_SPIE
        vector = tvec & ~3
        if trap.interrupt and tvec & 1:
            vector += 4 * trap.cause
        if not trap.interrupt and trap.epc == vector and trap.cause != EXC_BREAKPOINT:
            r.write(PRIV, PRV_S)
            self.die(f"trap loop: {trap.name} at the trap vector {vector:#x} itself", trap.epc)
        r.write_batch(((rc.UC_RISCV_REG_MSTATUS, ucms), (rc.UC_RISCV_REG_SCAUSE, trap.mcause),
                       (rc.UC_RISCV_REG_SEPC, trap.epc), (rc.UC_RISCV_REG_STVAL, trap.tval),
                       (PRIV, PRV_S), (PC, vector)))
        self.stats[trap.name] += 1
        self._trace(trap, came_from, target)

    def enter_guest(self, pc: int, priv: int = PRV_S) -> None:
        """Start running VS (or VU) code at `pc`, as a hypervisor's sret would: the
        guest's CSRs (s_vs, hgatp, hvip, ...) must be set up first."""
        target = level_for(priv, True)
        self._trace_v(self.level, target, pc)
        self.set_level(target)
        self.regs.write(PC, pc)

    def inject_vs(self, trap: Trap) -> None:
        """Enter `trap` at VS while V=1 (a hypervisor redirecting a fault to its
        guest, as KVM's kvm_riscv_vcpu_trap_redirect)."""
        self._enter_s(trap, self.level, VS)

    # ------------------------------------------------------------------ xRET
    def mret(self) -> None:
        """mret from M: back to MPP, and into V=1 when MPV says so (spec 8.6.4)."""
        m = self.m
        ms = m.mstatus
        mpp = (ms & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT
        mpv = bool(ms & MSTATUS_MPV) and mpp != PRV_M
        ms &= ~(MSTATUS_MIE | MSTATUS_MPP | MSTATUS_MPV)
        if ms & MSTATUS_MPIE:
            ms |= MSTATUS_MIE
        ms |= MSTATUS_MPIE                     # MPP becomes U (0)
        if mpp != PRV_M:
            ms &= ~MSTATUS_MPRV
        m.mstatus = ms
        self.stats["mret"] += 1
        target = level_for(mpp, mpv)
        if mpv:
            self._trace_v(M, target, m.mepc)
        self.set_level(target)
        self.regs.write(PC, m.mepc)
        self.translation.mprv_changed()
        self.check_interrupts()

    def sret(self) -> None:
        """sret from M or HS (V=0): back to SPP, into V=1 when hstatus.SPV=1."""
        r = self.regs
        ucms, sepc = r.csr_read_batch((rc.UC_RISCV_REG_MSTATUS, rc.UC_RISCV_REG_SEPC))
        spp = PRV_S if ucms & MSTATUS_SPP else 0
        ucms &= ~(MSTATUS_SIE | MSTATUS_SPP)
        if ucms & MSTATUS_SPIE:
            ucms |= MSTATUS_SIE
        ucms |= MSTATUS_SPIE
        r.csr_write(rc.UC_RISCV_REG_MSTATUS, ucms)
        self.m.mstatus &= ~MSTATUS_MPRV
        spv = bool(self.h.hstatus & HSTATUS_SPV)
        self.h.hstatus &= ~HSTATUS_SPV
        target = level_for(spp, spv)
        came_from = self.level
        self.stats["sret"] += 1
        if spv:
            self._trace_v(came_from, target, sepc)
        self.set_level(target)
        r.write(PC, sepc)
        self.translation.mprv_changed()
        self.check_interrupts()

    # ------------------------------------------------------------------ translation
    def walk_config(self, level: Level | None = None, virt_override=None) -> walk.WalkConfig:
        """How an access of `level` (the running one by default) is translated now."""
        level = level or self.level
        if level is M:
            return walk.WalkConfig(satp=0, priv=PRV_M)
        ucms, satp = self.regs.csr_read_batch((rc.UC_RISCV_REG_MSTATUS, rc.UC_RISCV_REG_SATP))
        if level.virt and self.context == "guest":
            return walk.WalkConfig(satp=satp, hgatp=self.h.hgatp, virt=True, priv=level.priv,
                                   sum=bool(ucms & MSTATUS_SUM), mxr=bool(ucms & MSTATUS_MXR),
                                   hs_mxr=bool(self.s_hs.status & MSTATUS_MXR))
        if self.context == "machine":
            satp = self.s_hs.satp
        return walk.WalkConfig(satp=satp, priv=level.priv, sum=bool(ucms & MSTATUS_SUM),
                               mxr=bool(ucms & MSTATUS_MXR))

    def guest_walk_config(self, priv: int, hlvx: bool = False) -> walk.WalkConfig:
        """The V=1 translation as HS sees it (HLV/HSV, MPRV with MPV): vsatp, hgatp,
        vsstatus.SUM/MXR, HS's MXR."""
        vsst = self.read_vsstatus()
        hs_status = self.read_sstatus_hs()
        return walk.WalkConfig(satp=self.read_vsatp_any(), hgatp=self.h.hgatp, virt=True,
                               priv=priv, sum=bool(vsst & MSTATUS_SUM),
                               mxr=bool(vsst & MSTATUS_MXR),
                               hs_mxr=bool(hs_status & MSTATUS_MXR), hlvx=hlvx)

    def translate(self, va: int, access: int, cfg: walk.WalkConfig | None = None,
                  side_effects: bool = False) -> walk.Walk:
        """The one translation path for Python's own accesses. Without side effects
        (decoding at epc, debuggers) A/D bits are left alone."""
        cfg = cfg or self.walk_config()
        if access == walk.FETCH and not side_effects:
            # decoding at epc, ~3,000 times a boot: the C walk (a fetched page's A bit
            # is set already, so it writes nothing)
            if self._fetch_walker is _NOT_YET:  # (a bare-metal run may never need it)
                self._fetch_walker = _native_fetch_walker(self.ram)
            if self._fetch_walker is not None:
                return self._fetch_walker.translate(va & M64, access, cfg)
        mem = self.ram if side_effects else _ReadOnly(self.ram)
        return walk.translate(mem, va & M64, access, cfg)

    def walk_steps(self, va: int, access: int = walk.LOAD) -> list[str]:
        """Every VS-stage and G-stage step of translating `va` for the running level
        now, without side effects (gdb's `monitor walk`)."""
        return walk.walk_steps(_ReadOnly(self.ram), va & M64, access, self.walk_config())

    # ------------------------------------------------------------------ tracing
    def _trace_native_interrupt(self) -> None:
        """Unicorn takes S-level interrupts itself, unseen: report one after the fact
        when scause/sepc show an interrupt entry that Python did not make."""
        r = self.regs
        seen = tuple(r.csr_read_batch((rc.UC_RISCV_REG_SCAUSE, rc.UC_RISCV_REG_SEPC)))
        if seen != self._last_s_entry and seen[0] >> 63:
            cause = seen[0] & ~(1 << 63)
            s_level = VS if self.virt else HS
            prev = level_for(PRV_S if r.csr_read(rc.UC_RISCV_REG_MSTATUS) & MSTATUS_SPP else 0,
                             self.virt)
            self.trace(f"[int] {Trap(cause, seen[1], interrupt=True).describe(prev, s_level)}"
                       " (taken by the engine)")
        self._last_s_entry = seen

    def _trace(self, trap: Trap, came_from: Level, target: Level, note: str = "") -> None:
        if self.trace is not None:
            if target.priv == PRV_S:
                self._last_s_entry = (trap.mcause, trap.epc)
            self.trace(f"[int] {trap.describe(came_from, target)}" + (f" ({note})" if note else ""))

    def _trace_v(self, came_from: Level, target: Level, pc: int) -> None:
        self.stats["v_entry" if target.virt else "v_exit"] += 1
        if self.trace is not None:
            v0, v1 = int(came_from.virt), int(target.virt)
            self.trace(f"[int] V={v0}->{v1} {came_from}->{target} pc={pc:#x} bpc={self.h.bpc:#x}")

    def die(self, reason: str, pc: int | None = None) -> None:
        """End the run: the guest cannot go on. `pc`: where it died, for the dump
        (inside the interrupt hook Unicorn's pc is already 4 past it)."""
        if pc is not None:
            self.regs.write(PC, pc)
        self._death = GuestDied(reason, self.dump())
        self.uc.emu_stop()
        raise self._death

    # ------------------------------------------------------------------ memory views
    def _insn_at(self, va: int) -> tuple[int | None, int]:
        """The instruction at virtual address `va` as the hart fetches it now."""
        if self.context == "machine":          # identity-mapped
            return _insn_at_physical(self.ram, va)
        satp = self.regs.csr_read(rc.UC_RISCV_REG_SATP)      # vsatp in the guest
        if satp >> 60 == 0 and self.context == "host":
            return _insn_at_physical(self.ram, va)          # Bare: va is the address
        if va >> 63:
            if satp:
                # Kernel-half code pages are mapped once and never move: remember their
                # translation, so a kernel's emulated instructions (a hypervisor's
                # hundreds of thousands of CSR traps) skip the page walk.
                key = (satp, self.h.hgatp if self.context == "guest" else -1, va >> 12)
                page = self._kernel_code_pages.get(key)
                if page is None:
                    w = self.translate(va & ~0xFFF, walk.FETCH)
                    if not w.ok:
                        return None, 0
                    page = self._kernel_code_pages[key] = w.pa
                if va & 0xFFF <= 0xFFC:
                    return _insn_at_physical(self.ram, page | (va & 0xFFF))
        return self.fetch_insn(va)

    def fetch_insn(self, va: int, cfg: walk.WalkConfig | None = None) -> tuple[int | None, int]:
        """(bits, length) of the instruction at `va` through the translation `cfg`
        (the running level's by default); (None, 0) if it cannot be fetched."""
        cfg = cfg or self.walk_config()
        lo = self._read_u16_virt(va, cfg)
        if lo is None:
            return None, 0
        if lo & 3 != 3:
            return lo, 2
        hi = self._read_u16_virt(va + 2, cfg)
        return (None, 0) if hi is None else (lo | (hi << 16), 4)

    def _read_u16_virt(self, va: int, cfg) -> int | None:
        w = self.translate(va, walk.FETCH, cfg)
        return self.ram.read_u16(w.pa) if w.ok else None

    def dump(self) -> str:
        return format_dump(self)


class _ReadOnly:
    """A view of RAM whose writes are dropped: walks for decoding leave A/D alone."""

    def __init__(self, ram):
        self._ram = ram
        self.read_u64 = ram.read_u64
        self.contains = ram.contains

    def write_u64(self, pa: int, value: int) -> None:
        pass


_NOT_YET = object()


def _native_fetch_walker(ram):
    """The C walker for Python's instruction fetches, or None (not built, or
    RVKVM_FILLHOOK=python asks for the Python one everywhere)."""
    from .fillhook import NativeWalker, choose_kind
    if choose_kind() != "native":
        return None
    return NativeWalker(ram, use_gcache=False)


def _insn_at_physical(ram, pa: int) -> tuple[int | None, int]:
    """(bits, length) of the instruction at physical `pa`."""
    word = ram.read_u32(pa)                # one read for both halves (every trap decodes)
    if word is not None:
        return (word & 0xFFFF, 2) if word & 3 != 3 else (word, 4)
    lo = ram.read_u16(pa)                  # the last two bytes of RAM
    if lo is None:
        return None, 0
    if lo & 3 != 3:
        return lo, 2
    hi = ram.read_u16(pa + 2)
    return (None, 0) if hi is None else (lo | (hi << 16), 4)


def print_trace(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
