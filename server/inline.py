"""Light queries the web worker runs itself, once a query process has shown they are light.

A query goes to a query process because nothing else can stop it at the time limit. But most
queries take a fraction of a millisecond, and the trip there and back (two messages, two process
wake-ups) costs several times the query. The store is read-only, so a query costs the same every
time it runs on the same build: one that a query process ran within ``max_seconds`` of CPU time
will take about as long again. (Not so for a query calling ``NOW()``, ``RAND()`` and the like: the
store never brings those here, ``querytext.QueryText.varies``.) The worker remembers such queries
(their text and dataset, per build, a bounded set) and runs them itself when they come again, on
its own read-only handle on the store, through the same answer-writing code as the query processes
(``executor.answer``): the same formats, caps and errors. Every other query, and every query the
first time, goes to a query process. The first run also proved the query makes no outbound
request: it ran in the sandboxed process.

Where the worker runs a known query depends on what it cost. One of a few milliseconds
(``DIRECT_SECONDS``) runs on the request's own thread: handing it over would cost a good share of
it. A costlier one runs on one of the worker's query threads (``QueryThreads``), at the low CPU
priority of the query processes, so that the pages' requests keep their priority over it. Threads of
one process share its caches and switch between each other cheaply: the same query costs 10 % less
CPU time on the threads of two processes than in eight processes side by side (a label search over
1M triples, 30 against 33.5 ms, measured on two cores). No thread can stop a query: a request whose
time limit passes while its query still waits for a thread or runs answers a timeout at once, the
query not yet started never runs, and one already running ends within the cost it was known for.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitedTooLong
from typing import Any, NamedTuple

import pyoxigraph as ox

from . import executor as protocol
from .memorycopy import MemoryCopy
from .pool import Answer, QueryFailed, QueryTimeout, opening_answer
from .querytext import scan
from .runtime import PerProcess

log = logging.getLogger(__name__)

# queries remembered per worker, and the longest query text remembered (a few KiB at most)
ENTRIES = 2048
MAX_QUERY_CHARS = 4096
# a known query that cost more CPU time than this runs on a query thread of the worker, not on the
# request's: the hand-off (two thread wake-ups, tens of microseconds) is small next to it
DIRECT_SECONDS = 0.01
# Oxigraph parses and evaluates recursively. The request's own thread is the HTTP server's, with a
# 2 MiB stack: a chain of 2,000 operators overflows it, and that kills the whole worker. So only
# a shallow query runs there (1,000 chained operators measured safe); the query threads get a
# stack larger than the query processes' 8 MiB, where every known query already ran once
DIRECT_MAX_OPERATORS = 200
DIRECT_MAX_NESTING = 32
# and short: a backstop should the scan miss a construct's depth (the deepest per character seen,
# a DESCRIBE list, needed 2,800 characters to overflow that stack)
DIRECT_MAX_CHARS = 1024
QUERY_THREAD_STACK = 64 * 1024 * 1024

Key = tuple[Any, ...]


class Known(NamedTuple):
    """What the first run of a light query showed."""

    truncated: bool  # its answer was cut at the row cap
    cost: float  # CPU seconds
    shallow: bool = False  # its parse is shallow enough for the request's own thread
    # too costly on disk to run in the worker: run here only on the copy in memory
    memory_only: bool = False


def query_key(message: dict[str, Any]) -> Key:
    """What decides a query's work: its text and its dataset, not the format of the answer."""
    default, named = message.get("default_graphs"), message.get("named_graphs")
    return (
        message["query"],
        bool(message.get("union")),
        None if default is None else tuple(default),
        None if named is None else tuple(named),
    )


class InlineQueries:
    """The light queries of one worker, and its own handle on the store to run them."""

    def __init__(
        self,
        store_path: str,
        max_seconds: float,
        threads: int = 1,
        nice: int = 0,
        entries: int = ENTRIES,
        memory_quads: int = 0,
        memory_max_seconds: float = 0.0,
    ) -> None:
        self.store_path = store_path
        self.memory_quads = memory_quads  # copied into memory up to this size (``memorycopy``)
        self.max_seconds = max_seconds
        # what a query may have cost a query process to run here on the copy in memory, where
        # the costliest queries on disk (those that read many terms' text) cost a fraction: the
        # incoming links of a hub, sorted, over 100k triples, took 340 ms on disk and 24 ms there
        self.memory_max_seconds = max(max_seconds, memory_max_seconds if memory_quads > 0 else 0)
        self.threads = max(1, threads)  # the query threads of each worker
        self.nice = nice  # their niceness, added to the worker's
        self.entries = entries
        self._light: OrderedDict[Key, Known] = OrderedDict()
        self._stores: PerProcess[str, ox.Store] = PerProcess()
        self._copies: PerProcess[str, MemoryCopy] = PerProcess()
        self._pools: PerProcess[str, QueryThreads] = PerProcess()
        self._lock = threading.Lock()

    def known(self, key: Key) -> Known | None:
        """What the first run of a light query showed; None for a query not known to be light,
        or light in memory only while this worker has no copy there yet."""
        known = self._light.get(key)
        if known is not None and known.memory_only and self.memory_copy().start().store is None:
            return None
        return known

    def learn(self, key: Key, answer: Answer) -> None:
        """Remember a query a query process answered whole within the limit."""
        cpu = answer.cpu_seconds
        if (
            cpu is None
            or cpu > self.memory_max_seconds
            or answer.body is None
            or len(key[0]) > MAX_QUERY_CHARS
        ):
            return
        facts = scan(key[0])
        shallow = (
            len(key[0]) <= DIRECT_MAX_CHARS
            and facts.operators <= DIRECT_MAX_OPERATORS
            and facts.nesting <= DIRECT_MAX_NESTING
        )
        with self._lock:
            self._light[key] = Known(answer.truncated, cpu, shallow, cpu > self.max_seconds)
            while len(self._light) > self.entries:
                self._light.popitem(last=False)

    def run(self, message: dict[str, Any], known: Known, timeout: float) -> Answer:
        """The answer, as a query process would give it, or ``QueryTimeout`` after ``timeout``
        seconds; its cost is the CPU time of the thread that ran it. An answer that was under the
        row cap is so again now."""
        if not known.truncated:
            message = {**message, "small": True}
        job = functools.partial(_measured, self._handle(), message)
        if known.cost <= DIRECT_SECONDS and known.shallow:
            answer = job()
        else:
            answer = self._pools.get("queries", self._new_threads).run(job, timeout)
        if known.memory_only and (answer.cpu_seconds or 0.0) > self.max_seconds:
            self.forget(query_key(message))  # no lighter here: back to the query processes
        return answer

    def forget(self, key: Key) -> None:
        with self._lock:
            self._light.pop(key, None)

    def _new_threads(self, _name: str) -> QueryThreads:
        return QueryThreads(self.threads, self.nice)

    def memory_copy(self) -> MemoryCopy:
        """This worker's copy of the store, started on first use (after the fork)."""
        return self._copies.get(self.store_path, self._new_copy)

    def _new_copy(self, path: str) -> MemoryCopy:
        return MemoryCopy(path, self.memory_quads)

    def _handle(self) -> ox.Store:
        """The copy in memory once it is whole, else the worker's read-only handle on the disk,
        opened on its first light query (after the fork)."""
        WORKER_NETWORK.close_if_armed()
        copied = self.memory_copy().start().store
        if copied is not None:
            return copied
        return self._stores.get(self.store_path, ox.Store.read_only)


def memory_copy_of(store: object) -> MemoryCopy | None:
    """The worker's copy in memory of a store whose known queries it runs itself; None for a
    store it never runs a query of (a remote one, or with ``inline_query_ms`` 0)."""
    queries = getattr(store, "inline", None)
    return None if queries is None else queries.memory_copy()


class NetworkLock:
    """Closes this process's network (``executor.forbid_network``, every thread at once) before it
    runs a query itself, once ``arm`` said it is a web worker of ``kgpub serve``.

    The query check refuses SERVICE and LOAD, and the query processes have no network, but a
    query the worker runs here has only passed through such a process once: a ``SERVICE SILENT``
    the check failed to see would have ended well there, its failure silenced, and reached out
    from here the next time. A worker cannot close its network when it starts: its HTTP server
    opens sockets after the app is made. It needs none to run a query on its embedded store (a
    remote store's queries never run here)."""

    def __init__(self) -> None:
        self.armed = False
        self.closed = False
        self._lock = threading.Lock()

    def arm(self) -> None:
        self.armed = True

    def close_if_armed(self) -> None:
        if self.closed or not self.armed:  # every query but the first: no lock taken
            return
        with self._lock:
            if self.armed and not self.closed:
                if not protocol.forbid_network(all_threads=True):
                    log.warning("this platform cannot close the network of the web workers")
                self.closed = True


WORKER_NETWORK = NetworkLock()


class QueryThreads:
    """A worker's threads for the known queries too costly for a request's own thread, at a lower
    CPU priority (``nice`` added to the worker's niceness)."""

    def __init__(self, size: int, nice: int) -> None:
        # the size of the threads Python starts from now on: this pool's, as it starts them
        threading.stack_size(max(threading.stack_size(), QUERY_THREAD_STACK))
        self._pool = ThreadPoolExecutor(
            max_workers=size,
            thread_name_prefix="kgpub-query",
            initializer=lower_priority,
            initargs=(nice,),
        )

    def run(self, job: Callable[[], Answer], timeout: float) -> Answer:
        future = self._pool.submit(job)
        try:
            return future.result(timeout=max(0.0, timeout))
        except WaitedTooLong:
            future.cancel()  # not started: never runs; running: ends within its known cost
            raise QueryTimeout from None


def lower_priority(nice: int) -> None:
    """This thread's CPU niceness raised by ``nice``: on Linux each thread has its own. Where it
    cannot be set, the thread runs at the worker's priority."""
    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + nice))


def _measured(store: ox.Store, message: dict[str, Any]) -> Answer:
    """``_answer_here``'s answer with the CPU time of the thread that ran it; a failure raised."""
    started = time.thread_time()
    outcome = _answer_here(store, message)
    if isinstance(outcome, tuple):
        raise QueryFailed(*outcome)
    answer = outcome if isinstance(outcome, Answer) else _whole_answer(outcome)
    answer.cpu_seconds = max(0.0, time.thread_time() - started)
    return answer


def _answer_here(
    store: ox.Store, message: dict[str, Any]
) -> Answer | list[bytes] | tuple[str, str]:
    """Run the query and give its answer: whole when Oxigraph writes it in one piece (the usual
    light query: a boolean, or solutions known to be few), else as the messages a query process
    would send; (kind, message) of its failure.

    The results object belongs to this thread: pyoxigraph cannot free it from another one. So it
    must not outlive this call inside an error's traceback, which the request's error handling
    keeps in reference cycles that the collector may clear on any thread: the error is turned
    into its description here, and the traceback freed with it; the messages are read after."""
    messages: list[bytes] = []

    def collect(*parts: bytes) -> None:
        messages.append(b"".join(parts))

    try:
        result = store.query(message["query"], **protocol.query_options(message))
        whole = protocol.whole_answer(result, message)
        if whole is not None:
            kind, media_type, body = whole
            return Answer(kind, media_type, False, body)
        protocol.answer(result, message, protocol.with_cost(collect, None))
    except Exception as error:
        return protocol.failure_of(error)
    return messages


def _whole_answer(messages: list[bytes]) -> Answer:
    """The messages of one answer as one ``Answer`` with its whole body: a light query's answer
    is small, even when it passed the size at which a query process streams."""
    answer = opening_answer(messages[0])
    if answer.body is None:
        # errors met while streaming were raised: the last message is the end
        answer.body = b"".join(message[1:] for message in messages[1:-1])
    return answer
