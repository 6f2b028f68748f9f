"""The M-mode identity map covers RAM and the device register blocks only, so an
M-mode access to a hole is a page fault raised before the access: a precise access
fault, whatever the slicer (with the exit switch, Unicorn's own report of an access
to unmapped memory lets the rest of the block run)."""
import io

import pytest
from conftest import IMAGES_DIR
from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, Uc

from rvkvm.cpu.constants import PRV_M
from rvkvm.cpu.mmode_map import MEGA, PAGE, MachineModeMap
from rvkvm.cpu.slicer import exit_switch_available
from rvkvm.memory import layout
from rvkvm.machine.virt import MachineConfig, VirtMachine

HOLE = 0x5000_0000                     # between the UART and RAM: nothing there
S0, S1, S2, S3 = 8, 9, 18, 19


def virt_machine():
    m = VirtMachine(MachineConfig(console_out=io.BytesIO()))
    m.load(str(IMAGES_DIR / "hello.elf"))
    return m


def page_up(n):
    return (n + PAGE - 1) & ~(PAGE - 1)


def test_the_map_covers_ram_and_every_device_and_nothing_else():
    m = virt_machine()
    mmap = m.hart._mmode_map()
    devices = m.bus.devices
    assert {d.base for d in devices} >= {layout.FINISHER_BASE, layout.CLINT_BASE,
                                         layout.PLIC_BASE, layout.UART0_BASE}
    for d in devices:
        end = d.base + page_up(d.size)
        assert mmap.is_mapped(d.base) and mmap.is_mapped(end - 1), d.name
        assert not mmap.is_mapped(d.base - 1), d.name
        assert not mmap.is_mapped(end), d.name
    assert mmap.is_mapped(m.ram.base) and mmap.is_mapped(m.ram.base + m.ram.size - 1)
    assert not mmap.is_mapped(m.ram.base + m.ram.size)
    for hole in (0, HOLE, m.ram.base - 1, 1 << 37):
        assert not mmap.is_mapped(hole)


def test_tables_stay_small_with_megapages_for_large_device_blocks():
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    ram_size = 64 << 20
    mmap = MachineModeMap(uc, layout.RAM_BASE, ram_size, [
        (layout.FINISHER_BASE, 0x1000), (layout.CLINT_BASE, 0x10000),
        (layout.PLIC_BASE, 0x60_0000), (layout.UART0_BASE, 0x100)])
    # root; level-1 tables for the first GiB (devices) and the one holding RAM; one
    # level-0 table per 2 MiB region holding a 4 KiB device page (finisher, CLINT,
    # UART); the 6 MiB PLIC as three 2 MiB leaves (no table); RAM in 4 KiB pages.
    assert len(mmap.tables) == (1 + 2 + 3 + ram_size // MEGA) * PAGE
    assert mmap.is_mapped(layout.PLIC_BASE + 0x5F_FFFF)
    assert not mmap.is_mapped(layout.PLIC_BASE + 0x60_0000)


def test_a_device_range_on_ram_is_refused():
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    with pytest.raises(ValueError, match="cannot be identity-mapped"):
        MachineModeMap(uc, layout.RAM_BASE, 4 << 20, [(layout.RAM_BASE + 0x1000, 0x1000)])


def test_only_ram_pages_become_executable():
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    mmap = MachineModeMap(uc, layout.RAM_BASE, 4 << 20, [(layout.UART0_BASE, 0x100)])
    assert mmap.make_executable(layout.RAM_BASE + 0x1234)
    assert not mmap.make_executable(layout.RAM_BASE + 0x1000)      # already
    assert not mmap.make_executable(layout.UART0_BASE)
    assert not mmap.make_executable(HOLE)


# The M-mode guest (riscv64-unknown-elf-as -march=rv64ga): set mtvec, touch HOLE at
# ACCESS with s0 = 0, then two `addi s0, s0, 1` in the same block; the handler saves
# mepc, mtval and mcause in s1, s2, s3 and powers off through the test finisher.
ACCESS = 5
PROGRAM = [
    0x00000297,   # auipc t0, 0
    0x02428293,   # addi  t0, t0, 36        handler
    0x30529073,   # csrw  mtvec, t0
    0x500005B7,   # lui   a1, 0x50000       HOLE
    0x00000413,   # li    s0, 0
    None,         # the access under test
    0x00140413,   # addi  s0, s0, 1         must not run: the access faulted
    0x00140413,   # addi  s0, s0, 1
    0x0000006F,   # j     .
    0x341024F3,   # handler: csrr s1, mepc
    0x34302973,   # csrr  s2, mtval
    0x342029F3,   # csrr  s3, mcause
    0x001002B7,   # lui   t0, 0x100         the test finisher
    0x00005337,   # lui   t1, 0x5
    0x55530313,   # addi  t1, t1, 0x555
    0x0062A023,   # sw    t1, 0(t0)         pass: power off
    0x0000006F,   # j     .
]
ACCESSES = {
    "store": (0x0005B023, 7),          # sd zero, 0(a1): store access fault
    "load": (0x0005B503, 5),           # ld a0, 0(a1): load access fault
    "amo": (0x0065B52F, 7),            # amoadd.d a0, t1, (a1): store/AMO access fault
}
SLICERS = [
    pytest.param("native-exit", marks=pytest.mark.skipif(
        not exit_switch_available(), reason="the exit switch is not available here")),
    "python",
]


@pytest.mark.parametrize("slicer", SLICERS)
@pytest.mark.parametrize("access", sorted(ACCESSES))
def test_an_m_mode_access_to_a_hole_is_a_precise_access_fault(monkeypatch, slicer, access):
    monkeypatch.setenv("RVKVM_SLICER", slicer)
    m = virt_machine()
    assert m.hart.slicer.kind == slicer
    insn, cause = ACCESSES[access]
    words = [insn if w is None else w for w in PROGRAM]
    start = m.ram.base + (1 << 20)
    m.uc.mem_write(start, b"".join(w.to_bytes(4, "little") for w in words))
    m.hart.reset(start, PRV_M)
    result = m.run(timeout=10)
    assert (result.status, result.reason) == (0, "poweroff")
    r = m.hart.regs
    assert r.read_x(S3) == cause
    assert r.read_x(S1) == start + 4 * ACCESS          # mepc: the access itself
    assert r.read_x(S2) == HOLE                        # mtval: its address
    assert r.read_x(S0) == 0                           # nothing after it ran


class EngineMemory:
    """The walker's Memory over the engine's physical memory (where the tables live)."""

    def __init__(self, uc):
        self.uc = uc

    def read_u64(self, pa):
        return int.from_bytes(self.uc.mem_read(pa, 8), "little")

    def write_u64(self, pa, value):
        raise AssertionError(f"the walker wrote {value:#x} at {pa:#x}: A/D should be set")

    def contains(self, pa, length=1):
        return True


def test_every_ram_page_walks_to_itself_read_write_across_a_gib_boundary():
    from rvkvm.cpu import walk
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    ram_base, ram_size = (1 << 30) - 2 * MEGA, 6 * MEGA     # 2 MiB below 1 GiB, 4 MiB above
    mmap = MachineModeMap(uc, ram_base, ram_size, [(layout.UART0_BASE, 0x100)])
    cfg = walk.WalkConfig(satp=mmap.satp, priv=1)
    mem = EngineMemory(uc)
    for pa in range(ram_base, ram_base + ram_size, PAGE):
        va = pa + (pa >> 12) % PAGE                          # a different offset per page
        w = walk.translate(mem, va, walk.STORE, cfg)
        assert (w.ok, w.pa, w.perms) == (True, va, walk.PROT_R | walk.PROT_W), hex(va)
        assert not walk.translate(mem, va, walk.FETCH, cfg).ok   # executable on first fetch only
    for outside in (ram_base - PAGE, ram_base + ram_size):
        assert walk.translate(mem, outside, walk.LOAD, cfg).cause == 13
    assert mmap.make_executable(ram_base + ram_size - 1)
    uc_pte_is_x = walk.translate(mem, ram_base + ram_size - PAGE, walk.FETCH, cfg)
    assert (uc_pte_is_x.ok, uc_pte_is_x.pa) == (True, ram_base + ram_size - PAGE)
