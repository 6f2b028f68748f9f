"""The architectural hart: Unicorn executes, Python supplies what Unicorn's RISC-V lacks.

Levels and who runs them (see ../shared/notes/h-on-unicorn.md for why):
- S and U code runs in Unicorn's S and U modes, translated by Unicorn's own MMU.
- Guest M-mode code (bare-metal programs, real firmware) runs in Unicorn's *S*-mode
  under an identity page table (mmode_map.py): "virtual M". Unicorn's real M-mode
  would execute `mret`, and writes of the spec's TW/TSR, invisibly; from S-mode every
  M-CSR access and every `mret` traps, so Python keeps the whole M-level state with
  spec semantics. While in virtual M, Unicorn's TVM and TSR are set (satp,
  sfence.vma and sret trap too), no interrupt is presented to Unicorn, and the
  guest's own satp waits in `MState.satp`.
- When no guest code serves M (a Linux kernel booted without --bios), a Python
  `firmware` object serves traps to M: the SBI.

Every synchronous trap reaches Python through Unicorn's interrupt hook (Unicorn
writes no trap CSRs) or as an engine error after the run (unmapped access,
ebreak). `take_trap` is the one place that routes a trap by medeleg/mideleg and
enters it. M-level interrupts are entered by Python; S-level ones are presented
in Unicorn's mip and taken natively, so their timing is exact.
"""
from __future__ import annotations

import sys
from collections import Counter
from time import perf_counter

from unicorn import (
    UC_CTL_IO_WRITE,
    UC_CTL_TLB_FLUSH,
    UC_HOOK_INSN_INVALID,
    UC_HOOK_INTR,
    UcError,
)
from unicorn import riscv_const as rc

from . import mmu
from .constants import (
    EXC_BREAKPOINT,
    INSN_WFI,
    MSTATUS_MIE,
    MSTATUS_MPIE,
    MSTATUS_MPP,
    MSTATUS_MPP_SHIFT,
    MSTATUS_SIE,
    MSTATUS_SPIE,
    MSTATUS_SPP,
    MSTATUS_TSR,
    MSTATUS_TVM,
    MSTATUS_TW,
    PRV_M,
    PRV_S,
    PRV_U,
    UC_MSTATUS_TSR,
    UC_MSTATUS_TW,
)
from .csr_views import UC_OWNED, CsrViews
from .dump import format_dump
from .exceptions import ExceptionHandling
from .mmode_map import MachineModeMap
from .regs import PC, PRIV, RegisterFile
from .slicer import make_slicer
from .trap import GuestDied, Trap

M64 = (1 << 64) - 1
class MState:
    """M-level state Python holds (Unicorn's copies are never used)."""

    def __init__(self):
        self.mstatus = 0           # only PY_OWNED bits
        self.medeleg = 0
        self.mideleg = 0
        self.mtvec = 0
        self.mscratch = 0
        self.mepc = 0
        self.mcause = 0
        self.mtval = 0
        self.mcounteren = 0
        self.mcountinhibit = 0
        self.menvcfg = 0
        self.pmpcfg = [0] * 8
        self.pmpaddr = [0] * 64
        self.mip_sw = 0            # SSIP/STIP/SEIP as written by M code or the firmware
        self.mip_lines = 0         # lines driven by devices (MTIP, MSIP, MEIP, SEIP)
        self.satp = 0              # S's satp while the hart is in virtual M


class Hart(CsrViews, ExceptionHandling):
    def __init__(self, uc, ram, clock, *, hart_id: int = 0, firmware=None,
                 slice_seconds: float = 0.002, trace=None, time_traps: bool = False):
        self.uc = uc
        self.ram = ram
        self.clock = clock
        self.read_time = clock.mtime          # the `time` CSR; the machine points it at the CLINT
        self.hart_id = hart_id
        self.firmware = firmware           # serves traps to M in Python, or None
        self.regs = RegisterFile(uc)
        self.m = MState()
        self.virtual_m = False             # set by reset()
        self.trace = trace                 # callable(str) for --trace int, or None
        self.stats = Counter()                 # traps and emulated instructions, by name
        self.engine_seconds = 0.0              # wall time inside emu_start (hooks included)
        self.trap_seconds = 0.0                # of which in Python trap handling (time_traps)
        self.slicer = make_slicer(uc, slice_seconds)
        self._presented_mip = -1
        self._invalid_insn = False
        self._death: GuestDied | None = None
        self._stop_reason: str | None = None
        self._mmap: MachineModeMap | None = None
        # (base, size) of the devices' register blocks: what M code reaches besides RAM.
        # The machine sets it before the hart first enters M.
        self.mmio_ranges: tuple[tuple[int, int], ...] = ()
        self._kernel_code_pages: dict[tuple[int, int], int] = {}
        self._last_s_entry = (0, 0)             # for tracing engine-taken interrupts
        self._sw_pending_changed = False        # an SBI call changed mip_sw
        uc.hook_add(UC_HOOK_INTR, self._on_intr_timed if time_traps else self._on_intr)
        # No UC_HOOK_MEM_UNMAPPED: merely installing it makes guest code ~2.5x
        # slower under paging (bench/engine_choices.py). Accesses to nowhere are
        # reconstructed after the run.
        uc.hook_add(UC_HOOK_INSN_INVALID, self._on_insn_invalid)

    # ------------------------------------------------------------------ reset
    def reset(self, pc: int, priv: int, a0: int = 0, a1: int = 0, a2: int = 0) -> None:
        """Start at `pc` in `priv`. With a Python firmware the hart never runs M code."""
        r = self.regs
        r.write(PRIV, 3)
        for reg in (rc.UC_RISCV_REG_SATP, rc.UC_RISCV_REG_MIE, rc.UC_RISCV_REG_MIP,
                    rc.UC_RISCV_REG_MIDELEG, rc.UC_RISCV_REG_MEDELEG):
            r.write(reg, 0)
        r.write(rc.UC_RISCV_REG_MSTATUS, 0)
        self.virtual_m = False
        self._switch_level(priv, force=True)
        r.write_x(10, a0)
        r.write_x(11, a1)
        r.write_x(12, a2)
        r.write(PC, pc)

    @property
    def priv(self) -> int:
        """The architectural privilege. S code leaves S natively (sret), so below M
        Unicorn's PRIV is the truth."""
        return PRV_M if self.virtual_m else self.regs.read(PRIV)

    @property
    def pc(self) -> int:
        return self.regs.read(PC)

    # ------------------------------------------------------------------ running
    def run_slice(self) -> str:
        """Run until the slice ends. Returns "tick" (time slice or stop request),
        "wfi" (the hart executed WFI), or "stop" (a Python handler ended the run)."""
        self._stop_reason = None
        self.present_interrupts(force=True)
        pc = self.regs.read(PC)
        t0 = perf_counter()
        try:
            ticked = self.slicer.run(pc)
        except UcError as err:
            self.engine_seconds += perf_counter() - t0
            if self._death:
                raise self._death
            self._on_engine_error(err)
            return "tick"
        self.engine_seconds += perf_counter() - t0
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

    def flush_tlb(self) -> None:
        self.uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)
        self._kernel_code_pages.clear()

    def request_stop(self) -> None:
        """Thread-safe: regain control at the next block boundary."""
        self.slicer.request_stop()

    def stop(self, reason: str) -> None:
        """From inside a hook: end the current run (the machine decides what next)."""
        self._stop_reason = reason
        self.uc.emu_stop()

    # ------------------------------------------------------------------ privilege
    def _switch_level(self, new_priv: int, force: bool = False) -> None:
        """Make Unicorn run `new_priv`: virtual M (Unicorn S, bare, TVM/TSR) or real S/U."""
        r = self.regs
        new_vm = new_priv == PRV_M
        if new_vm and self.virtual_m and not force:
            return                             # M to M: nothing in Unicorn changes
        if new_vm != self.virtual_m or force:
            if new_vm:
                if not force:
                    self._sync_sip()
                    self.m.satp = r.csr_read(rc.UC_RISCV_REG_SATP)
                r.csr_write(rc.UC_RISCV_REG_SATP, self._mmode_map().satp)
            else:
                r.csr_write(rc.UC_RISCV_REG_SATP, self.m.satp)
            self.flush_tlb()
        self.virtual_m = new_vm
        self._write_uc_mstatus(r.csr_read(rc.UC_RISCV_REG_MSTATUS))
        r.write(PRIV, PRV_S if new_vm else new_priv)
        self.present_interrupts()

    def _mmode_map(self) -> MachineModeMap:
        if self._mmap is None:
            self._mmap = MachineModeMap(self.uc, self.ram.base, self.ram.size, self.mmio_ranges)
        return self._mmap

    def _write_uc_mstatus(self, ucms: int) -> None:
        """Unicorn's mstatus: its S fields, plus the trap bits Unicorn must enforce now."""
        ucms &= UC_OWNED
        if self.virtual_m:
            ucms |= MSTATUS_TVM | UC_MSTATUS_TSR
        else:
            ms = self.m.mstatus
            ucms |= ms & MSTATUS_TVM
            if ms & MSTATUS_TW:
                ucms |= UC_MSTATUS_TW
            if ms & MSTATUS_TSR:
                ucms |= UC_MSTATUS_TSR
        self.regs.csr_write(rc.UC_RISCV_REG_MSTATUS, ucms)

    # ------------------------------------------------------------------ traps
    def take_trap(self, trap: Trap) -> None:
        """Route `trap` by medeleg/mideleg and enter it at S or M (guest code or firmware)."""
        m, r = self.m, self.regs
        priv = self.priv
        deleg = m.mideleg if trap.interrupt else m.medeleg
        if priv <= PRV_S and deleg >> trap.cause & 1:
            self._enter_s(trap, priv)
            return
        elif self.firmware is not None:
            self._trace(trap, priv, PRV_M, "firmware")
            self.firmware.handle_trap(self, trap)
            return
        else:
            ms = m.mstatus & ~(MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE)
            ms |= priv << MSTATUS_MPP_SHIFT
            if m.mstatus & MSTATUS_MIE:
                ms |= MSTATUS_MPIE
            m.mstatus = ms
            m.mepc, m.mcause, m.mtval = trap.epc, trap.mcause, trap.tval
            target, tvec = PRV_M, m.mtvec
        vector = tvec & ~3
        if trap.interrupt and tvec & 1:
            vector += 4 * trap.cause
        if not trap.interrupt and trap.epc == vector and trap.cause != EXC_BREAKPOINT:
            self.die(f"trap loop: {trap.name} at the trap vector {vector:#x} itself", trap.epc)
        if target != priv:
            self._switch_level(target)
        r.write(PC, vector)
        self.stats[trap.name] += 1
        self._trace(trap, priv, target)

    def _enter_s(self, trap: Trap, priv: int) -> None:
        """Trap entry to S from S or U: the hot path of a kernel's page faults and
        syscalls, so four engine calls (PRIV=M to reach the CSRs, two reads, one batch)."""
        r = self.regs
        r.write(PRIV, PRV_M)
        ms = r.read(rc.UC_RISCV_REG_MSTATUS)
        tvec = r.read(rc.UC_RISCV_REG_STVEC)
        ucms = ms & ~(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE)
        if priv == PRV_S:
            ucms |= MSTATUS_SPP
        if ms & MSTATUS_SIE:
            ucms |= MSTATUS_SPIE
        vector = tvec & ~3
        if trap.interrupt and tvec & 1:
            vector += 4 * trap.cause
        if not trap.interrupt and trap.epc == vector and trap.cause != EXC_BREAKPOINT:
            r.write(PRIV, priv)
            self.die(f"trap loop: {trap.name} at the trap vector {vector:#x} itself", trap.epc)
        r.write_batch(((rc.UC_RISCV_REG_MSTATUS, ucms), (rc.UC_RISCV_REG_SCAUSE, trap.mcause),
                       (rc.UC_RISCV_REG_SEPC, trap.epc), (rc.UC_RISCV_REG_STVAL, trap.tval),
                       (PRIV, PRV_S), (PC, vector)))
        self.stats[trap.name] += 1
        self._trace(trap, priv, PRV_S)

    def _trace_native_interrupt(self) -> None:
        """Unicorn takes S-level interrupts itself, unseen: report one after the fact
        when scause/sepc show an interrupt entry that Python did not make."""
        r = self.regs
        seen = (r.csr_read(rc.UC_RISCV_REG_SCAUSE), r.csr_read(rc.UC_RISCV_REG_SEPC))
        if seen != self._last_s_entry and seen[0] >> 63:
            cause = seen[0] & ~(1 << 63)
            prev = PRV_S if r.csr_read(rc.UC_RISCV_REG_MSTATUS) & MSTATUS_SPP else PRV_U
            self.trace(f"[int] {Trap(cause, seen[1], interrupt=True).describe(prev, PRV_S)}"
                       " (taken by the engine)")
        self._last_s_entry = seen

    def _trace(self, trap: Trap, priv_from: int, priv_to: int, note: str = "") -> None:
        if self.trace is not None:
            if priv_to == PRV_S:
                self._last_s_entry = (trap.mcause, trap.epc)
            self.trace(f"[int] {trap.describe(priv_from, priv_to)}" + (f" ({note})" if note else ""))

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
        """The instruction at virtual address `va` as the hart sees it now."""
        if self.virtual_m:                     # identity-mapped
            return mmu.insn_at_physical(self.ram, va)
        r = self.regs
        satp = r.read(rc.UC_RISCV_REG_SATP) if r.read(PRIV) == PRV_S else r.csr_read(rc.UC_RISCV_REG_SATP)
        if va >> 63 and satp:
            # Kernel-half code pages are mapped once and never move: remember their
            # translation, so the ~3,000 rdtime traps of a boot skip the page walk.
            key = (satp, va >> 12)
            page = self._kernel_code_pages.get(key)
            if page is None:
                page = mmu.translate(self.ram, satp, va & ~0xFFF)
                if page is None:
                    return None, 0
                self._kernel_code_pages[key] = page
            if va & 0xFFF <= 0xFFC:
                return mmu.insn_at_physical(self.ram, page | (va & 0xFFF))
        return mmu.fetch_insn(self.ram, satp, va)

    def dump(self) -> str:
        return format_dump(self)


def print_trace(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
