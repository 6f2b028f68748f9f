"""rvkvm's own M-mode firmware: serves a native kernel's SBI calls in Python.

The hart calls `ecall()` for an S-mode ecall and `handle_trap()` for any other trap
that reaches M. The SBI extensions themselves live in rvkvm.sbi and see only this
object through the SbiHost interface, so the hypervisor can serve guests with them.
"""
from __future__ import annotations

from ..cpu.constants import MIP_SSIP, MIP_STIP
from ..cpu.trap import Trap
from ..devices.finisher import NO_REBOOT
from .. import sbi

M64 = (1 << 64) - 1
SRST_SHUTDOWN = 0
SRST_REASON_FAILURE = 1
SRST_REBOOTS = {1: "cold reboot", 2: "warm reboot"}


class PythonFirmware:
    """One hart's M-level firmware (SbiHost)."""

    def __init__(self, machine, hart_id: int = 0, trace=None):
        self.machine = machine
        self.trace = trace                 # callable(str) for --trace sbi, or None
        self.hart_id = hart_id
        self.num_harts = 1
        self.timer_deadline = M64          # mtime at which STIP rises (SBI set_timer)
        self.hart = None

    # ---------------------------------------------------------------- served by the hart
    def ecall(self, hart) -> None:
        self.hart = hart
        args = hart.regs.read_args()
        result = sbi.dispatch(self, args[7], args[6], args[:6])
        if self.trace is not None:
            row = sbi.find_extension(args[7])
            name = row.name if row is not None else f"eid {args[7]:#x}"
            self.trace(f"[sbi] {name} fid={args[6]} a0={args[0]:#x} a1={args[1]:#x} "
                       f"a2={args[2]:#x} -> error={result.error} value={result.value:#x}")
        hart.regs.write_x(10, result.a0)
        if result.a1 is not None:
            hart.regs.write_x(11, result.a1)

    def handle_trap(self, hart, trap: Trap) -> None:
        hart.die(f"{trap.name} trapped to M-mode, which rvkvm's SBI firmware does not serve "
                 f"(epc {trap.epc:#x}, tval {trap.tval:#x})", trap.epc)

    def poll(self) -> None:
        """Between slices: raise STIP once the SBI timer deadline has passed."""
        if self.timer_deadline != M64 and self.machine.clint.mtime() >= self.timer_deadline:
            self.timer_deadline = M64
            self.machine.hart.set_sw_pending(MIP_STIP, True)

    def next_deadline(self) -> int | None:
        """The mtime at which STIP rises, like the devices' deadlines."""
        return None if self.timer_deadline == M64 else self.timer_deadline

    # ---------------------------------------------------------------- SbiHost
    def set_timer(self, stime_value: int) -> None:
        hart = self.machine.hart
        hart.set_sw_pending(MIP_STIP, False)
        self.timer_deadline = stime_value & M64
        self.poll()

    def send_ipi(self, hart_ids) -> None:
        if self.hart_id in hart_ids:
            self.machine.hart.set_sw_pending(MIP_SSIP, True)

    def clear_ipi(self) -> None:
        self.machine.hart.set_sw_pending(MIP_SSIP, False)

    def remote_fence_i(self, hart_ids) -> None:
        # Nothing to do: the engine (QEMU's TCG) already invalidates translated code on
        # every guest store to it, which is what fence.i asks for. Flushing the whole
        # translation cache here cost ~1 ms per call, 0.7 s of a Linux boot.
        pass

    def remote_sfence_vma(self, hart_ids, start, size, asid) -> None:
        self.machine.hart.flush_tlb()
        self.machine.hart.forget_code_pages()

    def console_write(self, data: bytes) -> None:
        self.machine.console.write(data)

    def console_read(self, max_bytes: int) -> bytes:
        return self.machine.console.read_nonblocking(max_bytes)

    def read_guest_memory(self, paddr: int, length: int):
        ram = self.machine.ram
        return ram.read(paddr, length) if ram.contains(paddr, length) else None

    def write_guest_memory(self, paddr: int, data: bytes) -> bool:
        ram = self.machine.ram
        if not ram.contains(paddr, len(data)):
            return False
        ram.write(paddr, data)
        return True

    def system_reset(self, reset_type: int, reason: int) -> None:
        if reset_type == SRST_SHUTDOWN:
            status = 0 if reason != SRST_REASON_FAILURE else 1
            self.machine.request_exit(status, "SBI shutdown" + (" (system failure)" if status else ""))
        else:
            kind = SRST_REBOOTS.get(reset_type, f"reset (type {reset_type})")
            self.machine.request_exit(self.machine.EXIT_RESET, f"SBI {kind} ({NO_REBOOT})")
        self.machine.hart.stop("system reset")

    def hart_start(self, hart_id, start_addr, opaque) -> int:
        return sbi.constants.SBI_ERR_ALREADY_AVAILABLE if hart_id == self.hart_id else sbi.constants.SBI_ERR_INVALID_PARAM

    def hart_stop(self) -> int:
        self.machine.request_exit(0, "the only hart stopped")
        self.machine.hart.stop("hart stop")
        return 0

    def hart_status(self, hart_id) -> int:
        return 0 if hart_id == self.hart_id else sbi.constants.SBI_ERR_INVALID_PARAM

    def hart_suspend(self, suspend_type, resume_addr, opaque) -> int:
        return 0                           # a retentive suspend that resumes at once

    def machine_ids(self):
        return (0, 0, 0)
