"""The rvkvm command line: `rvkvm boot`, `rvkvm disas`.

Every failure is one `rvkvm: error: ...` line on stderr and exit status 125 (bad command
line, bad file, host I/O); the other statuses are listed in rvkvm/exit_status.py and
`rvkvm boot -h`. The machine, Unicorn and capstone are imported only by the command
that needs them: start-up time is most of a short run.
"""
from __future__ import annotations

import math
import os
import re
import signal
import sys
import time

import click

from . import exit_status
from .errors import RvkvmError

CONTEXT = {"help_option_names": ["-h", "--help"]}

# -m as QEMU parses it (qemu_strtosz_MiB): a decimal number, a bare one in MiB, or a
# suffix B K M G T P E (powers of 1024; "MiB" and "MB" are accepted too).
SIZE_RE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*(?:([KMGTPE])(?:i?B)?|(B))?$", re.IGNORECASE)
SIZE_SHIFT = {"K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}
MIN_RAM = 4 << 20
RAM_ALIGN = 2 << 20
MAX_SLICE_MS = 100.0          # a longer slice would let the run outlive --timeout and signals
TRACE_CATEGORIES = {          # --trace NAME: what it prints
    "int": "every trap and interrupt (cause, epc, tval, privilege before and after)",
    "sbi": "every SBI call rvkvm serves",
    "mmio": "every device register access",
    "mmu": "address translation events",
    "exit": "why each slice ended",
}


def _gib(size: int) -> str:
    return f"{size / (1 << 30):.1f} GiB"


def host_memory() -> int | None:
    """Bytes of physical memory on this host (None if the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def parse_size(text: str) -> int:
    m = SIZE_RE.match(text.strip())
    if not m:
        raise click.BadParameter(f"{text!r} is not a memory size (e.g. 128M, 1.5G)",
                                 param_hint="-m")
    number, unit, byte_unit = m.groups()
    if byte_unit and "." in number:
        raise click.BadParameter(f"{text!r}: a fraction of a byte", param_hint="-m")
    shift = 0 if byte_unit else SIZE_SHIFT[(unit or "M").upper()]
    whole, _, fraction = number.partition(".")
    scale = 10 ** len(fraction)              # exact: 1.5G is 3 * 2**29, no float rounding
    size = (int(whole or 0) * scale + int(fraction or 0)) * (1 << shift) // scale
    if size < MIN_RAM or size % RAM_ALIGN:
        raise click.BadParameter(f"{text!r}: RAM must be at least 4M and a multiple of 2M",
                                 param_hint="-m")
    host = host_memory()
    if host is not None and size > host:
        raise click.BadParameter(f"{text!r}: {_gib(size)} of guest RAM is more than this "
                                 f"host's {_gib(host)} of memory", param_hint="-m")
    return size


def parse_int(text: str, option: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number (e.g. 0x80000000)",
                                 param_hint=option) from None


def check_regex(text: str | None) -> str | None:
    if text is not None:
        if not text:
            raise click.BadParameter("an empty pattern would match before the guest printed "
                                     "anything", param_hint="--expect")
        try:
            re.compile(text)
        except re.error as err:
            raise click.BadParameter(f"{text!r} is not a regular expression: {err}",
                                     param_hint="--expect") from None
    return text


def parse_trace(ctx, param, values) -> frozenset:
    """--trace int,mmio and --trace int --trace mmio alike."""
    names = {name.strip() for value in values for name in value.split(",") if name.strip()}
    unknown = sorted(names - TRACE_CATEGORIES.keys())
    if unknown:
        raise click.BadParameter(f"unknown {', '.join(map(repr, unknown))}; choose from "
                                 f"{', '.join(TRACE_CATEGORIES)}", ctx, param)
    return frozenset(names)


class PositiveSeconds(click.ParamType):
    """A finite number above 0: nan, inf, 0 and negative values are refused."""
    name = "number"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(value)
            except ValueError:
                self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r} must be a finite number above 0", param, ctx)
        return number


# click >= 8.2 raises this for a group run without a command
NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class RvkvmGroup(click.Group):
    """The rvkvm command group, with one error style for every command: `rvkvm: error:
    ...` and status 125 for a bad command line or input, 130/143 when interrupted, a
    quiet 141 when stdout is a closed pipe (`rvkvm disas x | head`)."""

    def main(self, args=None, prog_name="rvkvm", **extra):
        extra.pop("standalone_mode", None)
        try:
            status = super().main(args, prog_name, standalone_mode=False, **extra)
            sys.stdout.flush()
        except NO_ARGS_IS_HELP as err:          # plain `rvkvm`: the help, not an error
            click.echo(err.ctx.get_help())
            status = 0
        except click.UsageError as err:
            hint = f" (see '{err.ctx.command_path} -h')" if err.ctx else ""
            status = _error(f"{err.format_message().rstrip('.')}{hint}")
        except RvkvmError as err:
            status = _error(str(err), err.exit_code)
        except (KeyboardInterrupt, click.Abort):
            status = _ended("SIGINT", exit_status.SIGINT)
        except Interrupted as err:
            status = _ended(signal.Signals(err.signum).name, err.status)
        except BrokenPipeError:
            status = exit_status.SIGPIPE
        except OSError as err:      # stdout closed or full while printing
            status = _error(f"cannot write the output: {err.strerror or err}")
        if status in (exit_status.SIGPIPE, exit_status.ERROR):
            _discard_stdout()        # nothing left to flush at exit, no second error
        sys.exit(status or 0)


def _error(message: str, status: int = exit_status.ERROR) -> int:
    click.echo(f"rvkvm: error: {message}", err=True)
    return status


def _ended(signal_name: str, status: int) -> int:
    click.echo(f"rvkvm: ended by {signal_name} (exit status {status})", err=True)
    return status


def _discard_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


class Interrupted(Exception):
    """SIGTERM (or SIGINT) before the guest runs: end as the signal's status says."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.status = SIGNAL_STATUS[signum]


SIGNAL_STATUS = {signal.SIGINT: exit_status.SIGINT, signal.SIGTERM: exit_status.SIGTERM}


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


class signals_end_run:
    """While the guest runs, SIGINT and SIGTERM ask the machine to stop at the next
    slice (raising inside an engine hook would be lost), so the terminal is restored
    and the exit message printed as for any other end."""

    def __init__(self, machine):
        self.machine = machine

    def _handler(self, signum, frame):
        self.machine.request_exit(SIGNAL_STATUS[signum],
                                  f"ended by {signal.Signals(signum).name}")

    def __enter__(self):
        self.saved = {s: signal.signal(s, self._handler) for s in SIGNAL_STATUS}

    def __exit__(self, *exc):
        for s, handler in self.saved.items():
            signal.signal(s, handler)


BOOT_EPILOG = ("\b\nExit status:\n" + exit_status.describe()
               + "\n\n\b\nConsole keys (as QEMU -nographic):\n")


def _boot_epilog() -> str:
    from .machine.console import keys_help
    return BOOT_EPILOG + keys_help()


@click.group(cls=RvkvmGroup, context_settings=CONTEXT,
             epilog="'rvkvm boot -h' lists the exit statuses and the console keys.")
@click.version_option(package_name="rvkvm")
def cli():
    """rvkvm: a RISC-V full-system emulator and hypervisor in Python."""


@cli.command(epilog=_boot_epilog(), context_settings=CONTEXT)
@click.argument("kernel", type=click.Path(dir_okay=False))
@click.option("-m", "--memory", "memory", default="128M", show_default=True, metavar="SIZE",
              help="RAM size, QEMU syntax: 128M, 1.5G, 1T; a bare number is MiB.")
@click.option("--bios", metavar="FILE|none",
              help="M-mode firmware (e.g. OpenSBI fw_jump.elf), or 'none' to start the "
                   "kernel in M-mode.")
@click.option("--initrd", type=click.Path(dir_okay=False), metavar="FILE",
              help="Initial ramdisk.")
@click.option("--append", metavar="CMDLINE", help="Kernel command line (/chosen/bootargs).")
@click.option("--dtb", type=click.Path(dir_okay=False), metavar="FILE",
              help="Use this device tree instead of the generated one (/chosen gets "
                   "--append and --initrd).")
@click.option("--dump-dtb", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the generated device tree to FILE and exit.")
@click.option("--smp", default=1, type=int, show_default=True, metavar="N",
              help="Number of harts (only 1 for now).")
@click.option("--load-addr", metavar="ADDR",
              help="Load address of a raw binary (default: RAM base).")
@click.option("--timeout", type=PositiveSeconds(), metavar="SECONDS",
              help=f"End the run after SECONDS (exit status {exit_status.TIMEOUT}).")
@click.option("--expect", metavar="REGEX",
              help="Exit 0 as soon as the console output matches this regex.")
@click.option("--trace", multiple=True, callback=parse_trace, metavar="LIST",
              help="Comma-separated, repeatable: " + "; ".join(
                  f"{name}: {what}" for name, what in TRACE_CATEGORIES.items()
                  if name in ("int", "sbi", "mmio", "mmu", "exit")) + ".")
@click.option("--stats", is_flag=True,
              help="At exit, print trap, SBI and MMIO counts and where the time went.")
@click.option("--slice-ms", type=PositiveSeconds(), default=2.0, show_default=True,
              metavar="MS",
              help=f"Time slice: the longest a pending interrupt waits (at most "
                   f"{MAX_SLICE_MS:g}; more is cut to it).")
@click.option("--gdb", "gdb", metavar="tcp::PORT",
              help="Serve the gdb remote protocol on localhost PORT (QEMU's -gdb syntax).")
@click.option("-s", "gdb_default", is_flag=True, help="Shorthand for --gdb tcp::1234.")
@click.option("-S", "gdb_wait", is_flag=True,
              help="Wait for gdb before the first instruction (with --gdb or -s).")
@click.option("--guest", is_flag=True,
              help="Run KERNEL as a VS-mode guest of rvkvm's own hypervisor (rvkvm/hv), "
                   "kvmtool-style.")
@click.option("--cpu", default="rv64", show_default=True, metavar="MODEL",
              help="The hart, QEMU syntax: rv64 (RV64GC with the H extension) or rv64,h=off "
                   "(a plain RV64GC hart).")
def boot(kernel, memory, bios, initrd, append, dtb, dump_dtb, smp, load_addr, timeout,
         expect, trace, stats, slice_ms, gdb, gdb_default, gdb_wait, guest, cpu):
    """Boot KERNEL (ELF, Linux Image or raw binary) on the virt machine."""
    signal.signal(signal.SIGTERM, _raise_interrupted)
    if smp != 1:
        raise click.BadParameter("only --smp 1 is supported so far", param_hint="--smp")
    config_args = dict(
        ram_size=parse_size(memory), bios=bios, append=append, initrd=initrd, dtb=dtb,
        load_addr=parse_int(load_addr, "--load-addr") if load_addr else None,
        slice_seconds=min(slice_ms, MAX_SLICE_MS) / 1000, trace=trace,
        expect=check_regex(expect), stats=stats)
    has_h = parse_cpu(cpu)
    if not dump_dtb and sys.stdout is None:
        raise RvkvmError("stdout is closed: the guest's console has nowhere to go")
    if guest:                              # rvkvm/hv's VMM instead of the native machine
        for option, value in (("--bios", bios), ("--load-addr", load_addr), ("--cpu", not has_h)):
            if value:
                raise click.BadParameter("not with --guest", param_hint=option)
        from .hv.vmm import GuestConfig, Vmm
        del config_args["bios"], config_args["load_addr"]
        machine = _make_machine(Vmm, GuestConfig(**config_args))
    else:
        from .machine.virt import MachineConfig, VirtMachine
        machine = _make_machine(VirtMachine, MachineConfig(**config_args, has_h=has_h))
    machine.load(kernel)
    for note in getattr(machine, "notes", ()):
        click.echo(f"rvkvm: note: {note}", err=True)
    if dump_dtb:                           # the tree this kernel would get (initrd, bootargs)
        _write_file(dump_dtb, machine.dtb, "the device tree")
        return 0
    debugger = None
    if gdb or gdb_default or gdb_wait:     # the gdb stub (rvkvm/gdb)
        if not (gdb or gdb_default):
            raise click.BadParameter("waits for gdb: add --gdb tcp::PORT or -s", param_hint="-S")
        from .gdb import DEFAULT_SPEC, start_stub
        debugger = start_stub(machine, gdb or DEFAULT_SPEC, wait=gdb_wait)
    with signals_end_run(machine):
        if "int" in trace or "mmu" in trace:
            click.echo(f"rvkvm: time slicing: {machine.hart.slicer.kind}; two-stage translation: "
                       f"{machine.hart.translation.kind} fill hook", err=True)
        machine.console.start_input()
        started = time.perf_counter()
        try:
            result = machine.run(timeout=timeout)
        finally:
            machine.console.stop_input()
    if debugger is not None:
        debugger.guest_ended(result.status)
    if stats:
        click.echo("\n" + machine.stats_report(time.perf_counter() - started), err=True)
    status = exit_status.process_status(result.status)
    if status == exit_status.ERROR:
        click.echo(f"rvkvm: error: {result.reason}", err=True)
    elif status != exit_status.SIGPIPE and (status != 0 or trace):
        clamped = (f"; the guest's code {result.status} is above {exit_status.GUEST_MAX}"
                   if status != result.status else "")
        click.echo(f"\nrvkvm: {result.reason} (exit status {status}{clamped})", err=True)
    if result.dump:
        click.echo(result.dump, err=True)
    return status


def parse_cpu(model: str) -> bool:
    """--cpu rv64[,h=on|off]: whether the hart has the H extension (QEMU's -cpu rv64,h=...)."""
    name, *props = model.split(",")
    if name != "rv64":
        raise click.BadParameter(f"{model!r}: the only model is rv64", param_hint="--cpu")
    has_h = True
    for prop in props:
        key, _, value = prop.partition("=")
        if key != "h" or value not in BOOL_WORDS:
            raise click.BadParameter(f"{prop!r}: the only property is h=on|off",
                                     param_hint="--cpu")
        has_h = BOOL_WORDS[value]
    return has_h


BOOL_WORDS = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}


def _make_machine(machine_class, config):
    """The machine, or one line when the host cannot give it its RAM."""
    try:
        return machine_class(config)
    except (OSError, MemoryError) as err:
        why = getattr(err, "strerror", None) or type(err).__name__
        raise RvkvmError(f"cannot map {_gib(config.ram_size)} of guest RAM: {why} "
                         f"(use a smaller -m)") from None


def _write_file(path: str, data: bytes, what: str) -> None:
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as err:
        raise RvkvmError(f"cannot write {what} to {path!r}: {err.strerror or err}") from None


@cli.command(context_settings=CONTEXT)
@click.argument("file")
@click.option("--raw", is_flag=True, help="FILE is raw machine code, not an ELF.")
@click.option("--addr", default="0x80000000", show_default=True, metavar="ADDR",
              help="Address of the first byte, with --raw.")
def disas(file, raw, addr):
    """Disassemble an ELF's code sections, or raw bytes (--raw --addr).

    The output is streamed: `rvkvm disas vmlinux | head` stops at once."""
    start = parse_int(addr, "--addr")
    if sys.stdout is None:
        raise RvkvmError("stdout is closed: nowhere to write the listing")
    # capstone is imported only here: it would add 50 ms to every boot
    from .disas import disas_lines
    lines = disas_lines(file, raw=raw, addr=start)
    write = sys.stdout.write
    try:
        for line in lines:
            write(line)
            write("\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader has what it wanted (`| head`): stop quietly, as on SIGPIPE.
        # Raised as click's Exit: click would turn an EPIPE OSError into status 1.
        raise click.exceptions.Exit(exit_status.SIGPIPE) from None
    return 0


def main():
    cli.main()


if __name__ == "__main__":
    main()
