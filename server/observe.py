"""What operators see of a running server: Prometheus metrics and one JSON access line per request.

``Observer`` is the outermost WSGI middleware, so it sees every answer, those of the raw-WSGI fronts
(cache hits, the endpoint's fast path) as much as Flask's: the status comes from ``start_response``
and the time ends when the body has been handed over. It counts the request by route (the endpoint
name, never the raw path, so the number of series stays bounded), method and status, and writes the
access line. The store and the response cache are wrapped (``observe_services``) to count each
query's outcome, timeouts, capped answers and cache hits where they happen; what they learn about
the current request reaches the access line through a thread-local, as a WSGI request runs on one
thread from the call to the return.

``kgpub serve`` runs several worker processes: the counters then live in files of a folder all of
them share (prometheus_client's multiprocess mode, ``multiprocess_metrics``), and whichever worker
answers ``/-/metrics`` adds them up. An app in a single process (the test client) keeps its own
registry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map

from kgpub import __version__

from .cache import CachedResponse, CacheKey, ResponseCache
from .config import Services
from .pool import Answer, Busy, QueryFailed, QueryTimeout
from .store import QueryRequest, Store

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
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
# bounds on what a client controls in its access line
MAX_USER_AGENT = 200
MAX_PATH = 1000
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


# --- metrics ------------------------------------------------------------------------------------


def multiprocess_folder() -> Path | None:
    value = os.environ.get(MULTIPROCESS_VARIABLE)
    return Path(value) if value else None


@contextmanager
def multiprocess_metrics(runtime: Path) -> Iterator[Path]:
    """Name ``runtime/metrics`` as the counters' folder for the worker processes started inside.

    prometheus_client chooses where a counter keeps its value when it is first imported, so the
    variable must be set before any worker imports it."""
    folder = runtime / "metrics"
    folder.mkdir(mode=0o700, exist_ok=True)
    previous = os.environ.get(MULTIPROCESS_VARIABLE)
    os.environ[MULTIPROCESS_VARIABLE] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_VARIABLE, None)
        else:
            os.environ[MULTIPROCESS_VARIABLE] = previous


def _shared_values(folder: Path | None) -> None:
    """In a worker forked from a process that imported prometheus_client before the folder was
    named, the values were set up to stay in memory: point new ones at the shared files."""
    from prometheus_client import values

    if folder is not None and not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()


class Metrics:
    """The server's counters and histograms, in this process or shared by all workers."""

    def __init__(self, build: Callable[[], tuple[str, float]]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.folder = multiprocess_folder()
        _shared_values(self.folder)
        self.build = build
        # shared: the values are in files and a registry is made per scrape; else the app's own
        registry = None if self.folder is not None else CollectorRegistry()
        self.registry = registry
        self.requests = Counter(
            "kgpub_http_requests",
            "HTTP requests answered, by route (URL family), method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "kgpub_http_request_duration_seconds",
            "Time from the request to the last byte of its answer handed to the server",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.sent = Counter(
            "kgpub_http_response_bytes",
            "Body bytes sent (after compression), by route",
            ["route"],
            registry=registry,
        )
        self.queries = Counter(
            "kgpub_sparql_queries",
            "SPARQL queries of the endpoint and the query page, by form and outcome "
            "(ok, truncated, timeout, busy, rejected, too_large, unavailable, failed, cancelled)",
            ["form", "outcome"],
            registry=registry,
        )
        self.timeouts = Counter(
            "kgpub_sparql_timeouts",
            "Queries stopped at their time limit, the endpoint's and the pages' own",
            registry=registry,
        )
        self.rows_capped = Counter(
            "kgpub_sparql_rows_capped",
            "Endpoint answers cut at max_rows rows (or triples)",
            registry=registry,
        )
        self.store_calls = Counter(
            "kgpub_store_calls",
            "Calls to the store by the pages and the server itself, by call and outcome",
            ["call", "outcome"],
            registry=registry,
        )
        self.store_duration = Histogram(
            "kgpub_store_call_duration_seconds",
            "Time the store took to answer a call (a streamed answer: its first part)",
            ["call"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.cache_hits = Counter(
            "kgpub_cache_hits", "Requests answered from the response cache", registry=registry
        )
        self.cache_misses = Counter(
            "kgpub_cache_misses",
            "Requests that looked in the response cache and did not find their answer",
            registry=registry,
        )
        self._children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
        if registry is not None:
            registry.register(BuildCollector(build))

    def request(
        self, route: str, method: str, status: str, seconds: float, sent: int, cache: str | None
    ) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:  # the label sets are few: one look-up each, then kept
            children = (
                self.requests.labels(route, method, status),
                self.duration.labels(route),
                self.sent.labels(route),
            )
            self._children[key] = children
        requests, duration, sent_bytes = children
        requests.inc()
        duration.observe(seconds)
        if sent:
            sent_bytes.inc(sent)
        if cache == "hit":
            self.cache_hits.inc()
        elif cache == "miss":
            self.cache_misses.inc()

    def exposition(self) -> bytes:
        """The text format: this app's registry, or the files of every worker."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        if self.registry is not None:
            return generate_latest(self.registry)
        assert self.folder is not None
        # every worker's files, the dead ones' too: a counter's past counts stay counted
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(self.folder))
        registry.register(BuildCollector(self.build))
        return generate_latest(registry)


class BuildCollector:
    """Which build this server answers from, read at each scrape (a remote store's may change)."""

    def __init__(self, build: Callable[[], tuple[str, float]]) -> None:
        self.build = build

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        identity, modified = self.build()
        info = GaugeMetricFamily(
            "kgpub_build_info",
            "The build being served and the server's version",
            labels=["build", "version"],
        )
        info.add_metric([identity, __version__], 1)
        yield info
        yield GaugeMetricFamily(
            "kgpub_build_timestamp_seconds", "When the data being served was built", value=modified
        )


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
            metrics.store_duration.labels("query").observe(time.perf_counter() - started)
        if answer.chunks is None:
            self._count(form, "truncated" if answer.truncated else "ok")
        else:  # the outcome is known when the stream ends
            answer.chunks = self._watch(answer.chunks, form, answer.truncated)
        return answer

    def _count(self, form: str, outcome: str) -> None:
        assert self._metrics is not None
        self._metrics.queries.labels(form, outcome).inc()
        if outcome == "timeout":
            self._metrics.timeouts.inc()
        elif outcome == "truncated":
            self._metrics.rows_capped.inc()

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
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


def _timed_call(metrics: Metrics, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "ok"
        try:
            return call(*args, **kwargs)
        except Exception as error:
            outcome = failure_outcome(error)
            if outcome == "timeout":
                metrics.timeouts.inc()
            raise
        finally:
            metrics.store_duration.labels(name).observe(time.perf_counter() - started)
            metrics.store_calls.labels(name, outcome).inc()

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


def client_address(environ: dict[str, Any], trust_forwarded: bool) -> str:
    """The peer's address; behind our own proxy (``trust_forwarded``), the address that proxy
    appended last to X-Forwarded-For: earlier entries are whatever the client chose to send."""
    if trust_forwarded:
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:64]
    return environ.get("REMOTE_ADDR", "")


def _text(raw: str, limit: int) -> str:
    """A WSGI string (bytes as latin-1) as the UTF-8 the client most likely sent, bounded."""
    if raw.isascii() and len(raw) <= limit:
        return raw
    try:
        text = raw.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        text = raw
    return text if len(text) <= limit else text[:limit] + "…"


def query_hash(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8", "replace")).hexdigest()[:QUERY_HASH_CHARS]


@lru_cache(maxsize=512)
def url_query_hash(query_string: str) -> str | None:
    """The hash of a GET's query: clients repeat the same queries, as the memoized protocol
    parsing of the endpoint assumes too."""
    for name, value in parse_qsl(query_string, keep_blank_values=True, errors="replace"):
        if name == "query":
            return query_hash(value)
    return None


def utc_now() -> str:
    """ISO 8601, UTC, milliseconds."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


@dataclass
class Finished:
    """One answered request, as the access line and the counters see it."""

    environ: dict[str, Any]
    route: str
    method: str
    status: str  # "200"
    headers: Sequence[tuple[str, str]]
    seconds: float
    sent: int
    complete: bool  # False: the body ended early (a failed stream, a client gone)
    cache: str | None
    query: str | None


def access_record(done: Finished, trust_forwarded: bool) -> dict[str, Any]:
    """The fields of one access line. Never the body; of a query, its length and a short hash."""
    environ = done.environ
    query_string = environ.get("QUERY_STRING", "")
    hashed = query_hash(done.query) if done.query is not None else None
    if hashed is None and done.route == "sparql.endpoint" and query_string:
        hashed = url_query_hash(query_string)
    truncated = any(
        name.lower() == "x-result-truncated" and value == "true" for name, value in done.headers
    )
    return {
        "time": utc_now(),
        "client": client_address(environ, trust_forwarded),
        "method": done.method,
        "path": _text(environ.get("PATH_INFO", ""), MAX_PATH),
        "query_length": len(query_string),
        "query_hash": hashed,
        "route": done.route,
        "status": int(done.status),
        "bytes": done.sent,
        "duration_ms": round(done.seconds * 1000, 3),
        "cache": done.cache,
        "truncated": truncated,
        "complete": done.complete,
        "user_agent": _text(environ.get("HTTP_USER_AGENT", ""), MAX_USER_AGENT),
        "worker": _Pid.value,
    }


_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def access_line(record: dict[str, Any]) -> str:
    """One line whatever the client sent: JSON escapes newlines and every non-ASCII character."""
    return _ENCODER.encode(record)


def write_line(logger: logging.Logger, line: str) -> None:
    """``logger.info(line)`` without looking up the caller's frame, a good share of its cost:
    the access line names its source itself."""
    if logger.isEnabledFor(logging.INFO):
        logger.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 0, line, (), None))


# --- the middleware -------------------------------------------------------------------------------


@dataclass
class Observation:
    """What ``create_app`` sets up: the counters (None when off) and the access logger (None when
    off)."""

    metrics: Metrics | None
    access: logging.Logger | None
    trust_forwarded: bool

    @property
    def active(self) -> bool:
        return self.metrics is not None or self.access is not None


def observe_services(services: Services) -> Observation:
    """Wrap the store and the cache of ``services`` so they report what they do: before the fronts
    and the routes take them."""
    settings = services.settings
    store = services.store
    metrics = Metrics(lambda: (store.identity, store.modified)) if settings.metrics else None
    observation = Observation(
        metrics, access_logger() if settings.access_log else None, settings.trust_forwarded
    )
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


@dataclass
class _Started:
    """What the app gave ``start_response``; a 500 if it raised before."""

    status: str = "500 Internal Server Error"
    headers: Sequence[tuple[str, str]] = ()


class Observer:
    """WSGI middleware: counts and logs every request, whoever inside answers it."""

    def __init__(self, app: WsgiApp, url_map: Map, observation: Observation) -> None:
        self.app = app
        self.url_map = url_map
        self.metrics = observation.metrics
        self.access = observation.access
        self.trust_forwarded = observation.trust_forwarded

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        _current.reset()
        answer = _Started()

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer.status, answer.headers = status, headers
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, capture)
        except BaseException:
            self.finish(environ, answer, started, 0, False, (None, None))
            raise
        seen = (_current.cache, _current.query)
        if isinstance(body, list):  # the fronts' whole answers: the server's fast path, kept
            self.finish(environ, answer, started, sum(map(len, body)), True, seen)
            return body
        return ObservedBody(
            body, lambda sent, complete: self.finish(environ, answer, started, sent, complete, seen)
        )

    def finish(
        self,
        environ: dict[str, Any],
        answer: _Started,
        started: float,
        sent: int,
        complete: bool,
        seen: tuple[str | None, str | None],
    ) -> None:
        seconds = time.perf_counter() - started
        method = environ.get("REQUEST_METHOD", "")
        done = Finished(
            environ=environ,
            route=route_of(environ, self.url_map),
            method=method if method in METHODS else "other",
            status=answer.status[:3],
            headers=answer.headers,
            seconds=seconds,
            sent=sent,
            complete=complete,
            cache=seen[0],
            query=seen[1],
        )
        if self.metrics is not None:
            self.metrics.request(done.route, done.method, done.status, seconds, sent, done.cache)
        if self.access is not None:
            write_line(self.access, access_line(access_record(done, self.trust_forwarded)))


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
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._end(False)

    def _end(self, complete: bool) -> None:
        if not self.finished:
            self.finished = True
            self.done(self.sent, complete)
