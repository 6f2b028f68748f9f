"""The TLB-fill hook (rvkvm/cpu/fillhook.py, _fillhook.c) on a real Uc under
UC_TLB_VIRTUAL: tiny S/U/M programs (raw machine code) under hand-built tables; and
the engine behaviours the hook's design relies on, so a Unicorn upgrade shows up."""
from __future__ import annotations

import re
import struct

import pytest
from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, UC_PROT_ALL, Uc, UcError
from unicorn.riscv_const import (
    UC_RISCV_REG_A0, UC_RISCV_REG_A1, UC_RISCV_REG_A2, UC_RISCV_REG_A3, UC_RISCV_REG_A4,
    UC_RISCV_REG_PC, UC_RISCV_REG_PRIV, UC_RISCV_REG_SATP, UC_RISCV_REG_SSTATUS,
    UC_RISCV_REG_T0, UC_RISCV_REG_T1,
)
from unicorn.unicorn_const import (
    UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH, UC_ERR_EXCEPTION, UC_HOOK_TLB_FILL, UC_TLB_CPU,
    UC_TLB_VIRTUAL,
)

from pagetables import LEAF, SV39, ULEAF, PageTables, pte
from rvkvm.cpu import fillhook
from rvkvm.cpu.fillhook import Fault, FillHook, NativeWalker
from rvkvm.cpu.walk import (
    FETCH, LOAD, PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X, STORE, WalkConfig,
)
from rvkvm.errors import RvkvmError
from rvkvm.memory.ram import Ram

RAM_BASE = 0x8000_0000
RAM_SIZE = 16 << 20
CODE_VA, DATA_VA, HOLE_VA = 0x4000_0000, 0x5000_0000, 0x6000_0000
CODE_PA, DATA_PA = RAM_BASE + 0x1000, RAM_BASE + 0x20_0000
POOL = RAM_BASE + 0x10_0000
A0, A1, A2, A3, A4, T0, T1 = 10, 11, 12, 13, 14, 5, 6
SUM_BIT = 1 << 18
X_CODE = PTE_V | PTE_R | PTE_X | PTE_A


# ----------------------------------------------------------------------------- machine code

def addi(rd, rs1, imm):
    return (imm & 0xFFF) << 20 | rs1 << 15 | rd << 7 | 0x13


def ld(rd, rs1, imm):
    return (imm & 0xFFF) << 20 | rs1 << 15 | 3 << 12 | rd << 7 | 0x03


def sd(rs2, rs1, imm):
    return (imm >> 5 & 0x7F) << 25 | rs2 << 20 | rs1 << 15 | 3 << 12 | (imm & 0x1F) << 7 | 0x23


def jalr(rd, rs1, imm):
    return (imm & 0xFFF) << 20 | rs1 << 15 | rd << 7 | 0x67


def csrrw(rd, csr, rs1):
    return csr << 20 | rs1 << 15 | 1 << 12 | rd << 7 | 0x73


def csrrc(rd, csr, rs1):
    return csr << 20 | rs1 << 15 | 3 << 12 | rd << 7 | 0x73


SRET = 0x10200073
CSR_SSTATUS, CSR_SEPC = 0x100, 0x141


def code(*words) -> bytes:
    return b"".join(struct.pack("<I", w) for w in words)


def flush_tlb(uc):
    uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)


# ----------------------------------------------------------------------------- a machine

class Machine:
    """A Uc on a Ram, at PRIV=S under Sv39 tables `t` (code and data mapped), in
    UC_TLB_VIRTUAL with a FillHook installed."""

    def __init__(self, ranges=None, trace=None):
        self.ram = Ram(RAM_BASE, RAM_SIZE)
        self.uc = uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
        uc.mem_map_ptr(RAM_BASE, RAM_SIZE, UC_PROT_ALL, self.ram.host_addr)
        self.t = PageTables(self.ram, POOL, SV39)
        self.t.map(CODE_VA, CODE_PA, X_CODE)
        self.data_leaf = self.t.map(DATA_VA, DATA_PA, PTE_V | PTE_R | PTE_W)
        self.set_priv(1, satp=self.t.satp)
        uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        self.hook = FillHook(uc, self.ram, ranges or [(RAM_BASE, RAM_SIZE)], trace=trace)
        self.hook.install()

    def set_priv(self, priv, satp=None, sstatus=None):
        uc = self.uc
        uc.reg_write(UC_RISCV_REG_PRIV, 3)                    # CSR writes need the privilege
        if satp is not None:
            uc.reg_write(UC_RISCV_REG_SATP, satp)
        if sstatus is not None:
            uc.reg_write(UC_RISCV_REG_SSTATUS, sstatus)
        uc.reg_write(UC_RISCV_REG_PRIV, priv)

    def load(self, va, words, pa=None):
        self.ram.write(pa if pa is not None else CODE_PA + (va - CODE_VA), code(*words))

    def run(self, start, count):
        self.uc.emu_start(start, start + 4 * count)

    def reg(self, r):
        return self.uc.reg_read(r)


@pytest.fixture(params=["native", "python"])
def kind(request, monkeypatch):
    if request.param == "native" and not fillhook.native_available():
        pytest.skip("the native fill hook (_fillhook.c) is not built")
    monkeypatch.setenv(fillhook.ENV_VAR, request.param)
    return request.param


@pytest.fixture
def m(kind):
    machine = Machine()
    assert machine.hook.kind == kind
    return machine


def expect_refusal(m, start, count):
    with pytest.raises(UcError) as err:
        m.run(start, count)
    assert err.value.errno == UC_ERR_EXCEPTION
    return m.hook.last_fault()


# ----------------------------------------------------------------------------- translation

def test_loads_and_stores_land_at_the_translated_pa(m):
    m.ram.write_u64(DATA_PA, 0x1122_3344_5566_7788)
    m.load(CODE_VA, [ld(A0, A1, 0), sd(A2, A1, 8), ld(A3, A1, 8)])
    m.uc.reg_write(UC_RISCV_REG_A1, DATA_VA)
    m.uc.reg_write(UC_RISCV_REG_A2, 0xABCDEF)
    m.run(CODE_VA, 3)
    assert m.reg(UC_RISCV_REG_A0) == 0x1122_3344_5566_7788
    assert m.ram.read_u64(DATA_PA + 8) == 0xABCDEF == m.reg(UC_RISCV_REG_A3)
    assert m.t.get(m.data_leaf) & (PTE_A | PTE_D) == PTE_A | PTE_D
    # fetch, load, then the store again: the load's entry had no W (D was clear)
    assert m.hook.stats()["fills"] == 3 and m.hook.last_fault() is None


def test_refused_load_stops_at_the_instruction_with_rd_unchanged(m):
    m.load(CODE_VA, [addi(T0, 0, 7), ld(A0, A1, 0), addi(T1, 0, 9)])
    m.uc.reg_write(UC_RISCV_REG_A0, 0x77)
    m.uc.reg_write(UC_RISCV_REG_A1, HOLE_VA + 0x10)
    fault = expect_refusal(m, CODE_VA, 3)
    assert m.reg(UC_RISCV_REG_PC) == CODE_VA + 4
    assert (m.reg(UC_RISCV_REG_T0), m.reg(UC_RISCV_REG_A0), m.reg(UC_RISCV_REG_T1)) == (7, 0x77, 0)
    assert fault.cause == 13 and fault.va >> 12 == HOLE_VA >> 12
    assert (fault.gpa, fault.implicit, fault.implicit_write, fault.access) == (0, False, False, LOAD)
    assert m.hook.last_fault() is None                      # read once
    m.ram.write_u64(DATA_PA + 0x10, 42)
    m.t.map(HOLE_VA, DATA_PA, LEAF)                         # the "handler" maps it
    m.run(m.reg(UC_RISCV_REG_PC), 2)                        # and restarts at pc
    assert (m.reg(UC_RISCV_REG_A0), m.reg(UC_RISCV_REG_T1)) == (42, 9)


def test_store_to_a_read_only_page_is_a_store_page_fault(m):
    m.t.map(HOLE_VA, DATA_PA, PTE_V | PTE_R | PTE_A)
    m.load(CODE_VA, [sd(A2, A1, 0)])
    m.uc.reg_write(UC_RISCV_REG_A1, HOLE_VA)
    fault = expect_refusal(m, CODE_VA, 1)
    assert (fault.cause, fault.access, m.reg(UC_RISCV_REG_PC)) == (15, STORE, CODE_VA)


def test_refused_fetch_stops_at_the_target(m):
    m.load(CODE_VA, [jalr(0, A4, 0)])
    m.uc.reg_write(UC_RISCV_REG_A4, HOLE_VA)
    with pytest.raises(UcError):
        m.uc.emu_start(CODE_VA, HOLE_VA + 4)
    fault = m.hook.last_fault()
    assert (fault.cause, fault.va, fault.access) == (12, HOLE_VA, FETCH)
    assert m.reg(UC_RISCV_REG_PC) == HOLE_VA


def test_final_address_outside_the_ranges_is_an_access_fault(kind):
    m = Machine(ranges=[(RAM_BASE, 0x10_0000), (0x1000_0000, 0x100)])   # tables outside
    m.t.map(HOLE_VA, 0x1000_1000, LEAF)                     # no device there
    m.load(CODE_VA, [ld(A0, A1, 0)])
    m.uc.reg_write(UC_RISCV_REG_A1, HOLE_VA)
    assert expect_refusal(m, CODE_VA, 1).cause == 5
    m.uc.reg_write(UC_RISCV_REG_A1, DATA_VA)               # DATA_PA: not in the ranges
    assert expect_refusal(m, CODE_VA, 1).cause == 5


def test_u_mode_fills_use_the_satp_cached_at_the_last_s_fill(m):
    """S code srets to U code: the U fills cannot read satp, the hook kept it."""
    u_va = CODE_VA + 0x1000
    m.t.map(u_va, CODE_PA + 0x1000, X_CODE | PTE_U)
    m.t.map(HOLE_VA, DATA_PA, ULEAF)
    m.ram.write_u64(DATA_PA, 1234)
    m.load(CODE_VA, [csrrw(0, CSR_SEPC, A4), SRET])
    m.load(u_va, [ld(A0, A1, 0)])
    m.uc.reg_write(UC_RISCV_REG_A4, u_va)
    m.uc.reg_write(UC_RISCV_REG_A1, HOLE_VA)
    m.uc.emu_start(CODE_VA, u_va + 4)
    assert m.reg(UC_RISCV_REG_PRIV) == 0 and m.reg(UC_RISCV_REG_A0) == 1234


def test_u_mode_fills_use_refreshed_values(m):
    m.t.map(HOLE_VA, DATA_PA, ULEAF)
    m.t.map(CODE_VA, CODE_PA, X_CODE | PTE_U)
    m.ram.write_u64(DATA_PA, 99)
    m.load(CODE_VA, [ld(A0, A1, 0)])
    m.uc.reg_write(UC_RISCV_REG_A1, HOLE_VA)
    m.set_priv(0)
    assert expect_refusal(m, CODE_VA, 1).cause == 1        # no S fill yet: satp unknown (bare)
    m.hook.refresh(m.t.satp, 0)
    m.run(CODE_VA, 1)
    assert m.reg(UC_RISCV_REG_A0) == 99


def test_pinned_satp_is_used_at_s(m):
    other = PageTables(m.ram, POOL + 0x8_0000, SV39)
    other.map(CODE_VA, CODE_PA + 0x2000, X_CODE)
    m.load(CODE_VA, [addi(A0, 0, 5)], pa=CODE_PA + 0x2000)
    m.load(CODE_VA, [addi(A0, 0, 3)])
    m.hook.pin_satp(other.satp)
    m.run(CODE_VA, 1)
    assert m.reg(UC_RISCV_REG_A0) == 5
    m.hook.pin_satp(None)
    flush_tlb(m.uc)
    m.run(CODE_VA, 1)
    assert m.reg(UC_RISCV_REG_A0) == 3


def test_sum_change_makes_the_engine_refill(m):
    """Unicorn flushes its TLB when SUM changes, so the hook sees the new SUM at the
    next fill: a U page readable with SUM=1 faults after csrc sstatus.SUM."""
    m.t.map(HOLE_VA, DATA_PA, ULEAF)
    m.load(CODE_VA, [ld(A0, A1, 0), csrrc(0, CSR_SSTATUS, T0), ld(A3, A1, 0)])
    m.uc.reg_write(UC_RISCV_REG_A1, HOLE_VA)
    m.uc.reg_write(UC_RISCV_REG_T0, SUM_BIT)
    m.set_priv(1, sstatus=SUM_BIT)
    fault = expect_refusal(m, CODE_VA, 3)
    assert fault.cause == 13 and m.reg(UC_RISCV_REG_PC) == CODE_VA + 8


def test_mprv_override_translates_data_and_leaves_fetches_bare(m):
    m.ram.write_u64(DATA_PA, 0xFEED)
    m.load(CODE_VA, [ld(A0, A1, 0)])                       # at CODE_PA, run there bare
    m.uc.reg_write(UC_RISCV_REG_A1, DATA_VA)
    m.set_priv(3)
    m.hook.set_mprv(WalkConfig(m.t.satp, priv=1))
    m.run(CODE_PA, 1)
    assert m.reg(UC_RISCV_REG_A0) == 0xFEED
    m.hook.set_mprv(None)
    flush_tlb(m.uc)
    assert expect_refusal(m, CODE_PA, 1).cause == 5        # bare DATA_VA: not in the ranges


# ----------------------------------------------------------------------------- two stages

GUEST = RAM_BASE + 0x80_0000              # SPA of guest-physical RAM_BASE


def two_stage(m):
    """hgatp maps guest RAM_BASE.. to GUEST..; VS tables (guest-physical) in guest RAM."""
    g = PageTables(m.ram, RAM_BASE + 0x40_0000, SV39, g=True)
    for off in range(0, 4 << 20, 4096):
        g.map(RAM_BASE + off, GUEST + off, ULEAF)
    to_spa = lambda gpa: GUEST + gpa - RAM_BASE
    vs = PageTables(m.ram, POOL, SV39, to_host=to_spa)
    vs.map(CODE_VA, CODE_PA, X_CODE)
    vs.map(DATA_VA, DATA_PA, LEAF)
    vs.map(HOLE_VA, RAM_BASE + (8 << 20), LEAF)             # beyond what G maps
    m.hook.set_virt(True, g.satp, False)
    m.set_priv(1, satp=vs.satp)                             # the engine's satp is vsatp
    return g, vs, to_spa


def test_two_stage_reaches_the_offset_guest_ram(m):
    g, vs, to_spa = two_stage(m)
    m.ram.write(to_spa(CODE_PA), code(ld(A0, A1, 0), sd(A0, A1, 8)))
    m.ram.write_u64(to_spa(DATA_PA), 0x5151)
    m.uc.reg_write(UC_RISCV_REG_A1, DATA_VA)
    m.run(CODE_VA, 2)
    assert m.reg(UC_RISCV_REG_A0) == 0x5151 and m.ram.read_u64(to_spa(DATA_PA) + 8) == 0x5151
    assert m.ram.read_u64(DATA_PA + 8) == 0                 # not the identity
    if m.hook.kind == "native":
        assert m.hook.stats()["gcache_hits"] > 0


def test_two_stage_guest_page_fault_reports_the_gpa(m):
    g, vs, to_spa = two_stage(m)
    m.ram.write(to_spa(CODE_PA), code(ld(A0, A1, 0)))
    m.uc.reg_write(UC_RISCV_REG_A1, HOLE_VA + 0x18)
    fault = expect_refusal(m, CODE_VA, 1)
    assert fault.cause == 21 and fault.gpa >> 12 == (RAM_BASE + (8 << 20)) >> 12
    assert not fault.implicit


def test_two_stage_implicit_fault_on_a_vs_table(m):
    g, vs, to_spa = two_stage(m)
    m.ram.write(to_spa(CODE_PA), code(sd(A0, A1, 0)))
    l0 = vs.slot(DATA_VA, 0)
    g.set(g.slot(l0, 0), 0)                                  # the VS leaf's page: unmapped
    m.uc.reg_write(UC_RISCV_REG_A1, DATA_VA)
    fault = expect_refusal(m, CODE_VA, 1)
    assert fault == Fault(23, DATA_VA, l0, True, False, STORE)


# ----------------------------------------------------------------------------- trace, choice

TRACE_LINE = re.compile(r"tlb_fill: addr 0x[0-9a-f]+, access_type [012], mmu_idx [0-3], ret [01], "
                        r"pc 0x[0-9a-f]+, gpa 0x[0-9a-f]+, stage (vs|g|-)$")


def test_trace_prints_one_line_per_fill_and_uses_the_python_hook(monkeypatch):
    monkeypatch.setenv(fillhook.ENV_VAR, "native")
    lines = []
    m = Machine(trace=lines.append)
    assert m.hook.kind == "python"
    m.load(CODE_VA, [ld(A0, A1, 0), ld(A0, A2, 0)])
    m.uc.reg_write(UC_RISCV_REG_A1, DATA_VA)
    m.uc.reg_write(UC_RISCV_REG_A2, HOLE_VA)
    expect_refusal(m, CODE_VA, 2)
    assert all(TRACE_LINE.match(line) for line in lines), lines
    assert lines[0].startswith(f"tlb_fill: addr {CODE_VA:#x}, access_type 2, mmu_idx 1, ret 1")
    assert f"addr {HOLE_VA:#x}, access_type 0" in lines[-1]
    assert lines[-1].endswith("ret 0, pc 0x40000004, gpa 0x0, stage vs")


def test_bad_choices_are_clear_errors(monkeypatch):
    m = Machine()
    monkeypatch.setenv(fillhook.ENV_VAR, "fast")
    with pytest.raises(RvkvmError, match="RVKVM_FILLHOOK must be one of native, python"):
        FillHook(m.uc, m.ram, [(RAM_BASE, RAM_SIZE)])
    monkeypatch.setenv(fillhook.ENV_VAR, "native")
    monkeypatch.setattr(fillhook, "native_library", lambda: None)
    with pytest.raises(RvkvmError, match="not built"):
        FillHook(m.uc, m.ram, [(RAM_BASE, RAM_SIZE)])
    monkeypatch.delenv(fillhook.ENV_VAR)
    assert FillHook(m.uc, m.ram, [(RAM_BASE, RAM_SIZE)]).kind == "python"   # the fallback
    with pytest.raises(RvkvmError, match="1 to 16 physical ranges"):
        FillHook(m.uc, m.ram, [(i << 20, 4096) for i in range(17)])
    with pytest.raises(RvkvmError, match="bad physical range"):
        FillHook(m.uc, m.ram, [(RAM_BASE, 0)])
    with pytest.raises(RvkvmError, match="already installed"):
        m.hook.install()


# ----------------------------------------------------------------------------- the G-cache

@pytest.mark.skipif(not fillhook.native_available(), reason="the native walker is not built")
def test_gcache_keeps_a_g_table_walk_until_flushed():
    ram = Ram(RAM_BASE, RAM_SIZE)
    g = PageTables(ram, RAM_BASE + 0x40_0000, SV39, g=True)
    leaf = g.map(RAM_BASE, DATA_PA, PTE_V | PTE_U | PTE_R | PTE_W)     # A/D clear
    walker = NativeWalker(ram)
    cfg = WalkConfig(0, g.satp, True)
    assert walker.translate(RAM_BASE + 8, LOAD, cfg).pa == DATA_PA + 8
    store = walker.translate(RAM_BASE + 8, STORE, cfg)                  # a hit that sets D
    assert store.ok and g.get(leaf) & (PTE_A | PTE_D) == PTE_A | PTE_D
    assert walker.stats() == {"gcache_hits": 1, "gcache_misses": 1}
    g.set(leaf, pte(DATA_PA, PTE_V | PTE_U | PTE_R | PTE_A))           # the leaf is re-read
    assert walker.translate(RAM_BASE, STORE, cfg).cause == 23
    other = g.alloc()                                                   # a non-leaf change
    ram.write_u64(other, pte(DATA_PA + 0x1000, PTE_V | PTE_U | PTE_R | PTE_A))
    g.set(g.slot(RAM_BASE, 1), pte(other, PTE_V))
    assert walker.translate(RAM_BASE, LOAD, cfg).pa == DATA_PA          # cached walk
    walker.flush_gcache()
    assert walker.translate(RAM_BASE, LOAD, cfg).pa == DATA_PA + 0x1000


# ----------------------------------------------------------------------------- the engine

def test_engine_keeps_entries_across_ctl_set_tlb_mode():
    """ctl_set_tlb_mode does not flush: entries of the other mode stay in use."""
    ram = Ram(RAM_BASE, RAM_SIZE)
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    uc.mem_map_ptr(RAM_BASE, RAM_SIZE, UC_PROT_ALL, ram.host_addr)
    ram.write(CODE_PA, code(ld(A0, A1, 0)))
    ram.write_u64(DATA_PA, 0x1111)
    ram.write_u64(DATA_PA + 0x1000, 0x2222)

    def elsewhere(_uc, va, _type, entry, _data):          # DATA_PA's page -> the next one
        entry.paddr = va + 0x1000 if va == DATA_PA else va
        entry.perms = 7
        return True

    uc.hook_add(UC_HOOK_TLB_FILL, elsewhere)
    uc.reg_write(UC_RISCV_REG_PRIV, 1)                      # S, satp bare
    uc.reg_write(UC_RISCV_REG_A1, DATA_PA)

    def load():
        uc.emu_start(CODE_PA, CODE_PA + 4)
        return uc.reg_read(UC_RISCV_REG_A0)

    assert load() == 0x1111                                 # UC_TLB_CPU: bare
    uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
    assert load() == 0x1111                                 # stale: no flush
    flush_tlb(uc)
    assert load() == 0x2222
    uc.ctl_set_tlb_mode(UC_TLB_CPU)
    assert load() == 0x2222                                 # stale the other way
    flush_tlb(uc)
    assert load() == 0x1111


def test_engine_returns_garbage_for_satp_read_at_u():
    """uc_reg_read of satp at PRIV=U returns UC_ERR_OK with a value that is not satp:
    the reason the hook caches satp at S fills."""
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    satp = (SV39 << 60) | (0x1234 << 44) | 0x80123
    uc.reg_write(UC_RISCV_REG_PRIV, 3)
    uc.reg_write(UC_RISCV_REG_SATP, satp)
    uc.reg_write(UC_RISCV_REG_PRIV, 1)
    assert uc.reg_read(UC_RISCV_REG_SATP) == satp
    uc.reg_write(UC_RISCV_REG_PRIV, 0)
    assert uc.reg_read(UC_RISCV_REG_SATP) != satp
