"""Decoding of the few instructions Python must understand.

Unicorn reports a trap with neither the instruction nor the faulting address, so
Python decodes the instruction at epc: for the address of a faulting load/store
(the trap value), and for the instructions Python emulates (CSR accesses Unicorn
lacks or must not see, mret/sret/wfi/sfence.vma in virtual M-mode).
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

M64 = (1 << 64) - 1

OP_LOAD, OP_LOAD_FP, OP_STORE, OP_STORE_FP, OP_AMO, OP_SYSTEM = 0x03, 0x07, 0x23, 0x27, 0x2F, 0x73


def sext(value: int, bits: int) -> int:
    return value - (1 << bits) if (value >> (bits - 1)) & 1 else value


class CsrInsn(NamedTuple):
    """csrrw/csrrs/csrrc and their immediate forms."""
    csr: int
    rd: int
    rs1: int          # register number, or the 5-bit immediate when `imm`
    op: str           # "w", "s" or "c"
    imm: bool
    writes: bool      # csrrs/csrrc with rs1 = x0 (or uimm = 0) do not write (spec 9.1)


_CSR_OPS = {1: ("w", False), 2: ("s", False), 3: ("c", False),
            5: ("w", True), 6: ("s", True), 7: ("c", True)}


@lru_cache(maxsize=4096)           # a trap handler's few CSR instructions, decoded once
def decode_csr(insn: int) -> CsrInsn | None:
    if insn & 0x7F != OP_SYSTEM:
        return None
    f3 = (insn >> 12) & 7
    if f3 not in _CSR_OPS:
        return None
    op, imm = _CSR_OPS[f3]
    rs1 = (insn >> 15) & 31
    return CsrInsn(insn >> 20, (insn >> 7) & 31, rs1, op, imm, op == "w" or rs1 != 0)


class InsnRow(NamedTuple):
    """An instruction Python emulates: `insn & mask == match`. `handler` names the
    hart method `_op_<handler>` that completes it; `shape` how the disassembler shows
    its operands ("csr", "load" rd, (rs1); "store" rs2, (rs1); "fence" rs1, rs2; "none")."""
    mask: int
    match: int
    name: str
    handler: str
    shape: str


# Everything Python completes after Unicorn raised illegal instruction for it
# (privileged spec; riscv-opcodes MATCH_/MASK_ values). The disassembler names the
# H rows from here.
EMULATED = (
    InsnRow(0x0000707F, 0x00001073, "csrrw", "csr", "csr"),
    InsnRow(0x0000707F, 0x00002073, "csrrs", "csr", "csr"),
    InsnRow(0x0000707F, 0x00003073, "csrrc", "csr", "csr"),
    InsnRow(0x0000707F, 0x00005073, "csrrwi", "csr", "csr"),
    InsnRow(0x0000707F, 0x00006073, "csrrsi", "csr", "csr"),
    InsnRow(0x0000707F, 0x00007073, "csrrci", "csr", "csr"),
    InsnRow(0xFFFFFFFF, 0x30200073, "mret", "mret", "none"),
    InsnRow(0xFFFFFFFF, 0x10200073, "sret", "sret", "none"),
    InsnRow(0xFFFFFFFF, 0x10500073, "wfi", "wfi", "none"),
    InsnRow(0xFE007FFF, 0x12000073, "sfence.vma", "sfence_vma", "fence"),
    InsnRow(0xFFF0707F, 0x60004073, "hlv.b", "hlv", "load"),
    InsnRow(0xFFF0707F, 0x60104073, "hlv.bu", "hlv", "load"),
    InsnRow(0xFFF0707F, 0x64004073, "hlv.h", "hlv", "load"),
    InsnRow(0xFFF0707F, 0x64104073, "hlv.hu", "hlv", "load"),
    InsnRow(0xFFF0707F, 0x64304073, "hlvx.hu", "hlv", "load"),
    InsnRow(0xFFF0707F, 0x68004073, "hlv.w", "hlv", "load"),
    InsnRow(0xFFF0707F, 0x68104073, "hlv.wu", "hlv", "load"),
    InsnRow(0xFFF0707F, 0x68304073, "hlvx.wu", "hlv", "load"),
    InsnRow(0xFFF0707F, 0x6C004073, "hlv.d", "hlv", "load"),
    InsnRow(0xFE007FFF, 0x62004073, "hsv.b", "hsv", "store"),
    InsnRow(0xFE007FFF, 0x66004073, "hsv.h", "hsv", "store"),
    InsnRow(0xFE007FFF, 0x6A004073, "hsv.w", "hsv", "store"),
    InsnRow(0xFE007FFF, 0x6E004073, "hsv.d", "hsv", "store"),
    InsnRow(0xFE007FFF, 0x22000073, "hfence.vvma", "hfence_vvma", "fence"),
    InsnRow(0xFE007FFF, 0x62000073, "hfence.gvma", "hfence_gvma", "fence"),
)
H_HANDLERS = frozenset(("hlv", "hsv", "hfence_vvma", "hfence_gvma"))


@lru_cache(maxsize=4096)
def find_emulated(insn: int) -> InsnRow | None:
    """The EMULATED row `insn` matches, or None (a real illegal instruction)."""
    for row in EMULATED:
        if insn & row.mask == row.match:
            return row
    return None


class MemAccess(NamedTuple):
    """Where a load/store/AMO instruction accesses: base register + offset."""
    base: int         # register number
    offset: int
    is_store: bool
    is_amo: bool = False
    is_lr: bool = False


def decode_mem(insn: int, length: int) -> MemAccess | None:
    if length == 4:
        op = insn & 0x7F
        rs1 = (insn >> 15) & 31
        if op in (OP_LOAD, OP_LOAD_FP):
            return MemAccess(rs1, sext(insn >> 20, 12), False)
        if op in (OP_STORE, OP_STORE_FP):
            return MemAccess(rs1, sext(((insn >> 25) << 5) | ((insn >> 7) & 31), 12), True)
        if op == OP_AMO:
            is_lr = (insn >> 27) == 0b00010
            return MemAccess(rs1, 0, not is_lr, is_amo=True, is_lr=is_lr)
        return None
    quadrant, f3 = insn & 3, (insn >> 13) & 7
    if quadrant == 0 and f3 in (1, 2, 3, 5, 6, 7):      # c.fld c.lw c.ld / c.fsd c.sw c.sd
        rs1 = 8 + ((insn >> 7) & 7)
        if f3 in (2, 6):     # word: uimm[5:3]=12:10, [2]=6, [6]=5
            off = ((insn >> 10) & 7) << 3 | ((insn >> 6) & 1) << 2 | ((insn >> 5) & 1) << 6
        else:                # double: uimm[5:3]=12:10, [7:6]=6:5
            off = ((insn >> 10) & 7) << 3 | ((insn >> 5) & 3) << 6
        return MemAccess(rs1, off, f3 >= 5)
    if quadrant == 2 and f3 in (1, 2, 3, 5, 6, 7):      # sp-relative
        if f3 == 2:          # c.lwsp uimm[5]=12 [4:2]=6:4 [7:6]=3:2
            off = ((insn >> 12) & 1) << 5 | ((insn >> 4) & 7) << 2 | ((insn >> 2) & 3) << 6
        elif f3 in (1, 3):   # c.fldsp c.ldsp uimm[5]=12 [4:3]=6:5 [8:6]=4:2
            off = ((insn >> 12) & 1) << 5 | ((insn >> 5) & 3) << 3 | ((insn >> 2) & 7) << 6
        elif f3 == 6:        # c.swsp uimm[5:2]=12:9 [7:6]=8:7
            off = ((insn >> 9) & 0xF) << 2 | ((insn >> 7) & 3) << 6
        else:                # c.fsdsp c.sdsp uimm[5:3]=12:10 [8:6]=9:7
            off = ((insn >> 10) & 7) << 3 | ((insn >> 7) & 7) << 6
        return MemAccess(2, off, f3 >= 5)
    return None


def _expand_compressed_mem(insn: int) -> int | None:
    """The 32-bit load/store a compressed one stands for, with imm and rs1 left 0
    (all the transformation keeps); None if it is not a load/store."""
    quadrant, f3 = insn & 3, (insn >> 13) & 7
    if quadrant == 0 and f3 in (1, 2, 3, 5, 6, 7):
        reg = 8 + ((insn >> 2) & 7)                  # rd' (loads) or rs2' (stores)
    elif quadrant == 2 and f3 in (1, 2, 3):
        reg = (insn >> 7) & 31                       # rd
    elif quadrant == 2 and f3 in (5, 6, 7):
        reg = (insn >> 2) & 31                       # rs2
    else:
        return None
    width = {1: 3, 2: 2, 3: 3, 5: 3, 6: 2, 7: 3}[f3]   # funct3: 2 = word, 3 = double
    fp = f3 in (1, 5)
    if f3 < 5:
        return (OP_LOAD_FP if fp else OP_LOAD) | reg << 7 | width << 12
    return (OP_STORE_FP if fp else OP_STORE) | width << 12 | reg << 20


def transformed_insn(insn: int, length: int, addr_offset: int = 0) -> int:
    """htinst/mtinst for a trap of this load/store/AMO/HLV/HSV (spec 8.6.3): the
    instruction with its immediate zeroed and rs1 replaced by the offset of the
    faulting address from the original one; compressed forms as their 32-bit
    equivalent with bit 1 clear. 0 for anything else."""
    if length == 2:
        wide = _expand_compressed_mem(insn)
        return 0 if wide is None else (wide | (addr_offset & 31) << 15) & ~2
    op = insn & 0x7F
    offset = (addr_offset & 31) << 15
    if op in (OP_LOAD, OP_LOAD_FP):
        return (insn & 0x7FFF) | offset
    if op in (OP_STORE, OP_STORE_FP):
        return (insn & 0x01F0707F) | offset
    if op in (OP_AMO, OP_SYSTEM):            # AMOs, HLV/HSV: all but rs1 kept
        return (insn & ~(31 << 15)) | offset
    return 0
