"""Access lines written in batches: one ``write`` for many lines, never a mixed line.

A ``write`` per request was a large share of a cached answer's cost: the call lets go of the
interpreter lock, and with many request threads every release is a switch between them. So each
process gathers its lines and writes them together, a batch at most ``PIPE_BUF`` bytes of whole
lines (a write that size goes onto a pipe in one piece, so the lines of the worker processes sharing
stderr never mix), at most ``FLUSH_SECONDS`` after the first line of the batch. What is left is
written when the process exits normally; a process killed outright loses at most that last batch.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from multiprocessing import util

from .runtime import PerProcess
from .ticker import Ticker

# the most one write puts on a pipe in one piece (POSIX guarantees at least 512; Linux 4096)
PIPE_BUF = 4096
# how late a line may be written
FLUSH_SECONDS = 0.05


class LineBatch:
    """The lines waiting to be written on one file descriptor by this process."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pid = os.getpid()
        self._parts: list[bytes] = []
        self._size = 0
        self._lock = threading.Lock()
        self._writer = Ticker("access-lines", FLUSH_SECONDS, self._lock, self._write_waiting)

    def add(self, line: bytes) -> None:
        """One line, ending in a newline, of less than ``PIPE_BUF`` bytes."""
        with self._lock:
            full = self._take() if self._size + len(line) > PIPE_BUF else None
            if not self._parts:  # the first line of a batch: have it written soon
                self._writer.wake()
            self._parts.append(line)
            self._size += len(line)
        if full:
            self._write(full)

    def flush(self) -> None:
        with self._lock:
            batch = self._take()
        if batch:
            self._write(batch)

    def _take(self) -> bytes:
        batch = b"".join(self._parts)
        self._parts, self._size = [], 0
        return batch

    def _write(self, batch: bytes) -> None:
        # stderr closed or full: the requests matter more than their log lines
        with contextlib.suppress(OSError):
            os.write(self.fd, batch)

    def _write_waiting(self) -> bool:
        """The writer's work (a write under the lock, every ``FLUSH_SECONDS`` at most)."""
        batch = self._take()
        if batch:
            self._write(batch)
        return False


_batches: PerProcess[int, LineBatch] = PerProcess()


def batch_for(fd: int) -> LineBatch:
    """This process's batch for ``fd`` (a forked worker starts its own)."""
    return _batches.get(fd, _new_batch)


def _new_batch(fd: int) -> LineBatch:
    batch = LineBatch(fd)
    # a normal exit writes what is left; a worker process of the server ends through
    # multiprocessing, which skips ``atexit`` but runs its own finalizers
    atexit.register(batch.flush)
    util.Finalize(None, batch.flush, exitpriority=100)
    return batch


def flush_all() -> None:
    """Write every waiting line of this process now."""
    for batch in _batches.mine():
        batch.flush()
