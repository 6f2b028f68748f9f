"""decode_mem: where a load/store accesses, which rvkvm needs for the trap value the engine
does not give. The encodings are GNU as 2.40's (riscv64-unknown-elf-as -march=rv64gc), each
offset chosen so that every immediate field of its format is exercised."""
import pytest

from rvkvm.cpu.decode import decode_mem

SP, S1 = 2, 9

# (encoding, the assembly it came from, base register, offset, is_store)
COMPRESSED = [
    (0xE02A, "c.sdsp a0,0(sp)", SP, 0, True),
    (0xE42A, "c.sdsp a0,8(sp)", SP, 8, True),
    (0xFC2A, "c.sdsp a0,56(sp)", SP, 56, True),
    (0xE0AA, "c.sdsp a0,64(sp)", SP, 64, True),
    (0xE3AA, "c.sdsp a0,448(sp)", SP, 448, True),
    (0xFFAA, "c.sdsp a0,504(sp)", SP, 504, True),
    (0xBFAA, "c.fsdsp fa0,504(sp)", SP, 504, True),
    (0xC22A, "c.swsp a0,4(sp)", SP, 4, True),
    (0xDE2A, "c.swsp a0,60(sp)", SP, 60, True),
    (0xC0AA, "c.swsp a0,64(sp)", SP, 64, True),
    (0xDFAA, "c.swsp a0,252(sp)", SP, 252, True),
    (0x6522, "c.ldsp a0,8(sp)", SP, 8, False),
    (0x7502, "c.ldsp a0,32(sp)", SP, 32, False),
    (0x6506, "c.ldsp a0,64(sp)", SP, 64, False),
    (0x757E, "c.ldsp a0,504(sp)", SP, 504, False),
    (0x4512, "c.lwsp a0,4(sp)", SP, 4, False),
    (0x5502, "c.lwsp a0,32(sp)", SP, 32, False),
    (0x4506, "c.lwsp a0,64(sp)", SP, 64, False),
    (0x557E, "c.lwsp a0,252(sp)", SP, 252, False),
    (0xE488, "c.sd a0,8(s1)", S1, 8, True),
    (0xE0A8, "c.sd a0,64(s1)", S1, 64, True),
    (0xFCE8, "c.sd a0,248(s1)", S1, 248, True),
    (0xC0C8, "c.sw a0,4(s1)", S1, 4, True),
    (0xC0A8, "c.sw a0,64(s1)", S1, 64, True),
    (0xDCE8, "c.sw a0,124(s1)", S1, 124, True),
    (0x7CE8, "c.ld a0,248(s1)", S1, 248, False),
    (0x5CE8, "c.lw a0,124(s1)", S1, 124, False),
    (0x3CE8, "c.fld fa0,248(s1)", S1, 248, False),
]


@pytest.mark.parametrize("insn, asm, base, offset, is_store", COMPRESSED,
                         ids=[row[1] for row in COMPRESSED])
def test_compressed_load_store_address(insn, asm, base, offset, is_store):
    access = decode_mem(insn, 2)
    assert access is not None, asm
    assert (access.base, access.offset, access.is_store) == (base, offset, is_store), asm


def test_compressed_non_memory_instruction_is_none():
    assert decode_mem(0x0001, 2) is None            # c.nop
    assert decode_mem(0x852E, 2) is None            # c.mv a0,a1
