"""Kernel, initrd and blob loaders: placement in RAM and one-line errors for bad input.

Small ELFs are built here with struct (no toolchain at test time); the real kernels come
from the shared folder (../shared/linux/poweroff)."""
from __future__ import annotations

import os
import random
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from rvkvm.errors import LoadError
from rvkvm.loaders import detect_kind, load_blob, load_initrd, load_kernel
from rvkvm.loaders.linux_image import parse_header
from rvkvm.memory.layout import KERNEL_OFFSET, RAM_BASE
from rvkvm.memory.ram import Ram

from conftest import SHARED_DIR

SHARED = SHARED_DIR / "linux" / "poweroff"        # ../shared, or RVKVM_SHARED
VMLINUX = SHARED / "vmlinux"
VMLINUX_PHYS = SHARED / "vmlinux-phys.elf"
IMAGE = SHARED / "Image"
needs_kernels = pytest.mark.skipif(
    not IMAGE.exists(), reason=f"../shared not found ({SHARED.resolve()}): the Linux tests are skipped")

MiB = 1 << 20


# ---------------------------------------------------------------- a tiny ELF64 writer

@dataclass
class Seg:
    name: str              # its section's name
    vaddr: int
    paddr: int
    data: bytes
    memsz: int | None = None
    executable: bool = True


def build_elf(segments: list[Seg], entry: int, symbols=(), *, machine: int = 243,
              bogus_offset: int | None = None) -> bytes:
    """A little-endian ELF64 EXEC: one PT_LOAD and one PROGBITS section per segment,
    plus .symtab/.strtab/.shstrtab. symbols: (name, value, section index (1-based
    segment number), type, bind)."""
    ehdr_size, phdr_size, shdr_size, sym_size = 64, 56, 64, 24
    out = bytearray(ehdr_size + phdr_size * len(segments))
    offsets = []
    for seg in segments:
        out += bytes(-len(out) % 16)
        offsets.append(len(out))
        out += seg.data
    strtab = bytearray(b"\0")
    symtab = bytearray(bytes(sym_size))        # entry 0 is the null symbol
    for name, value, shndx, typ, bind in symbols:
        symtab += struct.pack("<IBBHQQ", len(strtab), (bind << 4) | typ, 0, shndx, value, 0)
        strtab += name.encode() + b"\0"
    names = [s.name for s in segments] + [".symtab", ".strtab", ".shstrtab"]
    shstrtab = bytearray(b"\0")
    name_off = []
    for n in names:
        name_off.append(len(shstrtab))
        shstrtab += n.encode() + b"\0"
    out += bytes(-len(out) % 8)
    symtab_off = len(out); out += symtab
    strtab_off = len(out); out += strtab
    shstrtab_off = len(out); out += shstrtab
    out += bytes(-len(out) % 8)
    shoff = len(out)
    shdrs = [bytes(shdr_size)]
    for i, seg in enumerate(segments):
        flags = 0x2 | (0x4 if seg.executable else 0x1)        # ALLOC | EXECINSTR or WRITE
        shdrs.append(struct.pack("<IIQQQQIIQQ", name_off[i], 1, flags, seg.vaddr,
                                 offsets[i], len(seg.data), 0, 0, 4, 0))
    n = len(segments)
    shdrs.append(struct.pack("<IIQQQQIIQQ", name_off[n], 2, 0, 0, symtab_off, len(symtab),
                             n + 2, 1, 8, sym_size))                    # link: .strtab
    shdrs.append(struct.pack("<IIQQQQIIQQ", name_off[n + 1], 3, 0, 0, strtab_off,
                             len(strtab), 0, 0, 1, 0))
    shdrs.append(struct.pack("<IIQQQQIIQQ", name_off[n + 2], 3, 0, 0, shstrtab_off,
                             len(shstrtab), 0, 0, 1, 0))
    for h in shdrs:
        out += h
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    out[0:64] = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, entry, ehdr_size, shoff,
                                    0, ehdr_size, phdr_size, len(segments), shdr_size,
                                    len(shdrs), len(shdrs) - 1)
    for i, seg in enumerate(segments):
        flags = 0x5 if seg.executable else 0x6                # R+X or R+W
        offset = offsets[i] if bogus_offset is None else bogus_offset
        out[64 + i * phdr_size:64 + (i + 1) * phdr_size] = struct.pack(
            "<IIQQQQQQ", 1, flags, offset, seg.vaddr, seg.paddr, len(seg.data),
            seg.memsz if seg.memsz is not None else len(seg.data), 0x10)
    return bytes(out)


def build_elf32_riscv() -> bytes:
    ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHIIIIIHHHHHH", 2, 243, 1, 0x80000000, 0, 0, 0, 52, 32, 0,
                               40, 0, 0)


@pytest.fixture
def ram():
    return Ram(RAM_BASE, 16 * MiB)


def write(tmp_path, name, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def load_error(path, ram, **kw) -> str:
    with pytest.raises(LoadError) as exc:
        load_kernel(path, ram, **kw)
    message = str(exc.value)
    assert "\n" not in message and str(path) in message
    return message


# ---------------------------------------------------------------- ELF

def test_elf_is_placed_by_physical_address_with_zeroed_bss(tmp_path, ram):
    code = bytes(range(1, 17))
    data = b"DATA"
    path = write(tmp_path, "k.elf", build_elf(
        [Seg(".text", 0xFFFFFFFFC0000000, 0x80100000, code),
         Seg(".data", 0xFFFFFFFFC0001000, 0x80101000, data, memsz=0x40, executable=False)],
        entry=0xFFFFFFFFC0000004,
        symbols=[("tohost", 0xFFFFFFFFC0001008, 2, 1, 1),
                 ("fromhost", 0xFFFFFFFFC0001010, 2, 1, 1)]))
    ram.write(0x80101000, b"\xff" * 0x40)          # stale bytes where the bss goes
    k = load_kernel(path, ram)
    assert (k.kind, k.entry, k.start, k.end) == ("elf", 0x80100004, 0x80100000, 0x80101040)
    assert ram.read(0x80100000, 16) == code
    assert ram.read(0x80101000, 0x40) == data + bytes(0x3C)
    assert k.symbols["tohost"] == 0x80101008 and k.symbols["fromhost"] == 0x80101010
    assert not k.is_linux


def test_elf_load_addr_moves_the_whole_image(tmp_path, ram):
    path = write(tmp_path, "k.elf", build_elf(
        [Seg(".text", 0x80000000, 0x80000000, b"\x13\x00\x00\x00" * 4)], entry=0x80000008))
    k = load_kernel(path, ram, load_addr=0x80400000)
    assert (k.entry, k.start, k.end) == (0x80400008, 0x80400000, 0x80400010)
    assert ram.read(0x80400000, 16) == b"\x13\x00\x00\x00" * 4


@needs_kernels
def test_vmlinux_linked_at_physical_zero_is_moved_to_ram_plus_2mib(ram):
    k = load_kernel(str(VMLINUX), ram)
    base = RAM_BASE + KERNEL_OFFSET
    assert k.kind == "elf" and k.is_linux
    assert k.entry == k.start == base
    # The Image is the same kernel flattened, so RAM must now hold it byte for byte.
    image = IMAGE.read_bytes()
    assert ram.read(base, len(image)) == image
    system_map = {line.split()[2]: int(line.split()[0], 16)
                  for line in (SHARED / "System.map").read_text().splitlines()}
    assert k.symbols["linux_banner"] == system_map["linux_banner"] - system_map["_start"] + base


@needs_kernels
def test_stripped_vmlinux_with_physical_addresses_is_recognised_as_linux(ram):
    k = load_kernel(str(VMLINUX_PHYS), ram)
    assert k.is_linux and k.symbols == {}
    assert k.entry == k.start == RAM_BASE + KERNEL_OFFSET


@needs_kernels
def test_vmlinux_needing_more_ram_than_given_is_refused():
    message = load_error(str(VMLINUX), Ram(RAM_BASE, 4 * MiB))
    assert "does not fit in RAM" in message and "-m" in message


def test_elf_outside_ram_is_refused(tmp_path, ram):
    path = write(tmp_path, "low.elf", build_elf([Seg(".text", 0x1000, 0x1000, b"\0" * 8)], 0x1000))
    assert "does not fit in RAM" in load_error(path, ram)


def test_elf_headers_mapped_below_ram_are_dropped(tmp_path, ram):
    """`ld -Ttext=0x80000000` maps the ELF headers a page below .text, outside RAM."""
    code = b"\x73\x00\x10\x00" * 4
    first_data = 128                      # where build_elf puts the segment bytes

    def linked(name: str, padding: bytes) -> str:
        seg = Seg(".text", 0x7FFFF000, 0x7FFFF000, padding + code + bytes(first_data))
        return write(tmp_path, name, build_elf([seg], 0x80000000, bogus_offset=0))
    k = load_kernel(linked("headers", bytes(0x1000 - first_data)), ram)
    assert (k.entry, k.start) == (0x80000000, 0x80000000)
    assert ram.read(0x80000000, len(code)) == code
    # Program bytes below RAM are not headers: refused as before.
    program_below_ram = linked("program", b"\x01" * (0x1000 - first_data))
    assert "does not fit in RAM" in load_error(program_below_ram, ram)


def test_elf_errors_name_the_problem(tmp_path, ram):
    good = build_elf([Seg(".text", 0x80000000, 0x80000000, b"\x13\0\0\0" * 64)], 0x80000000)
    assert "truncated" in load_error(write(tmp_path, "head.elf", good[:100]), ram)
    past_eof = build_elf([Seg(".text", 0x80000000, 0x80000000, b"\x13\0\0\0" * 64)], 0x80000000,
                         bogus_offset=len(good) - 16)
    assert "runs past the end" in load_error(write(tmp_path, "eof.elf", past_eof), ram)
    assert "RV32" in load_error(write(tmp_path, "rv32.elf", build_elf32_riscv()), ram)
    no_load = build_elf([], 0x80000000)
    assert "no PT_LOAD" in load_error(write(tmp_path, "none.elf", no_load), ram)
    garbage = b"\x7fELF" + bytes([2, 1, 1]) + random.Random(0).randbytes(200)
    garbage = garbage[:18] + struct.pack("<H", 243) + garbage[20:]
    load_error(write(tmp_path, "garbage.elf", garbage), ram)


def test_elf_for_another_machine_is_refused(ram):
    if not Path("/bin/ls").read_bytes().startswith(b"\x7fELF"):
        pytest.skip("/bin/ls is not an ELF here")
    message = load_error("/bin/ls", ram)
    assert "not RISC-V" in message


@needs_kernels
def test_truncated_real_kernel_is_refused(tmp_path, ram):
    assert "truncated" in load_error(write(tmp_path, "cut", VMLINUX.read_bytes()[:100]), ram)


# ---------------------------------------------------------------- Linux Image

@needs_kernels
def test_image_header_and_placement(ram):
    image = IMAGE.read_bytes()
    header = parse_header(image, str(IMAGE))
    assert header.text_offset == KERNEL_OFFSET
    # image_size covers the bss: the ELF's memory footprint rounded to a page.
    elf = load_kernel(str(VMLINUX), Ram(RAM_BASE, 16 * MiB))
    assert header.image_size == (elf.end - elf.start + 4095) & ~4095
    base = RAM_BASE + header.text_offset
    ram.write(base + len(image), b"\xff" * 64)        # stale bytes where the bss goes
    k = load_kernel(str(IMAGE), ram)
    assert (k.kind, k.entry, k.start, k.end, k.is_linux) == (
        "linux-image", base, base, base + header.image_size, True)
    assert ram.read(base, len(image)) == image
    assert ram.read(base + len(image), 64) == bytes(64)


def _image_with(tmp_path, name, **fields) -> str:
    """The first 64 KiB of a well-formed Image, with header fields overridden."""
    offsets = {"text_offset": 0x08, "image_size": 0x10}
    data = bytearray(64 * 1024)
    data[0x30:0x3C] = b"RISCV\0\0\0RSC\x05"
    struct.pack_into("<QQ", data, 0x08, KERNEL_OFFSET, 1 * MiB)
    for field, value in fields.items():
        struct.pack_into("<Q", data, offsets[field], value)
    return write(tmp_path, name, bytes(data))


def test_synthetic_image_loads_and_corrupt_headers_are_refused(tmp_path, ram):
    k = load_kernel(_image_with(tmp_path, "ok"), ram)
    assert (k.entry, k.end) == (RAM_BASE + KERNEL_OFFSET, RAM_BASE + KERNEL_OFFSET + MiB)
    for name, fields, why in [
        ("small", {"image_size": 0x100}, "smaller than the file"),
        ("huge", {"image_size": 1 << 40}, "image_size"),
        ("unaligned", {"text_offset": 0x201234}, "text_offset"),
    ]:
        message = load_error(_image_with(tmp_path, name, **fields), ram)
        assert "corrupt Linux Image header" in message and why in message


def test_image_too_big_for_ram_is_refused(tmp_path):
    path = _image_with(tmp_path, "big", image_size=8 * MiB)
    assert "does not fit in RAM" in load_error(path, Ram(RAM_BASE, 8 * MiB))


# ---------------------------------------------------------------- raw, detection, files

def test_raw_binary_loads_at_ram_base_or_load_addr(tmp_path, ram):
    path = write(tmp_path, "fw.bin", b"\x6f\x00\x00\x00")     # j .
    k = load_kernel(path, ram)
    assert (k.kind, k.entry, k.start, k.end) == ("raw", RAM_BASE, RAM_BASE, RAM_BASE + 4)
    k = load_kernel(path, ram, load_addr=RAM_BASE + 0x1000)
    assert k.entry == RAM_BASE + 0x1000 and ram.read(k.entry, 4) == b"\x6f\x00\x00\x00"


def test_detect_kind(tmp_path):
    assert detect_kind(write(tmp_path, "e", build_elf([], 0))) == "elf"
    assert detect_kind(_image_with(tmp_path, "i")) == "linux-image"
    assert detect_kind(write(tmp_path, "r", b"\x13\0\0\0")) == "raw"


def test_missing_empty_and_directory_inputs(tmp_path, ram):
    assert "no such file" in load_error(str(tmp_path / "nope"), ram)
    assert "empty" in load_error(write(tmp_path, "empty", b""), ram)
    assert "directory" in load_error(str(tmp_path), ram)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_input(tmp_path, ram):
    path = write(tmp_path, "secret", b"\x13\0\0\0")
    os.chmod(path, 0)
    assert "permission denied" in load_error(path, ram)


def test_initrd_is_placed_page_aligned_after_the_kernel(tmp_path, ram):
    payload = os.urandom(5000)
    path = write(tmp_path, "initrd", payload)
    start, end = load_initrd(path, ram, after=RAM_BASE + 0x123456, before=RAM_BASE + 8 * MiB)
    assert start == RAM_BASE + 0x124000 and end == start + len(payload)
    assert ram.read(start, len(payload)) == payload


def test_initrd_that_does_not_fit_is_refused(tmp_path, ram):
    path = write(tmp_path, "initrd", bytes(3 * 4096))
    with pytest.raises(LoadError, match="initrd .* does not fit"):
        load_initrd(path, ram, after=RAM_BASE + 0x1000, before=RAM_BASE + 0x3000)
    with pytest.raises(LoadError, match="does not fit"):
        load_initrd(path, ram, after=ram.end - 0x1000, before=ram.end + 0x100000)


def test_blob_loads_at_its_address_or_is_refused(tmp_path, ram):
    path = write(tmp_path, "dtb", b"\xd0\x0d\xfe\xed" + bytes(60))
    assert load_blob(path, ram, RAM_BASE + 0x100000, "device tree") == (
        RAM_BASE + 0x100000, RAM_BASE + 0x100040)
    assert ram.read(RAM_BASE + 0x100000, 4) == b"\xd0\x0d\xfe\xed"
    with pytest.raises(LoadError, match=r"device tree .*dtb.* does not fit in RAM"):
        load_blob(path, ram, ram.end - 8, "device tree")
    with pytest.raises(LoadError, match="firmware .* no such file"):
        load_blob(str(tmp_path / "missing.bin"), ram, RAM_BASE, "firmware")


# ---------------------------------------------------------------- only regular files, bounded

def test_fifo_and_devices_are_refused_without_blocking(tmp_path, ram):
    """Opening a FIFO with no writer blocks forever; /dev/zero never ends."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, kind in [(str(fifo), "FIFO"), ("/dev/zero", "character device")]:
        message = load_error(path, ram)
        assert f"is a {kind}, not a regular file" in message, message
        with pytest.raises(LoadError, match=kind):
            detect_kind(path)
        with pytest.raises(LoadError, match=kind):
            load_initrd(path, ram, after=RAM_BASE, before=ram.end)


def test_input_bigger_than_ram_is_refused_before_reading(tmp_path, ram):
    """A sparse file: were it read first, the test would allocate its full size."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(64 * ram.size)
    import tracemalloc
    tracemalloc.start()
    try:
        message = load_error(str(big), ram)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "does not fit in RAM" in message and "-m" in message
    assert peak < ram.size // 4, peak


@pytest.mark.parametrize("what", ["kernel", "bios"])
def test_errors_are_labelled_with_what_was_loaded(tmp_path, ram, what):
    """--bios errors said `kernel '...'`."""
    truncated = write(tmp_path, "t.elf", build_elf([Seg(".text", RAM_BASE, RAM_BASE, b"\x13\0\0\0")],
                                                  RAM_BASE)[:80])
    with pytest.raises(LoadError, match=rf"^{what} '.*t\.elf': truncated"):
        load_kernel(truncated, ram, what=what)
    raw = load_kernel(write(tmp_path, "r.bin", b"\x13\0\0\0"), ram, what=what)
    assert raw.kind == "raw"
