"""How the engine stops where gdb asks, with engine mechanisms only: nothing here
runs per instruction, and nothing at all is installed until gdb sets something.

- Breakpoints (Z0 and Z1 alike) are Unicorn exits (UC_CTL_UC_EXITS): the translator
  ends a block before an exit address, so the run stops with the instruction not yet
  executed, at no cost per instruction. A UC_HOOK_CODE calling emu_stop() would not
  do: with the exit switch on (rvkvm/cpu/exit_switch.py) a stop from a hook lands at
  the next block start, after the breakpoint's instruction and the rest of its block.
- A single step is emu_start(count=1), the PythonSlicer's way of stopping, with the
  engine's per-instruction stop check switched back on for that one run (the exit
  switch would let count=1 run to the end of the block) and no exits (the step starts
  on a breakpoint more often than not).
- Watchpoints are UC_HOOK_MEM_READ/WRITE limited to the watched bytes (physical:
  Unicorn 2.1.4 checks a memory hook's range against the physical address). Their
  stop must land right after the access, which needs the stop check after each
  access: while any watchpoint is set the hart runs under a PythonSlicer (instruction
  counts, no asynchronous stops that could land mid-block) with the switch off. The
  engine then leaves pc on the completed access; see take_watch_hit for the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from unicorn import UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE

from ..cpu.exit_switch import _engine_bytes, exit_switch
from ..cpu.slicer import PythonSlicer, Slicer

MAX_WATCH_BYTES = 4096                # one hook range per page; gdb asks for a variable's size
WATCH_HOOKS = {"write": (UC_HOOK_MEM_WRITE,), "read": (UC_HOOK_MEM_READ,),
               "access": (UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE)}


@dataclass
class Watchpoint:
    kind: str                          # "write", "read" or "access"
    addr: int                          # as gdb gave it (virtual unless phys mode)
    length: int
    hooks: list = field(default_factory=list)


class OneInstruction(Slicer):
    """A slice of exactly one instruction."""

    kind = "gdb-step"

    def __init__(self, uc):
        super().__init__(uc)
        uc.ctl_flush_tb()               # blocks translated without a count do not count

    @property
    def stops(self) -> int:
        return 0

    def request_stop(self) -> None:
        pass

    def run(self, pc: int) -> bool:
        self.uc.emu_start(pc, 0, count=1)
        return False


class EngineChecks:
    """The engine's per-access stop check (off under the exit switch) and its
    lingering skip-pc-sync flag (see exit_switch.py)."""

    def __init__(self, uc):
        flags, _ = exit_switch()
        self._no_exit = _engine_bytes(uc, flags.no_exit_request, 1) if flags else None
        self._skip_sync = _engine_bytes(uc, flags.skip_sync_pc, 1) if flags else None
        self.uc = uc

    def precise(self, on: bool, was_off: bool) -> None:
        """Turn the stop check after each access and hook on (or back off when it
        was off), so that a stop from a hook or an instruction count lands there."""
        if self._no_exit is not None and was_off:
            self._no_exit[0] = 0 if on else 1
            self.uc.ctl_flush_tb()          # the check is compiled into each block

    def switch_is_on(self) -> bool:
        return self._no_exit is not None and self._no_exit[0] == 1

    def keep_stop_pc(self) -> None:
        """Before a stop from a hook: make the engine restore pc to the instruction,
        not leave one a trap hook wrote long ago."""
        if self._skip_sync is not None:
            self._skip_sync[0] = 0


class RunControl:
    def __init__(self, target):
        self.target = target
        self.uc = target.uc
        self.checks = EngineChecks(self.uc)
        self.breakpoints: set[int] = set()
        self.watchpoints: dict[tuple[str, int, int], Watchpoint] = {}
        self.watch_hit: Watchpoint | None = None
        self._own_slicer = None              # the hart's slicer while watch mode runs
        self._completed_pc = None            # an access already done at this pc
        self._switch_was_on = False
        target.halt_due = self.halt_due

    # ------------------------------------------------------------------ breakpoints
    def add_breakpoint(self, addr: int) -> None:
        self.breakpoints.add(addr)
        self._apply_exits(self.breakpoints)

    def remove_breakpoint(self, addr: int) -> None:
        self.breakpoints.discard(addr)
        self._apply_exits(self.breakpoints)

    def _apply_exits(self, exits) -> None:
        if exits:
            self.uc.ctl_exits_enabled(True)
            self.uc.ctl_set_exits(sorted(exits))
        else:
            self.uc.ctl_exits_enabled(False)
        # the engine probes the byte before each exit, through the fill hook at V=1
        self.target.hart.translation.set_exits(exits)
        self.uc.ctl_flush_tb()              # exits are checked when a block is translated

    def at_breakpoint(self) -> bool:
        return bool(self.breakpoints) and self.target.read_pc() in self.breakpoints

    def halt_due(self) -> bool:
        """After a slice: the hart stands where gdb wants it (a breakpoint, a hit)."""
        return self.watch_hit is not None or self.at_breakpoint()

    # ------------------------------------------------------------------ watchpoints
    def add_watchpoint(self, kind: str, addr: int, length: int) -> bool:
        """False when the bytes are not RAM under the current translation."""
        key = (kind, addr, length)
        if key in self.watchpoints:
            return True
        ranges = self._physical_ranges(addr, length)
        if ranges is None:
            return False
        wp = Watchpoint(kind, addr, length)
        if not self.watchpoints:
            self._enter_watch_mode()
        for begin, end in ranges:
            for hook_type in WATCH_HOOKS[kind]:
                wp.hooks.append(self.uc.hook_add(hook_type, self._on_access, user_data=wp,
                                                 begin=begin, end=end))
        self.watchpoints[key] = wp
        return True

    def remove_watchpoint(self, kind: str, addr: int, length: int) -> None:
        wp = self.watchpoints.pop((kind, addr, length), None)
        if wp is None:
            return
        for handle in wp.hooks:
            self.uc.hook_del(handle)
        if not self.watchpoints:
            self._leave_watch_mode()

    def _physical_ranges(self, addr: int, length: int):
        """[(first, last)] physical bytes of the watched range, or None if not all RAM."""
        if not 0 < length <= MAX_WATCH_BYTES:
            return None
        ranges = []
        for pa, n in self.target.pieces(addr, length):
            if pa is None or not self.target.ram.contains(pa, n):
                return None
            ranges.append((pa, pa + n - 1))
        return ranges

    def _on_access(self, uc, _access, _addr, _size, _value, wp) -> None:
        if self.watch_hit is None:
            self.watch_hit = wp
        self.checks.keep_stop_pc()
        uc.emu_stop()

    def _enter_watch_mode(self) -> None:
        self._own_slicer = self.target.slicer
        seconds = getattr(self._own_slicer, "slice_seconds", None) or 0.002
        self._switch_was_on = self.checks.switch_is_on()
        self.checks.precise(True, self._switch_was_on)
        self.target.use_slicer(PythonSlicer(self.uc, seconds))

    def _leave_watch_mode(self) -> None:
        self.target.use_slicer(self._own_slicer)
        self.checks.precise(False, self._switch_was_on)
        self._own_slicer = None

    def take_watch_hit(self) -> Watchpoint | None:
        """The watchpoint that stopped the run, if one did. The engine stops with pc
        back on the accessing instruction, which has completed. gdb wants RISC-V
        watchpoints to stop before the access (it then removes them and steps over
        the instruction itself), so pc stays there and that step only moves pc on:
        the instruction runs once."""
        wp, self.watch_hit = self.watch_hit, None
        if wp is not None:
            self._completed_pc = self.target.read_pc()
        return wp

    def pass_completed_access(self) -> bool:
        """Before a resume: if the hart stands on an access a watchpoint stopped after,
        move pc past it (True). Any other resume forgets it."""
        completed, self._completed_pc = self._completed_pc, None
        pc = self.target.read_pc()
        if completed is None or pc != completed:
            return False
        self.target.write_pc(pc + self.target.instruction_length(pc))
        return True

    # ------------------------------------------------------------------ stepping
    def step(self) -> None:
        """Execute one instruction (a trap it raises is entered: pc is the vector)."""
        if self.pass_completed_access():
            return
        in_watch_mode = self._own_slicer is not None
        switch_on = not in_watch_mode and self.checks.switch_is_on()
        slicer = self.target.slicer
        self.checks.precise(True, switch_on)
        if self.breakpoints:
            self._apply_exits(())
        self.checks.keep_stop_pc()
        self.target.use_slicer(OneInstruction(self.uc))
        try:
            self.target.run_slice()
        finally:
            self.target.use_slicer(slicer)
            if self.breakpoints:
                self._apply_exits(self.breakpoints)
            self.checks.precise(False, switch_on)

    # ------------------------------------------------------------------ detach
    def clear(self) -> None:
        """Remove everything gdb set: the engine runs as if no debugger had come."""
        for kind, addr, length in list(self.watchpoints):
            self.remove_watchpoint(kind, addr, length)
        if self.breakpoints:
            self.breakpoints.clear()
            self._apply_exits(())
        self.watch_hit = None
