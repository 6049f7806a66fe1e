"""A bounded in-memory cache of whole responses, and the front door that serves its hits.

The data is read-only, so an answer depends only on the build being served and the request: the key
is the store's identity plus the request's method, path, query string, Accept, Accept-Encoding, Host
and (for a POST) its Content-Type and body, all taken as sent. Each worker has its own cache,
bounded in bytes and emptied least recently used first. An entry is the response as it went out:
status, the full header list and the body bytes (gzip-compressed when the request took gzip).

Hits are answered in front of Flask (``CacheFront``), straight from the WSGI environ: a repeated
query then costs one dictionary look-up on a tuple of environ strings, not a trip through routing,
negotiation and a query process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .cachepolicy import apply_policy

CacheKey = tuple[str, ...]

# one entry may take at most this share of the cache, so a single huge answer cannot flush it
LARGEST_SHARE = 8
# what an entry costs besides its body: the key, headers and bookkeeping, roughly
ENTRY_OVERHEAD = 512


@dataclass(frozen=True, eq=False)
class CachedResponse:
    status: str  # "200 OK"
    headers: list[tuple[str, str]]
    body: bytes
    # what whoever counts and logs the hits learns once about answering with this entry (its
    # route, its access-line templates: ``observe.Observer``), kept with it and gone with it
    notes: dict[str, Any] = field(default_factory=dict, repr=False)

    def size(self, key: CacheKey) -> int:
        return len(self.body) + sum(len(part) for part in key) + ENTRY_OVERHEAD


def entry(method: str, status: str, headers: list[tuple[str, str]], body: bytes) -> CachedResponse:
    """The response as it goes out, for the cache: a GET answer with the shared caches' policy
    on it, which ``CachePolicy`` would add, so that a hit is answered in front of it as it is."""
    if method == "GET":
        headers = apply_policy(headers)
    return CachedResponse(status, headers, body)


class ResponseCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[CacheKey, CachedResponse] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> CachedResponse | None:
        """The entry, or None. No lock: each dictionary operation is atomic, an entry evicted
        between the look-up and the move is simply not moved, and the counters are statistics."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        try:  # noqa: SIM105 (a hit is the hot path: no context manager)
            self._entries.move_to_end(key)
        except KeyError:
            pass
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
    """The headers are taken as sent, unparsed: two spellings of one preference are two entries,
    each holding the variant its request got (gzip or not), which keeps the key cheap."""
    return (
        identity,
        environ["REQUEST_METHOD"],
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
        environ.get("HTTP_ACCEPT", ""),
        environ.get("HTTP_ACCEPT_ENCODING", ""),
        environ.get("HTTP_HOST", ""),
        environ.get("CONTENT_TYPE", "") + "\n" + body.decode("latin-1") if body else "",
    )


def has_body(environ: dict[str, Any]) -> bool:
    """Whether the request comes with a body: a GET that does is refused by the endpoint
    (``sparql.check_no_body``), never answered from the cache."""
    length = environ.get("CONTENT_LENGTH")
    return bool(length and length != "0") or bool(environ.get("HTTP_TRANSFER_ENCODING"))


# where CacheFront leaves the key of a GET it missed, for whoever answers the request to store under
KEY_ENVIRON = "kgpub.cache_key"


# what answered a hit, for whoever counts and logs it: (environ, the entry, seconds taken)
HitObserver = Callable[[dict[str, Any], CachedResponse, float], None]


class CacheFront:
    """WSGI middleware, the outermost, answering cached GET queries before anything else sees
    them.

    A hit takes a tuple of environ strings, one dictionary look-up and the stored header list and
    body, as they are (the shared caches' policy already on them): no parsing, no Flask or
    Werkzeug object. ``observe`` counts and logs it; a miss leaves its key in the environ.
    """

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        cache: ResponseCache,
        identity: Callable[[], str],
        paths: Iterable[str],
        observe: HitObserver | None = None,
    ) -> None:
        self.app = app
        self.cache = cache
        self.identity = identity
        self.paths = frozenset(paths)
        self.observe = observe

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (
            environ["REQUEST_METHOD"] == "GET"
            and environ.get("QUERY_STRING")
            and environ.get("PATH_INFO") in self.paths
            and not has_body(environ)
        ):
            started = time.perf_counter()
            key = request_key(self.identity(), environ)
            entry = self.cache.get(key)
            if entry is not None:
                start_response(entry.status, entry.headers)
                if self.observe is not None:
                    self.observe(environ, entry, time.perf_counter() - started)
                return [entry.body]
            environ[KEY_ENVIRON] = key
        return self.app(environ, start_response)
