"""One trap type, and the errors that end a run from inside the hart."""
from __future__ import annotations

from dataclasses import dataclass

from .constants import EXCEPTION_NAMES, INTERRUPT_FLAG, INTERRUPT_NAMES, PRIV_NAMES


@dataclass
class Trap:
    cause: int                 # exception code, or interrupt number when `interrupt`
    epc: int
    tval: int = 0
    interrupt: bool = False
    tval2: int = 0             # htval (H extension, later stage)
    tinst: int = 0             # htinst / mtinst

    @property
    def mcause(self) -> int:
        return self.cause | (INTERRUPT_FLAG if self.interrupt else 0)

    @property
    def name(self) -> str:
        names = INTERRUPT_NAMES if self.interrupt else EXCEPTION_NAMES
        return names.get(self.cause, f"cause_{self.cause}")

    def describe(self, priv_from: int, priv_to: int) -> str:
        kind = "interrupt" if self.interrupt else "exception"
        return (f"{kind} {self.name} ({self.mcause:#x}) epc={self.epc:#018x} "
                f"tval={self.tval:#x} {PRIV_NAMES[priv_from]}->{PRIV_NAMES[priv_to]}")


class GuestDied(Exception):
    """The guest cannot continue (trap loop, fetch from nowhere, trap to an M level
    nobody serves). Carries a register dump."""

    def __init__(self, reason: str, dump: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.dump = dump
