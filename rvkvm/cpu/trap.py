"""One trap type, and the errors that end a run from inside the hart."""
from __future__ import annotations

from ..records import slots_eq, slots_repr
from .constants import EXCEPTION_NAMES, INTERRUPT_FLAG, INTERRUPT_NAMES, PRIV_NAMES


class Trap:
    """One trap to take (made per trap: a slotted class, quick to build)."""
    __slots__ = ("cause", "epc", "tval", "interrupt", "tval2", "tinst", "gva")

    def __init__(self, cause: int, epc: int, tval: int = 0, interrupt: bool = False,
                 tval2: int = 0, tinst: int = 0, gva: bool = False):
        self.cause = cause         # exception code, or interrupt number when `interrupt`
        self.epc = epc
        self.tval = tval
        self.interrupt = interrupt
        self.tval2 = tval2         # htval / mtval2: the guest-physical address >> 2
        self.tinst = tinst         # htinst / mtinst
        self.gva = gva             # tval is a guest virtual address (HLV/HSV from V=0)

    __repr__ = slots_repr
    __eq__ = slots_eq

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
