"""``/sparql``: the SPARQL 1.1 Protocol (query operation), read-only.

GET ``?query=``, POST form-encoded, POST ``application/sparql-query``; ``default-graph-uri`` and
``named-graph-uri`` replace the query's own FROM/FROM NAMED. Without a query, RDF clients get the
service description and browsers the query page. docs/sparql.md describes it for users.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

from . import description, errors, fairness
from .cache import has_body, request_key
from .config import Services, services
from .formats import (
    FORMATS,
    GRAPH_FORMATS,
    HTML,
    OFFERED,
    RESULT_FORMATS,
    SPARQL_JSON,
    TURTLE,
    Format,
    Kind,
    choose,
    negotiate,
    pick,
)
from .pool import Answer, Busy, QueryFailed, QueryTimeout, close_chunks
from .querypage import QueryPage, ResultTable, table_from_json
from .querytext import QueryText, scan
from .store import QueryRequest

bp = Blueprint("sparql", __name__)

FORM = "application/x-www-form-urlencoded"
QUERY_BODY = "application/sparql-query"
UPDATE_BODY = "application/sparql-update"
ALL_DATA_FORMATS = (*RESULT_FORMATS, *GRAPH_FORMATS)
# the first short name of each, for the message that answers a name none of them has
FORMAT_NAMES = tuple(dict.fromkeys(f.short_names[0] for f in ALL_DATA_FORMATS if f.short_names))
BY_MEDIA_TYPE = {fmt.media_type: fmt for fmt in FORMATS.values()}
READ_ONLY = "SPARQL Update is not allowed: this endpoint is read-only"
# the values of SPARQL 1.2's version announcement (a ``version`` parameter, or a media-type
# parameter of application/sparql-query); the engine reads both languages whatever is announced
SPARQL_VERSIONS = ("1.1", "1.2", "1.2-basic")


@dataclass(frozen=True)
class ProtocolRequest:
    """The protocol parameters of one request, checked."""

    query: str | None
    update: bool
    default_graphs: tuple[str, ...] | None
    named_graphs: tuple[str, ...] | None
    format_values: tuple[str, ...]  # ?format= and ?output=, in order
    example: str | None  # ?example=NAME pre-fills the query page
    body: bytes  # the raw POST body, part of the cache key


NO_QUERY_POSTED = (
    "the POST has no query: send it as the 'query' form parameter "
    "(application/x-www-form-urlencoded) or as the body (application/sparql-query); "
    "GET /sparql without a query gives the service description"
)

# where the raw-WSGI front (``front.SparqlFront``) leaves an error it met, for this route to answer
PENDING_ERROR = "kgpub.sparql.error"


@bp.route("/sparql", methods=["GET", "POST"])
def endpoint() -> Response:
    pending = request.environ.get(PENDING_ERROR)
    if pending is not None:
        raise pending
    check_no_body(request.environ)
    app = services()
    protocol = read_request(app)
    if protocol.update:
        raise errors.Forbidden(READ_ONLY)
    if protocol.query is None:
        if request.method == "POST":  # the service description answers a GET, as SD 1.1 says
            raise errors.BadRequest(NO_QUERY_POSTED)
        return describe_or_page(app, protocol)
    formats, html = choose_formats(protocol.format_values, request.headers.get("Accept"))
    if html:
        return query_page(app, protocol)
    facts = check_query(protocol.query)
    key = None
    if app.cache is not None:
        key = request_key(app.store.identity, request.environ, protocol.body)
        hit = app.cache.get(key)
        if hit is not None:
            g.from_cache = True
            return Response(hit.body, hit.status, hit.headers)
    answer = run(app, protocol, formats, facts, request.environ)
    response = answer_response(answer)
    if key is not None and answer.body is not None:
        g.cache_key = key  # stored once compressed, by responses.finish
    return response


@bp.route("/sparql/", methods=["GET", "POST"])
def endpoint_with_slash() -> Response:
    """The protocol's own examples write the endpoint ``/sparql/``: the request goes on, method,
    body and parameters kept (308), to the endpoint itself."""
    query_string = request.environ.get("QUERY_STRING", "")
    target = url_for("sparql.endpoint")
    return redirect(target + ("?" + query_string if query_string else ""), 308)


def check_no_body(environ: dict) -> None:
    """A query by GET carries no body (SPARQL 1.1 Protocol 2.1.1): one that does is refused, not
    answered as if the body were not there."""
    if environ["REQUEST_METHOD"] == "GET" and has_body(environ):
        raise errors.BadRequest(
            "a GET request carries no body: put the query in the URL, or send it with POST"
        )


def read_request(app: Services) -> ProtocolRequest:
    """The parameters from the URL and, for POST, the body; every malformed request is a 4xx."""
    params = url_params(request.environ.get("QUERY_STRING", ""), app.settings.max_url_bytes)
    body = b""
    if request.method == "POST":
        body, extra = _read_body(app.settings.max_body_bytes)
        params += extra
    return protocol_request(params, body)


def url_params(query_string: str, limit: int) -> list[tuple[str, str]]:
    if len(query_string) > limit:
        raise errors.UriTooLong(
            f"the URL is longer than {limit} bytes; send the query with POST instead"
        )
    if not query_string.isascii():
        # a URL should carry non-ASCII text percent-encoded, but clients also send it raw: the
        # WSGI string holds those bytes as Latin-1, so they are read again as the UTF-8 they are
        query_string = _utf8(query_string.encode("latin-1"), "URL")
    return _parse_pairs(query_string, "URL")


def protocol_request(params: list[tuple[str, str]], body: bytes) -> ProtocolRequest:
    """The protocol parameters from the URL's and the body's name-value pairs."""
    values: dict[str, list[str]] = {}
    for name, value in params:
        values.setdefault(name, []).append(value)
    queries = values.get("query", [])
    if len(queries) > 1:
        raise errors.BadRequest("the request has more than one query parameter; send one query")
    versions = values.get("version", [])
    if len(versions) > 1:
        raise errors.BadRequest(
            "the request has more than one version parameter; announce one SPARQL version"
        )
    for version in versions:
        check_version(version)
    has_dataset = "default-graph-uri" in values or "named-graph-uri" in values
    return ProtocolRequest(
        query=queries[0] if queries else None,
        update="update" in values,
        default_graphs=tuple(values.get("default-graph-uri", ())) if has_dataset else None,
        named_graphs=tuple(values.get("named-graph-uri", ())) if has_dataset else None,
        format_values=format_values(lambda name: values.get(name, ())),
        example=(values.get("example") or [None])[0],
        body=body,
    )


def format_values(getlist: Callable[[str], Sequence[str]]) -> tuple[str, ...]:
    """The values of ``?format=`` and ``?output=``, in order, blank ones left out."""
    return tuple(v for name in ("format", "output") for v in getlist(name) if v.strip())


def check_version(version: str) -> None:
    if version not in SPARQL_VERSIONS:
        raise errors.BadRequest(
            f"SPARQL version {version!r} is not one this endpoint knows; announce one of "
            f"{', '.join(SPARQL_VERSIONS)}, or none"
        )


def _read_body(max_bytes: int) -> tuple[bytes, list[tuple[str, str]]]:
    """The body and the parameters it carries (a form, or the query itself)."""
    media_type = request.mimetype
    params = request.mimetype_params
    check_body_type(media_type, params.get("charset", "utf-8").lower())
    if "version" in params:  # application/sparql-query; version=1.2
        check_version(params["version"])
    if request.content_length is None:
        # chunked: Werkzeug would stop reading at the limit and pass the cut body on as whole
        body = read_limited(request.environ["wsgi.input"], max_bytes)
    else:
        body = request.get_data(cache=False)  # a declared length over the limit is a 413 already
    return body, body_params(media_type, body)


BODY_READ = 64 * 1024


def read_limited(stream: Any, max_bytes: int) -> bytes:
    """A body of unknown length, read to its end; 413 as soon as it passes ``max_bytes``."""
    parts: list[bytes] = []
    size = 0
    while chunk := stream.read(BODY_READ):
        size += len(chunk)
        if size > max_bytes:
            raise errors.PayloadTooLarge(
                f"the request body is larger than {max_bytes} bytes; send a shorter query"
            )
        parts.append(chunk)
    return b"".join(parts)


def check_body_type(media_type: str, charset: str) -> None:
    """Refuse, before reading it, a body this endpoint cannot take."""
    if not media_type:
        raise errors.UnsupportedMediaType(f"a POST needs a Content-Type: {FORM} or {QUERY_BODY}")
    if media_type == UPDATE_BODY:
        raise errors.Forbidden(READ_ONLY)
    if media_type not in (FORM, QUERY_BODY):
        raise errors.UnsupportedMediaType(
            f"Content-Type {media_type} is not understood; use {FORM} or {QUERY_BODY}"
        )
    if charset not in ("utf-8", "utf8"):
        raise errors.UnsupportedMediaType(
            f"charset {charset} is not supported; send the query in UTF-8"
        )


def body_params(media_type: str, body: bytes) -> list[tuple[str, str]]:
    """The parameters a body of an accepted type carries: a form, or the query itself."""
    text = _utf8(body, "body")
    if media_type == FORM:
        return _parse_pairs(text, "body")
    return [("query", text)]


def _utf8(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise errors.BadRequest(
            f"the {where} is not valid UTF-8 (byte {error.start}); send the query in UTF-8"
        ) from None


def _parse_pairs(text: str, where: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise errors.BadRequest(
            f"the {where} has percent-encoded bytes that are not UTF-8; encode the query in UTF-8"
        ) from None


@lru_cache(maxsize=512)
def choose_formats(
    values: tuple[str, ...], accept: str | None
) -> tuple[dict[Kind, Format | None], bool]:
    """The format per result kind, and whether the client wants the HTML query page instead.

    Memoized: clients repeat the same few Accept headers, and negotiation is per request. The
    dictionary returned is shared, so callers only read it.
    """
    if values:
        if pick(values, (HTML,)) is not None:
            return {}, True
        formats = {kind: pick(values, offered) for kind, offered in OFFERED.items()}
        if all(fmt is None for fmt in formats.values()):
            # no format of any answer has that name: a typo, not a preference to negotiate
            raise errors.BadRequest(
                f"{values[0][:40]!r} names no format of this endpoint (format= or output=); "
                "use one of "
                f"{', '.join(FORMAT_NAMES)} (or a media type)"
            )
        return formats, False
    if negotiate(accept, (*ALL_DATA_FORMATS, HTML)) is HTML:
        return {}, True
    formats = {kind: negotiate(accept, offered) for kind, offered in OFFERED.items()}
    if all(fmt is None for fmt in formats.values()):
        raise errors.NotAcceptable("any query result", ALL_DATA_FORMATS)
    return formats, False


def check_query(query: str) -> QueryText:
    """Refuse, before anything runs, what this endpoint never does."""
    if not query.strip():
        raise errors.BadRequest("the query is empty; send a SPARQL query as the query parameter")
    facts = scan(query)
    if facts.looks_like_update:
        raise errors.Forbidden(READ_ONLY + "; send a query (SELECT, ASK, CONSTRUCT, DESCRIBE)")
    if facts.uses_service:
        raise errors.Forbidden(
            "federated queries (SERVICE) are not allowed: this endpoint makes no outbound requests"
        )
    if facts.too_complex is not None:
        raise errors.BadRequest(facts.too_complex)
    return facts


def run(
    app: Services,
    protocol: ProtocolRequest,
    formats: dict[Kind, Format | None],
    facts: QueryText,
    environ: dict,
    max_rows: int | None = None,
) -> Answer:
    """Run the query on the dataset the protocol and the query text ask for, within the client's
    share of the endpoint: admitted first (429 when over it), then charged once it has ended (a
    streamed answer, when the stream is closed): the CPU time its query process spent on it, or
    its wall time where that is not known; a query stopped at the time limit, the whole limit.
    ``max_rows``: the row cap, the setting's unless given (0: none)."""
    assert protocol.query is not None
    settings = app.settings
    union = protocol.default_graphs is None and not facts.names_dataset
    query = QueryRequest(
        query=protocol.query,
        formats=formats,
        default_graphs=protocol.default_graphs,
        named_graphs=protocol.named_graphs,
        union_default_graph=union,
        max_rows=settings.max_rows if max_rows is None else max_rows,
        timeout=settings.query_timeout,
        prefixes=app.prefixes,
        truncation_link=_limits_url(environ),
        max_bytes=settings.max_response_bytes,
        # the service's own base for relative IRIs in a query without BASE (SPARQL 1.1 Protocol
        # 2.4): the published data's, so that <id/...> names the resources served here
        base_iri=settings.base_iri,
    )
    charge = _admit(app, environ)
    started = time.monotonic()
    try:
        answer = app.store.query(query)
    except QueryTimeout:
        charge(max(settings.query_timeout, time.monotonic() - started))  # the whole allowance
        raise
    except Busy:
        charge(0.0)  # no query process was free: it never ran
        raise
    except QueryFailed as error:
        charge(time.monotonic() - started)
        raise errors.from_query_failure(
            error, protocol.query, settings.query_timeout, app.prefixes
        ) from None
    except BaseException:
        charge(time.monotonic() - started)
        raise
    if answer.chunks is None:
        charge(_cost(answer, started))
    else:
        answer.chunks = ChargedStream(answer, charge, started, settings.query_timeout)
    return answer


def _cost(answer: Answer, started: float) -> float:
    """What an answered query costs its client: the work it took, not the time it waited for
    the CPU behind other clients' queries (which wall time would count)."""
    if answer.cpu_seconds is not None:
        return answer.cpu_seconds
    return time.monotonic() - started


def _admit(app: Services, environ: dict) -> Callable[[float], None]:
    """Count the query as running for its client, or refuse it with 429; what charges it."""
    settings = app.settings
    table = app.clients
    if table is None or table.pid != os.getpid():  # looked up once per worker process
        table = app.clients = fairness.table()
    try:
        ticket = table.admit(
            fairness.client_key(environ, settings.trust_forwarded),
            settings.client_query_seconds,
            settings.client_concurrent_queries,
            longest=settings.query_timeout,
        )
    except fairness.Refused as refused:
        raise errors.TooManyRequests(
            f"too many queries: {refused.reason}; try again in {refused.retry_after} s "
            "(the limits are listed at /-/limits)",
            refused.retry_after,
        ) from None

    def charge(seconds: float) -> None:
        table.finish(ticket, seconds)

    return charge


class ChargedStream:
    """The chunks of a streamed answer; its query is charged once, when they end, fail or are
    closed by the server (also when the client went away)."""

    def __init__(
        self,
        answer: Answer,
        charge: Callable[[float], None],
        started: float,
        timeout: float,
    ) -> None:
        assert answer.chunks is not None
        self.answer = answer
        self.chunks: Iterator[bytes] = answer.chunks
        self.charge: Callable[[float], None] | None = charge
        self.started = started
        self.timeout = timeout

    def __iter__(self) -> ChargedStream:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self.chunks)
        except QueryTimeout:
            self._end(self.timeout)
            raise
        except BaseException:
            self._end()
            raise

    def close(self) -> None:
        try:
            close_chunks(self.chunks)
        finally:
            self._end()

    def __del__(self) -> None:
        # a response dropped before the server iterated it still frees the client's place
        self._end()

    def _end(self, at_least: float = 0.0) -> None:
        charge, self.charge = self.charge, None
        if charge is not None:
            charge(max(at_least, _cost(self.answer, self.started)))


def _limits_url(environ: dict) -> str:
    """Where a truncated answer points; built from the environ, as Werkzeug's host_url costs a
    noticeable share of a small query."""
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
    return f"{environ['wsgi.url_scheme']}://{host}{environ.get('SCRIPT_NAME', '')}/-/limits"


def answer_response(answer: Answer) -> Response:
    fmt = BY_MEDIA_TYPE[answer.media_type]
    body = answer.body if answer.body is not None else answer.chunks
    response = Response(body, 200, content_type=fmt.content_type)
    response.headers["X-Result-Truncated"] = "true" if answer.truncated else "false"
    response.headers["Vary"] = "Accept, Accept-Encoding"
    return response


def describe_or_page(app: Services, protocol: ProtocolRequest) -> Response:
    offered = (*GRAPH_FORMATS, HTML)
    fmt = choose(protocol.format_values, request.headers.get("Accept"), offered)
    if fmt is None:
        raise errors.NotAcceptable("the service description", offered)
    if fmt is HTML:
        return query_page(app, protocol)
    counts = description.counts_of(app.store, app.settings.query_timeout)
    triples = description.describe(request.base_url, str(app.minter.dataset), counts)
    response = Response(description.serialize(triples, fmt), 200, content_type=fmt.content_type)
    response.headers["Vary"] = "Accept, Accept-Encoding"
    return response


def query_page(app: Services, protocol: ProtocolRequest) -> Response:
    """The browser's view: YASGUI over a plain form; with ``format=html`` (the form's default when
    scripts are off) the answer is rendered in the page itself."""
    query = protocol.query
    if query is None and protocol.example:
        query = next((e.query for e in app.examples if e.name == protocol.example), None)
    if query is None:
        query = app.examples[0].query if app.examples else DEFAULT_QUERY
    result = None
    if protocol.query is not None and pick(protocol.format_values, (HTML,)) is not None:
        result = page_result(app, protocol)
    page = QueryPage(
        endpoint=request.base_url,
        query=query,
        prefixes=app.prefixes,
        examples=app.examples,
        local_links=app.local_links,
        yasgui=(app.node_modules / YASGUI_BUILD).is_dir(),
        result=result,
        max_rows=app.settings.max_rows,
        timeout=app.settings.query_timeout,
    )
    response = Response(render_template("sparql.html", page=page), content_type=HTML.content_type)
    response.headers["Vary"] = "Accept, Accept-Encoding"
    return response


def page_result(app: Services, protocol: ProtocolRequest) -> ResultTable:
    assert protocol.query is not None
    facts = check_query(protocol.query)
    formats: dict[Kind, Format | None] = {
        Kind.SOLUTIONS: SPARQL_JSON,
        Kind.BOOLEAN: SPARQL_JSON,
        Kind.GRAPH: TURTLE,
    }
    answer = run(app, protocol, formats, facts, request.environ)
    try:
        body = answer.whole_body()
    except QueryFailed as error:  # e.g. an answer that passed max_response_bytes on its way
        raise errors.from_query_failure(
            error, protocol.query, app.settings.query_timeout, app.prefixes
        ) from None
    if answer.kind == Kind.GRAPH:
        return ResultTable(graph=body.decode("utf-8"), truncated=answer.truncated)
    return table_from_json(body, app.local_links, answer.truncated)


YASGUI_BUILD = "@zazuko/yasgui/build"
DEFAULT_QUERY = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?subject ?predicate ?object
WHERE {
  ?subject ?predicate ?object
}
LIMIT 25
"""
