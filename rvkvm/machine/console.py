"""The host side of the guest console: output to stdout in order, input from stdin,
and the watchers CI users rely on (--expect, kernel panic)."""
from __future__ import annotations

import os
import re
import sys
import threading

PANIC_RE = re.compile(rb"Kernel panic - not syncing")
# how much recent output to keep for matching: a console line rarely exceeds this
MATCH_WINDOW = 8192


ESCAPE = 0x01                          # Ctrl-A, as QEMU: Ctrl-A x quits, Ctrl-A Ctrl-A sends one


class Console:
    def __init__(self, out=None, expect: str | None = None, on_match=None, on_panic=None,
                 on_quit=None):
        self._out = out if out is not None else sys.stdout.buffer
        self._expect = re.compile(expect.encode()) if expect else None
        self._on_match = on_match
        self._on_panic = on_panic
        self._tail = bytearray()
        self.matched = False
        self.captured = bytearray()        # everything the guest printed (tests read it)
        self._input = bytearray()
        self._input_lock = threading.Lock()
        self._sinks = []
        self._dirty = False
        self._on_quit = on_quit
        self._escaped = False

    def write(self, data: bytes) -> None:
        self.captured += data
        self._out.write(data)                 # flushed by the run loop after each slice
        self._dirty = True
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

    def flush(self) -> None:
        """Push output to the host. The run loop calls it between slices (at most a
        slice late, in order) instead of a write system call per guest character."""
        if self._dirty:
            self._dirty = False
            self._out.flush()

    # ---------------------------------------------------------------- input
    def add_input_sink(self, feed) -> None:
        """`feed(bytes)` is called from the input thread for every chunk typed."""
        self._sinks.append(feed)

    def read_nonblocking(self, max_bytes: int) -> bytes:
        """For the SBI console: take typed bytes that no UART has taken."""
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
        """In raw mode Ctrl-C goes to the guest; Ctrl-A x ends rvkvm (as QEMU's -nographic)."""
        out = bytearray()
        for byte in data:
            if self._escaped:
                self._escaped = False
                if byte in (ord("x"), ord("X")) and self._on_quit:
                    self._on_quit()
                    continue
                if byte == ESCAPE:
                    out.append(ESCAPE)
                continue
            if byte == ESCAPE:
                self._escaped = True
            else:
                out.append(byte)
        return bytes(out)

    def stop_input(self) -> None:
        restore = getattr(self, "_restore", None)
        if restore:
            restore()
            self._restore = None

    def _read_loop(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 256)
            except OSError:
                return
            if not data:
                return
            if self._interactive:
                data = self._filter_escape(data)
            if self._sinks:
                for feed in self._sinks:
                    feed(data)
            else:
                with self._input_lock:
                    self._input += data
