"""A gdb remote stub for rvkvm (`rvkvm boot --gdb tcp::PORT`, `-s`, `-S`).

Modules: rsp (packet framing), connection (TCP, the reader thread), stub (the
halted state and the packet handlers), runcontrol (breakpoints, watchpoints and
single steps with engine mechanisms), target (every call into the hart), registers
and tdesc (gdb's register numbers and the target description), monitor (`monitor`
commands)."""
from __future__ import annotations

from .connection import Listener, parse_spec
from .stub import Debugger, note
from .target import HartTarget

DEFAULT_SPEC = "tcp::1234"                   # QEMU's -s


def start_stub(machine, spec: str, wait: bool) -> Debugger:
    """Listen for gdb and hook the stub into `machine`'s run loop. With `wait`, the
    first slice waits for gdb to connect (and then for its first continue or step)."""
    listener = Listener(spec)
    make_target = getattr(machine, "debug_target", None)      # the machine's own view
    target = make_target() if make_target is not None else HartTarget(machine)
    debugger = Debugger(target, listener, wait)
    machine.debugger = debugger
    if not wait:
        note(f"gdb stub listening on localhost:{listener.port}")
    return debugger


__all__ = ["DEFAULT_SPEC", "start_stub", "parse_spec", "Debugger"]
