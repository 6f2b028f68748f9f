"""The translation walker (rvkvm/cpu/walk.py) on hand-built tables, rule by rule, and
the native walker (_fillhook.c) against it on random tables."""
from __future__ import annotations

import random

import pytest

from pagetables import LEAF, LEVELS, RWX, SV39, SV48, SV57, ULEAF, PageTables, pte
from rvkvm.cpu import fillhook
from rvkvm.cpu.walk import (
    FETCH, LOAD, PROT_R, PROT_W, PROT_X, PTE_A, PTE_D, PTE_G, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X,
    STORE, Walk, WalkConfig, translate, walk_steps,
)
from rvkvm.memory.ram import Ram

RAM_BASE = 0x8000_0000
ACCESSES = (LOAD, STORE, FETCH)
PF = {LOAD: 13, STORE: 15, FETCH: 12}
GPF = {LOAD: 21, STORE: 23, FETCH: 20}
AF = {LOAD: 5, STORE: 7, FETCH: 1}
MODES = (SV39, SV48, SV57)
DATA = RAM_BASE + 0x40_0000            # target pages
POOL = RAM_BASE + 0x10_0000            # single-stage tables


@pytest.fixture
def ram():
    return Ram(RAM_BASE, 16 << 20)


def single(ram, mode=SV39):
    return PageTables(ram, POOL, mode)


def cfg_of(tables, **kw):
    return WalkConfig(tables.satp, **kw)


# ----------------------------------------------------------------------------- single stage

def test_bare_is_identity_with_every_permission(ram):
    walk = translate(ram, 0x1234_5678, STORE, WalkConfig(0))
    assert walk == Walk(True, 0x1234_5678, PROT_R | PROT_W | PROT_X, 0, 0x1234_5678)


def test_m_mode_has_no_first_stage(ram):
    t = single(ram)                      # nothing mapped: any S walk would fault
    walk = translate(ram, 0x5000, LOAD, cfg_of(t, priv=3))
    assert walk.ok and walk.pa == 0x5000


@pytest.mark.parametrize("mode", MODES)
def test_4k_leaf_each_mode(ram, mode):
    t = single(ram, mode)
    va = 0x12_3456_7000 if mode != SV39 else 0x12_3456_7000 & ((1 << 38) - 1)
    t.map(va, DATA + 0x3000)
    walk = translate(ram, va + 0x9A8, LOAD, cfg_of(t))
    assert walk.ok and walk.pa == DATA + 0x39A8 and walk.gpa == walk.pa
    assert walk.perms == PROT_R | PROT_W | PROT_X


@pytest.mark.parametrize("mode", MODES)
def test_superpage_at_every_level(ram, mode):
    t = single(ram, mode)
    for level in range(1, LEVELS[mode]):
        span = 1 << (12 + 9 * level)
        va = span * 3                    # a distinct slot at this level
        t = single(Ram(RAM_BASE, 16 << 20), mode)
        target = span * 5                # aligned at its level; outside RAM is fine
        t.map(va, target, level=level)
        walk = translate(t.ram, va + span - 8, LOAD, cfg_of(t))
        assert walk.ok and walk.pa == target + span - 8, level


@pytest.mark.parametrize("mode", MODES)
def test_misaligned_superpage_faults(ram, mode):
    t = single(ram, mode)
    level = LEVELS[mode] - 1
    t.map(0, (1 << (12 + 9 * level)) + 0x1000, level=level)     # PPN low bits set
    for access in ACCESSES:
        assert translate(ram, 0x10, access, cfg_of(t)).cause == PF[access]


@pytest.mark.parametrize("mode", MODES)
def test_non_canonical_va_faults(ram, mode):
    t = single(ram, mode)
    bits = 12 + 9 * LEVELS[mode]
    high = ((1 << 64) - 1) & ~((1 << (bits - 1)) - 1)           # canonical, sign bit 1
    t.map(high, DATA)
    assert translate(ram, high, LOAD, cfg_of(t)).ok
    for bad in (1 << (bits - 1), high ^ (1 << 63)):
        for access in ACCESSES:
            walk = translate(ram, bad, access, cfg_of(t))
            assert not walk.ok and walk.cause == PF[access], hex(bad)


@pytest.mark.parametrize("bad,why", [
    (0, "V=0"),
    (PTE_V | PTE_W | PTE_X | PTE_A | PTE_D, "W without R"),
    (PTE_V | PTE_W, "W without R, non-leaf shape"),
] + [(LEAF | (1 << bit), f"reserved bit {bit}") for bit in range(54, 64)])
def test_bad_leaf_encodings_are_page_faults(ram, bad, why):
    t = single(ram)
    leaf = t.map(0x7000, DATA)
    t.set(leaf, pte(DATA, bad) if bad else 0)
    for access in ACCESSES:
        walk = translate(ram, 0x7000, access, cfg_of(t))
        assert (walk.ok, walk.cause) == (False, PF[access]), why


@pytest.mark.parametrize("bits", [PTE_A, PTE_D, PTE_U, 1 << 60])
def test_non_leaf_with_a_d_u_or_reserved_faults(ram, bits):
    t = single(ram)
    t.map(0x7000, DATA)
    root_entry = t.get(t.root)
    t.set(t.root, root_entry | bits)
    assert translate(ram, 0x7000, LOAD, cfg_of(t)).cause == 13


def test_pointer_at_level_0_faults(ram):
    t = single(ram)
    leaf = t.map(0x7000, DATA)
    t.set(leaf, pte(DATA, PTE_V))
    assert translate(ram, 0x7000, STORE, cfg_of(t)).cause == 15


@pytest.mark.parametrize("flags,mxr,allowed", [
    (PTE_R, False, {LOAD}),
    (PTE_R | PTE_W, False, {LOAD, STORE}),
    (PTE_X, False, {FETCH}),
    (PTE_X, True, {LOAD, FETCH}),              # MXR: X pages are readable
    (PTE_R | PTE_X, False, {LOAD, FETCH}),
    (RWX, False, {LOAD, STORE, FETCH}),
])
def test_leaf_permissions(ram, flags, mxr, allowed):
    t = single(ram)
    t.map(0x7000, DATA, PTE_V | PTE_A | PTE_D | flags)
    for access in ACCESSES:
        walk = translate(ram, 0x7000, access, cfg_of(t, mxr=mxr))
        assert walk.ok == (access in allowed), access
        if not walk.ok:
            assert walk.cause == PF[access]


@pytest.mark.parametrize("priv,u_bit,sum_,allowed", [
    (0, True, False, {LOAD, STORE, FETCH}),
    (0, False, False, set()),                 # U-mode needs U=1
    (0, False, True, set()),
    (1, False, False, {LOAD, STORE, FETCH}),
    (1, True, False, set()),                  # S on a U page: needs SUM ...
    (1, True, True, {LOAD, STORE}),           # ... and never fetches
])
def test_u_bit_and_sum(ram, priv, u_bit, sum_, allowed):
    t = single(ram)
    t.map(0x7000, DATA, ULEAF if u_bit else LEAF)
    for access in ACCESSES:
        walk = translate(ram, 0x7000, access, cfg_of(t, priv=priv, sum=sum_))
        assert walk.ok == (access in allowed), access


def test_hlvx_needs_x_and_ignores_r(ram):
    t = single(ram)
    t.map(0x7000, DATA, PTE_V | PTE_A | PTE_X)
    t.map(0x8000, DATA, PTE_V | PTE_A | PTE_R)
    assert translate(ram, 0x7000, LOAD, cfg_of(t, hlvx=True)).ok
    assert translate(ram, 0x8000, LOAD, cfg_of(t, hlvx=True)).cause == 13
    assert translate(ram, 0x8000, LOAD, cfg_of(t)).ok


def test_a_and_d_are_set_in_memory_and_w_waits_for_d(ram):
    t = single(ram)
    leaf = t.map(0x7000, DATA, PTE_V | PTE_R | PTE_W)
    load = translate(ram, 0x7000, LOAD, cfg_of(t))
    assert load.ok and load.perms == PROT_R            # D clear: no W in the TLB entry
    assert t.get(leaf) & (PTE_A | PTE_D) == PTE_A
    store = translate(ram, 0x7000, STORE, cfg_of(t))
    assert store.ok and store.perms == PROT_R | PROT_W
    assert t.get(leaf) & (PTE_A | PTE_D) == PTE_A | PTE_D


def test_faulting_walk_sets_no_a_bit(ram):
    t = single(ram)
    leaf = t.map(0x7000, DATA, PTE_V | PTE_R)
    assert translate(ram, 0x7000, STORE, cfg_of(t)).cause == 15
    assert t.get(leaf) == pte(DATA, PTE_V | PTE_R)


def test_pte_outside_ram_is_an_access_fault(ram):
    t = single(ram)
    t.map(0x7000, DATA)
    t.set(t.root, pte(0x1000_0000, PTE_V))            # next table is not RAM
    for access in ACCESSES:
        assert translate(ram, 0x7000, access, cfg_of(t)).cause == AF[access]
    # a root outside RAM too
    assert translate(ram, 0, LOAD, WalkConfig((SV39 << 60) | 0x10)).cause == 5


def test_final_address_is_not_checked_against_ram(ram):
    t = single(ram)
    t.map(0x7000, 0x1000_0000)                        # a device, say
    assert translate(ram, 0x7010, STORE, cfg_of(t)).pa == 0x1000_0010


def test_walk_steps_show_every_level(ram):
    t = single(ram, SV48)
    t.map(0x7000, DATA, PTE_V | PTE_R)
    lines = walk_steps(ram, 0x7000, LOAD, cfg_of(t))
    assert [line.split(":")[0] for line in lines[1:5]] == ["s L3", "s L2", "s L1", "s L0"]
    assert "set A" in lines[5] and lines[-1].startswith("ok: pa 0x80400000")
    assert walk_steps(ram, 0x7000, STORE, cfg_of(t))[-1].startswith("fault: cause 15")


# ----------------------------------------------------------------------------- two stages

G_POOL = RAM_BASE + 0x20_0000          # G-stage tables, host physical
GUEST = RAM_BASE + 0x80_0000           # SPA of guest RAM: GPA x -> GUEST + (x - RAM_BASE)
GUEST_SIZE = 4 << 20
VS_POOL = RAM_BASE + 0x10_0000         # VS tables, guest physical


def to_spa(gpa):
    return GUEST + gpa - RAM_BASE


class Guest:
    """A guest: G-stage mapping its RAM at GUEST with 4 KiB leaves, and its VS tables."""

    def __init__(self, ram, gmode=SV39, vsmode=SV39, gflags=ULEAF):
        self.ram = ram
        self.g = PageTables(ram, G_POOL, gmode, g=True)
        for gpa in range(RAM_BASE, RAM_BASE + GUEST_SIZE, 4096):
            self.g.map(gpa, to_spa(gpa), gflags)
        self.vs = PageTables(ram, VS_POOL, vsmode, to_host=to_spa)

    def cfg(self, **kw):
        return WalkConfig(self.vs.satp, self.g.satp, True, **kw)

    def g_leaf(self, gpa):
        return self.g.slot(gpa, 0)


def test_two_stage_translates_both_stages(ram):
    guest = Guest(ram)
    guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000)
    walk = translate(ram, 0x40_0123, LOAD, guest.cfg())
    assert walk.ok and walk.gpa == RAM_BASE + 0x30_0123 and walk.pa == GUEST + 0x30_0123


@pytest.mark.parametrize("gmode", MODES)
def test_g_stage_x4_modes_use_a_16k_root(ram, gmode):
    g = PageTables(ram, G_POOL, gmode, g=True)
    width = 12 + 9 * LEVELS[gmode] + 2
    top = (1 << width) - 4096                          # the last page: root index 2047
    g.map(top, DATA, ULEAF)
    cfg = WalkConfig(0, g.satp, True)
    walk = translate(ram, top + 8, LOAD, cfg)
    assert walk.ok and walk.pa == DATA + 8 and walk.gpa == top + 8
    assert g.index(top, LEVELS[gmode] - 1) == 2047
    for access in ACCESSES:                            # one bit wider: guest-page fault
        wide = translate(ram, 1 << width, access, cfg)
        assert (wide.cause, wide.gpa, wide.implicit) == (GPF[access], 1 << width, False)


def test_hgatp_ppn_low_bits_are_ignored(ram):
    g = PageTables(ram, G_POOL, SV39, g=True)
    g.map(RAM_BASE, DATA, ULEAF)
    assert translate(ram, RAM_BASE, LOAD, WalkConfig(0, g.satp | 3, True)).pa == DATA


@pytest.mark.parametrize("gmode,vsmode", [(g, v) for g in MODES for v in MODES])
def test_every_mode_pair(ram, gmode, vsmode):
    guest = Guest(ram, gmode, vsmode)
    guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000)
    walk = translate(ram, 0x40_0008, STORE, guest.cfg())
    assert walk.ok and walk.pa == GUEST + 0x30_0008


def test_g_superpage_and_misaligned_g_superpage(ram):
    g = PageTables(ram, G_POOL, SV48, g=True)
    g.map(RAM_BASE, DATA - 0x40_0000, ULEAF, level=1)          # 2 MiB, aligned
    g.map(RAM_BASE + 0x20_0000, DATA + 0x1000, ULEAF, level=1)  # misaligned
    cfg = WalkConfig(0, g.satp, True)
    assert translate(ram, RAM_BASE + 0x1234, LOAD, cfg).pa == DATA - 0x40_0000 + 0x1234
    assert translate(ram, RAM_BASE + 0x20_0000, LOAD, cfg).cause == 21


def test_bare_vs_stage_still_goes_through_g(ram):
    guest = Guest(ram)
    walk = translate(ram, RAM_BASE + 0x10, STORE, WalkConfig(0, guest.g.satp, True))
    assert walk.ok and walk.pa == GUEST + 0x10 and walk.gpa == RAM_BASE + 0x10


def test_m_priv_with_virt_is_g_stage_only(ram):
    guest = Guest(ram)
    walk = translate(ram, RAM_BASE + 0x10, LOAD, guest.cfg(priv=3))
    assert walk.ok and walk.pa == GUEST + 0x10


def test_g_stage_leaf_needs_u(ram):
    guest = Guest(ram)
    guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000)
    guest.g.map(RAM_BASE + 0x30_0000, to_spa(RAM_BASE + 0x30_0000), LEAF)   # U=0
    for access in ACCESSES:
        walk = translate(ram, 0x40_0000, access, guest.cfg())
        assert (walk.cause, walk.gpa, walk.implicit) == (GPF[access], RAM_BASE + 0x30_0000, False)


def test_g_stage_permissions_intersect(ram):
    guest = Guest(ram)
    guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000)
    g_leaf = guest.g.map(RAM_BASE + 0x30_0000, to_spa(RAM_BASE + 0x30_0000),
                         PTE_V | PTE_U | PTE_R | PTE_A | PTE_D)
    load = translate(ram, 0x40_0000, LOAD, guest.cfg())
    assert load.ok and load.perms == PROT_R
    store = translate(ram, 0x40_0000, STORE, guest.cfg())
    assert (store.cause, store.gpa) == (23, RAM_BASE + 0x30_0000)
    assert translate(ram, 0x40_0000, FETCH, guest.cfg()).cause == 20
    assert guest.g.get(g_leaf) & PTE_D                # untouched


def test_hs_mxr_reads_x_pages_at_both_stages_vs_mxr_only_at_vs(ram):
    guest = Guest(ram)
    guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000, PTE_V | PTE_X | PTE_A)     # VS: X only
    guest.vs.map(0x41_0000, RAM_BASE + 0x31_0000, PTE_V | PTE_R | PTE_A)     # VS: R only
    guest.g.map(RAM_BASE + 0x31_0000, to_spa(RAM_BASE + 0x31_0000),
                PTE_V | PTE_U | PTE_X | PTE_A)                                # G: X only
    assert translate(ram, 0x40_0000, LOAD, guest.cfg()).cause == 13
    assert translate(ram, 0x40_0000, LOAD, guest.cfg(mxr=True)).ok
    assert translate(ram, 0x40_0000, LOAD, guest.cfg(hs_mxr=True)).ok
    assert translate(ram, 0x41_0000, LOAD, guest.cfg(mxr=True)).cause == 21
    walk = translate(ram, 0x41_0000, LOAD, guest.cfg(hs_mxr=True))
    assert walk.ok and walk.perms == PROT_R          # VS R only, G X made readable


def test_hlvx_at_both_stages(ram):
    guest = Guest(ram)
    guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000, PTE_V | PTE_X | PTE_R | PTE_A)
    guest.g.map(RAM_BASE + 0x30_0000, to_spa(RAM_BASE + 0x30_0000),
                PTE_V | PTE_U | PTE_R | PTE_A)                                # G: no X
    assert translate(ram, 0x40_0000, LOAD, guest.cfg()).ok
    assert translate(ram, 0x40_0000, LOAD, guest.cfg(hlvx=True)).cause == 21
    guest.g.map(RAM_BASE + 0x30_0000, to_spa(RAM_BASE + 0x30_0000),
                PTE_V | PTE_U | PTE_X | PTE_A)
    assert translate(ram, 0x40_0000, LOAD, guest.cfg(hlvx=True)).ok


def test_sum_and_u_at_the_vs_stage(ram):
    guest = Guest(ram)
    guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000, ULEAF)
    assert translate(ram, 0x40_0000, LOAD, guest.cfg(priv=1)).cause == 13
    assert translate(ram, 0x40_0000, LOAD, guest.cfg(priv=1, sum=True)).ok
    assert translate(ram, 0x40_0000, FETCH, guest.cfg(priv=1, sum=True)).cause == 12
    assert translate(ram, 0x40_0000, FETCH, guest.cfg(priv=0)).ok


@pytest.mark.parametrize("access", ACCESSES)
def test_g_fault_on_an_implicit_pte_read(ram, access):
    guest = Guest(ram)
    guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000)
    l1 = guest.vs.slot(0x40_0000, 1)                 # GPA of the level-1 PTE
    guest.g.set(guest.g_leaf(l1), 0)                 # its guest page is unmapped
    walk = translate(ram, 0x40_0000, access, guest.cfg())
    assert (walk.ok, walk.cause, walk.gpa) == (False, GPF[access], l1)
    assert walk.implicit and not walk.implicit_write


@pytest.mark.parametrize("access", ACCESSES)
def test_vs_a_d_update_is_an_implicit_g_store(ram, access):
    guest = Guest(ram)
    leaf = guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000, PTE_V | RWX | PTE_U)   # A/D clear
    guest.g.map(leaf & ~0xFFF, to_spa(leaf), PTE_V | PTE_U | PTE_R | PTE_A | PTE_D)  # no W
    walk = translate(ram, 0x40_0000, access, guest.cfg(priv=0))
    assert (walk.cause, walk.gpa, walk.implicit, walk.implicit_write) == (GPF[access], leaf,
                                                                          True, True)
    assert guest.vs.get(leaf) & PTE_A == 0
    guest.vs.set(leaf, guest.vs.get(leaf) | PTE_A | PTE_D)   # nothing to update: no write
    assert translate(ram, 0x40_0000, access, guest.cfg(priv=0)).ok


def test_g_stage_a_d_set_in_memory(ram):
    guest = Guest(ram, gflags=PTE_V | PTE_U | RWX)           # G leaves without A/D
    leaf = guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000, LEAF)  # VS A/D set: no VS write
    data_g = guest.g_leaf(RAM_BASE + 0x30_0000)
    pt_g = guest.g_leaf(leaf)
    load = translate(ram, 0x40_0000, LOAD, guest.cfg())
    assert load.ok and load.perms == PROT_R | PROT_X         # G D clear: no W yet
    assert guest.g.get(data_g) & (PTE_A | PTE_D) == PTE_A
    assert guest.g.get(pt_g) & (PTE_A | PTE_D) == PTE_A      # implicit read: A only
    store = translate(ram, 0x40_0000, STORE, guest.cfg())
    assert store.ok and store.perms == PROT_R | PROT_W | PROT_X
    assert guest.g.get(data_g) & PTE_D and not guest.g.get(pt_g) & PTE_D


def test_vs_a_d_write_sets_d_on_the_g_leaf_of_the_table(ram):
    guest = Guest(ram, gflags=PTE_V | PTE_U | RWX)
    leaf = guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000, PTE_V | RWX)
    assert translate(ram, 0x40_0000, LOAD, guest.cfg()).ok
    assert guest.vs.get(leaf) & PTE_A
    assert guest.g.get(guest.g_leaf(leaf)) & (PTE_A | PTE_D) == PTE_A | PTE_D


def test_g_pte_outside_ram_is_an_access_fault(ram):
    guest = Guest(ram)
    guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000)
    guest.g.set(guest.g.root + guest.g.index(RAM_BASE, 2) * 8, pte(0x2000_0000, PTE_V))
    for access in ACCESSES:
        assert translate(ram, 0x40_0000, access, guest.cfg()).cause == AF[access]


def test_walk_steps_show_both_stages(ram):
    guest = Guest(ram)
    guest.vs.map(0x40_0000, RAM_BASE + 0x30_0000)
    lines = walk_steps(ram, 0x40_0000, LOAD, guest.cfg())
    stages = [line.split(" ")[0] for line in lines[1:-1]]
    assert stages == ["g", "g", "g", "vs"] * 3 + ["g", "g", "g"]
    assert lines[-1] == f"ok: pa {GUEST + 0x30_0000:#x} gpa {RAM_BASE + 0x30_0000:#x} perms rwx"


# ----------------------------------------------------------------------------- differential

needs_native = pytest.mark.skipif(
    not fillhook.native_available(),
    reason="the native walker (_fillhook.c) is not built: python3 setup.py build_ext --inplace")

WORLD_PAGES = 64                  # RAM of a random world; most PPNs point into it
# The tables of level k live in their own pages, so that most walks go deep: G-stage
# pages 8k..8k+7, VS-stage pages 40+4k..40+4k+3 (k = 0..4), pages 60-63 anything.
GROUPS = {True: (0, 8), False: (40, 4)}           # g: (first page, pages per level)
ENTRIES_USED = 64                 # VA indices mostly below this: the random entries
RAM_PPN = RAM_BASE >> 12
WORLDS, CASES_PER_WORLD, STEPS = 40, 100, 4
ALL_MODES = (0, SV39, SV48, SV57)
MASK64 = (1 << 64) - 1
# chance of each leaf bit: G-stage leaves are mostly usable, VS-stage ones anything
LEAF_BITS = {True: ((PTE_V, 0.98), (PTE_R, 0.95), (PTE_W, 0.7), (PTE_X, 0.6), (PTE_U, 0.93),
                    (PTE_A, 0.6), (PTE_D, 0.5)),
             False: ((PTE_V, 0.97), (PTE_R, 0.9), (PTE_W, 0.6), (PTE_X, 0.5), (PTE_U, 0.7),
                     (PTE_A, 0.5), (PTE_D, 0.5), (PTE_G, 0.2))}


def group_page(g, level, rng):
    first, count = GROUPS[g]
    return RAM_PPN + first + count * level + rng.randrange(count)


class CountingRam(Ram):
    """A Ram that counts its writes (the walker's A/D updates)."""
    writes = 0

    def write_u64(self, pa, value):
        self.writes += 1
        super().write_u64(pa, value)


def random_pte(rng, level, g, index):
    """A PTE at `index` of a table of `level`: mostly what a walk expects there (a
    pointer to a table of the level below; a leaf at level 0 with random permissions
    and A/D, at the G-stage mostly mapping guest page `index` to itself so that VS
    tables stay where they are), sometimes anything: every rule of the walk gets hit,
    at either stage and any level."""
    r = rng.random()
    if level > 0 and r < 0.93:
        return group_page(g, level - 1, rng) << 10 | PTE_V
    if level > 0 and r < 0.945:
        return rng.getrandbits(44) << 10 | PTE_V          # a table outside RAM
    r = rng.random()
    if r < 0.85:
        ppn = RAM_PPN + (0 if level > 0 else index if g else rng.randrange(WORLD_PAGES))
    elif r < 0.9:
        ppn = RAM_PPN + rng.randrange(WORLD_PAGES)        # a misaligned superpage at level > 0
    elif r < 0.95:                                        # GPA bits 39-40: upper G root pages
        ppn = RAM_PPN + (rng.randrange(1, 4) << 27) + rng.randrange(WORLD_PAGES)
    else:
        ppn = rng.getrandbits(44)
    flags = 0
    for bit, chance in LEAF_BITS[g]:
        flags |= bit if rng.random() < chance else 0
    if rng.random() < 0.02:
        flags |= rng.randrange(1, 1024) << 54
    return ppn << 10 | flags


def random_world(rng) -> bytes:
    words = [0] * (WORLD_PAGES * 512)
    for page in range(WORLD_PAGES):
        g = page < GROUPS[False][0]
        first, count = GROUPS[g]
        level = (page - first) // count
        if level > 4:
            level, g = rng.randrange(5), rng.random() < 0.5
        for i in range(ENTRIES_USED):
            words[page * 512 + i] = random_pte(rng, level, g, i)
    return b"".join(w.to_bytes(8, "little") for w in words)


def random_root(rng, mode, g):
    """A root table for `mode` from the pages of its top level (16 KiB aligned for g)."""
    if mode == 0:
        return RAM_PPN + rng.randrange(WORLD_PAGES)
    first, count = GROUPS[g]
    top = first + count * (LEVELS[mode] - 1)
    return RAM_PPN + top + (rng.randrange(0, count, 4) if g else rng.randrange(count))


def random_va(rng, mode):
    if mode == 0:
        if rng.random() < 0.9:
            return RAM_BASE + rng.randrange(WORLD_PAGES) * 4096 + rng.randrange(4096)
        return rng.getrandbits(64)
    levels = LEVELS[mode]
    bits = 12 + 9 * levels
    va = rng.randrange(4096)
    for level in range(levels):
        index = rng.randrange(ENTRIES_USED) if rng.random() < 0.95 else rng.randrange(512)
        va |= index << (12 + 9 * level)
    if va >> (bits - 1) & 1:
        va |= MASK64 & ~((1 << bits) - 1)                 # sign-extend: canonical
    if rng.random() < 0.05:
        va ^= 1 << rng.randrange(bits - 1, 64)            # not canonical any more
    return va & MASK64


def random_cfg(rng):
    vsmode, gmode = rng.choice(ALL_MODES), rng.choice(ALL_MODES)
    return WalkConfig(
        satp=vsmode << 60 | rng.getrandbits(16) << 44 | random_root(rng, vsmode, False),
        hgatp=gmode << 60 | rng.getrandbits(14) << 44 | random_root(rng, gmode, True),
        virt=rng.random() < 0.75, priv=rng.choice((0, 1, 1, 3)),
        sum=rng.random() < 0.5, mxr=rng.random() < 0.3, hs_mxr=rng.random() < 0.3)


def outcome(walk: Walk) -> str:
    if walk.ok:
        return "ok"
    if walk.cause in GPF.values():
        return ("gpf-implicit-write" if walk.implicit_write else
                "gpf-implicit-read" if walk.implicit else "gpf-final")
    return "page-fault" if walk.cause in PF.values() else "access-fault"


@needs_native
@pytest.mark.parametrize("use_gcache", [False, True], ids=["no-gcache", "gcache"])
def test_native_walker_matches_python_on_random_tables(use_gcache):
    """Every field of every walk and the memory after A/D updates. With the G-cache, it
    is flushed after a walk that wrote memory (as HFENCE.GVMA follows table changes)."""
    rng = random.Random(0x5EED + use_gcache)
    py_ram, c_ram = CountingRam(RAM_BASE, WORLD_PAGES * 4096), Ram(RAM_BASE, WORLD_PAGES * 4096)
    native = fillhook.NativeWalker(c_ram, use_gcache=use_gcache)
    seen, ok_pairs = {}, set()
    for _ in range(WORLDS):
        world = random_world(rng)
        for _ in range(CASES_PER_WORLD):
            py_ram.write(RAM_BASE, world)
            c_ram.write(RAM_BASE, world)
            native.flush_gcache()
            cfg = random_cfg(rng)
            vsmode = 0 if cfg.priv == 3 else cfg.satp >> 60
            vas = [random_va(rng, vsmode) for _ in range(3)]
            for _ in range(STEPS):
                va, access = rng.choice(vas), rng.choice(ACCESSES)
                step = cfg._replace(hlvx=access == LOAD and rng.random() < 0.2)
                writes = py_ram.writes
                expected = translate(py_ram, va, access, step)
                got = native.translate(va, access, step)
                assert got == expected, (hex(va), access, step)
                if use_gcache and py_ram.writes != writes:
                    native.flush_gcache()
                kind = outcome(expected)
                seen[kind] = seen.get(kind, 0) + 1
                if kind == "ok" and step.virt:
                    ok_pairs.add((vsmode, step.hgatp >> 60))
            assert py_ram.buf[:] == c_ram.buf[:], "memory differs after A/D updates"
    # the random tables reached every outcome and every two-stage mode pair
    assert min(seen.get(k, 0) for k in ("ok", "page-fault", "access-fault", "gpf-final",
                                         "gpf-implicit-read", "gpf-implicit-write")) >= 20, seen
    assert ok_pairs == {(v, g) for v in ALL_MODES for g in ALL_MODES}, ok_pairs
    if use_gcache:
        assert native.stats()["gcache_hits"] > 0
