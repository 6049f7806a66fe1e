"""What operators see of a running server: Prometheus metrics and one JSON access line per request.

``Observer`` wraps the app, so it sees every answer, the endpoint's raw-WSGI path as much as
Flask's; the cache hits, answered in front of it, are handed to it by the cache (``cache_hit``).
The status comes from ``start_response`` and the time ends when the body has been handed over. It
counts the request by route (the endpoint name, never the raw path, so the number of series stays
bounded), method and status, and writes the access line. The store and the response cache are
wrapped (``observe_services``) to count each query's outcome, timeouts, capped answers and cache
hits where they happen; what they learn about the current request reaches the access line through a
thread-local, as a WSGI request runs on one thread from the call to the return.

It runs on every request, a cache hit's too, so it is kept to a few microseconds: a count is a float
added to a cell of a memory map (``Cells``), found through a dict, under one uncontended lock; the
access line is built as text with only the client's own strings passed through the JSON escaper,
and written with others in one ``os.write`` (``loglines``).

``kgpub serve`` runs several worker processes: each keeps its cells in a file of a folder they all
share (``metrics`` in the server's runtime folder, ``runtime.py``), written through as the counts
move, so whichever worker answers ``/-/metrics`` reads every worker's current totals from those
files and adds them up; nothing waits for a flush. An app in a single process (the test client)
keeps its cells in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import re
import secrets
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map

from kgpub import __version__

from .cache import KEY_ENVIRON, CachedResponse, CacheKey, ResponseCache
from .config import Services
from .fairness import client_address
from .loglines import LineBatch, batch_for
from .pool import Answer, Busy, QueryFailed, QueryTimeout, close_chunks
from .runtime import RUNTIME_VARIABLE
from .store import QueryRequest, Store

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

log = logging.getLogger(__name__)

# what Prometheus asks for; the version of the text format, not of this server
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ACCESS_LOGGER = "kgpub.access"

# seconds: a cached answer takes about a millisecond, a query up to the time limit
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# a client may send any method token: the rest are counted together, so the series stay bounded
METHODS = frozenset(("GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH"))
UNMATCHED = "unmatched"  # the route of a request no URL rule matched (404s, mostly)
# the store's calls that run queries; each is timed and its outcome counted
STORE_CALLS = frozenset(
    ("select", "resource_quads", "counts", "find", "resource", "annotations", "text")
)
# bounds on what a client controls in its access line, in characters and, once escaped, in bytes:
# the whole line stays under PIPE_BUF (4096), the most one write puts on a pipe in one piece
MAX_USER_AGENT = 200
MAX_PATH = 1000
MAX_USER_AGENT_BYTES = 800
MAX_PATH_BYTES = 2400
MAX_CLIENT_BYTES = 400
PIPE_BUF = 4096
QUERY_HASH_CHARS = 12


# --- what the current request met on its way ----------------------------------------------------


class _Current(threading.local):
    """What the store and the cache saw while this thread answered its current request."""

    cache: str | None = None  # "hit" or "miss": the last look-up's result
    query: str | None = None  # the SPARQL query the endpoint ran

    def reset(self) -> None:
        self.cache = None
        self.query = None


_current = _Current()


class _Pid:
    """This process's id, read again after a fork (granian forks its workers)."""

    value = os.getpid()

    @classmethod
    def refresh(cls) -> None:
        cls.value = os.getpid()


os.register_at_fork(after_in_child=_Pid.refresh)


# --- metrics: what is counted -------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """One metric of the text format: a counter or a histogram (over ``REQUEST_BUCKETS``)."""

    name: str  # a counter's without its ``_total``
    kind: str  # "counter" or "histogram"
    help: str
    labels: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        """Cells per series: a counter's value; a histogram's count per bucket, the +Inf
        bucket's, then the sum (the count is the buckets' total)."""
        return len(REQUEST_BUCKETS) + 2 if self.kind == "histogram" else 1


REQUESTS = Family(
    "kgpub_http_requests",
    "counter",
    "HTTP requests answered, by route (URL family), method and status",
    ("route", "method", "status"),
)
DURATION = Family(
    "kgpub_http_request_duration_seconds",
    "histogram",
    "Time from the request to the last byte of its answer handed to the server",
    ("route",),
)
SENT = Family(
    "kgpub_http_response_bytes",
    "counter",
    "Body bytes sent (after compression), by route",
    ("route",),
)
QUERIES = Family(
    "kgpub_sparql_queries",
    "counter",
    "SPARQL queries of the endpoint and the query page, by form and outcome "
    "(ok, truncated, timeout, busy, rejected, too_large, unavailable, failed, cancelled)",
    ("form", "outcome"),
)
TIMEOUTS = Family(
    "kgpub_sparql_timeouts",
    "counter",
    "Queries stopped at their time limit, the endpoint's and the pages' own",
)
ROWS_CAPPED = Family(
    "kgpub_sparql_rows_capped", "counter", "Endpoint answers cut at max_rows rows (or triples)"
)
STORE_CALLS_MADE = Family(
    "kgpub_store_calls",
    "counter",
    "Calls to the store by the pages and the server itself, by call and outcome",
    ("call", "outcome"),
)
STORE_DURATION = Family(
    "kgpub_store_call_duration_seconds",
    "histogram",
    "Time the store took to answer a call (a streamed answer: its first part)",
    ("call",),
)
CACHE_HITS = Family("kgpub_cache_hits", "counter", "Requests answered from the response cache")
CACHE_MISSES = Family(
    "kgpub_cache_misses",
    "counter",
    "Requests that looked in the response cache and did not find their answer",
)
FAMILIES = (
    REQUESTS,
    DURATION,
    SENT,
    QUERIES,
    TIMEOUTS,
    ROWS_CAPPED,
    STORE_CALLS_MADE,
    STORE_DURATION,
    CACHE_HITS,
    CACHE_MISSES,
)
_FAMILY_BY_NAME = {family.name: family for family in FAMILIES}
Series = tuple[str, tuple[str, ...]]  # a family's name and its label values


# --- metrics: where the counts live ---------------------------------------------------------------

# float cells a process can hold: 512 KiB of file, of which only the pages in use take memory; the
# series are bounded (routes x methods x statuses, forms x outcomes, calls) far below this
CELL_COUNT = 1 << 16
CELL_BYTES = 8
# the last cells take the counts of series beyond the rest, never read, so that counting never fails
_OVERFLOW = CELL_COUNT - max(family.width for family in FAMILIES)
KEYS_SUFFIX = ".keys"
CELLS_SUFFIX = ".cells"


class Cells:
    """One process's counts: float cells in a memory map, and where each series begins.

    With a folder, the map is a file there (``<pid>-<token>.cells``) and each series, when first
    counted, is appended as a JSON line to its ``.keys`` file, before any count reaches its cells:
    a reader in another process sees every count as it is made. Without one, the map is memory
    of this process. ``lock`` guards the cells: a read-add-write of a float is not atomic."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.lock = threading.Lock()
        self.index: dict[Series, int] = {}
        self.used = 0
        self._keys: int | None = None
        self._open()
        _open_cells.add(self)

    def _open(self) -> None:
        size = CELL_COUNT * CELL_BYTES
        if self.folder is None:
            memory = mmap.mmap(-1, size)
        else:
            stem = self.folder / f"{os.getpid()}-{secrets.token_hex(4)}"
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
            fd = os.open(stem.with_suffix(CELLS_SUFFIX), flags, 0o600)
            try:
                os.ftruncate(fd, size)  # sparse: zeros, and no disk, until a page is written
                memory = mmap.mmap(fd, size)
            finally:
                os.close(fd)
            keys = stem.with_suffix(KEYS_SUFFIX)
            self._keys = os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self.values: Any = memoryview(memory).cast("d")

    def cell(self, family: Family, labels: tuple[str, ...]) -> int:
        """Where the series begins, given cells (zeros) when first seen."""
        found = self.index.get((family.name, labels))
        if found is not None:
            return found
        with self.lock:
            return self._allocate(family, labels)

    def _allocate(self, family: Family, labels: tuple[str, ...]) -> int:
        series = (family.name, labels)
        found = self.index.get(series)  # another thread may have been first
        if found is not None:
            return found
        if isinstance(self.values, _Reopen):  # a forked process: its own files first
            self.reopen()
        start = self.used
        if start + family.width > _OVERFLOW:
            log.warning("too many metric series: %s%s is not counted", family.name, list(labels))
            self.index[series] = _OVERFLOW
            return _OVERFLOW
        self._write_key(series, start)
        self.used = start + family.width
        self.index[series] = start
        return start

    def _write_key(self, series: Series, start: int) -> None:
        if self._keys is not None:
            line = json.dumps({"cell": start, "name": series[0], "labels": list(series[1])})
            os.write(self._keys, line.encode() + b"\n")

    def add(self, cell: int, amount: float) -> None:
        with self.lock:
            self.values[cell] += amount

    def snapshot(self) -> dict[Series, list[float]]:
        """Every series and its cells, as counted so far by this process."""
        with self.lock:
            values = self.values
            return {
                series: values[start : start + _FAMILY_BY_NAME[series[0]].width].tolist()
                for series, start in self.index.items()
                if start != _OVERFLOW
            }

    def forked(self) -> None:
        """In a child process the map and the keys file are the parent's, and the lock may be
        held by a thread that does not exist here: the child counts in files of its own, opened
        when it first counts, with the same series at the same cells, so that cells looked up
        before the fork still hold."""
        self.lock = threading.Lock()
        self._keys = None  # the parent's descriptor: never written from here
        self.values = _Reopen(self)

    def reopen(self) -> None:
        self._open()
        for series, start in sorted(self.index.items(), key=lambda item: item[1]):
            if start != _OVERFLOW:
                self._write_key(series, start)


class _Reopen:
    """The cells of a forked process until it first touches them, then its own."""

    def __init__(self, cells: Cells) -> None:
        self.cells = cells

    def _real(self) -> Any:
        if self.cells.values is self:
            self.cells.reopen()
        return self.cells.values

    def __getitem__(self, key: Any) -> Any:
        return self._real()[key]

    def __setitem__(self, key: Any, value: float) -> None:
        self._real()[key] = value


_open_cells: weakref.WeakSet[Cells] = weakref.WeakSet()


def _cells_after_fork() -> None:
    for cells in list(_open_cells):
        cells.forked()


os.register_at_fork(after_in_child=_cells_after_fork)


def read_folder(folder: Path) -> dict[Series, list[float]]:
    """Every worker's series in ``folder``, added up; a stopped worker's too, as its past counts
    stay counted. A series whose line is still being written is left for the next scrape."""
    totals: dict[Series, list[float]] = {}
    for keys in sorted(folder.glob("*" + KEYS_SUFFIX)):
        for series, values in _read_worker(keys).items():
            total = totals.get(series)
            if total is None:
                totals[series] = values
            else:
                totals[series] = [a + b for a, b in zip(total, values, strict=True)]
    return totals


def _read_worker(keys: Path) -> dict[Series, list[float]]:
    try:
        text = keys.read_bytes()
        found = []
        for line in text.split(b"\n")[:-1]:  # after the last newline: a line still being written
            entry = json.loads(line)
            family = _FAMILY_BY_NAME.get(entry["name"])
            if family is not None:
                found.append((family, tuple(entry["labels"]), int(entry["cell"])))
        end = max((start + family.width for family, _, start in found), default=0)
        if end == 0:
            return {}
        # mapped, not read: each float is then loaded whole, never half old and half new
        with (
            keys.with_suffix(CELLS_SUFFIX).open("rb") as file,
            mmap.mmap(file.fileno(), end * CELL_BYTES, access=mmap.ACCESS_READ) as memory,
        ):
            view = memoryview(memory).cast("d")
            try:
                return {
                    (family.name, labels): view[start : start + family.width].tolist()
                    for family, labels, start in found
                }
            finally:
                view.release()
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("metrics of %s left out: %s", keys.name, error)
        return {}


def multiprocess_folder() -> Path | None:
    """Where the workers of one server keep their counts: ``metrics`` in the runtime folder that
    ``kgpub serve`` shares with them; None in a single process, which counts in memory."""
    shared = os.environ.get(RUNTIME_VARIABLE)
    if not shared:
        return None
    folder = Path(shared) / "metrics"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


# --- metrics: counting and the text format --------------------------------------------------------


class Metrics:
    """The server's counters and histograms, in this process or shared by all workers."""

    def __init__(self, build: Callable[[], tuple[str, float]]) -> None:
        self.folder = multiprocess_folder()
        self.build = build
        self.cells = Cells(self.folder)
        # (route, method, status): the cells of its count, its route's histogram and bytes
        self._request_cells: dict[tuple[str, str, str], tuple[int, int, int]] = {}
        self._hits = self.cells.cell(CACHE_HITS, ())
        self._misses = self.cells.cell(CACHE_MISSES, ())
        # shown from the start, at 0, like the cache's: a rate over them needs a first sample
        self.cells.cell(TIMEOUTS, ())
        self.cells.cell(ROWS_CAPPED, ())

    def count(self, family: Family, labels: tuple[str, ...] = (), amount: float = 1.0) -> None:
        self.cells.add(self.cells.cell(family, labels), amount)

    def observe(self, family: Family, labels: tuple[str, ...], seconds: float) -> None:
        """One observation of a histogram: its bucket's count and the sum."""
        start = self.cells.cell(family, labels)
        cells = self.cells
        bucket = bisect_left(REQUEST_BUCKETS, seconds)  # the first bound >= seconds: le
        with cells.lock:
            values = cells.values
            values[start + bucket] += 1.0
            values[start + len(REQUEST_BUCKETS) + 1] += seconds

    def request(
        self, route: str, method: str, status: str, seconds: float, sent: int, cache: str | None
    ) -> None:
        """One answered request: the whole of the middleware's counting, under one lock."""
        found = self._request_cells.get((route, method, status))
        if found is None:
            found = self._request_cells[(route, method, status)] = (
                self.cells.cell(REQUESTS, (route, method, status)),
                self.cells.cell(DURATION, (route,)),
                self.cells.cell(SENT, (route,)),
            )
        requests, duration, sent_bytes = found
        bucket = bisect_left(REQUEST_BUCKETS, seconds)
        cells = self.cells
        with cells.lock:
            values = cells.values
            values[requests] += 1.0
            values[duration + bucket] += 1.0
            values[duration + len(REQUEST_BUCKETS) + 1] += seconds
            values[sent_bytes] += sent
            if cache == "hit":
                values[self._hits] += 1.0
            elif cache == "miss":
                values[self._misses] += 1.0

    def exposition(self) -> bytes:
        """The text format: this process's counts, or those of every worker in the folder."""
        series = read_folder(self.folder) if self.folder is not None else self.cells.snapshot()
        identity, modified = self.build()  # read at each scrape: a remote store's may change
        return render(series, identity, modified).encode("utf-8")


def render(series: dict[Series, list[float]], build: str, modified: float) -> str:
    """The Prometheus text format (version 0.0.4) of ``series`` and the build's two gauges."""
    by_family: dict[str, list[tuple[tuple[str, ...], list[float]]]] = {}
    for (name, labels), values in series.items():
        by_family.setdefault(name, []).append((labels, values))
    lines: list[str] = []
    for family in FAMILIES:
        rows = sorted(by_family.get(family.name, ()))
        if family.kind == "counter":
            _counter_lines(lines, family, rows)
        else:
            _histogram_lines(lines, family, rows)
    lines.append("# HELP kgpub_build_info The build being served and the server's version")
    lines.append("# TYPE kgpub_build_info gauge")
    lines.append(f"kgpub_build_info{_labels(('build', 'version'), (build, __version__))} 1.0")
    lines.append("# HELP kgpub_build_timestamp_seconds When the data being served was built")
    lines.append("# TYPE kgpub_build_timestamp_seconds gauge")
    lines.append(f"kgpub_build_timestamp_seconds {_number(modified)}")
    return "\n".join(lines) + "\n"


def _counter_lines(
    lines: list[str], family: Family, rows: list[tuple[tuple[str, ...], list[float]]]
) -> None:
    name = family.name + "_total"
    lines.append(f"# HELP {name} {_help(family.help)}")
    lines.append(f"# TYPE {name} counter")
    for labels, (value,) in rows:
        lines.append(f"{name}{_labels(family.labels, labels)} {_number(value)}")


def _histogram_lines(
    lines: list[str], family: Family, rows: list[tuple[tuple[str, ...], list[float]]]
) -> None:
    name = family.name
    lines.append(f"# HELP {name} {_help(family.help)}")
    lines.append(f"# TYPE {name} histogram")
    bounds = [*(_number(bound) for bound in REQUEST_BUCKETS), "+Inf"]
    for labels, values in rows:
        running = 0.0
        for bound, count in zip(bounds, values, strict=False):  # the last cell is the sum
            running += count
            bucket = _labels((*family.labels, "le"), (*labels, bound))
            lines.append(f"{name}_bucket{bucket} {_number(running)}")
        named = _labels(family.labels, labels)
        lines.append(f"{name}_count{named} {_number(running)}")
        lines.append(f"{name}_sum{named} {_number(values[-1])}")


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(
        f'{name}="{_label_value(value)}"' for name, value in zip(names, values, strict=True)
    )
    return "{" + pairs + "}"


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    """As Prometheus writes it: 1.0, 0.0025, +Inf."""
    value = float(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


# --- the store and the cache, observed ----------------------------------------------------------

_FORM = re.compile(r"(?<![\w?$:])(select|construct|describe|ask)(?![\w:\-])", re.IGNORECASE)
_PROLOGUE_NOISE = re.compile(r"<[^<>\s]*>|#[^\n\r]*")


@lru_cache(maxsize=512)
def query_form(query: str) -> str:
    """SELECT, ASK, CONSTRUCT or DESCRIBE, in lower case: the first such keyword once the
    prologue's IRIs and comments are blanked out ("unknown" if none is found)."""
    found = _FORM.search(_PROLOGUE_NOISE.sub(" ", query))
    return found.group(1).lower() if found else "unknown"


def failure_outcome(error: BaseException) -> str:
    if isinstance(error, QueryTimeout):
        return "timeout"
    if isinstance(error, Busy):
        return "busy"
    if isinstance(error, QueryFailed):
        if error.kind in ("syntax", "bad_request", "not_acceptable"):
            return "rejected"
        if error.kind == "too_large":
            return "too_large"
        return "unavailable" if error.kind == "store" else "failed"
    return "failed"


class ObservedStore:
    """The store, with the outcome of each query counted; everything else is passed through."""

    def __init__(self, store: Store, metrics: Metrics | None) -> None:
        self._store = store
        self._metrics = metrics

    @property
    def identity(self) -> str:
        return self._store.identity

    @property
    def modified(self) -> float:
        return self._store.modified

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if name in STORE_CALLS and self._metrics is not None:
            return _timed_call(self._metrics, name, value)
        return value

    def query(self, request: QueryRequest) -> Answer:
        _current.query = request.query
        metrics = self._metrics
        if metrics is None:
            return self._store.query(request)
        form = query_form(request.query)
        started = time.perf_counter()
        try:
            answer = self._store.query(request)
        except Exception as error:
            self._count(form, failure_outcome(error))
            raise
        finally:
            metrics.observe(STORE_DURATION, ("query",), time.perf_counter() - started)
        if answer.chunks is None:
            self._count(form, "truncated" if answer.truncated else "ok")
        else:  # the outcome is known when the stream ends
            answer.chunks = self._watch(answer.chunks, form, answer.truncated)
        return answer

    def _count(self, form: str, outcome: str) -> None:
        assert self._metrics is not None
        self._metrics.count(QUERIES, (form, outcome))
        if outcome == "timeout":
            self._metrics.count(TIMEOUTS)
        elif outcome == "truncated":
            self._metrics.count(ROWS_CAPPED)

    def _watch(self, chunks: Iterator[bytes], form: str, truncated: bool) -> Iterator[bytes]:
        outcome = "cancelled"  # the client went away before the end
        try:
            yield from chunks
            outcome = "truncated" if truncated else "ok"
        except Exception as error:
            outcome = failure_outcome(error)
            raise
        finally:
            self._count(form, outcome)
            close_chunks(chunks)


def _timed_call(metrics: Metrics, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "ok"
        try:
            return call(*args, **kwargs)
        except Exception as error:
            outcome = failure_outcome(error)
            if outcome == "timeout":
                metrics.count(TIMEOUTS)
            raise
        finally:
            metrics.observe(STORE_DURATION, (name,), time.perf_counter() - started)
            metrics.count(STORE_CALLS_MADE, (name, outcome))

    return timed


class ObservedCache:
    """The response cache, noting for the access line and the counters whether the current
    request found its answer there."""

    def __init__(self, cache: ResponseCache) -> None:
        self._cache = cache

    def get(self, key: CacheKey) -> CachedResponse | None:
        entry = self._cache.get(key)
        _current.cache = "miss" if entry is None else "hit"
        return entry

    def put(self, key: CacheKey, entry: CachedResponse) -> None:
        self._cache.put(key, entry)

    def __len__(self) -> int:
        return len(self._cache)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cache, name)


# --- the access line ------------------------------------------------------------------------------

# a str as a JSON string with every control and non-ASCII character escaped (the C encoder of the
# json module): nothing a client sends can end the line or the string early
_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_CACHE_JSON = {None: "null", "hit": '"hit"', "miss": '"miss"'}


class LineHandler(logging.Handler):
    """Each record's message as one line, in one ``write`` on a file descriptor (stderr's by
    default): no buffer to flush, no lock, and lines of several worker processes sharing the
    descriptor never mix, as a write of less than a pipe's buffer (4 KiB) is atomic."""

    def __init__(self, fd: int = 2) -> None:
        super().__init__()
        self.fd = fd

    def handle(self, record: logging.LogRecord) -> bool:
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            os.write(self.fd, (record.getMessage() + "\n").encode("utf-8", "replace"))
        except OSError:  # stderr closed or full: the request matters more than its log line
            self.handleError(record)


def access_logger() -> logging.Logger:
    """``kgpub.access``, writing bare lines on stderr unless logging was set up for it."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not logger.handlers:
        logger.addHandler(LineHandler())
        logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def direct_batch(logger: logging.Logger) -> LineBatch | None:
    """Where to put an access line without a log record, when all the logger does is hand the
    line to one bare ``LineHandler`` (the default, and ``kgpub serve``'s set-up): this process's
    batch of lines for its descriptor. None when logging was set up otherwise, or is off."""
    handlers = logger.handlers
    if len(handlers) != 1 or logger.filters or not logger.isEnabledFor(logging.INFO):
        return None
    handler = handlers[0]
    if type(handler) is not LineHandler or handler.filters or handler.level > logging.INFO:
        return None
    return batch_for(handler.fd)


def _text(raw: str, limit: int) -> str:
    """A WSGI string (bytes as latin-1) as the UTF-8 the client most likely sent, bounded."""
    if raw.isascii() and len(raw) <= limit:
        return raw
    try:
        text = raw.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        text = raw
    return text if len(text) <= limit else text[:limit] + "…"


def json_text(raw: str, limit: int, max_bytes: int) -> str:
    """A client's string as a JSON string of at most ``max_bytes``: at most ``limit`` characters,
    fewer when escaping makes them longer (control characters and non-ASCII take 6 bytes)."""
    text = _text(raw, limit)
    encoded = _json_string(text)
    while len(encoded) > max_bytes:
        text = text[: max(0, len(text) * max_bytes // len(encoded) - 2)] + "…"
        encoded = _json_string(text)
    return encoded


def query_hash(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8", "replace")).hexdigest()[:QUERY_HASH_CHARS]


# queries up to this length have their hash remembered: clients repeat their queries
REMEMBERED_QUERY_CHARS = 4096


@lru_cache(maxsize=512)
def _remembered_query_hash(query: str) -> str:
    return query_hash(query)


def ran_query_hash(query: str) -> str:
    """The hash of a query the endpoint ran: of a short one, remembered."""
    if len(query) <= REMEMBERED_QUERY_CHARS:
        return _remembered_query_hash(query)
    return query_hash(query)


@lru_cache(maxsize=512)
def url_query_hash(query_string: str) -> str | None:
    """The hash of a GET's query: clients repeat the same queries, as the memoized protocol
    parsing of the endpoint assumes too."""
    for name, value in parse_qsl(query_string, keep_blank_values=True, errors="replace"):
        if name == "query":
            return query_hash(value)
    return None


_second: tuple[int, str] = (-1, "")  # the last second written, and its ISO 8601 text
_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))
_NS_PER_SECOND = 1_000_000_000
_NS_PER_MS = 1_000_000


def utc_now() -> str:
    """ISO 8601, UTC, milliseconds; the text of the second is made once per second."""
    global _second
    whole, ns = divmod(time.time_ns(), _NS_PER_SECOND)
    second = _second
    if second[0] != whole:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return second[1] + _MILLISECONDS[ns // _NS_PER_MS]


def result_truncated(headers: Sequence[tuple[str, str]]) -> bool:
    # a loop, not any(): a generator costs more than the few headers it would look at
    for name, value in headers:  # noqa: SIM110
        if value == "true" and name.lower() == "x-result-truncated":
            return True
    return False


# the line's shapes remembered: a client repeats its path and user agent, and the server its routes
TEMPLATES = 1024
# a line whose shape's strings (path, user agent, ...) are longer than this together is never kept
TEMPLATE_CHARS = 1024
# the templates kept for one cache entry: one per client and user agent asking for it
HIT_TEMPLATES = 16
# where a cache entry keeps its ``HitNotes``
HIT_NOTES = "observe.hit"
Shape = tuple[str, str, str, str, str, str, str | None, bool, bool]


class AccessLog:
    """Builds the access lines and writes them on the ``kgpub.access`` logger.

    A line is one JSON document on one line, whatever the client sent, under ``PIPE_BUF`` bytes:
    never the body; of a query, its length and a short hash. Its text is a template per shape of
    request (client, method, path, user agent, route, status, cache, flags) with the client's
    strings already escaped, filled in with the numbers that change every time by one ``%``."""

    def __init__(self, logger: logging.Logger, trust_forwarded: bool) -> None:
        self.logger = logger
        self.trust_forwarded = trust_forwarded
        self._templates: dict[Shape, str] = {}

    def write(
        self,
        environ: dict[str, Any],
        answer: tuple[str, str, str, Sequence[tuple[str, str]]],
        seconds: float,
        sent: int,
        complete: bool,
        seen: tuple[str | None, str | None],
    ) -> None:
        write_line(self.logger, self.line(environ, answer, seconds, sent, complete, seen))

    def line(
        self,
        environ: dict[str, Any],
        answer: tuple[str, str, str, Sequence[tuple[str, str]]],
        seconds: float,
        sent: int,
        complete: bool,
        seen: tuple[str | None, str | None],
    ) -> str:
        """``answer``: route, method (one of METHODS or "other"), status ("200") and headers;
        ``seen``: the cache's verdict and the query the endpoint ran."""
        route, method, status, headers = answer
        cache, query = seen
        client = self.client(environ)
        shape = (
            client,
            method,
            environ.get("PATH_INFO", ""),
            environ.get("HTTP_USER_AGENT", ""),
            route,
            status,
            cache,
            result_truncated(headers),
            complete,
        )
        template = self._templates.get(shape)
        if template is None:
            template = self._template(shape)
        query_string = environ.get("QUERY_STRING", "")
        if query is not None:
            hashed = ran_query_hash(query)
        elif route == "sparql.endpoint" and query_string:
            hashed = url_query_hash(query_string)
        else:
            hashed = None
        return template % (
            utc_now(),
            len(query_string),
            "null" if hashed is None else f'"{hashed}"',
            sent,
            seconds * 1000,
            _Pid.value,
        )

    def client(self, environ: dict[str, Any]) -> str:
        if self.trust_forwarded:
            return client_address(environ, True)
        return environ.get("REMOTE_ADDR", "")

    def hit_line(self, environ: dict[str, Any], hit: HitNotes, seconds: float) -> str:
        """The line of a request the cache in front answered with the entry ``hit`` notes: the
        entry fixes all but the client, the user agent, the time and the duration, so its lines
        are templates by client and user agent, filled in with those three numbers."""
        client = self.client(environ)
        agent = environ.get("HTTP_USER_AGENT", "")
        template = hit.lines.get((client, agent))
        if template is None:
            template = self._hit_template(hit, environ.get("PATH_INFO", ""), client, agent)
        return template % (utc_now(), seconds * 1000, _Pid.value)

    def _hit_template(self, hit: HitNotes, path: str, client: str, agent: str) -> str:
        shape = (client, "GET", path, agent, hit.route, hit.status, "hit", hit.truncated, True)
        hashed = "null" if hit.query_hash is None else f'"{hit.query_hash}"'
        fields = _fields(shape, str(hit.query_length), hashed, str(hit.sent))
        return _kept(hit.lines, (client, agent), fields, HIT_TEMPLATES)

    def _template(self, shape: Shape) -> str:
        return _kept(self._templates, shape, _fields(shape), TEMPLATES)


def _kept(templates: dict[Any, str], key: tuple[str, ...], fields: str, most: int) -> str:
    """``fields``, kept under ``key`` unless the strings in the key (the client's among them) are
    too long to be worth keeping; a full dictionary is emptied (a few misses, then the shapes in
    use again)."""
    if sum(len(part) for part in key if isinstance(part, str)) <= TEMPLATE_CHARS:
        if len(templates) >= most:
            templates.clear()
        templates[key] = fields
    return fields


def _fields(
    shape: Shape, query_length: str = "%d", query_hash: str = "%s", sent: str = "%d"
) -> str:
    """The line of ``shape`` as a template for ``%``: the time, the duration and the worker left
    to fill in, and the query's length and hash and the bytes sent too unless given (as JSON)."""
    client, method, path, agent, route, status, cache, truncated, complete = shape
    return (
        '{"time":"%s",'
        f'"client":{_escaped(json_text(client, 64, MAX_CLIENT_BYTES))},'
        f'"method":{_json_string(method)},'
        f'"path":{_escaped(json_text(path, MAX_PATH, MAX_PATH_BYTES))},'
        f'"query_length":{query_length},"query_hash":{query_hash},'
        f'"route":{_escaped(_json_string(route))},'
        f'"status":{int(status) if status.isdigit() else 0},'
        f'"bytes":{sent},"duration_ms":%.3f,'
        f'"cache":{_CACHE_JSON[cache]},'
        f'"truncated":{"true" if truncated else "false"},'
        f'"complete":{"true" if complete else "false"},'
        f'"user_agent":{_escaped(json_text(agent, MAX_USER_AGENT, MAX_USER_AGENT_BYTES))},'
        '"worker":%d}'
    )


@dataclass
class HitNotes:
    """What answering with one cache entry always is, learnt at its first hit: the entry's key
    fixes the method (GET), the path and the query string, and the entry the status, the headers
    and the body."""

    route: str
    status: str  # "200"
    sent: int
    truncated: bool
    query_length: int
    query_hash: str | None
    lines: dict[tuple[str, str], str]  # access-line templates by client and user agent

    @classmethod
    def of(cls, environ: dict[str, Any], entry: CachedResponse, url_map: Map) -> HitNotes:
        path = environ.get("PATH_INFO", "")
        query_string = environ.get("QUERY_STRING", "")
        route = _matched_route(url_map, path, "GET")
        hashed = url_query_hash(query_string) if route == "sparql.endpoint" else None
        return cls(
            route,
            entry.status[:3],
            len(entry.body),
            result_truncated(entry.headers),
            len(query_string),
            hashed,
            {},
        )


def _escaped(fragment: str) -> str:
    """A fragment of a template, its ``%`` doubled so that it stays as it is."""
    return fragment.replace("%", "%%")


def write_line(logger: logging.Logger, line: str) -> None:
    """The line on the access logger: into this process's batch of lines for the descriptor when
    the logger has only its bare handler (``loglines``), else a log record for the handlers logging
    was set up with (without looking up the caller's frame, a good share of ``logger.info``'s
    cost: the access line names its source itself)."""
    batch = direct_batch(logger)
    if batch is None:
        if logger.isEnabledFor(logging.INFO):
            record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, line, (), None)
            logger.handle(record)
        return
    batch.add((line + "\n").encode("ascii"))  # JSON escaped all that is not ASCII


# --- the middleware -------------------------------------------------------------------------------


@dataclass
class Observation:
    """What ``create_app`` sets up: the counters (None when off) and the access logger (None when
    off)."""

    metrics: Metrics | None
    access: AccessLog | None

    @property
    def active(self) -> bool:
        return self.metrics is not None or self.access is not None


def observe_services(services: Services) -> Observation:
    """Wrap the store and the cache of ``services`` so they report what they do: before the fronts
    and the routes take them."""
    settings = services.settings
    store = services.store
    metrics = Metrics(lambda: (store.identity, store.modified)) if settings.metrics else None
    access = AccessLog(access_logger(), settings.trust_forwarded) if settings.access_log else None
    observation = Observation(metrics, access)
    if observation.active:
        services.store = ObservedStore(services.store, metrics)
        if services.cache is not None:
            services.cache = ObservedCache(services.cache)  # type: ignore[assignment]
    return observation


@lru_cache(maxsize=1024)
def _matched_route(url_map: Map, path: str, method: str) -> str:
    """The endpoint of the rule ``path`` matches; with a method it does not allow (a 405), the
    rule's all the same."""
    adapter = url_map.bind("localhost")
    try:
        rule, _ = adapter.match(path, method, return_rule=True)
    except MethodNotAllowed as error:
        if not error.valid_methods:
            return UNMATCHED
        return _matched_route(url_map, path, error.valid_methods[0])
    except HTTPException:
        return UNMATCHED
    return rule.endpoint


def route_of(environ: dict[str, Any], url_map: Map) -> str:
    """The endpoint that answered: Flask's rule when Flask saw the request, else the rule the
    path would match (an answer of a front)."""
    rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
    if rule is not None:
        return rule.endpoint
    return _matched_route(url_map, environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"])


class _Exchange:
    """One request on its way through: what the app gave ``start_response`` (a 500 if it raised
    before), and what the store and the cache saw."""

    __slots__ = ("cache", "environ", "headers", "query", "respond", "started", "status")

    def __init__(self, environ: dict[str, Any], respond: Callable[..., Any]) -> None:
        self.environ = environ
        self.respond = respond
        self.status = "500 Internal Server Error"
        self.headers: Sequence[tuple[str, str]] = ()
        self.cache: str | None = None
        self.query: str | None = None
        self.started = time.perf_counter()

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None):
        self.status = status
        self.headers = headers
        return self.respond(status, headers, exc_info)


class Observer:
    """WSGI middleware: counts and logs every request, whoever inside answers it."""

    def __init__(self, app: WsgiApp, url_map: Map, observation: Observation) -> None:
        self.app = app
        self.url_map = url_map
        self.metrics = observation.metrics
        self.access = observation.access

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        current = _current
        # a GET the cache in front did not have left its key: that was a miss
        current.cache = "miss" if KEY_ENVIRON in environ else None
        current.query = None
        exchange = _Exchange(environ, start_response)
        try:
            body = self.app(environ, exchange.start_response)
        except BaseException:
            self.finish(exchange, 0, False)
            raise
        exchange.cache = current.cache
        exchange.query = current.query
        if isinstance(body, list):  # the fronts' whole answers: the server's fast path, kept
            self.finish(exchange, sum(map(len, body)), True)
            return body
        return ObservedBody(body, partial(self.finish, exchange))

    def cache_hit(self, environ: dict[str, Any], entry: CachedResponse, seconds: float) -> None:
        """A request the cache in front answered (``cache.CacheFront``), counted and logged as
        ``finish`` does the others, from what the entry's first hit noted."""
        hit = entry.notes.get(HIT_NOTES)
        if hit is None:
            hit = entry.notes[HIT_NOTES] = HitNotes.of(environ, entry, self.url_map)
        if self.metrics is not None:
            self.metrics.request(hit.route, "GET", hit.status, seconds, hit.sent, "hit")
        if self.access is not None:
            write_line(self.access.logger, self.access.hit_line(environ, hit, seconds))

    def finish(self, exchange: _Exchange, sent: int, complete: bool) -> None:
        seconds = time.perf_counter() - exchange.started
        environ = exchange.environ
        method = environ.get("REQUEST_METHOD", "")
        if method not in METHODS:
            method = "other"
        route = route_of(environ, self.url_map)
        status = exchange.status[:3]
        if self.metrics is not None:
            self.metrics.request(route, method, status, seconds, sent, exchange.cache)
        if self.access is not None:
            answer = (route, method, status, exchange.headers)
            seen = (exchange.cache, exchange.query)
            self.access.write(environ, answer, seconds, sent, complete, seen)


class ObservedBody:
    """A response body passed through, its bytes counted; ``done`` is called once, when the body
    is exhausted, fails, or is closed early."""

    __slots__ = ("body", "chunks", "done", "finished", "sent")

    def __init__(self, body: Iterable[bytes], done: Callable[[int, bool], None]) -> None:
        self.body = body
        self.chunks = iter(body)
        self.done = done
        self.sent = 0
        self.finished = False

    def __iter__(self) -> ObservedBody:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self.chunks)
        except StopIteration:
            self._end(True)
            raise
        except BaseException:
            self._end(False)
            raise
        self.sent += len(chunk)
        return chunk

    def close(self) -> None:
        try:
            close_chunks(self.body)
        finally:
            self._end(False)

    def _end(self, complete: bool) -> None:
        if not self.finished:
            self.finished = True
            self.done(self.sent, complete)
