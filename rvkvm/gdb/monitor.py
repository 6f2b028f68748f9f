"""gdb's `monitor` commands (qRcmd): one row per command, each returning its output."""
from __future__ import annotations

from typing import Callable, NamedTuple


class Command(NamedTuple):
    run: Callable[[object, list[str]], str]
    usage: str


def _phys(target, args: list[str]) -> str:
    modes = {"on": True, "off": False}
    if len(args) > 1 or (args and args[0] not in modes):
        return "usage: monitor phys [on|off]\n"
    if args:
        target.physical = modes[args[0]]
    if target.physical:
        return f"gdb memory accesses are {target.describe_physical()}\n"
    return "gdb memory accesses are virtual addresses (through the hart translation)\n"


def _priv(target, args: list[str]) -> str:
    return target.describe_privilege() + "\n"


def _walk(target, args: list[str]) -> str:
    if len(args) != 1:
        return "usage: monitor walk ADDR\n"
    try:
        va = int(args[0], 0)
    except ValueError:
        return f"monitor walk: {args[0]!r} is not an address\n"
    return "\n".join(target.walk(va)) + "\n"


def _help(target, args: list[str]) -> str:
    return "".join(f"  {cmd.usage}\n" for cmd in COMMANDS.values())


COMMANDS: dict[str, Command] = {
    "phys": Command(_phys, "phys [on|off]  gdb addresses physical (on) or virtual (off, default)"),
    "priv": Command(_priv, "priv           the current privilege, V and bpc"),
    "walk": Command(_walk, "walk ADDR      translate ADDR level by level, as the hart would"),
    "help": Command(_help, "help           this list"),
}


def run_monitor(target, line: str) -> str:
    words = line.split()
    if not words:
        return _help(target, [])
    command = COMMANDS.get(words[0])
    if command is None:
        return f"unknown monitor command {words[0]!r}; monitor help lists them\n"
    return command.run(target, words[1:])
