"""A copy of the build's store in a web worker's memory, for the queries the worker runs itself.

Oxigraph's in-memory storage runs the same engine over the same quads as its RocksDB storage, but
reads no blocks and decodes no keys: on the benchmark's 100k data a label search took 1.8 ms
against 3.1 ms on disk, a lookup 24 µs against 68, the sorted incoming links of a hub 24 ms
against 348 (``bench/README.md``). The store is read-only while a server runs, so a copy made
once stays true; a new build comes with new workers (SIGHUP), which make their own.

It costs memory, about 400 bytes per quad in each worker, so a store is copied only up to
``memory_copy_quads`` (the count ``kgpub load`` wrote beside it, or the quads met while
copying), and only while the machine has twice the copy's size available and an eighth of its
memory left over: many workers on a big machine would otherwise multiply the copies past it.

The copy is made in the background when the worker starts, and queries read the store on disk
until it is whole: start-up does not wait for it. Query processes always read the disk:
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

# what a quad costs in memory (measured: 1M quads, 394 MiB), and how many times that the machine
# must have available before a copy begins
QUAD_BYTES = 400
MEMORY_MARGIN = 2
# the share of the machine's memory a copy never eats into (1/8), checked every so many quads
MIN_FREE_SHARE = 8
CHECK_EVERY = 65_536


class MemoryCopy:
    """The store at ``path`` copied into memory by a thread of its own, if it has at most
    ``max_quads`` quads and the machine the memory for them; ``store`` is the copy once it is
    whole, else None."""

    def __init__(self, path: str, max_quads: int) -> None:
        self.path = path
        self.max_quads = max_quads
        self.state = "off" if max_quads <= 0 else "waiting"
        self.quads = 0
        self.seconds: float | None = None
        self.store: ox.Store | None = None
        self._lock = threading.Lock()

    def start(self) -> MemoryCopy:
        if self.state == "waiting":
            with self._lock:
                if self.state == "waiting":
                    self.state = "copying"
                    thread = threading.Thread(target=self._run, name="kgpub-memory-copy")
                    thread.daemon = True
                    thread.start()
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
        except NoCopy as refusal:
            self.state = refusal.state
            log.info("the store stays on disk: %s", str(refusal))
            return
        except Exception as error:  # the disk keeps serving; say why there is no copy
            self.state = "failed"
            log.warning("the store stays on disk: copying it into memory failed: %s", str(error))
            return
        self.seconds = round(time.perf_counter() - started, 3)
        self.store = copy
        self.state = "ready"
        log.info("the store is copied into memory: %d quads in %.1f s", self.quads, self.seconds)

    def _copy(self) -> ox.Store:
        """The copy; ``NoCopy`` as soon as the store proves too big for it."""
        written = storecounts.read_counts(Path(self.path))
        if written is not None:
            self._check_size(written.quads)
            if not memory_for(written.quads * QUAD_BYTES * MEMORY_MARGIN):
                raise NoCopy(
                    "short of memory",
                    f"{written.quads} quads need about {written.quads * QUAD_BYTES >> 20} MiB, "
                    f"and the machine has not twice that available",
                )
        disk = ox.Store.read_only(self.path)
        copy = ox.Store()
        # one call, fed by a generator: Python code runs between quads, so the worker's other
        # threads get the interpreter's lock in turn while the copy is made
        quads = self._by_predicate(disk)
        try:
            copy.bulk_extend(self._counted(quads))
        finally:
            # pyoxigraph's iterators belong to this thread: a copy given up must not leave them
            # in an error's traceback, to be freed by whichever thread lets go of it last
            quads.close()
        # a named graph may have been declared and left empty: it still exists for GRAPH ?g
        for graph in disk.named_graphs():
            copy.add_graph(graph)
        return copy

    def _check_size(self, quads: int) -> None:
        if quads > self.max_quads:
            raise NoCopy("too big", f"it has more than memory_copy_quads ({self.max_quads}) quads")

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
            self._check_size(self.quads)
            # the count beside the store may be missing: watch the machine's memory as it goes
            if self.quads % CHECK_EVERY == 0 and not memory_for(0):
                raise NoCopy("short of memory", "the machine ran short of memory while copying")
            yield quad


class NoCopy(Exception):
    """Why the store stays on disk: ``state`` for ``/-/health``, the message for the log."""

    def __init__(self, state: str, message: str) -> None:
        super().__init__(message)
        self.state = state


def memory_for(needed: int) -> bool:
    """Whether the machine has ``needed`` bytes available and, after them, still an eighth of
    its memory. True where the kernel does not say (not Linux)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            fields = dict(line.split(":", 1) for line in file)
        total = int(fields["MemTotal"].split()[0]) * 1024
        available = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return True
    return available - needed >= total // MIN_FREE_SHARE


# the predicates of every graph, the store's own default graph and the named ones
PREDICATES = "SELECT DISTINCT ?p WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"
