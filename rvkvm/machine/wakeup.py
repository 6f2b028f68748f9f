"""The run loop's doorbell: what a WFI sleep waits on.

On Linux an eventfd, so that C code can wait on it too (the idle loop, cpu/intrhook.py:
`fd`); elsewhere one lock, held while nobody has rung (threading.Event would do, but
its wait() builds a Condition waiter in Python each time, and an idle Linux guest
sleeps 250 times a second). Either way ring() works from any thread, a ring that came
before a sleep ends it at once, and the next sleep waits again."""
from __future__ import annotations

import _thread
import os
import select
import threading
import weakref

_EVENTFD = getattr(os, "eventfd", None)


class Wakeup:
    def __init__(self):
        self.fd = None                 # the eventfd, for C code that waits on it
        if _EVENTFD is not None:
            try:
                self.fd = _EVENTFD(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            except OSError:
                self.fd = None
        if self.fd is not None:
            weakref.finalize(self, os.close, self.fd)
        else:
            self._lock = _thread.allocate_lock()
            self._lock.acquire()

    def ring(self) -> None:
        """Thread-safe, and cheap when it has already been rung."""
        if self.fd is not None:
            os.eventfd_write(self.fd, 1)
            return
        try:
            self._lock.release()
        except RuntimeError:           # rung already (unlocked), by us or another thread
            pass

    def sleep(self, seconds: float | None) -> bool:
        """Until ring() or `seconds` (None: no limit); True if rung."""
        if self.fd is not None:
            return self._sleep_fd(seconds)
        if seconds is None:
            return self._lock.acquire()
        return self._lock.acquire(timeout=min(max(0.0, seconds), threading.TIMEOUT_MAX))

    def _sleep_fd(self, seconds: float | None) -> bool:
        if seconds is not None:
            seconds = min(max(0.0, seconds), threading.TIMEOUT_MAX)
        if not select.select((self.fd,), (), (), seconds)[0]:
            return False
        try:
            os.eventfd_read(self.fd)   # re-arms: the counter goes back to 0
        except BlockingIOError:
            pass
        return True
