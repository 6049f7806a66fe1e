"""What every response gets on its way out, in one place and in this order: CORS headers, gzip
when the client takes it, then the copy kept by the response cache (so a hit is served as sent)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator

from flask import Flask, Response, g, request

from .cache import accepts_gzip, entry
from .config import services
from .pool import close_chunks

# below this size gzip costs more time than the bytes it saves
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 5
EXPOSED = "X-Result-Truncated, Content-Length, Content-Type"
# what every response carries for CORS; a preflight gets more (``cors``)
CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", EXPOSED),
)


def cors(response: Response) -> None:
    """Open to every origin, without credentials: the data is public and read-only."""
    for name, value in CORS_HEADERS:
        response.headers[name] = value
    if request.method == "OPTIONS":
        if response.status_code == 200 and not response.content_length:
            # Flask's automatic answer to OPTIONS is an empty text/html page; an empty answer
            # that says so is 204, its ``Allow`` header the methods of the URL
            response.status_code = 204
            del response.headers["Content-Type"]
            del response.headers["Content-Length"]
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Accept, Content-Type"
        )
        response.headers["Access-Control-Max-Age"] = "86400"


def compress(response: Response) -> None:
    """gzip when the client takes it. A HEAD gets the headers its GET would (RFC 9110 9.3.2):
    the encoding, and the length of the compressed body it does not send."""
    if (
        response.direct_passthrough
        or "Content-Encoding" in response.headers
        or not accepts_gzip(request.environ)
    ):
        return
    if response.is_streamed:
        if request.method != "HEAD":  # a HEAD's stream is closed unread: nothing to wrap
            response.response = gzip_stream(response.response)
    else:
        data = response.get_data()
        if len(data) < GZIP_MIN_BYTES:
            return
        response.set_data(gzip_bytes(data))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")


def gzip_bytes(data: bytes) -> bytes:
    """The same bytes for the same body (no timestamp): cached and fresh answers agree."""
    return gzip.compress(data, GZIP_LEVEL, mtime=0)


def gzip_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip framing
    try:
        for chunk in chunks:
            out = compressor.compress(chunk)
            if out:
                yield out
        yield compressor.flush()
    finally:
        close_chunks(chunks)


def keep(response: Response) -> None:
    key = g.get("cache_key")
    cache = services().cache
    if key is None or cache is None or response.status_code != 200 or response.is_streamed:
        return
    headers = list(response.headers.items())
    cache.put(key, entry(request.method, response.status, headers, response.get_data()))


def init_app(app: Flask) -> None:
    @app.after_request
    def finish(response: Response) -> Response:
        cors(response)
        if not g.get("from_cache"):
            compress(response)
            keep(response)
        return response
