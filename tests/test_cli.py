"""`rvkvm boot` and `rvkvm disas` as a user runs them: bad input gives one clear line and
a non-zero status (never a traceback), the exit statuses of a run (timeout, dead guest,
--expect), the interrupt trace, the generated device tree, the disassembler, and WFI that
sleeps instead of spinning.

Each case runs `python -m rvkvm.cli` in a subprocess (see conftest.py). The guests are
images/*.elf and tests/guests/*.elf (built from the .S next to them by the Makefile)."""
from __future__ import annotations

import re
import resource
import shutil
import struct
import subprocess
import time
from pathlib import Path

import fdt
import pytest

from conftest import GUESTS_DIR, IMAGES_DIR, rvkvm_command, rvkvm_env, REPO_ROOT

# the exit statuses rvkvm promises (README, `rvkvm boot -h`); spelled out, not imported,
# so that a change to rvkvm/exit_status.py shows up here
GUEST_MAX, RESET, DIED, PANIC, NO_MATCH, TIMEOUT, ERROR = 119, 120, 121, 122, 123, 124, 125
SIGINT_STATUS, SIGPIPE_STATUS, SIGTERM_STATUS = 130, 141, 143

HELLO = IMAGES_DIR / "hello.elf"
SPIN = GUESTS_DIR / "spin.elf"
DIE = GUESTS_DIR / "die.elf"
WFI_SLEEP = GUESTS_DIR / "wfi_sleep.elf"

RAM_BASE = 0x8000_0000
MiB = 1 << 20
EM_RISCV, EM_X86_64 = 243, 62
NOP = 0x0000_0013                   # addi x0, x0, 0
CSRW_MTVEC_T0 = 0x3052_9073         # csrw mtvec, t0
CSRR_T0_MSTATUS = 0x3000_22F3       # csrr t0, mstatus
WFI = 0x1050_0073


# ---------------------------------------------------------------- helpers

def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_one_line_error(proc, *, status: int = ERROR, mentions: str = "") -> str:
    """The rvkvm contract for bad input: `status` (125, rvkvm's own error status, which
    no guest code can take), exactly one non-empty stderr line `rvkvm: error: ...`, no
    traceback. Returns the line."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    err = lines_of(proc.stderr)
    assert len(err) == 1, f"want one line on stderr, got:\n{proc.stderr}"
    assert err[0].startswith("rvkvm: error:"), err[0]
    assert mentions.lower() in err[0].lower(), f"{mentions!r} not in {err[0]!r}"
    return err[0]


def assert_usage_error(proc, *, mentions: str = "") -> str:
    """A bad command line is bad input like any other: one line that points at -h."""
    line = assert_one_line_error(proc, mentions=mentions)
    assert "-h'" in line, line
    return line


def elf_image(*, code: bytes, addr: int, elf_class: int = 2, machine: int = EM_RISCV) -> bytes:
    """A minimal little-endian executable ELF: the header, one PT_LOAD holding `code` at
    physical = virtual `addr`, entry at `addr`, no sections."""
    if elf_class == 2:
        ehdr, phdr = "<16sHHIQQQIHHHHHH", "<IIQQQQQQ"
    else:
        ehdr, phdr = "<16sHHIIIIIHHHHHH", "<IIIIIIII"
    eh_size, ph_size = struct.calcsize(ehdr), struct.calcsize(phdr)
    offset = eh_size + ph_size
    ident = b"\x7fELF" + bytes([elf_class, 1, 1]) + bytes(9)
    header = struct.pack(ehdr, ident, 2, machine, 1, addr, eh_size, 0, 0,
                         eh_size, ph_size, 1, 64 if elf_class == 2 else 40, 0, 0)
    if elf_class == 2:
        ph = struct.pack(phdr, 1, 7, offset, addr, addr, len(code), len(code), 4)
    else:
        ph = struct.pack(phdr, 1, offset, addr, addr, len(code), len(code), 7, 4)
    return header + ph + code


def words(*insns: int) -> bytes:
    return b"".join(struct.pack("<I", i) for i in insns)


# ---------------------------------------------------------------- bad input: files

def test_missing_kernel(rvkvm, tmp_path):
    proc = rvkvm("boot", tmp_path / "no-such-kernel.elf")
    assert_one_line_error(proc, mentions="no such file")


def test_directory_as_kernel(rvkvm, tmp_path):
    proc = rvkvm("boot", tmp_path)
    assert_usage_error(proc, mentions="directory")


def test_empty_file_is_refused_not_run(rvkvm, tmp_path):
    """An empty file would be a raw binary of nothing: refused before the machine starts."""
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    proc = rvkvm("boot", "--timeout", 5, empty)
    assert_one_line_error(proc, mentions="empty")


def test_truncated_elf(rvkvm, tmp_path):
    truncated = tmp_path / "truncated.elf"
    truncated.write_bytes(HELLO.read_bytes()[:100])
    line = assert_one_line_error(rvkvm("boot", truncated), mentions="truncated")
    assert "truncated.elf" in line


def test_x86_64_elf(rvkvm):
    ls = shutil.which("ls")
    if not ls or Path(ls).read_bytes()[18] != EM_X86_64:
        pytest.skip("the host's ls is not an x86-64 ELF")
    line = assert_one_line_error(rvkvm("boot", ls), mentions="not RISC-V")
    assert "X86_64" in line.upper()


def test_rv32_elf(rvkvm, tmp_path):
    rv32 = tmp_path / "rv32.elf"
    rv32.write_bytes(elf_image(code=words(NOP), addr=RAM_BASE, elf_class=1))
    assert_one_line_error(rvkvm("boot", rv32), mentions="32-bit")


def test_elf_segment_outside_ram(rvkvm, tmp_path):
    """0x90000000 is past the end of 128 MiB of RAM (0x80000000-0x88000000)."""
    high = tmp_path / "high.elf"
    high.write_bytes(elf_image(code=words(NOP, NOP), addr=0x9000_0000))
    line = assert_one_line_error(rvkvm("boot", "-m", "128M", high), mentions="does not fit")
    assert "0x90000000" in line
    # the same ELF fits once RAM reaches past it
    high_ok = tmp_path / "high_ok.elf"
    finisher_pass = words(0x0010_02B7,     # lui  t0, 0x100      (finisher)
                          0x0000_5337,     # lui  t1, 0x5
                          0x5553_031B,     # addiw t1, t1, 0x555 (0x5555)
                          0x0062_A023,     # sw   t1, 0(t0)
                          0x0000_006F)     # j    .
    high_ok.write_bytes(elf_image(code=finisher_pass, addr=0x9000_0000))
    proc = rvkvm("boot", "-m", "512M", "--timeout", 10, high_ok)
    assert proc.returncode == 0, proc.stderr


def test_raw_binary_load_addr_outside_ram(rvkvm, tmp_path):
    raw = tmp_path / "code.bin"
    raw.write_bytes(words(NOP))
    line = assert_one_line_error(rvkvm("boot", "--load-addr", "0x10000000", raw),
                                 mentions="does not fit")
    assert "0x10000000" in line


def test_corrupt_linux_image_header(rvkvm, shared_dir, tmp_path):
    head = bytearray((shared_dir / "linux" / "poweroff" / "Image").read_bytes()[:64 * 1024])
    assert head[0x38:0x3C] == b"RSC\x05"
    bad_size = tmp_path / "bad_size.Image"
    struct.pack_into("<Q", head, 0x10, 0x100)               # image_size < the file itself
    bad_size.write_bytes(head)
    assert_one_line_error(rvkvm("boot", bad_size), mentions="image_size")

    huge = tmp_path / "huge.Image"
    struct.pack_into("<Q", head, 0x10, 1 << 40)
    huge.write_bytes(head)
    assert_one_line_error(rvkvm("boot", huge), mentions="image_size")

    bad_offset = tmp_path / "bad_offset.Image"
    struct.pack_into("<Q", head, 0x10, 32 * MiB)
    struct.pack_into("<Q", head, 0x08, 0x1234)             # text_offset not page aligned
    bad_offset.write_bytes(head)
    assert_one_line_error(rvkvm("boot", bad_offset), mentions="text_offset")


def test_initrd_bigger_than_ram(rvkvm, tmp_path):
    big = tmp_path / "big.initrd"
    with open(big, "wb") as f:                              # sparse: costs no disk
        f.truncate(200 * MiB)
    line = assert_one_line_error(rvkvm("boot", "-m", "128M", "--initrd", big, HELLO),
                                 mentions="initrd")
    assert "does not fit" in line


def test_dtb_that_is_not_a_device_tree(rvkvm, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a flattened device tree\n" * 4)
    assert_one_line_error(rvkvm("boot", "--dtb", text, HELLO), mentions="not a device tree")
    # the right magic, then garbage: still one line
    fake = tmp_path / "fake.dtb"
    fake.write_bytes(struct.pack(">II", 0xD00DFEED, 64) + b"\xff" * 56)
    assert_one_line_error(rvkvm("boot", "--dtb", fake, HELLO), mentions="not a device tree")


# ---------------------------------------------------------------- bad input: options

@pytest.mark.parametrize("args, mentions", [
    (["-m", "banana"], "memory size"),
    (["-m", "1K"], "at least"),
    (["--trace", "bogus"], "bogus"),
    (["--smp", "2"], "smp"),
    (["--smp", "two"], "two"),
    (["--load-addr", "xyz"], "not a number"),
    (["--timeout", "soon"], "soon"),
    (["--frobnicate"], "--frobnicate"),
])
def test_bad_option_values(rvkvm, args, mentions):
    assert_usage_error(rvkvm("boot", *args, HELLO), mentions=mentions)


@pytest.mark.parametrize("args, option", [
    (["-m", "banana"], "-m"),
    (["--load-addr", "xyz"], "--load-addr"),
])
def test_bad_option_value_names_the_option(rvkvm, args, option):
    """The error should say which option was wrong, as click does for its own checks
    (`Invalid value for '--trace': ...`)."""
    line = assert_usage_error(rvkvm("boot", *args, HELLO))
    assert option in line, f"{line!r} does not name {option}"


def test_bad_expect_regex(rvkvm):
    """An --expect that is not a regular expression is bad input, not a crash."""
    proc = rvkvm("boot", "--timeout", 5, "--expect", "[unclosed", HELLO)
    line = assert_one_line_error(proc)
    assert "expect" in line.lower() and "regular expression" in line.lower(), line


# ---------------------------------------------------------------- how runs end

def test_timeout_on_a_spinning_guest(rvkvm):
    start = time.monotonic()
    proc = rvkvm("boot", "--timeout", 1, SPIN, timeout=30)
    wall = time.monotonic() - start
    assert proc.returncode == 124, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"timeout after 1\b", proc.stderr), proc.stderr
    assert 1.0 <= wall < 15, wall
    # the dump says where the guest was spinning: spin.S is one `j .` at the entry
    assert re.search(r"\bpc\s+0*80000000\b", proc.stderr), proc.stderr


def parse_dump(text: str) -> dict[str, int]:
    """`name value` pairs of a register dump (pc, CSRs, `xN abi value`) -> {name: value}."""
    regs = {}
    for m in re.finditer(r"\b(x\d+)\s+\w+\s+([0-9a-f]{16})\b", text):
        regs[m.group(1)] = int(m.group(2), 16)
    for m in re.finditer(r"\b([a-z]+)\s+([0-9a-f]{16})\b", text):
        regs.setdefault(m.group(1), int(m.group(2), 16))
    return regs


def test_guest_that_dies(rvkvm):
    """die.S: mtvec at unmapped memory, then an illegal instruction: the handler cannot
    be fetched, a trap loop. Status 121 and a register dump with the guest's values."""
    proc = rvkvm("boot", "--timeout", 20, DIE)
    assert proc.returncode == DIED, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "guest died" in proc.stderr
    regs = parse_dump(proc.stderr)
    for name in ["pc", "mcause", "mepc", "mtvec", "mstatus"] + [f"x{i}" for i in range(32)]:
        assert name in regs, f"{name} missing from the dump:\n{proc.stderr}"
    assert regs["x0"] == 0
    assert regs["x10"] == 0xDEADBEEF                 # a0, set just before the fault
    assert regs["x11"] == 0x0123456789ABCDEF         # a1
    assert regs["mtvec"] == 0x3000_0000
    assert regs["x5"] == 0x3000_0000                 # t0, what mtvec was written from
    assert regs["mcause"] in (1, 2)                  # the fetch fault, or the illegal insn


def test_dead_guest_dump_pc_is_where_it_died(rvkvm):
    """The dump's pc should be the address the guest could not go on from: the vector
    whose fetch faulted (0x30000000), not the engine's pc 4 bytes past it."""
    proc = rvkvm("boot", "--timeout", 20, DIE)
    assert proc.returncode == DIED, proc.stderr
    regs = parse_dump(proc.stderr)
    assert regs["pc"] in (0x3000_0000, regs["mepc"]), f"pc {regs['pc']:#x}\n{proc.stderr}"


def test_expect_matches_hello(rvkvm):
    proc = rvkvm("boot", "--timeout", 20, "--expect", r"Hello from \w+!", HELLO)
    assert proc.returncode == 0, proc.stderr
    assert "Hello from rvkvm!" in proc.stdout


def test_expect_that_never_matches_is_a_failure(rvkvm):
    """A CI run with --expect must not pass when the text never appeared, even if the
    guest then powers off cleanly."""
    proc = rvkvm("boot", "--timeout", 20, "--expect", "NEVER-PRINTED", HELLO)
    assert "hello: PASS" in proc.stdout
    assert proc.returncode != 0, "exit 0 although --expect never matched"
    assert "Traceback" not in proc.stderr


def test_finisher_failure_code_is_the_exit_status(rvkvm, tmp_path):
    """(code << 16) | 0x3333 to the finisher: exit status `code`."""
    fail = tmp_path / "fail.elf"
    fail.write_bytes(elf_image(code=words(
        0x0010_02B7,        # lui   t0, 0x100       finisher
        0x002A_3337,        # lui   t1, 0x2a3       0x2a3000
        0x3333_031B,        # addiw t1, t1, 0x333   0x2a3333 = (42 << 16) | 0x3333
        0x0062_A023,        # sw    t1, 0(t0)
        0x0000_006F),       # j     .
        addr=RAM_BASE))
    proc = rvkvm("boot", "--timeout", 10, fail)
    assert proc.returncode == 42, proc.stderr


def test_finisher_pass_wins_over_what_the_guest_does_next(rvkvm, tmp_path):
    """The finisher write powers the machine off at once, as on QEMU: a guest that falls
    off its code right after writing 0x5555 (no `j .`) has still passed. The zeros that
    follow are illegal instructions and mtvec is 0, so running on would "die"."""
    falls_off = tmp_path / "falls_off.elf"
    falls_off.write_bytes(elf_image(code=words(
        0x0010_02B7,        # lui   t0, 0x100       finisher
        0x0000_5337,        # lui   t1, 0x5
        0x5553_031B,        # addiw t1, t1, 0x555   0x5555: pass
        0x0062_A023,        # sw    t1, 0(t0)
        0x0000_0000),       # illegal: never reached on QEMU
        addr=RAM_BASE))
    proc = rvkvm("boot", "--timeout", 10, falls_off)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------- --trace int

TRACE_RE = re.compile(r"^\[int\] (exception|interrupt) (\w+) \((0x[0-9a-f]+)\) "
                      r"epc=(0x[0-9a-f]+) tval=(0x[0-9a-f]+)(?: htval=\S+ htinst=\S+)? (M|HS|S|U|VS|VU)->(M|HS|S|U|VS|VU)")
CAUSES = {"ecall_u": 8, "ecall_s": 9, "ecall_m": 11, "illegal_insn": 2, "breakpoint": 3,
          "load_access_fault": 5, "store_access_fault": 7, "m_timer": (1 << 63) | 7}


def trace_lines(stderr: str) -> list[re.Match]:
    return [m for m in map(TRACE_RE.match, stderr.splitlines()) if m]


def test_trace_int_shows_causes_epc_and_privilege_transitions(rvkvm):
    elf = IMAGES_DIR / "ecall_modes.elf"
    proc = rvkvm("boot", "--timeout", 20, "--trace", "int", elf)
    assert proc.returncode == 0, proc.stderr
    traps = trace_lines(proc.stderr)
    assert traps, proc.stderr
    for m in traps:                                        # the name matches the code
        if m.group(2) in CAUSES:
            assert int(m.group(3), 16) == CAUSES[m.group(2)], m.group(0)
    names = {m.group(2) for m in traps}
    assert {"ecall_u", "ecall_s", "ecall_m", "illegal_insn"} <= names, names
    transitions = {(m.group(2), m.group(6), m.group(7)) for m in traps}
    # ecall from each mode is numbered by the mode it came from
    assert ("ecall_u", "U", "M") in transitions
    assert ("ecall_s", "HS", "M") in transitions
    assert ("ecall_m", "M", "M") in transitions
    assert ("ecall_u", "U", "HS") in transitions            # delegated by medeleg
    # every ecall's epc is an `ecall` instruction in the image
    listing = rvkvm("disas", elf).stdout
    for m in traps:
        if m.group(2).startswith("ecall"):
            addr = int(m.group(4), 16)
            line = re.search(rf"^{addr:x}: [0-9a-f]+\s+(.*)$", listing, re.M)
            assert line and line.group(1).strip() == "ecall", (m.group(0), line)


def test_trace_int_shows_interrupts(rvkvm):
    proc = rvkvm("boot", "--timeout", 20, "--trace", "int", IMAGES_DIR / "timer_m.elf")
    assert proc.returncode == 0, proc.stderr
    irqs = [m for m in trace_lines(proc.stderr) if m.group(1) == "interrupt"]
    assert irqs, proc.stderr
    assert irqs[0].group(2) == "m_timer"
    assert int(irqs[0].group(3), 16) == CAUSES["m_timer"]


def test_no_trace_lines_without_trace(rvkvm):
    proc = rvkvm("boot", "--timeout", 20, IMAGES_DIR / "ecall_modes.elf")
    assert proc.returncode == 0, proc.stderr
    assert not trace_lines(proc.stderr)


# ---------------------------------------------------------------- --dump-dtb

def dump_dtb(rvkvm, tmp_path, *args) -> fdt.FDT:
    out = tmp_path / "virt.dtb"
    proc = rvkvm("boot", "--dump-dtb", out, *args, HELLO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""                              # the guest did not run
    return fdt.parse_dtb(out.read_bytes())


def test_dump_dtb_describes_the_machine(rvkvm, tmp_path):
    tree = dump_dtb(rvkvm, tmp_path, "-m", "256M", "--append", "x=1")
    for path in ["/chosen", "/cpus/cpu@0", "/soc/serial@10000000", "/soc/plic@c000000",
                 "/soc/clint@2000000"]:
        assert tree.exist_node(path), path
    assert tree.get_property("riscv,isa", "/cpus/cpu@0").value.startswith("rv64")
    assert tree.get_property("bootargs", "/chosen").value == "x=1"
    assert tree.get_property("compatible", "/soc/serial@10000000").value == "ns16550a"
    reg = list(tree.get_property("reg", "/memory@80000000"))
    assert reg == [0, RAM_BASE, 0, 256 * MiB]
    assert "plic" in tree.get_property("compatible", "/soc/plic@c000000").value


def test_dump_dtb_without_append_has_no_bootargs(rvkvm, tmp_path):
    """No bootargs lets Linux use its built-in command line."""
    tree = dump_dtb(rvkvm, tmp_path)
    assert tree.exist_node("/chosen")
    assert not tree.exist_property("bootargs", "/chosen")


def test_dump_dtb_is_accepted_back_by_dtb(rvkvm, tmp_path):
    dumped = tmp_path / "virt.dtb"
    assert rvkvm("boot", "--dump-dtb", dumped, HELLO).returncode == 0
    proc = rvkvm("boot", "--timeout", 20, "--dtb", dumped, HELLO)
    assert proc.returncode == 0, proc.stderr
    assert "Hello from rvkvm!" in proc.stdout


# ---------------------------------------------------------------- disas

def test_disas_elf_with_labels_and_csr_names(rvkvm):
    proc = rvkvm("disas", HELLO)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "<_start>:" in out and "<test_main>:" in out
    assert re.search(r"^80000000: [0-9a-f]{8}\s+csrr \w+, mhartid$", out, re.M), out[:500]
    assert re.search(r"csrw mtvec, \w+", out)
    assert re.search(r"csr[sc] mstatus, \w+", out)


def test_disas_raw_at_an_address(rvkvm, tmp_path):
    raw = tmp_path / "code.bin"
    raw.write_bytes(words(CSRW_MTVEC_T0, CSRR_T0_MSTATUS, WFI))
    proc = rvkvm("disas", "--raw", "--addr", "0x80001000", raw)
    assert proc.returncode == 0, proc.stderr
    got = [line.split(None, 2) for line in lines_of(proc.stdout)]
    assert [g[0] for g in got] == ["80001000:", "80001004:", "80001008:"]
    assert [g[2] for g in got] == ["csrw mtvec, t0", "csrr t0, mstatus", "wfi"]


def test_disas_missing_file(rvkvm, tmp_path):
    assert_one_line_error(rvkvm("disas", tmp_path / "nothing.elf"), mentions="no such file")


def test_disas_non_elf_without_raw(rvkvm, tmp_path):
    raw = tmp_path / "code.bin"
    raw.write_bytes(words(WFI))
    assert_one_line_error(rvkvm("disas", raw), mentions="--raw")


# ---------------------------------------------------------------- WFI sleeps

def test_wfi_sleeps_instead_of_spinning():
    """wfi_sleep.S waits ~1 s of mtime in a WFI loop. The host should sleep through it:
    the child's CPU time stays well under its wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(rvkvm_command("boot", "--timeout", 30, WFI_SLEEP), cwd=REPO_ROOT,
                          env=rvkvm_env(), stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=60)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert proc.returncode == 0, proc.stderr.decode()
    assert wall >= 0.9, f"the guest's 1 s wait took {wall:.2f} s"
    assert cpu < 0.6 * wall, f"CPU {cpu:.2f} s over {wall:.2f} s wall: WFI is spinning"


def flat_binary(elf_path, out_path):
    """The ELF's loadable bytes as a raw image starting at its lowest address."""
    from elftools.elf.elffile import ELFFile
    with open(elf_path, "rb") as f:
        segments = [(s["p_paddr"], s.data()) for s in ELFFile(f).iter_segments()
                    if s["p_type"] == "PT_LOAD" and s["p_filesz"]]
    base = min(addr for addr, _ in segments)
    image = bytearray(max(addr + len(data) for addr, data in segments) - base)
    for addr, data in segments:
        image[addr - base:addr - base + len(data)] = data
    out_path.write_bytes(bytes(image))
    return base


def test_raw_binary_boots_at_the_load_address(rvkvm, tmp_path):
    raw = tmp_path / "hello.bin"
    base = flat_binary(IMAGES_DIR / "hello.elf", raw)
    proc = rvkvm("boot", "--load-addr", hex(base), "--timeout", "20", raw)
    assert proc.returncode == 0, proc.stderr
    assert "hello: PASS" in proc.stdout


def test_bios_none_starts_the_kernel_in_m_mode(rvkvm):
    proc = rvkvm("boot", "--bios", "none", "--timeout", "20", IMAGES_DIR / "csr_traps.elf")
    assert proc.returncode == 0, proc.stderr
    assert "csr_traps: PASS" in proc.stdout


def test_a_fail_code_of_256_does_not_exit_0(rvkvm, tmp_path):
    """Process statuses are 8 bits: a guest failure code of 256 must not become 0, nor
    one of rvkvm's own statuses: it exits 119, and the message says both."""
    # li t0, 0x100000; li t1, (256 << 16) | 0x3333; sw t1, 0(t0); j .
    words = [0x001002B7, 0x01003337, 0x3333031B, 0x0062A023, 0x0000006F]
    raw = tmp_path / "fail256.bin"
    raw.write_bytes(b"".join(w.to_bytes(4, "little") for w in words))
    proc = rvkvm("boot", "--timeout", "10", raw)
    assert proc.returncode == GUEST_MAX, (proc.returncode, proc.stderr)
    assert "(exit status 119; the guest's code 256 is above 119)" in proc.stderr


def test_trace_sbi_and_mmio(rvkvm, shared_dir):
    image = shared_dir / "linux" / "poweroff" / "Image"
    if not image.exists():
        pytest.skip(f"no Linux kernel at {image}")
    proc = rvkvm("boot", "--trace", "sbi", "--expect", "RVKVM-USERSPACE-OK", "--timeout", "60", image)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the kernel asks the spec version first, and finds TIME by probing
    assert "[sbi] BASE fid=0 " in proc.stderr and "value=0x2000000" in proc.stderr
    assert re.search(r"\[sbi\] TIME fid=0 a0=0x[0-9a-f]+ .* -> error=0", proc.stderr)


def test_trace_mmio_shows_uart_writes(rvkvm):
    proc = rvkvm("boot", "--trace", "mmio", "--timeout", "20", IMAGES_DIR / "hello.elf")
    assert proc.returncode == 0
    # "H" of the greeting goes to THR, the pass to the finisher
    assert "[mmio] uart16550 write 0x10000000 size 1 <- 0x48" in proc.stderr
    assert "[mmio] finisher write 0x100000 size 4 <- 0x5555" in proc.stderr


# ---------------------------------------------------------------- exit statuses

def finisher_raw(tmp_path, name: str, value: int) -> Path:
    """A raw guest that stores `value` to the test finisher: lui/addiw build it."""
    lo = value & 0xFFF
    hi = ((value + 0x800) >> 12) & 0xFFFFF
    if lo >= 0x800:
        lo -= 0x1000
    raw = tmp_path / name
    raw.write_bytes(words(0x0010_02B7,                              # lui   t0, 0x100
                          (hi << 12) | (6 << 7) | 0x37,             # lui   t1, hi
                          ((lo & 0xFFF) << 20) | (6 << 15) | (6 << 7) | 0x1B,  # addiw t1, t1, lo
                          0x0062_A023,                              # sw    t1, 0(t0)
                          0x0000_006F))                             # j     .
    return raw


@pytest.mark.parametrize("code, status", [(1, 1), (42, 42), (GUEST_MAX, GUEST_MAX),
                                          (RESET, GUEST_MAX), (TIMEOUT, GUEST_MAX),
                                          (ERROR, GUEST_MAX), (668, GUEST_MAX)])
def test_guest_codes_never_take_rvkvm_statuses(rvkvm, tmp_path, code, status):
    """A riscv-test failing test 124 must not look like a timeout: guest codes above 119
    exit 119, and the message gives the clamped status and the guest's own code."""
    proc = rvkvm("boot", "--timeout", 10, finisher_raw(tmp_path, "fail.bin", (code << 16) | 0x3333))
    assert proc.returncode == status, proc.stderr
    if status != code:
        assert f"(exit status {status}; the guest's code {code} is above 119)" in proc.stderr
    else:
        assert f"(exit status {status})" in proc.stderr


def test_reset_request_has_its_own_status(rvkvm, tmp_path):
    proc = rvkvm("boot", "--timeout", 10, finisher_raw(tmp_path, "reset.bin", 0x7777))
    assert proc.returncode == RESET, proc.stderr
    assert "rvkvm does not reboot: the run ends) (exit status 120)" in proc.stderr


def test_expect_that_never_matches_has_its_own_status(rvkvm):
    proc = rvkvm("boot", "--timeout", 20, "--expect", "NEVER-PRINTED", HELLO)
    assert proc.returncode == NO_MATCH, proc.stderr
    assert "before the console matched --expect 'NEVER-PRINTED' (exit status 123)" in proc.stderr


def test_usage_errors_do_not_collide_with_guest_codes(rvkvm):
    """click's own status for a bad command line is 2, a guest's fail code 2."""
    proc = rvkvm("boot", "--frobnicate", HELLO)
    line = assert_usage_error(proc, mentions="--frobnicate")
    assert line.startswith("rvkvm: error: No such option") and "--frobnicate" in line
    assert line.endswith(" (see 'rvkvm boot -h')"), line


@pytest.mark.parametrize("command", ["boot", "disas"])
def test_one_error_style_for_every_command(rvkvm, tmp_path, command):
    assert_one_line_error(rvkvm(command, tmp_path / "missing"), mentions="no such file")


def test_bios_errors_name_the_bios(rvkvm, tmp_path):
    truncated = tmp_path / "fw.elf"
    truncated.write_bytes(HELLO.read_bytes()[:100])
    line = assert_one_line_error(rvkvm("boot", "--bios", truncated, HELLO), mentions="truncated")
    assert line.startswith(f"rvkvm: error: bios '{truncated}'"), line


def test_kernel_overlapping_the_firmware_is_refused(rvkvm, tmp_path):
    """hello.elf is linked at RAM base, where the firmware is too: the kernel would
    overwrite it and the run would start broken code (it exited 0)."""
    line = assert_one_line_error(rvkvm("boot", "--bios", HELLO, HELLO), mentions="overlaps")
    assert re.search(r"kernel '.*hello.elf' at 0x80000000-0x[0-9a-f]+ overlaps the bios", line)


def test_raw_binary_is_said_on_stderr(rvkvm, tmp_path):
    raw = tmp_path / "hello.bin"
    base = flat_binary(HELLO, raw)
    proc = rvkvm("boot", "--load-addr", hex(base), "--timeout", 20, raw)
    assert proc.returncode == 0, proc.stderr
    assert lines_of(proc.stderr) == [
        f"rvkvm: note: kernel '{raw}' has no ELF or Linux Image header: loaded as a raw "
        f"binary at {base:#x}"]
    assert "rvkvm: note" not in rvkvm("boot", "--timeout", 20, HELLO).stderr


def test_expect_empty_is_refused(rvkvm):
    """'' matches before the guest printed anything: it was silently ignored."""
    assert_usage_error(rvkvm("boot", "--expect", "", HELLO), mentions="--expect")


# ---------------------------------------------------------------- help and options

def test_dash_h_shows_metavars_statuses_and_keys(rvkvm):
    proc = rvkvm("boot", "-h")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for shown in ["-m, --memory SIZE", "--timeout SECONDS", "--initrd FILE", "--dtb FILE",
                  "--dump-dtb FILE", "--expect REGEX", "--slice-ms MS"]:
        assert shown in out, shown
    for status in ["124  --timeout expired", "125  rvkvm refused", "121  the guest died",
                   "1-119  the guest's own failure code", "130, 143"]:
        assert status in out, status
    assert "C-a x    exit rvkvm" in out and "C-a h    print this help" in out
    assert rvkvm("-h").returncode == 0 and "boot" in rvkvm("-h").stdout


@pytest.mark.parametrize("spelling", [["int,mmio"], ["int", "mmio"], [" int , mmio "]])
def test_trace_takes_a_comma_list(rvkvm, spelling):
    args = [a for s in spelling for a in ("--trace", s)]
    proc = rvkvm("boot", *args, "--timeout", 20, IMAGES_DIR / "ecall_modes.elf")
    assert proc.returncode == 0, proc.stderr
    assert trace_lines(proc.stderr)
    assert "[mmio] uart16550 write" in proc.stderr


def test_trace_knows_mmu_and_exit(rvkvm):
    proc = rvkvm("boot", "--trace", "mmu,exit", "--timeout", 20, HELLO)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("size, mib", [("1.5G", 1536), ("1536", 1536), ("0.5g", 512),
                                       ("256MiB", 256), ("268435456B", 256), ("64M", 64)])
def test_memory_size_is_parsed_as_qemu_does(rvkvm, tmp_path, size, mib):
    tree = dump_dtb(rvkvm, tmp_path, "-m", size)
    assert list(tree.get_property("reg", "/memory@80000000")) == [0, RAM_BASE, 0, mib * MiB]


@pytest.mark.parametrize("size, mentions", [("1T", "more than this host's"),
                                            ("1P", "more than this host's"),
                                            ("1.5B", "fraction of a byte"),
                                            ("3M", "multiple of 2M")])
def test_memory_size_too_big_or_odd_is_refused_with_the_reason(rvkvm, size, mentions):
    assert_usage_error(rvkvm("boot", "-m", size, HELLO), mentions=mentions)


# ---------------------------------------------------------------- --dump-dtb, --dtb

@pytest.mark.parametrize("where, why", [("missing/dir/virt.dtb", "no such file"),
                                        ("/dev/full", "no space left")])
def test_dump_dtb_that_cannot_be_written_is_one_line(rvkvm, tmp_path, where, why):
    target = where if where.startswith("/") else tmp_path / where
    line = assert_one_line_error(rvkvm("boot", "--dump-dtb", target, HELLO), mentions=why)
    assert "device tree" in line


def test_dtb_gets_chosen_from_append_and_initrd(rvkvm, tmp_path):
    """As QEMU's -dtb: the user's tree, its /chosen told of --append and --initrd (both
    were silently dropped), everything else as the user wrote it."""
    user = tmp_path / "user.dtb"
    assert rvkvm("boot", "--dump-dtb", user, "--append", "old=1", HELLO).returncode == 0
    initrd = tmp_path / "rd.img"
    initrd.write_bytes(b"\x5a" * 5000)
    tree = dump_dtb(rvkvm, tmp_path, "--dtb", user, "--append", "console=ttyS0 new=2",
                    "--initrd", initrd)
    assert tree.get_property("bootargs", "/chosen").value == "console=ttyS0 new=2"
    start = tree.get_property("linux,initrd-start", "/chosen").data
    end = tree.get_property("linux,initrd-end", "/chosen").data
    assert ((end[0] << 32) | end[1]) - ((start[0] << 32) | start[1]) == 5000
    assert tree.get_property("stdout-path", "/chosen").value == "/soc/serial@10000000"
    # without the options the user's tree is given as it is
    same = dump_dtb(rvkvm, tmp_path, "--dtb", user)
    assert same.get_property("bootargs", "/chosen").value == "old=1"
    assert not same.exist_property("linux,initrd-start", "/chosen")


# ---------------------------------------------------------------- console keys

def test_ctrl_a_h_prints_the_keys_and_ctrl_a_x_quits():
    import pexpect
    cmd = rvkvm_command("boot", "--timeout", 60, SPIN)
    child = pexpect.spawn(cmd[0], cmd[1:], cwd=str(REPO_ROOT), env=rvkvm_env(), timeout=30)
    try:
        assert child.waitnoecho(timeout=30)      # rvkvm has put the terminal in raw mode
        child.send(b"\x01h")
        child.expect_exact("C-a x    exit rvkvm")
        child.expect_exact("C-a C-a  send Ctrl-A to the guest")
        child.send(b"\x01x")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, child.before
    finally:
        child.close(force=True)
