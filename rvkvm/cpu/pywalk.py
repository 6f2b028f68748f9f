"""The pure-Python translation walker: the reference the C walker (_fillhook.c) is
checked against (tests/test_walk.py), and what serves Python's walks when the C one
is not built. The contract and the choices both walkers make are in walk.py, whose
translate() and walk_steps() are the way in: this module is imported at the first
Python walk (a boot walks in C)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .walk import (
    ACCESS_FAULT, ACCESS_NAMES, G_ROOT_EXTRA_BITS, GUEST_PAGE_FAULT, LEVELS, LOAD, MODE_NAMES,
    NEEDED, PAGE_FAULT, PAGE_SHIFT, PPN_MASK, PROT_R, PROT_RWX, PROT_W, PROT_X,
    PTE_A, PTE_D, PTE_R, PTE_RESERVED, PTE_U, PTE_V, PTE_W, PTE_X, STORE, Walk, WalkConfig,
)

if TYPE_CHECKING:
    from typing import Callable

    from .walk import Memory
    Log = Callable[[str], None] | None


class _Fault(Exception):
    """Ends a walk: the trap it raises."""

    def __init__(self, cause: int, why: str, gpa: int = 0, implicit: bool = False,
                 implicit_write: bool = False):
        super().__init__(why)
        self.cause, self.why, self.gpa = cause, why, gpa
        self.implicit, self.implicit_write = implicit, implicit_write


def run(mem: Memory, va: int, access: int, cfg: WalkConfig, log: Log) -> Walk:
    """walk.translate (log None) and walk.walk_steps (log collects the steps)."""
    va &= (1 << 64) - 1
    if log:
        log(f"{ACCESS_NAMES[access]} va {va:#x} priv {cfg.priv} virt {int(cfg.virt)}")
    try:
        if cfg.priv == 3 or cfg.satp >> 60 == 0:
            gpa, vs_perms, vs_dirty = va, PROT_RWX, True
            if log:
                log(f"vs: bare, gpa {gpa:#x}" if cfg.virt else f"bare, pa {gpa:#x}")
        else:
            gpa, vs_perms, vs_dirty = _first_stage(mem, va, access, cfg, log)
        if cfg.virt:
            pa, g_perms, g_dirty = _g_stage(mem, gpa, access, access, cfg, None, log)
        else:
            pa, g_perms, g_dirty = gpa, PROT_RWX, True
    except _Fault as fault:
        if log:
            log(f"fault: cause {fault.cause} ({fault.why})"
                + (f", gpa {fault.gpa:#x}" if fault.cause in GUEST_PAGE_FAULT.values() else "")
                + (", implicit " + ("write" if fault.implicit_write else "read")
                   if fault.implicit else ""))
        return Walk(False, cause=fault.cause, gpa=fault.gpa, implicit=fault.implicit,
                    implicit_write=fault.implicit_write)
    perms = vs_perms & g_perms
    if not (vs_dirty and g_dirty):
        perms &= ~PROT_W
    if log:
        log(f"ok: pa {pa:#x} gpa {gpa:#x} perms {_perm_text(perms)}")
    return Walk(True, pa=pa, perms=perms, gpa=gpa)


def _leaf_perms(pte: int, x_readable: bool, hlvx: bool) -> int:
    """PROT_* a leaf grants before U/SUM rules: HLVX reads need X (R ignored); MXR
    makes X pages readable."""
    readable = pte & PTE_X if hlvx else (pte & PTE_R or (x_readable and pte & PTE_X))
    return ((PROT_R if readable else 0) | (PROT_W if pte & PTE_W else 0)
            | (PROT_X if pte & PTE_X else 0))


def _pte_problem(pte: int, level: int) -> str | None:
    """Why this PTE ends the walk with a (guest-)page fault whatever the access, or
    None. Checks that hold for leaves and non-leaves alike, then the non-leaf ones."""
    if pte & PTE_RESERVED:
        return "reserved bits 63:54 set"
    if not pte & PTE_V:
        return "V=0"
    if pte & PTE_W and not pte & PTE_R:
        return "W without R"
    if not pte & (PTE_R | PTE_X):                    # pointer to the next level
        if level == 0:
            return "non-leaf at level 0"
        if pte & (PTE_A | PTE_D | PTE_U):
            return "A/D/U set in a non-leaf"
        return None
    if (pte >> 10) & PPN_MASK & ((1 << (9 * level)) - 1):
        return "misaligned superpage"
    return None


def _is_leaf(pte: int) -> bool:
    return bool(pte & (PTE_R | PTE_X))


def _leaf_address(pte: int, level: int, addr: int) -> int:
    """The address a leaf at `level` maps addr to (superpage offset bits from addr)."""
    span = (1 << (PAGE_SHIFT + 9 * level)) - 1
    return (((pte >> 10) & PPN_MASK) << PAGE_SHIFT) & ~span | (addr & span)


def _first_stage(mem: Memory, va: int, access: int, cfg: WalkConfig, log: Log):
    """(gpa, perms, D set) of the VS-stage (or the only stage when not virt)."""
    mode = cfg.satp >> 60
    levels = LEVELS.get(mode)
    pf = PAGE_FAULT[access]
    if levels is None:
        raise _Fault(pf, f"satp mode {mode} not supported")
    va_bits = PAGE_SHIFT + 9 * levels
    top = va >> (va_bits - 1)
    if top not in (0, (1 << (65 - va_bits)) - 1):
        raise _Fault(pf, f"va not canonical for {MODE_NAMES[mode]}")
    stage = "vs" if cfg.virt else "s"
    table = (cfg.satp & PPN_MASK) << PAGE_SHIFT
    for level in range(levels - 1, -1, -1):
        pte_gpa = table + ((va >> (PAGE_SHIFT + 9 * level)) & 0x1FF) * 8
        pte_pa = _implicit(mem, pte_gpa, LOAD, access, cfg, log)
        pte = mem.read_u64(pte_pa)
        if pte is None:
            raise _Fault(ACCESS_FAULT[access], f"{stage} L{level} PTE at {pte_pa:#x} not in RAM")
        if log:
            log(f"{stage} L{level}: pte @{_where(pte_gpa, pte_pa)} = {pte:#018x}")
        problem = _pte_problem(pte, level)
        if problem:
            raise _Fault(pf, f"{stage} L{level}: {problem}")
        if _is_leaf(pte):
            break
        table = ((pte >> 10) & PPN_MASK) << PAGE_SHIFT
    perms = _leaf_perms(pte, cfg.mxr or (cfg.virt and cfg.hs_mxr), cfg.hlvx)
    if cfg.priv == 0:
        if not pte & PTE_U:
            raise _Fault(pf, f"{stage} L{level}: U=0 page from U-mode")
    elif pte & PTE_U:
        perms &= (PROT_R | PROT_W) if cfg.sum else 0    # S never executes U pages
    if not perms & NEEDED[access]:
        raise _Fault(pf, f"{stage} L{level}: leaf grants {_perm_text(perms)}")
    pte = _set_ad(mem, pte, pte_gpa, pte_pa, access, cfg, log, stage, level)
    return _leaf_address(pte, level, va), perms, bool(pte & PTE_D)


def _implicit(mem: Memory, gpa: int, kind: int, access: int, cfg: WalkConfig, log: Log) -> int:
    """Physical address of a VS PTE at gpa for an implicit load/store (kind)."""
    if not cfg.virt:
        return gpa
    return _g_stage(mem, gpa, kind, access, cfg, kind == STORE, log)[0]


def _set_ad(mem: Memory, pte: int, pte_gpa: int, pte_pa: int, access: int, cfg: WalkConfig,
            log: Log, stage: str, level: int) -> int:
    """Set A (and D for a store) in a leaf that passed its checks; the PTE as it is now."""
    ad = PTE_A | (PTE_D if access == STORE else 0)
    if pte & ad == ad:
        return pte
    if stage == "vs":
        pte_pa = _implicit(mem, pte_gpa, STORE, access, cfg, log)
    pte |= ad
    mem.write_u64(pte_pa, pte)
    if log:
        log(f"{stage} L{level}: set {'A D' if ad & PTE_D else 'A'} -> {pte:#018x}")
    return pte


def _g_stage(mem: Memory, gpa: int, kind: int, access: int, cfg: WalkConfig,
             implicit_write: bool | None, log: Log):
    """(spa, perms, D set) of the G-stage for gpa. kind: the access checked (the
    original one, or LOAD/STORE for an implicit VS PTE access); access: the original
    one, for the cause. implicit_write: None for the final GPA."""
    implicit = implicit_write is not None

    def fault(why: str) -> _Fault:
        return _Fault(GUEST_PAGE_FAULT[access], why, gpa, implicit, bool(implicit_write))

    mode = cfg.hgatp >> 60
    if mode == 0:
        return gpa, PROT_RWX, True
    levels = LEVELS.get(mode)
    if levels is None:
        raise fault(f"hgatp mode {mode} not supported")
    if gpa >> (PAGE_SHIFT + 9 * levels + G_ROOT_EXTRA_BITS):
        raise fault(f"gpa wider than {MODE_NAMES[mode]}x4")
    table = (cfg.hgatp & PPN_MASK & ~3) << PAGE_SHIFT
    for level in range(levels - 1, -1, -1):
        bits = 9 + (G_ROOT_EXTRA_BITS if level == levels - 1 else 0)
        pte_pa = table + ((gpa >> (PAGE_SHIFT + 9 * level)) & ((1 << bits) - 1)) * 8
        pte = mem.read_u64(pte_pa)
        if pte is None:
            raise _Fault(ACCESS_FAULT[access], f"g L{level} PTE at {pte_pa:#x} not in RAM")
        if log:
            log(f"g L{level}: gpa {gpa:#x} pte @{pte_pa:#x} = {pte:#018x}")
        problem = _pte_problem(pte, level)
        if problem:
            raise fault(f"g L{level}: {problem}")
        if _is_leaf(pte):
            break
        table = ((pte >> 10) & PPN_MASK) << PAGE_SHIFT
    if not pte & PTE_U:
        raise fault(f"g L{level}: U=0 (every G-stage access is a U access)")
    perms = _leaf_perms(pte, cfg.hs_mxr and not implicit, cfg.hlvx and not implicit)
    if not perms & NEEDED[kind]:
        raise fault(f"g L{level}: leaf grants {_perm_text(perms)}")
    pte = _set_ad(mem, pte, 0, pte_pa, kind, cfg, log, "g", level)
    return _leaf_address(pte, level, gpa), perms, bool(pte & PTE_D)


def _where(gpa: int, pa: int) -> str:
    return f"{pa:#x}" if gpa == pa else f"gpa {gpa:#x} pa {pa:#x}"


def _perm_text(perms: int) -> str:
    return "".join(c if perms & bit else "-" for c, bit in (("r", PROT_R), ("w", PROT_W), ("x", PROT_X)))
