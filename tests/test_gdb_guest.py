"""The gdb stub on a guest of rvkvm's own hypervisor (`boot --guest ... --gdb`): gdb
sees the guest's view (V=1, its CSRs, memory through both stages of translation)
and run control goes through the VMM's run loop. Debian's gdb-multiarch in batch
mode, as tests/test_gdb.py, against Linux (vmlinux, symbols from the ELF) and the
bare-metal guests of tests/guests run in VS mode."""
from __future__ import annotations

import re
import subprocess
import time

import pytest

from conftest import elf_symbol
from test_gdb import (
    COUNTER,
    COUNTER_STATUS,
    KERNEL_PA,
    KERNEL_VA,
    SPIN,
    Guest,
    gdb_command,
    gdb_values,
    interrupt_gdb,
    needs_gdb,
    run_gdb,
    vmlinux,  # noqa: F401  (the fixture)
)

SATP_MODES = (8, 9, 10)                   # Sv39, Sv48, Sv57
HSTATUS_VSXL_64 = 2 << 32


def start_kernel_va(vmlinux) -> int:
    system_map = (vmlinux.parent / "System.map").read_text().splitlines()
    return int(next(line.split()[0] for line in system_map if line.endswith(" start_kernel")), 16)


# ----------------------------------------------------------------------------- Linux

@needs_gdb
def test_guest_linux_break_at_start_kernel_csrs_step_and_exit_status(vmlinux):  # noqa: F811
    guest = Guest(vmlinux, "--guest", "-S")
    out = run_gdb(guest.port, vmlinux, [
        "info registers pc", "monitor priv",        # -S: nothing has run yet
        "break start_kernel", "continue", "info registers pc",
        "p/x $sstatus", "p/x $vsstatus", "p/x $satp", "p/x $vsatp", "p/x $hstatus", "p $priv",
        "monitor priv", "x/2i $pc", "stepi", "info registers pc", "x/4i $pc",
        "delete", "continue"])
    status, stdout, stderr = guest.finish()
    assert "Traceback" not in stderr, stderr
    assert re.search(r"^pc\s+0x80200000\b", out, re.M), out         # the guest's entry
    assert "level VS, privilege S, V=1, bpc 0x0" in out, out         # before it ran
    hit = re.search(r"Breakpoint 1, (0x[0-9a-f]+) in start_kernel", out)
    assert hit, out
    bp = int(hit.group(1), 16)
    assert bp == start_kernel_va(vmlinux) and bp >= KERNEL_VA
    pcs = [int(v, 16) for v in re.findall(r"^pc\s+(0x[0-9a-f]+)", out, re.M)]
    assert pcs[1] == bp                                              # stopped before it ran
    sstatus, vsstatus, satp, vsatp, hstatus, priv = gdb_values(out)[:6]
    assert sstatus == vsstatus and int(sstatus, 16) & 0x2 == 0       # the guest's: SIE off
    assert satp == vsatp and int(satp, 16) >> 60 in SATP_MODES       # its paging is on
    assert int(hstatus, 16) & HSTATUS_VSXL_64                        # the hypervisor's CSR
    assert priv == "1"                                               # VS is S to gdb
    bpc = re.findall(r"level VS, privilege S, V=1, bpc (0x[0-9a-f]+)", out)
    assert len(bpc) == 2 and int(bpc[1], 16) >= KERNEL_PA            # it has left V=1 since
    listed = re.findall(r"^(?:=> )?\s*(0x[0-9a-f]+) <start_kernel\+?\d*>:", out, re.M)
    assert int(listed[1], 16) == pcs[2], out                         # stepi: one instruction
    assert len(re.findall(r"^(?:=> )?\s*0x[0-9a-f]+ <start_kernel\+\d+>:\t\w+", out, re.M)) >= 5
    assert "[Inferior 1 (Remote target) exited normally]" in out, out
    assert status == 0 and "RVKVM-POWEROFF" in stdout, (status, stderr)


@needs_gdb
def test_guest_linux_monitor_walk_shows_both_stages(vmlinux):  # noqa: F811
    va = start_kernel_va(vmlinux)
    gpa = va - KERNEL_VA + KERNEL_PA                                  # where the guest put it
    guest = Guest(vmlinux, "--guest", "-S")
    out = run_gdb(guest.port, vmlinux, [
        "break start_kernel", "continue", f"monitor walk {va:#x}",
        "monitor phys on", f"x/xw {gpa:#x}", "monitor phys off", f"x/xw {va:#x}", "kill"])
    status, _, stderr = guest.finish()
    assert "killed from gdb" in stderr and "Traceback" not in stderr
    walk = out[out.index(f"{va:#x}: level VS, V=1"):out.index("gdb memory accesses are guest")]
    vs_levels = [int(lv) for lv in re.findall(r"^  vs L(\d): pte @gpa 0x[0-9a-f]+ pa 0x", walk, re.M)]
    assert vs_levels and vs_levels == list(range(vs_levels[0], vs_levels[-1] - 1, -1)), walk
    # each VS-stage table is itself found through the G-stage, and so is the leaf's GPA
    g_walks = re.findall(r"^  g L\d: gpa (0x[0-9a-f]+) pte @0x", walk, re.M)
    assert len(set(g_walks)) == len(vs_levels) + 1, walk
    ok = re.search(r"^  ok: pa (0x[0-9a-f]+) gpa (0x[0-9a-f]+)", walk, re.M)
    assert int(ok.group(2), 16) == gpa
    assert int(ok.group(1), 16) != int(ok.group(2), 16)                # host RAM is elsewhere
    # the same instruction word, read by its guest-physical and by its virtual address
    words = re.findall(r"^0x[0-9a-f]+(?: <start_kernel>)?:\s+(0x[0-9a-f]{8})$", out, re.M)
    assert len(words) == 2 and words[0] == words[1], out


SBI_SLEEP = COUNTER.parent / "sbi_sleep.elf"   # S mode: timer an hour ahead, `asleep: wfi; j asleep`
STOP_AND_STEP = ["continue", "info registers pc", "monitor priv", "stepi", "info registers pc",
                 "kill"]


@needs_gdb
@pytest.mark.parametrize("options, level", [((), "level HS, privilege S, V=0"),
                                            (("--guest",), "level VS, privilege S, V=1")],
                         ids=["native", "guest"])
def test_ctrl_c_stops_a_hart_asleep_in_wfi(options, level):
    """The hart sleeps in WFI until a deadline an hour away: Ctrl-C must wake it and stop
    it just after its WFI, and a step then runs the next instruction."""
    asleep = elf_symbol(SBI_SLEEP, "asleep")
    out, stderr = interrupt_gdb(Guest(SBI_SLEEP, *options), SBI_SLEEP, STOP_AND_STEP)
    assert "Program received signal SIGINT" in out, out
    pcs = [int(pc, 16) for pc in re.findall(r"^pc\s+(0x[0-9a-f]+)", out, re.M)]
    assert pcs == [asleep + 4, asleep], out                        # after the wfi; the j
    assert level in out, out
    assert "killed from gdb" in stderr


@needs_gdb
def test_guest_ctrl_c_stops_an_idle_linux_guest(shared_dir):
    """An idle Linux guest wakes 250 times a second, so Ctrl-C finds the vcpu in WFI or
    in its tick: either way it stops in VS, and a step runs one instruction."""
    shell = shared_dir / "linux" / "shell" / "Image"
    if not shell.exists():
        pytest.skip(f"no {shell}")
    def idle_at_its_prompt(guest):
        seen = b""
        while b"rvkvm:/# " not in seen:                             # the shell waits: idle
            chunk = guest.proc.stdout.read1(4096)
            assert chunk, seen[-300:]
            seen += chunk
        time.sleep(1)
    out, stderr = interrupt_gdb(Guest(shell, "--guest"), shell, STOP_AND_STEP,
                                ready=idle_at_its_prompt)
    assert "Program received signal SIGINT" in out, out
    assert "level VS, privilege S, V=1" in out, out
    stopped, stepped = (int(pc, 16) for pc in re.findall(r"^pc\s+(0x[0-9a-f]+)", out, re.M))
    assert stopped >= KERNEL_VA and stepped != stopped, out       # in the kernel; it moved
    assert "killed from gdb" in stderr


# ----------------------------------------------------------------------------- bare metal in VS

@needs_gdb
def test_guest_memory_the_g_stage_has_not_mapped_yet_reads():
    untouched = 0x80400000              # guest RAM, 2 MiB past the code gdb reads at once
    guest = Guest(COUNTER, "--guest", "-S", "-m", "128M")
    out = run_gdb(guest.port, COUNTER, [
        f"monitor walk {untouched:#x}", f"x/xg {untouched:#x}", f"monitor walk {untouched:#x}",
        "x/xg 0x90000000",              # past the end of RAM
        "x/2i $pc", "monitor phys on", "x/xw 0x80000000", "kill"])
    guest.finish()
    first, second = re.findall(rf"^{untouched:#x}: level VS, V=1\n((?:  .*\n)*)", out, re.M)
    # vsatp is Bare: one G-stage step, which faults until the read maps it
    assert re.search(rf"^  fault: cause 21 .*gpa {untouched:#x}$", first, re.M), out
    assert re.search(rf"^{untouched:#x}:\s+0x0+$", out, re.M), out
    assert re.search(rf"^  ok: pa 0x[0-9a-f]+ gpa {untouched:#x}", second, re.M), out
    assert "Cannot access memory at address 0x90000000" in out
    assert re.search(r"=> 0x80000000 <_start>:\s+lui\s+s0", out), out
    assert re.search(r"^0x80000000 <_start>:\s+0x00031437$", out, re.M), out   # lui s0, 0x31


@needs_gdb
def test_guest_breakpoint_continue_and_stepi():
    guest = Guest(COUNTER, "--guest", "-S")
    out = run_gdb(guest.port, COUNTER, [
        "break *bump", "continue", "p (long) $s0", "continue", "p (long) $s0", "stepi",
        "info registers pc", "kill"])
    guest.finish()
    assert gdb_values(out)[:2] == ["200000", "199999"], out          # one round between hits
    assert re.search(r"^pc\s+0x8000002e\b", out, re.M), out          # bump + 4 (auipc)


@needs_gdb
def test_guest_ctrl_c_stops_a_running_guest():
    out, stderr = interrupt_gdb(Guest(SPIN, "--guest"), SPIN,
                                ["continue", "info registers pc", "monitor priv", "kill"])
    assert "Program received signal SIGINT" in out, out
    assert re.search(r"^pc\s+0x80000000\b", out, re.M), out
    assert "V=1" in out and "killed from gdb" in stderr


SBI_CONSOLE = COUNTER.parent / "sbi_console.elf"   # _start: li a7, 2; ecall; bltz a0, _start


@needs_gdb
def test_guest_stepi_over_an_sbi_call_completes_it():
    guest = Guest(SBI_CONSOLE, "--guest", "-S")
    out = run_gdb(guest.port, SBI_CONSOLE, [
        "p $a0 = 5", "stepi", "stepi", "info registers pc", "p $a0", "kill"])
    _, _, stderr = guest.finish()
    assert re.search(r"^pc\s+0x80000006\b", out, re.M), out      # past the ecall
    assert gdb_values(out)[1] == "-1", out                        # getchar's answer: no input
    assert "killed from gdb" in stderr and "Traceback" not in stderr


@needs_gdb
def test_guest_breakpoint_at_a_page_start_after_a_page_without_ram():
    guest = Guest(SBI_CONSOLE, "--guest", "-S")
    # Unicorn translates the byte before each breakpoint (here 0x7ffff000, no RAM) after
    # every run, through the fill hook at V=1: the hook answers that probe
    try:
        out = subprocess.run(gdb_command(guest.port, SBI_CONSOLE, [
            "stepi", "stepi", "stepi", "info registers pc", "kill"]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=20).stdout.decode()
        _, _, stderr = guest.finish(timeout=20)
    finally:
        guest.kill()
    assert re.search(r"^pc\s+0x80000000\b", out, re.M), out      # bltz taken: back at _start
    assert "Traceback" not in stderr


def test_guest_stub_listening_without_a_debugger_changes_nothing():
    status, _, stderr = Guest(COUNTER, "--guest").finish()
    assert status == COUNTER_STATUS, stderr
    assert "Traceback" not in stderr


def test_guest_bad_gdb_spec_is_one_clear_error(rvkvm):
    proc = rvkvm("boot", "--guest", "--gdb", "tcp::abc", COUNTER)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 125 and len(lines) == 1, proc.stderr
    assert "the port must be a number" in lines[0]
