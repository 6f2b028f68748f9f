"""Device models through their registers, with recording IrqSink/Events fakes;
the bus and HTIF also through a real Unicorn running hand-encoded RV64 code."""
from __future__ import annotations

import struct
import threading
import time

import pytest
from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, UC_PROT_ALL, Uc
from unicorn.riscv_const import UC_RISCV_REG_T0, UC_RISCV_REG_T1, UC_RISCV_REG_T2

from rvkvm.cpu.constants import IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI
from rvkvm.devices import uart16550 as U
from rvkvm.devices.base import Clock, Device
from rvkvm.devices.bus import Bus
from rvkvm.devices.clint import MSIP, MTIME, MTIMECMP, Clint
from rvkvm.devices.finisher import NO_REBOOT, RESET_STATUS, TestFinisher
from rvkvm.devices.htif import Htif
from rvkvm.devices.plic import Plic
from rvkvm.memory.ram import Ram


class RecordingIrq:
    def __init__(self):
        self.level: dict[int, bool] = {}
        self.calls: list[tuple[int, bool]] = []

    def set_irq(self, line, level):
        self.level[line] = level
        self.calls.append((line, level))

    def high(self, line) -> bool:
        return self.level.get(line, False)


class RecordingEvents:
    def __init__(self):
        self.stops = 0
        self.exits: list[tuple[int, str]] = []

    def request_stop(self):
        self.stops += 1

    def request_exit(self, status, reason):
        self.exits.append((status, reason))


class ManualClock(Clock):
    def __init__(self):
        super().__init__()
        self.now = 0

    def ticks(self):
        return self.now


# --- RV64 encodings for the few instructions the Unicorn tests run -------------
T0, T1, T2 = 5, 6, 7


def store(funct3, rs2, rs1, imm=0):
    return (((imm >> 5) & 0x7F) << 25 | rs2 << 20 | rs1 << 15 | funct3 << 12
            | (imm & 0x1F) << 7 | 0x23)


def load(funct3, rd, rs1, imm=0):
    return (imm & 0xFFF) << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | 0x03


def sw(rs2, rs1, imm=0): return store(2, rs2, rs1, imm)
def sd(rs2, rs1, imm=0): return store(3, rs2, rs1, imm)
def lw(rd, rs1, imm=0): return load(2, rd, rs1, imm)  # sign-extends
def lbu(rd, rs1, imm=0): return load(4, rd, rs1, imm)


RAM_BASE = 0x8000_0000


def run_code(uc, ram, words, at=RAM_BASE):
    code = b"".join(struct.pack("<I", w) for w in words)
    ram.write(at, code)
    uc.ctl_remove_cache(at, at + len(code))
    uc.emu_start(at, at + len(code))


def make_uc(ram: Ram) -> Uc:
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    uc.mem_map_ptr(ram.base, ram.size, UC_PROT_ALL, ram.host_addr)
    return uc


# --- UART -------------------------------------------------------------------
@pytest.fixture
def uart():
    out, irq, ev = [], RecordingIrq(), RecordingEvents()
    dev = U.Uart16550(out.append, irq, 10, ev)
    return dev, out, irq, ev


def test_uart_transmits_every_byte_in_order(uart):
    dev, out, irq, _ = uart
    for b in b"hello\n":
        dev.write(U.RBR_THR_DLL, 1, b)
    assert b"".join(out) == b"hello\n"
    assert dev.read(U.LSR, 1) & (U.LSR_THRE | U.LSR_TEMT) == U.LSR_THRE | U.LSR_TEMT
    assert not irq.high(10)          # IER = 0: no interrupt


def test_uart_iir_reports_no_interrupt_and_fifo_state(uart):
    dev, *_ = uart
    assert dev.read(U.IIR_FCR, 1) == 0x01
    dev.write(U.IIR_FCR, 1, U.FCR_FIFO_ENABLE)
    assert dev.read(U.IIR_FCR, 1) == 0xC1


def test_uart_thre_interrupt_cleared_by_iir_read_and_rearmed_by_thr_write(uart):
    dev, out, irq, ev = uart
    dev.write(U.IER_DLM, 1, U.IER_ETBEI)
    assert irq.high(10) and ev.stops >= 1
    assert dev.read(U.IIR_FCR, 1) & 0x0F == U.IIR_THR_EMPTY
    assert not irq.high(10)
    assert dev.read(U.IIR_FCR, 1) & 0x0F == U.IIR_NO_INT
    dev.write(U.RBR_THR_DLL, 1, ord("x"))
    assert irq.high(10)
    assert dev.read(U.IIR_FCR, 1) & 0x0F == U.IIR_THR_EMPTY


def test_uart_rx_data_arrives_on_poll_and_outranks_thre(uart):
    dev, _, irq, ev = uart
    dev.write(U.IER_DLM, 1, U.IER_ERBFI | U.IER_ETBEI)
    stops = ev.stops
    dev.feed(b"ab")
    assert ev.stops == stops + 1
    assert dev.read(U.LSR, 1) & U.LSR_DR == 0      # not delivered until poll()
    dev.poll()
    assert dev.read(U.LSR, 1) & U.LSR_DR
    assert dev.read(U.IIR_FCR, 1) & 0x0F == U.IIR_RX_DATA
    assert dev.read(U.RBR_THR_DLL, 1) == ord("a")
    assert dev.read(U.RBR_THR_DLL, 1) == ord("b")
    assert dev.read(U.LSR, 1) & U.LSR_DR == 0
    # RX drained: the THRE interrupt is what remains
    assert dev.read(U.IIR_FCR, 1) & 0x0F == U.IIR_THR_EMPTY
    assert not irq.high(10)


def test_uart_rx_irq_follows_data_with_only_erbfi(uart):
    dev, _, irq, _ = uart
    dev.write(U.IER_DLM, 1, U.IER_ERBFI)
    dev.feed(b"z")
    dev.poll()
    assert irq.high(10)
    dev.read(U.RBR_THR_DLL, 1)
    assert not irq.high(10)


@pytest.mark.parametrize("fifo", [True, False])
def test_uart_never_drops_a_long_paste(uart, fifo):
    dev, *_ = uart
    if fifo:
        dev.write(U.IIR_FCR, 1, U.FCR_FIFO_ENABLE)
    data = bytes(range(256)) * 3
    dev.feed(data)
    dev.poll()
    got = bytearray()
    while dev.read(U.LSR, 1) & U.LSR_DR:
        got.append(dev.read(U.RBR_THR_DLL, 1))
    assert bytes(got) == data


def test_uart_feed_from_another_thread(uart):
    dev, *_ = uart
    dev.write(U.IIR_FCR, 1, U.FCR_FIFO_ENABLE)
    chunks = [bytes([i]) * 10 for i in range(50)]
    t = threading.Thread(target=lambda: [dev.feed(c) for c in chunks])
    t.start()
    got = bytearray()
    deadline = time.monotonic() + 10
    while len(got) < 500 and time.monotonic() < deadline:
        dev.poll()
        while dev.read(U.LSR, 1) & U.LSR_DR:
            got.append(dev.read(U.RBR_THR_DLL, 1))
    t.join()
    assert bytes(got) == b"".join(chunks)


def test_uart_dlab_switches_to_divisor_latch(uart):
    dev, out, irq, _ = uart
    dev.write(U.LCR, 1, U.LCR_DLAB | 0x03)
    dev.write(U.RBR_THR_DLL, 1, 0x34)
    dev.write(U.IER_DLM, 1, 0x12)
    assert (dev.read(U.RBR_THR_DLL, 1), dev.read(U.IER_DLM, 1)) == (0x34, 0x12)
    dev.write(U.LCR, 1, 0x03)
    assert out == [] and dev.read(U.IER_DLM, 1) == 0 and not irq.high(10)
    assert dev.read(U.LCR, 1) == 0x03


def test_uart_scratch_and_loopback(uart):
    dev, out, _, _ = uart
    dev.write(U.SCR, 1, 0xA5)
    assert dev.read(U.SCR, 1) == 0xA5
    dev.write(U.MCR, 1, U.MCR_LOOP | U.MCR_OUT2 | U.MCR_RTS)
    assert dev.read(U.MSR, 1) & 0xF0 == U.MSR_DCD | U.MSR_CTS
    dev.write(U.RBR_THR_DLL, 1, 0x42)
    assert out == [] and dev.read(U.RBR_THR_DLL, 1) == 0x42


def test_uart_fdt_node_points_at_plic():
    import fdt

    from rvkvm.machine.fdt import build_device_tree
    plic = Plic(RecordingIrq(), RecordingEvents())
    u = U.make_uart0(lambda b: None, plic, RecordingEvents())
    t = fdt.parse_dtb(build_device_tree(ram_base=RAM_BASE, ram_size=1 << 20, isa="rv64gc",
                                        mmu_type="riscv,sv39", devices=[u, plic]))
    node = t.get_node("/soc/serial@10000000")
    assert node.get_property("interrupts").data == [10]
    assert node.get_property("clock-frequency").value == 3686400
    assert (node.get_property("interrupt-parent").value
            == t.get_node("/soc/plic@c000000").get_property("phandle").value)


# --- CLINT ------------------------------------------------------------------
@pytest.fixture
def clint():
    irq, ev, clock = RecordingIrq(), RecordingEvents(), ManualClock()
    return Clint(irq, clock, ev), irq, ev, clock


def test_clint_mtimecmp_resets_to_all_ones(clint):
    dev, irq, _, clock = clint
    assert dev.read(MTIMECMP, 4) == 0xFFFF_FFFF and dev.read(MTIMECMP + 4, 4) == 0xFFFF_FFFF
    clock.now = 10**12
    dev.poll()
    assert not irq.high(IRQ_MTI)


def test_clint_mtip_follows_mtimecmp(clint):
    dev, irq, ev, clock = clint
    clock.now = 1000
    dev.write(MTIMECMP + 4, 4, 0)          # 4-byte halves, as Unicorn delivers sd
    dev.write(MTIMECMP, 4, 1500)
    assert not irq.high(IRQ_MTI)
    assert dev.next_deadline() == 1500
    clock.now = 1499
    dev.poll()
    assert not irq.high(IRQ_MTI)
    clock.now = 1500
    dev.poll()
    assert irq.high(IRQ_MTI) and dev.next_deadline() is None
    stops = ev.stops
    dev.write(MTIMECMP, 4, 5000)            # moving the compare into the future lowers MTIP
    assert not irq.high(IRQ_MTI) and ev.stops > stops
    dev.write(MTIMECMP, 4, 10)              # into the past raises it at once
    assert irq.high(IRQ_MTI)


def test_clint_mtime_reads_clock_and_writes_shift_it(clint):
    dev, irq, _, clock = clint
    clock.now = 0x1_2345_6789
    assert dev.read(MTIME, 4) == 0x2345_6789 and dev.read(MTIME + 4, 4) == 1
    assert dev.read(MTIME, 8) == 0x1_2345_6789
    dev.write(MTIME + 4, 4, 0)
    dev.write(MTIME, 4, 100)
    assert dev.mtime() == 100
    clock.now += 50
    assert dev.read(MTIME, 8) == 150
    dev.write(MTIMECMP, 8, 200)
    assert dev.next_deadline() == 200               # in mtime, as the clock counts it
    assert clock.seconds_until(200) == 50 / clock.hz


def test_clint_msip_drives_line_3(clint):
    dev, irq, ev, _ = clint
    dev.write(MSIP, 4, 1)
    assert irq.high(IRQ_MSI) and dev.read(MSIP, 4) == 1 and ev.stops == 1
    dev.write(MSIP, 4, 0)
    assert not irq.high(IRQ_MSI)


# --- PLIC -------------------------------------------------------------------
PRIO = lambda src: 4 * src                    # noqa: E731
PENDING = 0x1000
ENABLE = lambda ctx: 0x2000 + 0x80 * ctx      # noqa: E731
THRESH = lambda ctx: 0x200000 + 0x1000 * ctx  # noqa: E731
CLAIM = lambda ctx: 0x200004 + 0x1000 * ctx   # noqa: E731


@pytest.fixture
def plic():
    irq, ev = RecordingIrq(), RecordingEvents()
    return Plic(irq, ev), irq, ev


def test_plic_pending_without_enable_raises_nothing(plic):
    dev, irq, _ = plic
    dev.write(PRIO(10), 4, 1)
    dev.set_irq(10, True)
    assert dev.read(PENDING, 4) == 1 << 10
    assert not irq.high(IRQ_MEI) and not irq.high(IRQ_SEI)
    assert dev.read(CLAIM(0), 4) == 0


def test_plic_claim_complete_level_semantics(plic):
    dev, irq, ev = plic
    dev.write(PRIO(10), 4, 1)
    dev.write(ENABLE(1), 4, 1 << 10)
    dev.set_irq(10, True)
    assert irq.high(IRQ_SEI) and not irq.high(IRQ_MEI) and ev.stops >= 1
    assert dev.read(CLAIM(1), 4) == 10
    assert not irq.high(IRQ_SEI) and dev.read(PENDING, 4) == 0
    assert dev.read(CLAIM(1), 4) == 0           # in flight: not claimable twice
    dev.write(CLAIM(1), 4, 10)                  # complete while still asserted
    assert irq.high(IRQ_SEI) and dev.read(PENDING, 4) == 1 << 10
    assert dev.read(CLAIM(1), 4) == 10
    dev.set_irq(10, False)
    dev.write(CLAIM(1), 4, 10)                  # deasserted: stays quiet
    assert not irq.high(IRQ_SEI) and dev.read(PENDING, 4) == 0


def test_plic_deassert_before_claim_withdraws_request(plic):
    dev, irq, _ = plic
    dev.write(PRIO(3), 4, 2)
    dev.write(ENABLE(0), 4, 1 << 3)
    dev.set_irq(3, True)
    assert irq.high(IRQ_MEI)
    dev.set_irq(3, False)
    assert not irq.high(IRQ_MEI) and dev.read(CLAIM(0), 4) == 0


def test_plic_priority_order_and_ties(plic):
    dev, irq, _ = plic
    for src, prio in ((5, 2), (7, 6), (9, 6), (40, 7)):
        dev.write(PRIO(src), 4, prio)
    dev.write(ENABLE(0), 4, (1 << 5) | (1 << 7) | (1 << 9))
    dev.write(ENABLE(0) + 4, 4, 1 << (40 - 32))
    for src in (5, 7, 9, 40):
        dev.set_irq(src, True)
    assert dev.read(PENDING + 4, 4) == 1 << 8
    assert [dev.read(CLAIM(0), 4) for _ in range(5)] == [40, 7, 9, 5, 0]
    assert not irq.high(IRQ_MEI)


def test_plic_threshold_masks_low_priorities(plic):
    dev, irq, _ = plic
    dev.write(PRIO(10), 4, 3)
    dev.write(ENABLE(0), 4, 1 << 10)
    dev.write(THRESH(0), 4, 3)
    dev.set_irq(10, True)
    assert not irq.high(IRQ_MEI) and dev.read(CLAIM(0), 4) == 0
    assert dev.read(THRESH(0), 4) == 3
    dev.write(THRESH(0), 4, 2)
    assert irq.high(IRQ_MEI)
    dev.write(PRIO(10), 4, 0)                   # priority 0 never interrupts
    dev.write(THRESH(0), 4, 0)
    assert not irq.high(IRQ_MEI)


def test_plic_registers_read_back_and_mask(plic):
    dev, _, _ = plic
    dev.write(PRIO(1), 4, 0xFF)
    assert dev.read(PRIO(1), 4) == 7
    dev.write(PRIO(0), 4, 5)                    # source 0 does not exist
    assert dev.read(PRIO(0), 4) == 0
    dev.write(ENABLE(0), 4, 0xFFFF_FFFF)
    assert dev.read(ENABLE(0), 4) == 0xFFFF_FFFE
    dev.write(ENABLE(0) + 8, 4, 0xFFFF_FFFF)    # sources 64..95
    assert dev.read(ENABLE(0) + 8, 4) == 0xFFFF_FFFF
    dev.write(ENABLE(0) + 12, 4, 0xFFFF_FFFF)   # beyond the last source
    assert dev.read(ENABLE(0) + 12, 4) == 0
    with pytest.raises(ValueError):
        dev.set_irq(96, True)


def test_plic_ignores_completion_for_disabled_source(plic):
    dev, irq, _ = plic
    dev.write(PRIO(10), 4, 1)
    dev.write(ENABLE(0), 4, 1 << 10)
    dev.set_irq(10, True)
    assert dev.read(CLAIM(0), 4) == 10
    dev.write(ENABLE(0), 4, 0)
    dev.write(CLAIM(0), 4, 10)                  # ignored: not enabled for context 0
    dev.write(ENABLE(0), 4, 1 << 10)
    assert not irq.high(IRQ_MEI)                # still in flight
    dev.write(CLAIM(0), 4, 10)
    assert irq.high(IRQ_MEI)


def test_plic_as_irq_sink_of_uart():
    irq, ev = RecordingIrq(), RecordingEvents()
    plic = Plic(irq, ev)
    uart = U.make_uart0(lambda b: None, plic, ev)
    plic.write(PRIO(10), 4, 1)
    plic.write(ENABLE(1), 4, 1 << 10)
    uart.write(U.IER_DLM, 1, U.IER_ERBFI)
    uart.feed(b"k")
    uart.poll()
    assert irq.high(IRQ_SEI)
    assert plic.read(CLAIM(1), 4) == 10
    assert uart.read(U.RBR_THR_DLL, 1) == ord("k")
    plic.write(CLAIM(1), 4, 10)
    assert not irq.high(IRQ_SEI)


# --- test finisher ----------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    (0x5555, (0, "poweroff")),
    (0x3333 | (7 << 16), (7, "fail")),
    (0x3333, (1, "fail")),                       # a failure never exits 0
    (0x7777, (RESET_STATUS, f"reset through the test finisher ({NO_REBOOT})")),
])
def test_finisher_codes(value, expected):
    ev = RecordingEvents()
    TestFinisher(ev).write(0, 4, value)
    assert ev.exits == [expected]


def test_finisher_ignores_other_values_and_offsets():
    ev = RecordingEvents()
    f = TestFinisher(ev)
    f.write(0, 4, 0x1234)
    f.write(4, 4, 0x5555)
    assert ev.exits == [] and f.read(0, 4) == 0


# --- bus --------------------------------------------------------------------
class Scratch(Device):
    """A device that records accesses and reads back offset-derived values."""
    name = "scratch"

    def __init__(self, base, size):
        super().__init__(base, size)
        self.writes = []

    def read(self, offset, size):
        return 0x1000 + offset

    def write(self, offset, size, value):
        self.writes.append((offset, size, value))


def test_bus_rejects_overlaps_naming_both_devices():
    bus = Bus()
    bus.add(Scratch(0x1000_0000, 0x100))
    other = Scratch(0x0FFF_F000, 0x1100)
    other.name = "intruder"
    with pytest.raises(ValueError, match=r"intruder.*scratch"):
        bus.add(other)
    with pytest.raises(ValueError, match="4 KiB page"):
        bus.add(Scratch(0x1000_0000 + 0x100, 0x100))   # Unicorn could not map it alone
    bus.add(Scratch(0x1000_1000, 0x100))      # the next page is free
    assert [d.base for d in bus.devices] == [0x1000_0000, 0x1000_1000]


def test_bus_find():
    bus = Bus()
    a = bus.add(Scratch(0x0200_0000, 0x10000))
    b = bus.add(Scratch(0x0010_0000, 0x1000))
    assert bus.find(0x0200_BFF8) is a and bus.find(0x0010_0000) is b
    assert bus.find(0x0201_0000) is None and bus.find(0x0) is None
    assert [d.base for d in bus.devices] == [0x0010_0000, 0x0200_0000]


def test_bus_map_into_routes_guest_accesses():
    ram = Ram(RAM_BASE, 0x10000)
    uc = make_uc(ram)
    bus = Bus()
    dev = bus.add(Scratch(0x1000_0000, 0x100))
    bus.map_into(uc)
    uc.reg_write(UC_RISCV_REG_T0, 0x1000_0000)
    uc.reg_write(UC_RISCV_REG_T1, 0x1122_3344_5566_7788)
    run_code(uc, ram, [
        sw(T1, T0, 8),
        sd(T1, T0, 0x10),            # Unicorn splits this into two 4-byte writes
        sw(T1, T0, 0x200),           # past the device's size, inside its page: dropped
        lw(T2, T0, 0x20),
    ])
    assert dev.writes[0] == (8, 4, 0x5566_7788)
    assert sorted(dev.writes[1:]) == [(0x10, 4, 0x5566_7788), (0x14, 4, 0x1122_3344)]
    assert uc.reg_read(UC_RISCV_REG_T2) == 0x1020
    uc.reg_write(UC_RISCV_REG_T0, 0x1000_0200)
    run_code(uc, ram, [lw(T2, T0, 0)])
    assert uc.reg_read(UC_RISCV_REG_T2) == 0


# --- HTIF -------------------------------------------------------------------
TOHOST = RAM_BASE + 0x1000
FROMHOST = RAM_BASE + 0x1040


@pytest.fixture
def htif_machine():
    ram = Ram(RAM_BASE, 0x10000)
    uc = make_uc(ram)
    out, ev = [], RecordingEvents()
    htif = Htif(ram, TOHOST, FROMHOST, out.append, ev)
    htif.install(uc)
    uc.reg_write(UC_RISCV_REG_T0, TOHOST)
    return uc, ram, htif, out, ev


def test_htif_exit_via_32bit_stores_as_riscv_tests_do(htif_machine):
    uc, ram, htif, _, ev = htif_machine
    uc.reg_write(UC_RISCV_REG_T1, (5 << 1) | 1)        # test 5 failed
    run_code(uc, ram, [sw(T1, T0, 0), sw(0, T0, 4)])
    assert ev.stops >= 1                               # the hook saw the stores
    assert ev.exits == []                              # acted on between slices
    htif.poll()
    assert ev.exits and ev.exits[0][0] == 5
    assert ram.read_u64(TOHOST) == 0


def test_htif_hook_ignores_other_stores(htif_machine):
    uc, ram, htif, _, ev = htif_machine
    uc.reg_write(UC_RISCV_REG_T1, 1)
    run_code(uc, ram, [sd(T1, T0, 8), sd(T1, T0, -8)])   # just after and just before tohost
    assert ev.stops == 0
    htif.poll()
    assert ev.exits == []


def test_htif_pass(htif_machine):
    uc, ram, htif, _, ev = htif_machine
    uc.reg_write(UC_RISCV_REG_T1, 1)
    run_code(uc, ram, [sd(T1, T0, 0)])
    htif.poll()
    assert ev.exits[0][0] == 0


def test_htif_putchar_and_fromhost_response(htif_machine):
    uc, ram, htif, out, ev = htif_machine
    uc.reg_write(UC_RISCV_REG_T1, (1 << 56) | (1 << 48) | ord("Q"))
    run_code(uc, ram, [sd(T1, T0, 0)])
    htif.poll()
    assert out == [b"Q"] and ev.exits == []
    assert ram.read_u64(TOHOST) == 0
    assert ram.read_u64(FROMHOST) == (1 << 56) | (1 << 48) | 0x100 | ord("Q")


def test_htif_syscall_write_and_exit(htif_machine):
    uc, ram, htif, out, ev = htif_machine
    block, buf = RAM_BASE + 0x2000, RAM_BASE + 0x3000
    ram.write(buf, b"hi there\n")
    ram.write(block, struct.pack("<8Q", 64, 1, buf, 9, 0, 0, 0, 0))
    uc.reg_write(UC_RISCV_REG_T1, block)
    run_code(uc, ram, [sd(T1, T0, 0)])
    htif.poll()
    assert b"".join(out) == b"hi there\n"
    assert ram.read_u64(block) == 9                    # the syscall's return value
    assert ram.read_u64(FROMHOST) == 1
    assert ram.read_u64(TOHOST) == 0
    # the guest consumes the response, then asks to exit with status 3
    ram.write_u64(FROMHOST, 0)
    ram.write(block, struct.pack("<8Q", 93, 3, 0, 0, 0, 0, 0, 0))
    run_code(uc, ram, [sd(T1, T0, 0)])
    htif.poll()
    assert ev.exits[0][0] == 3


def test_htif_unknown_syscall_returns_enosys(htif_machine):
    uc, ram, htif, out, ev = htif_machine
    block = RAM_BASE + 0x2000
    ram.write(block, struct.pack("<8Q", 1234, 0, 0, 0, 0, 0, 0, 0))
    uc.reg_write(UC_RISCV_REG_T1, block)
    run_code(uc, ram, [sd(T1, T0, 0)])
    htif.poll()
    assert ram.read_u64(block) == (-38) & (2**64 - 1) and ev.exits == []


def test_htif_response_waits_until_guest_clears_fromhost(htif_machine):
    uc, ram, htif, out, _ = htif_machine
    ram.write_u64(FROMHOST, 0xDEAD)                    # previous response not yet consumed
    uc.reg_write(UC_RISCV_REG_T1, (1 << 56) | (1 << 48) | ord("a"))
    run_code(uc, ram, [sd(T1, T0, 0)])
    htif.poll()
    assert out == [b"a"] and ram.read_u64(FROMHOST) == 0xDEAD
    ram.write_u64(FROMHOST, 0)
    htif.poll()
    assert ram.read_u64(FROMHOST) == (1 << 56) | (1 << 48) | 0x100 | ord("a")


def test_htif_getchar_answered_when_input_arrives(htif_machine):
    uc, ram, htif, _, _ = htif_machine
    uc.reg_write(UC_RISCV_REG_T1, (1 << 56) | (0 << 48))
    run_code(uc, ram, [sd(T1, T0, 0)])
    htif.poll()
    assert ram.read_u64(TOHOST) == 0 and ram.read_u64(FROMHOST) == 0
    htif.feed(b"x")
    htif.poll()
    assert ram.read_u64(FROMHOST) == (1 << 56) | 0x100 | ord("x")
