"""A vcpu: one H-extension hart running the guest at V=1, and `run()` (KVM_RUN).

The hart stays in its guest context from creation on. Every trap it routes from
V=1 to HS comes to `handle_exit` (the hart's `hypervisor` hook) with the guest still
loaded in Unicorn, so an exit served here (a G-stage fill, an SBI call, a redirected
fault) costs no V switch; only exits the VMM must see end the engine's run.
"""
from __future__ import annotations

from collections import Counter
from time import perf_counter

from unicorn import riscv_const as rc

from ..cpu.constants import (
    HSTATUS_VTW,
    MIP_VSTIP,
    PRV_S,
    VS_INTERRUPTS,
)
from ..cpu.hart import Hart
from ..cpu.regs import PC
from ..cpu.trap import GuestDied, Trap
from ..devices.base import Clock
from ..machine.wakeup import Wakeup
from . import exits, onereg
from .mmio import MmioInsn, load_result
from .sbi import VcpuSbi
from .vm import IO_WINDOW_BASE, IO_WINDOW_SIZE

M64 = (1 << 64) - 1
FS_INITIAL = 1 << 13
# as the native firmware hands over (machine/virt.py), with the H causes delegated to HS
MEDELEG = 0xB1FF | (1 << 10) | (0xF << 20)
MAX_IDLE_WAIT = 0.05                    # a sleeping vcpu still looks at kicks this often


class Vcpu:
    def __init__(self, vm, vcpu_id: int = 0, *, slice_seconds: float = 0.002,
                 trace_exit=None, trace_int=None, time_traps: bool = False):
        self.vm = vm
        self.vcpu_id = vcpu_id
        self.clock = Clock()
        self.trace = trace_exit                 # callable(str) for --trace exit
        hart = self.hart = Hart(vm.uc, vm.ram, self.clock, hart_id=vcpu_id,
                                slice_seconds=slice_seconds, trace=trace_int,
                                time_traps=time_traps, has_h=True)
        # the guest reaches devices by exits, or in-hypervisor devices in the IO window
        hart.mmio_ranges = ((IO_WINDOW_BASE, IO_WINDOW_SIZE),)
        hart.hypervisor = self
        self.sbi = VcpuSbi(self)
        self.timer_deadline = M64               # guest time at which VSTIP rises (compare)
        self.timer_armed = False                # ... and it has not risen yet
        self.waiting = False                    # in WFI: sleeps until an interrupt
        self.exit_counts: Counter = Counter()   # by kind, as kvm_stat
        self.exit_seconds: Counter = Counter()
        self._exit: exits.Exit | None = None
        self._pending: exits.Exit | None = None # to complete at the next run()
        self._pending_mmio: MmioInsn | None = None
        self._dead: exits.Exit | None = None
        self._open: tuple[str, float] | None = None
        self._kicked = False                    # kick(): return an INTR exit soon
        self._wake = Wakeup()                   # what a sleeping vcpu waits on
        self._last_fault = (None, 0)
        self._async_irqs: dict[int, bool] = {}  # set from device callbacks in the engine
        self._in_engine = False
        self._setup_hart()

    def _setup_hart(self) -> None:
        """What an HS hypervisor sets before its first sret into the guest (KVM's
        kvm_arch_vcpu_load / kvm_riscv_vcpu_setup_config)."""
        hart = self.hart
        hart.reset(0, PRV_S)
        hart.m.medeleg = MEDELEG
        hart.write_mideleg(0x222)
        hart.m.mcounteren = 0x7
        h = hart.h
        h.hedeleg, h.hideleg, h.hcounteren = exits.HEDELEG, exits.HIDELEG, 0x7
        hart.write_hstatus(HSTATUS_VTW)         # guest wfi exits: the vcpu sleeps here
        hart.write_hgatp(self.vm.gstage.hgatp)
        # HS's FS on, so that the guest's own FS decides about FP (hart._load_s_regs)
        ms = hart.regs.csr_read(rc.UC_RISCV_REG_MSTATUS)
        hart.regs.csr_write(rc.UC_RISCV_REG_MSTATUS, ms | FS_INITIAL)
        hart.enter_guest(0, PRV_S)
        # the guest's scounteren (Unicorn's, while the guest is loaded): CY, TM and IR
        # readable in VU, KVM's reset value (kvm_arch_vcpu_create). Linux without the
        # SBI PMU never writes it, and its vDSO reads the time in VU.
        hart.regs.csr_write(rc.UC_RISCV_REG_SCOUNTEREN, 0x7)

    # ------------------------------------------------------------------ registers
    def get_reg(self, name: str) -> int:
        return onereg.lookup(name)[0](self)

    def set_reg(self, name: str, value: int) -> None:
        onereg.lookup(name)[1](self, value & M64)

    def set_pc(self, pc: int) -> None:
        self.hart.regs.write(PC, pc)

    # ------------------------------------------------------------------ interrupts, timer
    def set_guest_interrupt(self, bits: int, level: bool) -> None:
        """Drive VS interrupt bits in hvip (VSSIP, VSTIP, VSEIP); from the vcpu's thread."""
        self.hart.write_hvip_bits(bits, bits if level else 0)
        self.hart.present_interrupts()

    def set_guest_interrupt_async(self, bits: int, level: bool) -> None:
        """The same, from code that runs inside the engine (an in-hypervisor device's
        MMIO callback must not touch the Uc): applied before the guest runs on."""
        self._async_irqs[bits] = level
        if self._in_engine:
            self.hart.request_stop()
            self._wake.ring()                   # the idle loop may be asleep in C

    def _apply_async_irqs(self) -> None:
        irqs, self._async_irqs = self._async_irqs, {}
        for bits, level in irqs.items():
            self.set_guest_interrupt(bits, level)

    def set_timer(self, deadline: int) -> None:
        self.timer_deadline = deadline
        self.timer_armed = deadline != M64
        self.set_guest_interrupt(MIP_VSTIP, False)
        self._poll_timer()

    # what the hart's C SBI timer path (cpu/intrhook.py) needs of the hypervisor
    def serves_sbi_timer_natively(self) -> bool:
        """Whether the C hook may serve the guest's SBI set_timer itself: nothing
        traces exits or SBI calls (each must be printed)."""
        return self.trace is None and self.sbi.trace is None

    def sbi_timer(self) -> tuple[int, bool]:
        return self.timer_deadline, self.timer_armed

    def fold_sbi_timer(self, served: int, deadline: int, armed: bool) -> None:
        """The C hook served `served` set_timer calls, the last for `deadline`, and the
        idle loop may have raised it since (not `armed`); hvip.VSTIP is set already."""
        self.timer_deadline = deadline
        self.timer_armed = armed
        self.exit_counts["ecall_vs"] += served      # as exits served here count

    def guest_time(self) -> int:
        return (self.clock.mtime() + self.hart.h.htimedelta) & M64

    def _poll_timer(self) -> None:
        if self.timer_armed and self.guest_time() >= self.timer_deadline:
            self.timer_armed = False
            self.set_guest_interrupt(MIP_VSTIP, True)

    def _guest_interrupt_pending(self) -> bool:
        h = self.hart
        return bool(h.read_hvip() & h.read_hie() & VS_INTERRUPTS)

    def kick(self) -> None:
        """Thread-safe: make run() return an INTR exit soon (as a signal to KVM_RUN)."""
        self._kicked = True
        self._wake.ring()
        self.hart.request_stop()

    def wfi(self) -> exits.Result:
        self.waiting = True
        self.hart.stop("wfi")
        return exits.resume("wfi: the vcpu sleeps")

    # ------------------------------------------------------------------ run
    def run(self) -> exits.Exit:
        """Run the guest until the VMM must act; returns the Exit (KVM_RUN)."""
        if self._dead is not None:
            return self._dead
        self._complete_pending()
        hart = self.hart
        while True:
            if self._kicked:
                self._kicked = False
                return exits.Exit(exits.INTR, bpc=hart.regs.read(PC), message="kicked")
            self._poll_timer()
            if self._async_irqs:
                self._apply_async_irqs()
            if self.waiting:
                if not self._guest_interrupt_pending():
                    slept = self._idle_natively()
                    if slept is None:
                        self._sleep()
                    elif slept is not True:
                        return slept            # an exit the idle loop's last run made
                    continue
                self.waiting = False
            self._exit = None
            self._close_exit_timer()
            self._in_engine = True
            try:
                hart.run_slice()
            except GuestDied as death:
                return self._die(death.reason, death.dump)
            finally:
                self._in_engine = False
            if self._exit is not None:
                return self._leave(self._exit)

    def _idle_natively(self) -> exits.Exit | bool | None:
        """The WFI slept through in C (Hart.idle_in_wfi: the guest's timer ticks and
        its SBI set_timer calls served there too, until a kick or anything else for
        Python). None: it cannot be (then _sleep); True: run on; else the Exit."""
        if self._wake.fd is None:
            return None
        self.waiting = False                    # the loop runs the guest, unless it only slept
        self._exit = None
        self._close_exit_timer()
        self._in_engine = True
        try:
            slept = self.hart.idle_in_wfi(self._wake.fd, M64)
        except GuestDied as death:
            return self._die(death.reason, death.dump)
        finally:
            self._in_engine = False
        self.exit_counts["virtual_insn"] += self.hart.idle_wfis   # its WFI exits
        if slept is None or slept == "waiting":
            self.waiting = True
            return None if slept is None else True
        if self._exit is not None:
            return self._leave(self._exit)
        return True

    def _sleep(self) -> None:
        wait = MAX_IDLE_WAIT
        if self.timer_armed:
            wait = min(wait, max(0.0, (self.timer_deadline - self.guest_time()) / self.clock.hz))
        self._wake.sleep(wait)

    def _leave(self, exit: exits.Exit) -> exits.Exit:
        if exit.reason == exits.INTERNAL_ERROR:
            self._dead = exit
        else:
            self._pending = exit
        return exit

    def _die(self, reason: str, dump: str) -> exits.Exit:
        self._dead = exits.Exit(exits.INTERNAL_ERROR, bpc=self.hart.h.bpc, message=reason, dump=dump)
        self._count("internal_error", 0.0)
        return self._dead

    def _complete_pending(self) -> None:
        """Finish the instruction the last exit stopped at, with the VMM's answer
        (kvm_riscv_vcpu_mmio_return / kvm_riscv_vcpu_sbi_return)."""
        exit, self._pending = self._pending, None
        if exit is None:
            return
        r = self.hart.regs
        if exit.reason == exits.MMIO:
            insn, self._pending_mmio = self._pending_mmio, None
            if not exit.is_write:
                r.write_x(insn.reg, load_result(insn, exit.data))
            self.set_pc(exit.bpc + insn.length)
        elif exit.reason == exits.SBI:
            r.write_x(10, exit.ret[0])
            r.write_x(11, exit.ret[1])
            self.set_pc(exit.bpc + 4)

    # ------------------------------------------------------------------ exits (the hart's hook)
    def handle_exit(self, hart, trap: Trap, gva: bool) -> None:
        t0 = perf_counter()
        try:
            result = exits.handle(self, trap)
        except GuestDied:
            raise
        except Exception as err:            # a bug here must end the VM, not the process
            result = exits.error(f"rvkvm hypervisor error on {trap.name}: {err!r}")
        kind = self._kind(trap, result)
        if self.trace is not None:
            detail = result.note if result.exit is None else result.exit.describe()
            self.trace(f"[exit] {kind} bpc={trap.epc:#x} {detail}")
        if result.kind == "resume":
            self._count(kind, perf_counter() - t0)
            return
        exit = result.exit
        exit.bpc = trap.epc
        if result.kind == "error":
            self.set_pc(trap.epc)
            exit.dump = hart.dump()
        self._open = (kind, t0)
        self._exit = exit
        hart.stop(exit.reason)

    @staticmethod
    def _kind(trap: Trap, result: exits.Result) -> str:
        if result.kind == "error":
            return "internal_error"
        if result.kind == "exit":
            return result.exit.reason
        return trap.name

    def _count(self, kind: str, seconds: float) -> None:
        self.exit_counts[kind] += 1
        self.exit_seconds[kind] += seconds

    def _close_exit_timer(self) -> None:
        """An exit to the VMM lasts until the guest runs again."""
        if self._open is not None:
            kind, t0 = self._open
            self._open = None
            self._count(kind, perf_counter() - t0)

    def mmio_exit(self, epc: int, gpa: int, insn: MmioInsn) -> exits.Result:
        data = 0
        if insn.is_write:
            data = self.hart.regs.read_x(insn.reg) & ((1 << (8 * insn.width)) - 1)
        self._pending_mmio = insn
        self.set_pc(epc)
        return exits.to_vmm(exits.Exit(exits.MMIO, phys_addr=gpa, width=insn.width,
                                       is_write=insn.is_write, data=data))

    def note_fault(self, gpa: int) -> bool:
        """True when the same page faulted too often in a row (a mapping that does
        not take: end the VM rather than loop)."""
        page = gpa >> 12
        last, count = self._last_fault
        count = count + 1 if page == last else 1
        self._last_fault = (page, count)
        return count > exits.MAX_SAME_FAULT

    def guest_insn_at(self, pc: int):
        return self.hart.fetch_insn(pc)

    def flush_translations(self, gstage: bool) -> None:
        if gstage:
            self.hart.translation.flush_gstage()
        self.hart.flush_tlb()
