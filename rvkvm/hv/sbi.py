"""SBI for a guest, served at HS from the same extension table the native firmware uses
(rvkvm/sbi), through one `SbiHost` per vcpu (KVM's vcpu_sbi.c).

What the table cannot say by itself lives here:
- "exit to the VMM": the console calls (DBCN, legacy putchar/getchar) and every EID
  the table does not know become an SBI exit (KVM_EXIT_RISCV_SBI); the VMM answers,
  NOT_SUPPORTED unless it says otherwise;
- "inject a trap": a legacy hart mask the guest points at unmapped memory makes its
  page fault appear at the ecall, as KVM's unprivileged read redirects it;
- SRST and HSM stop end the run with a SYSTEM_EVENT exit.
"""
from __future__ import annotations

from .. import sbi
from ..cpu import walk
from ..cpu.constants import MIP_VSSIP
from ..cpu.trap import Trap
from ..sbi.constants import (
    SBI_ERR_ALREADY_AVAILABLE, SBI_ERR_INVALID_PARAM, SBI_EXT_0_1_CONSOLE_GETCHAR,
    SBI_EXT_0_1_CONSOLE_PUTCHAR, SBI_EXT_DBCN, SBI_SRST_RESET_REASON_SYSFAIL,
    SBI_SRST_RESET_TYPE_SHUTDOWN,
)
from . import exits

M64 = (1 << 64) - 1
FORWARDED_EIDS = frozenset((SBI_EXT_DBCN, SBI_EXT_0_1_CONSOLE_PUTCHAR, SBI_EXT_0_1_CONSOLE_GETCHAR))


class VcpuSbi:
    """One vcpu's SbiHost."""

    num_harts = 1

    def __init__(self, vcpu, trace=None):
        self.vcpu = vcpu
        self.hart = vcpu.hart
        self.hart_id = vcpu.vcpu_id
        self.trace = trace
        self._event: exits.Exit | None = None    # set by system_reset / hart_stop
        self._trap: Trap | None = None           # set by a faulting guest-memory read

    # ------------------------------------------------------------------ serving an ecall
    def serve(self, trap: Trap) -> exits.Result:
        hart = self.hart
        args = hart.regs.read_args()
        eid, fid = args[7], args[6]
        row = sbi.find_extension(eid)
        if row is None or eid in FORWARDED_EIDS:
            return exits.to_vmm(exits.Exit(exits.SBI, eid=eid, fid=fid, args=tuple(args[:6])))
        self._event = self._trap = None
        result = sbi.dispatch(self, eid, fid, args[:6])
        if self._trap is not None:
            hart.inject_vs(self._trap)
            return exits.resume(f"{row.name} fid {fid}: trap injected")
        hart.regs.write_x(10, result.a0)
        if result.a1 is not None:
            hart.regs.write_x(11, result.a1)
        self.vcpu.set_pc(trap.epc + 4)
        note = f"{row.name} fid {fid} -> {result.error}, {result.value:#x}"
        if self._event is not None:
            return exits.to_vmm(self._event)
        return exits.resume(note)

    # ------------------------------------------------------------------ SbiHost
    def set_timer(self, stime_value: int) -> None:
        self.vcpu.set_timer(stime_value & M64)

    def send_ipi(self, hart_ids) -> None:
        if self.hart_id in hart_ids:
            self.vcpu.set_guest_interrupt(MIP_VSSIP, True)

    def clear_ipi(self) -> None:
        self.vcpu.set_guest_interrupt(MIP_VSSIP, False)

    def remote_fence_i(self, hart_ids) -> None:
        pass                               # the engine keeps translated code coherent itself

    def remote_sfence_vma(self, hart_ids, start, size, asid) -> None:
        self.hart.flush_tlb()

    def console_write(self, data: bytes) -> None:    # forwarded to the VMM, never called
        raise AssertionError("console calls exit to the VMM")

    def console_read(self, max_bytes: int) -> bytes:
        raise AssertionError("console calls exit to the VMM")

    def read_guest_memory(self, addr: int, length: int):
        gpa = self._guest_phys(addr, walk.LOAD)
        return None if gpa is None else self.vcpu.vm.read_guest(gpa, length)

    def write_guest_memory(self, addr: int, data: bytes) -> bool:
        gpa = self._guest_phys(addr, walk.STORE)
        return gpa is not None and self.vcpu.vm.write_guest(gpa, data)

    def _guest_phys(self, va: int, access: int) -> int | None:
        """The GPA of a guest (virtual, once it pages) address, VS-stage only; a VS
        page fault is injected at the ecall."""
        cfg = self.hart.walk_config()._replace(hgatp=0)
        w = self.hart.translate(va, access, cfg)
        if w.ok:
            return w.pa
        self._trap = Trap(w.cause, self.hart.h.bpc, va)
        return None

    def system_reset(self, reset_type: int, reason: int) -> None:
        if reset_type == SBI_SRST_RESET_TYPE_SHUTDOWN:
            self._event = exits.Exit(exits.SYSTEM_EVENT, event=exits.SHUTDOWN,
                                     code=1 if reason == SBI_SRST_RESET_REASON_SYSFAIL else 0)
        else:
            self._event = exits.Exit(exits.SYSTEM_EVENT, event=exits.RESET, code=reset_type)

    def hart_start(self, hart_id, start_addr, opaque) -> int:
        return SBI_ERR_ALREADY_AVAILABLE if hart_id == self.hart_id else SBI_ERR_INVALID_PARAM

    def hart_stop(self) -> int:
        self._event = exits.Exit(exits.SYSTEM_EVENT, event=exits.SHUTDOWN,
                                 message="the only vcpu stopped")
        return 0

    def hart_status(self, hart_id) -> int:
        return 0 if hart_id == self.hart_id else SBI_ERR_INVALID_PARAM

    def hart_suspend(self, suspend_type, resume_addr, opaque) -> int:
        self.vcpu.wfi()                     # retentive: sleep as WFI does, then return
        return 0

    def machine_ids(self):
        return (0, 0, 0)
