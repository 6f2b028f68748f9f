"""Exceptions reported by the engine, and the instructions Python completes (a part
of `Hart`).

Unicorn calls the interrupt hook with pc + 4 and no trap CSR written; these methods
rebuild the trap (cause by privilege, tval by decoding the instruction at epc),
complete what Python emulates, or hand a `Trap` to `take_trap()`.
"""
from __future__ import annotations

from time import perf_counter

from unicorn import (
    UcError,
)
from unicorn import riscv_const as rc
from unicorn import unicorn_const as ucc

from . import mmu
from .constants import (
    EXC_BREAKPOINT,
    EXC_ECALL_M,
    EXC_ECALL_S,
    EXC_ECALL_U,
    EXC_ILLEGAL_INSN,
    EXC_INSN_ACCESS,
    EXC_LOAD_ACCESS,
    EXC_LOAD_MISALIGNED,
    EXC_LOAD_PAGE_FAULT,
    EXC_STORE_ACCESS,
    EXC_STORE_MISALIGNED,
    EXC_STORE_PAGE_FAULT,
    INSN_C_EBREAK,
    INSN_EBREAK,
    INSN_MRET,
    INSN_SRET,
    MSTATUS_MIE,
    MSTATUS_MPIE,
    MSTATUS_MPP,
    MSTATUS_MPP_SHIFT,
    MSTATUS_MPRV,
    MSTATUS_SIE,
    MSTATUS_SPIE,
    MSTATUS_SPP,
    PRV_M,
    PRV_S,
    PRV_U,
)
from .csr import COUNTER_BITS, CSR_TABLE
from .decode import decode_csr, decode_mem, is_sfence_vma
from .regs import PC
from .trap import GuestDied, Trap

M64 = (1 << 64) - 1
# Unicorn's interrupt-hook numbers for the faults whose tval is a data address
DATA_FAULTS = {4, 5, 6, 7, 13, 15}
FETCH_FAULTS = {0, 1, 12}
MAX_BLOCK_INSNS = 512                   # QEMU's limit on instructions per translated block



# the store/AMO cause that goes with each load cause
STORE_CAUSE = {EXC_LOAD_MISALIGNED: EXC_STORE_MISALIGNED, EXC_LOAD_ACCESS: EXC_STORE_ACCESS,
               EXC_LOAD_PAGE_FAULT: EXC_STORE_PAGE_FAULT}


def store_cause_if_store(cause: int, access) -> int:
    """Unicorn reports some faults of AMOs and SC as a load's; the spec says store/AMO
    for every access that writes. `access`: the decoded instruction, or None."""
    if access is not None and access.is_store:
        return STORE_CAUSE.get(cause, cause)
    return cause


class ExceptionHandling:
    """Mixed into Hart (hart.py): the engine's hooks and what they complete."""

    # ------------------------------------------------------------------ hooks
    def _on_intr(self, uc, intno: int, _user) -> None:
        try:
            self._handle_exception(intno)
        except GuestDied:
            pass                               # run_slice re-raises it after emu_start

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
        pc = r.read(PC)
        epc = (pc - 4) & M64                   # Unicorn has added 4, even after a 2-byte insn
        priv = self.priv
        if intno == 8:                         # ecall
            if priv == PRV_S and self.firmware is not None and not (self.m.medeleg >> 9 & 1):
                self.stats["sbi_call"] += 1
                self._sw_pending_changed = False
                self.firmware.ecall(self)
                r.write(PC, pc)                # resume after ecall; makes Unicorn re-check mip
                if self._sw_pending_changed:   # set_timer, IPIs
                    self.present_interrupts()
                return
            cause = {PRV_U: EXC_ECALL_U, PRV_S: EXC_ECALL_S, PRV_M: EXC_ECALL_M}[priv]
            self.take_trap(Trap(cause, epc))
            return
        if intno == EXC_ILLEGAL_INSN:
            self._on_illegal(epc, priv)
            return
        if self.virtual_m and intno in (12, 13, 15):
            self._mmode_page_fault(intno, epc)
            return
        if intno in DATA_FAULTS:
            access, tval = self._data_access(epc)
            self.take_trap(Trap(store_cause_if_store(intno, access), epc, tval))
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
        satp = 0 if self.virtual_m else self.read_satp()
        if not self._fetchable(satp, epc):
            return epc, epc
        va = epc
        while True:
            lo = mmu.read_u16_virt(self.ram, satp, va)
            if lo is None:
                return epc, epc
            length = 4 if lo & 3 == 3 else 2
            next_page = (va | 0xFFF) + 1
            if va + length > next_page or va + length == next_page:
                # straddling: the faulting part is the next page; ending exactly at the
                # boundary: the fault is the next instruction, the first on that page
                return (va, next_page) if va + length > next_page else (next_page, next_page)
            va += length

    def _fetchable(self, satp: int, va: int) -> bool:
        """Whether the hart, at its current privilege, may fetch from `va`."""
        if self.virtual_m:
            return self._mmap.is_executable(va)
        pte = mmu.leaf_pte(self.ram, satp, va)
        if pte is None:
            return satp >> 60 == 0 and self.ram.contains(va)
        user_page = bool(pte & mmu.PTE_U)
        return bool(pte & mmu.PTE_X) and user_page == (self.priv == PRV_U)

    def _data_access(self, epc: int):
        """(the load/store at epc, its address): the trap value Unicorn does not give."""
        insn, length = self._insn_at(epc)
        access = decode_mem(insn, length) if insn is not None else None
        if access is None:
            return None, 0
        return access, (self.regs.read_x(access.base) + access.offset) & M64

    def _on_illegal(self, epc: int, priv: int) -> None:
        insn, length = self._insn_at(epc)
        if insn is None:
            self.take_trap(Trap(EXC_ILLEGAL_INSN, epc, 0))
            return
        if length == 4 and self._emulate(insn, epc, priv):
            return
        self.take_trap(Trap(EXC_ILLEGAL_INSN, epc, insn))

    def _emulate(self, insn: int, epc: int, priv: int) -> bool:
        """Instructions Python completes itself. False: raise illegal instruction."""
        ci = decode_csr(insn)
        if ci is not None:
            row = self._emulate_csr(ci, priv)
            if row is None:
                return False
            self.stats[row.stat_name] += 1
            self.regs.write(PC, epc + 4)
            if ci.writes and row.affects_interrupts:
                if self.virtual_m:             # the write may have enabled an M interrupt
                    self.check_interrupts()
                else:
                    self.present_interrupts()
            return True
        if priv != PRV_M:
            return False
        if insn == INSN_MRET:
            self._mret()
        elif insn == INSN_SRET:
            self._sret_from_m()
        elif is_sfence_vma(insn):
            self.flush_tlb()
            self.regs.write(PC, epc + 4)
        else:
            return False
        return True

    def _emulate_csr(self, ci, priv: int):
        """Complete a CSR instruction; returns its table row, or None: illegal."""
        num = ci.csr
        row = CSR_TABLE.get(num)
        if row is None or row.min_priv > priv or (ci.writes and row.read_only):
            return None
        if priv < PRV_M and num in COUNTER_BITS:
            bit = COUNTER_BITS[num]
            if not self.m.mcounteren >> bit & 1:
                return None
            if priv == PRV_U and not self.regs.csr_read(rc.UC_RISCV_REG_SCOUNTEREN) >> bit & 1:
                return None
        if num == 0x180 and priv != PRV_M:     # satp traps below M only when TVM says so
            return None
        r = self.regs
        old = row.read(self)
        if ci.writes:
            src = ci.rs1 if ci.imm else r.read_x(ci.rs1)
            base = row.rmw_read(self) if row.rmw_read is not None else old
            new = src if ci.op == "w" else (base | src if ci.op == "s" else base & ~src)
            if row.write is not None:
                row.write(self, new & M64)
        r.write_x(ci.rd, old)
        return row

    def _mret(self) -> None:
        m = self.m
        ms = m.mstatus
        mpp = (ms & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT
        ms &= ~(MSTATUS_MIE | MSTATUS_MPP)
        if ms & MSTATUS_MPIE:
            ms |= MSTATUS_MIE
        ms |= MSTATUS_MPIE                     # MPP becomes U (0)
        if mpp != PRV_M:
            ms &= ~MSTATUS_MPRV
        m.mstatus = ms
        self.stats["mret"] += 1
        self._switch_level(mpp)
        self.regs.write(PC, m.mepc)
        if mpp == PRV_M:
            self.check_interrupts()

    def _sret_from_m(self) -> None:
        r = self.regs
        ucms = r.csr_read(rc.UC_RISCV_REG_MSTATUS)
        spp = PRV_S if ucms & MSTATUS_SPP else PRV_U
        ucms &= ~(MSTATUS_SIE | MSTATUS_SPP)
        if ucms & MSTATUS_SPIE:
            ucms |= MSTATUS_SIE
        ucms |= MSTATUS_SPIE
        r.csr_write(rc.UC_RISCV_REG_MSTATUS, ucms)
        self.m.mstatus &= ~MSTATUS_MPRV
        self._switch_level(spp)
        r.write(PC, r.csr_read(rc.UC_RISCV_REG_SEPC))

    def _on_insn_invalid(self, uc, _user) -> bool:
        self._invalid_insn = True
        return False

    def _on_engine_error(self, err: UcError) -> None:
        """Unicorn ended the run on an access to nowhere or an ebreak: make it a trap."""
        pc = self.regs.read(PC)
        invalid, self._invalid_insn = self._invalid_insn, False
        try:
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

    def _find_unmapped_access(self, pc: int):
        """The load/store that touched unmapped memory: (epc, access, address).
        Unicorn leaves pc at the start of the translated block, with registers as they
        were just before the faulting access, so walk the block and recompute each
        access's address until one lands outside every mapped region."""
        satp = 0 if self.virtual_m else self.regs.csr_read(rc.UC_RISCV_REG_SATP)
        regions = list(self.uc.mem_regions())
        va = pc
        for _ in range(MAX_BLOCK_INSNS):
            insn, length = self._insn_at(va)
            if insn is None:
                break
            mem = decode_mem(insn, length)
            if mem is not None:
                address = (self.regs.read_x(mem.base) + mem.offset) & M64
                pa = mmu.translate(self.ram, satp, address)
                if pa is not None and not any(b <= pa <= e for b, e, _ in regions):
                    return va, mem, address
            va += length
        return pc, None, 0

