"""The least a Python SPARQL server on pyoxigraph can do: the benchmark's ``floor`` server.

A WSGI app of a few lines under granian, with the same workers as ``kgpub serve``: it reads
``query`` from the URL, runs it on the union default graph of a read-only store and writes the
answer (SPARQL JSON, or Turtle for a graph) in one piece. No limits, no cache, no content
negotiation, no logs, no killable query processes: not a server to put on the internet. Next to
``oxigraph serve``, it shows what pyoxigraph inside a Python process costs by itself; next to
``ours-nocache``, what our endpoint adds to that (``bench/README.md``).

    KGPUB_FLOOR_STORE=DIR granian --interface wsgi --working-dir bench floor:app
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import pyoxigraph as ox

STORE_VARIABLE = "KGPUB_FLOOR_STORE"
JSON = "application/sparql-results+json"
TURTLE = "text/turtle"

_store: list[ox.Store] = []  # opened by each worker, after the fork


def store() -> ox.Store:
    if not _store:
        _store.append(ox.Store.read_only(os.environ[STORE_VARIABLE]))
    return _store[0]


def answer(query: str) -> tuple[str, bytes]:
    result = store().query(query, use_default_graph_as_union=True)
    if isinstance(result, ox.QuerySolutions | ox.QueryBoolean):
        return JSON, result.serialize(None, ox.QueryResultsFormat.JSON)
    return TURTLE, ox.serialize(result, None, ox.RdfFormat.TURTLE)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/ping":
        media_type, body = "text/plain", b"ok"
    else:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("query")
        if not query:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"no query"]
        try:
            media_type, body = answer(query[0])
        except (SyntaxError, OSError, ValueError) as error:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [str(error).encode()]
    start_response("200 OK", [("Content-Type", media_type), ("Content-Length", str(len(body)))])
    return [body]
