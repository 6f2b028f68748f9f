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

from unicorn import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH, UC_HOOK_INSN_INVALID, UC_HOOK_INTR, UcError
from unicorn import unicorn_const as ucc
from unicorn import riscv_const as rc

from . import mmu
from .constants import (
    EXC_BREAKPOINT, EXC_ECALL_M, EXC_ECALL_S, EXC_ECALL_U, EXC_ILLEGAL_INSN,
    EXC_INSN_ACCESS, EXC_LOAD_ACCESS, EXC_LOAD_MISALIGNED, EXC_STORE_ACCESS,
    EXC_STORE_MISALIGNED, INSN_C_EBREAK, INSN_EBREAK, INSN_MRET, INSN_SRET, INSN_WFI,
    INTERRUPT_PRIORITY, MIP_SEIP, MIP_SSIP, MSTATUS_FS, MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP,
    MSTATUS_MPP_SHIFT, MSTATUS_MPRV, MSTATUS_MXR, MSTATUS_SD, MSTATUS_SIE,
    MSTATUS_SPIE, MSTATUS_SPP, MSTATUS_SUM, MSTATUS_TSR, MSTATUS_TVM, MSTATUS_TW,
    MSTATUS_UBE, MSTATUS_VS, MSTATUS_XS, PRV_M, PRV_S, PRV_U, S_INTERRUPTS,
    UC_MSTATUS_TSR, UC_MSTATUS_TW,
)
from .csr import COUNTER_BITS, CSR_TABLE
from .decode import decode_csr, decode_mem, is_sfence_vma
from .dump import format_dump
from .mmode_map import MachineModeMap
from .regs import PC, PRIV, RegisterFile
from .slicer import make_slicer
from .trap import GuestDied, Trap

M64 = (1 << 64) - 1
# mstatus fields Unicorn holds (S code reads and writes them natively) ...
UC_OWNED = (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_UBE | MSTATUS_SPP | MSTATUS_VS |
            MSTATUS_FS | MSTATUS_XS | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_SD)
UC_WRITABLE = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR
# ... and those Python holds: the M-level fields, and the traps Unicorn must enforce below M
PY_OWNED = (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM |
            MSTATUS_TW | MSTATUS_TSR)
XL64 = (2 << 32) | (2 << 34)           # UXL = SXL = 64

# Unicorn's interrupt-hook numbers for the faults whose tval is a data address
DATA_FAULTS = {4, 5, 6, 7, 13, 15}
FETCH_FAULTS = {0, 1, 12}
MAX_BLOCK_INSNS = 512                   # QEMU's limit on instructions per translated block


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


class Hart:
    def __init__(self, uc, ram, clock, *, hart_id: int = 0, firmware=None,
                 slice_seconds: float = 0.002, trace=None):
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
        self.trap_seconds = 0.0                # of which in Python trap handling
        self.slicer = make_slicer(uc, slice_seconds)
        self._presented_mip = -1
        self._invalid_insn = False
        self._death: GuestDied | None = None
        self._stop_reason: str | None = None
        self._mmap: MachineModeMap | None = None
        self._kernel_code_pages: dict[tuple[int, int], int] = {}
        self._last_s_entry = (0, 0)             # for tracing engine-taken interrupts
        self._sw_pending_changed = False        # an SBI call changed mip_sw
        uc.hook_add(UC_HOOK_INTR, self._on_intr)
        # No UC_HOOK_MEM_UNMAPPED: merely installing it made every guest access 2.6x
        # slower under paging. Accesses to nowhere are reconstructed after the run.
        uc.hook_add(UC_HOOK_INSN_INVALID, self._on_insn_invalid)

    # ------------------------------------------------------------------ reset
    def reset(self, pc: int, priv: int, a0: int = 0, a1: int = 0) -> None:
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
            self._on_engine_error(err, pc)
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
            self._mmap = MachineModeMap(self.uc, self.ram.base, self.ram.size)
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

    # ------------------------------------------------------------------ CSR views
    def read_mstatus(self) -> int:
        ucms = self.regs.csr_read(rc.UC_RISCV_REG_MSTATUS)
        value = (ucms & UC_OWNED) | self.m.mstatus | XL64
        if value & MSTATUS_FS == MSTATUS_FS:
            value |= MSTATUS_SD
        return value

    def write_mstatus(self, value: int) -> None:
        mpp = (value >> MSTATUS_MPP_SHIFT) & 3
        if mpp == 2:                       # reserved: WARL, keep a legal value
            value &= ~MSTATUS_MPP
        self.m.mstatus = value & PY_OWNED
        ucms = self.regs.csr_read(rc.UC_RISCV_REG_MSTATUS)
        self._write_uc_mstatus((ucms & ~UC_WRITABLE) | (value & UC_WRITABLE))

    def read_satp(self) -> int:
        return self.m.satp if self.virtual_m else self.regs.csr_read(rc.UC_RISCV_REG_SATP)

    def write_satp(self, value: int) -> None:
        mode = value >> 60
        if mode not in (0, 8, 9, 10):      # WARL: an unsupported mode leaves satp unchanged
            return
        if self.virtual_m:
            self.m.satp = value
        else:
            self.regs.csr_write(rc.UC_RISCV_REG_SATP, value)
            self.flush_tlb()

    def read_mie(self) -> int:
        return self.regs.csr_read(rc.UC_RISCV_REG_MIE)

    def write_mie(self, value: int) -> None:
        self.regs.csr_write(rc.UC_RISCV_REG_MIE, value)

    def write_mideleg(self, value: int) -> None:
        self.m.mideleg = value
        # Unicorn needs it: S writes to sie are masked by it, native S interrupts obey it
        self.regs.csr_write(rc.UC_RISCV_REG_MIDELEG, value)

    def read_mip(self) -> int:
        self._sync_sip()
        return self.m.mip_sw | self.m.mip_lines

    def read_mip_sw(self) -> int:
        self._sync_sip()
        return self.m.mip_sw | (self.m.mip_lines & ~MIP_SEIP)

    def write_mip_sw(self, value: int) -> None:
        self._sync_sip()
        self.m.mip_sw = value

    # ------------------------------------------------------------------ interrupts
    def set_irq(self, line: int, level: bool) -> None:
        """IrqSink for the CLINT and PLIC: drive mip bit `line`."""
        bit = 1 << line
        self.m.mip_lines = (self.m.mip_lines | bit) if level else (self.m.mip_lines & ~bit)
        self.slicer.request_stop()

    def set_sw_pending(self, bits: int, level: bool) -> None:
        """Firmware-side mip writes (STIP for the SBI timer, SSIP for IPIs)."""
        self._sync_sip()
        self.m.mip_sw = (self.m.mip_sw | bits) if level else (self.m.mip_sw & ~bits)
        self._sw_pending_changed = True

    def _sync_sip(self) -> None:
        """S code sets and clears sip.SSIP natively in Unicorn's mip: fold it back."""
        if self.virtual_m or self._presented_mip < 0:
            return
        uc_mip = self.regs.csr_read(rc.UC_RISCV_REG_MIP)
        deleg_ssip = MIP_SSIP & self.m.mideleg
        self.m.mip_sw = (self.m.mip_sw & ~deleg_ssip) | (uc_mip & deleg_ssip)

    def pending_enabled(self) -> int:
        self._sync_sip()
        pending = self.m.mip_sw | self.m.mip_lines
        return pending & self.read_mie() if pending else 0

    def present_interrupts(self, force: bool = False) -> None:
        """Show Unicorn the delegated S-level interrupts (taken natively); nothing in M."""
        if self.virtual_m:
            value = 0
        else:
            self._sync_sip()
            value = (self.m.mip_sw | self.m.mip_lines) & self.m.mideleg & S_INTERRUPTS
        if value != self._presented_mip or (force and value):
            self.regs.csr_write(rc.UC_RISCV_REG_MIP, value)
            self._presented_mip = value

    def check_interrupts(self) -> bool:
        """Enter a pending, enabled M-level interrupt. Returns True if one was taken."""
        pending = self.pending_enabled() & ~self.m.mideleg
        if not pending:
            self.present_interrupts()
            return False
        if self.priv == PRV_M and not self.m.mstatus & MSTATUS_MIE:
            return False
        for irq in INTERRUPT_PRIORITY:
            if pending >> irq & 1:
                self.stats["interrupt_m"] += 1
                self.take_trap(Trap(irq, self.regs.read(PC), interrupt=True))
                return True
        return False

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

    # ------------------------------------------------------------------ hooks
    def _on_intr(self, uc, intno: int, _user) -> None:
        t0 = perf_counter()
        try:
            self._handle_exception(intno)
        except GuestDied:
            pass                               # run_slice re-raises it after emu_start
        self.trap_seconds += perf_counter() - t0

    def _handle_exception(self, intno: int) -> None:
        if self.trace is not None:
            self._trace_native_interrupt()
        r = self.regs
        pc = r.read(PC)
        epc = (pc - 4) & M64                   # Unicorn has added 4, even after a 2-byte insn
        priv = self.priv
        if intno == 8:                         # ecall
            if priv == PRV_S and self.firmware is not None and not (self.m.medeleg >> 9 & 1):
                self.stats["sbi_call"] += 1
                self._sw_pending_changed = False
                self.firmware.ecall(self)
                r.write(PC, pc)                # resume after ecall; makes Unicorn re-check mip
                if self._sw_pending_changed:   # set_timer, IPIs
                    self.present_interrupts()
                return
            cause = {PRV_U: EXC_ECALL_U, PRV_S: EXC_ECALL_S, PRV_M: EXC_ECALL_M}[priv]
            self.take_trap(Trap(cause, epc))
            return
        if intno == EXC_ILLEGAL_INSN:
            self._on_illegal(epc, priv)
            return
        if self.virtual_m and intno in (12, 13, 15):
            self._mmode_page_fault(intno, epc)
            return
        if intno in DATA_FAULTS:
            insn, length = self._insn_at(epc)
            access = decode_mem(insn, length) if insn is not None else None
            tval = (r.read_x(access.base) + access.offset) & M64 if access else 0
            cause = intno
            if intno == EXC_LOAD_MISALIGNED and access and access.is_amo and not access.is_lr:
                cause = EXC_STORE_MISALIGNED   # Unicorn reports AMOs as loads
            self.take_trap(Trap(cause, epc, tval))
            return
        if intno in FETCH_FAULTS:
            tval = epc
            if (epc & 0xFFF) == 0xFFE:         # a 4-byte insn straddling into an unmapped page
                lo = mmu.read_u16_virt(self.ram, self.read_satp() if not self.virtual_m else 0, epc)
                if lo is not None and lo & 3 == 3:
                    tval = epc + 2
            self.take_trap(Trap(intno, epc, tval))
            return
        self.die(f"unexpected exception number {intno} from the engine at pc {epc:#x}", epc)

    def _mmode_page_fault(self, intno: int, epc: int) -> None:
        """A page fault under the M-mode identity map: the first fetch from a RAM page
        (make it executable and retry), or an access to nowhere (an access fault)."""
        if intno == 12:
            target = epc
            if self._mmap.make_executable(target) or self._mmap.make_executable(target + 2):
                self.flush_tlb()
                self.regs.write(PC, epc)
                return
            self.take_trap(Trap(EXC_INSN_ACCESS, epc, epc))
            return
        insn, length = self._insn_at(epc)
        access = decode_mem(insn, length) if insn is not None else None
        tval = (self.regs.read_x(access.base) + access.offset) & M64 if access else 0
        self.take_trap(Trap(EXC_LOAD_ACCESS if intno == 13 else EXC_STORE_ACCESS, epc, tval))

    def _on_illegal(self, epc: int, priv: int) -> None:
        insn, length = self._insn_at(epc)
        if insn is None:
            self.take_trap(Trap(EXC_ILLEGAL_INSN, epc, 0))
            return
        if length == 4 and self._emulate(insn, epc, priv):
            return
        self.take_trap(Trap(EXC_ILLEGAL_INSN, epc, insn))

    def _emulate(self, insn: int, epc: int, priv: int) -> bool:
        """Instructions Python completes itself. False: raise illegal instruction."""
        ci = decode_csr(insn)
        if ci is not None:
            row = self._emulate_csr(ci, priv)
            if row is None:
                return False
            self.stats[row.stat_name] += 1
            self.regs.write(PC, epc + 4)
            if ci.writes and row.affects_interrupts:
                if self.virtual_m:             # the write may have enabled an M interrupt
                    self.check_interrupts()
                else:
                    self.present_interrupts()
            return True
        if priv != PRV_M:
            return False
        if insn == INSN_MRET:
            self._mret()
        elif insn == INSN_SRET:
            self._sret_from_m()
        elif is_sfence_vma(insn):
            self.flush_tlb()
            self.regs.write(PC, epc + 4)
        else:
            return False
        return True

    def _emulate_csr(self, ci, priv: int):
        """Complete a CSR instruction; returns its table row, or None: illegal."""
        num = ci.csr
        row = CSR_TABLE.get(num)
        if row is None or row.min_priv > priv or (ci.writes and row.read_only):
            return None
        if priv < PRV_M and num in COUNTER_BITS:
            bit = COUNTER_BITS[num]
            if not self.m.mcounteren >> bit & 1:
                return None
            if priv == PRV_U and not self.regs.csr_read(rc.UC_RISCV_REG_SCOUNTEREN) >> bit & 1:
                return None
        if num == 0x180 and priv != PRV_M:     # satp traps below M only when TVM says so
            return None
        r = self.regs
        old = row.read(self)
        if ci.writes:
            src = ci.rs1 if ci.imm else r.read_x(ci.rs1)
            base = row.rmw_read(self) if row.rmw_read is not None else old
            new = src if ci.op == "w" else (base | src if ci.op == "s" else base & ~src)
            if row.write is not None:
                row.write(self, new & M64)
        r.write_x(ci.rd, old)
        return row

    def _mret(self) -> None:
        m = self.m
        ms = m.mstatus
        mpp = (ms & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT
        ms &= ~(MSTATUS_MIE | MSTATUS_MPP)
        if ms & MSTATUS_MPIE:
            ms |= MSTATUS_MIE
        ms |= MSTATUS_MPIE                     # MPP becomes U (0)
        if mpp != PRV_M:
            ms &= ~MSTATUS_MPRV
        m.mstatus = ms
        self.stats["mret"] += 1
        self._switch_level(mpp)
        self.regs.write(PC, m.mepc)
        if mpp == PRV_M:
            self.check_interrupts()

    def _sret_from_m(self) -> None:
        r = self.regs
        ucms = r.csr_read(rc.UC_RISCV_REG_MSTATUS)
        spp = PRV_S if ucms & MSTATUS_SPP else PRV_U
        ucms &= ~(MSTATUS_SIE | MSTATUS_SPP)
        if ucms & MSTATUS_SPIE:
            ucms |= MSTATUS_SIE
        ucms |= MSTATUS_SPIE
        r.csr_write(rc.UC_RISCV_REG_MSTATUS, ucms)
        self.m.mstatus &= ~MSTATUS_MPRV
        self._switch_level(spp)
        r.write(PC, r.csr_read(rc.UC_RISCV_REG_SEPC))

    def _on_insn_invalid(self, uc, _user) -> bool:
        self._invalid_insn = True
        return False

    def _on_engine_error(self, err: UcError, start_pc: int) -> None:
        """Unicorn ended the run on an access to nowhere or an ebreak: make it a trap."""
        pc = self.regs.read(PC)
        invalid, self._invalid_insn = self._invalid_insn, False
        try:
            if err.errno == ucc.UC_ERR_FETCH_UNMAPPED:
                self.take_trap(Trap(EXC_INSN_ACCESS, pc, pc))
                return
            if err.errno in (ucc.UC_ERR_READ_UNMAPPED, ucc.UC_ERR_WRITE_UNMAPPED):
                epc, mem, address = self._find_unmapped_access(pc)
                store = err.errno == ucc.UC_ERR_WRITE_UNMAPPED or (mem is not None and mem.is_store)
                self.take_trap(Trap(EXC_STORE_ACCESS if store else EXC_LOAD_ACCESS, epc, address))
                return
            insn, length = self._insn_at(pc)
            if invalid or err.errno == ucc.UC_ERR_INSN_INVALID:
                if insn in (INSN_EBREAK, INSN_C_EBREAK):
                    self.take_trap(Trap(EXC_BREAKPOINT, pc, pc))
                else:
                    self.take_trap(Trap(EXC_ILLEGAL_INSN, pc, insn or 0))
                return
            self.die(f"engine error {err} at pc {pc:#x}")
        except GuestDied:
            raise self._death

    def _find_unmapped_access(self, pc: int):
        """The load/store that touched unmapped memory: (epc, access, address).
        Unicorn leaves pc at the start of the translated block, with registers as they
        were just before the faulting access, so walk the block and recompute each
        access's address until one lands outside every mapped region."""
        satp = 0 if self.virtual_m else self.regs.csr_read(rc.UC_RISCV_REG_SATP)
        regions = list(self.uc.mem_regions())
        va = pc
        for _ in range(MAX_BLOCK_INSNS):
            insn, length = self._insn_at(va)
            if insn is None:
                break
            mem = decode_mem(insn, length)
            if mem is not None:
                address = (self.regs.read_x(mem.base) + mem.offset) & M64
                pa = mmu.translate(self.ram, satp, address)
                if pa is not None and not any(b <= pa <= e for b, e, _ in regions):
                    return va, mem, address
            va += length
        return pc, None, 0

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
