"""The SPARQL endpoint's own door in front of Flask: GET and POST ``/sparql`` in raw WSGI.

A query is the endpoint's hot path, and Flask's share of it (request and app contexts, routing,
Werkzeug request and response objects, hooks) costs more than the rest of the Python side together.
``SparqlFront`` answers the usual request itself, with the same functions the Flask route uses
(``sparql``: protocol parsing, negotiation, the query checks, ``run``; ``responses``: CORS and
gzip), and puts the answer in the response cache. It hands everything else to Flask untouched: a
request without a query (service description, query page), one that wants HTML, an update, an
unusual POST (another charset parameter, no Content-Length, too large a body) and any other method
or path.

An error met here, before or after the query ran (a 4xx, a timeout, a failed query, a bug), is left
in the environ under ``sparql.PENDING_ERROR`` for the Flask route to raise at once: every error is
rendered by one code path (``errors``), and a query is never run twice.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from .cache import KEY_ENVIRON, accepts_gzip, entry, request_key
from .cachepolicy import PUBLIC
from .config import Services
from .pool import Answer
from .responses import CORS_HEADERS, GZIP_MIN_BYTES, gzip_bytes, gzip_stream
from .sparql import (
    BY_MEDIA_TYPE,
    PENDING_ERROR,
    ProtocolRequest,
    body_params,
    check_body_type,
    check_no_body,
    check_query,
    choose_formats,
    protocol_request,
    run,
    url_params,
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

PATH = "/sparql"
OK = "200 OK"
VARY = ("Vary", "Accept, Accept-Encoding")
GZIP = ("Content-Encoding", "gzip")
CACHE_CONTROL = ("Cache-Control", PUBLIC)


class SparqlFront:
    def __init__(self, app: WsgiApp, services: Services) -> None:
        self.app = app
        self.services = services
        self.settings = services.settings
        self.cache = services.cache
        self.store = services.store

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ["REQUEST_METHOD"]
        if environ.get("PATH_INFO") != PATH or (method != "GET" and method != "POST"):
            return self.app(environ, start_response)
        body = None
        try:
            body, answered = self.answer(environ, start_response, method)
        except Exception as error:  # every error is the Flask route's to render
            environ[PENDING_ERROR] = error
            answered = None
        if answered is not None:
            return answered
        if body is not None:  # Flask reads the body again
            environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)

    def answer(
        self, environ: dict[str, Any], start_response: Callable[..., Any], method: str
    ) -> tuple[bytes | None, Iterable[bytes] | None]:
        """The body read (None if not), and the response, or None to leave it to Flask."""
        settings = self.settings
        query_string = environ.get("QUERY_STRING", "")
        body = b""
        if method == "GET":
            check_no_body(environ)
            protocol = _get_request(query_string, settings.max_url_bytes)
        else:
            media_type, charset = _media_type(environ.get("CONTENT_TYPE", ""))
            length = environ.get("CONTENT_LENGTH", "")
            if not media_type or not length.isdigit() or int(length) > settings.max_body_bytes:
                return None, None
            params = url_params(query_string, settings.max_url_bytes)
            check_body_type(media_type, charset)
            body = environ["wsgi.input"].read(int(length))
            params += body_params(media_type, body)
            protocol = protocol_request(params, body)
        if protocol.update or protocol.query is None:
            return body, None
        formats, html = choose_formats(protocol.format_values, environ.get("HTTP_ACCEPT"))
        if html:
            return body, None
        facts = check_query(protocol.query)
        cache = self.cache
        key = None
        if cache is not None:
            key = environ.get(KEY_ENVIRON) if method == "GET" else None
            if key is None:
                key = request_key(self.store.identity, environ, body)
                hit = cache.get(key)
                if hit is not None:
                    start_response(hit.status, hit.headers)
                    return body, [hit.body]
        answer = run(self.services, protocol, formats, facts, environ)
        return body, self.respond(environ, start_response, answer, key)

    def respond(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        answer: Answer,
        key: tuple[str, ...] | None,
    ) -> Iterable[bytes]:
        """The answer with the headers the Flask route and its hooks would give it."""
        fmt = BY_MEDIA_TYPE[answer.media_type]
        headers = [
            ("Content-Type", fmt.content_type),
            ("X-Result-Truncated", "true" if answer.truncated else "false"),
            VARY,
            *CORS_HEADERS,
        ]
        packed = accepts_gzip(environ)
        if answer.body is None:  # streamed: neither a length nor a cache entry
            chunks: Iterable[bytes] = answer.chunks or ()
            if packed:
                chunks = gzip_stream(chunks)
                headers.append(GZIP)
            start_response(OK, headers)
            return chunks
        body = answer.body
        if packed and len(body) >= GZIP_MIN_BYTES:
            body = gzip_bytes(body)
            headers.append(GZIP)
        headers.append(("Content-Length", str(len(body))))
        if environ["REQUEST_METHOD"] == "GET":  # the shared caches' policy, as it would add it
            headers.append(CACHE_CONTROL)
        if key is not None and self.cache is not None:
            self.cache.put(key, entry(environ["REQUEST_METHOD"], OK, headers, body))
        start_response(OK, headers)
        return [body]


@lru_cache(maxsize=256)
def _get_request(query_string: str, limit: int) -> ProtocolRequest:
    """The protocol parameters of a GET, memoized like the negotiation and the query scan: clients
    repeat the same queries, and decoding a long percent-encoded query is a noticeable share of a
    small query's cost. A malformed URL raises every time (exceptions are not memoized)."""
    return protocol_request(url_params(query_string, limit), b"")


def _media_type(content_type: str) -> tuple[str | None, str]:
    """The media type and charset of a plain Content-Type (``type/sub`` and at most a charset),
    else (None, ""): anything more is Werkzeug's to parse, in the Flask route."""
    media_type, _, rest = content_type.partition(";")
    media_type = media_type.strip().lower()
    if not rest.strip():
        return media_type or None, "utf-8"
    name, _, value = rest.partition("=")
    if name.strip().lower() != "charset" or ";" in value or '"' in value:
        return None, ""
    return media_type or None, value.strip().lower()
