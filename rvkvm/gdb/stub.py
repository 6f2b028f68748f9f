"""The gdb remote stub: the run loop's hook (`before_slice`), the halted state in
which gdb's packets are served, and one handler per packet kind.

Threads: the listener and each client's reader only set flags and ask the machine to
stop (thread-safe); everything that touches the hart runs on the machine's thread,
inside `before_slice`, between two slices."""
from __future__ import annotations

import sys
import threading

from . import rsp
from .monitor import run_monitor
from .registers import UnknownRegister, read_register, register_size, write_register
from .runcontrol import RunControl
from .tdesc import PC_REGNUM, target_xml

SIGINT, SIGTRAP = 2, 5
RESUME = object()                       # a handler's answer: leave the halted state
WATCH_KINDS = {"2": "write", "3": "read", "4": "access"}
WATCH_REPLY = {"write": "watch", "read": "rwatch", "access": "awatch"}
MAX_MEMORY = rsp.MAX_PACKET // 2 - 16
POLL_SECONDS = 0.2                      # how often a blocked wait lets signals in
BAD_INPUT = (ValueError, IndexError, KeyError, UnicodeDecodeError)


def note(message: str) -> None:
    print(f"rvkvm: {message}", file=sys.stderr, flush=True)


def address(text: str) -> int:
    value = int(text, 16)
    if not 0 <= value < 1 << 64:
        raise ValueError(f"{text!r} is not a 64-bit address")
    return value


def stop_signal(sig: int) -> bytes:
    return b"S%02x" % sig


class Debugger:
    def __init__(self, target, listener, wait: bool):
        self.target = target
        self.control = RunControl(target)
        self.listener = listener
        self.client = None
        self.last_stop = stop_signal(SIGTRAP)
        self._wait_first = wait
        self._new_client = None
        self._client_came = threading.Event()
        self._attention = False             # a client came, sent Ctrl-C or went away
        self._interrupted = False
        self._bad_packets = 0
        listener.start(self._on_client)

    # ------------------------------------------------------------------ other threads
    def _on_client(self, client) -> None:
        if self._new_client is not None or (self.client is not None and not self.client.closed):
            note("a second gdb connected while one is attached: refused")
            client.close()
            return
        self._new_client = client
        self._attention = True
        client.start(self._on_client_event)
        self._client_came.set()
        self.target.request_stop()

    def _on_client_event(self, event) -> None:
        if event.kind == "interrupt":
            self._interrupted = True
        self._attention = True
        self.target.request_stop()

    # ------------------------------------------------------------------ the run loop's hook
    def before_slice(self, waiting: bool = False) -> bool:
        """Called by the run loop before each slice: halts and serves gdb when it asks
        for it or the hart reached a breakpoint or watchpoint. `waiting`: the hart is
        in WFI (it is not about to execute the instruction at pc). True: it halted,
        which ends a WFI (gdb was shown pc after it and resumes from there; WFI is a
        hint, so waking early is always allowed)."""
        if self._wait_first:
            self._wait_first = False
            self._wait_for_client()
        if not self.may_halt():
            return False
        reply, announce = self._stop_reason(waiting)
        if reply is None:
            return False
        self._halt(reply, announce)
        return True

    def may_halt(self) -> bool:
        """Whether before_slice could halt now (a run loop may prepare for it)."""
        return bool(self._wait_first or self._attention or self.control.breakpoints
                    or self.control.watch_hit)

    def _wait_for_client(self) -> None:
        note(f"waiting for gdb on localhost:{self.listener.port}")
        while not self._client_came.wait(POLL_SECONDS):
            pass                                # a timed wait lets Ctrl-C through

    def _stop_reason(self, waiting: bool) -> tuple[bytes | None, bool]:
        """(stop reply, whether gdb waits for it now) or (None, False): run on."""
        self._attention = False
        if self._new_client is not None:
            self.client, self._new_client = self._new_client, None
            note("gdb connected")
            self._interrupted = False
            return stop_signal(SIGTRAP), False      # gdb asks with '?'
        if self.client is None:
            return None, False
        if self.client.closed:
            self._lose_client("gdb disconnected; the guest runs on")
            return None, False
        wp = self.control.take_watch_hit()
        if wp is not None:
            return self._watch_reply(wp), True
        if self._interrupted:
            self._interrupted = False
            return stop_signal(SIGINT), True
        if not waiting and self.control.at_breakpoint():
            return stop_signal(SIGTRAP), True
        return None, False

    def _halt(self, reply: bytes, announce: bool) -> None:
        self.target.flush_console()
        self.last_stop = reply
        if announce:
            self.client.send(reply)
        self._serve()

    def _serve(self) -> None:
        """The halted state: answer packets until one resumes the guest."""
        while True:
            client = self.client
            if client is None:
                return
            event = client.next_event(POLL_SECONDS)
            if event is None:
                continue
            if event.kind == "disconnected":
                self._lose_client("gdb disconnected; the guest runs on")
                return
            if event.kind == "bad":
                self._bad_packets += 1
                if self._bad_packets == 1:
                    note(f"gdb stub: a packet with a bad checksum ({event.payload[:20]!r}...) "
                         "was refused")
                continue
            if event.kind != "packet":
                continue                            # Ctrl-C while halted: nothing to stop
            outcome = self._dispatch(event.payload)
            if outcome is RESUME:
                self._interrupted = False
                return
            if outcome is not None:
                client.send(outcome)

    def _lose_client(self, message: str) -> None:
        self.control.clear()
        if self.client is not None:
            self.client.close()
        self.client = None
        note(message)

    def guest_ended(self, status: int) -> None:
        """The machine stopped for good: tell gdb the exit status, if one listens."""
        if self.client is not None and not self.client.closed:
            self.client.send(b"W%02x" % (status & 0xFF))
            self.client.close()
        self.client = None
        self.listener.close()

    # ------------------------------------------------------------------ packets
    def _dispatch(self, payload: bytes):
        if not payload:
            return b""
        kind = chr(payload[0])
        handler = PACKETS.get(kind)
        if handler is None:
            return b""                              # the protocol's "not supported"
        try:
            if kind == "X":                         # binary data: keep the bytes
                return handler(self, payload[1:])
            return handler(self, payload[1:].decode("latin-1"))
        except UnknownRegister:
            return b"E45"
        except BAD_INPUT:
            return b"E01"

    def _watch_reply(self, wp) -> bytes:
        return b"T%02x%s:%x;" % (SIGTRAP, WATCH_REPLY[wp.kind].encode(), wp.addr)

    def _after_step(self) -> bytes | object:
        if self.target.exit_pending():
            return RESUME                           # the guest ended: the loop reports it
        wp = self.control.take_watch_hit()
        return self._watch_reply(wp) if wp is not None else stop_signal(SIGTRAP)

    # each handler gets the payload after its letter
    def _query_stop(self, _):
        return self.last_stop

    def _read_gprs(self, _):
        t = self.target
        values = [t.read_gpr(n) for n in range(32)] + [t.read_pc()]
        return "".join(rsp.int_to_hex_le(v, 8) for v in values).encode()

    def _write_gprs(self, args: str):
        values = [rsp.hex_to_int_le(args[i:i + 16]) for i in range(0, 16 * 33, 16)]
        if len(args) < 16 * 33:
            raise ValueError("G packet too short")
        for n in range(1, 32):
            self.target.write_gpr(n, values[n])
        self.target.write_pc(values[PC_REGNUM])
        return b"OK"

    def _read_register(self, args: str):
        regnum = int(args, 16)
        size = register_size(regnum)
        value = read_register(self.target, regnum)
        if value is None:
            return b"x" * (2 * size)
        return rsp.int_to_hex_le(value, size).encode()

    def _write_register(self, args: str):
        regnum_text, value_text = args.split("=")
        regnum = int(regnum_text, 16)
        register_size(regnum)
        ok = write_register(self.target, regnum, rsp.hex_to_int_le(value_text))
        return b"OK" if ok else b"E01"

    def _read_memory(self, args: str):
        addr_text, length_text = args.split(",")
        addr, length = address(addr_text), int(length_text, 16)
        data = self.target.read_memory(addr, min(length, MAX_MEMORY))
        return b"E14" if data is None else data.hex().encode()

    def _write_memory(self, args: str):
        where, hexdata = args.split(":")
        addr_text, length_text = where.split(",")
        addr, length = address(addr_text), int(length_text, 16)
        data = bytes.fromhex(hexdata)
        if len(data) != length:
            raise ValueError("M packet length mismatch")
        return b"OK" if self.target.write_memory(addr, data) else b"E14"

    def _write_memory_binary(self, args: bytes):
        where, _, raw = args.partition(b":")
        addr_text, length_text = where.decode("latin-1").split(",")
        addr, length = address(addr_text), int(length_text, 16)
        data = rsp.unescape(raw)
        if len(data) != length:
            raise ValueError("X packet length mismatch")
        if not length:
            return b"OK"                            # gdb probing for X support
        return b"OK" if self.target.write_memory(addr, data) else b"E14"

    def _continue(self, _):
        if self.control.pass_completed_access():
            return RESUME
        if self.control.at_breakpoint():            # step off it first: it would stop again
            self.control.step()
            reply = self._after_step()
            if reply is RESUME or reply != stop_signal(SIGTRAP):
                return reply
        return RESUME

    def _step(self, _):
        self.control.step()
        return self._after_step()

    def _continue_signal(self, _):
        return self._continue("")

    def _step_signal(self, _):
        return self._step("")

    def _kill(self, _):
        self.control.clear()
        self.target.request_exit(0, "killed from gdb")
        note("killed from gdb")
        return RESUME

    def _detach(self, _):
        self.client.send(b"OK")
        self._lose_client("gdb detached; the guest runs on")
        return RESUME

    def _insert_point(self, args: str):
        return self._point(args, insert=True)

    def _remove_point(self, args: str):
        return self._point(args, insert=False)

    def _point(self, args: str, insert: bool):
        kind, addr_text, size_text = args.split(";")[0].split(",")
        addr, size = address(addr_text), int(size_text, 16)
        c = self.control
        if kind in ("0", "1"):                      # software and hardware: both exits
            (c.add_breakpoint if insert else c.remove_breakpoint)(addr)
            return b"OK"
        if kind in WATCH_KINDS:
            if not insert:
                c.remove_watchpoint(WATCH_KINDS[kind], addr, size)
                return b"OK"
            return b"OK" if c.add_watchpoint(WATCH_KINDS[kind], addr, size) else b"E22"
        return b""

    def _thread_select(self, _):
        return b"OK"

    def _query(self, args: str):
        name, _, rest = args.partition(":")
        if name.startswith("Rcmd,"):
            return self._monitor(bytes.fromhex(name[5:]).decode("utf-8", "replace"))
        if name == "Xfer" and rest.startswith("features:read:"):
            return self._read_features(rest[len("features:read:"):])
        return QUERIES.get(name, b"")

    def _read_features(self, args: str):
        annex, _, span = args.partition(":")
        if annex != "target.xml":
            return b"E00"
        offset, length = (int(x, 16) for x in span.split(","))
        chunk = target_xml()[offset:offset + length]
        more = offset + length < len(target_xml())
        return (b"m" if more else b"l") + chunk

    def _monitor(self, line: str):
        output = run_monitor(self.target, line)
        self.client.send(b"O" + output.encode().hex().encode())
        return b"OK"

    def _verbose(self, args: str):
        if args == "Cont?":
            return b"vCont;c;C;s;S"
        if args.startswith("Cont;"):
            action = args[5:].split(";")[0].split(":")[0]
            handler = {"c": self._continue, "C": self._continue, "s": self._step,
                       "S": self._step}.get(action[:1])
            return handler("") if handler else b"E01"
        if args.startswith("Kill"):
            self.client.send(b"OK")
            return self._kill("")
        return b""


QUERIES = {
    "Supported": b"PacketSize=%x;qXfer:features:read+;vContSupported+" % rsp.MAX_PACKET,
    "Attached": b"1",                   # gdb detaches on quit, the guest runs on
    "C": b"QC1",
    "fThreadInfo": b"m1",
    "sThreadInfo": b"l",
    "Symbol": b"OK",
}

PACKETS = {
    "?": Debugger._query_stop,
    "g": Debugger._read_gprs, "G": Debugger._write_gprs,
    "p": Debugger._read_register, "P": Debugger._write_register,
    "m": Debugger._read_memory, "M": Debugger._write_memory, "X": Debugger._write_memory_binary,
    "c": Debugger._continue, "s": Debugger._step,
    "C": Debugger._continue_signal, "S": Debugger._step_signal,
    "k": Debugger._kill, "D": Debugger._detach,
    "Z": Debugger._insert_point, "z": Debugger._remove_point,
    "H": Debugger._thread_select, "T": Debugger._thread_select,
    "q": Debugger._query, "v": Debugger._verbose,
}
