"""The one translation walker: single-stage (Bare/Sv39/Sv48/Sv57) and two-stage
(VS-stage + G-stage Bare/Sv39x4/Sv48x4/Sv57x4), as RISC-V privileged 1.12 4.3.2 and the
hypervisor chapter (two-stage address translation) describe it.

Here: what a walk takes and gives (access kinds, PTE bits, causes, WalkConfig, Walk)
and translate()/walk_steps(), the way into the pure-Python reference walker
(pywalk.py). The hot path is the same walk in C (_fillhook.c, a UC_HOOK_TLB_FILL
callback); tests/test_walk.py checks both against each other on random tables.
Python uses its own for its rare walks (HLV/HSV, the debugger, the instruction at
epc when the C walker is not built) and as the fallback fill hook.

Choices where the spec leaves room (the C walker makes the same ones):
- A/D bits are set by the walker, in memory, as QEMU and Spike do (no Svade-style
  faults): A on any access, D on a store, at both stages. A PTE is updated only when
  a bit it needs is clear, and only after every check of that PTE passed.
- The A/D write to a VS-stage PTE is an implicit store for its G-stage translation:
  the G-stage leaf must grant W (and gets its own A/D set), else a guest-page fault
  of the ORIGINAL access type with implicit_write (htinst 0x3020). Implicit reads of
  VS PTEs are G-stage loads (htinst 0x3000).
- HS-level MXR and HLVX do not apply to the G-stage checks of implicit VS PTE
  accesses (they are plain implicit loads/stores), as in Spike's s2xlate.
- Reserved bits 63:54 set (no Svnapot, no Svpbmt) and W without R are page faults at
  either stage; so are D/A/U in a non-leaf PTE and a misaligned superpage.
- hgatp.PPN bits 1:0 are taken as zero (the 16 KiB root must be 16 KiB aligned; the
  spec makes them read as zero).
- A satp/hgatp MODE this walker does not know (WARL: hardware never holds one) is a
  page fault (guest-page fault for hgatp) rather than Bare.
- The final physical address is not checked here (devices are fine); the fill
  hook checks it against its table of allowed ranges.
- perms is what an engine TLB entry may grant for this privilege now: R (MXR and
  HLVX rules included), X, and W only when D is already set at both stages, so a
  store after a load fill refills and sets D.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

LOAD, STORE, FETCH = 0, 1, 2          # access kinds
PROT_R, PROT_W, PROT_X = 1, 2, 4      # Unicorn's UC_PROT_* values
PROT_RWX = PROT_R | PROT_W | PROT_X

PTE_V, PTE_R, PTE_W, PTE_X, PTE_U, PTE_G, PTE_A, PTE_D = 1, 2, 4, 8, 16, 32, 64, 128
PTE_RESERVED = ((1 << 10) - 1) << 54  # N, PBMT and the reserved bits: none implemented
PPN_MASK = (1 << 44) - 1
PAGE_SHIFT = 12

# satp.MODE / hgatp.MODE -> number of levels (0: Bare). The G-stage root has 2 extra VPN bits.
LEVELS = {8: 3, 9: 4, 10: 5}
MODE_NAMES = {0: "Bare", 8: "Sv39", 9: "Sv48", 10: "Sv57"}
G_ROOT_EXTRA_BITS = 2

ACCESS_FAULT = {FETCH: 1, LOAD: 5, STORE: 7}
PAGE_FAULT = {FETCH: 12, LOAD: 13, STORE: 15}
GUEST_PAGE_FAULT = {FETCH: 20, LOAD: 21, STORE: 23}
NEEDED = {LOAD: PROT_R, STORE: PROT_W, FETCH: PROT_X}
ACCESS_NAMES = {LOAD: "load", STORE: "store", FETCH: "fetch"}


class WalkConfig(NamedTuple):
    satp: int          # single stage: satp; two-stage: vsatp (mode Bare/Sv39/48/57, PPN)
    hgatp: int = 0     # G-stage root/mode (Bare/Sv39x4/Sv48x4/Sv57x4); used only if virt
    virt: bool = False # two-stage translation (V=1, or HLV/HSV, or MPRV with MPV)
    priv: int = 1      # effective privilege: 0 = U (or VU), 1 = S (or VS), 3 = M (no first stage)
    sum: bool = False  # SUM of the first stage (sstatus.SUM, or vsstatus.SUM when virt)
    mxr: bool = False  # MXR of the first stage (sstatus.MXR, or vsstatus.MXR when virt)
    hs_mxr: bool = False  # HS-level sstatus.MXR when virt: makes X readable at BOTH stages
    hlvx: bool = False # HLVX: a LOAD that needs execute (not read) permission, at both stages


class Walk(NamedTuple):
    ok: bool
    pa: int = 0        # physical address of va (offset included) when ok
    perms: int = 0     # PROT_* an engine TLB entry for this page may grant now
    cause: int = 0     # when not ok: 1/5/7 access fault, 12/13/15 page fault, 20/21/23 guest-page fault
    gpa: int = 0       # GPA of va when ok (== pa when not virt); when a guest-page fault: the GPA
                       # that faulted (final GPA, or the VS PTE's GPA when implicit)
    implicit: bool = False        # guest-page fault on an implicit VS-stage PTE access
    implicit_write: bool = False  # ... that was an A/D update (htinst 0x3020 vs 0x3000)


if TYPE_CHECKING:             # for annotations only: a Protocol class costs ~0.1 ms to create
    from typing import Protocol

    class Memory(Protocol):   # memory/ram.py's Ram satisfies it (None: not RAM -> access fault)
        def read_u64(self, pa: int) -> int | None: ...
        def write_u64(self, pa: int, value: int) -> None: ...
        def contains(self, pa: int, length: int = 1) -> bool: ...


def translate(mem: Memory, va: int, access: int, cfg: WalkConfig) -> Walk:
    """Translate va for one access under cfg, setting A/D bits in mem as needed."""
    return _python_walk(mem, va, access, cfg, None)


def walk_steps(mem: Memory, va: int, access: int, cfg: WalkConfig) -> list[str]:
    """Every VS and G step of translate() as text, the result last (it has the same
    side effects: A/D bits are set)."""
    lines: list[str] = []
    _python_walk(mem, va, access, cfg, lines.append)
    return lines


def _python_walk(mem, va, access, cfg, log) -> Walk:
    """pywalk.run, imported at the first Python walk (boots walk in C; without bytecode
    the walker's ~200 lines cost ~3 ms to compile), then bound here in its place."""
    global _python_walk
    from .pywalk import run as _python_walk
    return _python_walk(mem, va, access, cfg, log)
