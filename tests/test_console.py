"""The console's input path: typed bytes reach the device the guest reads, the SBI
console included (console_getchar, DBCN read), as a real S-mode guest sees it."""
from __future__ import annotations

import os
import threading

from conftest import GUESTS_DIR
from rvkvm.machine.console import Console

SBI_CONSOLE = GUESTS_DIR / "sbi_console.elf"


class NullOut:
    def write(self, data):
        return len(data)

    def flush(self):
        pass


def typed_into(console: Console, data: bytes) -> None:
    """Feed `data` through the console's input thread, as typing would, and wait
    until the thread has seen the end of input."""
    read_end, write_end = os.pipe()
    done = threading.Event()
    loop = console._read_loop
    console._read_loop = lambda fd: (loop(fd), done.set())
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        console.start_input(stream)
        os.write(write_end, data)
        os.close(write_end)
        assert done.wait(30), "the input thread never saw the end of input"


def test_input_goes_to_the_uart_that_listens():
    console, got = Console(NullOut()), []
    console.sbi_input = True
    console.add_input_sink(got.append, listening=lambda: True)
    typed_into(console, b"ls\n")
    assert b"".join(got) == b"ls\n"
    assert console.read_nonblocking(100) == b""


def test_input_waits_for_the_sbi_console_while_no_device_listens():
    """Linux on hvc0 (SBI) never enables the UART's receive interrupt: the bytes must
    go to the SBI console, not into a UART nobody reads."""
    console, got = Console(NullOut()), []
    console.sbi_input = True
    console.add_input_sink(got.append, listening=lambda: False)
    typed_into(console, b"abc")
    assert got == []
    assert console.read_nonblocking(2) == b"ab"
    assert console.read_nonblocking(100) == b"c"


def test_without_an_sbi_console_every_device_gets_input():
    """Bare-metal guests poll the UART without enabling its interrupt."""
    console, got = Console(NullOut()), []
    console.add_input_sink(got.append, listening=lambda: False)
    typed_into(console, b"k")
    assert got == [b"k"]


def test_a_real_guest_reads_typed_input_through_sbi(rvkvm):
    """sbi_console.S: legacy console_getchar until a byte comes, DBCN console_read for
    the rest, both echoed (the firmware's input buffer used to stay empty: the UART
    took every byte, and the guest spun until --timeout)."""
    proc = rvkvm("boot", "--timeout", 30, SBI_CONSOLE, input=b"ab")
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert proc.stdout == "getchar=a read=b\n"
