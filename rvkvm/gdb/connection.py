"""The TCP side of the stub: a listening socket on localhost, one gdb at a time, a
reader thread that turns bytes into protocol events (rsp.py) and notices Ctrl-C and
disconnects while the guest runs."""
from __future__ import annotations

import errno
import queue
import socket
import threading

from ..errors import RvkvmError
from . import rsp

LOCAL_HOSTS = {"": "127.0.0.1", "localhost": "127.0.0.1", "127.0.0.1": "127.0.0.1"}
DISCONNECTED = rsp.Event("disconnected")


class GdbSpecError(RvkvmError):
    """A --gdb value that names no usable TCP port."""


def parse_spec(spec: str) -> tuple[str, int]:
    """`tcp::PORT` or `tcp:localhost:PORT` (QEMU's -gdb syntax) -> (host, port)."""
    parts = spec.split(":")
    if len(parts) != 3 or parts[0] != "tcp":
        raise GdbSpecError(f"--gdb {spec!r}: expected tcp::PORT (e.g. tcp::1234)")
    host, port = parts[1], parts[2]
    if host not in LOCAL_HOSTS:
        raise GdbSpecError(f"--gdb {spec!r}: the stub listens on localhost only, not {host!r}")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise GdbSpecError(f"--gdb {spec!r}: the port must be a number from 0 to 65535, "
                           f"not {port!r}")
    return LOCAL_HOSTS[host], int(port)


class Listener:
    """Accepts gdb connections in a thread; `on_client(Client)` runs for each."""

    def __init__(self, spec: str):
        host, port = parse_spec(spec)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as err:
            self.sock.close()
            why = "is in use" if err.errno == errno.EADDRINUSE else f"cannot be used ({err.strerror})"
            raise GdbSpecError(f"--gdb {spec}: port {port} {why}") from None
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self._thread = None

    def start(self, on_client) -> None:
        self._thread = threading.Thread(target=self._accept_loop, args=(on_client,),
                                        name="rvkvm-gdb-listener", daemon=True)
        self._thread.start()

    def _accept_loop(self, on_client) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return                       # closed
            on_client(Client(conn))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Client:
    """One gdb connection. Events (packets, Ctrl-C, the disconnect) arrive in
    `events`; Ctrl-C and the disconnect also call `on_attention` at once, from the
    reader thread, so a running guest stops for them."""

    def __init__(self, conn: socket.socket):
        self.conn = conn
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.events: queue.Queue[rsp.Event] = queue.Queue()
        self.closed = False
        self.on_attention = lambda event: None
        self._send_lock = threading.Lock()
        self._last_sent = b""

    def start(self, on_attention) -> None:
        self.on_attention = on_attention
        threading.Thread(target=self._read_loop, name="rvkvm-gdb-reader", daemon=True).start()

    def _read_loop(self) -> None:
        parser = rsp.PacketParser()
        while True:
            try:
                data = self.conn.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.closed = True
                self.events.put(DISCONNECTED)
                self.on_attention(DISCONNECTED)
                return
            for event in parser.feed(data):
                if event.kind == "packet":
                    self._send_raw(b"+")
                    self.events.put(event)
                elif event.kind == "bad":
                    self._send_raw(b"-")          # gdb sends it again
                    self.events.put(event)
                elif event.kind == "nack":
                    self._send_raw(self._last_sent)
                elif event.kind == "interrupt":
                    self.events.put(event)
                    self.on_attention(event)

    def send(self, payload: bytes) -> None:
        packet = rsp.frame(payload)
        self._last_sent = packet
        self._send_raw(packet)

    def _send_raw(self, data: bytes) -> None:
        if self.closed or not data:
            return
        with self._send_lock:
            try:
                self.conn.sendall(data)
            except OSError:
                self.closed = True

    def next_event(self, timeout: float) -> rsp.Event | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.closed = True
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()
