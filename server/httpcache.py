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

What shared caches (a CDN, a caching proxy) may do with the answers is one policy, in
``cachepolicy``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Response, request

from kgpub import __version__

from .cachepolicy import EXTENSIONS, MAX_AGE
from .config import services


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
