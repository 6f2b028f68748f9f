"""The hart's architectural CSR views and interrupt state (a part of `Hart`).

Some state lives in Unicorn (the S-level fields S code touches natively), some in
Python (`MState`, `HState`, the idle `SRegs` set); these methods compose the
architectural values from both, wherever the loaded context (levels.py) put them,
and decide what Unicorn is shown in its mip.
"""
from __future__ import annotations

from unicorn import riscv_const as rc

from .constants import (
    INTERRUPT_PRIORITY,
    MIP_SEIP,
    MIP_SSIP,
    MIP_VSSIP,
    MSTATUS_FS,
    MSTATUS_GVA,
    MSTATUS_MIE,
    MSTATUS_MPIE,
    MSTATUS_MPP,
    MSTATUS_MPP_SHIFT,
    MSTATUS_MPRV,
    MSTATUS_MPV,
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
    M_INTERRUPTS,
    PRV_M,
    PRV_S,
    S_INTERRUPTS,
    VS_INTERRUPTS,
)
from .csr import HSTATUS_WRITABLE
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
PY_OWNED_H = PY_OWNED | MSTATUS_MPV | MSTATUS_GVA
XL64 = (2 << 32) | (2 << 34)           # UXL = SXL = 64
UXL64 = 2 << 32
SATP_MODES = (0, 8, 9, 10)             # Bare, Sv39, Sv48, Sv57
HGATP_MODES = (0, 8, 9, 10)            # Bare, Sv39x4, Sv48x4, Sv57x4
HGATP_VMID_MASK = ((1 << 14) - 1) << 44   # VMIDLEN = 14
HGATP_PPN_MASK = ((1 << 44) - 1) & ~3     # the 16 KiB root: PPN[1:0] read 0


def _with_sd(status: int) -> int:
    return status | MSTATUS_SD if status & MSTATUS_FS == MSTATUS_FS else status


class CsrViews:
    """Mixed into Hart (hart.py), whose state it reads: regs, m, h, s_hs, s_vs, context."""

    # ------------------------------------------------------------------ where S sets live
    def read_sstatus_hs(self) -> int:
        """HS's sstatus bits, wherever they are now."""
        if self.context == "guest":
            return self.s_hs.status
        return self.regs.csr_read(rc.UC_RISCV_REG_MSTATUS) & UC_OWNED

    def read_vsstatus(self) -> int:
        if self.context == "guest":
            raw = self.regs.csr_read(rc.UC_RISCV_REG_MSTATUS) & UC_OWNED
        else:
            raw = self.s_vs.status
        return _with_sd((raw & ~MSTATUS_SD) | UXL64)

    def write_vsstatus(self, value: int) -> None:
        if self.context == "guest":        # live in Unicorn's mstatus while V=1
            ucms = self.regs.csr_read(rc.UC_RISCV_REG_MSTATUS)
            self.regs.csr_write(rc.UC_RISCV_REG_MSTATUS,
                                (ucms & ~UC_WRITABLE) | (value & UC_WRITABLE))
        else:
            self.s_vs.status = value & UC_WRITABLE

    def read_vsatp_any(self) -> int:
        if self.context == "guest":
            return self.regs.csr_read(rc.UC_RISCV_REG_SATP)
        return self.s_vs.satp

    def write_vsatp(self, value: int) -> None:
        if value >> 60 not in SATP_MODES:  # WARL: an unsupported mode leaves vsatp unchanged
            return
        if self.context == "guest":        # live in Unicorn's satp while V=1
            self.regs.csr_write(rc.UC_RISCV_REG_SATP, value)
            self.flush_tlb()
            self.translation.refresh()
        else:
            self.s_vs.satp = value & M64

    # ------------------------------------------------------------------ M level
    def read_mstatus(self) -> int:
        value = (self.read_sstatus_hs() & ~MSTATUS_SD) | self.m.mstatus | XL64
        return _with_sd(value)

    def write_mstatus(self, value: int) -> None:
        mpp = (value >> MSTATUS_MPP_SHIFT) & 3
        if mpp == 2:                       # reserved: WARL, keep a legal value
            value &= ~MSTATUS_MPP
        old = self.m.mstatus
        self.m.mstatus = value & (PY_OWNED_H if self.has_h else PY_OWNED)
        ucms = self.regs.csr_read(rc.UC_RISCV_REG_MSTATUS)
        self.regs.csr_write(rc.UC_RISCV_REG_MSTATUS,
                            (ucms & ~UC_WRITABLE) | (value & UC_WRITABLE))
        self.update_trap_bits()
        if (old ^self.m.mstatus) & (MSTATUS_MPRV | MSTATUS_MPP | MSTATUS_MPV):
            self.translation.mprv_changed()

    def read_satp(self) -> int:
        """satp as M (or HS under TVM) sees it: HS's, wherever it is now."""
        if self.context == "host":
            return self.regs.csr_read(rc.UC_RISCV_REG_SATP)
        return self.s_hs.satp

    def write_satp(self, value: int) -> None:
        if value >> 60 not in SATP_MODES:  # WARL: an unsupported mode leaves satp unchanged
            return
        if self.context == "host":
            self.regs.csr_write(rc.UC_RISCV_REG_SATP, value)
            self.flush_tlb()
            self.translation.refresh()     # the hook's pinned satp, under TVM
        else:
            self.s_hs.satp = value
            self.translation.mprv_changed()

    def read_mideleg(self) -> int:
        """With H, the VS-level interrupts are always delegated to HS (spec 8.4.2)."""
        return self.m.mideleg | (VS_INTERRUPTS if self.has_h else 0)

    def write_mideleg(self, value: int) -> None:
        self.m.mideleg = value & S_INTERRUPTS
        if self.context != "guest":
            # Unicorn needs it: S writes to sie are masked by it, native S interrupts obey it
            self.regs.csr_write(rc.UC_RISCV_REG_MIDELEG, self.m.mideleg)

    def _hs_sie(self) -> int:
        if self.context == "guest":
            return self.s_hs.ie
        return self.regs.csr_read(rc.UC_RISCV_REG_MIE) & S_INTERRUPTS

    def read_mie(self) -> int:
        uc_mie = self.regs.csr_read(rc.UC_RISCV_REG_MIE)
        hs_sie = self.s_hs.ie if self.context == "guest" else uc_mie & S_INTERRUPTS
        return (uc_mie & M_INTERRUPTS) | hs_sie | self.read_hie()

    def write_mie(self, value: int) -> None:
        uc_mie = self.regs.csr_read(rc.UC_RISCV_REG_MIE)
        if self.context == "guest":        # Unicorn's S bits are vsie now
            self.s_hs.ie = value & S_INTERRUPTS
            self.regs.csr_write(rc.UC_RISCV_REG_MIE, (uc_mie & ~M_INTERRUPTS) | (value & M_INTERRUPTS))
        else:
            self.regs.csr_write(rc.UC_RISCV_REG_MIE, value & (S_INTERRUPTS | M_INTERRUPTS))
        if self.has_h:
            self.write_hie(value & VS_INTERRUPTS)

    def read_mip(self) -> int:
        self._sync_sip()
        return self.m.mip_sw | self.m.mip_lines | self.read_hvip()

    def read_mip_sw(self) -> int:
        self._sync_sip()
        return self.m.mip_sw | (self.m.mip_lines & ~MIP_SEIP) | self.read_hvip()

    def write_mip_sw(self, value: int) -> None:
        self._sync_sip()
        self.m.mip_sw = value & S_INTERRUPTS
        if self.has_h:                     # mip.VSSIP aliases hip.VSSIP
            self.write_hvip_bits(MIP_VSSIP, value)

    # ------------------------------------------------------------------ counters
    def read_counter(self, name: str) -> int:
        reg = rc.UC_RISCV_REG_MCYCLE if name == "cycle" else rc.UC_RISCV_REG_MINSTRET
        return (self.regs.csr_read(reg) + getattr(self.m, name + "_offset")) & M64

    def write_counter(self, name: str, value: int) -> None:
        """Unicorn drops minstret/mcycle writes: keep the difference to its count."""
        reg = rc.UC_RISCV_REG_MCYCLE if name == "cycle" else rc.UC_RISCV_REG_MINSTRET
        # the write takes effect after this instruction retires (spec 3.3.1)
        setattr(self.m, name + "_offset", (value - self.regs.csr_read(reg) - 1) & M64)

    def read_time_csr(self) -> int:
        """`time`; in V=1 offset by htimedelta (spec 8.2.9). Python serves it when the
        engine does not (see Hart.sync_time_source): maybe it may now."""
        self.sync_time_source()
        return (self.clock.mtime() + (self.h.htimedelta if self.context == "guest" else 0)) & M64

    # ------------------------------------------------------------------ hypervisor
    def write_hstatus(self, value: int) -> None:
        self.h.hstatus = value & HSTATUS_WRITABLE
        self.update_trap_bits()

    def write_hgatp(self, value: int) -> None:
        mode = value >> 60
        if mode not in HGATP_MODES:        # not ignored as for satp: WARL to Bare (spec 8.2.10)
            value = 0
        self.h.hgatp = (value & ((0xF << 60) | HGATP_VMID_MASK | HGATP_PPN_MASK))
        if mode == 0:
            self.h.hgatp &= ~HGATP_PPN_MASK
        self.translation.flush_gstage()

    def read_hie(self) -> int:
        if not self.has_h:
            return 0
        hie = self.h.hie
        if self.context == "guest":        # the delegated bits are in Unicorn's sie now
            deleg = self.h.hideleg & VS_INTERRUPTS
            uc_sie = self.regs.csr_read(rc.UC_RISCV_REG_MIE) & S_INTERRUPTS
            hie = (hie & ~deleg) | ((uc_sie << 1) & deleg)
        return hie

    def write_hie(self, value: int) -> None:
        self.h.hie = value & VS_INTERRUPTS

    def read_hvip(self) -> int:
        if not self.has_h:
            return 0
        if self.context == "guest":        # the guest may have written vsip.SSIP natively
            self._sync_sip()
        return self.h.hvip

    def write_hvip_bits(self, bits: int, value: int) -> None:
        if self.context == "guest":
            self._sync_sip()
        self.h.hvip = (self.h.hvip & ~bits) | (value & bits)

    def read_vsie(self) -> int:
        return (self.read_hie() & self.h.hideleg) >> 1

    def write_vsie(self, value: int) -> None:
        deleg = self.h.hideleg & VS_INTERRUPTS
        self.h.hie = (self.h.hie & ~deleg) | ((value << 1) & deleg)

    def read_vsip(self) -> int:
        return (self.read_hvip() & self.h.hideleg) >> 1

    def write_vsip(self, value: int) -> None:
        if self.h.hideleg & MIP_VSSIP:     # only vsip.SSIP is writable (spec 8.2.12)
            self.write_hvip_bits(MIP_VSSIP, value << 1)

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
        back (into mip.SSIP at V=0, into hvip.VSSIP at V=1). Only a change from what
        Python presented counts: right after virtual M (which presents nothing)
        Unicorn's 0 is not S clearing the bit. Once per stop of the engine: S code
        changes nothing while Python runs (an idle tick asked 8 times)."""
        if self._sip_folded or self.context == "machine" or self._presented_mip < 0:
            return
        self._sip_folded = True
        uc_mip = self.regs.csr_read(rc.UC_RISCV_REG_MIP)
        if self.context == "guest":
            changed = (uc_mip ^ self._presented_mip) & MIP_SSIP & (self.h.hideleg >> 1)
            if changed:
                self.h.hvip ^= changed << 1
                self._presented_mip ^= changed
            return
        changed = (uc_mip ^ self._presented_mip) & MIP_SSIP & self.m.mideleg
        if changed:
            self.m.mip_sw ^= changed
            self._presented_mip ^= changed

    def pending_enabled(self) -> int:
        self._sync_sip()
        pending = self.m.mip_sw | self.m.mip_lines | self.h.hvip
        return pending & self.read_mie() if pending else 0

    def present_interrupts(self, force: bool = False) -> None:
        """Show Unicorn the interrupts of the S level it runs, which it then takes
        natively: HS's delegated ones at V=0, VS's (moved to the S positions) at V=1;
        nothing in M."""
        if self.context != "machine":
            self._sync_sip()
        value = self._interrupts_to_present()
        if value != self._presented_mip or (force and value):
            self.regs.csr_write(rc.UC_RISCV_REG_MIP, value)
            self._presented_mip = value

    def _interrupts_to_present(self) -> int:
        """Unicorn's mip for the loaded context (see present_interrupts)."""
        if self.context == "machine":
            return 0
        if self.context == "guest":
            return (self.h.hvip & self.h.hideleg & VS_INTERRUPTS) >> 1
        return (self.m.mip_sw | self.m.mip_lines) & self.m.mideleg & S_INTERRUPTS

    def check_interrupts(self) -> bool:
        """Enter a pending, enabled interrupt Unicorn cannot take itself: an M-level
        one, an HS-level one while V=1 (HS interrupts preempt a guest whatever its
        SIE), or a VS-level one HS did not delegate. True if one was taken."""
        self.sie_watch = False
        pending = self.pending_enabled()
        if not pending:
            self.present_interrupts()
            return False
        level = self.level
        mideleg = self.read_mideleg()
        take = 0
        m_pending = pending & ~mideleg
        if m_pending and (level.priv < PRV_M or self.m.mstatus & MSTATUS_MIE):
            take = m_pending
        elif level.priv < PRV_M:
            hs_pending = pending & mideleg & ~self.h.hideleg
            if not level.virt:
                # HS's own S interrupts are presented to Unicorn; only the VS ones
                # kept at HS need Python
                hs_pending &= VS_INTERRUPTS
                if level.priv == PRV_S and not self.regs.csr_read(rc.UC_RISCV_REG_MSTATUS) & MSTATUS_SIE:
                    # HS sets SIE natively: the hart runs block by block until it does
                    # (Hart._run_one_block), from the next block on (a no-op between runs)
                    self.sie_watch = bool(hs_pending)
                    if self.sie_watch:
                        self.uc.emu_stop()
                    hs_pending = 0
            take = hs_pending
        if not take:
            self.present_interrupts()
            return False
        for irq in INTERRUPT_PRIORITY:
            if take >> irq & 1:
                self.stats["interrupt_m" if take is m_pending else "interrupt_hs"] += 1
                self.take_trap(Trap(irq, self.regs.read(PC), interrupt=True))
                return True
        return False
