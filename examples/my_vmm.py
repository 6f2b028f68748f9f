"""Your own VMM in twenty lines on rvkvm/hv: run a bare-metal guest, print what it
writes to a pretend console register, stop when it shuts down.

    python examples/my_vmm.py [tests/guests/hv_guest.elf [TEST-NUMBER]]
"""
import sys

from rvkvm import loaders
from rvkvm.hv import INTERNAL_ERROR, MMIO, SBI, SYSTEM_EVENT, VM

path = sys.argv[1] if len(sys.argv) > 1 else "tests/guests/hv_guest.elf"
vm = VM(host_memory=16 << 20)                                  # host RAM for guest memory
ram = vm.allocate_memory(4 << 20)
vm.set_user_memory_region(0, 0x8000_0000, 4 << 20, ram)       # slot 0: RAM at 2 GiB
kernel = loaders.load_kernel(path, vm.guest_phys_view(0))
vcpu = vm.create_vcpu(0)
vcpu.set_reg("core.pc", kernel.entry)
vcpu.set_reg("core.a0", int(sys.argv[2]) if len(sys.argv) > 2 else 1)   # hv_guest: which program
while True:
    exit = vcpu.run()
    if exit.reason == MMIO:                                    # no slot there: a device is
        if exit.is_write:
            print(f"guest wrote {exit.data:#x} to {exit.phys_addr:#x}")
        else:
            exit.data = 0x8182838485868788                     # what the guest's load gets
    elif exit.reason == SBI:                                   # e.g. the SBI console
        print(f"SBI call eid {exit.eid:#x}: answered NOT_SUPPORTED")
    elif exit.reason in (SYSTEM_EVENT, INTERNAL_ERROR):
        print(f"{exit.reason}: {exit.event or exit.message} at pc {exit.bpc:#x}")
        break
