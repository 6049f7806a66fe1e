"""What shared caches may do with an answer: one policy for every GET and HEAD answer of the data.

A GET or HEAD answer of the data (everything outside ``/-/``) is public for ``MAX_AGE`` seconds,
may be served stale for ``STALE_WHILE_REVALIDATE`` seconds while a cache asks again in the
background, and for ``STALE_IF_ERROR`` seconds while this server is down or failing (RFC 5861). A
route's own choice of ``no-store`` or ``private`` is kept; system pages under ``/-/`` decide for
themselves. ``CachePolicy`` applies it in front of the app; the response cache stores its entries
with it applied (``apply_policy``), so a hit goes out as it is, without passing through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

# seconds a client or proxy may reuse an answer without asking again; the data changes only
# with a new build, which changes every ETag
MAX_AGE = 600
# seconds a shared cache may keep serving an expired answer while it revalidates in the background
STALE_WHILE_REVALIDATE = 60
# seconds it may serve one while this server is unreachable or answers with a 5xx (RFC 5861)
STALE_IF_ERROR = 86400
EXTENSIONS = f"stale-while-revalidate={STALE_WHILE_REVALIDATE}, stale-if-error={STALE_IF_ERROR}"
PUBLIC = f"public, max-age={MAX_AGE}, {EXTENSIONS}"


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# the statuses a shared cache may store by default (RFC 9111, 4.2.2) that this server sends with
# a body of data; a 304 repeats the 200's policy
CACHEABLE = frozenset(("200", "203", "300", "301", "304", "308", "410"))
# the answers of ``/-/`` (ping, health, metrics, limits, the query page's assets) set their own
SYSTEM_PREFIX = "/-/"


@lru_cache(maxsize=64)  # routes send a handful of values, on every answer
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
