"""HTIF, the Berkeley host-target interface: `tohost`/`fromhost` words in guest RAM.

Programs built for Spike (riscv-tests, riscv-pk) define the two 8-byte symbols
and talk to the host by storing a command into tohost:

    bits 63:56 device   bits 55:48 command   bits 47:0 payload

    device 0, cmd 0, payload odd   exit with status payload >> 1 (riscv-tests: 0 = pass,
                                   else the number of the failing test)
    device 0, cmd 0, payload even  payload points to a syscall block, magic_mem[8] of
                                   u64: number, then arguments; the result goes back into
                                   magic_mem[0] (SYS_write to fd 1/2 and SYS_exit only)
    device 1, cmd 1                putchar(payload & 0xff)
    device 1, cmd 0                getchar: answered when host input arrives

The host answers by clearing tohost and, for commands that respond, writing
(device << 56) | (cmd << 48) | response into fromhost once the guest has
zeroed it. This follows Spike's fesvr (htif.cc, syscall.cc) and QEMU's
hw/char/riscv_htif.c.

When the host acts: tohost lives in ordinary RAM, and Unicorn's write hook runs
before the store lands, so the hook cannot read the complete value (a 32-bit
`sw` leaves the other half as it was; riscv-tests store the two halves
separately) nor clear tohost (the store would overwrite the clear). So the
hook only asks the run loop to stop at the next block boundary, and `poll()`,
which the run loop calls between slices, reads tohost from RAM and acts, exactly
as Spike's host loop polls tohost between instruction batches. Because poll()
reads memory rather than trusting the hook, a store the hook misses (one
made through a virtual alias of tohost) is still served at the next slice.
"""
from __future__ import annotations

import collections
from typing import Callable

from unicorn import UC_HOOK_MEM_WRITE

from ..memory.ram import Ram
from .base import Events

DEV_SYSTEM = 0
DEV_CONSOLE = 1
SYSTEM_CMD_SYSCALL = 0
CONSOLE_CMD_GETC = 0
CONSOLE_CMD_PUTC = 1

SYS_WRITE = 64
SYS_EXIT = 93
STDOUT, STDERR = 1, 2
EBADF, EFAULT, ENOSYS = 9, 14, 38

PAYLOAD_MASK = (1 << 48) - 1
U64 = (1 << 64) - 1


class Htif:
    """Not a bus device: it watches two words in RAM. Offers the run loop the same
    `poll()` / `next_deadline()` as devices."""

    name = "htif"

    def __init__(self, ram: Ram, tohost: int, fromhost: int | None,
                 output: Callable[[bytes], None], events: Events):
        if not ram.contains(tohost, 8):
            raise ValueError(f"tohost {tohost:#x} is not in RAM")
        if fromhost is not None and not ram.contains(fromhost, 8):
            raise ValueError(f"fromhost {fromhost:#x} is not in RAM")
        self._ram = ram
        self.tohost = tohost
        self.fromhost = fromhost
        self._output = output
        self._events = events
        self._responses: collections.deque[int] = collections.deque()
        self._pending_getc: collections.deque[int] = collections.deque()  # request words
        self._host_input: collections.deque[int] = collections.deque()   # filled by feed()

    def install(self, uc) -> None:
        """Stop the run soon after any store to tohost (the range is inclusive)."""
        uc.hook_add(UC_HOOK_MEM_WRITE, self._on_tohost_store,
                    begin=self.tohost, end=self.tohost + 7)

    def _on_tohost_store(self, uc, access, address, size, value, user_data) -> None:
        self._events.request_stop()

    def feed(self, data: bytes) -> None:
        """Host console input for device 1's getchar (thread-safe)."""
        self._host_input.extend(data)
        self._events.request_stop()

    def next_deadline(self) -> int | None:
        return None

    def poll(self) -> None:
        request = self._ram.read_u64(self.tohost)
        if request:
            self._ram.write_u64(self.tohost, 0)
            self._handle(request)
        while self._pending_getc and self._host_input:
            self._respond(self._pending_getc.popleft(), 0x100 | self._host_input.popleft())
        self._deliver_response()

    def _handle(self, request: int) -> None:
        device, cmd, payload = request >> 56, (request >> 48) & 0xFF, request & PAYLOAD_MASK
        if device == DEV_SYSTEM and cmd == SYSTEM_CMD_SYSCALL:
            if payload & 1:
                status = payload >> 1
                self._events.request_exit(status, "htif pass" if status == 0
                                          else f"htif fail {status}")
                return
            self._syscall(payload)
            self._respond(request, 1)
        elif device == DEV_CONSOLE and cmd == CONSOLE_CMD_PUTC:
            self._output(bytes((payload & 0xFF,)))
            self._respond(request, 0x100 | (payload & 0xFF))
        elif device == DEV_CONSOLE and cmd == CONSOLE_CMD_GETC:
            self._pending_getc.append(request)
        # anything else: consumed without a response, as Spike's null device

    def _syscall(self, block: int) -> None:
        try:
            number, a0, a1, a2 = (self._read_u64(block + 8 * i) for i in range(4))
        except IndexError:
            return          # the block itself is outside RAM: nowhere to put a result
        if number == SYS_WRITE:
            result = self._sys_write(a0, a1, a2)
        elif number == SYS_EXIT:
            self._events.request_exit(a0, "htif exit" if a0 == 0 else f"htif exit {a0}")
            result = 0
        else:
            result = -ENOSYS
        self._ram.write_u64(block, result & U64)

    def _sys_write(self, fd: int, buf: int, length: int) -> int:
        if fd not in (STDOUT, STDERR):
            return -EBADF
        if not self._ram.contains(buf, length):
            return -EFAULT
        self._output(self._ram.read(buf, length))
        return length

    def _read_u64(self, pa: int) -> int:
        value = self._ram.read_u64(pa)
        if value is None:
            raise IndexError(pa)
        return value

    def _respond(self, request: int, response: int) -> None:
        self._responses.append((request >> 48 << 48) | (response & PAYLOAD_MASK))

    def _deliver_response(self) -> None:
        """One response at a time, once the guest has consumed the last (fromhost == 0)."""
        if not self._responses or self.fromhost is None:
            self._responses.clear()
            return
        if self._ram.read_u64(self.fromhost) == 0:
            self._ram.write_u64(self.fromhost, self._responses.popleft())
