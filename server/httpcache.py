"""HTTP caching for answers that depend only on the build being served and the request.

A route names its representation (path, format, page), gets ``Validators`` for it, answers a
conditional request with ``not_modified`` (a 304, before any query runs) and stamps its 200 with
``stamp``. The ETag is weak (gzip may recode the bytes) and derives from the store's identity, the
server's version and the representation; Last-Modified is the build's time.

    validators = httpcache.validators("/id/ecuador", "turtle")
    early = httpcache.not_modified(validators, headers)
    if early is not None:
        return early
    ...
    return httpcache.stamp(response, validators)

What shared caches (a CDN, a caching proxy) may do is one policy, ``CachePolicy``, applied in front
of everything (the raw-WSGI answers of ``/sparql`` included): a GET or HEAD answer of the data
(everything outside ``/-/``) is public for ``MAX_AGE`` seconds, may be served stale for
``STALE_WHILE_REVALIDATE`` seconds while the cache asks again in the background, and for
``STALE_IF_ERROR`` seconds while this server is down or failing. A route's own choice of
``no-store`` or ``private`` is kept; system pages under ``/-/`` decide for themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Response, request

from kgpub import __version__

from .config import services

# seconds a client or proxy may reuse an answer without asking again; the data changes only
# with a new build, which changes every ETag
MAX_AGE = 600
# seconds a shared cache may keep serving an expired answer while it revalidates in the background
STALE_WHILE_REVALIDATE = 60
# seconds it may serve one while this server is unreachable or answers with a 5xx (RFC 5861)
STALE_IF_ERROR = 86400
EXTENSIONS = f"stale-while-revalidate={STALE_WHILE_REVALIDATE}, stale-if-error={STALE_IF_ERROR}"
PUBLIC = f"public, max-age={MAX_AGE}, {EXTENSIONS}"


@dataclass(frozen=True)
class Validators:
    etag: str  # the opaque tag, without W/ and quotes
    last_modified: datetime
    max_age: int = MAX_AGE


def validators(*representation: str, max_age: int = MAX_AGE) -> Validators:
    store = services().store
    digest = hashlib.sha256(
        "\x00".join((store.identity, __version__, *representation)).encode("utf-8")
    ).hexdigest()[:20]
    modified = datetime.fromtimestamp(int(store.modified), UTC)
    return Validators(f"{store.identity[:8]}-{digest}", modified, max_age)


def is_fresh(validators: Validators) -> bool:
    """Whether the client's copy is current: If-None-Match first, else If-Modified-Since."""
    if request.method not in ("GET", "HEAD"):
        return False
    if "If-None-Match" in request.headers:
        return request.if_none_match.contains_weak(validators.etag)
    since = request.if_modified_since
    return since is not None and validators.last_modified <= since


def not_modified(validators: Validators, headers: Mapping[str, str]) -> Response | None:
    """A 304 with the headers the 200 would carry, or None when the client must get the body."""
    if not is_fresh(validators):
        return None
    response = Response(status=304)
    response.headers.update(headers)
    return stamp(response, validators)


def stamp(response: Response, validators: Validators) -> Response:
    response.set_etag(validators.etag, weak=True)
    response.last_modified = validators.last_modified
    return cache_headers(response, validators.max_age)


def cache_headers(response: Response, max_age: int = MAX_AGE) -> Response:
    """Cache-Control alone, for answers without validators (redirects, 404s)."""
    response.headers["Cache-Control"] = public(max_age)
    return response


def public(max_age: int = MAX_AGE) -> str:
    return f"public, max-age={max_age}, {EXTENSIONS}"


# --- the policy for shared caches ----------------------------------------------------------------

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# the statuses a shared cache may store by default (RFC 9111, 4.2.2) that this server sends with
# a body of data; a 304 repeats the 200's policy
CACHEABLE = frozenset(("200", "203", "300", "301", "304", "308", "410"))
# the answers of ``/-/`` (ping, health, metrics, limits, the query page's assets) set their own
SYSTEM_PREFIX = "/-/"


def policy(cache_control: str | None) -> str | None:
    """The Cache-Control an answer of the data goes out with; None to keep the one it has.

    Without one, or with ``no-cache`` alone (what ``send_file`` writes when given no lifetime),
    the public policy; with a lifetime but no word on staleness, that lifetime and the policy's
    staleness; ``no-store`` and ``private`` are kept as they are."""
    if cache_control is None:
        return PUBLIC
    directives = {part.strip().split("=", 1)[0].lower() for part in cache_control.split(",")}
    if directives == {"no-cache"}:
        return PUBLIC
    if directives & {"no-store", "private"} or "stale-while-revalidate" in directives:
        return None
    if "max-age" in directives or "s-maxage" in directives:
        return f"{cache_control}, {EXTENSIONS}"
    return None


class CachePolicy:
    """WSGI middleware: the policy above on every GET and HEAD answer of the data."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ["REQUEST_METHOD"]
        if (method != "GET" and method != "HEAD") or environ.get("PATH_INFO", "").startswith(
            SYSTEM_PREFIX
        ):
            return self.app(environ, start_response)

        def with_policy(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status[:3] in CACHEABLE:
                headers = apply_policy(headers)
            return start_response(status, headers, exc_info)

        return self.app(environ, with_policy)


def apply_policy(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers with the policy's Cache-Control, as a new list: a cached answer's stored header
    list is shared by every request that hits it."""
    current = None
    for name, value in headers:
        if name.lower() == "cache-control":
            current = value
            break
    chosen = policy(current)
    if chosen is None:
        return headers
    return [(n, v) for n, v in headers if n.lower() != "cache-control"] + [
        ("Cache-Control", chosen)
    ]
