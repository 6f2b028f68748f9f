"""The debugger's view of the hart: registers, CSRs, memory through the current
translation, privilege. Every call the stub makes into the hart (rvkvm/cpu) is in
this file, so a change of the hart (the H extension: V=1, VS CSRs, two-stage
translation) is re-pointed here and nowhere else in rvkvm/gdb."""
from __future__ import annotations

from unicorn import riscv_const as rc

from ..cpu import walk
from ..cpu.constants import PRIV_NAMES
from ..cpu.csr_names import CSR_NAMES
from ..cpu.regs import PC

M64 = (1 << 64) - 1
PAGE = 4096
# CSRs Unicorn itself holds and serves to S code natively (the rest of Unicorn's CSR
# registers, H ones among them, mean nothing on this hart: they are not listed)
UC_CSRS = {name: getattr(rc, "UC_RISCV_REG_" + name.upper()) for name in (
    "sstatus", "sie", "stvec", "scounteren", "sscratch", "sepc", "scause", "stval",
    "fflags", "frm", "fcsr", "cycle", "instret")}
# CSR views the hart composes from Unicorn's and Python's halves
COMPOSED_CSRS = {
    "sip": lambda hart: hart.read_mip() & hart.m.mideleg,
}


class HartTarget:
    """One hart of a VirtMachine, as gdb sees it. A machine whose view differs says
    so with a `debug_target()` of its own (rvkvm/hv's Vmm: guest.py)."""

    def __init__(self, machine):
        self.machine = machine
        self.hart = machine.hart
        self.uc = machine.uc
        self.ram = machine.ram
        self.physical = False               # `monitor phys on`: gdb addresses are physical
        # RunControl's test "gdb wants the hart where it stands"; this machine's run
        # loop asks the stub after every slice anyway, so it is not used here
        self.halt_due = lambda: False

    # ------------------------------------------------------------------ registers
    def read_gpr(self, n: int) -> int:
        return self.hart.regs.read_x(n)

    def write_gpr(self, n: int, value: int) -> None:
        self.hart.regs.write_x(n, value)

    def read_pc(self) -> int:
        return self.hart.regs.read(PC)

    def write_pc(self, value: int) -> None:
        self.hart.regs.write(PC, value)

    def read_fpr(self, n: int) -> int:
        return self.hart.regs.read(rc.UC_RISCV_REG_F0 + n)

    def write_fpr(self, n: int, value: int) -> None:
        self.hart.regs.write(rc.UC_RISCV_REG_F0 + n, value)

    def read_csr(self, num: int) -> int | None:
        """The architectural value of CSR `num`, or None when this hart has no value for it."""
        row = self.hart.csr_table.get(num)
        if row is not None:
            return row.read(self.hart) & M64
        name = _name(num)
        if name in COMPOSED_CSRS:
            return COMPOSED_CSRS[name](self.hart) & M64
        if name in UC_CSRS:
            return self.hart.regs.csr_read(UC_CSRS[name])
        return None

    def write_csr(self, num: int, value: int) -> bool:
        """False when the CSR cannot be written (unknown here, or read-only)."""
        row = self.hart.csr_table.get(num)
        if row is not None:
            if row.write is None or (num >> 10) & 3 == 3:
                return False
            row.write(self.hart, value & M64)
            return True
        name = _name(num)
        if name in UC_CSRS:
            self.hart.regs.csr_write(UC_CSRS[name], value)
            return True
        return False

    # ------------------------------------------------------------------ privilege
    def privilege(self) -> int:
        return self.hart.priv

    def virtualized(self) -> bool:
        return self.hart.virt

    def bpc(self) -> int | None:
        """The pc at which the hart last left V=1 (None: no H extension)."""
        return self.hart.h.bpc if self.hart.has_h else None

    def describe_privilege(self) -> str:
        bpc = self.bpc()
        return (f"level {self.hart.level}, privilege {PRIV_NAMES[self.privilege()]}, "
                f"V={int(self.virtualized())}, bpc {'-' if bpc is None else f'{bpc:#x}'}")

    # ------------------------------------------------------------------ translation
    def translate(self, va: int) -> int | None:
        """Physical address of `va` as the running level reads it (V=1: both stages;
        the gdb address itself when physical mode is on), or None when unmapped."""
        if self.physical:
            return va
        w = self.hart.translate(va & M64, walk.LOAD)
        return w.pa if w.ok else None

    def describe_physical(self) -> str:
        return "physical addresses"

    def walk(self, va: int) -> list[str]:
        """The translation of `va`, one line per VS-stage and G-stage step."""
        head = f"{va:#x}: level {self.hart.level}, V={int(self.virtualized())}"
        return [head] + ["  " + line for line in self.hart.walk_steps(va)]

    # ------------------------------------------------------------------ memory
    def read_memory(self, addr: int, length: int) -> bytes | None:
        """Bytes at gdb address `addr` (translated page by page), or None if any
        of them is not RAM. Device registers are not read: reads have side effects."""
        out = bytearray()
        for pa, n in self.pieces(addr, length):
            if pa is None or not self.ram.contains(pa, n):
                return None
            out += self.ram.read(pa, n)
        return bytes(out)

    def write_memory(self, addr: int, data: bytes) -> bool:
        pieces = list(self.pieces(addr, len(data)))
        if any(pa is None or not self.ram.contains(pa, n) for pa, n in pieces):
            return False
        done = 0
        for pa, n in pieces:
            self.ram.write(pa, data[done:done + n])
            done += n
        self.uc.ctl_flush_tb()                 # the bytes may be code already translated
        return True

    def pieces(self, addr: int, length: int):
        """(physical address or None, length) for each page `addr..+length` touches."""
        while length > 0:
            n = min(length, PAGE - (addr & (PAGE - 1)))
            yield self.translate(addr), n
            addr, length = (addr + n) & M64, length - n

    def instruction_length(self, va: int) -> int:
        """Bytes of the instruction at `va` (2 or 4; 4 when it cannot be read)."""
        low = self.read_memory(va, 2)
        return 2 if low is not None and low[0] & 3 != 3 else 4

    # ------------------------------------------------------------------ running
    def run_slice(self) -> str:
        return self.hart.run_slice()

    @property
    def slicer(self):
        return self.hart.slicer

    def use_slicer(self, slicer) -> None:
        """Run the next slices with `slicer` (the debugger's step and watch modes)."""
        self.hart.slicer = slicer

    def request_stop(self) -> None:
        self.machine.request_stop()

    def request_exit(self, status: int, reason: str) -> None:
        self.machine.request_exit(status, reason)

    def exit_pending(self) -> bool:
        """The guest has ended (powered off, failed, was killed): the run loop returns next."""
        return self.machine._exit is not None

    def flush_console(self) -> None:
        self.machine.console.flush()


def _name(num: int) -> str:
    return CSR_NAMES.get(num, "")
