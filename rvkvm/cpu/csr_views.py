"""The hart's architectural CSR views and interrupt state (a part of `Hart`).

Some state lives in Unicorn (the S-level fields S code touches natively), some in
Python (`MState`); these methods compose the architectural values from both, and
decide what Unicorn is shown in its mip.
"""
from __future__ import annotations

from unicorn import riscv_const as rc

from .constants import (
    INTERRUPT_PRIORITY,
    MIP_SEIP,
    MIP_SSIP,
    MSTATUS_FS,
    MSTATUS_MIE,
    MSTATUS_MPIE,
    MSTATUS_MPP,
    MSTATUS_MPP_SHIFT,
    MSTATUS_MPRV,
    MSTATUS_MXR,
    MSTATUS_SD,
    MSTATUS_SIE,
    MSTATUS_SPIE,
    MSTATUS_SPP,
    MSTATUS_SUM,
    MSTATUS_TSR,
    MSTATUS_TVM,
    MSTATUS_TW,
    MSTATUS_UBE,
    MSTATUS_VS,
    MSTATUS_XS,
    PRV_M,
    S_INTERRUPTS,
)
from .regs import PC
from .trap import Trap

M64 = (1 << 64) - 1
# mstatus fields Unicorn holds (S code reads and writes them natively) ...
UC_OWNED = (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_UBE | MSTATUS_SPP | MSTATUS_VS |
            MSTATUS_FS | MSTATUS_XS | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_SD)
UC_WRITABLE = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR
# ... and those Python holds: the M-level fields, and the traps Unicorn must enforce below M
PY_OWNED = (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM |
            MSTATUS_TW | MSTATUS_TSR)
XL64 = (2 << 32) | (2 << 34)           # UXL = SXL = 64


class CsrViews:
    """Mixed into Hart (hart.py), whose state it reads: regs, m (MState), virtual_m."""

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
        """S code sets and clears sip.SSIP natively in Unicorn's mip: fold such a change
        back. Only a change from what Python presented counts: right after virtual M
        (which presents nothing) Unicorn's 0 is not S clearing the bit."""
        if self.virtual_m or self._presented_mip < 0:
            return
        uc_mip = self.regs.csr_read(rc.UC_RISCV_REG_MIP)
        changed = (uc_mip ^ self._presented_mip) & MIP_SSIP & self.m.mideleg
        if changed:
            self.m.mip_sw ^= changed
            self._presented_mip ^= changed

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

