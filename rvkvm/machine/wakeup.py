"""The run loop's doorbell: what a WFI sleep waits on.

threading.Event would do, but its wait() builds a Condition waiter in Python each
time, and an idle Linux guest sleeps 250 times a second. This is one lock, held
while nobody has rung: ring() releases it (from any thread), sleep() acquires it,
which both waits and re-arms in one C call."""
from __future__ import annotations

import _thread
import threading


class Wakeup:
    def __init__(self):
        self._lock = _thread.allocate_lock()
        self._lock.acquire()

    def ring(self) -> None:
        """Thread-safe, and cheap when it has already been rung."""
        try:
            self._lock.release()
        except RuntimeError:           # rung already (unlocked), by us or another thread
            pass

    def sleep(self, seconds: float | None) -> bool:
        """Until ring() or `seconds` (None: no limit); True if rung. A ring that came
        before the call ends it at once. Either way the next sleep waits again."""
        if seconds is None:
            return self._lock.acquire()
        return self._lock.acquire(timeout=min(max(0.0, seconds), threading.TIMEOUT_MAX))
