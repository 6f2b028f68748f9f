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
import threading
import time
from dataclasses import dataclass, field

from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, UC_PROT_ALL, Uc
from unicorn import riscv_const as rc

from ..cpu.constants import PRV_M, PRV_S
from ..cpu.hart import Hart, print_trace
from ..cpu.trap import GuestDied
from ..devices.base import Clock
from ..devices.bus import Bus
from ..devices.clint import Clint
from ..devices.finisher import RESET_STATUS, TestFinisher
from ..devices.htif import Htif
from ..devices.plic import Plic
from ..devices.uart16550 import make_uart0
from ..errors import RvkvmError
from .. import loaders
from ..memory import layout
from .console import Console
from .fdt import build_device_tree, load_dtb
from .firmware import PythonFirmware
from ..memory.ram import Ram

ISA_STRING = "rv64imafdc_zicsr_zifencei"
ISA_STRING_H = "rv64imafdch_zicsr_zifencei"
FW_DYNAMIC_MAGIC = 0x4942534F                 # "OSBI"
FW_DYNAMIC_NEXT_MODE_S = 1
MMU_TYPE = "riscv,sv57"
M64 = (1 << 64) - 1


@dataclass
class MachineConfig:
    ram_size: int = layout.DEFAULT_RAM_SIZE
    bios: str | None = None               # firmware path, "none", or None (automatic)
    append: str | None = None
    initrd: str | None = None
    dtb: str | None = None
    load_addr: int | None = None
    slice_seconds: float = 0.002
    trace: frozenset = field(default_factory=frozenset)   # of "int", "sbi", "mmio"
    expect: str | None = None
    stats: bool = False                   # time the Python trap handlers too (--stats)
    console_out: object = None            # a binary stream; stdout by default
    has_h: bool = True                    # the hypervisor extension (--cpu rv64,h=off)


@dataclass
class RunResult:
    status: int
    reason: str
    dump: str = ""


class VirtMachine:
    EXIT_TIMEOUT = 124
    EXIT_DIED = 3
    EXIT_PANIC = 4
    EXIT_RESET = RESET_STATUS
    EXIT_NO_MATCH = 1
    debugger = None                    # a gdb stub (rvkvm/gdb) hooks itself in here

    def __init__(self, config: MachineConfig | None = None):
        self.config = config or MachineConfig()
        cfg = self.config
        self.uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
        self.ram = Ram(layout.RAM_BASE, cfg.ram_size)
        self.uc.mem_map_ptr(self.ram.base, self.ram.size, UC_PROT_ALL, self.ram.host_addr)
        self.clock = Clock()
        self._exit: tuple[int, str] | None = None
        self._wake = threading.Event()
        self.console = Console(cfg.console_out, expect=cfg.expect,
                               on_match=lambda: self.request_exit(0, "console matched --expect"),
                               on_panic=lambda: self.request_exit(self.EXIT_PANIC, "kernel panic"),
                               on_quit=lambda: self.request_exit(0, "quit with Ctrl-A x"))
        trace = print_trace if "int" in cfg.trace else None
        self.hart = Hart(self.uc, self.ram, self.clock, slice_seconds=cfg.slice_seconds, trace=trace,
                         time_traps=cfg.stats, has_h=cfg.has_h,
                         trace_mmu=print_trace if "mmu" in cfg.trace else None)
        self.bus = Bus()
        self.finisher = self.bus.add(TestFinisher(self))
        self.clint = self.bus.add(Clint(self.hart, self.clock, self))
        self.hart.read_time = self.clint.mtime     # one timebase: rdtime == CLINT mtime
        self.plic = self.bus.add(Plic(self.hart, self))
        self.uart = self.bus.add(make_uart0(self.console.write, self.plic, self))
        self.bus.map_into(self.uc, trace=print_trace if "mmio" in cfg.trace else None)
        self.hart.mmio_ranges = tuple((dev.base, dev.size) for dev in self.bus.devices)
        self.console.add_input_sink(self.uart.feed)
        self.pollables = [self.clint, self.uart, self.plic]
        self.firmware: PythonFirmware | None = None
        self.kernel = None
        self.dtb_addr = 0
        self.dtb = b""                         # the device tree the guest was given

    # ---------------------------------------------------------------- Events for devices
    def request_stop(self) -> None:
        self.hart.request_stop()
        self._wake.set()

    def request_exit(self, status: int, reason: str) -> None:
        if self._exit is None:
            self._exit = (status, reason)
        self.request_stop()

    # ---------------------------------------------------------------- loading
    def load(self, kernel_path: str) -> None:
        """Load the kernel (and firmware, initrd, device tree) and reset the hart."""
        cfg = self.config
        bios = cfg.bios
        kind = loaders.detect_kind(kernel_path)
        firmware_entry = None
        if bios and bios != "none":
            firmware = loaders.load_kernel(bios, self.ram)
            firmware_entry = firmware.entry
            # for the firmware to jump to: an Image at its text_offset and an ELF at its
            # own addresses (both RAM + 2 MiB for Linux), raw bytes at RAM + 2 MiB
            kaddr = cfg.load_addr
            if kaddr is None and kind == "raw":
                kaddr = layout.RAM_BASE + layout.KERNEL_OFFSET
            self.kernel = loaders.load_kernel(kernel_path, self.ram, load_addr=kaddr)
        else:
            self.kernel = loaders.load_kernel(kernel_path, self.ram, load_addr=cfg.load_addr)
        k = self.kernel
        self._install_htif(k.symbols)
        self.dtb_addr = self._place_device_tree(k.end)
        if firmware_entry is not None:
            info = self._write_fw_dynamic_info(k.entry)
            self.hart.reset(firmware_entry, PRV_M, a0=0, a1=self.dtb_addr, a2=info)
        elif k.is_linux and bios != "none":
            self.firmware = PythonFirmware(
                self, trace=print_trace if "sbi" in cfg.trace else None)
            self.hart.firmware = self.firmware
            self.hart.reset(k.entry, PRV_S, a0=0, a1=self.dtb_addr)
            self._firmware_hands_over()
        else:
            self.hart.reset(k.entry, PRV_M, a0=0, a1=self.dtb_addr)

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
        self.htif = Htif(self.ram, tohost, symbols.get("fromhost"), self.console.write, self)
        self.htif.install(self.uc)
        self.console.add_input_sink(self.htif.feed)
        self.pollables.append(self.htif)

    def _place_device_tree(self, kernel_end: int) -> int:
        cfg = self.config
        initrd = None
        ram_end = self.ram.end
        if cfg.initrd:
            # as QEMU: halfway into RAM for small machines, else at 128 MiB
            start = self.ram.base + min(self.ram.size // 2, 128 << 20)
            initrd = loaders.load_initrd(cfg.initrd, self.ram, after=max(start, kernel_end),
                                         before=ram_end - (2 << 20))
        if cfg.dtb:
            blob = load_dtb(cfg.dtb)
        else:
            blob = self.device_tree(initrd)
        addr = (ram_end - len(blob)) & ~((2 << 20) - 1)
        if addr < kernel_end or (initrd and addr < initrd[1]):
            addr = (ram_end - len(blob)) & ~0xFFF
        if addr < kernel_end:
            raise RvkvmError("no room in RAM for the device tree after the kernel (use -m)")
        self.ram.write(addr, blob, "device tree")
        self.dtb = blob
        return addr

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
        waiting = False
        try:
            while True:
                if self.debugger is not None:      # gdb: halts here while it has the hart
                    self.debugger.before_slice(waiting)
                if self._exit is not None:
                    return self._final_result()
                if t_end is not None and time.monotonic() >= t_end:
                    return RunResult(self.EXIT_TIMEOUT, f"timeout after {timeout:g} s",
                                     hart.dump())
                self.console.flush()
                for dev in self.pollables:
                    dev.poll()
                if self.firmware:
                    self.firmware.poll()
                if waiting:
                    if hart.pending_enabled():
                        waiting = False
                    else:
                        self._sleep_until_event(t_end)
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
        return "\n".join(lines)

    def _final_result(self) -> RunResult:
        status, reason = self._exit
        if self.config.expect and not self.console.matched:
            # a CI run that asked for a console match and never saw it has failed
            return RunResult(self.EXIT_NO_MATCH, f"{reason} (status {status}) before the console "
                             f"matched --expect {self.config.expect!r}")
        return RunResult(status, reason)

    def _sleep_until_event(self, t_end: float | None) -> None:
        """WFI: sleep until the next timer deadline, an event or the timeout, in one go.
        No polling period: whatever else can end a WFI (host input, a device line, an
        exit request, Ctrl-A x) calls request_stop(), which sets `_wake`."""
        deadlines = [d for d in (dev.next_deadline() for dev in self.pollables) if d is not None]
        if self.firmware is not None:
            deadline = self.firmware.next_deadline()
            if deadline is not None:
                deadlines.append(deadline)
        wait = None                        # no deadline: until an event
        if deadlines:
            wait = max(0.0, self.clock.seconds_until(min(deadlines)))
        if t_end is not None:
            left = max(0.0, t_end - time.monotonic())
            wait = left if wait is None else min(wait, left)
        if wait is not None:
            wait = min(wait, threading.TIMEOUT_MAX)    # mtimecmp = -1 is ~58,000 years away
        self._wake.wait(wait)
        self._wake.clear()
