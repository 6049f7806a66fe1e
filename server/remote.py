"""A remote SPARQL 1.1 endpoint as the store behind the app (``kgpub serve --backend URL``).

``RemoteStore`` implements ``store.Store`` over HTTP, so the routes cannot tell it from the
embedded store: ``/sparql`` forwards the client's query, the linked-data pages, search and the
article view send their SELECTs (``store.LinkedDataQueries``) through ``select``.

What the endpoint promises holds in front of it, because it is decided here, not by the remote
store: the query was checked before it gets here (``sparql.check_query``: no update, no LOAD, no
SERVICE) and is checked again before it leaves; the deadline is ours (past it the connection is
closed and the client gets a 503); the answer is read back in a format pyoxigraph parses, capped
at our row and byte limits and written in the format the client negotiated, by the same functions
the embedded store's query processes use (``executor.answer``). A large answer is streamed: a
thread reads and rewrites it while the request thread hands the chunks to the client.

Which data is behind the URL (``identity``, ``modified``) is read from the data itself, the
build's dataset description, and checked again at most every ``backend_refresh`` seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import pickle
import queue
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import pyoxigraph as ox
import urllib3
from urllib3.exceptions import HTTPError, ProtocolError, ReadTimeoutError

from kgpub import __version__

from . import executor as protocol
from .pool import Answer, QueryFailed, QueryTimeout, opening_answer, read_stream, reported_failure
from .querytext import scan
from .store import LinkedDataQueries, QueryRequest, Term, answer_message, json_rows

log = logging.getLogger(__name__)

SPARQL_JSON_TYPE = "application/sparql-results+json"
# what the remote store may answer in: formats pyoxigraph parses, the compact ones first
ACCEPT_ANSWER = (
    "application/sparql-results+json, application/n-triples, "
    "application/sparql-results+xml;q=0.9, text/tab-separated-values;q=0.8, "
    "application/n-quads;q=0.8, text/turtle;q=0.7, application/rdf+xml;q=0.6"
)
RESULTS_FORMATS = {
    SPARQL_JSON_TYPE: ox.QueryResultsFormat.JSON,
    "application/json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "application/xml": ox.QueryResultsFormat.XML,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}
FORM = "application/x-www-form-urlencoded"
# seconds to open a connection at most (within the query's own time)
CONNECT_SECONDS = 3.0
# seconds the look-up of the dataset description may take
IDENTITY_SECONDS = 2.0
# bytes of a remote error message kept for the client or the log
ERROR_TEXT_BYTES = 2000
# chunks of a streamed answer held between the reading thread and the client, about 1 MB each
QUEUE_CHUNKS = 2
READ_BYTES = 64 * 1024

VOID = "http://rdfs.org/ns/void#"
DCT_MODIFIED = "http://purl.org/dc/terms/modified"


def check_backend_url(url: str) -> str:
    """The URL of a SPARQL query endpoint, or ValueError with what is wrong with it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"backend {url!r} is not an http:// or https:// URL of a SPARQL query endpoint "
            "(for example http://127.0.0.1:7878/query)"
        )
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError(f"backend {url!r} has a malformed port") from None
    return url.strip()


class Cancelled(Exception):
    """Raised in the reading thread once the request gave up on its answer."""


@dataclass
class Description:
    """What the remote store says about the data it holds, as last checked."""

    identity: str
    modified: float
    checked: float  # time.monotonic() of the check


class RemoteStore(LinkedDataQueries):
    """The ``Store`` of a SPARQL 1.1 query endpoint, reached with pooled keep-alive connections."""

    def __init__(
        self,
        url: str,
        dataset: str,
        description_graph: str | None = None,
        union_param: str = "union-default-graph",
        refresh: float = 5.0,
        pool_size: int = 4,
    ) -> None:
        self.url = check_backend_url(url)
        parts = urlsplit(self.url)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.dataset = dataset  # the IRI the build's dataset description is about
        self.description_graph = description_graph  # the graph it is in; None: any graph
        self.union_param = union_param
        self.refresh = refresh
        self.pool_size = max(1, pool_size)
        self._pool: urllib3.HTTPConnectionPool | None = None
        self._pool_pid = 0
        self._lock = threading.Lock()
        self._description: Description | None = None
        self._check_lock = threading.Lock()

    # --- which data -----------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        return self._described().identity

    @property
    def modified(self) -> float:
        return self._described().modified

    def _described(self) -> Description:
        """The last description, checked again once ``refresh`` seconds have passed. One thread
        checks; the others keep using the previous answer meanwhile (only the very first check
        is waited for)."""
        known = self._description
        if known is not None:
            if time.monotonic() - known.checked < self.refresh:
                return known
            if not self._check_lock.acquire(blocking=False):
                return known
        else:
            self._check_lock.acquire()
        try:
            latest = self._description
            if latest is known or latest is None:
                latest = self._description = self._describe(known)
            return latest
        finally:
            self._check_lock.release()

    def _describe(self, known: Description | None) -> Description:
        """Identity from the build's dataset description (its statements, and the size of each
        part it lists), which changes with every build, and with the build id and time that
        ``kgpub publish`` adds to it; the URL's hash when the store holds no such description
        (data loaded by hand). Last-Modified is the description's ``dct:modified`` if it has one,
        else when this identity was first seen."""
        ds = f"<{self.dataset}>"
        graph = f"<{self.description_graph}>" if self.description_graph else "?g"
        query = (
            "SELECT ?s ?p ?o WHERE { "
            f"{{ GRAPH {graph} {{ {ds} ?p ?o }} BIND({ds} AS ?s) }} UNION "
            f"{{ {ds} ?p ?o BIND({ds} AS ?s) }} UNION "
            f"{{ GRAPH {graph} {{ {ds} <{VOID}subset> ?s . ?s <{VOID}triples> ?o }} "
            f"BIND(<{VOID}triples> AS ?p) }} }} LIMIT 10000"
        )
        now = time.monotonic()
        try:
            rows = self.select(query, IDENTITY_SECONDS, union=False)
        except (QueryFailed, QueryTimeout) as error:
            log.warning("cannot read the dataset description at %s: %s", self.url, error)
            if known is not None:
                return Description(known.identity, known.modified, now)
            return Description(_url_identity(self.url), time.time(), now)
        if not rows:
            identity = _url_identity(self.url)
        else:
            lines = sorted("\x00".join(_term_text(row.get(k)) for k in "spo") for row in rows)
            identity = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
        if known is not None and known.identity == identity:
            return Description(identity, known.modified, now)
        stated = [_timestamp(row["o"]) for row in rows if row["p"].value == DCT_MODIFIED]
        stamps = [stamp for stamp in stated if stamp is not None]
        return Description(identity, max(stamps) if stamps else time.time(), now)

    # --- queries --------------------------------------------------------------------------------

    def query(self, request: QueryRequest) -> Answer:
        """Forward a checked query and give its answer as the embedded store would."""
        self._refuse_what_never_leaves(request.query)
        query, added_lines = with_base(request.query, request.base_iri)
        fields = self._fields(query, request.union_default_graph)
        for name, graphs in (
            ("default-graph-uri", request.default_graphs),
            ("named-graph-uri", request.named_graphs),
        ):
            for graph in graphs or ():
                try:
                    ox.NamedNode(graph)
                except ValueError as error:
                    raise QueryFailed("bad_request", f"{name} {graph!r}: {error}") from None
                fields.append((name, graph))
        deadline = time.monotonic() + request.timeout
        flow = Flow(self, fields, answer_message(request), deadline)
        threading.Thread(target=flow.produce, name="remote-answer", daemon=True).start()
        try:
            answer = opening_answer(flow.next(deadline), _failure)
        except QueryFailed as failure:
            if failure.kind == "syntax" and added_lines:
                raise QueryFailed("syntax", moved_up(failure.message, added_lines)) from None
            raise
        if answer.body is None:
            answer.chunks = _stream(flow, deadline - time.monotonic())
        return answer

    def select(self, sparql: str, timeout: float, union: bool = True) -> list[dict[str, Term]]:
        deadline = time.monotonic() + timeout
        response = self.post(self._fields(sparql, union), SPARQL_JSON_TYPE, deadline)
        try:
            body = _read_all(response, deadline)
        except BaseException:
            _discard(response)
            raise
        response.release_conn()
        media_type = _media_type(response)
        try:
            if RESULTS_FORMATS.get(media_type) not in (None, ox.QueryResultsFormat.JSON):
                # a store that answered in another results format: rewritten, not refused
                out = io.BytesIO()
                ox.parse_query_results(body, RESULTS_FORMATS[media_type]).serialize(
                    out, ox.QueryResultsFormat.JSON
                )
                body = out.getvalue()
            return json_rows(body)
        except (ValueError, KeyError, TypeError, SyntaxError) as error:
            raise QueryFailed(
                "store", f"the SPARQL store at {self.url} sent results that do not parse: {error}"
            ) from None

    def close(self) -> None:
        pool = self._pool
        if pool is not None and self._pool_pid == os.getpid():
            pool.close()

    # --- HTTP -----------------------------------------------------------------------------------

    def post(
        self, fields: Sequence[tuple[str, str]], accept: str, deadline: float
    ) -> urllib3.BaseHTTPResponse:
        """POST a query as a form; the response once its status and headers are in (2xx only).

        A keep-alive connection the store closed meanwhile is retried once on a fresh one: a
        query only reads, so sending it again is safe.
        """
        body = urlencode(fields).encode("utf-8")
        headers = {"Content-Type": FORM, "Accept": accept, "User-Agent": f"kgpub/{__version__}"}
        for attempt in (1, 2):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QueryTimeout
            timeout = urllib3.Timeout(connect=min(CONNECT_SECONDS, remaining), read=remaining)
            try:
                response = self._connections().urlopen(
                    "POST",
                    self.target,
                    body=body,
                    headers=headers,
                    timeout=timeout,
                    retries=False,
                    redirect=False,
                    preload_content=False,
                    release_conn=False,
                )
            except ReadTimeoutError:
                raise QueryTimeout from None
            except ProtocolError as error:
                if attempt == 1:
                    continue
                raise self._unreachable(error) from None
            except (HTTPError, OSError) as error:
                raise self._unreachable(error) from None
            if 200 <= response.status < 300:
                return response
            raise self._refusal(response)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _connections(self) -> urllib3.HTTPConnectionPool:
        """The connection pool of this process, made after the fork: sockets are not shared
        across worker processes."""
        pool = self._pool
        if pool is not None and self._pool_pid == os.getpid():
            return pool
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = urllib3.connection_from_url(
                    self.url, maxsize=self.pool_size, block=False, retries=False
                )
                self._pool_pid = os.getpid()
            return self._pool

    def _fields(self, query: str, union: bool) -> list[tuple[str, str]]:
        fields = [("query", query)]
        if union and self.union_param:
            fields.append((self.union_param, "true"))
        return fields

    def _refuse_what_never_leaves(self, query: str) -> None:
        """The route refused these already (``sparql.check_query``); this is the second lock on
        that door, so no path to the store can forward an update or a federated query."""
        facts = scan(query)
        if facts.looks_like_update or facts.uses_service:
            raise QueryFailed(
                "bad_request", "updates and SERVICE are never forwarded to the SPARQL store"
            )

    def _unreachable(self, error: Exception) -> QueryFailed:
        reason = getattr(error, "reason", None) or error
        return QueryFailed("store", f"the SPARQL store at {self.url} is unreachable: {reason}")

    def _refusal(self, response: urllib3.BaseHTTPResponse) -> QueryFailed:
        """A 4xx or 5xx of the store: 400 is the query's fault (its syntax), the rest the
        store's."""
        try:
            text = response.read(ERROR_TEXT_BYTES).decode("utf-8", "replace").strip()
        except (HTTPError, OSError):
            text = ""
        _discard(response)
        if response.status == 400:
            return QueryFailed("syntax", syntax_message(text or "the SPARQL store refused it"))
        return QueryFailed(
            "store", f"the SPARQL store at {self.url} answered {response.status}: {text[:300]}"
        )


class Body(io.RawIOBase):
    """A response body as the file pyoxigraph's parsers read; it remembers whether it reached the
    end (only then may the connection be used again) and what a read raised."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        super().__init__()
        self.response = response
        self.ended = False
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.response.read1(min(len(buffer), READ_BYTES))
        except BaseException as error:
            self.error = error
            raise
        if not data:
            self.ended = True
            return 0
        buffer[: len(data)] = data
        return len(data)


class Flow:
    """One forwarded query: a thread reads the remote answer and writes it in the client's
    format (``produce``); the request thread takes the messages (``next``), as ``pool`` takes
    those of a query process."""

    def __init__(
        self, store: RemoteStore, fields: list[tuple[str, str]], message: dict, deadline: float
    ) -> None:
        self.store = store
        self.fields = fields
        self.message = message
        self.deadline = deadline
        self.messages: queue.Queue[bytes] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self.cancelled = threading.Event()
        self.response: urllib3.BaseHTTPResponse | None = None
        self.complete = False  # the whole remote answer went into ours (no cap stopped it)
        self.truncated = False

    # the request thread's side
    def next(self, deadline: float) -> bytes:
        """The next message, waited for until ``deadline``: past it the remote answer is
        abandoned and its connection closed."""
        try:
            return self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            self.cancel()
            raise QueryTimeout from None

    def cancel(self) -> None:
        self.cancelled.set()
        response = self.response
        if response is not None:
            # wakes the reading thread at once; the connection is never reused
            with contextlib.suppress(Exception):
                response.shutdown()

    # the reading thread's side
    def emit(self, *parts: bytes) -> None:
        message = b"".join(parts)
        if message[:1] in (protocol.FULL, protocol.HEAD):
            self.truncated = protocol.read_header(message)[2]
        while True:
            if self.cancelled.is_set():
                raise Cancelled
            try:
                self.messages.put(message, timeout=0.25)
                return
            except queue.Full:
                continue

    def produce(self) -> None:
        body: Body | None = None
        try:
            response = self.store.post(self.fields, ACCEPT_ANSWER, self.deadline)
            self.response = response
            if self.cancelled.is_set():
                raise Cancelled
            body = Body(response)
            # no CPU time of ours to report: the client is charged the wall time
            emit = protocol.with_cost(self.emit, None)
            protocol.answer(self._parse(response, body), self.message, emit)
            self.complete = not self.truncated
        except BaseException as error:
            self._report(error, body)
        finally:
            self._finish(body)

    def _parse(self, response: urllib3.BaseHTTPResponse, body: Body) -> Any:
        """Solutions or a boolean, or an iterator of triples, read as the answer arrives."""
        media_type = _media_type(response)
        results = RESULTS_FORMATS.get(media_type)
        if results is not None:
            return ox.parse_query_results(body, results)
        rdf = ox.RdfFormat.from_media_type(media_type) if media_type else None
        if rdf is None:
            raise QueryFailed(
                "store",
                f"the SPARQL store at {self.store.url} answered in {media_type or 'no format'}, "
                "which kgpub cannot read",
            )
        return (quad.triple for quad in ox.parse(body, rdf, base_iri=self.store.url))

    def _report(self, error: BaseException, body: Body | None) -> None:
        if self.cancelled.is_set() or isinstance(error, Cancelled):
            return  # nobody waits for this answer any more
        if body is not None and body.error is not None:
            error = body.error  # what reading the remote answer raised, not the parser's view
        failure = _describe_failure(error, self.store.url)
        if failure[0] == "internal":
            log.error("forwarding a query failed", exc_info=error)
        with contextlib.suppress(Cancelled):
            self.emit(protocol.ERROR, pickle.dumps(failure))

    def _finish(self, body: Body | None) -> None:
        response = self.response
        if response is None:
            return
        if body is not None and self.complete and not self.cancelled.is_set():
            # a parser may stop at the document's last byte, before the end of the stream
            with contextlib.suppress(HTTPError, OSError):
                if not body.ended and not response.read1(READ_BYTES).strip():
                    body.ended = True
        if body is not None and body.ended and not self.cancelled.is_set():
            response.release_conn()
        else:
            _discard(response)  # stopped mid-answer (row cap, timeout, error): never reused


def _describe_failure(error: BaseException, url: str) -> tuple[str, str]:
    """(kind, message) of an error met while forwarding, as ``pool.QueryFailed`` takes them."""
    if isinstance(error, QueryFailed):
        return error.kind, error.message
    if isinstance(error, QueryTimeout | ReadTimeoutError | TimeoutError):
        return "timeout", ""
    if isinstance(error, protocol.TooLarge):
        return "too_large", str(error)
    if isinstance(error, SyntaxError):
        return "store", f"the SPARQL store at {url} sent an answer that does not parse: {error}"
    if isinstance(error, HTTPError | OSError):
        return "store", f"the SPARQL store at {url} broke off its answer: {error}"
    return "internal", f"{type(error).__name__}: {error}"


def _failure(message: bytes) -> Exception:
    failure = reported_failure(message)
    return QueryTimeout() if failure.kind == "timeout" else failure


def _stream(flow: Flow, budget: float) -> Iterator[bytes]:
    """The chunks of a large answer. As for the embedded store, only the time spent waiting for
    the remote answer counts against the budget, not the time a slow client takes to read."""
    finished = False
    try:
        yield from read_stream(flow.next, budget, _failure)
        finished = True
    finally:
        if not finished:
            flow.cancel()


def _read_all(response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
    parts = []
    while True:
        if time.monotonic() > deadline:
            raise QueryTimeout
        try:
            data = response.read1(READ_BYTES)
        except ReadTimeoutError:
            raise QueryTimeout from None
        except (HTTPError, OSError) as error:
            raise QueryFailed("store", f"the SPARQL store broke off its answer: {error}") from None
        if not data:
            return b"".join(parts)
        parts.append(data)


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    """Close the connection of a response not read to its end, and give its pool slot back."""
    with contextlib.suppress(Exception):
        response.close()
    with contextlib.suppress(Exception):
        response.release_conn()


def _media_type(response: urllib3.BaseHTTPResponse) -> str:
    return response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


_LINE_COLUMN = re.compile(r"line (\d+), column (\d+)", re.IGNORECASE)
_AT_LINE = re.compile(r"at (\d+):(\d+)")


def with_base(query: str, base_iri: str | None) -> tuple[str, int]:
    """The query as the store is sent it, and the lines put before it. A query with a relative IRI
    gets our base IRI as its first BASE (its own BASE, if any, comes after and wins): the store
    would resolve it against its own URL, which clients never see."""
    if not base_iri or not scan(query).relative_iri:
        return query, 0
    return f"BASE <{base_iri}>\n{query}", 1


def moved_up(message: str, lines: int) -> str:
    """A syntax error's position (``at LINE:COLUMN``) in the query as the client sent it."""
    return _AT_LINE.sub(lambda m: f"at {max(1, int(m.group(1)) - lines)}:{m.group(2)}", message, 1)


def syntax_message(text: str) -> str:
    """A store's syntax error in Oxigraph's form (``error at LINE:COLUMN: ...``) when it names a
    line and a column in words, as Jena and others do, so the client sees where the error is."""
    if re.search(r"at \d+:\d+", text):
        return text
    match = _LINE_COLUMN.search(text)
    if match is None:
        return text
    detail = " ".join(text.split())
    return f"error at {match.group(1)}:{match.group(2)}: {detail}"


def _url_identity(url: str) -> str:
    return hashlib.sha256(f"remote {url}".encode()).hexdigest()[:16]


def _term_text(term: Term | None) -> str:
    if term is None:
        return ""
    return f"{term.kind} {term.value} {term.datatype or ''} {term.language or ''}"


def _timestamp(term: Term) -> float | None:
    """Seconds since the epoch of an xsd:date or xsd:dateTime literal; None if it is neither."""
    try:
        stamp = datetime.fromisoformat(term.value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()
