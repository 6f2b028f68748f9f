"""Shared by the benchmarks: paths, building small guest programs, running a guest
under rvkvm's machine API or on a bare Unicorn, timing subprocesses."""
from __future__ import annotations

import hashlib
import io
import os
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(REPO, "images")
SHARED = os.path.normpath(os.path.join(REPO, "..", "shared"))
LINUX_IMAGE = os.path.join(SHARED, "linux", "poweroff", "Image")
FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"
QEMU = "qemu-system-riscv64"
CROSS_GCC = "riscv64-unknown-elf-gcc"

RAM_BASE = 0x8000_0000
RAM_SIZE = 128 << 20
UART0_BASE = 0x1000_0000
FINISHER_BASE = 0x10_0000
FINISHER_PASS = 0x5555

if REPO not in sys.path:
    sys.path.insert(0, REPO)


class Skip(Exception):
    """A benchmark cannot run here; the message says why."""


def median(values):
    return statistics.median(values)


# ----------------------------------------------------------------------------- building

def build_elf(name: str, source: str) -> str:
    """Assemble a bare-metal program linked at RAM base; cached by content."""
    gcc = shutil.which(CROSS_GCC)
    if gcc is None:
        raise Skip(f"{CROSS_GCC} is not installed (apt install gcc-riscv64-unknown-elf)")
    with open(os.path.join(IMAGES, "link.ld"), "rb") as f:
        digest = hashlib.sha256(source.encode() + f.read()).hexdigest()[:16]
    out_dir = os.path.join(tempfile.gettempdir(), "rvkvm-bench")
    os.makedirs(out_dir, exist_ok=True)
    elf = os.path.join(out_dir, f"{name}-{digest}.elf")
    if not os.path.exists(elf):
        src = os.path.join(out_dir, f"{name}-{digest}.S")
        with open(src, "w") as f:
            f.write(source)
        subprocess.run([gcc, "-march=rv64gc", "-mabi=lp64d", "-nostdlib", "-nostartfiles",
                        "-static", "-T", os.path.join(IMAGES, "link.ld"), "-Wl,--no-relax",
                        "-Wl,--no-warn-rwx-segments",
                        "-Wl,--build-id=none", "-o", elf + ".tmp", src], check=True)
        os.replace(elf + ".tmp", elf)
    return elf


# ----------------------------------------------------------------------------- rvkvm

def run_rvkvm_machine(elf: str, timeout: float = 120.0):
    """Run `elf` on rvkvm's virt machine; returns (status, seconds in run(), slicer kind)."""
    from rvkvm.machine.virt import MachineConfig, VirtMachine
    machine = VirtMachine(MachineConfig(ram_size=RAM_SIZE, console_out=io.BytesIO()))
    load = getattr(machine, "load_kernel", None) or machine.load
    load(elf)
    t0 = time.perf_counter()
    result = machine.run(timeout=timeout)
    seconds = time.perf_counter() - t0
    return result.status, seconds, machine.hart.slicer.kind


def rvkvm_command() -> list[str]:
    """How to start the rvkvm CLI of this checkout."""
    script = os.path.join(os.path.dirname(sys.executable), "rvkvm")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-c", "import sys; from rvkvm.cli import main; sys.exit(main())"]


# ----------------------------------------------------------------------------- raw Unicorn

def raw_unicorn_with(elf: str):
    """(a fresh Uc with RAM holding `elf`'s loadable segments, its entry point)."""
    from elftools.elf.elffile import ELFFile
    from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, Uc

    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    uc.mem_map(RAM_BASE, RAM_SIZE)
    with open(elf, "rb") as f:
        image = ELFFile(f)
        for seg in image.iter_segments():
            if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]:
                uc.mem_write(seg["p_paddr"], seg.data())
        return uc, image.header.e_entry


def run_raw_unicorn(elf: str, with_slicer_hook: bool = False) -> float:
    """Run `elf`'s code on a fresh Uc with only RAM (and a UART that is always ready),
    from its entry until it writes the test finisher. Returns the seconds of emu_start.
    with_slicer_hook: add rvkvm's native block hook (never asked to stop), to show its cost."""
    from unicorn import UC_HOOK_MEM_WRITE_UNMAPPED, UcError

    uc, entry = raw_unicorn_with(elf)
    # LSR (offset 5): THR empty and idle, so console output never blocks
    uc.mmio_map(UART0_BASE, 0x1000, lambda uc_, off, size, ud: 0x60 if off == 5 else 0, None,
                lambda uc_, off, size, value, ud: None, None)
    finished = []

    def on_unmapped_write(uc_, access, address, size, value, ud):
        finished.append((address, value))
        return False                    # ends emu_start with UC_ERR_WRITE_UNMAPPED
    uc.hook_add(UC_HOOK_MEM_WRITE_UNMAPPED, on_unmapped_write)
    slicer = None
    if with_slicer_hook:
        from rvkvm.cpu.slicer import NativeSlicer
        slicer = NativeSlicer(uc, slice_seconds=1e6)
        slicer.close()                  # the hook stays, the ticker goes
    t0 = time.perf_counter()
    try:
        uc.emu_start(entry, 0)
    except UcError:
        pass
    seconds = time.perf_counter() - t0
    if not finished or finished[0][0] != FINISHER_BASE or finished[0][1] & 0xFFFF != FINISHER_PASS:
        raise RuntimeError(f"{os.path.basename(elf)} did not pass on raw Unicorn "
                           f"(finisher writes {finished}, pc={uc.reg_read(_pc_reg()):#x})")
    return seconds


def _pc_reg():
    from unicorn.riscv_const import UC_RISCV_REG_PC
    return UC_RISCV_REG_PC


def elf_symbol(elf: str, name: str):
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if symtab is None:
            return None
        syms = symtab.get_symbol_by_name(name)
        return syms[0]["st_value"] if syms else None


def read_u64(elf: str, address: int):
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            start = seg["p_paddr"]
            if seg["p_type"] == "PT_LOAD" and start <= address and address + 8 <= start + seg["p_filesz"]:
                return struct.unpack_from("<Q", seg.data(), address - start)[0]
    return None


# ----------------------------------------------------------------------------- subprocesses

def time_process(argv: list[str], marker: bytes | None = None, timeout: float = 120.0,
                 grace_after_marker: float = 5.0):
    """Run argv with stdout read as it comes. Returns (seconds to marker or None,
    seconds to exit, exit status, output). Without a marker, the first is None.
    A process still running after `timeout` seconds, or `grace_after_marker` seconds
    after the marker, is killed: exit status None."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, bufsize=0)
    out = bytearray()
    t_marker = None
    deadline = timeout
    fd = proc.stdout.fileno()
    try:
        while True:
            left = deadline - (time.perf_counter() - t0)
            if left <= 0:
                proc.kill()
                proc.wait()
                return t_marker, time.perf_counter() - t0, None, bytes(out)
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            now = time.perf_counter()
            search_from = max(0, len(out) - len(marker) + 1) if marker else 0
            out += chunk
            if marker and t_marker is None and out.find(marker, search_from) >= 0:
                t_marker = now - t0
                deadline = min(timeout, t_marker + grace_after_marker)
        try:
            status = proc.wait(timeout=max(1.0, deadline - (time.perf_counter() - t0)))
        except subprocess.TimeoutExpired:
            status = None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return t_marker, time.perf_counter() - t0, status, bytes(out)


def report(name: str, value, unit: str, target: str | None = None, ok: bool | None = None,
           note: str = "") -> dict:
    """One headline figure, printed and returned for run_all's summary."""
    verdict = "" if ok is None else ("  [meets target]" if ok else "  [MISSES target]")
    tgt = f"  (target {target})" if target else ""
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    print(f"  => {name}: {shown} {unit}{tgt}{verdict}{('  ' + note) if note else ''}")
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": ok, "note": note}
