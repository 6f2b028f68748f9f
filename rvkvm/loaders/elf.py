"""RISC-V ELF64 kernels and firmware: PT_LOAD segments are copied to their physical
addresses (p_paddr), bss zero-filled, the entry point translated to physical.

A Linux `vmlinux` as the build leaves it is linked at 0xffffffff80000000 with physical
load address 0, which is not RAM on `virt`; it is position independent at boot, so it is
moved as a whole (segments and entry by one delta) to RAM base + 2 MiB, where fw_jump and
the Image header would place it.

A Linux kernel is recognised by (a) a `linux_banner` symbol, or, for a stripped ELF,
(b) the RISC-V Image header (magic "RSC\\x05" at +0x38) at the entry point: every RISC-V
Linux kernel starts with that header in .head.text (other firmware, e.g. OpenSBI, does not).
"""
from __future__ import annotations

import struct
from collections import namedtuple

from ..errors import LoadError
from ..memory.layout import KERNEL_OFFSET
from ..memory.ram import Ram
from .linux_image import has_image_magic
from .raw import LoadedKernel, check_fits, read_input

# The headers are read with struct: importing pyelftools cost 40-70 ms of every boot,
# a quarter of a bare-metal run (it is still imported to name a foreign e_machine).

ELF_MAGIC = b"\x7fELF"
EHDR64_SIZE = 64
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB = 1
EM_RISCV = 243
PT_LOAD = 1
SHT_SYMTAB = 2
SHT_NOBITS = 8
SHN_UNDEF = 0
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
ELF64_SYM = struct.Struct("<IBBHQQ")   # st_name, st_info, st_other, st_shndx, st_value, st_size
ELF64_PHDR = struct.Struct("<IIQQQQQQ")  # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz,
                                         # p_memsz, p_align
ELF64_SHDR = struct.Struct("<IIQQQQIIQQ")  # sh_name, sh_type, sh_flags, sh_addr, sh_offset,
                                           # sh_size, sh_link, sh_info, sh_addralign, sh_entsize


# namedtuples, not dataclasses: each dataclass costs ~1 ms of every start-up to create
ProgramHeader = namedtuple("ProgramHeader", "type offset vaddr paddr filesz memsz")
Section = namedtuple("Section", "name type flags addr offset size link")
# what rvkvm reads of a little-endian ELF64: the entry, program and section headers
Elf64 = namedtuple("Elf64", "entry segments sections")


def _machine_name(machine: int) -> str:
    from elftools.elf.enums import ENUM_E_MACHINE
    names = {num: name for name, num in ENUM_E_MACHINE.items() if isinstance(num, int)}
    return names.get(machine, f"e_machine {machine}")


# a PT_LOAD segment (index: its program header's)
Segment = namedtuple("Segment", "index vaddr paddr offset filesz memsz")
# type STT_*, bind STB_*, shndx the section index (SHN_UNDEF for undefined)
ElfSymbol = namedtuple("ElfSymbol", "name value size type bind shndx")


def open_elf(data: bytes, path: str, what: str = "kernel") -> Elf64:
    """Parse a RISC-V ELF64 from `data`, refusing anything else with one clear line."""
    name = f"{what} {path!r}"
    if data[:4] != ELF_MAGIC:
        raise LoadError(f"{name}: not an ELF file")
    if len(data) < 20:      # up to e_machine
        raise LoadError(f"{name}: truncated ELF ({len(data)} bytes, shorter than its header)")
    if data[5] != ELFDATA2LSB:
        raise LoadError(f"{name}: big-endian ELF; RISC-V ELFs are little-endian")
    machine = struct.unpack_from("<H", data, 18)[0]
    if machine != EM_RISCV:
        label = _machine_name(machine)
        raise LoadError(f"{name}: ELF for {label}, not RISC-V (EM_RISCV={EM_RISCV})")
    if data[4] == ELFCLASS32:
        raise LoadError(f"{name}: 32-bit (RV32) ELF; rvkvm emulates RV64 only")
    if data[4] != ELFCLASS64:
        raise LoadError(f"{name}: corrupt ELF (unknown class {data[4]})")
    if len(data) < EHDR64_SIZE:
        raise LoadError(f"{name}: truncated ELF ({len(data)} bytes, shorter than its header)")
    entry, phoff, shoff = struct.unpack_from("<QQQ", data, 0x18)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 0x36)
    if phnum and phentsize != ELF64_PHDR.size:
        raise LoadError(f"{name}: corrupt ELF (e_phentsize {phentsize}, not {ELF64_PHDR.size})")
    if shnum and shentsize != ELF64_SHDR.size:
        raise LoadError(f"{name}: corrupt ELF (e_shentsize {shentsize}, not {ELF64_SHDR.size})")
    if phoff + phnum * phentsize > len(data):
        raise LoadError(f"{name}: truncated ELF (program headers run past the end of the file)")
    if shnum and shoff + shnum * shentsize > len(data):
        raise LoadError(f"{name}: truncated ELF (section headers run past the end of the file)")
    segments = tuple(
        ProgramHeader(p_type, offset, vaddr, paddr, filesz, memsz)
        for p_type, _flags, offset, vaddr, paddr, filesz, memsz, _align
        in (ELF64_PHDR.unpack_from(data, phoff + i * phentsize) for i in range(phnum)))
    raw = [ELF64_SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
    names = b""
    if shnum:
        if shstrndx >= shnum:
            raise LoadError(f"{name}: corrupt ELF (e_shstrndx {shstrndx} of {shnum} sections)")
        names = _section_bytes(data, raw[shstrndx])
    sections = tuple(
        Section(_c_string(names, sh_name), sh_type, flags, addr, offset, size, link)
        for sh_name, sh_type, flags, addr, offset, size, link, *_ in raw)
    return Elf64(entry, segments, sections)


def _section_bytes(data: bytes, shdr: tuple) -> bytes:
    offset, size = shdr[4], shdr[5]
    return b"" if shdr[1] == SHT_NOBITS else data[offset:offset + size]


def _c_string(table: bytes, start: int) -> str:
    end = table.find(b"\0", start)
    return table[start:end if end >= 0 else len(table)].decode("utf-8", "replace")


def load_segments(elf: Elf64, data: bytes, path: str, what: str = "kernel") -> list[Segment]:
    """The non-empty PT_LOAD segments, checked against the file."""
    segments = [Segment(i, h.vaddr, h.paddr, h.offset, h.filesz, h.memsz)
                for i, h in enumerate(elf.segments) if h.type == PT_LOAD and h.memsz]
    if not segments:
        raise LoadError(f"{what} {path!r}: ELF has no PT_LOAD segment, nothing to load "
                        f"(an unlinked object file?)")
    for s in segments:
        if s.filesz > s.memsz:
            raise LoadError(f"{what} {path!r}: corrupt ELF (segment {s.index} has "
                            f"p_filesz {s.filesz:#x} > p_memsz {s.memsz:#x})")
        if s.offset + s.filesz > len(data):
            raise LoadError(f"{what} {path!r}: truncated ELF (segment {s.index} file range "
                            f"{s.offset:#x}-{s.offset + s.filesz:#x} runs past the end of "
                            f"the file at {len(data):#x})")
    return segments


def read_symbols(elf: Elf64, data: bytes) -> list[ElfSymbol]:
    """Every entry of .symtab."""
    symbols = []
    for sec in elf.sections:
        if sec.type != SHT_SYMTAB:
            continue
        if sec.link >= len(elf.sections):
            raise ValueError(f"symbol table links to section {sec.link}, which does not exist")
        strtab_sec = elf.sections[sec.link]
        strtab = data[strtab_sec.offset:strtab_sec.offset + strtab_sec.size]
        table = data[sec.offset:sec.offset + sec.size]
        usable = len(table) - len(table) % ELF64_SYM.size
        for st_name, info, _other, shndx, value, size in ELF64_SYM.iter_unpack(table[:usable]):
            symbols.append(ElfSymbol(_c_string(strtab, st_name), value, size, info & 0xF,
                                     info >> 4, shndx))
    return symbols


def _drop_headers_below_ram(segments: list[Segment], data: bytes, ram: Ram) -> list[Segment]:
    """`ld -Ttext=0x80000000` without a linker script puts the ELF headers in the first
    PT_LOAD, a page below .text and so below RAM. Those bytes are not part of the
    program: drop them when the part below RAM holds nothing but headers and padding."""
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    headers_end = phoff + phentsize * phnum
    result = []
    for s in segments:
        cut = ram.base - s.paddr
        if (s.offset == 0 and s.paddr == s.vaddr and 0 < cut < s.filesz
                and not any(data[headers_end:cut])):
            s = Segment(s.index, s.vaddr + cut, s.paddr + cut, cut, s.filesz - cut,
                        s.memsz - cut)
        result.append(s)
    return result


def _virt_to_phys(segments: list[Segment], vaddr: int) -> int | None:
    for s in segments:
        if s.vaddr <= vaddr < s.vaddr + s.memsz:
            return vaddr - s.vaddr + s.paddr
    return None


def _entry_file_offset(segments: list[Segment], entry: int) -> int | None:
    for s in segments:
        if s.vaddr <= entry < s.vaddr + s.filesz:
            return entry - s.vaddr + s.offset
    return None


def load_elf(path: str, ram: Ram, load_addr: int | None = None,
             what: str = "kernel") -> LoadedKernel:
    """Load a RISC-V ELF64. With `load_addr`, the whole image is moved so that its lowest
    segment starts there (only meaningful for position-independent kernels)."""
    data = read_input(path, what, max_size=ram.size)
    elf = open_elf(data, path, what)
    segments = load_segments(elf, data, path, what)
    try:
        all_symbols = read_symbols(elf, data)
    except ValueError as e:
        raise LoadError(f"{what} {path!r}: corrupt ELF symbol table ({e})") from None

    e_entry = elf.entry
    entry_off = _entry_file_offset(segments, e_entry)
    is_linux = (any(s.name == "linux_banner" for s in all_symbols)
                or (entry_off is not None and has_image_magic(data[entry_off:entry_off + 64])))

    lo = min(s.paddr for s in segments)
    hi = max(s.paddr + s.memsz for s in segments)
    if load_addr is None and not is_linux and not ram.contains(lo):
        segments = _drop_headers_below_ram(segments, data, ram)
        lo = min(s.paddr for s in segments)
    if load_addr is not None:
        delta = load_addr - lo
    elif is_linux and not ram.contains(lo):
        delta = ram.base + KERNEL_OFFSET - lo
    else:
        delta = 0

    for s in segments:
        check_fits(ram, path, f"{what} segment {s.index} of", s.paddr + delta,
                   s.paddr + delta + s.memsz)

    entry = _virt_to_phys(segments, e_entry)
    if entry is None:
        if not any(s.paddr <= e_entry < s.paddr + s.memsz for s in segments):
            raise LoadError(f"{what} {path!r}: ELF entry point {e_entry:#x} lies outside "
                            f"every loadable segment")
        entry = e_entry
    entry += delta

    for s in segments:
        pa = s.paddr + delta
        ram.write(pa, data[s.offset:s.offset + s.filesz], f"{what} {path!r}")
        if s.memsz > s.filesz:
            ram.write(pa + s.filesz, bytes(s.memsz - s.filesz), f"{what} {path!r}")

    symbols: dict[str, int] = {}
    for sym in all_symbols:
        if (not sym.name or sym.shndx == SHN_UNDEF or sym.type in (STT_SECTION, STT_FILE)
                or sym.name.startswith("$")):
            continue
        if sym.name in symbols and sym.bind == STB_LOCAL:
            continue     # a global of the same name wins over a file-local one
        pa = _virt_to_phys(segments, sym.value)
        symbols[sym.name] = sym.value if pa is None else pa + delta

    return LoadedKernel("elf", entry=entry, start=lo + delta, end=hi + delta,
                        symbols=symbols, is_linux=is_linux)
