"""The disassembler: hand-encoded instructions, CSR names, compressed and undecodable
words, hypervisor instructions, labels, ELF sections and the `disas` command."""
from __future__ import annotations

import struct

from rvkvm.cli import run
from rvkvm.disas import disassemble, disassemble_elf
from test_loaders import Seg, build_elf

BASE = 0x80000000
T1, A0, A1, A2, A3, T0 = 6, 10, 11, 12, 13, 5


def word(*values: int) -> bytes:
    return b"".join(struct.pack("<I", v) for v in values)


def half(*values: int) -> bytes:
    return b"".join(struct.pack("<H", v) for v in values)


def csr_insn(funct3: int, csr: int, rs1: int, rd: int) -> int:
    """A Zicsr instruction, encoded by hand from the spec's I-type layout."""
    return (csr << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | 0x73


def text_of(line: str) -> str:
    """`mnemonic operands` of an instruction line: after the address and the encoding
    column (8 wide, then two spaces)."""
    return line.split(": ", 1)[1][10:]


def test_csr_operands_use_the_project_names():
    code = word(csr_insn(2, 0x680, 0, T1),      # csrrs t1, hgatp, zero
                csr_insn(1, 0x14D, A0, 0),      # csrrw zero, stimecmp, a0
                csr_insn(2, 0x300, T0, 0),      # csrrs zero, mstatus, t0
                csr_insn(3, 0x180, T0, 0),      # csrrc zero, satp, t0
                csr_insn(1, 0x341, A1, A0),     # csrrw a0, mepc, a1
                csr_insn(5, 0x300, 3, T1),      # csrrwi t1, mstatus, 3
                csr_insn(7, 0x304, 8, 0),       # csrrci zero, mie, 8
                csr_insn(2, 0x30A, 0, A0),      # menvcfg: capstone 5 prints a number
                csr_insn(2, 0x7FF, 0, A0))      # no name: shown as a number
    assert [text_of(line) for line in disassemble(code, BASE)] == [
        "csrr t1, hgatp", "csrw stimecmp, a0", "csrs mstatus, t0", "csrc satp, t0",
        "csrrw a0, mepc, a1", "csrrwi t1, mstatus, 3", "csrci mie, 8",
        "csrr a0, menvcfg", "csrr a0, csr0x7ff"]


def test_line_format_and_compressed_instructions():
    code = half(0x0001, 0x8082) + word(0x00A00513)     # c.nop; c.jr ra; li a0, 10
    lines = disassemble(code, BASE)
    assert lines[0] == "80000000: 0001      c.nop"
    assert lines[1].startswith("80000002: 8082  ") and text_of(lines[1]) in ("ret", "c.jr ra")
    assert lines[2].startswith("80000004: 00a00513  ")
    assert text_of(lines[2]) in ("li a0, 10", "addi a0, zero, 0xa")


def test_undecodable_words_are_shown_and_the_walk_continues():
    code = word(0xFFFFFFFF, 0x00000013) + b"\x73\x23"  # garbage; nop; half of a csr insn
    lines = disassemble(code, BASE)
    assert lines[0] == "80000000: ffffffff  .word 0xffffffff"
    assert lines[1].startswith("80000004: 00000013  ")
    assert lines[2] == "80000008: 2373      .byte 0x73, 0x23"


def test_hypervisor_instructions_capstone_lacks():
    code = word(0x6C004073 | A0 << 7 | A1 << 15,      # hlv.d a0, (a1)
                0x68304073 | T1 << 7 | A0 << 15,      # hlvx.wu t1, (a0)
                0x6A004073 | A2 << 20 | A3 << 15,     # hsv.w a2, (a3)
                0x62000073,                           # hfence.gvma zero, zero
                0x22000073 | A0 << 15 | A1 << 20)     # hfence.vvma a0, a1
    assert [text_of(line) for line in disassemble(code, BASE)] == [
        "hlv.d a0, (a1)", "hlvx.wu t1, (a0)", "hsv.w a2, (a3)", "hfence.gvma",
        "hfence.vvma a0, a1"]


def test_labels_and_branch_targets():
    # start: nop; loop: addi a0, a0, -1; bnez a0, loop
    code = word(0x00000013, 0xFFF50513, 0xFE051EE3)
    lines = disassemble(code, BASE, {BASE: "start", BASE + 4: "loop"})
    assert lines[0] == "<start>:" and lines[2] == "<loop>:"
    assert lines[4].endswith("# 80000004 <loop>")
    assert len(lines) == 5


def test_disassemble_elf_shows_executable_sections_with_symbols(tmp_path):
    text = word(csr_insn(2, 0x300, 0, A0), 0x00000013) + half(0x8082)
    path = tmp_path / "fw.elf"
    path.write_bytes(build_elf(
        [Seg(".text", BASE, BASE, text), Seg(".data", BASE + 0x1000, BASE + 0x1000,
                                            word(0xFFFFFFFF), executable=False)],
        entry=BASE, symbols=[("_start", BASE, 1, 2, 1), ("$x", BASE, 1, 0, 0),
                             ("finish", BASE + 8, 1, 0, 0), ("tohost", BASE + 0x1000, 2, 1, 1)]))
    lines = disassemble_elf(str(path))
    assert "Disassembly of section .text:" in lines
    assert not any(".data" in line or ".word" in line for line in lines)
    start = lines.index("<_start>:")
    assert lines[start + 1] == "80000000: 30002573  csrr a0, mstatus"
    assert lines[lines.index("<finish>:") + 1].startswith("80000008: 8082")


def test_disas_command(tmp_path, capsys):
    """`rvkvm disas` run in-process (rvkvm.cli.run returns the status; main() would
    end the process)."""
    raw = tmp_path / "code.bin"
    raw.write_bytes(word(csr_insn(2, 0x180, 0, A0)))
    assert run(["disas", "--raw", "--addr", "0x1000", str(raw)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "00001000: 18002573  csrr a0, satp" and err == ""

    elf = tmp_path / "k.elf"
    elf.write_bytes(build_elf([Seg(".text", BASE, BASE, half(0x0001))], BASE))
    assert run(["disas", str(elf)]) == 0
    assert "80000000: 0001      c.nop" in capsys.readouterr().out


def test_disas_command_errors_are_one_line(tmp_path, capsys):
    raw = tmp_path / "code.bin"
    raw.write_bytes(word(0x00000013))
    for args, why in [([str(tmp_path / "missing")], "no such file"),
                      ([str(raw)], "--raw"),
                      (["/bin/ls"], "not RISC-V"),
                      ([str(tmp_path)], "directory"),
                      (["--raw", "--addr", "zz", str(raw)], "not a number")]:
        assert run(["disas", *args]) == 125, args
        out, err = capsys.readouterr()
        assert out == "" and "Traceback" not in err and err.count("\n") == 1, (args, err)
        assert err.startswith("rvkvm: error: ") and why in err, (args, err)
