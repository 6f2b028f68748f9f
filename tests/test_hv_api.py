"""rvkvm/hv API: memory slots, dirty log, one_reg, MMIO and SBI exits, with
tests/guests/hv_guest.elf running at VS."""
import pytest
from hv_helpers import (DIRTY_SLOT, MMIO_BASE, MMIO_READ_VALUE, RO_SLOT, RO_VALUE, T_DIRTY,
                        T_MMIO, T_READONLY, T_SBI, T_WFI, guest_vm, mmio_writes, run_until)

from rvkvm.hv import (INTERNAL_ERROR, MEM_LOG_DIRTY_PAGES, MMIO, SBI, SHUTDOWN,
                      SYSTEM_EVENT, VM, VmError)
from rvkvm.hv.onereg import RegError
from rvkvm.sbi.constants import SBI_ERR_NOT_SUPPORTED, SBI_SPEC_VERSION

M64 = (1 << 64) - 1


# ---------------------------------------------------------------------- slots
def test_overlapping_slots_are_refused():
    vm = VM(host_memory=8 << 20)
    mem = vm.allocate_memory(2 << 20)
    vm.set_user_memory_region(0, 0x8000_0000, 1 << 20, mem)
    with pytest.raises(VmError, match="overlaps slot 0"):
        vm.set_user_memory_region(1, 0x800F_F000, 0x2000, vm.allocate_memory(0x2000))
    vm.set_user_memory_region(1, 0x8010_0000, 0x2000, vm.allocate_memory(0x2000))  # adjacent: fine
    assert [s.slot for s in vm.slots()] == [0, 1]


def test_bad_slot_requests_give_clear_errors():
    vm = VM(host_memory=8 << 20)
    mem = vm.allocate_memory(1 << 20)
    with pytest.raises(VmError, match="multiples of 4 KiB"):
        vm.set_user_memory_region(0, 0x8000_0100, 0x1000, mem)
    with pytest.raises(VmError, match="bytes asked of a"):
        vm.set_user_memory_region(0, 0x8000_0000, 2 << 20, mem)
    with pytest.raises(VmError, match="this VM's allocate_memory"):
        vm.set_user_memory_region(0, 0x8000_0000, 0x1000, VM(host_memory=2 << 20).allocate_memory(0x1000))
    with pytest.raises(VmError, match="no such slot"):
        vm.set_user_memory_region(5, 0, 0)
    with pytest.raises(VmError, match="out of host memory"):
        vm.allocate_memory(64 << 20)


def test_delete_and_move_a_slot():
    vm, vcpu = guest_vm(T_DIRTY)
    dirty = next(s for s in vm.slots() if s.slot == 1)
    vm.set_user_memory_region(1, 0, 0)                      # delete
    assert vm.find_slot(DIRTY_SLOT) is None
    # the guest's stores to the deleted slot's range now are MMIO exits
    first = run_until(vcpu, MMIO)[-1]
    assert (first.reason, first.phys_addr, first.is_write) == (MMIO, DIRTY_SLOT, True)
    # move the same memory back at the old address: the guest's next stores land in it
    vm.set_user_memory_region(1, DIRTY_SLOT, dirty.memory_size, dirty.memory, MEM_LOG_DIRTY_PAGES)
    assert run_until(vcpu, SYSTEM_EVENT)[-1].reason == SYSTEM_EVENT
    assert dirty.memory.read(3 * 0x1000 + 8, 8) == (0x1000).to_bytes(8, "little")
    # moved elsewhere, the old GPA is empty and the new one reads the same bytes
    vm.set_user_memory_region(1, 0xB000_0000, dirty.memory_size, dirty.memory)
    assert vm.find_slot(DIRTY_SLOT) is None
    assert vm.read_guest(0xB000_3008, 8) == (0x1000).to_bytes(8, "little")


def test_dirty_log_matches_exactly_the_pages_the_guest_wrote():
    vm, vcpu = guest_vm(T_DIRTY)
    assert run_until(vcpu, SYSTEM_EVENT)[-1].event == SHUTDOWN
    assert vm.get_dirty_log(1) == [0, 3, 5]                  # loads of pages 1 and 2 do not count
    assert vm.get_dirty_log(1) == []                         # returned and cleared
    assert run_until(vcpu, SYSTEM_EVENT)[-1].event == SHUTDOWN
    assert vm.get_dirty_log(1) == [3, 7]                     # write protection was re-armed
    with pytest.raises(VmError, match="dirty logging is off"):
        vm.get_dirty_log(0)


def test_slot_memory_uses_superpages_and_logging_4k_pages():
    vm, vcpu = guest_vm(T_DIRTY)
    run_until(vcpu, SYSTEM_EVENT)
    levels = {gpa: level for gpa, level, _ in vm.gstage.leaves()}
    assert levels[0x8000_0000] == 1                          # code: a 2 MiB superpage
    assert {gpa for gpa, lv in levels.items() if gpa >= DIRTY_SLOT} == {
        DIRTY_SLOT + n * 0x1000 for n in (0, 1, 2, 3, 5)}
    assert all(lv == 0 for gpa, lv in levels.items() if gpa >= DIRTY_SLOT)


def test_readonly_slot_reads_memory_and_turns_writes_into_mmio_exits():
    vm, vcpu = guest_vm(T_READONLY)
    seen = run_until(vcpu, SYSTEM_EVENT)
    assert mmio_writes(seen) == [(MMIO_BASE, 8, RO_VALUE), (RO_SLOT, 8, 0x77), (MMIO_BASE, 8, RO_VALUE)]
    assert vm.read_guest(RO_SLOT, 8) == RO_VALUE.to_bytes(8, "little")


# ---------------------------------------------------------------------- MMIO decode
def test_mmio_loads_and_stores_of_every_width():
    vm, vcpu = guest_vm(T_MMIO)
    seen = run_until(vcpu, SYSTEM_EVENT)
    reads = [(e.phys_addr, e.width) for e in seen if e.reason == MMIO and not e.is_write]
    assert reads[:7] == [(MMIO_BASE, 1)] * 2 + [(MMIO_BASE, 2)] * 2 + [(MMIO_BASE, 4)] * 2 + [(MMIO_BASE, 8)]
    v = MMIO_READ_VALUE
    assert [d for a, w, d in mmio_writes(seen)[:7]] == [
        0xFFFFFFFFFFFFFF88, 0x88, 0xFFFFFFFFFFFF8788, 0x8788, 0xFFFFFFFF85868788, 0x85868788, v]
    assert mmio_writes(seen)[7:] == [
        (MMIO_BASE + 16, 1, 0x88), (MMIO_BASE + 18, 2, 0x7788), (MMIO_BASE + 20, 4, 0x55667788),
        (MMIO_BASE + 24, 4, 0x85868788), (MMIO_BASE + 24, 8, v)]          # c.lw/c.sw, c.ld/c.sd
    assert reads[7:] == [(MMIO_BASE + 4, 4), (MMIO_BASE + 8, 8)]


# ---------------------------------------------------------------------- SBI
def test_unknown_sbi_call_reaches_the_vmm_and_answers_not_supported():
    vm, vcpu = guest_vm(T_SBI)
    seen = run_until(vcpu, SBI)
    call = seen[-1]
    assert (call.eid, call.fid, call.args[0]) == (0x0A000123, 7, 0x11)
    seen = run_until(vcpu, SYSTEM_EVENT)                    # the VMM left ret as it was
    results = [d for a, w, d in mmio_writes(seen)]
    assert results[:2] == [SBI_ERR_NOT_SUPPORTED & M64, 0]
    assert results[2:4] == [0, SBI_SPEC_VERSION]              # BASE get_spec_version
    assert results[4:6] == [0, 0]                             # probe: the unknown EID is absent
    assert results[6:8] == [0, 1]                             # probe: TIME is there


def test_the_vmm_may_answer_a_forwarded_sbi_call():
    vm, vcpu = guest_vm(T_SBI)
    run_until(vcpu, SBI)[-1].ret[:] = [0, 0x1234]
    results = [d for a, w, d in mmio_writes(run_until(vcpu, SYSTEM_EVENT))]
    assert results[:2] == [0, 0x1234]


def test_wfi_sleeps_until_the_sbi_timer_fires():
    vm, vcpu = guest_vm(T_WFI)
    seen = run_until(vcpu, SYSTEM_EVENT)
    assert [d for a, w, d in mmio_writes(seen)] == [1 << 5, (1 << 63) | 5]   # sip.STIP; scause
    assert vcpu.exit_counts["virtual_insn"] >= 1                             # the wfi exited


# ---------------------------------------------------------------------- one_reg
@pytest.mark.parametrize("name,value", [
    ("core.pc", 0x8000_1234), ("core.a0", 0xDEAD_BEEF), ("core.x31", M64), ("core.sp", 8),
    ("core.mode", 0), ("csr.stvec", 0x8000_0100), ("csr.sscratch", 0x55), ("csr.sepc", 0x8000_0004),
    ("csr.scause", 13), ("csr.stval", 0x1000), ("csr.satp", (8 << 60) | 0x80001),
    ("csr.sie", 0x222), ("csr.sip", 0x2), ("timer.compare", 12345), ("bpc", 0x8000_0010),
])
def test_one_reg_round_trips(name, value):
    vm, vcpu = guest_vm(T_DIRTY)
    vcpu.set_reg(name, value)
    assert vcpu.get_reg(name) == value


def test_one_reg_sstatus_timer_and_config():
    vm, vcpu = guest_vm(T_DIRTY)
    vcpu.set_reg("csr.sstatus", 1 << 1 | 1 << 18)                  # SIE, SUM
    assert vcpu.get_reg("csr.sstatus") & (1 << 1 | 1 << 18) == 1 << 1 | 1 << 18
    vcpu.set_reg("timer.time", 1 << 40)
    assert 1 << 40 <= vcpu.get_reg("timer.time") < (1 << 40) + 10_000_000 * 60
    assert vcpu.get_reg("timer.frequency") == 10_000_000
    isa = vcpu.get_reg("config.isa")
    assert all(isa >> (ord(c) - 97) & 1 for c in "imafdc") and not isa >> (ord("h") - 97) & 1
    with pytest.raises(RegError, match="read-only"):
        vcpu.set_reg("config.isa", 0)
    with pytest.raises(RegError, match="unknown vcpu register"):
        vcpu.get_reg("core.pcx")


def test_pc_set_through_one_reg_is_where_the_guest_starts():
    vm, vcpu = guest_vm(T_DIRTY)
    vcpu.set_reg("core.pc", 0x2000_0000)                           # no slot there
    exit = vcpu.run()
    assert exit.reason == INTERNAL_ERROR and "0x20000000" in exit.message
    assert vcpu.get_reg("bpc") == 0x2000_0000


def test_in_hypervisor_mmio_device_is_served_without_exits():
    class Recorder:
        def __init__(self):
            self.writes = []

        def read(self, offset, size):
            return 0x8182838485868788 & ((1 << (8 * size)) - 1)

        def write(self, offset, size, value):
            self.writes.append((offset, size, value))

    vm, vcpu = guest_vm(T_MMIO)
    dev = Recorder()
    vm.register_mmio_device(MMIO_BASE, 0x1000, dev)
    seen = run_until(vcpu, SYSTEM_EVENT)
    assert [e.reason for e in seen] == [SYSTEM_EVENT]            # no MMIO exit at all
    # lb then lbu, each stored as a doubleword (the engine splits 8-byte MMIO in halves)
    assert dev.writes[:4] == [(8, 4, 0xFFFFFF88), (12, 4, 0xFFFFFFFF), (8, 4, 0x88), (12, 4, 0)]
    assert dev.writes[14:17] == [(16, 1, 0x88), (18, 2, 0x7788), (20, 4, 0x55667788)]
    with pytest.raises(VmError, match="overlaps another"):
        vm.register_mmio_device(MMIO_BASE, 0x1000, dev)
