"""A copy of the build's store in a web worker's memory, for the queries the worker runs itself.

Oxigraph's in-memory storage runs the same engine over the same quads as its RocksDB storage, but
reads no blocks and decodes no keys: on the benchmark's 100k data a label search took 1.8 ms
against 3.1 ms on disk, a lookup 26 µs against 64, the incoming links of a hub 5.6 ms against 94
(``bench/README.md``). The store is read-only while a server runs, so a copy made once stays
true; a new build comes with new workers (SIGHUP), which make their own.

It costs memory, about 400 bytes per quad in each worker, so a store is copied only up to
``memory_copy_quads`` (the count ``kgpub load`` wrote beside it, or the quads met while
copying). The copy is made in the background when the worker starts, and queries read the store
on disk until it is whole: start-up does not wait for it. Query processes always read the disk:
they start and stop too often to hold a copy each.

The copy reads quads, not a serialization: Oxigraph's parsers give blank nodes new labels, and
the labels a client saw in one answer must name the same nodes in the next.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from kgpub import storecounts

log = logging.getLogger(__name__)


class MemoryCopy:
    """The store at ``path`` copied into memory by a thread of its own, if it has at most
    ``max_quads`` quads; ``store`` is the copy once it is whole, else None."""

    def __init__(self, path: str, max_quads: int) -> None:
        self.path = path
        self.max_quads = max_quads
        self.state = "off" if max_quads <= 0 else "waiting"
        self.quads = 0
        self.seconds: float | None = None
        self.store: ox.Store | None = None

    def start(self) -> MemoryCopy:
        if self.state == "waiting":
            self.state = "copying"
            threading.Thread(target=self._run, name="kgpub-memory-copy", daemon=True).start()
        return self

    def report(self) -> dict[str, Any]:
        """What ``/-/health`` says of it."""
        return {"state": self.state, "quads": self.quads, "seconds": self.seconds}

    def _run(self) -> None:
        # at the worker's own priority: a thread of lower priority, stopped while it holds the
        # interpreter's lock, would stop every thread of the worker with it
        started = time.perf_counter()
        try:
            copy = self._copy()
        except Exception as error:  # the disk keeps serving; say why there is no copy
            self.state = "failed"
            log.warning("the store stays on disk: copying it into memory failed: %s", error)
            return
        if copy is None:
            self.state = "too big"
            log.info(
                "the store stays on disk: it has more than memory_copy_quads (%d) quads",
                self.max_quads,
            )
            return
        self.seconds = round(time.perf_counter() - started, 3)
        self.store = copy
        self.state = "ready"
        log.info("the store is copied into memory: %d quads in %.1f s", self.quads, self.seconds)

    def _copy(self) -> ox.Store | None:
        """The copy, or None as soon as the store proves to have more than ``max_quads``."""
        written = storecounts.read_counts(Path(self.path))
        if written is not None and written.quads > self.max_quads:
            return None
        disk = ox.Store.read_only(self.path)
        copy = ox.Store()
        try:
            # one call, fed by a generator: Python code runs between quads, so the worker's other
            # threads get the interpreter's lock in turn while the copy is made
            copy.bulk_extend(self._counted(self._by_predicate(disk)))
        except TooBig:
            return None
        # a named graph may have been declared and left empty: it still exists for GRAPH ?g
        for graph in disk.named_graphs():
            copy.add_graph(graph)
        return copy

    @staticmethod
    def _by_predicate(disk: ox.Store) -> Iterator[ox.Quad]:
        """Every quad, those of one predicate after another. The in-memory storage chains the
        quads of a predicate in the order they came: taken together, they lie together, and a
        scan of one predicate (a class count, a label search) reads memory in order. Copied in
        the disk's subject order, a class count over 100k triples took 8.0 ms, 4.2 ms in this
        order, and 5.7 on disk; the other queries of the benchmark as fast or faster."""
        for row in disk.query(PREDICATES):
            yield from disk.quads_for_pattern(None, row["p"], None, None)

    def _counted(self, quads: Iterator[ox.Quad]) -> Iterator[ox.Quad]:
        for quad in quads:
            self.quads += 1
            if self.quads > self.max_quads:
                raise TooBig
            yield quad


class TooBig(Exception):
    """The store has more quads than the copy may hold."""


# the predicates of every graph, the store's own default graph and the named ones
PREDICATES = "SELECT DISTINCT ?p WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"
