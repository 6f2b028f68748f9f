"""RV64GC disassembly for humans: capstone for the bulk, with two corrections.

- Zicsr instructions are decoded here so every CSR operand carries the project's name
  (rvkvm.cpu.csr_names): capstone 5 prints hgatp, stimecmp, menvcfg... as bare numbers.
- The hypervisor instructions capstone 5 lacks (HLV, HLVX, HSV, HFENCE) come from the
  hart's own table of emulated instructions (rvkvm.cpu.decode.EMULATED). Anything still undecodable is shown as `.word`/`.half` and the
  walk goes on with the next instruction.

Output, one line per instruction (the encoding as objdump shows it, a halfword or word):
    <_start>:
    80000000: 30002373  csrr t1, mstatus
    80000004: 8082      ret
"""
from __future__ import annotations

import capstone

from .cpu.csr_names import csr_name
from .cpu.decode import H_HANDLERS, find_emulated
from .errors import RvkvmError
from .loaders.elf import (SHT_NOBITS, STB_LOCAL, STT_FUNC, STT_NOTYPE, ELF_MAGIC, open_elf,
                          read_symbols)
from .loaders.raw import read_input

ABI_NAMES = ("zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2",
             "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
             "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7",
             "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6")

OPCODE_SYSTEM = 0x73
SHF_EXECINSTR = 0x4

_md = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV64 | capstone.CS_MODE_RISCVC)


def _fields(word: int) -> tuple[int, int, int, int]:
    """rd, funct3, rs1, rs2 of a 32-bit instruction."""
    return (word >> 7) & 31, (word >> 12) & 7, (word >> 15) & 31, (word >> 20) & 31


# Zicsr, funct3 -> (full mnemonic, pseudo-op when rd is zero, operand is an immediate)
_CSR_OPS = {
    1: ("csrrw", "csrw", False), 2: ("csrrs", "csrs", False), 3: ("csrrc", "csrc", False),
    5: ("csrrwi", "csrwi", True), 6: ("csrrsi", "csrsi", True), 7: ("csrrci", "csrci", True),
}


def decode_csr(word: int) -> tuple[str, str] | None:
    """(mnemonic, operands) for a Zicsr instruction, with the CSR named; None otherwise."""
    rd, funct3, rs1, _ = _fields(word)
    if word & 0x7F != OPCODE_SYSTEM or funct3 not in _CSR_OPS:
        return None
    full, write_only, is_imm = _CSR_OPS[funct3]
    csr = csr_name(word >> 20)
    src = str(rs1) if is_imm else ABI_NAMES[rs1]
    if full == "csrrs" and rs1 == 0:
        return "csrr", f"{ABI_NAMES[rd]}, {csr}"
    if rd == 0:
        return write_only, f"{csr}, {src}"
    return full, f"{ABI_NAMES[rd]}, {csr}, {src}"


def decode_hypervisor(word: int) -> tuple[str, str] | None:
    rd, _, rs1, rs2 = _fields(word)
    row = find_emulated(word)
    if row is None or row.handler not in H_HANDLERS:
        return None
    if row.shape == "load":
        return row.name, f"{ABI_NAMES[rd]}, ({ABI_NAMES[rs1]})"
    if row.shape == "store":
        return row.name, f"{ABI_NAMES[rs2]}, ({ABI_NAMES[rs1]})"
    return row.name, "" if rs1 == rs2 == 0 else f"{ABI_NAMES[rs1]}, {ABI_NAMES[rs2]}"


# capstone prints these targets as offsets from the instruction; the absolute address
# (and its symbol) is appended as a comment, as objdump shows it.
_PC_RELATIVE = frozenset((
    "j", "jal", "c.j", "c.jal", "beq", "bne", "blt", "bge", "bltu", "bgeu", "beqz", "bnez",
    "blez", "bgez", "bltz", "bgtz", "bgt", "ble", "bgtu", "bleu", "c.beqz", "c.bnez"))


def _branch_target(addr: int, operands: str, symbols: dict[int, str]) -> str:
    try:
        target = (addr + int(operands.rsplit(",", 1)[-1], 0)) & (2**64 - 1)
    except ValueError:
        return operands
    label = f" <{symbols[target]}>" if target in symbols else ""
    return f"{operands}  # {target:x}{label}"


def _line(addr: int, encoding: bytes, mnemonic: str, operands: str) -> str:
    if len(encoding) in (2, 4):
        enc = f"{int.from_bytes(encoding, 'little'):0{2 * len(encoding)}x}"
    else:
        enc = encoding.hex()
    return f"{addr:08x}: {enc:<8}  {mnemonic} {operands}".rstrip()


def _undecodable(code: bytes, off: int, addr: int) -> tuple[int, str]:
    """(length, line) for the bytes at `off` that capstone could not decode."""
    length = 2 if code[off] & 3 != 3 else 4
    chunk = code[off:off + length]
    if len(chunk) < length:          # a cut-off instruction at the end of the code
        return len(chunk), _line(addr, chunk, ".byte", ", ".join(f"{b:#04x}" for b in chunk))
    value = int.from_bytes(chunk, "little")
    if length == 4:
        decoded = decode_hypervisor(value)
        if decoded:
            return 4, _line(addr, chunk, *decoded)
        return 4, _line(addr, chunk, ".word", f"{value:#010x}")
    return 2, _line(addr, chunk, ".half", f"{value:#06x}")


# capstone decodes a whole buffer at once and stops at the first word it cannot decode:
# it is fed windows of this size, so a big raw file costs linear time and prints as it goes
WINDOW = 64 * 1024
MAX_INSN = 4


def iter_disassembly(code: bytes, addr: int, symbols: dict[int, str] | None = None):
    """One line per instruction of `code` located at `addr`, with `<name>:` lines where
    a symbol of `symbols` (address -> name) starts, as they are decoded."""
    code = bytes(code)
    symbols = symbols or {}
    off = 0
    while off < len(code):
        window_start = off
        window = code[off:off + WINDOW]
        for insn_addr, size, mnemonic, operands in _md.disasm_lite(window, addr + off):
            if insn_addr in symbols:
                yield f"<{symbols[insn_addr]}>:"
            encoding = code[off:off + size]
            if size == 4 and encoding[0] & 0x7F == OPCODE_SYSTEM:
                mnemonic, operands = decode_csr(int.from_bytes(encoding, "little")) or (
                    mnemonic, operands)
            elif mnemonic in _PC_RELATIVE:
                operands = _branch_target(insn_addr, operands, symbols)
            yield _line(insn_addr, encoding, mnemonic, operands)
            off += size
        cut_by_window = (off - window_start > len(window) - MAX_INSN
                         and window_start + len(window) < len(code))
        if off < len(code) and not cut_by_window:
            # capstone could not decode the word at `off`: show it and resume after it
            if addr + off in symbols:
                yield f"<{symbols[addr + off]}>:"
            length, line = _undecodable(code, off, addr + off)
            yield line
            off += length


def disassemble(code: bytes, addr: int, symbols: dict[int, str] | None = None) -> list[str]:
    """iter_disassembly as a list."""
    return list(iter_disassembly(code, addr, symbols))


def _section_labels(symbols, shndx: int) -> dict[int, str]:
    """address -> name of the code symbols in one section; a global function wins over
    a local or untyped label at the same address."""
    chosen: dict[int, tuple[tuple[bool, bool], str]] = {}
    for sym in symbols:
        if (sym.shndx != shndx or sym.type not in (STT_FUNC, STT_NOTYPE) or not sym.name
                or sym.name.startswith(("$", ".L"))):
            continue
        rank = (sym.bind != STB_LOCAL, sym.type == STT_FUNC)
        if sym.value not in chosen or rank > chosen[sym.value][0]:
            chosen[sym.value] = (rank, sym.name)
    return {a: name for a, (_, name) in chosen.items()}


def _elf_code_sections(path: str):
    """(symbols, [(index, name, address, body)]) of a RISC-V ELF64's executable sections,
    every check done before the first line is printed."""
    data = read_input(path, "file")
    if not data.startswith(ELF_MAGIC):
        raise RvkvmError(f"file {path!r}: not an ELF file (use --raw for raw bytes)")
    elf = open_elf(data, path, what="file")
    try:
        symbols = read_symbols(elf, data)
    except ValueError as e:   # a damaged section table
        raise RvkvmError(f"file {path!r}: corrupt ELF section headers ({e})") from None
    code = []
    for index, sec in enumerate(elf.sections):
        if not sec.flags & SHF_EXECINSTR or sec.type == SHT_NOBITS:
            continue
        body = data[sec.offset:sec.offset + sec.size]
        if len(body) < sec.size:
            raise RvkvmError(f"file {path!r}: section {sec.name} runs past the end of the file")
        code.append((index, sec.name, sec.addr, body))
    if not code:
        raise RvkvmError(f"file {path!r}: ELF has no executable section")
    return symbols, code


def _iter_elf(symbols, sections):
    for index, name, addr, body in sections:
        yield ""
        yield f"Disassembly of section {name}:"
        yield from iter_disassembly(body, addr, _section_labels(symbols, index))


def disassemble_elf(path: str) -> list[str]:
    """Every executable section of a RISC-V ELF64, with its symbols as labels."""
    return list(_iter_elf(*_elf_code_sections(path)))


def disas_lines(path: str, *, raw: bool = False, addr: int = 0x8000_0000):
    """The lines of `rvkvm disas` as an iterator; a bad file raises RvkvmError at once,
    before any line."""
    if raw:
        return iter_disassembly(read_input(path, "file"), addr)
    return _iter_elf(*_elf_code_sections(path))
