"""Shared set-up for tests/test_hv_*.py: a VM running tests/guests/hv_guest.elf with the
slots that program expects (RAM at 0x80000000, READONLY at 0x90000000, dirty-logged
at 0xA0000000; MMIO_BASE 0x40000000 is no slot)."""
from __future__ import annotations

from conftest import GUESTS_DIR, elf_symbol

from rvkvm import loaders
from rvkvm.hv import MEM_LOG_DIRTY_PAGES, MEM_READONLY, MMIO, SYSTEM_EVENT, VM

GUEST = GUESTS_DIR / "hv_guest.elf"
RAM, RO_SLOT, DIRTY_SLOT, MMIO_BASE = 0x8000_0000, 0x9000_0000, 0xA000_0000, 0x4000_0000
RO_VALUE = 0x5A5A
MMIO_READ_VALUE = 0x8182838485868788
(T_DIRTY, T_MMIO, T_READONLY, T_SBI, T_WFI, T_NOWHERE, T_TRAP_LOOP, T_PT_OUTSIDE,
 T_FLOOD, T_PT_HOST, T_MMIO_FETCH, T_TIME) = range(12)


def guest_vm(test: int, **vcpu_options):
    vm = VM(host_memory=16 << 20)
    ram = vm.allocate_memory(4 << 20)
    vm.set_user_memory_region(0, RAM, 4 << 20, ram)
    kernel = loaders.load_kernel(str(GUEST), vm.guest_phys_view(0))
    ro = vm.allocate_memory(0x1000)
    ro.write(0, RO_VALUE.to_bytes(8, "little"))
    vm.set_user_memory_region(2, RO_SLOT, 0x1000, ro, MEM_READONLY)
    vm.set_user_memory_region(1, DIRTY_SLOT, 64 << 10, vm.allocate_memory(64 << 10),
                              MEM_LOG_DIRTY_PAGES)
    vcpu = vm.create_vcpu(0, **vcpu_options)
    vcpu.set_reg("core.pc", kernel.entry)
    vcpu.set_reg("core.a0", test)
    return vm, vcpu


def guest_symbol(name: str) -> int:
    """The address of a label of hv_guest.elf (tests name the pc an exit reports)."""
    return elf_symbol(GUEST, name)


def run_until(vcpu, reason: str, limit: int = 200, answer: int = MMIO_READ_VALUE):
    """Run, answering MMIO reads with `answer`; every exit before the first `reason` one,
    and that one last."""
    seen = []
    for _ in range(limit):
        exit = vcpu.run()
        seen.append(exit)
        if exit.reason == reason:
            return seen
        if exit.reason == MMIO and not exit.is_write:
            exit.data = answer
        if exit.reason not in (MMIO, "sbi", "intr"):
            return seen
    return seen


def mmio_writes(exits_seen):
    return [(e.phys_addr, e.width, e.data) for e in exits_seen if e.reason == MMIO and e.is_write]


__all__ = ["guest_vm", "guest_symbol", "run_until", "mmio_writes", "SYSTEM_EVENT"]
