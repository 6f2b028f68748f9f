"""The rvkvm command line: `rvkvm boot`, `rvkvm disas`.

Every failure is one `rvkvm: error: ...` line on stderr and exit status 125 (bad command
line, bad file, host I/O); the other statuses are listed in rvkvm/exit_status.py and
`rvkvm boot -h`. The machine, Unicorn and capstone are imported only by the command
that needs them, and the parser is the standard library's argparse (click cost ~17 ms
of every process): start-up time is most of a short run.

`run(argv)` returns the exit status (tests call it in-process); `main()`, the console
entry point, ends the process with os._exit() once the command has finished: the
interpreter's teardown (modules, Unicorn's engine) would add 8-20 ms to every run and
nothing is left to do by then (terminal restored, gdb told, output flushed).
"""
from __future__ import annotations

import argparse
import math
import os
import re
import signal
import sys
import time

from . import __version__, exit_status
from .cpu.engine_import import import_unicorn
from .errors import RvkvmError

PROG = "rvkvm"

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
BOOL_WORDS = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}


# ---------------------------------------------------------------- errors

class UsageError(Exception):
    """A bad command line: one line pointing at the command's help, status 125.
    `prog` ("rvkvm boot") is filled in by the command being run when not known."""

    def __init__(self, message: str, prog: str | None = None):
        super().__init__(message)
        self.prog = prog


class BadValue(Exception):
    """A value a converter refuses; Command.parser() names the option (see _named).
    Not a ValueError: argparse would swallow that into its own vaguer message."""


class _Exit(Exception):
    """argparse's exit() after -h: end the command with this status."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


# ---------------------------------------------------------------- value converters

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
        raise BadValue(f"{text!r} is not a memory size (e.g. 128M, 1.5G)")
    number, unit, byte_unit = m.groups()
    if byte_unit and "." in number:
        raise BadValue(f"{text!r}: a fraction of a byte")
    shift = 0 if byte_unit else SIZE_SHIFT[(unit or "M").upper()]
    whole, _, fraction = number.partition(".")
    scale = 10 ** len(fraction)              # exact: 1.5G is 3 * 2**29, no float rounding
    size = (int(whole or 0) * scale + int(fraction or 0)) * (1 << shift) // scale
    if size < MIN_RAM or size % RAM_ALIGN:
        raise BadValue(f"{text!r}: RAM must be at least 4M and a multiple of 2M")
    host = host_memory()
    if host is not None and size > host:
        raise BadValue(f"{text!r}: {_gib(size)} of guest RAM is more than this "
                       f"host's {_gib(host)} of memory")
    return size


def parse_address(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise BadValue(f"{text!r} is not a number (e.g. 0x80000000)") from None


def parse_harts(text: str) -> int:
    try:
        harts = int(text)
    except ValueError:
        raise BadValue(f"{text!r} is not a valid integer") from None
    if harts != 1:
        raise BadValue("only --smp 1 is supported so far")
    return harts


def check_regex(text: str) -> str:
    if not text:
        raise BadValue("an empty pattern would match before the guest printed anything")
    try:
        re.compile(text)
    except re.error as err:
        raise BadValue(f"{text!r} is not a regular expression: {err}") from None
    return text


def parse_trace(text: str) -> frozenset:
    """One --trace value, a comma list ("int,mmio"); repeated values are joined later."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(names - TRACE_CATEGORIES.keys())
    if unknown:
        raise BadValue(f"unknown {', '.join(map(repr, unknown))}; choose from "
                       f"{', '.join(TRACE_CATEGORIES)}")
    return frozenset(names)


def positive_seconds(text: str) -> float:
    """A finite number above 0: nan, inf, 0 and negative values are refused."""
    try:
        number = float(text)
    except ValueError:
        raise BadValue(f"{text!r} is not a number") from None
    if not math.isfinite(number) or number <= 0:
        raise BadValue(f"{text!r} must be a finite number above 0")
    return number


def parse_cpu(model: str) -> bool:
    """--cpu rv64[,h=on|off]: whether the hart has the H extension (QEMU's -cpu rv64,h=...)."""
    name, *props = model.split(",")
    if name != "rv64":
        raise BadValue(f"{model!r}: the only model is rv64")
    has_h = True
    for prop in props:
        key, _, value = prop.partition("=")
        if key != "h" or value not in BOOL_WORDS:
            raise BadValue(f"{prop!r}: the only property is h=on|off")
        has_h = BOOL_WORDS[value]
    return has_h


def file_path(text: str) -> str:
    """A file to read or write: a directory is refused at once (the loaders check the rest)."""
    if os.path.isdir(text):
        raise BadValue(f"File {text!r} is a directory")
    return text


# ---------------------------------------------------------------- the parser

class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help laid out as rvkvm always showed it: `Usage:`, `-m, --memory SIZE`, at most
    80 columns; the description and epilog as written (tables stay aligned)."""

    def __init__(self, prog: str):
        import shutil                           # only when help is shown
        super().__init__(prog, max_help_position=30,
                         width=min(shutil.get_terminal_size().columns, 80) - 2)

    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, prefix="Usage: ")

    def _format_action_invocation(self, action):
        if not action.option_strings or action.nargs == 0:
            return super()._format_action_invocation(action)
        return f"{', '.join(action.option_strings)} {action.metavar or action.dest.upper()}"


class Parser(argparse.ArgumentParser):
    """argparse with rvkvm's error style: a bad command line raises UsageError (status
    125, not argparse's 2, which is a guest's code), help goes to stdout (a full or
    closed stdout is then reported like any other output error), no abbreviations."""

    def __init__(self, prog: str, usage: str, description: str, epilog=None):
        super().__init__(prog=prog, usage=usage, description=description,
                         formatter_class=HelpFormatter, add_help=False, allow_abbrev=False,
                         exit_on_error=False)
        self._epilog_of = epilog            # made only when help is shown (see boot's)

    def format_help(self) -> str:
        if self._epilog_of is not None:
            self.epilog = _indent(self._epilog_of())
        return super().format_help()

    def print_help(self, file=None):
        _stdout("the help").write(self.format_help())

    def error(self, message: str):
        raise UsageError(message[:1].upper() + message[1:], self.prog)

    def exit(self, status=0, message=None):
        if message:
            raise UsageError(message.strip(), self.prog)
        raise _Exit(status)


def argument(*flags, help=argparse.SUPPRESS, **settings):
    """One entry of a command's table: add_argument()'s arguments, plus show_default
    (the default at the end of the help, as "[default: 128M]"). A positional has no
    help line (the usage names it) and is required: checked after parsing, for a
    "Missing argument" message rather than argparse's."""
    return flags, dict(help=help, **settings)


def _named(convert, name: str):
    """`convert` with its BadValue turned into a usage error naming the option."""
    def converted(text: str):
        try:
            return convert(text)
        except BadValue as err:
            raise UsageError(f"Invalid value for '{name}': {err}") from None
    return converted


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.splitlines())


class Command:
    """One rvkvm command: its option table, its help, and the function that runs it."""

    def __init__(self, name: str, usage: str, doc: str, arguments, function, epilog=None):
        self.name, self.usage, self.doc = name, usage, doc
        self.arguments, self.function, self.epilog = arguments, function, epilog

    @property
    def summary(self) -> str:
        return self.doc.split("\n", 1)[0]

    def parser(self) -> Parser:
        parser = Parser(f"{PROG} {self.name}", f"{PROG} {self.name} {self.usage}",
                        _indent(self.doc), self.epilog)
        options = parser.add_argument_group("Options")
        for flags, settings in self.arguments:
            settings = dict(settings)
            positional = not flags[0].startswith("-")
            name = settings["metavar"] if positional else flags[0]
            if "type" in settings:
                settings["type"] = _named(settings["type"], name)
            if settings.pop("show_default", False):
                settings["help"] += f"  [default: {settings['default']}]"
            if settings["help"] is not argparse.SUPPRESS:
                settings["help"] = settings["help"].replace("%", "%%")
            if positional:
                settings["nargs"] = "?"
            (parser if positional else options).add_argument(*flags, **settings)
        options.add_argument("-h", "--help", action="help", help="Show this message and exit.")
        return parser

    def parse(self, argv: list[str]) -> argparse.Namespace:
        parser = self.parser()
        try:
            args, extra = parser.parse_known_args(argv)
        except argparse.ArgumentError as err:     # `-m` with no value, `--stats=1`
            raise UsageError(f"Option '{err.argument_name}': {err.message}"
                             if err.argument_name else str(err)) from None
        if extra:
            raise UsageError(self._unknown(extra[0]))
        for flags, settings in self.arguments:
            if not flags[0].startswith("-") and getattr(args, flags[0]) is None:
                raise UsageError(f"Missing argument '{settings['metavar']}'")
        return args

    def _unknown(self, word: str) -> str:
        """What is wrong with a word the parser did not take, with the options near it."""
        if not word.startswith("-"):
            return f"Got unexpected extra argument ({word})"
        option = word.split("=", 1)[0]
        known = [flag for flags, _ in self.arguments for flag in flags if flag[0] == "-"]
        import difflib                          # only on this error: it costs start-up
        near = difflib.get_close_matches(option, known + ["--help"])
        hint = f". (Did you mean {' or '.join(map(repr, near))}?)" if near else ""
        return f"No such option '{option}'{hint}"

    def run(self, argv: list[str]) -> int:
        try:
            return self.function(self.parse(argv))
        except UsageError as err:
            err.prog = err.prog or f"{PROG} {self.name}"
            raise


# ---------------------------------------------------------------- rvkvm boot

BOOT_EPILOG = "Exit status:\n" + exit_status.describe() + "\n\nConsole keys (as QEMU -nographic):\n"


def _boot_epilog() -> str:
    from .machine.console import keys_help     # only for `boot -h`
    return BOOT_EPILOG + keys_help()


BOOT_ARGUMENTS = (
    argument("kernel", metavar="KERNEL", type=file_path),
    argument("-m", "--memory", default="128M", show_default=True, metavar="SIZE",
             type=parse_size, help="RAM size, QEMU syntax: 128M, 1.5G, 1T; a bare number is MiB."),
    argument("--bios", metavar="FILE|none",
             help="M-mode firmware (e.g. OpenSBI fw_jump.elf), or 'none' to start the "
                  "kernel in M-mode."),
    argument("--initrd", metavar="FILE", type=file_path, help="Initial ramdisk."),
    argument("--append", metavar="CMDLINE", help="Kernel command line (/chosen/bootargs)."),
    argument("--dtb", metavar="FILE", type=file_path,
             help="Use this device tree instead of the generated one (/chosen gets "
                  "--append and --initrd)."),
    argument("--dump-dtb", metavar="FILE", type=file_path,
             help="Write the generated device tree to FILE and exit."),
    argument("--smp", default=1, show_default=True, metavar="N", type=parse_harts,
             help="Number of harts (only 1 for now)."),
    argument("--load-addr", metavar="ADDR", type=parse_address,
             help="Load address of a raw binary (default: RAM base)."),
    argument("--timeout", metavar="SECONDS", type=positive_seconds,
             help=f"End the run after SECONDS (exit status {exit_status.TIMEOUT})."),
    argument("--expect", metavar="REGEX", type=check_regex,
             help="Exit 0 as soon as the console output matches this regex."),
    argument("--trace", action="append", default=[], metavar="LIST", type=parse_trace,
             help="Comma-separated, repeatable: " + "; ".join(
                 f"{name}: {what}" for name, what in TRACE_CATEGORIES.items()) + "."),
    argument("--stats", action="store_true",
             help="At exit, print trap, SBI and MMIO counts and where the time went."),
    argument("--slice-ms", default=2.0, show_default=True, metavar="MS", type=positive_seconds,
             help=f"Time slice: the longest a pending interrupt waits (at most "
                  f"{MAX_SLICE_MS:g}; more is cut to it)."),
    argument("--gdb", metavar="tcp::PORT",
             help="Serve the gdb remote protocol on localhost PORT (QEMU's -gdb syntax)."),
    argument("-s", dest="gdb_default", action="store_true", help="Shorthand for --gdb tcp::1234."),
    argument("-S", dest="gdb_wait", action="store_true",
             help="Wait for gdb before the first instruction (with --gdb or -s)."),
    argument("--guest", action="store_true",
             help="Run KERNEL as a VS-mode guest of rvkvm's own hypervisor (rvkvm/hv), "
                  "kvmtool-style."),
    argument("--cpu", dest="has_h", default="rv64", show_default=True, metavar="MODEL",
             type=parse_cpu,
             help="The hart, QEMU syntax: rv64 (RV64GC with the H extension) or rv64,h=off "
                  "(a plain RV64GC hart)."),
)


def boot(args) -> int:
    signal.signal(signal.SIGTERM, _raise_interrupted)
    trace = frozenset().union(*args.trace)
    config_args = dict(
        ram_size=args.memory, bios=args.bios, append=args.append, initrd=args.initrd,
        dtb=args.dtb, load_addr=args.load_addr,
        slice_seconds=min(args.slice_ms, MAX_SLICE_MS) / 1000, trace=trace,
        expect=args.expect, stats=args.stats)
    if not args.dump_dtb and sys.stdout is None:
        raise RvkvmError("stdout is closed: the guest's console has nowhere to go")
    import_unicorn()                       # before the machine: without inspect (~10 ms)
    if args.guest:                         # rvkvm/hv's VMM instead of the native machine
        for option, value in (("--bios", args.bios), ("--load-addr", args.load_addr),
                              ("--cpu", not args.has_h)):
            if value is not None and value is not False:
                raise UsageError(f"Invalid value for '{option}': not with --guest")
        from .hv.vmm import GuestConfig, Vmm
        del config_args["bios"], config_args["load_addr"]
        machine = _make_machine(Vmm, GuestConfig(**config_args))
    else:
        from .machine.virt import MachineConfig, VirtMachine
        machine = _make_machine(VirtMachine, MachineConfig(**config_args, has_h=args.has_h))
    machine.load(args.kernel)
    for note in getattr(machine, "notes", ()):
        _say(f"rvkvm: note: {note}")
    if args.dump_dtb:                      # the tree this kernel would get (initrd, bootargs)
        _write_file(args.dump_dtb, machine.dtb, "the device tree")
        return 0
    debugger = None
    if args.gdb or args.gdb_default or args.gdb_wait:     # the gdb stub (rvkvm/gdb)
        if not (args.gdb or args.gdb_default):
            raise UsageError("Invalid value for '-S': waits for gdb: add --gdb tcp::PORT or -s")
        from .gdb import DEFAULT_SPEC, start_stub
        debugger = start_stub(machine, args.gdb or DEFAULT_SPEC, wait=args.gdb_wait)
    with signals_end_run(machine):
        if "int" in trace or "mmu" in trace:
            _say(f"rvkvm: time slicing: {machine.hart.slicer.kind}; two-stage translation: "
                 f"{machine.hart.translation.kind} fill hook")
        machine.console.start_input()
        started = time.perf_counter()
        try:
            result = machine.run(timeout=args.timeout)
        finally:
            machine.console.stop_input()
    if debugger is not None:
        debugger.guest_ended(result.status)
    if args.stats:
        _say("\n" + machine.stats_report(time.perf_counter() - started))
    status = exit_status.process_status(result.status)
    if status == exit_status.ERROR:
        _say(f"rvkvm: error: {result.reason}")
    elif status != exit_status.SIGPIPE and (status != 0 or trace):
        clamped = (f"; the guest's code {result.status} is above {exit_status.GUEST_MAX}"
                   if status != result.status else "")
        _say(f"\nrvkvm: {result.reason} (exit status {status}{clamped})")
    if result.dump:
        _say(result.dump)
    return status


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


# ---------------------------------------------------------------- signals

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


# ---------------------------------------------------------------- rvkvm disas

DISAS_ARGUMENTS = (
    argument("file", metavar="FILE"),
    argument("--raw", action="store_true", help="FILE is raw machine code, not an ELF."),
    argument("--addr", default="0x80000000", show_default=True, metavar="ADDR",
             type=parse_address, help="Address of the first byte, with --raw."),
)


def disas(args) -> int:
    write = _stdout("the listing").write
    # capstone is imported only here: it would add 50 ms to every boot
    from .disas import disas_lines
    for line in disas_lines(args.file, raw=args.raw, addr=args.addr):
        write(line)
        write("\n")
    return 0        # a closed pipe (`| head`) raises BrokenPipeError: run() ends quietly


# ---------------------------------------------------------------- the commands

COMMANDS = {command.name: command for command in (
    Command("boot", "[OPTIONS] KERNEL",
            "Boot KERNEL (ELF, Linux Image or raw binary) on the virt machine.",
            BOOT_ARGUMENTS, boot, epilog=_boot_epilog),
    Command("disas", "[OPTIONS] FILE",
            "Disassemble an ELF's code sections, or raw bytes (--raw --addr).\n\n"
            "The output is streamed: `rvkvm disas vmlinux | head` stops at once.",
            DISAS_ARGUMENTS, disas),
)}


def top_help() -> str:
    width = max(map(len, COMMANDS))
    commands = "\n".join(f"  {name:<{width}}  {command.summary}"
                         for name, command in COMMANDS.items())
    return (f"Usage: {PROG} [OPTIONS] COMMAND [ARGS]...\n\n"
            f"  rvkvm: a RISC-V full-system emulator and hypervisor in Python.\n\n"
            f"Options:\n"
            f"  --version   Show the version and exit.\n"
            f"  -h, --help  Show this message and exit.\n\n"
            f"Commands:\n{commands}\n\n"
            f"  '{PROG} boot -h' lists the exit statuses and the console keys.\n")


def _dispatch(argv: list[str]) -> int:
    """`rvkvm` alone or -h: the help; --version; else the command argv[0] names."""
    word = argv[0] if argv else "-h"
    if word in ("-h", "--help"):
        _stdout("the help").write(top_help())
        return 0
    if word == "--version":
        _stdout("the version").write(f"{PROG}, version {__version__}\n")
        return 0
    command = COMMANDS.get(word)
    if command is None:
        kind = "option" if word.startswith("-") else "command"
        raise UsageError(f"No such {kind} '{word}'", PROG)
    return command.run(argv[1:])


# ---------------------------------------------------------------- running and ending

def run(argv: list[str] | None = None) -> int:
    """Run one rvkvm command line and return its exit status; never raises for a bad
    input or an output error (each is one line on stderr and its status)."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    try:
        try:
            status = _dispatch(argv)
        except _Exit as done:                   # -h of a command
            status = done.status
        if sys.stdout is not None:
            sys.stdout.flush()                  # a full or closed stdout is said here
    except UsageError as err:
        status = _error(f"{str(err).rstrip('.')} (see '{err.prog or PROG} -h')")
    except RvkvmError as err:
        status = _error(str(err), err.exit_code)
    except KeyboardInterrupt:
        status = _ended("SIGINT", exit_status.SIGINT)
    except Interrupted as err:
        status = _ended(signal.Signals(err.signum).name, err.status)
    except BrokenPipeError:
        status = exit_status.SIGPIPE
    except OSError as err:      # stdout closed or full while printing
        status = _error(f"cannot write the output: {err.strerror or err}")
    return int(status or 0)


def _stdout(what: str):
    """sys.stdout, or one error line when the process was started with fd 1 closed."""
    if sys.stdout is None:
        raise RvkvmError(f"stdout is closed: nowhere to write {what}")
    return sys.stdout


def _say(line: str) -> None:
    """One message on stderr, at once (it must not wait behind the guest's output)."""
    if sys.stderr is not None:
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except OSError:
            pass                 # stderr is gone: nowhere left to say anything


def _error(message: str, status: int = exit_status.ERROR) -> int:
    _say(f"rvkvm: error: {message}")
    return status


def _ended(signal_name: str, status: int) -> int:
    _say(f"rvkvm: ended by {signal_name} (exit status {status})")
    return status


def main() -> None:
    """The console entry point (`rvkvm`, `python -m rvkvm.cli`): run, flush, os._exit.

    Everything a run must finish is done inside run() (terminal restored, console input
    stopped, gdb told, stdout flushed and its errors reported); rvkvm registers no
    atexit handler, and the slicer's ticker finalizer only stops a daemon thread. What
    a closed pipe or a full disk left in stdout's buffer is dropped here: run() has
    already said so (or ended quietly, 141), and os._exit() flushes nothing again."""
    status = run()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass                 # reported by run(); ValueError: a stream already closed
    os._exit(status)


if __name__ == "__main__":
    main()
