"""gdb's view of a guest of rvkvm's own hypervisor (`rvkvm boot --guest ... --gdb`):
the guest's registers and CSRs (the vcpu's hart holds VS's while V=1, as always
here), memory through its two-stage translation, `monitor phys on` meaning
guest-physical addresses, and run control through the VMM's run loop.

Two things differ from a VirtMachine, and this file covers both:
- The VMM's loop sees the guest only between vcpu runs, and a vcpu run is many
  slices. The hart's slicer is wrapped so that a slice which ends where gdb wants
  the guest (a breakpoint, a watchpoint hit, a single step) kicks the vcpu: it
  returns to the VMM, whose loop calls the stub (Vmm._debug_point).
- The G-stage is filled on demand (rvkvm/hv/vm.py map_fault). gdb reading guest
  RAM the guest has not touched yet maps it as the guest's own access would.
"""
from __future__ import annotations

from unicorn import riscv_const as rc

from ..cpu import walk
from ..cpu.csr_names import CSR_NUMBERS
from ..cpu.slicer import Slicer
from .target import M64, HartTarget


def _unicorn(reg):
    return (lambda hart: hart.regs.csr_read(reg),
            lambda hart, value: hart.regs.csr_write(reg, value))


# The guest's supervisor CSRs while V=1: (read, write or None). The hart's CSR table
# answers as HS and M reach them (satp: HS's; vs*: the copy kept while V=0), but
# at V=1 Unicorn holds the live VS set. gdb's sstatus and vsstatus (and so on) both
# name it, as the guest's csrr sstatus does.
_LIVE_VS = {
    "sstatus": (lambda h: h.read_vsstatus(), _unicorn(rc.UC_RISCV_REG_SSTATUS)[1]),
    "sie": (lambda h: h.read_vsie(), None),
    "sip": (lambda h: h.read_vsip(), None),
    "stvec": _unicorn(rc.UC_RISCV_REG_STVEC),
    "sscratch": _unicorn(rc.UC_RISCV_REG_SSCRATCH),
    "sepc": _unicorn(rc.UC_RISCV_REG_SEPC),
    "scause": _unicorn(rc.UC_RISCV_REG_SCAUSE),
    "stval": _unicorn(rc.UC_RISCV_REG_STVAL),
    "satp": (lambda h: h.read_vsatp_any(), None),   # a new satp is the guest's to make
}
GUEST_CSRS = {CSR_NUMBERS[prefix + name[1:]]: row for name, row in _LIVE_VS.items()
              for prefix in ("s", "vs")}

# a two-stage walk that faults in its G-stage needs at most one fill per VS level
# (the tables) plus the leaf's page
MAX_FILLS = 6


class ReturnToVmm(Slicer):
    """A slicer around the hart's own: after each slice, kicks the vcpu out to the
    VMM when `due()` says gdb wants the guest where it stands. One pc read per
    slice, and only while a debugger has set something or steps."""

    def __init__(self, inner, due, kick):
        super().__init__(inner.uc)
        self.inner, self._due, self._kick = inner, due, kick
        self.runs = 0

    @property
    def kind(self) -> str:
        return self.inner.kind

    @property
    def stops(self) -> int:
        return self.inner.stops

    def request_stop(self) -> None:
        self.inner.request_stop()

    def run(self, pc: int) -> bool:
        ticked = self.inner.run(pc)
        self.runs += 1
        if self._due():
            self._kick()
        return ticked

    def close(self) -> None:
        self.inner.close()


class GuestTarget(HartTarget):
    """The vcpu of a Vmm (rvkvm/hv/vmm.py), as the guest sees it."""

    def __init__(self, vmm):
        super().__init__(vmm)
        self.vmm = vmm
        self.ram = vmm.hart.ram                # translations end in the VM's host RAM
        self.halt_due = lambda: False          # RunControl: a breakpoint or watchpoint hit
        self._stepping = False
        self._wrapper = ReturnToVmm(self.hart.slicer, self._due, vmm.vcpu.kick)
        self.hart.slicer = self._wrapper

    # ------------------------------------------------------------------ CSRs
    def read_csr(self, num: int) -> int | None:
        row = GUEST_CSRS.get(num) if self.hart.virt else None
        return row[0](self.hart) & M64 if row is not None else super().read_csr(num)

    def write_csr(self, num: int, value: int) -> bool:
        row = GUEST_CSRS.get(num) if self.hart.virt else None
        if row is None:
            return super().write_csr(num, value)
        if row[1] is None:
            return False
        row[1](self.hart, value & M64)
        return True

    # ------------------------------------------------------------------ translation
    def translate(self, va: int) -> int | None:
        """Host-physical address of guest address `va`: through both stages, or the
        G-stage alone with `monitor phys on` (gdb addresses are guest-physical)."""
        cfg = self._physical_config() if self.physical else None
        for _ in range(MAX_FILLS):
            w = self.hart.translate(va & M64, walk.LOAD, cfg)
            if w.ok:
                return w.pa
            if w.cause not in walk.GUEST_PAGE_FAULT.values() or not self.vmm.map_guest_page(w.gpa):
                return None
        return None

    def _physical_config(self) -> walk.WalkConfig:
        return walk.WalkConfig(satp=0, hgatp=self.hart.h.hgatp, virt=True, priv=1)

    def describe_physical(self) -> str:
        return "guest-physical addresses (through the G-stage)"

    # ------------------------------------------------------------------ running
    @property
    def slicer(self):
        return self._wrapper.inner

    def use_slicer(self, slicer) -> None:
        self._wrapper.inner = slicer

    def _due(self) -> bool:
        return self._stepping or self.halt_due()

    def run_slice(self) -> str:
        """One slice of the current slicer (the stub's single step) through the
        VMM, so an exit it makes is served. A vcpu run that a stale kick (the VMM's
        housekeeping kicks while gdb holds the guest) ended before any slice is
        run again."""
        runs = self._wrapper.runs
        self._stepping = True
        try:
            while self._wrapper.runs == runs and not self.exit_pending():
                if not self.vmm.run_debug_slice():
                    break                      # the vcpu is dead: the run loop reports it
        finally:
            self._stepping = False
        return "tick"
