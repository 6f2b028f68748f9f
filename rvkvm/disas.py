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

import click
import capstone

from .cpu.csr_names import csr_name
from .cpu.decode import H_HANDLERS, find_emulated
from .errors import RvkvmError
from .loaders.elf import (STB_LOCAL, STT_FUNC, STT_NOTYPE, ELF_MAGIC, open_elf,
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


def disassemble(code: bytes, addr: int, symbols: dict[int, str] | None = None) -> list[str]:
    """One line per instruction of `code` located at `addr`, with `<name>:` lines where
    a symbol of `symbols` (address -> name) starts."""
    code = bytes(code)
    symbols = symbols or {}
    lines: list[str] = []
    off = 0
    while off < len(code):
        # capstone stops at the first word it cannot decode: resume after it.
        for insn_addr, size, mnemonic, operands in _md.disasm_lite(code[off:], addr + off):
            if insn_addr in symbols:
                lines.append(f"<{symbols[insn_addr]}>:")
            encoding = code[off:off + size]
            if size == 4 and encoding[0] & 0x7F == OPCODE_SYSTEM:
                mnemonic, operands = decode_csr(int.from_bytes(encoding, "little")) or (
                    mnemonic, operands)
            elif mnemonic in _PC_RELATIVE:
                operands = _branch_target(insn_addr, operands, symbols)
            lines.append(_line(insn_addr, encoding, mnemonic, operands))
            off += size
        if off < len(code):
            if addr + off in symbols:
                lines.append(f"<{symbols[addr + off]}>:")
            length, line = _undecodable(code, off, addr + off)
            lines.append(line)
            off += length
    return lines


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


def disassemble_elf(path: str) -> list[str]:
    """Every executable section of a RISC-V ELF64, with its symbols as labels."""
    data = read_input(path, "file")
    if not data.startswith(ELF_MAGIC):
        raise RvkvmError(f"file {path!r}: not an ELF file (use --raw for raw bytes)")
    elf = open_elf(data, path, what="file")
    try:
        symbols = read_symbols(elf, data)
        sections = [(i, s.name, s.header) for i, s in enumerate(elf.iter_sections())]
    except Exception as e:   # pyelftools on a damaged section table
        raise RvkvmError(f"file {path!r}: corrupt ELF section headers ({e})") from None
    lines: list[str] = []
    for index, name, h in sections:
        if not h["sh_flags"] & SHF_EXECINSTR or h["sh_type"] == "SHT_NOBITS":
            continue
        body = data[h["sh_offset"]:h["sh_offset"] + h["sh_size"]]
        if len(body) < h["sh_size"]:
            raise RvkvmError(f"file {path!r}: section {name} runs past the end of the file")
        lines += ["", f"Disassembly of section {name}:"]
        lines += disassemble(body, h["sh_addr"], _section_labels(symbols, index))
    if not lines:
        raise RvkvmError(f"file {path!r}: ELF has no executable section")
    return lines


def _parse_int(ctx, param, value):
    try:
        return int(value, 0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number (e.g. 0x80000000)") from None


@click.command("disas")
@click.argument("file")
@click.option("--raw", is_flag=True, help="FILE is raw machine code, not an ELF.")
@click.option("--addr", default="0x80000000", show_default=True, callback=_parse_int,
              help="Address of the first byte, with --raw.")
def disas_command(file: str, raw: bool, addr: int) -> None:
    """Disassemble the executable sections of a RISC-V ELF (or raw code with --raw)."""
    try:
        lines = disassemble(read_input(file, "file"), addr) if raw else disassemble_elf(file)
    except RvkvmError as e:
        raise click.ClickException(str(e)) from None
    click.echo("\n".join(lines))
