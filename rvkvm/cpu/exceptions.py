"""Exceptions reported by the engine, and the instructions Python completes (a part
of `Hart`).

Unicorn calls the interrupt hook with pc + 4 and no trap CSR written; these methods
rebuild the trap (cause by level, tval by decoding the instruction at epc), complete
what Python emulates (decode.EMULATED: one `_op_<handler>` each), or hand a `Trap`
to `take_trap()`. Faults of the two-stage fill hook arrive as an engine error.
"""
from __future__ import annotations

from time import perf_counter

from unicorn import UcError
from unicorn import unicorn_const as ucc

from . import walk
from .constants import (
    EXC_BREAKPOINT,
    EXC_ECALL_M,
    EXC_ECALL_S,
    EXC_ECALL_U,
    EXC_ECALL_VS,
    EXC_ILLEGAL_INSN,
    EXC_INSN_ACCESS,
    EXC_INSN_GUEST_PAGE_FAULT,
    EXC_LOAD_ACCESS,
    EXC_LOAD_GUEST_PAGE_FAULT,
    EXC_LOAD_MISALIGNED,
    EXC_LOAD_PAGE_FAULT,
    EXC_STORE_ACCESS,
    EXC_STORE_GUEST_PAGE_FAULT,
    EXC_STORE_MISALIGNED,
    EXC_STORE_PAGE_FAULT,
    EXC_VIRTUAL_INSN,
    HSTATUS_HU,
    HSTATUS_SPVP,
    HSTATUS_VTSR,
    HSTATUS_VTVM,
    HSTATUS_VTW,
    HTINST_PTE_READ64,
    HTINST_PTE_WRITE64,
    INSN_C_EBREAK,
    INSN_EBREAK,
    MSTATUS_TSR,
    MSTATUS_TVM,
    MSTATUS_TW,
    PRV_S,
    PRV_U,
)
from .decode import decode_csr, decode_mem, find_emulated, transformed_insn
from .levels import HS, M, U, VS, VU
from .regs import PC
from .trap import GuestDied, Trap

M64 = (1 << 64) - 1
# Unicorn's interrupt-hook numbers for the faults whose tval is a data address
DATA_FAULTS = {4, 5, 6, 7, 13, 15}
FETCH_FAULTS = {0, 1, 12}
MAX_BLOCK_INSNS = 512                   # QEMU's limit on instructions per translated block
ECALL_CAUSE = {M: EXC_ECALL_M, HS: EXC_ECALL_S, U: EXC_ECALL_U, VS: EXC_ECALL_VS,
               VU: EXC_ECALL_U}
GUEST_PAGE_FAULTS = (EXC_INSN_GUEST_PAGE_FAULT, EXC_LOAD_GUEST_PAGE_FAULT,
                     EXC_STORE_GUEST_PAGE_FAULT)
SIGNED_LOAD = {1: 0x80, 2: 0x8000, 4: 0x80000000, 8: 0}

# the store/AMO cause that goes with each load cause
STORE_CAUSE = {EXC_LOAD_MISALIGNED: EXC_STORE_MISALIGNED, EXC_LOAD_ACCESS: EXC_STORE_ACCESS,
               EXC_LOAD_PAGE_FAULT: EXC_STORE_PAGE_FAULT,
               EXC_LOAD_GUEST_PAGE_FAULT: EXC_STORE_GUEST_PAGE_FAULT}


def store_cause_if_store(cause: int, access) -> int:
    """Unicorn reports some faults of AMOs and SC as a load's; the spec says store/AMO
    for every access that writes. `access`: the decoded instruction, or None."""
    if access is not None and access.is_store:
        return STORE_CAUSE.get(cause, cause)
    return cause


# counter-enables that decide whether the engine may serve rdtime (Hart.sync_time_source)
TIME_GATES = frozenset(("mcounteren", "hcounteren", "scounteren"))


class ExceptionHandling:
    """Mixed into Hart (hart.py): the engine's hooks and what they complete."""

    # ------------------------------------------------------------------ hooks
    def _on_intr(self, uc, intno: int, _user) -> None:
        try:
            self.fold_native_calls()
            self._handle_exception(intno)
        except GuestDied:
            pass                               # run_slice re-raises it after emu_start
        finally:
            self._sip_folded = False           # the engine runs S code again

    def _on_intr_timed(self, uc, intno: int, _user) -> None:
        """_on_intr that also adds up its time, for --stats only: two clock reads
        per trap are not free on the hottest path there is."""
        t0 = perf_counter()
        self._on_intr(uc, intno, _user)
        self.trap_seconds += perf_counter() - t0

    def _handle_exception(self, intno: int) -> None:
        if self.trace is not None:
            self._trace_native_interrupt()
        r = self.regs
        pc, level = self.pc_and_level()
        epc = (pc - 4) & M64                   # Unicorn has added 4, even after a 2-byte insn
        if intno == 8:                         # ecall
            if level is HS and self.firmware is not None and not (self.m.medeleg >> 9 & 1):
                self.stats["sbi_call"] += 1
                self._sw_pending_changed = False
                self.firmware.ecall(self)
                r.write(PC, pc)                # resume after ecall; makes Unicorn re-check mip
                if self._sw_pending_changed:   # set_timer, IPIs
                    self.present_interrupts()
                return
            self.take_trap(Trap(ECALL_CAUSE[level], epc))
            return
        if intno == EXC_ILLEGAL_INSN:
            self._on_illegal(epc, level)
            return
        if level is M and intno in (12, 13, 15):
            self._mmode_page_fault(intno, epc)
            return
        if intno in DATA_FAULTS:
            access, tval = self._data_access(epc)
            tinst = self._tinst_at(epc) if level.virt else 0
            self.take_trap(Trap(store_cause_if_store(intno, access), epc, tval, tinst=tinst))
            return
        if intno in FETCH_FAULTS:
            epc, tval = self._locate_fetch_fault(epc)
            self.take_trap(Trap(intno, epc, tval))
            return
        self.die(f"unexpected exception number {intno} from the engine at pc {epc:#x}", epc)

    def _mmode_page_fault(self, intno: int, epc: int) -> None:
        """A page fault under the M-mode identity map: the first fetch from a RAM page
        (make it executable and retry), or an access to nowhere (an access fault)."""
        if intno == 12:
            # the fetch may be anywhere from epc to the end of the next page (see
            # _locate_fetch_fault): let both pages execute, then retry
            made = self._mmap.make_executable(epc)
            made |= self._mmap.make_executable((epc | 0xFFF) + 1)
            if made:
                self.flush_tlb()
                self.regs.write(PC, epc)
                return
            epc, tval = self._locate_fetch_fault(epc)
            self.take_trap(Trap(EXC_INSN_ACCESS, epc, tval))
            return
        access, tval = self._data_access(epc)
        cause = EXC_STORE_ACCESS if intno == 15 else EXC_LOAD_ACCESS
        self.take_trap(Trap(store_cause_if_store(cause, access), epc, tval))

    def _locate_fetch_fault(self, epc: int) -> tuple[int, int]:
        """(epc, tval) of a fetch fault. Unicorn reports a fault in the second page of
        an instruction that straddles a page boundary at the start of the translated
        block, earlier in the first page. If the page at epc can be fetched from, walk
        the block's straight-line code to the instruction that crosses into the next
        page: it is the one that faulted, and tval is the start of that page."""
        if not self._fetchable(epc):
            return epc, epc
        cfg = self.walk_config()
        va = epc
        while True:
            lo = self._read_u16_virt(va, cfg) if self.context != "machine" else self.ram.read_u16(va)
            if lo is None:
                return epc, epc
            length = 4 if lo & 3 == 3 else 2
            next_page = (va | 0xFFF) + 1
            if va + length > next_page or va + length == next_page:
                # straddling: the faulting part is the next page; ending exactly at the
                # boundary: the fault is the next instruction, the first on that page
                return (va, next_page) if va + length > next_page else (next_page, next_page)
            va += length

    def _fetchable(self, va: int) -> bool:
        """Whether the hart, at its current level, may fetch from `va`."""
        if self.context == "machine":       # bare: through the hook, any RAM page
            return self._mmap.is_executable(va) or (self.translation.hooked and self.ram.contains(va))
        w = self.translate(va, walk.FETCH)
        return w.ok and self.ram.contains(w.pa)

    def _tinst_at(self, epc: int) -> int:
        """htinst/mtinst for a data fault of the load/store at epc (V=1 traps)."""
        insn, length = self._insn_at(epc)
        return transformed_insn(insn, length) if insn is not None else 0

    def _data_access(self, epc: int):
        """(the load/store at epc, its address): the trap value Unicorn does not give."""
        insn, length = self._insn_at(epc)
        access = decode_mem(insn, length) if insn is not None else None
        if access is None:
            return None, 0
        return access, (self.regs.read_x(access.base) + access.offset) & M64

    # ------------------------------------------------------------------ emulation
    def _on_illegal(self, epc: int, level) -> None:
        insn, length = self._insn_at(epc)
        if insn is None:
            self.take_trap(Trap(EXC_ILLEGAL_INSN, epc, 0))
            return
        row = find_emulated(insn) if length == 4 else None
        if row is not None:
            outcome = getattr(self, "_op_" + row.handler)(insn, epc, level)
            if outcome is True:
                return
            if outcome == EXC_VIRTUAL_INSN:
                self.take_trap(Trap(EXC_VIRTUAL_INSN, epc, insn))
                return
        self.take_trap(Trap(EXC_ILLEGAL_INSN, epc, insn))

    # Each _op_ returns True (completed, or it raised its own trap), VIRTUAL (a
    # virtual-instruction fault), or False (illegal instruction).

    def _op_csr(self, insn: int, epc: int, level):
        ci = decode_csr(insn)
        row = self.csr_table.get(ci.csr)
        if row is None:
            return False
        fault = row.access_fault(self, level, ci.writes)
        if fault is not None:
            return fault if fault == EXC_VIRTUAL_INSN else False
        r = self.regs
        old = row.read(self)
        if ci.writes:
            src = ci.rs1 if ci.imm else r.read_x(ci.rs1)
            base = row.rmw_read(self) if row.rmw_read is not None else old
            new = src if ci.op == "w" else (base | src if ci.op == "s" else base & ~src)
            if row.write is not None:
                row.write(self, new & M64)
        r.write_x(ci.rd, old)
        self.stats[row.stat_name] += 1
        r.write(PC, epc + 4)
        if ci.writes and row.affects_interrupts:
            # spec 3.1.9: an interrupt the write made pending and enabled is taken
            # before the next instruction
            self.check_interrupts()
        if ci.writes and row.name in TIME_GATES:
            self.sync_time_source()
        return True

    def _op_mret(self, insn: int, epc: int, level):
        if level is not M:
            return False
        self.mret()
        return True

    def _op_sret(self, insn: int, epc: int, level):
        if level is M or (level is HS and not self.m.mstatus & MSTATUS_TSR):
            self.sret()                        # HS: here because SPV=1 enters V
            return True
        if level is VU or (level is VS and self.h.hstatus & HSTATUS_VTSR):
            return EXC_VIRTUAL_INSN
        return False

    def _op_wfi(self, insn: int, epc: int, level):
        """wfi reaches Python only when it must trap (TW, VTW) or from VU."""
        if level is M:
            self.regs.write(PC, epc + 4)
            return True
        if self.m.mstatus & MSTATUS_TW or not level.virt:
            return False
        if level is VU or self.h.hstatus & HSTATUS_VTW:
            return EXC_VIRTUAL_INSN
        return False

    def _op_sfence_vma(self, insn: int, epc: int, level):
        if level is VU or (level is VS and self.h.hstatus & HSTATUS_VTVM):
            return EXC_VIRTUAL_INSN
        if level is U or (level is HS and self.m.mstatus & MSTATUS_TVM):
            return False
        self.flush_tlb()
        self.forget_code_pages()
        self.regs.write(PC, epc + 4)
        return True

    def _hypervisor_insn_allowed(self, level, fence: bool):
        """HLV/HSV/HFENCE: from M and HS; HLV/HSV also from U with hstatus.HU;
        from V=1 a virtual-instruction fault (spec 8.6.1)."""
        if not self.has_h:
            return False
        if level.virt:
            return EXC_VIRTUAL_INSN
        if level is U and (fence or not self.h.hstatus & HSTATUS_HU):
            return False
        return True

    def _op_hfence_vvma(self, insn: int, epc: int, level):
        allowed = self._hypervisor_insn_allowed(level, fence=True)
        if allowed is not True:
            return allowed
        self.flush_tlb()
        self.forget_code_pages()
        self.regs.write(PC, epc + 4)
        self.stats["hfence_vvma"] += 1
        return True

    def _op_hfence_gvma(self, insn: int, epc: int, level):
        allowed = self._hypervisor_insn_allowed(level, fence=True)
        if allowed is not True:
            return allowed
        if level is HS and self.m.mstatus & MSTATUS_TVM:
            return False
        self.translation.flush_gstage()
        self.flush_tlb()
        self.forget_code_pages()
        self.regs.write(PC, epc + 4)
        self.stats["hfence_gvma"] += 1
        return True

    def _op_hlv(self, insn: int, epc: int, level):
        allowed = self._hypervisor_insn_allowed(level, fence=False)
        if allowed is not True:
            return allowed
        width = 1 << ((insn >> 26) & 3)
        unsigned, hlvx = (insn >> 20) & 1, (insn >> 20) & 31 == 3
        va = self.regs.read_x((insn >> 15) & 31)
        chunks = self._hypervisor_access(insn, epc, va, width, walk.LOAD, hlvx)
        if chunks is None:
            return True
        value = int.from_bytes(b"".join(self.ram.read(pa, n) for pa, n in chunks), "little")
        sign = SIGNED_LOAD[width]
        if sign and not unsigned and value & sign:
            value -= sign << 1
        self.regs.write_x((insn >> 7) & 31, value & M64)
        self.regs.write(PC, epc + 4)
        self.stats["hlv"] += 1
        return True

    def _op_hsv(self, insn: int, epc: int, level):
        allowed = self._hypervisor_insn_allowed(level, fence=False)
        if allowed is not True:
            return allowed
        width = 1 << ((insn >> 26) & 3)
        va = self.regs.read_x((insn >> 15) & 31)
        chunks = self._hypervisor_access(insn, epc, va, width, walk.STORE, False)
        if chunks is None:
            return True
        data = (self.regs.read_x((insn >> 20) & 31) & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        for pa, n in chunks:
            self.ram.write(pa, data[:n], "HSV")
            data = data[n:]
        self.regs.write(PC, epc + 4)
        self.stats["hsv"] += 1
        return True

    def _hypervisor_access(self, insn, epc, va, width, access, hlvx):
        """Translate an HLV/HSV access as VS or VU (hstatus.SPVP) would make it:
        [(pa, length)] in RAM, one per page it touches. On a fault enter the trap
        (GVA=1) and return None."""
        priv = PRV_S if self.h.hstatus & HSTATUS_SPVP else PRV_U
        cfg = self.guest_walk_config(priv, hlvx=hlvx)
        chunks = []
        addr, left = va, width
        while left:
            n = min(left, 0x1000 - (addr & 0xFFF))
            w = self.translate(addr, access, cfg, side_effects=True)
            if w.ok and not self.ram.contains(w.pa, n):
                w = walk.Walk(ok=False, cause=EXC_LOAD_ACCESS if access == walk.LOAD
                              else EXC_STORE_ACCESS)
            if not w.ok:
                self._hypervisor_fault(insn, epc, addr, w)
                return None
            chunks.append((w.pa, n))
            addr, left = (addr + n) & M64, left - n
        return chunks

    def _hypervisor_fault(self, insn: int, epc: int, va: int, w) -> None:
        guest_fault = w.cause in GUEST_PAGE_FAULTS
        if w.implicit:
            tinst = HTINST_PTE_WRITE64 if w.implicit_write else HTINST_PTE_READ64
        else:
            tinst = transformed_insn(insn, 4)
        self.take_trap(Trap(w.cause, epc, va, tval2=(w.gpa >> 2) if guest_fault else 0,
                            tinst=tinst, gva=True))

    # ------------------------------------------------------------------ engine errors
    def _on_insn_invalid(self, uc, _user) -> bool:
        self._invalid_insn = True
        return False

    def _on_engine_error(self, err: UcError) -> None:
        """Unicorn ended the run on an access to nowhere, an ebreak, or a fill the
        two-stage hook refused: make it a trap."""
        pc = self.regs.read(PC)
        invalid, self._invalid_insn = self._invalid_insn, False
        try:
            fault = self.translation.last_fault()
            if fault is not None:
                self._deliver_fill_fault(pc, fault)
                return
            if err.errno == ucc.UC_ERR_FETCH_UNMAPPED:
                self.take_trap(Trap(EXC_INSN_ACCESS, pc, pc))
                return
            if err.errno in (ucc.UC_ERR_READ_UNMAPPED, ucc.UC_ERR_WRITE_UNMAPPED):
                epc, mem, address = self._find_unmapped_access(pc)
                cause = EXC_STORE_ACCESS if err.errno == ucc.UC_ERR_WRITE_UNMAPPED else EXC_LOAD_ACCESS
                self.take_trap(Trap(store_cause_if_store(cause, mem), epc, address))
                return
            insn, length = self._insn_at(pc)
            if invalid or err.errno == ucc.UC_ERR_INSN_INVALID:
                if insn in (INSN_EBREAK, INSN_C_EBREAK):
                    self.take_trap(Trap(EXC_BREAKPOINT, pc, pc))
                else:
                    self.take_trap(Trap(EXC_ILLEGAL_INSN, pc, insn or 0))
                return
            self.die(f"engine error {err} at pc {pc:#x}")
        except GuestDied:
            raise self._death

    def _deliver_fill_fault(self, pc: int, fault) -> None:
        """A fill the hook refused: pc is the faulting instruction (data) or the fetch
        address, or the start of its block for an instruction straddling pages."""
        cause, page, gpa, implicit, implicit_write, access = fault
        self.stats["fill_fault"] += 1
        if access == walk.FETCH:
            epc, tval = self._locate_fetch_fault(pc)
            insn = None
            if epc != pc and not self._run_block_prefix(pc, epc):
                return                         # stopped early: the next slice refaults
        else:
            epc = pc
            insn, length = self._insn_at(pc)
            mem = decode_mem(insn, length) if insn is not None else None
            address = (self.regs.read_x(mem.base) + mem.offset) & M64 if mem else page
            tval = address
            if tval >> 12 != page >> 12:       # straddling: the second page faulted
                tval = page & ~0xFFF
            cause = store_cause_if_store(cause, mem)
        tval2 = tinst = 0
        if cause in GUEST_PAGE_FAULTS:
            fault_gpa = gpa if implicit else (gpa & ~0xFFF) | (tval & 0xFFF)
            tval2 = fault_gpa >> 2
        if implicit:
            tinst = HTINST_PTE_WRITE64 if implicit_write else HTINST_PTE_READ64
        elif insn is not None:                 # fetch faults: 0 (spec 8.6.3)
            # Addr. Offset: how far into the access the faulting byte is (misaligned)
            tinst = transformed_insn(insn, length, (tval - address) & M64)
        # an M-mode load/store under MPRV with MPV has a guest virtual address too
        gva = access != walk.FETCH and self.context == "machine" and self.translation.mprv_virt
        self.take_trap(Trap(cause, epc, tval, tval2=tval2, tinst=tinst, gva=gva))

    def _run_block_prefix(self, start: int, until: int) -> bool:
        """A fetch refused for the second page of an instruction that straddles pages
        ends the run at the start of its translated block with none of the block run
        (two-stage-native.md): run the straight-line code before that instruction, so
        the trap sees the state the spec says. False if it did not get there."""
        if self._running_prefix:           # a fault inside the prefix: no second level
            return True
        self._running_prefix = True
        try:
            self.uc.emu_start(start, until)
        except UcError as err:
            self._on_engine_error(err)
            return False
        finally:
            self._running_prefix = False
            self.translation.slice_begins()    # the engine's probe of `until` is no fault
        return self._death is None and self.regs.read(PC) == until

    def _find_unmapped_access(self, pc: int):
        """The load/store that touched unmapped memory: (epc, access, address).
        Unicorn leaves pc at the start of the translated block, with registers as they
        were just before the faulting access, so walk the block and recompute each
        access's address until one lands outside every mapped region."""
        regions = list(self.uc.mem_regions())
        va = pc
        for _ in range(MAX_BLOCK_INSNS):
            insn, length = self._insn_at(va)
            if insn is None:
                break
            mem = decode_mem(insn, length)
            if mem is not None:
                address = (self.regs.read_x(mem.base) + mem.offset) & M64
                w = self.translate(address, walk.STORE if mem.is_store else walk.LOAD)
                if w.ok and not any(b <= w.pa <= e for b, e, _ in regions):
                    return va, mem, address
            va += length
        return pc, None, 0
