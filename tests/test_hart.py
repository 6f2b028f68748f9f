"""The hart's own behaviour, in-process: trap routing, CSR views, interrupt state
across virtual-M transitions. Guests are tiny programs under tests/guests/."""
import io

import pytest

from conftest import GUESTS_DIR, IMAGES_DIR
from unicorn import riscv_const as rc

from rvkvm.cpu.constants import MIP_SSIP, MIP_STIP, PRV_M, PRV_S
from rvkvm.cpu.csr import CSR_TABLE
from rvkvm.cpu.csr_names import CSR_NUMBERS
from rvkvm.machine.virt import MachineConfig, VirtMachine


def machine(path, **config):
    m = VirtMachine(MachineConfig(console_out=io.BytesIO(), **config))
    m.load(str(path))
    return m


def test_ssip_set_by_m_survives_mret_to_s():
    # M sets mip.SSIP, delegates it and mrets to S; S's wfi must fall through and
    # sip must still show it (regression: the pending bit was lost on leaving M)
    m = machine(GUESTS_DIR / "ssip_to_s.elf")
    result = m.run(timeout=10)
    assert (result.status, result.reason) == (0, "poweroff")


def test_guest_m_code_runs_in_virtual_m():
    m = machine(IMAGES_DIR / "hello.elf")
    assert m.hart.priv == PRV_M and m.hart.context == "machine"
    assert m.run(timeout=10).status == 0


def test_linux_without_bios_starts_in_s_with_python_firmware(shared_dir):
    m = machine(shared_dir / "linux" / "poweroff" / "Image")
    assert m.hart.priv == PRV_S and m.hart.context == "host"
    assert m.firmware is not None
    # what firmware hands over: S interrupts delegated, time readable from S
    assert m.hart.m.mideleg == 0x222 and m.hart.m.mcounteren & 2


def test_mip_rmw_uses_software_seip_not_the_plic_line():
    m = machine(IMAGES_DIR / "hello.elf")
    h = m.hart
    h.set_irq(9, True)                          # the PLIC drives SEIP
    mip = CSR_TABLE[CSR_NUMBERS["mip"]]
    assert mip.read(h) & (1 << 9)               # a read shows the line...
    assert not mip.rmw_read(h) & (1 << 9)       # ...csrrs/csrrc modify only the sw bit
    h.set_irq(9, False)
    assert not mip.read(h) & (1 << 9)


def test_firmware_timer_raises_stip_at_the_deadline():
    m = machine(IMAGES_DIR / "hello.elf")
    from rvkvm.machine.firmware import PythonFirmware
    fw = PythonFirmware(m)
    m.firmware = fw
    fw.set_timer(m.clint.mtime() + 10**9)       # far away: not pending
    assert not m.hart.m.mip_sw & MIP_STIP
    fw.set_timer(0)                             # in the past: pending at once
    assert m.hart.m.mip_sw & MIP_STIP
    fw.set_timer(m.clint.mtime() + 10**9)       # re-arming clears it, as SBI requires
    assert not m.hart.m.mip_sw & MIP_STIP
    fw.send_ipi([0])
    assert m.hart.m.mip_sw & MIP_SSIP


def test_fetch_faults_of_page_straddling_instructions():
    # Unicorn reports them at the start of the translated block; rvkvm must find the
    # instruction: in M-mode (first fetch from a page) and in S-mode under Sv39
    # (mepc = the instruction, mtval = the unmapped page). QEMU passes it too.
    result = machine(GUESTS_DIR / "straddle.elf").run(timeout=10)
    assert (result.status, result.reason) == (0, "poweroff")


@pytest.mark.parametrize("has_h", [False, True])
def test_medeleg_holds_only_the_delegable_causes(has_h):
    """medeleg is WARL: an S/U hart delegates causes 0-9, 12, 13 and 15; with H also
    ecall from VS (10) and the guest-page and virtual-instruction faults (20-23).
    Ecall from M (11) is read-only zero (privileged spec 3.1.8, 8.2.2); 14 and 16-19
    are reserved."""
    m = machine(IMAGES_DIR / "hello.elf", has_h=has_h)
    medeleg = CSR_TABLE[CSR_NUMBERS["medeleg"]]
    medeleg.write(m.hart, (1 << 64) - 1)
    delegable = sum(1 << cause for cause in (*range(10), 12, 13, 15))
    if has_h:
        delegable |= sum(1 << cause for cause in (10, 20, 21, 22, 23))
    assert medeleg.read(m.hart) == delegable
    medeleg.write(m.hart, 1 << 11)
    assert medeleg.read(m.hart) == 0


def test_vs_csrs_are_live_while_the_guest_is_loaded():
    """vs* CSRs live in s_vs at V=0 and in Unicorn's S CSRs at V=1: the table (dumps,
    gdb) reads and writes whichever holds them, and a V switch carries the values."""
    from rvkvm.cpu.levels import HS, VS
    m = machine(IMAGES_DIR / "hello.elf")
    h = m.hart
    row = {name: CSR_TABLE[CSR_NUMBERS[name]] for name in ("vstvec", "vsepc", "vsscratch", "vsatp")}
    h.set_level(HS)
    row["vstvec"].write(h, 0x8000_1000)
    row["vsepc"].write(h, 0x8000_2001)             # WARL: bit 0 reads 0
    row["vsatp"].write(h, (8 << 60) | 0x80010)
    h.set_level(VS)
    assert row["vstvec"].read(h) == 0x8000_1000 == h.regs.csr_read(rc.UC_RISCV_REG_STVEC)
    assert row["vsepc"].read(h) == 0x8000_2000
    assert row["vsatp"].read(h) == (8 << 60) | 0x80010 == h.regs.csr_read(rc.UC_RISCV_REG_SATP)
    row["vsscratch"].write(h, 0x1234)                # written while live ...
    assert h.regs.csr_read(rc.UC_RISCV_REG_SSCRATCH) == 0x1234
    h.set_level(HS)                                  # ... and carried out at the V exit
    assert row["vsscratch"].read(h) == 0x1234 and h.s_vs.scratch == 0x1234
