"""Every error the server answers, mapped to its status in one place.

Routes raise ``HttpError`` subclasses (or let ``pool`` errors through); ``init_app`` turns each into
a short readable message: text/plain, or a small HTML page for a browser. A real bug is logged with
its traceback and answered by a plain 500: no traceback, no debugger, ever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from .formats import HTML, OFFERED, Format, Kind, negotiate, offered_list
from .pool import Busy, QueryFailed, QueryTimeout
from .queryhints import explain
from .querytext import error_position

log = logging.getLogger(__name__)

PLAIN = Format("text", "text/plain", ".txt", ("text",))


class HttpError(Exception):
    status = 500
    title = "Internal Server Error"
    template = "error.html"  # the page a browser gets; it sees status, title, message, context

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.context: dict[str, object] = {}


class BadRequest(HttpError):
    status, title = 400, "Bad Request"


class Forbidden(HttpError):
    status, title = 403, "Forbidden"


class NotFound(HttpError):
    status, title = 404, "Not Found"


class MethodNotAllowed(HttpError):
    status, title = 405, "Method Not Allowed"

    def __init__(self, method: str, allowed: Iterable[str]) -> None:
        allow = ", ".join(allowed)
        super().__init__(f"method {method} is not allowed here; use {allow}", {"Allow": allow})


class NotAcceptable(HttpError):
    status, title = 406, "Not Acceptable"

    def __init__(self, what: str, offered: Iterable[Format]) -> None:
        super().__init__(
            f"none of the formats you accept can carry {what}; offered: {offered_list(offered)}"
        )


class PayloadTooLarge(HttpError):
    status, title = 413, "Payload Too Large"


class UriTooLong(HttpError):
    status, title = 414, "URI Too Long"


class UnsupportedMediaType(HttpError):
    status, title = 415, "Unsupported Media Type"


class ResponseTooLarge(HttpError):
    """The answer would pass ``max_response_bytes``: a client-caused limit, so a 4xx, and sent
    before any byte of the answer."""

    status, title = 422, "Unprocessable Content"


class TooManyRequests(HttpError):
    """The client is over its share of the endpoint (``fairness``)."""

    status, title = 429, "Too Many Requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, {"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(HttpError):
    status, title = 503, "Service Unavailable"


KIND_NAMES = {
    Kind.SOLUTIONS: "query solutions (SELECT)",
    Kind.BOOLEAN: "a boolean (ASK)",
    Kind.GRAPH: "a graph (CONSTRUCT/DESCRIBE)",
}


def syntax_error(message: str, query: str, prefixes: Mapping[str, str] | None = None) -> BadRequest:
    """Oxigraph's message with the line and column spelt out, said for people (``queryhints``:
    ``prefixes`` are those the hint for an undeclared one may offer), and the line shown under
    it."""
    position = error_position(message)
    if position is None:
        return BadRequest(f"syntax error in the query: {message}")
    line, column = position
    detail = message.split(": ", 1)[1] if ": " in message else message
    detail = explain(detail, query, line, column, prefixes or {})
    text = f"syntax error in the query at line {line}, column {column}: {detail}"
    lines = query.splitlines()
    if 1 <= line <= len(lines):
        text += f"\n\n  {lines[line - 1]}\n  {' ' * max(column - 1, 0)}^"
    return BadRequest(text)


def from_query_failure(
    error: QueryFailed, query: str, timeout: float, prefixes: Mapping[str, str] | None = None
) -> HttpError:
    if error.kind == "syntax":
        return syntax_error(error.message, query, prefixes)
    if error.kind == "bad_request":
        return BadRequest(error.message)
    if error.kind == "not_acceptable":
        kind = Kind(error.message)
        return NotAcceptable(KIND_NAMES[kind], OFFERED[kind])
    if error.kind == "too_large":
        return ResponseTooLarge(error.message)
    if error.kind == "store":
        log.error("store unavailable: %s", error.message)
        return ServiceUnavailable("the data store is not available right now")
    log.error("query failed: %s", error.message)
    return HttpError("the query failed because of a problem in the server; it has been logged")


def timeout_error(timeout: float) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"the query did not finish within the {timeout:g} s limit and was stopped; "
        "make it more selective (add LIMIT, narrow the patterns) and try again",
        {"Retry-After": "1"},
    )


def render(error: HttpError) -> Response:
    if negotiate(request.headers.get("Accept"), (PLAIN, HTML)) is HTML:
        body = render_template(
            error.template,
            status=error.status,
            title=error.title,
            message=error.message,
            **error.context,
        )
        response = Response(body, error.status, content_type=HTML.content_type)
    else:
        response = Response(error.message + "\n", error.status, content_type=PLAIN.content_type)
    response.headers.update(error.headers)
    return response


def init_app(app: Flask) -> None:
    settings = app.extensions["kgpub"].settings

    @app.errorhandler(HttpError)
    def _http(error: HttpError) -> Response:
        return render(error)

    @app.errorhandler(QueryTimeout)
    def _timeout(error: QueryTimeout) -> Response:
        return render(timeout_error(settings.query_timeout))

    @app.errorhandler(Busy)
    def _busy(error: Busy) -> Response:
        return render(
            ServiceUnavailable("the server is busy; try again shortly", {"Retry-After": "1"})
        )

    @app.errorhandler(HTTPException)
    def _werkzeug(error: HTTPException) -> Response:
        status = error.code or 500
        messages = {
            404: f"nothing at {request.path}",
            405: f"method {request.method} is not allowed here",
            413: f"the request body is larger than {settings.max_body_bytes} bytes",
        }
        mapped = HttpError(messages.get(status, error.description or error.name))
        mapped.status, mapped.title = status, error.name
        valid = getattr(error, "valid_methods", None)
        if valid:
            mapped.headers["Allow"] = ", ".join(valid)
        # what the exception says besides its body, e.g. Content-Range on a 416
        for name, value in error.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                mapped.headers.setdefault(name, value)
        return render(mapped)

    @app.errorhandler(Exception)
    def _bug(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render(HttpError("internal server error; it has been logged"))
