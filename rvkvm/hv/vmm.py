"""A VMM on rvkvm/hv, like kvmtool: `rvkvm boot --guest KERNEL`.

One RAM slot at 0x80000000; the kernel, initrd and a generated device tree loaded
into it; the UART, PLIC and test finisher of the virt machine emulated on MMIO
exits (the same device models as the native machine, fed by exits instead of
Unicorn callbacks), except that the UART, ~10,000 accesses per Linux boot, is by
default an in-hypervisor device (vm.register_mmio_device: no exit per access); the
PLIC's S-context line drives the guest's VSEIP; the SBI console calls the hypervisor
forwards are served here.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .. import loaders
from ..cpu.constants import IRQ_SEI, MIP_VSEIP
from ..cpu.hart import print_trace
from ..devices.bus import Bus
from ..devices.finisher import RESET_STATUS, TestFinisher
from ..devices.plic import Plic
from ..devices.uart16550 import make_uart0
from ..memory import layout
from ..machine.console import Console
from ..machine.fdt import build_device_tree
from ..machine.placement import device_tree_blob, place_device_tree, place_initrd
from ..machine.virt import ISA_STRING, MMU_TYPE, RunResult
from ..sbi.constants import (
    SBI_ERR_INVALID_PARAM, SBI_EXT_0_1_CONSOLE_GETCHAR, SBI_EXT_0_1_CONSOLE_PUTCHAR,
    SBI_EXT_DBCN, SBI_EXT_DBCN_CONSOLE_READ, SBI_EXT_DBCN_CONSOLE_WRITE,
    SBI_EXT_DBCN_CONSOLE_WRITE_BYTE,
)
from . import exits
from .vm import VM

from .. import exit_status

EXIT_TIMEOUT, EXIT_DIED, EXIT_PANIC, EXIT_NO_MATCH = (
    exit_status.TIMEOUT, exit_status.DIED, exit_status.PANIC, exit_status.NO_MATCH)
COMPLETED_ON_ENTRY = (exits.MMIO, exits.SBI)   # the vcpu finishes their instruction
HOUSEKEEPING_SECONDS = 0.02     # console flush and device polling while the guest sleeps
DBCN_MAX = 64 * 1024


@dataclass
class GuestConfig:
    ram_size: int = layout.DEFAULT_RAM_SIZE
    append: str | None = None
    initrd: str | None = None
    dtb: str | None = None
    expect: str | None = None
    trace: frozenset = field(default_factory=frozenset)   # of "exit", "int", "mmio"
    stats: bool = False
    console_out: object = None
    slice_seconds: float = 0.002
    # the UART as an in-hypervisor device (KVM's in-kernel io bus: no exit per access)
    # instead of on MMIO exits to this VMM
    uart_in_hypervisor: bool = True


class GuestIrq:
    """The PLIC's hart lines as the guest sees them: the S context drives VSEIP."""

    def __init__(self, vcpu):
        self._vcpu = vcpu

    def set_irq(self, line: int, level: bool) -> None:
        if line == IRQ_SEI:            # may run inside the engine (an in-hypervisor UART)
            self._vcpu.set_guest_interrupt_async(MIP_VSEIP, level)


class Vmm:
    debugger = None                    # a gdb stub (rvkvm/gdb) hooks itself in here

    def __init__(self, config: GuestConfig | None = None):
        self.config = cfg = config or GuestConfig()
        self.vm = VM(host_memory=cfg.ram_size)
        memory = self.vm.allocate_memory(cfg.ram_size)
        self.vm.set_user_memory_region(0, layout.RAM_BASE, cfg.ram_size, memory)
        self.ram = self.vm.guest_phys_view(0)
        self._exit: tuple[int, str] | None = None
        self._thread = threading.get_ident()
        self.console = Console(cfg.console_out, expect=cfg.expect,
                               on_match=lambda: self.request_exit(0, "console matched --expect"),
                               on_panic=lambda: self.request_exit(EXIT_PANIC, "kernel panic"),
                               on_quit=lambda: self.request_exit(0, "quit with Ctrl-A x"))
        self.vcpu = self.vm.create_vcpu(
            0, slice_seconds=cfg.slice_seconds, time_traps=cfg.stats,
            trace_exit=print_trace if "exit" in cfg.trace else None,
            trace_int=print_trace if "int" in cfg.trace else None)
        self.bus = Bus()
        self.finisher = self.bus.add(TestFinisher(self))
        self.plic = self.bus.add(Plic(GuestIrq(self.vcpu), self))
        self.uart = self.bus.add(make_uart0(self.console.write, self.plic, self))
        for dev in self.bus.devices:
            dev.mmio_reads = dev.mmio_writes = 0
        if cfg.uart_in_hypervisor:
            self.vm.register_mmio_device(self.uart.base, self.uart.size, self.uart)
        self.trace_mmio = print_trace if "mmio" in cfg.trace else None
        self.console.add_input_sink(self.uart.feed)
        self.pollables = (self.uart, self.plic)
        self.dtb = b""
        self._handlers = {exits.MMIO: self._on_mmio, exits.SBI: self._on_sbi,
                          exits.SYSTEM_EVENT: self._on_system_event, exits.INTR: self._on_intr}

    # ---------------------------------------------------------------- what a debugger sees
    @property
    def hart(self):
        return self.vcpu.hart

    @property
    def uc(self):
        return self.vm.uc

    def debug_target(self):
        """gdb's view of this machine: the guest's (rvkvm/gdb/guest.py)."""
        from ..gdb.guest import GuestTarget
        return GuestTarget(self)

    # ---------------------------------------------------------------- Events for devices
    def request_stop(self) -> None:
        """Devices ask for attention: from another thread (host input), kick the vcpu;
        from this one the VMM is already in control."""
        if threading.get_ident() != self._thread:
            self.vcpu.kick()

    def request_exit(self, status: int, reason: str) -> None:
        if self._exit is None:
            self._exit = (status, reason)
        # a kick even from this thread: a signal handler runs here while the vcpu runs
        # (asleep, it would not come back to the VMM to see the request)
        self.vcpu.kick()

    # ---------------------------------------------------------------- loading
    def load(self, kernel_path: str) -> None:
        cfg = self.config
        kernel = loaders.load_kernel(kernel_path, self.ram)
        initrd = place_initrd(cfg.initrd, self.ram, kernel.end) if cfg.initrd else None
        self.dtb = device_tree_blob(cfg.dtb, cfg.append, initrd, self._device_tree, self.ram)
        addr = place_device_tree(self.ram, self.dtb, kernel.end, initrd)
        v = self.vcpu
        v.set_reg("core.pc", kernel.entry)
        v.set_reg("core.a0", 0)                # hart id
        v.set_reg("core.a1", addr)             # device tree

    def _device_tree(self, initrd) -> bytes:
        cfg = self.config
        return build_device_tree(
            ram_base=self.ram.base, ram_size=self.ram.size, isa=ISA_STRING, mmu_type=MMU_TYPE,
            devices=self.bus.devices, bootargs=cfg.append,
            stdout_path=f"/soc/serial@{layout.UART0_BASE:x}", initrd=initrd)

    # ---------------------------------------------------------------- running
    def run(self, timeout: float | None = None) -> RunResult:
        t_end = None if timeout is None else time.monotonic() + timeout
        stop_ticker = threading.Event()
        threading.Thread(target=self._housekeeping, args=(stop_ticker, t_end), daemon=True).start()
        vcpu = self.vcpu
        exit = None
        try:
            while True:
                if self.debugger is not None:      # gdb: halts here while it has the hart
                    self._debug_point(exit)
                    if self._exit is not None:
                        return self._final_result()
                exit = vcpu.run()
                if exit.reason == exits.INTERNAL_ERROR:
                    if self._exit is not None:
                        return self._final_result()
                    return RunResult(EXIT_DIED, f"guest died: {exit.message}", exit.dump)
                self._handlers[exit.reason](exit)
                if self._exit is not None:
                    return self._final_result()
                if t_end is not None and exit.reason == exits.INTR and time.monotonic() >= t_end:
                    return RunResult(EXIT_TIMEOUT, f"timeout after {timeout:g} s",
                                     vcpu.hart.dump())
        finally:
            stop_ticker.set()
            self.console.flush()
            vcpu.hart.slicer.close()

    # ---------------------------------------------------------------- the gdb stub's hooks
    def _debug_point(self, last: exits.Exit | None) -> None:
        """Between two vcpu runs: let the stub halt the guest. An MMIO or SBI exit's
        instruction is completed first (the vcpu does it on its next run), so gdb sees
        the state after it, as the guest will."""
        if not self.debugger.may_halt():
            return
        if last is not None and last.reason in COMPLETED_ON_ENTRY:
            self._complete_exit()
        if self.debugger.before_slice(self.vcpu.waiting):
            self.vcpu.waiting = False          # gdb halted it here: the WFI is over

    def _complete_exit(self) -> None:
        """Finish the last exit's instruction without running the guest: a kicked vcpu
        completes it on entry and returns at once."""
        self.vcpu.kick()
        self._handlers[exits.INTR](self.vcpu.run())

    def run_debug_slice(self) -> bool:
        """The stub's single step: one vcpu run (its slicer runs one instruction and
        returns, rvkvm/gdb/guest.py), the exit it makes served as the run loop would,
        and that exit's instruction completed. False: the vcpu is dead."""
        exit = self.vcpu.run()
        handler = self._handlers.get(exit.reason)
        if handler is None:                    # dead: the run loop reports it
            return False
        handler(exit)
        if exit.reason in COMPLETED_ON_ENTRY and self._exit is None:
            self._complete_exit()
        return True

    def map_guest_page(self, gpa: int) -> bool:
        """A debugger reads guest RAM the G-stage has not mapped yet: map it as the
        guest's own first access would (False: no RAM there)."""
        return self.vm.find_slot(gpa) is not None and self.vm.map_fault(gpa, False) == "mapped"

    def _housekeeping(self, stop: threading.Event, t_end: float | None) -> None:
        """Kick the vcpu when the VMM has work while the guest runs or sleeps: console
        output to flush, or --timeout reached. Host input kicks at once (request_stop);
        no device here needs polling otherwise. An idle guest is then left asleep
        (a kick every period cost an idle --guest shell ~1 % of a core)."""
        while not stop.wait(HOUSEKEEPING_SECONDS):
            if self.console.pending or (t_end is not None and time.monotonic() >= t_end):
                self.vcpu.kick()

    def _on_intr(self, exit: exits.Exit) -> None:
        self.console.flush()
        for dev in self.pollables:
            dev.poll()

    def _on_mmio(self, exit: exits.Exit) -> None:
        dev = self.bus.find(exit.phys_addr)
        offset = exit.phys_addr - dev.base if dev is not None else 0
        if exit.is_write:
            if dev is not None:
                dev.mmio_writes += 1
                if offset + exit.width <= dev.size:
                    dev.write(offset, exit.width, exit.data)
        else:
            exit.data = 0                      # nothing there reads as 0 (as kvmtool)
            if dev is not None:
                dev.mmio_reads += 1
                if offset + exit.width <= dev.size:
                    exit.data = dev.read(offset, exit.width)
        if self.trace_mmio is not None:
            name = dev.name if dev is not None else "unassigned"
            kind = "write" if exit.is_write else "read "
            arrow = "<-" if exit.is_write else "->"
            self.trace_mmio(f"[mmio] {name} {kind} {exit.phys_addr:#x} size {exit.width} {arrow} {exit.data:#x}")

    def _on_sbi(self, exit: exits.Exit) -> None:
        """The console calls the hypervisor forwards; anything else stays NOT_SUPPORTED."""
        a = exit.args
        if exit.eid == SBI_EXT_0_1_CONSOLE_PUTCHAR:
            self.console.write(bytes([a[0] & 0xFF]))
            exit.ret[:] = [0, a[1]]            # legacy: a0 only (a1 kept as it was)
        elif exit.eid == SBI_EXT_0_1_CONSOLE_GETCHAR:
            data = self.console.read_nonblocking(1)
            exit.ret[:] = [data[0] if data else -1, a[1]]
        elif exit.eid == SBI_EXT_DBCN:
            exit.ret[:] = self._dbcn(exit.fid, a)

    def _dbcn(self, fid: int, a) -> list[int]:
        if fid == SBI_EXT_DBCN_CONSOLE_WRITE_BYTE:
            self.console.write(bytes([a[0] & 0xFF]))
            return [0, 0]
        if fid not in (SBI_EXT_DBCN_CONSOLE_WRITE, SBI_EXT_DBCN_CONSOLE_READ):
            return [-2, 0]
        length = min(a[0], DBCN_MAX)
        buf = self.vm.read_guest(a[1], length) if a[2] == 0 else None
        if buf is None:
            return [SBI_ERR_INVALID_PARAM, 0]
        if fid == SBI_EXT_DBCN_CONSOLE_WRITE:
            self.console.write(buf)
            return [0, len(buf)]
        data = self.console.read_nonblocking(length)
        if data:
            self.vm.write_guest(a[1], data)
        return [0, len(data)]

    def _on_system_event(self, exit: exits.Exit) -> None:
        if exit.event == exits.SHUTDOWN:
            self.request_exit(exit.code, "SBI shutdown" + (" (system failure)" if exit.code else ""))
        else:
            self.request_exit(RESET_STATUS, f"SBI reset (type {exit.code})")

    def _final_result(self) -> RunResult:
        status, reason = self._exit
        if self.config.expect and not self.console.matched:
            return RunResult(EXIT_NO_MATCH, f"{reason} (status {status}) before the console "
                             f"matched --expect {self.config.expect!r}")
        return RunResult(status, reason)

    # ---------------------------------------------------------------- --stats
    def stats_report(self, wall: float) -> str:
        v, h = self.vcpu, self.vcpu.hart
        total = sum(v.exit_counts.values())
        lines = [f"rvkvm guest stats: {wall:.3f} s wall, {h.engine_seconds:.3f} s in the engine, "
                 f"{total} VM exits; {h.slicer.stops} slices ({h.slicer.kind})",
                 f"  {'exit reason':<28}{'count':>10}{'seconds':>10}{'us/exit':>10}"]
        for kind, count in v.exit_counts.most_common():
            sec = v.exit_seconds[kind]
            lines.append(f"  {kind:<28}{count:>10}{sec:>10.3f}{1e6 * sec / count:>10.1f}")
        lines.append(f"  G-stage: {self.vm.stats['gstage_faults']} faults mapped, "
                     f"{self.vm.gstage.stats['tables']} tables")
        for name, count in h.stats.most_common():
            lines.append(f"  hart {name:<23}{count:>10}")
        for dev in self.bus.devices:
            lines.append(f"  mmio {dev.name:<23}{dev.mmio_reads:>10} reads {dev.mmio_writes:>8} writes")
        return "\n".join(lines)
