"""Misbehaving guests end in INTERNAL_ERROR (or their own architectural fault), never a
traceback or a hang; and the guest cannot reach host memory outside its slots."""
import time

from hv_helpers import (MMIO_BASE, T_FLOOD, T_MMIO_FETCH, T_NOWHERE, T_PT_HOST, T_PT_OUTSIDE,
                        T_TRAP_LOOP, guest_vm, mmio_writes, run_until)

from rvkvm.hv import INTERNAL_ERROR, INTR, MMIO, SYSTEM_EVENT
from rvkvm.hv.vm import HOST_BASE


def test_jump_to_nowhere_is_an_internal_error_with_a_dump():
    vm, vcpu = guest_vm(T_NOWHERE)
    exit = run_until(vcpu, INTERNAL_ERROR)[-1]
    assert exit.reason == INTERNAL_ERROR
    assert "instruction fetch from gpa 0x20000000" in exit.message
    assert "level VS (V=1)" in exit.dump
    assert vcpu.run() is exit                                # a dead vcpu stays dead


def test_executing_mmio_space_is_an_internal_error():
    vm, vcpu = guest_vm(T_MMIO_FETCH)
    exit = run_until(vcpu, INTERNAL_ERROR)[-1]
    assert exit.reason == INTERNAL_ERROR and f"gpa {MMIO_BASE:#x}" in exit.message


def test_a_guest_faulting_at_its_own_trap_vector_ends():
    vm, vcpu = guest_vm(T_TRAP_LOOP)
    exit = run_until(vcpu, INTERNAL_ERROR)[-1]
    assert exit.reason == INTERNAL_ERROR and "trap loop" in exit.message


def test_page_table_outside_the_slots_is_an_internal_error():
    vm, vcpu = guest_vm(T_PT_OUTSIDE)
    exit = run_until(vcpu, INTERNAL_ERROR)[-1]
    assert exit.reason == INTERNAL_ERROR
    assert "page table at gpa 0x20000000 is outside its memory slots" in exit.message


def test_a_leaf_naming_host_memory_reaches_only_an_mmio_exit():
    # the guest maps VA 0xC0000000 to GPA HOST_BASE, where the VM's G-stage tables are
    # in host physical memory: the access is an MMIO exit at that GPA, never the tables
    vm, vcpu = guest_vm(T_PT_HOST)
    seen = run_until(vcpu, SYSTEM_EVENT, answer=0x1234)
    reads = [e.phys_addr for e in seen if e.reason == MMIO and not e.is_write]
    assert reads == [HOST_BASE]
    assert mmio_writes(seen) == [(MMIO_BASE, 8, 0x1234)]


def test_mmio_flood_is_bounded_by_the_vmm_not_a_hang():
    vm, vcpu = guest_vm(T_FLOOD)
    t_end = time.monotonic() + 0.5
    count = 0
    while time.monotonic() < t_end:
        exit = vcpu.run()
        assert exit.reason == MMIO and exit.is_write
        count += 1
    assert count > 100


def test_kick_returns_an_intr_exit_from_a_spinning_guest():
    import threading
    vm, vcpu = guest_vm(T_NOWHERE)
    vcpu.set_reg("core.pc", 0x8000_0000 + 0x40)              # somewhere in the code: spin
    spin = vm.allocate_memory(0x1000)
    spin.write(0, (0x0000006F).to_bytes(4, "little"))         # j .
    vm.set_user_memory_region(3, 0xC000_0000, 0x1000, spin)
    vcpu.set_reg("core.pc", 0xC000_0000)
    threading.Timer(0.2, vcpu.kick).start()
    exit = vcpu.run()
    assert exit.reason == INTR and exit.bpc == 0xC000_0000


def test_the_example_vmm_runs_a_guest_to_shutdown():
    import subprocess
    import sys
    from conftest import REPO_ROOT, rvkvm_env
    proc = subprocess.run([sys.executable, "examples/my_vmm.py", "tests/guests/hv_guest.elf", "1"],
                          cwd=REPO_ROOT, env=rvkvm_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "guest wrote 0xffffffffffffff88 to 0x40000008" in proc.stdout      # lb, sign-extended
    from hv_helpers import guest_symbol
    ecall = guest_symbol("t_readonly") - 4        # t_mmio ends with SHUTDOWN's ecall
    assert proc.stdout.rstrip().endswith(f"system_event: shutdown at pc {ecall:#x}")
