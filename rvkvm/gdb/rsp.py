"""GDB remote serial protocol framing: `$payload#checksum` packets, acknowledgements,
the Ctrl-C byte, binary escapes and hex. Pure functions and one incremental parser: no
sockets here (connection.py owns those).

No PyPI library fits this end of the protocol (README "Debugging with gdb" says why);
the framing is these few dozen lines."""
from __future__ import annotations

from dataclasses import dataclass

INTERRUPT = 0x03                      # Ctrl-C while the target runs
ESCAPE = 0x7D                         # '}': the next byte is xor 0x20 (binary data)
MAX_PACKET = 0x4000                   # what qSupported announces as PacketSize


@dataclass(frozen=True)
class Event:
    """What the parser found: kind is "packet" (payload), "interrupt", "ack",
    "nack" or "bad" (a packet whose checksum is wrong; payload kept for the message)."""
    kind: str
    payload: bytes = b""


def checksum(payload: bytes) -> int:
    return sum(payload) & 0xFF


def frame(payload: bytes) -> bytes:
    """`$payload#cs`, with the bytes the protocol reserves escaped."""
    body = escape(payload)
    return b"$" + body + b"#" + b"%02x" % checksum(body)


def escape(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in b"$#}*":
            out += bytes((ESCAPE, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """Binary data of an X packet: `}` escapes, as gdb sends them."""
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == ESCAPE:
            b = next(it, None)
            if b is None:
                raise ValueError("binary data ends in an escape byte")
            b ^= 0x20
        out.append(b)
    return bytes(out)


def expand_rle(data: bytes) -> bytes:
    """Run-length encoding (`X*n`: repeat X n-29 more times). gdb never sends it,
    but the protocol allows it in any packet."""
    if b"*" not in data:
        return data
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == ord("*") and out and i + 1 < len(data):
            out += bytes((out[-1],)) * (data[i + 1] - 29)
            i += 2
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


class PacketParser:
    """Feed it bytes as they arrive; it returns the events they complete. Bytes
    outside a packet other than acks and Ctrl-C are noise, and are dropped."""

    def __init__(self):
        self._buf = bytearray()
        self._in_packet = False
        self._checksum_left = -1           # >= 0: reading the two checksum digits

    def feed(self, data: bytes) -> list[Event]:
        events = []
        for b in data:
            event = self._byte(b)
            if event is not None:
                events.append(event)
        return events

    def _byte(self, b: int) -> Event | None:
        if not self._in_packet:
            if b == ord("$"):
                self._in_packet, self._buf = True, bytearray()
            elif b == INTERRUPT:
                return Event("interrupt")
            elif b == ord("+"):
                return Event("ack")
            elif b == ord("-"):
                return Event("nack")
            return None
        if self._checksum_left < 0:
            if b == ord("#"):
                self._checksum_left, self._sum = 2, bytearray()
            elif len(self._buf) >= 2 * MAX_PACKET:  # runaway garbage: give up on it
                self._in_packet = False
                return Event("bad", bytes(self._buf[:40]))
            else:
                self._buf.append(b)
            return None
        self._sum.append(b)
        self._checksum_left -= 1
        if self._checksum_left:
            return None
        self._in_packet, self._checksum_left = False, -1
        payload = bytes(self._buf)
        try:
            good = int(self._sum, 16) == checksum(payload)
        except ValueError:
            good = False
        return Event("packet", expand_rle(payload)) if good else Event("bad", payload[:40])


def hex_to_int_le(text: str) -> int:
    """A register value as gdb sends it: target byte order (little-endian) in hex."""
    return int.from_bytes(bytes.fromhex(text), "little")


def int_to_hex_le(value: int, size: int) -> str:
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little").hex()
