"""rvkvm/hv: a KVM-style hypervisor in Python on the H-extension hart.

    vm = VM(host_memory=64 << 20)
    mem = vm.allocate_memory(16 << 20)
    vm.set_user_memory_region(0, 0x8000_0000, 16 << 20, mem)
    vcpu = vm.create_vcpu(0)
    vcpu.set_reg("core.pc", 0x8000_0000)
    exit = vcpu.run()            # exits.MMIO, SBI, SYSTEM_EVENT, INTERNAL_ERROR, INTR

vm.py (slots, dirty log), gstage.py (G-stage tables on demand), vcpu.py (run, one_reg),
exits.py (the exit table), sbi.py (SBI for the guest), mmio.py (decode), vmm.py (boot --guest).
"""
from .exits import INTERNAL_ERROR, INTR, MMIO, RESET, SBI, SHUTDOWN, SYSTEM_EVENT, Exit
from .vm import MEM_LOG_DIRTY_PAGES, MEM_READONLY, VM, HostMemory, VmError

__all__ = ["VM", "HostMemory", "VmError", "Exit", "MEM_LOG_DIRTY_PAGES", "MEM_READONLY",
           "MMIO", "SBI", "SYSTEM_EVENT", "INTERNAL_ERROR", "INTR", "SHUTDOWN", "RESET"]
