"""The label search index: one SQLite file per store, written once, read by every process.

``kgpub build`` and ``kgpub load`` write it into the store's folder (``search.sqlite``) from the
store itself; a server that finds none, or one made for other data or another base IRI, builds
it once from its ``Store`` (``server/search.py``). The file is never changed once written (a new
one replaces it by rename), so readers open it immutable and memory-mapped: the pages live in the
operating system's cache, shared by all workers and servers, not copied into each process.

Labels are folded (``fold``) and found through an FTS5 trigram index, which answers "which labels
contain this text" for any text of three characters or more; the ranking (``Match``) is computed
by SQL over those candidates only. It lives outside ``kgpub.server`` (whose package imports
Flask) because the build pipeline imports it too.
"""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Protocol, TextIO

import pyoxigraph as ox

from kgpub.mappings.iris import Minter

SCHEMA = "1"  # changes whenever the tables or the folding change: older files are rebuilt
FILE_NAME = "search.sqlite"  # in the store's folder

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SKOS_ALT_LABEL = "http://www.w3.org/2004/02/skos/core#altLabel"
TRIGRAM = 3  # the shortest text the trigram index can look up
TYPE_SEPARATOR = "\x1f"
BATCH = 10_000  # rows per executemany while writing

_NOT_WORD = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """The text as matching sees it: no accents, case folded, punctuation runs as one space.

    >>> fold("  Café-Noir ")
    'cafe noir'
    >>> fold("Mexico–United States")
    'mexico united states'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_WORD.sub(" ", bare.casefold()).strip()


class Match(IntEnum):
    """How a label matches the query; lower is better."""

    EXACT = 0
    PREFIX = 1
    WORD = 2  # the query starts a word of the label
    SUBSTRING = 3
    WORDS = 4  # every word of the query starts a word of the label, in any order


def match(label: str, query: str) -> Match | None:
    """How the folded ``label`` matches the folded ``query``, None if it does not: the rule the
    index's SQL (``_RANKED``) applies, written out plainly.

    >>> match("daniel noboa", "noboa").name
    'WORD'
    >>> match("noboa daniel", "daniel noboa").name
    'WORDS'
    >>> match("ecuador", "cuad").name
    'SUBSTRING'
    """
    if label == query:
        return Match.EXACT
    if label.startswith(query):
        return Match.PREFIX
    if f" {query}" in f" {label}":
        return Match.WORD
    if query in label:
        return Match.SUBSTRING
    words = query.split()
    if len(words) > 1 and all(f" {w}" in f" {label}" for w in words):
        return Match.WORDS
    return None


@dataclass(frozen=True)
class Resource:
    iri: str
    path: str  # the page on this server
    label: str
    types: tuple[str, ...]  # labels of its asserted types


@dataclass(frozen=True)
class Hit:
    resource: Resource
    matched: str  # the label that matched best
    how: Match

    def as_json(self) -> dict[str, object]:
        return {
            "iri": self.resource.iri,
            "path": self.resource.path,
            "label": self.resource.label,
            "matched": self.matched,
            "match": self.how.name.lower(),
            "types": list(self.resource.types),
        }


class IndexBroken(Exception):
    """The index file cannot be read (truncated, overwritten, not an index): build it again."""


# --- reading ------------------------------------------------------------------------------------

# the candidates' match kinds, the best label of each resource, then the page of the best
# resources with the number of them all; the CASE is ``match`` in SQL
_RANKED = """
WITH hit AS (
  SELECT l.resource, l.label, CASE
    WHEN l.key = :q THEN 0
    WHEN substr(l.key, 1, :n) = :q THEN 1
    WHEN instr(' ' || l.key, ' ' || :q) > 0 THEN 2
    WHEN instr(l.key, :q) > 0 THEN 3
    WHEN %(words)s THEN 4
  END AS how
  FROM labels AS l WHERE %(candidates)s
), best AS (
  SELECT resource, label, how, row_number() OVER (
    PARTITION BY resource ORDER BY how, length(label), label) AS rank
  FROM hit WHERE how IS NOT NULL
)
SELECT r.iri, r.path, r.label, r.types, b.label, b.how, count(*) OVER () AS total
FROM best AS b JOIN resources AS r ON r.id = b.resource
WHERE b.rank = 1
ORDER BY b.how, length(b.label), r.sort_key, r.id
%(limit)s
"""


def ranked_query(folded: str, limit: int | None) -> tuple[str, dict[str, object]]:
    """The SQL and parameters that rank the labels matching the folded query."""
    words = folded.split()
    params: dict[str, object] = {"q": folded, "n": len(folded)}
    for number, word in enumerate(words):
        params[f"w{number}"] = word
    if len(words) > 1:
        every = " AND ".join(f"instr(' ' || l.key, ' ' || :w{n}) > 0" for n in range(len(words)))
    else:
        every = "0"
    # every kind of match needs each word of the query somewhere in the label
    searchable = [w for w in words if len(w) >= TRIGRAM]
    if searchable:
        # each trigram alone: with detail=none (a third of the size) FTS5 keeps no positions, so
        # it cannot match a phrase; the CASE above checks the candidates exactly
        grams = dict.fromkeys(w[i : i + TRIGRAM] for w in searchable for i in range(len(w) - 2))
        params["fts"] = " AND ".join(f'"{gram}"' for gram in grams)
        candidates = "l.id IN (SELECT rowid FROM label_text WHERE label_text MATCH :fts)"
    else:  # too short for trigrams: a scan of the folded labels, still in C
        candidates = " AND ".join(f"instr(l.key, :w{n}) > 0" for n in range(len(words)))
    if limit is not None:
        params["limit"] = limit
    text = _RANKED % {
        "words": every,
        "candidates": candidates,
        "limit": "LIMIT :limit" if limit is not None else "",
    }
    return text, params


class SearchIndex:
    """An index file opened read-only, one connection per thread (sqlite3's rule)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self.meta = read_meta(path)
        if self.meta is None:
            raise IndexBroken(f"{path} is not a search index")

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = open_read_only(self.path)
            self._local.connection = connection
        return connection

    def search(self, query: str) -> list[Hit]:
        """Every resource with a matching label, best first."""
        return self.top(query, None)[0]

    def top(self, query: str, limit: int | None) -> tuple[list[Hit], int]:
        """The ``limit`` best hits (all when None) and how many resources match in all."""
        folded = fold(query)
        if not folded:
            return [], 0
        sql, params = ranked_query(folded, limit)
        try:
            rows = self._connection().execute(sql, params).fetchall()
        except sqlite3.DatabaseError as error:
            raise IndexBroken(f"{self.path}: {error}") from error
        hits = [
            Hit(
                Resource(iri, path, label, tuple(types.split(TYPE_SEPARATOR)) if types else ()),
                matched,
                Match(how),
            )
            for iri, path, label, types, matched, how, _ in rows
        ]
        return hits, (rows[0][-1] if rows else 0)


def open_read_only(path: Path) -> sqlite3.Connection:
    # immutable: the file is replaced, never changed, so no locks; mmap: pages shared by processes
    connection = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False
    )
    connection.execute("PRAGMA mmap_size = 17179869184")
    return connection


def read_meta(path: Path) -> dict[str, str] | None:
    """What the index says it was built from; None when the file is missing or not an index."""
    if not path.is_file():
        return None
    try:
        connection = open_read_only(path)
        try:
            rows = connection.execute("SELECT name, value FROM meta").fetchall()
            connection.execute("SELECT count(*) FROM resources WHERE id = 1").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return None
    meta = {str(name): str(value) for name, value in rows}
    return meta if meta.get("schema") == SCHEMA and meta.get("complete") == "yes" else None


def store_fingerprint(store_path: Path) -> str:
    """Which data a RocksDB store folder holds, whatever its path: its current manifest's name,
    size and time (they change whenever the data does; reading does not touch them)."""
    real = store_path.resolve()
    try:
        manifest = (real / "CURRENT").read_text().strip()
        stat = (real / manifest).stat()
    except OSError:
        return ""
    return f"{manifest}:{stat.st_size}:{stat.st_mtime_ns}"


# --- writing ------------------------------------------------------------------------------------


class LabelSource(Protocol):
    """Where the labels come from: the store read directly, or a ``Store`` through SPARQL."""

    def labels(self) -> Iterable[tuple[str, str, str, str]]:
        """(subject IRI, rdfs:label or skos:altLabel, value, language) of IRI subjects."""
        ...

    def types(self) -> Iterable[tuple[str, str, bool]]:
        """(subject, type, stated only by the reasoner) of the labelled subjects, or more."""
        ...

    def type_labels(self, types: Sequence[str]) -> Iterable[tuple[str, str, str]]:
        """(type, label, language) of those types."""
        ...


@dataclass(frozen=True)
class IndexStats:
    resources: int
    labels: int
    seconds: float
    bytes: int


def page_path(minter: Minter, iri: str) -> str | None:
    """The local page of an IRI served here, the fragment kept for ontology terms."""
    path = minter.path_of(iri)
    if path is not None and "#" in iri and "#" not in path:
        path += "#" + iri.split("#", 1)[1]
    return path


def write_index(
    target: Path,
    source: LabelSource,
    path_of: Callable[[str], str | None],
    meta: Mapping[str, str],
) -> IndexStats:
    """Write the index of ``source`` to ``target``: into a private file first, renamed into place
    when complete, so a reader sees the old file, the new one or none, never a part."""
    started = time.perf_counter()
    partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    partial.unlink(missing_ok=True)
    try:
        connection = sqlite3.connect(partial)
        try:
            counts = _fill(connection, source, path_of, meta)
        finally:
            connection.close()
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return IndexStats(*counts, time.perf_counter() - started, target.stat().st_size)


def _fill(
    db: sqlite3.Connection,
    source: LabelSource,
    path_of: Callable[[str], str | None],
    meta: Mapping[str, str],
) -> tuple[int, int]:
    db.executescript(
        """
        PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA page_size = 8192;
        ATTACH '' AS staging;
        CREATE TABLE staging.label (seq INTEGER PRIMARY KEY, s TEXT, main INTEGER, value TEXT,
            language TEXT);
        CREATE TABLE staging.type (s TEXT, t TEXT, inferred INTEGER);
        CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE resources (id INTEGER PRIMARY KEY, iri TEXT, path TEXT, label TEXT,
            sort_key TEXT, types TEXT);
        CREATE TABLE labels (id INTEGER PRIMARY KEY, resource INTEGER, label TEXT, key TEXT);
        """
    )
    rows = ((s, p == RDFS_LABEL, v, lang) for s, p, v, lang in source.labels())
    _insert(db, "INSERT INTO staging.label (s, main, value, language) VALUES (?, ?, ?, ?)", rows)
    _insert(db, "INSERT INTO staging.type VALUES (?, ?, ?)", source.types())
    db.executescript(
        """
        CREATE INDEX staging.label_s ON label (s, seq);
        CREATE TABLE staging.asserted AS SELECT s, t FROM staging.type
            WHERE s IN (SELECT s FROM staging.label) GROUP BY s, t HAVING max(inferred) = 0;
        CREATE INDEX staging.asserted_s ON asserted (s);
        """
    )
    kinds = [t for (t,) in db.execute("SELECT DISTINCT t FROM staging.asserted ORDER BY t")]
    names = _type_names(kinds, source.type_labels(kinds) if kinds else ())
    resources = labels = 0
    for iri, texts, types in _grouped(db):
        path = path_of(iri)
        if path is None:
            continue
        resources += 1
        shown = sorted({names.get(t) or _local_name(t) for t in types}, key=str.casefold)
        db.execute(
            "INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?)",
            (resources, iri, path, texts[0], texts[0].casefold(), TYPE_SEPARATOR.join(shown)),
        )
        db.executemany(
            "INSERT INTO labels (resource, label, key) VALUES (?, ?, ?)",
            [(resources, text, fold(text)) for text in texts],
        )
        labels += len(texts)
    db.executescript(
        """
        DETACH staging;
        CREATE VIRTUAL TABLE label_text USING fts5(key, content='labels', content_rowid='id',
            tokenize='trigram', detail='none');
        INSERT INTO label_text (label_text) VALUES ('rebuild');
        INSERT INTO label_text (label_text) VALUES ('optimize');
        """
    )
    entries = {**meta, "schema": SCHEMA, "resources": str(resources), "labels": str(labels)}
    db.executemany("INSERT INTO meta VALUES (?, ?)", [*entries.items(), ("complete", "yes")])
    db.commit()
    return resources, labels


def _insert(db: sqlite3.Connection, sql: str, rows: Iterable[tuple]) -> None:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, BATCH)):
        db.executemany(sql, batch)


def _grouped(db: sqlite3.Connection) -> Iterator[tuple[str, list[str], list[str]]]:
    """Each labelled IRI in order with its labels (rdfs:label ones first, English and untagged
    before the others, then skos:altLabel ones) and its asserted types."""
    labels = db.execute("SELECT s, main, value, language FROM staging.label ORDER BY s, seq")
    types = db.execute("SELECT s, t FROM staging.asserted ORDER BY s")
    pending = next(types, None)
    for iri, group in itertools.groupby(labels, key=lambda row: row[0]):
        found = list(group)
        main = sorted(
            ((_language_order(language), value) for _, is_main, value, language in found if is_main)
        )
        others = [value for _, is_main, value, _ in found if not is_main]
        texts = list(dict.fromkeys([value for _, value in main] + others))
        kinds = []
        while pending is not None and pending[0] <= iri:
            if pending[0] == iri:
                kinds.append(pending[1])
            pending = next(types, None)
        yield iri, texts, kinds


def _type_names(kinds: Sequence[str], labels: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """The label each type is shown with: English or untagged first, else the first tag."""
    best: dict[str, tuple[tuple[int, str], str]] = {}
    wanted = set(kinds)
    for kind, value, language in labels:
        if kind not in wanted:
            continue
        order = _language_order(language)
        if kind not in best or order < best[kind][0]:
            best[kind] = (order, value)
    return {kind: value for kind, (_, value) in best.items()}


def _language_order(language: str | None) -> tuple[int, str]:
    """English and untagged labels first, then the others by language tag."""
    tag = (language or "").lower()
    return (0 if tag in ("", "en") or tag.startswith("en-") else 1, tag)


def _local_name(iri: str) -> str:
    return re.split(r"[#/]", iri.rstrip("/#"))[-1] or iri


# --- from a pyoxigraph store, at build and load time ----------------------------------------------


class OxigraphLabels:
    """The labels of a store opened directly (``kgpub build``, ``kgpub load``)."""

    def __init__(self, store: ox.Store, inferred_graph: str) -> None:
        self.store = store
        self.inferred = ox.NamedNode(inferred_graph)

    def labels(self) -> Iterator[tuple[str, str, str, str]]:
        for predicate in (RDFS_LABEL, SKOS_ALT_LABEL):
            for quad in self.store.quads_for_pattern(None, ox.NamedNode(predicate), None, None):
                subject, value = quad.subject, quad.object
                if isinstance(subject, ox.NamedNode) and isinstance(value, ox.Literal):
                    yield subject.value, predicate, value.value, value.language or ""

    def types(self) -> Iterator[tuple[str, str, bool]]:
        for quad in self.store.quads_for_pattern(None, ox.NamedNode(RDF_TYPE), None, None):
            subject, kind = quad.subject, quad.object
            if isinstance(subject, ox.NamedNode) and isinstance(kind, ox.NamedNode):
                yield subject.value, kind.value, quad.graph_name == self.inferred

    def type_labels(self, types: Sequence[str]) -> Iterator[tuple[str, str, str]]:
        label = ox.NamedNode(RDFS_LABEL)
        for kind in types:
            for quad in self.store.quads_for_pattern(ox.NamedNode(kind), label, None, None):
                if isinstance(quad.object, ox.Literal):
                    yield kind, quad.object.value, quad.object.language or ""


def index_store_folder(store_dir: Path, base_iri: str, out: TextIO | None = None) -> IndexStats:
    """Write ``search.sqlite`` into a closed store's folder, for the IRIs under ``base_iri``."""
    minter = Minter(base_iri)
    store = ox.Store.read_only(str(store_dir))
    try:
        source = OxigraphLabels(store, str(minter.inferred_graph))
        meta = {"base": minter.base, "data": store_fingerprint(store_dir)}
        stats = write_index(store_dir / FILE_NAME, source, lambda iri: page_path(minter, iri), meta)
    finally:
        del store
    if out is not None:
        out.write(
            f"search index: {stats.labels:,} labels of {stats.resources:,} resources, "
            f"{stats.bytes / 1e6:,.1f} MB\n"
        )
    return stats
