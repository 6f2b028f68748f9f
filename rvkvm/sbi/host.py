"""The contracts of the SBI layer: the host it calls, the result it returns, a table row.

The extensions never see Unicorn or a hart. The caller (the hart at M when a
kernel boots without firmware, later the hypervisor at HS for a guest) provides
an `SbiHost` and writes the `SbiResult` back to a0/a1.

Register values pass as unsigned 64-bit integers both ways; errors are negative
Python ints in `SbiResult.error`, and `a0`/`a1` give their register encodings.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Protocol

from .constants import SBI_ERR_NOT_SUPPORTED, SBI_SUCCESS, XLEN_MASK


class SbiHost(Protocol):
    """The calling hart's view of the machine. Hart ids are 0 .. num_harts - 1."""

    hart_id: int
    num_harts: int

    def set_timer(self, stime_value: int) -> None:
        """Program the S timer deadline (mtime units) and clear a pending STIP."""

    def send_ipi(self, hart_ids: list[int]) -> None:
        """Raise SSIP on those harts."""

    def clear_ipi(self) -> None:
        """Clear this hart's SSIP (legacy clear_ipi)."""

    def remote_fence_i(self, hart_ids: list[int]) -> None:
        """Make those harts see instruction memory as written (flush translated code)."""

    def remote_sfence_vma(self, hart_ids: list[int], start: int, size: int,
                          asid: int | None) -> None:
        """Flush address translations on those harts.

        size == 2**64 - 1 means the whole address space; asid None means every ASID.
        """

    def console_write(self, data: bytes) -> None:
        """Write bytes to the console."""

    def console_read(self, max_bytes: int) -> bytes:
        """Up to max_bytes of pending console input; b"" if none (never blocks)."""

    def read_guest_memory(self, paddr: int, length: int) -> bytes | None:
        """The guest's memory at paddr, or None if the range is not (all) accessible.

        Legacy v0.1 calls pass a hart-mask pointer as the supervisor gave it,
        which is a virtual address once the supervisor turned paging on: a host
        that can translates it as S-mode would.
        """

    def write_guest_memory(self, paddr: int, data: bytes) -> bool:
        """Store data at paddr; False if the range is not (all) accessible."""

    def system_reset(self, reset_type: int, reason: int) -> None:
        """End the run (SRST type and reason are validated before this call)."""

    def hart_start(self, hart_id: int, start_addr: int, opaque: int) -> int:
        """Start a stopped hart in S-mode at start_addr with a0 = hart id, a1 = opaque.

        Returns an SBI error (SBI_ERR_ALREADY_AVAILABLE if it is not stopped, ...).
        """

    def hart_stop(self) -> int:
        """Stop the calling hart; returns an SBI error only if that failed."""

    def hart_status(self, hart_id: int) -> int:
        """SBI_HSM_STATE_* of that hart, or a negative SBI error."""

    def hart_suspend(self, suspend_type: int, resume_addr: int, opaque: int) -> int:
        """Suspend the calling hart (type already validated); an SBI error."""

    def machine_ids(self) -> tuple[int, int, int]:
        """(mvendorid, marchid, mimpid) as the hart reports them."""


class SbiResult(NamedTuple):
    """The outcome of one SBI call.

    A v0.2+ call returns (error, value) in (a0, a1). A legacy call returns one
    value in a0 only: `error` holds it and a1 is left untouched.
    """

    error: int = SBI_SUCCESS
    value: int = 0
    legacy: bool = False

    @property
    def a0(self) -> int:
        return self.error & XLEN_MASK

    @property
    def a1(self) -> int | None:
        """The value for a1, or None when a1 must be preserved (legacy calls)."""
        return None if self.legacy else self.value & XLEN_MASK


Handler = Callable[[SbiHost, int, tuple[int, ...]], SbiResult]


def always_available(host: SbiHost) -> int:
    return 1


class Extension(NamedTuple):
    """One row of the SBI table: the EIDs it answers, how to call it, how to probe it.

    `handler(host, fid, args)` gets a0..a5 as unsigned 64-bit ints and must
    return SBI_ERR_NOT_SUPPORTED for a function it does not implement.
    `probe(host)` is what sbi_probe_extension reports: 0 = absent.
    """

    eid_start: int
    eid_end: int
    name: str
    handler: Handler
    probe: Callable[[SbiHost], int] = always_available


def not_supported() -> SbiResult:
    return SbiResult(error=SBI_ERR_NOT_SUPPORTED)
