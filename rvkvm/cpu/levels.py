"""Privilege levels, and what each one puts into Unicorn.

The architecture has five levels: M, HS (S when the H extension is off), U, VS and
VU. Unicorn has M, S and U and no V, so every level runs in Unicorn's S or U with a
*context* loaded around it:

| context | levels | Unicorn's S CSRs hold | translation               | Unicorn PRIV |
|---------|--------|-----------------------|---------------------------|--------------|
| machine | M      | HS's                  | identity map (mmode_map)  | S            |
| host    | HS, U  | HS's                  | Unicorn's walker, satp    | S, U         |
| guest   | VS, VU | VS's (vsstatus, ...)  | the two-stage fill hook   | S, U         |

Within a context, S and U switch natively (sret, traps to S), so below M the
level is "the context's level for Unicorn's PRIV". Between contexts only Python
switches (mret, sret with SPV, traps that leave V=1), through `Hart.set_level`, the
one place a level is chosen. What differs per context lives in the Context
objects: the trap bits Unicorn must enforce, the interrupts it is shown, where the
S-level CSRs live and how addresses are translated.
"""
from __future__ import annotations

from typing import NamedTuple

from .constants import PRV_M, PRV_S, PRV_U


class Level(NamedTuple):
    name: str
    priv: int           # architectural privilege: 3 M, 1 S/HS/VS, 0 U/VU
    virt: bool          # V
    context: str        # "machine", "host" or "guest"
    uc_priv: int        # the Unicorn PRIV it runs in

    def __str__(self) -> str:
        return self.name


M = Level("M", PRV_M, False, "machine", PRV_S)
HS = Level("HS", PRV_S, False, "host", PRV_S)
U = Level("U", PRV_U, False, "host", PRV_U)
VS = Level("VS", PRV_S, True, "guest", PRV_S)
VU = Level("VU", PRV_U, True, "guest", PRV_U)

LEVELS = (M, HS, U, VS, VU)
_BY_PRIV_VIRT = {(lv.priv, lv.virt): lv for lv in LEVELS}


def level_for(priv: int, virt: bool = False) -> Level:
    """The level of architectural privilege `priv` with V = `virt` (M ignores V)."""
    return M if priv == PRV_M else _BY_PRIV_VIRT[(priv, virt)]


def level_in_context(context: str, uc_priv: int) -> Level:
    """The level running now, from the loaded context and Unicorn's PRIV."""
    if context == "machine":
        return M
    return level_for(uc_priv, context == "guest")
