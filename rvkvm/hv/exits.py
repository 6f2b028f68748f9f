"""VM exits: what `vcpu.run()` returns, and the handlers of traps from V=1 to HS.

As Linux arch/riscv/kvm/vcpu_exit.c `kvm_riscv_vcpu_exit()`: one handler per cause,
looked up in a table, each returning an explicit `Result`: resume the guest, exit
to the VMM with an `Exit`, or fail (INTERNAL_ERROR, the run cannot go on).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..cpu.constants import (
    EXC_BREAKPOINT,
    EXC_ECALL_VS,
    EXC_ILLEGAL_INSN,
    EXC_INSN_ACCESS,
    EXC_INSN_GUEST_PAGE_FAULT,
    EXC_INSN_MISALIGNED,
    EXC_LOAD_ACCESS,
    EXC_LOAD_GUEST_PAGE_FAULT,
    EXC_LOAD_MISALIGNED,
    EXC_STORE_ACCESS,
    EXC_STORE_GUEST_PAGE_FAULT,
    EXC_STORE_MISALIGNED,
    EXC_VIRTUAL_INSN,
    INSN_WFI,
)
from ..cpu.trap import Trap
from .mmio import decode_insn, decode_transformed

# exit reasons (KVM_EXIT_*)
MMIO = "mmio"
SBI = "sbi"                       # KVM_EXIT_RISCV_SBI: a call the VMM serves
SYSTEM_EVENT = "system_event"
INTERNAL_ERROR = "internal_error"
INTR = "intr"                     # vcpu.kick() or a pending signal: back to the VMM

SHUTDOWN, RESET = "shutdown", "reset"   # SYSTEM_EVENT types
MAX_SAME_FAULT = 8                # the same guest-page fault again and again: a broken map


@dataclass
class Exit:
    """One return of vcpu.run(). For MMIO reads the VMM sets `data` before the next
    run(); for SBI it may set `ret` (error, value), NOT_SUPPORTED by default."""
    reason: str
    bpc: int = 0                  # the guest pc of the exit
    phys_addr: int = 0            # MMIO
    width: int = 0
    is_write: bool = False
    data: int = 0
    eid: int = 0                  # SBI
    fid: int = 0
    args: tuple = ()
    ret: list = field(default_factory=lambda: [-2, 0])
    event: str = ""               # SYSTEM_EVENT: SHUTDOWN or RESET
    code: int = 0                 # SYSTEM_EVENT reason / status
    message: str = ""             # INTERNAL_ERROR: why; else a description for traces
    dump: str = ""

    def describe(self) -> str:
        if self.reason == MMIO:
            arrow = "<-" if self.is_write else "->"
            return f"{'write' if self.is_write else 'read'} {self.phys_addr:#x} size {self.width} {arrow} {self.data:#x}"
        if self.reason == SBI:
            return f"eid {self.eid:#x} fid {self.fid} args " + " ".join(f"{a:#x}" for a in self.args[:3])
        if self.reason == SYSTEM_EVENT:
            return f"{self.event} code {self.code}"
        return self.message


@dataclass(frozen=True)
class Result:
    kind: str                     # "resume", "exit" or "error"
    exit: Exit | None = None
    note: str = ""                # for --trace exit


def resume(note: str = "") -> Result:
    return Result("resume", note=note)


def to_vmm(exit: Exit) -> Result:
    return Result("exit", exit)


def error(message: str) -> Result:
    return Result("error", Exit(INTERNAL_ERROR, message=message))


# ---------------------------------------------------------------------- handlers
def on_sbi(vcpu, trap: Trap) -> Result:
    return vcpu.sbi.serve(trap)


def on_guest_page_fault(vcpu, trap: Trap) -> Result:
    """Map slot memory, or turn the access into an MMIO exit (gstage_page_fault)."""
    implicit = bool(trap.tinst) and not trap.tinst & 1    # a VS PTE access: htval is exact
    gpa = trap.tval2 << 2 if implicit else (trap.tval2 << 2) | (trap.tval & 3)
    store = trap.cause == EXC_STORE_GUEST_PAGE_FAULT
    if vcpu.vm.map_fault(gpa, store) == "mapped":
        if vcpu.note_fault(gpa):
            return error(f"guest-page fault at gpa {gpa:#x} repeats after it was mapped")
        vcpu.set_pc(trap.epc)
        return resume(f"mapped gpa {gpa:#x}")
    if trap.cause == EXC_INSN_GUEST_PAGE_FAULT:
        return error(f"instruction fetch from gpa {gpa:#x}, which is no memory slot")
    if implicit:
        return error(f"the guest's page table at gpa {gpa:#x} is outside its memory slots")
    insn = decode_transformed(trap.tinst)
    if insn is None:
        bits, length = vcpu.guest_insn_at(trap.epc)
        insn = decode_insn(bits, length) if bits is not None else None
    if insn is None:
        return error(f"MMIO access at gpa {gpa:#x} by an instruction rvkvm cannot emulate "
                     f"(pc {trap.epc:#x})")
    return vcpu.mmio_exit(trap.epc, gpa, insn)


def on_virtual_insn(vcpu, trap: Trap) -> Result:
    """WFI sleeps; any other instruction is illegal for the guest (as KVM redirects it)."""
    if trap.tval == INSN_WFI:
        vcpu.set_pc(trap.epc + 4)
        return vcpu.wfi()
    vcpu.hart.inject_vs(Trap(EXC_ILLEGAL_INSN, trap.epc, trap.tval))
    return resume("illegal instruction redirected to the guest")


def on_redirect(vcpu, trap: Trap) -> Result:
    """A fault the guest's own handler takes (kvm_riscv_vcpu_trap_redirect)."""
    vcpu.hart.inject_vs(Trap(trap.cause, trap.epc, trap.tval))
    return resume(f"{trap.name} redirected to the guest")


EXIT_HANDLERS = {
    EXC_ECALL_VS: on_sbi,
    EXC_INSN_GUEST_PAGE_FAULT: on_guest_page_fault,
    EXC_LOAD_GUEST_PAGE_FAULT: on_guest_page_fault,
    EXC_STORE_GUEST_PAGE_FAULT: on_guest_page_fault,
    EXC_VIRTUAL_INSN: on_virtual_insn,
    EXC_INSN_MISALIGNED: on_redirect,
    EXC_INSN_ACCESS: on_redirect,
    EXC_ILLEGAL_INSN: on_redirect,
    EXC_BREAKPOINT: on_redirect,
    EXC_LOAD_MISALIGNED: on_redirect,
    EXC_LOAD_ACCESS: on_redirect,
    EXC_STORE_MISALIGNED: on_redirect,
    EXC_STORE_ACCESS: on_redirect,
}

# exceptions the guest takes itself, never exiting (KVM_HEDELEG_DEFAULT, plus illegal
# instruction as Linux 6.10+): misaligned fetch, illegal insn, breakpoint, ecall from
# VU, page faults
HEDELEG = ((1 << EXC_INSN_MISALIGNED) | (1 << EXC_ILLEGAL_INSN) | (1 << EXC_BREAKPOINT)
           | (1 << 8) | (1 << 12) | (1 << 13) | (1 << 15))
HIDELEG = (1 << 2) | (1 << 6) | (1 << 10)      # VSSIP, VSTIP, VSEIP (KVM_HIDELEG_DEFAULT)


def handle(vcpu, trap: Trap) -> Result:
    if trap.interrupt:
        return resume("host interrupt")
    handler = EXIT_HANDLERS.get(trap.cause)
    if handler is None:
        return error(f"unexpected trap from the guest: {trap.name} at pc {trap.epc:#x} "
                     f"(tval {trap.tval:#x})")
    return handler(vcpu, trap)
