"""The SBI firmware against a fake host that records what it was asked to do."""
from __future__ import annotations

import pytest

import rvkvm
from rvkvm.sbi import EXTENSIONS, SbiResult, dispatch
from rvkvm.sbi.constants import (
    RVKVM_IMPL_ID, SBI_ERR_ALREADY_AVAILABLE, SBI_ERR_INVALID_ADDRESS, SBI_ERR_INVALID_PARAM,
    SBI_ERR_NOT_SUPPORTED, SBI_EXT_BASE, SBI_EXT_DBCN, SBI_EXT_HSM, SBI_EXT_IPI,
    SBI_EXT_RFENCE, SBI_EXT_SRST, SBI_EXT_TIME, SBI_HSM_STATE_STARTED, SBI_HSM_STATE_STOPPED,
)

RAM_BASE, RAM_SIZE = 0x8000_0000, 0x1_0000
ALL_ONES = (1 << 64) - 1
LEGACY_EIDS = range(0x00, 0x09)


class FakeHost:
    """Four harts, 64 KiB of RAM at 0x80000000, a console with scripted input."""

    def __init__(self, num_harts: int = 4, console_input: bytes = b""):
        self.hart_id = 0
        self.num_harts = num_harts
        self.ram = bytearray(RAM_SIZE)
        self.console_input = bytearray(console_input)
        self.console_output = bytearray()
        self.calls: list[tuple] = []
        self.states = [SBI_HSM_STATE_STARTED] + [SBI_HSM_STATE_STOPPED] * (num_harts - 1)

    def _in_ram(self, paddr: int, length: int) -> bool:
        return RAM_BASE <= paddr and paddr + length <= RAM_BASE + RAM_SIZE

    def set_timer(self, stime_value):
        self.calls.append(("set_timer", stime_value))

    def send_ipi(self, hart_ids):
        self.calls.append(("send_ipi", hart_ids))

    def clear_ipi(self):
        self.calls.append(("clear_ipi",))

    def remote_fence_i(self, hart_ids):
        self.calls.append(("remote_fence_i", hart_ids))

    def remote_sfence_vma(self, hart_ids, start, size, asid):
        self.calls.append(("remote_sfence_vma", hart_ids, start, size, asid))

    def console_write(self, data):
        self.console_output += data

    def console_read(self, max_bytes):
        data = bytes(self.console_input[:max_bytes])
        del self.console_input[:max_bytes]
        return data

    def read_guest_memory(self, paddr, length):
        if not self._in_ram(paddr, length):
            return None
        return bytes(self.ram[paddr - RAM_BASE:paddr - RAM_BASE + length])

    def write_guest_memory(self, paddr, data):
        if not self._in_ram(paddr, len(data)):
            return False
        self.ram[paddr - RAM_BASE:paddr - RAM_BASE + len(data)] = data
        return True

    def system_reset(self, reset_type, reason):
        self.calls.append(("system_reset", reset_type, reason))

    def hart_start(self, hart_id, start_addr, opaque):
        self.calls.append(("hart_start", hart_id, start_addr, opaque))
        if self.states[hart_id] != SBI_HSM_STATE_STOPPED:
            return SBI_ERR_ALREADY_AVAILABLE
        self.states[hart_id] = SBI_HSM_STATE_STARTED
        return 0

    def hart_stop(self):
        self.calls.append(("hart_stop",))
        return 0

    def hart_status(self, hart_id):
        return self.states[hart_id]

    def hart_suspend(self, suspend_type, resume_addr, opaque):
        self.calls.append(("hart_suspend", suspend_type, resume_addr, opaque))
        return 0

    def machine_ids(self):
        return (0x489, 0x8000000000000007, 0x20181004)


@pytest.fixture
def host():
    return FakeHost()


def call(host, eid, fid=0, *args):
    return dispatch(host, eid, fid, args)


# ---------------------------------------------------------------- dispatch, BASE

def test_spec_version_is_2_0(host):
    result = call(host, SBI_EXT_BASE, 0)
    assert result.error == 0
    assert result.value >> 24 & 0x7F == 2 and result.value & 0xFFFFFF == 0
    assert result.value == 0x0200_0000


def test_impl_id_and_version(host):
    assert call(host, SBI_EXT_BASE, 1).value == RVKVM_IMPL_ID
    major, minor = (int(part) for part in rvkvm.__version__.split(".")[:2])
    assert call(host, SBI_EXT_BASE, 2).value == major << 16 | minor


@pytest.mark.parametrize("eid", [*LEGACY_EIDS, SBI_EXT_BASE, SBI_EXT_TIME, SBI_EXT_IPI,
                                 SBI_EXT_RFENCE, SBI_EXT_HSM, SBI_EXT_SRST, SBI_EXT_DBCN])
def test_probe_known_extension(host, eid):
    assert call(host, SBI_EXT_BASE, 3, eid) == SbiResult(error=0, value=1)


@pytest.mark.parametrize("eid", [0x09, 0x0F, 0x504D55, 0x53555350, 0x4E41434C, ALL_ONES])
def test_probe_unknown_extension(host, eid):
    assert call(host, SBI_EXT_BASE, 3, eid) == SbiResult(error=0, value=0)


def test_probe_covers_every_table_row(host):
    for row in EXTENSIONS:
        assert call(host, SBI_EXT_BASE, 3, row.eid_start).value == 1, row.name


def test_machine_ids_come_from_host(host):
    values = [call(host, SBI_EXT_BASE, fid).value for fid in (4, 5, 6)]
    assert tuple(values) == host.machine_ids()


@pytest.mark.parametrize("eid", [0x09, 0x0F, 0x11, 0x504D55, 0x0A000000, ALL_ONES])
def test_unknown_extension_is_not_supported(host, eid):
    result = call(host, eid, 0, 1, 2, 3)
    assert result.error == SBI_ERR_NOT_SUPPORTED
    assert result.a0 == ALL_ONES - 1 and result.a1 == 0
    assert host.calls == []


@pytest.mark.parametrize("eid, fid", [(SBI_EXT_BASE, 7), (SBI_EXT_TIME, 1), (SBI_EXT_IPI, 1),
                                      (SBI_EXT_RFENCE, 3), (SBI_EXT_RFENCE, 6),
                                      (SBI_EXT_RFENCE, 7), (SBI_EXT_HSM, 4),
                                      (SBI_EXT_SRST, 1), (SBI_EXT_DBCN, 3)])
def test_unknown_function_is_not_supported(host, eid, fid):
    assert call(host, eid, fid, 0, 0, 0, 0, 0).error == SBI_ERR_NOT_SUPPORTED
    assert host.calls == [] and host.console_output == b""


def test_missing_args_are_zero_and_negative_args_are_unsigned(host):
    # hart_mask_base given as Python -1 is the register value 2**64-1: "all harts"
    assert call(host, SBI_EXT_IPI, 0, 0, -1).error == 0
    assert host.calls == [("send_ipi", [0, 1, 2, 3])]
    assert call(host, SBI_EXT_TIME, 0).error == 0
    assert host.calls[-1] == ("set_timer", 0)


# ---------------------------------------------------------------- TIME, IPI, RFENCE

def test_set_timer(host):
    assert call(host, SBI_EXT_TIME, 0, 123456789) == SbiResult()
    assert host.calls == [("set_timer", 123456789)]


@pytest.mark.parametrize("mask, base, harts", [(0b101, 0, [0, 2]), (0b1, 3, [3]),
                                               (0b11, 2, [2, 3]), (0xdead, ALL_ONES, [0, 1, 2, 3])])
def test_send_ipi_hart_mask(host, mask, base, harts):
    assert call(host, SBI_EXT_IPI, 0, mask, base).error == 0
    assert host.calls == [("send_ipi", harts)]


@pytest.mark.parametrize("mask, base", [(0b10000, 0), (0b1, 4), (0b100, 2), (0, 7), (1, 1 << 63)])
def test_send_ipi_invalid_hart_is_invalid_param(host, mask, base):
    assert call(host, SBI_EXT_IPI, 0, mask, base).error == SBI_ERR_INVALID_PARAM
    assert host.calls == []


def test_remote_fence_i(host):
    assert call(host, SBI_EXT_RFENCE, 0, 0b110, 0).error == 0
    assert host.calls == [("remote_fence_i", [1, 2])]
    assert call(host, SBI_EXT_RFENCE, 0, 0b1, 9).error == SBI_ERR_INVALID_PARAM


def test_remote_sfence_vma_range_and_asid(host):
    assert call(host, SBI_EXT_RFENCE, 1, 0b1, 0, 0x4000, 0x2000).error == 0
    assert call(host, SBI_EXT_RFENCE, 2, 0b1, 1, 0x4000, 0x1000, 7).error == 0
    assert host.calls == [("remote_sfence_vma", [0], 0x4000, 0x2000, None),
                          ("remote_sfence_vma", [1], 0x4000, 0x1000, 7)]


@pytest.mark.parametrize("start, size", [(0, 0), (0x1234, ALL_ONES)])
def test_remote_sfence_vma_whole_address_space(host, start, size):
    assert call(host, SBI_EXT_RFENCE, 1, 0, ALL_ONES, start, size).error == 0
    assert host.calls == [("remote_sfence_vma", [0, 1, 2, 3], 0, ALL_ONES, None)]


def test_remote_sfence_vma_range_past_the_top_is_invalid_address(host):
    result = call(host, SBI_EXT_RFENCE, 1, 1, 0, ALL_ONES - 0xFFF, 0x2000)
    assert result.error == SBI_ERR_INVALID_ADDRESS
    assert host.calls == []


# ---------------------------------------------------------------- HSM

def test_hsm_status_of_boot_hart_is_started(host):
    assert call(host, SBI_EXT_HSM, 2, 0) == SbiResult(error=0, value=SBI_HSM_STATE_STARTED)
    assert call(host, SBI_EXT_HSM, 2, 3).value == SBI_HSM_STATE_STOPPED


def test_hsm_status_of_missing_hart_is_invalid_param(host):
    assert call(host, SBI_EXT_HSM, 2, 4).error == SBI_ERR_INVALID_PARAM


def test_hsm_start_goes_through_host(host):
    assert call(host, SBI_EXT_HSM, 0, 2, 0x8020_0000, 0xabc).error == 0
    assert host.calls == [("hart_start", 2, 0x8020_0000, 0xabc)]
    assert call(host, SBI_EXT_HSM, 2, 2).value == SBI_HSM_STATE_STARTED
    # the host's own verdict comes back unchanged
    assert call(host, SBI_EXT_HSM, 0, 2, 0x8020_0000, 0).error == SBI_ERR_ALREADY_AVAILABLE


def test_hsm_start_of_missing_hart_is_invalid_param(host):
    assert call(host, SBI_EXT_HSM, 0, 17, 0x8020_0000, 0).error == SBI_ERR_INVALID_PARAM
    assert host.calls == []


def test_hsm_stop(host):
    assert call(host, SBI_EXT_HSM, 1).error == 0
    assert host.calls == [("hart_stop",)]


@pytest.mark.parametrize("suspend_type", [0x0, 0x8000_0000])
def test_hsm_suspend_default_types(host, suspend_type):
    assert call(host, SBI_EXT_HSM, 3, suspend_type, 0x8040_0000, 5).error == 0
    assert host.calls == [("hart_suspend", suspend_type, 0x8040_0000, 5)]


@pytest.mark.parametrize("suspend_type", [0x1, 0x1000_0000, 0x8000_0001, 0x9000_0000])
def test_hsm_suspend_reserved_or_platform_types_are_invalid(host, suspend_type):
    assert call(host, SBI_EXT_HSM, 3, suspend_type, 0, 0).error == SBI_ERR_INVALID_PARAM
    assert host.calls == []


# ---------------------------------------------------------------- SRST

def test_srst_shutdown_calls_system_reset(host):
    assert call(host, SBI_EXT_SRST, 0, 0, 0).error == 0
    assert host.calls == [("system_reset", 0, 0)]


def test_srst_reboot_with_failure_reason(host):
    call(host, SBI_EXT_SRST, 0, 1, 1)
    call(host, SBI_EXT_SRST, 0, 2, 0)
    assert host.calls == [("system_reset", 1, 1), ("system_reset", 2, 0)]


def test_srst_uses_only_the_low_32_bits(host):
    assert call(host, SBI_EXT_SRST, 0, 0xFFFF_FFFF_0000_0000, 0).error == 0
    assert host.calls == [("system_reset", 0, 0)]


@pytest.mark.parametrize("reset_type, reason", [(3, 0), (0xF000_0000, 0), (0, 2),
                                                (0, 0xE000_0000), (1, 0xF000_0000)])
def test_srst_reserved_type_or_reason_is_invalid(host, reset_type, reason):
    assert call(host, SBI_EXT_SRST, 0, reset_type, reason).error == SBI_ERR_INVALID_PARAM
    assert host.calls == []


# ---------------------------------------------------------------- DBCN

def test_dbcn_write_reads_guest_memory(host):
    text = b"hello from S-mode\n"
    host.write_guest_memory(RAM_BASE + 0x100, text)
    result = call(host, SBI_EXT_DBCN, 0, len(text), RAM_BASE + 0x100, 0)
    assert result == SbiResult(error=0, value=len(text))
    assert host.console_output == text


@pytest.mark.parametrize("addr, hi", [(0x1000, 0), (RAM_BASE + RAM_SIZE - 4, 0), (RAM_BASE, 1)])
def test_dbcn_write_inaccessible_memory_is_invalid_param(host, addr, hi):
    assert call(host, SBI_EXT_DBCN, 0, 16, addr, hi).error == SBI_ERR_INVALID_PARAM
    assert host.console_output == b""


def test_dbcn_write_of_nothing(host):
    assert call(host, SBI_EXT_DBCN, 0, 0, 0, 0) == SbiResult(error=0, value=0)


def test_dbcn_read_stores_input_in_guest_memory(host):
    host.console_input += b"ls\n"
    result = call(host, SBI_EXT_DBCN, 1, 8, RAM_BASE + 0x200, 0)
    assert result == SbiResult(error=0, value=3)
    assert host.read_guest_memory(RAM_BASE + 0x200, 4) == b"ls\n\0"


def test_dbcn_read_without_input_reads_nothing(host):
    assert call(host, SBI_EXT_DBCN, 1, 8, RAM_BASE, 0) == SbiResult(error=0, value=0)


def test_dbcn_read_into_bad_buffer_keeps_the_input(host):
    host.console_input += b"x"
    assert call(host, SBI_EXT_DBCN, 1, 8, 0x1000, 0).error == SBI_ERR_INVALID_PARAM
    assert host.console_input == b"x"


def test_dbcn_write_byte(host):
    assert call(host, SBI_EXT_DBCN, 2, 0x141) == SbiResult(error=0, value=0)
    assert host.console_output == b"A"


# ---------------------------------------------------------------- legacy

def test_legacy_getchar_without_input_is_minus_one(host):
    result = call(host, 0x02)
    assert result.legacy and result.error == -1
    assert result.a0 == ALL_ONES and result.a1 is None


def test_legacy_getchar_returns_a_byte(host):
    host.console_input += b"qz"
    assert call(host, 0x02).error == ord("q")
    assert call(host, 0x02).error == ord("z")


def test_legacy_putchar_ignores_fid(host):
    assert call(host, 0x01, 99, ord("k")) == SbiResult(error=0, legacy=True)
    assert host.console_output == b"k"


def test_legacy_set_timer_and_clear_ipi(host):
    call(host, 0x00, 0, 5000)
    call(host, 0x03)
    assert host.calls == [("set_timer", 5000), ("clear_ipi",)]


def test_legacy_send_ipi_reads_mask_from_memory(host):
    host.write_guest_memory(RAM_BASE + 0x40, (0b1010).to_bytes(8, "little"))
    assert call(host, 0x04, 0, RAM_BASE + 0x40).error == 0
    assert host.calls == [("send_ipi", [1, 3])]


def test_legacy_send_ipi_null_mask_means_all_harts(host):
    assert call(host, 0x04, 0, 0).error == 0
    assert host.calls == [("send_ipi", [0, 1, 2, 3])]


def test_legacy_send_ipi_bad_pointer_or_hart(host):
    assert call(host, 0x04, 0, 0x1000).error < 0
    host.write_guest_memory(RAM_BASE, (1 << 9).to_bytes(8, "little"))
    assert call(host, 0x04, 0, RAM_BASE).error < 0
    assert host.calls == []


def test_legacy_remote_fences(host):
    host.write_guest_memory(RAM_BASE, (0b11).to_bytes(8, "little"))
    call(host, 0x05, 0, RAM_BASE)
    call(host, 0x06, 0, RAM_BASE, 0, 0)
    call(host, 0x07, 0, RAM_BASE, 0x10000, 0x1000, 3)
    assert host.calls == [("remote_fence_i", [0, 1]),
                          ("remote_sfence_vma", [0, 1], 0, ALL_ONES, None),
                          ("remote_sfence_vma", [0, 1], 0x10000, 0x1000, 3)]


def test_legacy_shutdown_is_a_system_reset(host):
    result = call(host, 0x08)
    assert result.legacy
    assert host.calls == [("system_reset", 0, 0)]


def test_legacy_mask_spans_words_with_many_harts():
    host = FakeHost(num_harts=70)
    mask = (1 << 63 | 1).to_bytes(8, "little") + (1 << 5).to_bytes(8, "little")
    host.write_guest_memory(RAM_BASE, mask)
    assert call(host, 0x04, 0, RAM_BASE).error == 0
    assert host.calls == [("send_ipi", [0, 63, 69])]
