"""A bounded in-memory cache of whole query responses, and the front door that serves its hits.

The data is read-only, so an answer depends only on the build being served and the request: the key
is the store's identity plus the request's method, path, query string, body, Accept, Host and
whether it takes gzip. Each worker has its own cache, bounded in bytes and emptied least recently
used first.

Hits are answered in front of Flask (``CacheFront``), straight from the WSGI environ: a repeated
query then costs a dictionary look-up, not a trip through routing, negotiation and a query process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

CacheKey = tuple[str, ...]

# one entry may take at most this share of the cache, so a single huge answer cannot flush it
LARGEST_SHARE = 8
# what an entry costs besides its body: the key, headers and bookkeeping, roughly
ENTRY_OVERHEAD = 512


@dataclass(frozen=True)
class CachedResponse:
    status: str  # "200 OK"
    headers: list[tuple[str, str]]
    body: bytes

    def size(self, key: CacheKey) -> int:
        return len(self.body) + sum(len(part) for part in key) + ENTRY_OVERHEAD


class ResponseCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[CacheKey, CachedResponse] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> CachedResponse | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: CacheKey, entry: CachedResponse) -> None:
        size = entry.size(key)
        if size * LARGEST_SHARE > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old.size(key)
            self._entries[key] = entry
            self.bytes += size
            while self.bytes > self.max_bytes:
                old_key, old = self._entries.popitem(last=False)
                self.bytes -= old.size(old_key)

    def __len__(self) -> int:
        return len(self._entries)


def accepts_gzip(environ: dict[str, Any]) -> bool:
    """Whether Accept-Encoding names gzip (or *) without q=0."""
    header = environ.get("HTTP_ACCEPT_ENCODING", "")
    if "gzip" not in header and "*" not in header:
        return False
    for item in header.split(","):
        coding, *params = item.split(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        for param in params:
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def request_key(identity: str, environ: dict[str, Any], body: bytes = b"") -> CacheKey:
    return (
        identity,
        environ["REQUEST_METHOD"],
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
        environ.get("CONTENT_TYPE", "") if body else "",
        body.decode("latin-1"),
        environ.get("HTTP_ACCEPT", ""),
        environ.get("HTTP_HOST", ""),
        "gzip" if accepts_gzip(environ) else "",
    )


class CacheFront:
    """WSGI middleware answering cached GET queries before Flask sees them."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        cache: ResponseCache,
        identity: Callable[[], str],
        paths: Iterable[str],
    ) -> None:
        self.app = app
        self.cache = cache
        self.identity = identity
        self.paths = frozenset(paths)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (
            environ["REQUEST_METHOD"] == "GET"
            and environ.get("QUERY_STRING")
            and environ.get("PATH_INFO") in self.paths
        ):
            entry = self.cache.get(request_key(self.identity(), environ))
            if entry is not None:
                start_response(entry.status, entry.headers)
                return [entry.body]
        return self.app(environ, start_response)
