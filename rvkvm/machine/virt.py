"""The `virt` machine: RAM, devices on a bus, one hart, firmware choice, and the run loop.

Boot flows (as QEMU's `-M virt`):
- a bare-metal ELF, or `--bios none`: the kernel starts in M-mode at its entry;
- a Linux kernel without `--bios`: rvkvm's Python SBI serves M, the kernel starts
  in S-mode at RAM + 2 MiB (a0 = hart id, a1 = device tree);
- `--bios FILE`: the firmware starts in M-mode at its entry, the kernel is loaded at
  RAM + 2 MiB for it to jump to (OpenSBI fw_jump).

The run loop alternates `hart.run_slice()` with the work that must happen outside
the engine: device polling, interrupt delivery, WFI sleeps, exit checks.
"""
from __future__ import annotations

import struct
import time
from typing import TYPE_CHECKING

from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, UC_PROT_ALL, Uc
from unicorn import riscv_const as rc

from ..cpu.constants import PRV_M, PRV_S
from ..cpu.hart import Hart, print_trace
from ..cpu.trap import GuestDied
from ..devices.base import Clock, Device
from ..devices.bus import Bus
from ..devices.clint import Clint
from ..devices.finisher import TestFinisher
from ..devices.plic import Plic
from ..devices.uart16550 import IER_ERBFI, Uart16550, make_uart0
from .. import exit_status
from ..errors import LoadError
from .. import loaders
from ..memory import layout
from .console import Console
from .placement import device_tree_blob, place_device_tree, place_initrd
from .fdt import build_device_tree
from .wakeup import Wakeup
from ..memory.ram import Ram
from ..records import slots_eq, slots_repr

if TYPE_CHECKING:                 # imported where used: a bare-metal run needs neither
    from .firmware import PythonFirmware

ISA_STRING = "rv64imafdc_zicsr_zifencei"
ISA_STRING_H = "rv64imafdch_zicsr_zifencei"
FW_DYNAMIC_MAGIC = 0x4942534F                 # "OSBI"
FW_DYNAMIC_NEXT_MODE_S = 1
MMU_TYPE = "riscv,sv57"
M64 = (1 << 64) - 1


class MachineConfig:
    __slots__ = ("ram_size", "bios", "append", "initrd", "dtb", "load_addr", "slice_seconds",
                 "trace", "expect", "stats", "console_out", "has_h")

    def __init__(self, ram_size: int = layout.DEFAULT_RAM_SIZE, bios: str | None = None,
                 append: str | None = None, initrd: str | None = None, dtb: str | None = None,
                 load_addr: int | None = None, slice_seconds: float = 0.002,
                 trace: frozenset = frozenset(), expect: str | None = None,
                 stats: bool = False, console_out=None, has_h: bool = True):
        self.ram_size = ram_size
        self.bios = bios                  # firmware path, "none", or None (automatic)
        self.append = append
        self.initrd = initrd
        self.dtb = dtb
        self.load_addr = load_addr
        self.slice_seconds = slice_seconds
        self.trace = trace                # of "int", "sbi", "mmio"
        self.expect = expect
        self.stats = stats                # time the Python trap handlers too (--stats)
        self.console_out = console_out    # a binary stream; stdout by default
        self.has_h = has_h                # the hypervisor extension (--cpu rv64,h=off)

    __repr__ = slots_repr


class RunResult:
    __slots__ = ("status", "reason", "dump")

    def __init__(self, status: int, reason: str, dump: str = ""):
        self.status = status
        self.reason = reason
        self.dump = dump

    __repr__ = slots_repr
    __eq__ = slots_eq


def _refuse_overlap(first: tuple, second: tuple) -> None:
    """Two images (label, path, start, end) that share RAM: the second one loaded has
    overwritten the first, so the run would start broken code."""
    (what1, path1, start1, end1), (what2, path2, start2, end2) = first, second
    if start1 < end2 and start2 < end1:
        raise LoadError(f"{what2} {path2!r} at {start2:#x}-{end2:#x} overlaps the {what1} "
                        f"{path1!r} at {start1:#x}-{end1:#x} (place it elsewhere, e.g. "
                        f"with --load-addr)")


class VirtMachine:
    # rvkvm's own outcomes (rvkvm/exit_status.py); a guest's codes pass through as given
    EXIT_TIMEOUT = exit_status.TIMEOUT
    EXIT_DIED = exit_status.DIED
    EXIT_PANIC = exit_status.PANIC
    EXIT_RESET = exit_status.RESET
    EXIT_NO_MATCH = exit_status.NO_MATCH
    debugger = None                    # a gdb stub (rvkvm/gdb) hooks itself in here

    def __init__(self, config: MachineConfig | None = None):
        self.config = config or MachineConfig()
        cfg = self.config
        self.uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
        self.ram = Ram(layout.RAM_BASE, cfg.ram_size)
        self.uc.mem_map_ptr(self.ram.base, self.ram.size, UC_PROT_ALL, self.ram.host_addr)
        self.clock = Clock()
        self._exit: tuple[int, str] | None = None
        self._wake = Wakeup()
        self.console = Console(cfg.console_out, expect=cfg.expect,
                               on_match=lambda: self.request_exit(0, "console matched --expect"),
                               on_panic=lambda: self.request_exit(self.EXIT_PANIC, "kernel panic"),
                               on_quit=lambda: self.request_exit(0, "quit with Ctrl-A x"),
                               on_output_error=self._console_output_failed)
        self.console.on_pending = self._wake.ring    # output to flush ends a WFI sleep in C
        trace = print_trace if "int" in cfg.trace else None
        self.hart = Hart(self.uc, self.ram, self.clock, slice_seconds=cfg.slice_seconds, trace=trace,
                         time_traps=cfg.stats, has_h=cfg.has_h,
                         trace_mmu=print_trace if "mmu" in cfg.trace else None)
        self.bus = Bus()
        self.finisher = self.bus.add(TestFinisher(self))
        self.clint = self.bus.add(Clint(self.hart, self.clock, self))
        self.plic = self.bus.add(Plic(self.hart, self))
        self.uart = self.bus.add(make_uart0(self.console.write, self.plic, self))
        self.bus.map_into(self.uc, trace=print_trace if "mmio" in cfg.trace else None)
        self.hart.mmio_ranges = tuple((dev.base, dev.size) for dev in self.bus.devices)
        self.console.add_input_sink(self.uart.feed, listening=lambda: self.uart.ier & IER_ERBFI)
        self.pollables = [self.clint, self.uart, self.plic]
        self.firmware: PythonFirmware | None = None
        self.kernel = None
        self.dtb_addr = 0
        self.dtb = b""                         # the device tree the guest was given
        self.notes: list[str] = []             # what loading did that the user should know

    # ---------------------------------------------------------------- Events for devices
    def request_stop(self) -> None:
        self.hart.request_stop()
        self._wake.ring()

    def request_exit(self, status: int, reason: str) -> None:
        if self._exit is None:
            self._exit = (status, reason)
        self.request_stop()

    def _console_output_failed(self, err: OSError) -> None:
        if isinstance(err, BrokenPipeError):      # `rvkvm boot ... | head`: end quietly
            self.request_exit(exit_status.SIGPIPE, "stdout is a closed pipe")
        else:
            self.request_exit(exit_status.ERROR,
                              f"cannot write the console output: {err.strerror or err}")

    # ---------------------------------------------------------------- loading
    def load(self, kernel_path: str) -> None:
        """Load the kernel (and firmware, initrd, device tree) and reset the hart."""
        cfg = self.config
        bios = cfg.bios
        kind = loaders.detect_kind(kernel_path)
        firmware = None
        if bios and bios != "none":
            firmware = self._load_image(bios, "bios")
            # for the firmware to jump to: an Image at its text_offset and an ELF at its
            # own addresses (both RAM + 2 MiB for Linux), raw bytes at RAM + 2 MiB
            kaddr = cfg.load_addr
            if kaddr is None and kind == "raw":
                kaddr = layout.RAM_BASE + layout.KERNEL_OFFSET
            self.kernel = self._load_image(kernel_path, "kernel", kaddr)
            _refuse_overlap(("bios", bios, firmware.start, firmware.end),
                            ("kernel", kernel_path, self.kernel.start, self.kernel.end))
        else:
            self.kernel = self._load_image(kernel_path, "kernel", cfg.load_addr)
        k = self.kernel
        self._install_htif(k.symbols)
        self.dtb_addr = self._place_device_tree(k.end, firmware)
        if firmware is not None:
            info = self._write_fw_dynamic_info(k.entry)
            self.hart.reset(firmware.entry, PRV_M, a0=0, a1=self.dtb_addr, a2=info)
        elif k.is_linux and bios != "none":
            from .firmware import PythonFirmware   # the SBI in Python: only Linux needs it
            self.firmware = PythonFirmware(
                self, trace=print_trace if "sbi" in cfg.trace else None)
            self.hart.firmware = self.firmware
            self.console.sbi_input = True
            self.hart.reset(k.entry, PRV_S, a0=0, a1=self.dtb_addr)
            self._firmware_hands_over()
        else:
            self.hart.reset(k.entry, PRV_M, a0=0, a1=self.dtb_addr)

    def _load_image(self, path: str, what: str, load_addr: int | None = None):
        """A kernel or firmware of any kind; a raw one is said in `notes` (nothing in
        the file says where it goes or that it is code at all)."""
        image = loaders.load_kernel(path, self.ram, load_addr=load_addr, what=what)
        if image.kind == "raw":
            self.notes.append(f"{what} {path!r} has no ELF or Linux Image header: loaded as "
                              f"a raw binary at {image.start:#x}")
        return image

    def _write_fw_dynamic_info(self, next_addr: int) -> int:
        """OpenSBI's fw_dynamic reads where to go from a struct at a2, as QEMU passes it
        (fw_jump ignores it): magic "OSBI", version 2, next_addr, next_mode S, options,
        boot_hart. It goes in the page below the device tree."""
        addr = self.dtb_addr - 0x1000
        fields = (FW_DYNAMIC_MAGIC, 2, next_addr, FW_DYNAMIC_NEXT_MODE_S, 0, 0)
        self.ram.write(addr, struct.pack("<6Q", *fields), "fw_dynamic info")
        return addr

    def _firmware_hands_over(self) -> None:
        """What M-mode firmware sets up before it enters a kernel in S-mode."""
        h = self.hart
        # every exception but ecall from S (the SBI) and M; with H also ecall from VS and
        # the guest-page and virtual-instruction faults, for the hypervisor (as OpenSBI)
        h.m.medeleg = 0xB1FF | ((1 << 10) | (0xF << 20) if h.has_h else 0)
        h.write_mideleg(0x222)
        # Counters, as OpenSBI 1.1 (mstatus_init) leaves them: CY|TM|IR readable from S,
        # and from U too (scounteren = 7). Linux 6.1 without the SBI PMU extension never
        # writes scounteren itself, so without this U-mode `rdtime` (the vDSO clock) is
        # SIGILL. OpenSBI writes mcounteren = -1; rvkvm has no hpmcounters below M.
        h.m.mcounteren = 0x7
        h.regs.csr_write(rc.UC_RISCV_REG_SCOUNTEREN, 0x7)
        h.write_mie(0x222)

    def _install_htif(self, symbols: dict) -> None:
        tohost = symbols.get("tohost")
        if tohost is None:
            return
        from ..devices.htif import Htif            # only guests with a `tohost` symbol
        self.htif = Htif(self.ram, tohost, symbols.get("fromhost"), self.console.write, self)
        self.htif.install(self.uc)
        self.console.add_input_sink(self.htif.feed)
        self.pollables.append(self.htif)

    def _place_device_tree(self, kernel_end: int, firmware=None) -> int:
        cfg = self.config
        initrd = None
        if cfg.initrd:
            initrd = place_initrd(cfg.initrd, self.ram, kernel_end)
            if firmware is not None:
                _refuse_overlap(("bios", cfg.bios, firmware.start, firmware.end),
                                ("initrd", cfg.initrd, *initrd))
        self.dtb = device_tree_blob(cfg.dtb, cfg.append, initrd, self.device_tree, self.ram)
        return place_device_tree(self.ram, self.dtb, kernel_end, initrd)

    def device_tree(self, initrd=None) -> bytes:
        cfg = self.config
        return build_device_tree(
            ram_base=self.ram.base, ram_size=self.ram.size,
            isa=ISA_STRING_H if cfg.has_h else ISA_STRING, mmu_type=MMU_TYPE,
            devices=self.bus.devices, bootargs=cfg.append,
            stdout_path=f"/soc/serial@{layout.UART0_BASE:x}", initrd=initrd)

    # ---------------------------------------------------------------- running
    def run(self, timeout: float | None = None) -> RunResult:
        t_end = None if timeout is None else time.monotonic() + timeout
        hart = self.hart
        polled = _overriding(self.pollables, "poll")
        if self.firmware:
            polled.append(self.firmware)
        self._timed = _overriding(self.pollables, "next_deadline")
        # WFI may be slept through in C while nothing polled needs Python between slices
        native_idle = self._wake.fd is not None and all(
            dev is self.firmware or type(dev) in (Clint, Uart16550) for dev in polled)
        waiting = False
        try:
            while True:
                if self.debugger is not None and self.debugger.before_slice(waiting):
                    waiting = False                # gdb halted it here: the WFI is over
                if self._exit is not None:
                    return self._final_result()
                if t_end is not None and time.monotonic() >= t_end:
                    return RunResult(self.EXIT_TIMEOUT, f"timeout after {timeout:g} s",
                                     hart.dump())
                self.console.flush()
                for dev in polled:
                    dev.poll()
                if waiting:
                    if hart.pending_enabled():
                        waiting = False
                    else:
                        # (a gdb stub with nothing set: a client or Ctrl-C rings the doorbell)
                        idle = (self._idle_natively(t_end) if native_idle and (
                            self.debugger is None or not self.debugger.may_halt()) else None)
                        if idle is None:
                            self._sleep_until_event(t_end)
                        elif idle != "waiting":          # the idle loop's last run ended
                            waiting = idle == "wfi"
                        continue
                hart.check_interrupts()
                if hart.run_slice() == "wfi":
                    waiting = True
        except GuestDied as death:
            if self._exit is not None:         # it powered off first (the stop lands a block later)
                return self._final_result()
            return RunResult(self.EXIT_DIED, f"guest died: {death.reason}", death.dump)
        finally:
            self.console.flush()
            self.hart.slicer.close()

    def stats_report(self, wall: float) -> str:
        """--stats: where the run went (traps by kind, MMIO by device, time split)."""
        h = self.hart
        lines = [f"rvkvm stats: {wall:.3f} s wall, {h.engine_seconds:.3f} s in the engine, of which "
                 f"{h.trap_seconds:.3f} s in Python trap handlers; {h.slicer.stops} slices "
                 f"({h.slicer.kind})"]
        for name, count in h.stats.most_common():
            lines.append(f"  {name:<28}{count:>10}")
        for dev in self.bus.devices:
            lines.append(f"  mmio {dev.name:<23}{dev.mmio_reads:>10} reads {dev.mmio_writes:>8} writes")
        fills = h.translation.stats()
        if fills:
            lines.append(f"  fill hook ({h.translation.kind}): " + ", ".join(
                f"{name} {count}" for name, count in fills.items()))
        return "\n".join(lines)

    def _final_result(self) -> RunResult:
        status, reason = self._exit
        if (self.config.expect and not self.console.matched
                and not isinstance(status, exit_status.Outcome)):
            # a CI run that asked for a console match and never saw it has failed
            return RunResult(self.EXIT_NO_MATCH, f"{reason} (status {status}) before the console "
                             f"matched --expect {self.config.expect!r}")
        return RunResult(status, reason)

    def _idle_natively(self, t_end: float | None) -> str | None:
        """WFI slept through in C (Hart.idle_in_wfi): the firmware's SBI timer is the
        loop's, and the CLINT's deadline, the doorbell and --timeout end it. None if
        the hart cannot (then WFI sleeps in Python)."""
        other = self._device_deadline()
        if t_end is not None:
            other = min(other, self.clock.mtime() + max(0, int((t_end - time.monotonic())
                                                               * self.clock.hz)))
        return self.hart.idle_in_wfi(self._wake.fd, other)

    def _sleep_until_event(self, t_end: float | None) -> None:
        """WFI: sleep until the next timer deadline, an event or the timeout, in one go.
        No polling period: whatever else can end a WFI (host input, a device line, an
        exit request, Ctrl-A x) calls request_stop(), which rings `_wake`."""
        deadline = self._device_deadline()
        if self.firmware is not None:
            deadline = min(deadline, self.firmware.timer_deadline)
        wait = None if deadline == M64 else self.clock.seconds_until(deadline)
        if t_end is not None:
            left = t_end - time.monotonic()
            wait = left if wait is None else min(wait, left)
        self._wake.sleep(wait)           # None: until an event (mtimecmp = -1 is far away)

    def _device_deadline(self) -> int:
        """The mtime of the devices' next deadline (M64: none)."""
        deadline = M64
        for dev in self._timed:
            d = dev.next_deadline()
            if d is not None and d < deadline:
                deadline = d
        return deadline


def _overriding(devices, method: str) -> list:
    """The devices whose class has its own `method` (Device's does nothing): the run
    loop calls only those, between every two slices."""
    default = getattr(Device, method)
    return [dev for dev in devices if getattr(type(dev), method) is not default]
