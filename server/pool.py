"""The web worker's side of the query processes (``executor.py``): start, lend, time out, kill.

Each web worker owns a pool of at most ``size`` query processes (one per request thread, plus one
for the server's own look-ups), started on demand after the fork. A request borrows one, sends its
query and waits for the answer with a plain blocking read: no timer per query. The pool's watchdog
thread looks at the waiting queries every ``TICK`` seconds and kills the process of one whose
deadline has passed, which is the only way to stop pyoxigraph; the read then ends, the request
answers a timeout, and a fresh process is started in the background for the next request.

A pool may run its processes at a lower CPU priority (``nice``): the endpoint's user queries run in
such a pool, apart from the one the linked-data pages use, so that heavy queries take only the CPU
the pages leave.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import affinity
from . import executor as protocol
from .ticker import Ticker

log = logging.getLogger(__name__)

SCRIPT = str(Path(protocol.__file__).resolve())
# seconds between the watchdog's looks at the waiting queries: how late a timeout may be
TICK = 0.02


class QueryTimeout(Exception):
    """The query used up its time; its process was killed."""


class Busy(Exception):
    """No query process became free in time."""


class QueryFailed(Exception):
    """The query process answered with an error: ``kind`` is syntax, bad_request,
    not_acceptable, store or internal."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class Answer:
    kind: str  # solutions, boolean, graph
    media_type: str
    truncated: bool
    body: bytes | None  # the whole body when it was small
    chunks: Iterator[bytes] | None = None  # otherwise the body, streamed
    # CPU seconds the query process spent on it, as it reported (for a streamed answer, known once
    # the stream has ended); None where it is not known
    cpu_seconds: float | None = None

    def whole_body(self) -> bytes:
        """The body, read to its end when it is streamed."""
        return self.body if self.body is not None else b"".join(self.chunks or ())


class Executor:
    """One query process and the socket to it."""

    def __init__(self, store_path: str, start_timeout: float, nice: int = 0) -> None:
        mine, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", SCRIPT, store_path, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            theirs.close()
        affinity.free(self.process.pid)
        if nice:
            # set from here, at once: the process's own start-up (an interpreter, the store) is
            # already work the pages should not wait for
            with contextlib.suppress(OSError):
                os.setpriority(
                    os.PRIO_PROCESS, self.process.pid, os.getpriority(os.PRIO_PROCESS, 0) + nice
                )
        self.sock = mine
        self.reader = protocol.Reader(mine)
        self.sealed = False
        self.timed_out = False  # set by the watchdog when it kills the process
        mine.settimeout(start_timeout)
        try:
            hello = self.reader.read()
        except TimeoutError:
            self.kill()
            raise QueryFailed("store", "the query process did not start in time") from None
        except (EOFError, OSError) as error:
            self.kill()
            raise QueryFailed("store", "the query process ended while starting") from error
        mine.settimeout(None)
        if hello.startswith(protocol.ERROR):
            self.kill()
            kind, message = pickle.loads(hello[1:])
            raise QueryFailed(kind, message)
        self.sealed = hello.endswith(b"sealed")

    def send(self, message: bytes) -> None:
        try:
            protocol.send(self.sock, message)
        except OSError as error:
            raise QueryFailed("internal", "the query process ended unexpectedly") from error

    def receive(self) -> bytes:
        """The next message; QueryTimeout when the watchdog killed the process meanwhile."""
        try:
            return self.reader.read()
        except (EOFError, OSError) as error:
            if self.timed_out:
                raise QueryTimeout from None
            raise QueryFailed("internal", "the query process ended unexpectedly") from error

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            log.warning("query process %s did not stop", self.process.pid)
        self.sock.close()


class ExecutorPool:
    def __init__(
        self, store_path: str, size: int, start_timeout: float = 30.0, nice: int = 0
    ) -> None:
        self.store_path = store_path
        self.size = max(1, size)
        self.start_timeout = start_timeout
        self.nice = nice  # added to the processes' CPU niceness: higher runs at lower priority
        self.pid = os.getpid()
        self._idle: list[Executor] = []
        self._live = 0  # started or starting
        self._lock = threading.Condition()
        self._closed = False
        # the processes being waited for, and until when; the watchdog kills those overdue
        self._waiting: dict[Executor, float] = {}
        self._watch_lock = threading.Lock()
        self._watchdog = Ticker("query-watchdog", TICK, self._watch_lock, self._kill_overdue)

    # lending
    def _acquire(self, deadline: float) -> Executor:
        with self._lock:
            while not self._idle and self._live >= self.size:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    raise Busy
                self._lock.wait(remaining)
            if self._idle:
                return self._idle.pop()
            self._live += 1
        try:
            return Executor(self.store_path, self.start_timeout, self.nice)
        except BaseException:
            with self._lock:
                self._live -= 1
                self._lock.notify()
            raise

    def _release(self, executor: Executor) -> None:
        with self._lock:
            if self._closed:
                executor.kill()
                self._live -= 1
                return
            self._idle.append(executor)
            self._lock.notify()

    def _discard(self, executor: Executor) -> None:
        """Forget a killed process and start its successor now, not on the next request."""
        executor.kill()
        with self._lock:
            self._live -= 1
            self._lock.notify()
        threading.Thread(target=self._replace, daemon=True).start()

    def _replace(self) -> None:
        with self._lock:
            if self._closed or self._live >= self.size:
                return
            self._live += 1
        try:
            executor = Executor(self.store_path, self.start_timeout, self.nice)
        except QueryFailed as error:
            log.warning("could not start a query process: %s", error.message)
            with self._lock:
                self._live -= 1
                self._lock.notify()
            return
        self._release(executor)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._live -= len(idle)
            self._lock.notify_all()
        with self._watch_lock:
            self._watchdog.stop()
        for executor in idle:
            executor.kill()

    # deadlines
    def _kill_overdue(self) -> bool:
        """The watchdog's work: kill the processes past their deadline; whether any query is
        still waited for."""
        now = time.monotonic()
        for executor, deadline in self._waiting.items():
            if deadline <= now and not executor.timed_out:
                executor.timed_out = True
                with contextlib.suppress(OSError):
                    executor.process.kill()
        return bool(self._waiting)

    def _receive(self, executor: Executor, deadline: float) -> bytes:
        """The next message from ``executor``, waited for until ``deadline`` at most."""
        with self._watch_lock:
            self._waiting[executor] = deadline
            self._watchdog.wake()
        try:
            return executor.receive()
        finally:
            with self._watch_lock:
                del self._waiting[executor]

    def _done(self, executor: Executor) -> None:
        """Back to the pool, unless the watchdog killed it as its answer came."""
        if executor.timed_out:
            self._discard(executor)
        else:
            self._release(executor)

    # running
    def run(self, request: dict[str, Any], timeout: float) -> Answer:
        """Send one query; the answer whole, or its first part and a stream of the rest."""
        deadline = time.monotonic() + timeout
        executor = self._acquire(deadline)
        try:
            executor.send(pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))
            message = self._receive(executor, deadline)
        except BaseException:
            self._discard(executor)
            raise
        try:
            answer = opening_answer(message)
        except QueryFailed:
            self._done(executor)
            raise
        if answer.body is not None:
            self._done(executor)
            return answer
        answer.chunks = self._stream(executor, deadline - time.monotonic(), answer)
        return answer

    def _stream(self, executor: Executor, budget: float, answer: Answer) -> Iterator[bytes]:
        """The chunks of a large answer. Only the time spent waiting for the process counts
        against the budget, not the time a slow client takes to read. The answer's CPU time is
        set when the stream has ended (unknown when it stopped short)."""
        finished = False

        def reported(message: bytes) -> Exception:
            # the process reported the error and waits for its next query: keep it
            nonlocal finished
            finished = True
            return reported_failure(message)

        try:
            answer.cpu_seconds = yield from read_stream(
                lambda deadline: self._receive(executor, deadline), budget, reported
            )
            finished = True
        finally:
            if finished:
                self._done(executor)
            else:
                # timed out, failed, or the client went away: the process may still be writing
                self._discard(executor)


def reported_failure(message: bytes) -> QueryFailed:
    """The error an ``X`` message reports."""
    kind, text = pickle.loads(message[1:])
    return QueryFailed(kind, text)


def opening_answer(
    message: bytes, failure: Callable[[bytes], Exception] = reported_failure
) -> Answer:
    """The answer the first message of a query's answer opens: whole, with its cost (``F``), or
    its head alone, the body to follow in ``D`` messages (``H``); an error (``X``) raises
    ``failure(message)``."""
    tag = message[:1]
    if tag == protocol.ERROR:
        raise failure(message)
    kind, media_type, truncated, start = protocol.read_header(message)
    if tag != protocol.FULL:
        return Answer(kind, media_type, truncated, None)
    cost = protocol.read_cost(message)
    return Answer(kind, media_type, truncated, message[start:], cpu_seconds=cost)


def close_chunks(chunks: object) -> None:
    """Close a body or stream of chunks that can be closed (a generator, a response body)."""
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def read_stream(
    receive: Callable[[float], bytes], budget: float, failure: Callable[[bytes], Exception]
) -> Generator[bytes, None, float | None]:
    """The chunks of a streamed answer (``D`` messages) up to its ``E``, then the answer's cost;
    an error message raises ``failure(message)``. ``receive(deadline)`` waits for the next
    message: only the time spent waiting counts against the budget, not the time a slow client
    takes to read."""
    while True:
        started = time.monotonic()
        message = receive(started + budget)
        budget -= time.monotonic() - started
        tag = message[:1]
        if tag == protocol.DATA:
            yield message[1:]
        elif tag == protocol.END:
            return protocol.read_cost(message)
        else:
            raise failure(message)
