"""The architectural state Python holds (Unicorn's copies of it are unused or absent).

- `MState`: the M-level CSRs (guest M code runs in Unicorn's S-mode, see levels.py).
- `HState`: the hypervisor CSRs; Unicorn has no H extension.
- `SRegs`: one set of supervisor CSRs. Unicorn's S CSRs hold HS's set outside V=1 and
  VS's set (vsstatus, vstvec, ...) inside it; the other set waits in an `SRegs` and
  the two change places at every V transition (Hart._swap_s_regs).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MState:
    mstatus: int = 0          # only the bits Python owns (csr_views.PY_OWNED)
    medeleg: int = 0
    mideleg: int = 0
    mtvec: int = 0
    mscratch: int = 0
    mepc: int = 0
    mcause: int = 0
    mtval: int = 0
    mtval2: int = 0
    mtinst: int = 0
    mcounteren: int = 0
    mcountinhibit: int = 0
    menvcfg: int = 0
    pmpcfg: list = field(default_factory=lambda: [0] * 8)
    pmpaddr: list = field(default_factory=lambda: [0] * 64)
    mip_sw: int = 0           # SSIP/STIP/SEIP as written by M code or the firmware
    mip_lines: int = 0        # lines driven by devices (MTIP, MSIP, MEIP, SEIP)
    # minstret/mcycle writes: offsets from the engine's own counts (reads stay monotonic)
    instret_offset: int = 0
    cycle_offset: int = 0


@dataclass
class HState:
    hstatus: int = 0
    hedeleg: int = 0
    hideleg: int = 0
    hie: int = 0              # VS bits: the storage of vsie too (through hideleg)
    hvip: int = 0             # VS bits: the storage of vsip.SSIP too
    hcounteren: int = 0
    htval: int = 0
    htinst: int = 0
    hgatp: int = 0
    htimedelta: int = 0
    henvcfg: int = 0
    bpc: int = 0              # the guest pc at the last exit from V=1 (not a CSR)


@dataclass
class SRegs:
    """A supervisor CSR set as Unicorn holds it: sstatus bits (csr_views.UC_OWNED),
    stvec, sscratch, sepc, scause, stval, satp and the S bits of sie (1, 5, 9)."""
    status: int = 0
    tvec: int = 0
    scratch: int = 0
    epc: int = 0
    cause: int = 0
    tval: int = 0
    satp: int = 0
    ie: int = 0
