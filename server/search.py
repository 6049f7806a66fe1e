"""``/search?q=``: find resources by their labels (``rdfs:label``, ``skos:altLabel``).

The labels live in an on-disk index (``kgpub.searchindex``), one file per store, read
memory-mapped by every worker. ``kgpub build`` and ``kgpub load`` write it beside the store; when a
store has none that fits (loaded by hand, another base IRI, a remote store), the first search
starts building it in the background, once for all workers under a file lock, and searches answer
503 with Retry-After until it is there. Matching ignores case, accents and punctuation; results
rank exact > prefix > word prefix > substring > all words in any order, then the shorter matched
label. JSON by default (the autocomplete's API); a browser (``Accept: text/html``) or
``format=html`` gets the results page.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, jsonify, render_template, request

from kgpub.searchindex import (
    FILE_NAME,
    Hit,
    IndexBroken,
    Match,
    Resource,
    SearchIndex,
    fold,
    match,
    page_path,
    read_meta,
    store_fingerprint,
    write_index,
)

from . import errors
from .config import Services, services
from .formats import HTML, JSON, choose
from .pool import QueryFailed
from .runtime import runtime_dir
from .store import Store, Term, is_iri

__all__ = ["Hit", "Match", "Resource", "SearchIndex", "fold", "match"]

log = logging.getLogger(__name__)
bp = Blueprint("search", __name__)

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_QUERY_CHARS = 200
OFFERED = (JSON, HTML)

INDEX_TIMEOUT = 600.0  # seconds each query that reads the labels for the index may take
PAGE_ROWS = 100_000  # rows per such query: the worker never holds all labels of a big store
BUILD_WAIT = 2.0  # seconds a search waits for an index being built before answering 503
RETRY_AFTER = 30  # seconds a client is told to wait meanwhile

# Read in pages without ORDER BY (sorting every label costs the engine minutes at 10M triples):
# a read-only store gives the same order for the same query, as the hub pages rely on too.
LABELS_QUERY = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT ?s ?p ?v WHERE {
  VALUES ?p { rdfs:label skos:altLabel }
  ?s ?p ?v .
  FILTER(isIRI(?s) && isLiteral(?v))
} LIMIT %(limit)d OFFSET %(offset)d"""
# asserted types of the labelled resources only: the inferred graph adds the parent types, which
# would crowd the result list; MINUS is one anti-join rather than a NOT EXISTS per row
TYPES_QUERY = """PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT ?s ?v WHERE {
  VALUES ?p { rdfs:label skos:altLabel }
  ?s ?p ?label .
  ?s rdf:type ?v .
  FILTER(isIRI(?s) && isIRI(?v))
  MINUS { GRAPH <%(inferred)s> { ?s rdf:type ?v } }
} LIMIT %(limit)d OFFSET %(offset)d"""
TYPE_LABELS_QUERY = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?v ?typeLabel WHERE { VALUES ?v { %s } ?v rdfs:label ?typeLabel }"""


class PathOf:
    """The local page of an IRI served here, the fragment kept for ontology terms."""

    def __init__(self, app: Services) -> None:
        self.minter = app.minter

    def __call__(self, iri: str) -> str | None:
        return page_path(self.minter, iri)


class StoreLabels:
    """The labels of any ``Store`` (embedded or remote), read through SPARQL a page at a time."""

    def __init__(self, store: Store, inferred_graph: str, timeout: float) -> None:
        self.store = store
        self.inferred = inferred_graph
        self.timeout = timeout

    def _pages(self, query: str) -> Iterator[dict[str, Term]]:
        offset = 0
        while True:
            text = query % {"inferred": self.inferred, "limit": PAGE_ROWS, "offset": offset}
            rows = self.store.select(text, self.timeout)
            yield from rows
            if len(rows) < PAGE_ROWS:
                return
            offset += PAGE_ROWS

    def labels(self) -> Iterator[tuple[str, str, str, str]]:
        for row in self._pages(LABELS_QUERY):
            value = row["v"]
            if row["s"].kind == "uri" and value.kind == "literal":
                yield row["s"].value, row["p"].value, value.value, value.language or ""

    def types(self) -> Iterator[tuple[str, str, bool]]:
        for row in self._pages(TYPES_QUERY):
            yield row["s"].value, row["v"].value, False

    def type_labels(self, types: Sequence[str]) -> Iterator[tuple[str, str, str]]:
        values = " ".join(f"<{iri}>" for iri in types if is_iri(iri))
        if not values:
            return
        for row in self.store.select(TYPE_LABELS_QUERY % values, self.timeout):
            label = row["typeLabel"]
            if label.kind == "literal":
                yield row["v"].value, label.value, label.language or ""


# --- where the index of the data being served is, and its one build --------------------------


@dataclass(frozen=True)
class Placement:
    """Where the index of one store and base IRI may be, and what it must say it indexes."""

    found_at: tuple[Path, ...]  # looked at in this order
    build_at: Path  # where it is built when none fits
    expected: dict[str, str]  # the meta entries a fitting index has

    def fitting(self) -> Path | None:
        for path in self.found_at:
            meta = read_meta(path)
            if meta is not None and all(meta.get(k) == v for k, v in self.expected.items()):
                return path
        return None


def placement(store: Store, base: str) -> Placement:
    """An embedded store's index lives in its folder (written there by ``kgpub build`` and
    ``kgpub load``, or once by the first server when the folder is writable); a remote store's, or
    one in a read-only folder, in the server's runtime folder, named by the store's identity."""
    named = hashlib.sha256(f"{store.identity}\0{base}".encode()).hexdigest()[:16]
    runtime_copy = runtime_dir() / f"search-{named}.sqlite"
    real_path = getattr(store, "real_path", None)
    if real_path is None:  # a remote store: its identity changes with its data
        return Placement((runtime_copy,), runtime_copy, {"base": base, "data": store.identity})
    folder = Path(real_path)
    beside = folder / FILE_NAME
    expected = {"base": base, "data": store_fingerprint(folder)}
    meta = read_meta(beside)
    # an index beside the store for another base IRI stays: it is the build's own
    other_base = meta is not None and meta.get("data") == expected["data"]
    writable = folder.is_dir() and os.access(folder, os.W_OK) and not other_base
    return Placement((beside, runtime_copy), beside if writable else runtime_copy, expected)


class IndexSlot:
    """The index of one store identity and base IRI in this process: opened, or being built by
    one thread, which first waits for any other process building the same file."""

    def __init__(self, app: Services) -> None:
        self.app = app
        self.index: SearchIndex | None = None
        self.error: BaseException | None = None
        self.builder: threading.Thread | None = None
        self.builds = 0  # how many times this process wrote the index
        self.lock = threading.Lock()

    def get(self) -> SearchIndex:
        index = self.index
        if index is not None:
            return index
        with self.lock:
            if self.index is None and (self.builder is None or not self.builder.is_alive()):
                failure, self.error = self.error, None
                if failure is not None:
                    raise reported(failure)
                path = placement(self.app.store, self.app.minter.base).fitting()
                if path is not None:
                    self.index = SearchIndex(path)
                else:
                    self.builder = threading.Thread(target=self._build, daemon=True)
                    self.builder.start()
            builder = self.builder
        if self.index is None and builder is not None:
            builder.join(BUILD_WAIT)
        if self.index is not None:
            return self.index
        with self.lock:
            failure, self.error = self.error, None
        if failure is not None:
            raise reported(failure)
        raise errors.ServiceUnavailable(
            "the search index is being built (once for this data); try again shortly",
            {"Retry-After": str(RETRY_AFTER)},
        )

    def discard(self, broken: SearchIndex) -> None:
        """Forget an index that failed to read and remove its file, so the next search builds
        it again."""
        with self.lock:
            if self.index is broken:
                self.index = None
                with contextlib.suppress(OSError):
                    broken.path.unlink()

    def _build(self) -> None:
        try:
            where = placement(self.app.store, self.app.minter.base)
            lock_file = where.build_at.with_name(f".{where.build_at.name}.lock")
            with open(lock_file, "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building it: wait
                path = where.fitting()
                if path is None:
                    path = self._write(where)
                self.index = SearchIndex(path)
        except BaseException as error:  # handed to the next search, which reports it
            self.error = error

    def _write(self, where: Placement) -> Path:
        app = self.app
        timeout = max(app.settings.query_timeout, INDEX_TIMEOUT)
        source = StoreLabels(app.store, str(app.minter.inferred_graph), timeout)
        stats = write_index(where.build_at, source, PathOf(app), where.expected)
        self.builds += 1
        log.info(
            "search index written to %s: %d labels of %d resources, %.1f MB in %.1f s",
            where.build_at,
            stats.labels,
            stats.resources,
            stats.bytes / 1e6,
            stats.seconds,
        )
        return where.build_at


_slots: dict[tuple[str, str], IndexSlot] = {}
_slots_lock = threading.Lock()


def index_slot(app: Services) -> IndexSlot:
    key = (app.store.identity, app.minter.base)
    slot = _slots.get(key)
    if slot is None:
        with _slots_lock:
            slot = _slots.setdefault(key, IndexSlot(app))
    return slot


def label_index(app: Services) -> SearchIndex:
    """The index of the data being served; raises ServiceUnavailable while it is being built."""
    return index_slot(app).get()


def find(app: Services, query: str, limit: int) -> tuple[list[Hit], int]:
    """The best hits and their total; a broken index file is dropped and built again."""
    slot = index_slot(app)
    index = slot.get()
    try:
        return index.top(query, limit)
    except IndexBroken as error:
        log.error("search index unreadable, building it again: %s", error)
        slot.discard(index)
        return slot.get().top(query, limit)


def reported(error: BaseException) -> BaseException:
    """What a search answers when building the index failed: the store's failure as the store
    would report it, an unreadable index as unavailable for now (the next search rebuilds)."""
    if isinstance(error, QueryFailed):
        return errors.from_query_failure(error, "(reading the labels for the search index)", 0)
    if isinstance(error, IndexBroken):
        log.error("search index: %s", error)
        return errors.ServiceUnavailable(
            "the search index could not be read and is being built again; try again shortly",
            {"Retry-After": str(RETRY_AFTER)},
        )
    return error


@dataclass(frozen=True)
class SearchPage:
    query: str
    hits: list[Hit]
    total: int
    limit: int
    max_limit: int = MAX_LIMIT


def read_limit() -> int:
    value = request.args.get("limit", "").strip()
    if not value:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise errors.BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def read_query() -> str:
    query = request.args.get("q", "").strip()
    if not query:
        raise errors.BadRequest("give the text to look for as ?q=, e.g. /search?q=ecuador")
    if len(query) > MAX_QUERY_CHARS:
        raise errors.BadRequest(
            f"the search text is longer than {MAX_QUERY_CHARS} characters; shorten it"
        )
    return query


@bp.get("/search")
def search() -> Response:
    formats = request.args.getlist("format")
    fmt = choose(formats, request.headers.get("Accept"), OFFERED)
    if fmt is None:
        raise errors.NotAcceptable("search results", OFFERED)
    query, limit = read_query(), read_limit()
    hits, total = find(services(), query, limit)
    if fmt is HTML:
        page = SearchPage(query, hits, total, limit)
        response = Response(
            render_template("search.html", page=page, search_q=query), mimetype=HTML.media_type
        )
    else:
        response = jsonify(
            query=query,
            limit=limit,
            total=total,
            results=[hit.as_json() for hit in hits],
        )
    response.vary.add("Accept")
    return response
