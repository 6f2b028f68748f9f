"""Decoding a guest load/store that faulted on MMIO (KVM's kvm_riscv_vcpu_mmio_load/store).

From htinst when the hart provides the transformed instruction (bit 0 = 1; bit 1
tells a 32-bit original from a compressed one), else from the instruction itself,
read through the guest's own translation (as KVM reads it with HLVX).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..cpu.decode import OP_LOAD, OP_STORE, _expand_compressed_mem

# funct3 of LOAD/STORE -> (bytes, sign-extend)
LOAD_WIDTHS = {0: (1, True), 1: (2, True), 2: (4, True), 3: (8, False),
               4: (1, False), 5: (2, False), 6: (4, False)}
STORE_WIDTHS = {0: 1, 1: 2, 2: 4, 3: 8}


@dataclass(frozen=True)
class MmioInsn:
    is_write: bool
    width: int            # bytes
    reg: int              # rd of a load, rs2 of a store
    signed: bool          # a load that sign-extends
    length: int           # of the original instruction: the pc advance


@lru_cache(maxsize=1024)
def decode_transformed(htinst: int) -> MmioInsn | None:
    """From htinst: a transformed load/store (bit 0 set), or None."""
    if not htinst & 1:
        return None                       # 0, or a pseudo-instruction (implicit PTE access)
    length = 4 if htinst & 2 else 2
    return _decode32(htinst | 2, length)


@lru_cache(maxsize=1024)
def decode_insn(insn: int, length: int) -> MmioInsn | None:
    """From the instruction bits at the faulting pc."""
    if length == 2:
        wide = _expand_compressed_mem(insn)
        return None if wide is None else _decode32(wide, 2)
    return _decode32(insn, 4)


def _decode32(insn: int, length: int) -> MmioInsn | None:
    op, f3 = insn & 0x7F, (insn >> 12) & 7
    if op == OP_LOAD and f3 in LOAD_WIDTHS:
        width, signed = LOAD_WIDTHS[f3]
        return MmioInsn(False, width, (insn >> 7) & 31, signed, length)
    if op == OP_STORE and f3 in STORE_WIDTHS:
        return MmioInsn(True, STORE_WIDTHS[f3], (insn >> 20) & 31, False, length)
    return None                           # FP, AMO, LR/SC: not emulated on MMIO (as KVM)


def load_result(insn: MmioInsn, data: int) -> int:
    """The value rd gets from `data` read by this load."""
    bits = 8 * insn.width
    data &= (1 << bits) - 1
    if insn.signed and data >> (bits - 1):
        data -= 1 << bits
    return data & ((1 << 64) - 1)
