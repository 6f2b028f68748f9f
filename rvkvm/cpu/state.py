"""The architectural state Python holds (Unicorn's copies of it are unused or absent).

- `MState`: the M-level CSRs (guest M code runs in Unicorn's S-mode, see levels.py).
- `HState`: the hypervisor CSRs; Unicorn has no H extension.
- `SRegs`: one set of supervisor CSRs. Unicorn's S CSRs hold HS's set outside V=1 and
  VS's set (vsstatus, vstvec, ...) inside it; the other set waits in an `SRegs` and
  the two change places at every V transition (Hart._swap_s_regs).
"""
from __future__ import annotations

from ..records import slots_repr


class MState:
    __slots__ = ("mstatus", "medeleg", "mideleg", "mtvec", "mscratch", "mepc", "mcause",
                 "mtval", "mtval2", "mtinst", "mcounteren", "mcountinhibit", "menvcfg",
                 "pmpcfg", "pmpaddr", "mip_sw", "mip_lines", "instret_offset", "cycle_offset")

    def __init__(self):
        self.mstatus = 0          # only the bits Python owns (csr_views.PY_OWNED)
        self.medeleg = self.mideleg = self.mtvec = self.mscratch = 0
        self.mepc = self.mcause = self.mtval = self.mtval2 = self.mtinst = 0
        self.mcounteren = self.mcountinhibit = self.menvcfg = 0
        self.pmpcfg = [0] * 8     # the even pmpcfgN of RV64, one 64-bit register each
        self.pmpaddr = [0] * 64
        self.mip_sw = 0           # SSIP/STIP/SEIP as written by M code or the firmware
        self.mip_lines = 0        # lines driven by devices (MTIP, MSIP, MEIP, SEIP)
        # minstret/mcycle writes: offsets from the engine's own counts (reads stay monotonic)
        self.instret_offset = self.cycle_offset = 0

    __repr__ = slots_repr


class HState:
    __slots__ = ("hstatus", "hedeleg", "hideleg", "hie", "hvip", "hcounteren", "htval",
                 "htinst", "hgatp", "htimedelta", "henvcfg", "bpc")

    def __init__(self):
        self.hstatus = self.hedeleg = self.hideleg = 0
        self.hie = 0              # VS bits: the storage of vsie too (through hideleg)
        self.hvip = 0             # VS bits: the storage of vsip.SSIP too
        self.hcounteren = self.htval = self.htinst = self.hgatp = 0
        self.htimedelta = self.henvcfg = 0
        self.bpc = 0              # the guest pc at the last exit from V=1 (not a CSR)

    __repr__ = slots_repr


class SRegs:
    """A supervisor CSR set as Unicorn holds it: sstatus bits (csr_views.UC_OWNED),
    stvec, sscratch, sepc, scause, stval, satp and the S bits of sie (1, 5, 9)."""
    __slots__ = ("status", "tvec", "scratch", "epc", "cause", "tval", "satp", "ie")

    def __init__(self):
        self.status = self.tvec = self.scratch = self.epc = 0
        self.cause = self.tval = self.satp = self.ie = 0

    __repr__ = slots_repr
