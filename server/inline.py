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
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

import pyoxigraph as ox

from . import executor as protocol
from .pool import Answer, QueryFailed, opening_answer
from .runtime import PerProcess

# queries remembered per worker, and the longest query text remembered (a few KiB at most)
ENTRIES = 2048
MAX_QUERY_CHARS = 4096

Key = tuple[Any, ...]


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

    def __init__(self, store_path: str, max_seconds: float, entries: int = ENTRIES) -> None:
        self.store_path = store_path
        self.max_seconds = max_seconds
        self.entries = entries
        # the light queries, each with whether its answer was cut at the row cap
        self._light: OrderedDict[Key, bool] = OrderedDict()
        self._stores: PerProcess[str, ox.Store] = PerProcess()
        self._lock = threading.Lock()

    def truncated(self, key: Key) -> bool | None:
        """Whether a light query's answer was cut at the row cap; None for a query not known to
        be light."""
        return self._light.get(key)

    def learn(self, key: Key, answer: Answer) -> None:
        """Remember a query a query process answered whole within the limit."""
        cpu = answer.cpu_seconds
        if (
            cpu is None
            or cpu > self.max_seconds
            or answer.body is None
            or len(key[0]) > MAX_QUERY_CHARS
        ):
            return
        with self._lock:
            self._light[key] = answer.truncated
            while len(self._light) > self.entries:
                self._light.popitem(last=False)

    def run(self, message: dict[str, Any], truncated: bool) -> Answer:
        """The answer, as a query process would give it; its cost is this thread's CPU time.
        ``truncated``: how its earlier answer ended; one under the row cap is so again now."""
        if not truncated:
            message = {**message, "small": True}
        started = time.thread_time()
        outcome = _answer_here(self._handle(), message)
        if isinstance(outcome, tuple):
            raise QueryFailed(*outcome)
        answer = outcome if isinstance(outcome, Answer) else _whole_answer(outcome)
        answer.cpu_seconds = max(0.0, time.thread_time() - started)
        return answer

    def _handle(self) -> ox.Store:
        """The worker's read-only handle, opened on its first light query (after the fork)."""
        return self._stores.get(self.store_path, ox.Store.read_only)


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
