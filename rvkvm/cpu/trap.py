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
    tval2: int = 0             # htval / mtval2: the guest-physical address >> 2
    tinst: int = 0             # htinst / mtinst
    gva: bool = False          # tval is a guest virtual address (HLV/HSV from V=0)

    @property
    def mcause(self) -> int:
        return self.cause | (INTERRUPT_FLAG if self.interrupt else 0)

    @property
    def name(self) -> str:
        names = INTERRUPT_NAMES if self.interrupt else EXCEPTION_NAMES
        return names.get(self.cause, f"cause_{self.cause}")

    def describe(self, came_from, target) -> str:
        """One line for --trace int; `came_from`/`target`: levels (or privileges)."""
        kind = "interrupt" if self.interrupt else "exception"
        extra = f" htval={self.tval2:#x} htinst={self.tinst:#x}" if self.tval2 or self.tinst else ""
        return (f"{kind} {self.name} ({self.mcause:#x}) epc={self.epc:#018x} "
                f"tval={self.tval:#x}{extra} {_name(came_from)}->{_name(target)}")


def _name(level) -> str:
    return PRIV_NAMES[level] if isinstance(level, int) else str(level)


class GuestDied(Exception):
    """The guest cannot continue (trap loop, fetch from nowhere, trap to an M level
    nobody serves). Carries a register dump."""

    def __init__(self, reason: str, dump: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.dump = dump
