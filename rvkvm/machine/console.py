"""The host side of the guest console: output to stdout in order, input from stdin,
and the watchers CI users rely on (--expect, kernel panic).

Memory stays bounded whatever the guest prints: output goes straight to the host and
only the last MATCH_WINDOW bytes are kept, and only while a watcher needs them."""
from __future__ import annotations

import os
import re
import sys
import threading
import time

PANIC_RE = re.compile(rb"Kernel panic - not syncing")
# how much recent output to keep for matching: a console line rarely exceeds this
MATCH_WINDOW = 8192
# typed input waiting for the SBI console; the reader stops reading while it is full
INPUT_LIMIT = 64 * 1024

ESCAPE = 0x01                          # Ctrl-A, as QEMU: Ctrl-A x quits, Ctrl-A Ctrl-A sends one
# Ctrl-A <key>: (what it does, for Ctrl-A h and --help; the Console method doing it)
ESCAPE_KEYS = {
    ord("h"): ("print this help", "_print_keys"),
    ord("x"): ("exit rvkvm (status 0)", "_quit"),
    ESCAPE: ("send Ctrl-A to the guest", None),
}
KEY_NAMES = {ESCAPE: "C-a"}


def keys_help(newline: str = "\n") -> str:
    """The Ctrl-A keys, one per line, as QEMU's `C-a h` prints them."""
    return newline.join(f"C-a {KEY_NAMES.get(key, chr(key)):<4} {what}"
                        for key, (what, _) in ESCAPE_KEYS.items())


class Console:
    def __init__(self, out=None, expect: str | None = None, on_match=None, on_panic=None,
                 on_quit=None, on_output_error=None):
        """`on_output_error(exc)` is called once if the host stops taking output (a full
        disk, a closed pipe); output is dropped from then on."""
        self._out = out if out is not None else sys.stdout.buffer
        self._on_output_error = on_output_error
        self._expect = re.compile(expect.encode()) if expect else None
        self._on_match = on_match
        self._on_panic = on_panic
        self._tail = bytearray()
        self.matched = False
        self.sbi_input = False             # an SBI console may read input no device takes
        self._input = bytearray()
        self._input_lock = threading.Lock()
        self._sinks = []
        self._dirty = False
        self.on_pending = None             # called when output starts waiting for flush()
        self._on_quit = on_quit
        self._escaped = False

    def write(self, data: bytes) -> None:
        if self._out is not None:
            try:
                self._out.write(data)         # flushed by the run loop after each slice
            except OSError as err:
                self._output_failed(err)
            if not self._dirty:
                self._dirty = True
                if self.on_pending is not None:   # a run loop asleep in C must flush it
                    self.on_pending()
        if self._expect is None and self._on_panic is None:
            return
        self._tail += data
        if len(self._tail) > MATCH_WINDOW:
            del self._tail[:-MATCH_WINDOW]
        if self._expect is not None and not self.matched and self._expect.search(self._tail):
            self.matched = True
            if self._on_match:
                self._on_match()
        if self._on_panic is not None and PANIC_RE.search(self._tail):
            self._on_panic()
            self._on_panic = None

    @property
    def pending(self) -> bool:
        """Output is waiting for flush()."""
        return self._dirty

    def flush(self) -> None:
        """Push output to the host. The run loop calls it between slices (at most a
        slice late, in order) instead of a write system call per guest character."""
        if self._dirty and self._out is not None:
            self._dirty = False
            try:
                self._out.flush()
            except OSError as err:
                self._output_failed(err)

    def _output_failed(self, err: OSError) -> None:
        self._out = None
        if self._on_output_error:
            self._on_output_error(err)

    # ---------------------------------------------------------------- input
    def add_input_sink(self, feed, listening=None) -> None:
        """`feed(bytes)` is called from the input thread for every chunk typed.
        `listening()` says whether the device takes input now (None: always); while
        no sink listens and an SBI console exists (`sbi_input`), input waits for it."""
        self._sinks.append((feed, listening))

    def _route(self, data: bytes) -> None:
        """Typed input to the devices. With an SBI console, only to devices that listen
        and else to the SBI console (Linux's hvc0 while the 8250 driver has not opened
        the UART), as OpenSBI's getchar reads a UART that the kernel leaves alone."""
        if self.sbi_input:
            takers = [feed for feed, wants in self._sinks if wants is None or wants()]
        else:
            takers = [feed for feed, _ in self._sinks]
        with self._input_lock:
            if not takers:
                self._input += data
                return
            data, self._input = bytes(self._input) + data, bytearray()   # leftovers first
        for feed in takers:
            feed(data)

    def read_nonblocking(self, max_bytes: int) -> bytes:
        """For the SBI console: take typed bytes that no device has taken."""
        with self._input_lock:
            data = bytes(self._input[:max_bytes])
            del self._input[:max_bytes]
        return data

    def start_input(self, stream=None) -> None:
        """Read host input in a daemon thread; raw mode when it is a terminal."""
        stream = stream if stream is not None else sys.stdin
        try:
            fd = stream.fileno()
        except (AttributeError, ValueError, OSError):
            return
        self._restore = None
        self._interactive = os.isatty(fd)
        if self._interactive:
            import termios
            import tty
            saved = termios.tcgetattr(fd)
            tty.setraw(fd)
            self._restore = lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        threading.Thread(target=self._read_loop, args=(fd,), daemon=True).start()

    def _filter_escape(self, data: bytes) -> bytes:
        """In raw mode Ctrl-C goes to the guest; Ctrl-A <key> is for rvkvm (ESCAPE_KEYS,
        as QEMU's -nographic). An unknown key after Ctrl-A is dropped, as QEMU does."""
        out = bytearray()
        for byte in data:
            if self._escaped:
                self._escaped = False
                if byte == ESCAPE:
                    out.append(ESCAPE)
                else:
                    _, action = ESCAPE_KEYS.get(bytes((byte,)).lower()[0], (None, None))
                    if action:
                        getattr(self, action)()
                continue
            if byte == ESCAPE:
                self._escaped = True
            else:
                out.append(byte)
        return bytes(out)

    def _quit(self) -> None:
        if self._on_quit:
            self._on_quit()

    def _print_keys(self) -> None:
        """Ctrl-A h: the keys, on the terminal only (the guest and --expect never see it)."""
        if self._out is not None:
            try:
                self._out.write(("\r\n" + keys_help("\r\n") + "\r\n").encode())
                self._out.flush()
            except OSError as err:
                self._output_failed(err)

    def stop_input(self) -> None:
        restore = getattr(self, "_restore", None)
        if restore:
            restore()
            self._restore = None

    def _read_loop(self, fd: int) -> None:
        while True:
            while len(self._input) >= INPUT_LIMIT:     # the guest reads slower than we get it
                time.sleep(0.01)
            try:
                data = os.read(fd, 256)
            except OSError:
                return
            if not data:
                return
            if self._interactive:
                data = self._filter_escape(data)
            if data:
                self._route(data)
