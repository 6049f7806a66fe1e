"""A background thread that does a piece of work every few milliseconds, only while there is some.

Three parts of a worker look at their state on a timer rather than on every request: the query
watchdog (deadlines), the fairness table (batched charges) and the access lines (batched writes).
Each wakes its ticker when it has something pending, with its own lock held; the ticker then runs
the work under that lock every ``tick`` seconds until the work says nothing is left, and sleeps
until woken again, so an idle server has no thread waking up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class Ticker:
    def __init__(self, name: str, tick: float, lock: Any, work: Callable[[], bool]) -> None:
        """``work`` runs with ``lock`` held and returns whether anything is still pending."""
        self.name = name
        self.tick = tick
        self.lock = lock
        self.work = work
        self.stopped = False
        self._due = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Something is pending (called with the lock held, so the ticker cannot miss it)."""
        if not self._due.is_set():
            self._due.set()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self.stopped = True
        self._due.set()

    def _run(self) -> None:
        while not self.stopped:
            self._due.wait()
            time.sleep(self.tick)
            with self.lock:
                if self.stopped:
                    return
                if not self.work():
                    self._due.clear()
