"""``/search?q=``: find resources by their labels (``rdfs:label``, ``skos:altLabel``).

One query reads every label and asserted type of the resources served here into an in-memory
index, once per worker and build (keyed by the store's identity); each request then only scans that
index. Matching ignores case, accents and punctuation; results rank exact > prefix > word prefix >
substring > all words in any order, then the shorter matched label. JSON by default (the
autocomplete's API); a browser (``Accept: text/html``) or ``format=html`` gets the results page.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import hashlib
import heapq
import pickle
import re
import threading
import unicodedata
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from flask import Blueprint, Response, jsonify, render_template, request

from . import errors
from .config import Services, services
from .formats import HTML, JSON, negotiate, pick
from .pool import QueryFailed
from .runtime import runtime_dir
from .store import Term, is_iri

bp = Blueprint("search", __name__)

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_QUERY_CHARS = 200
OFFERED = (JSON, HTML)

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SKOS_ALT_LABEL = "http://www.w3.org/2004/02/skos/core#altLabel"

# labels and asserted types of every resource; the inferred graph adds only the parent types, which
# would crowd the result list. Written for a big store: MINUS (one anti-join) rather than a NOT
# EXISTS per row, no string functions per row (which IRIs are served here is decided in Python,
# by the minter), and the few type labels fetched apart (TYPE_LABELS_QUERY) rather than per row.
LABELS_QUERY = """PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT ?s ?p ?v WHERE {
  {
    VALUES ?p { rdfs:label skos:altLabel }
    ?s ?p ?v .
    FILTER(isIRI(?s) && isLiteral(?v))
  } UNION {
    ?s rdf:type ?v .
    FILTER(isIRI(?s))
    MINUS { GRAPH <%(inferred)s> { ?s rdf:type ?v } }
    BIND(rdf:type AS ?p)
  }
}"""
TYPE_LABELS_QUERY = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?v ?typeLabel WHERE { VALUES ?v { %s } ?v rdfs:label ?typeLabel }"""

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
    """How the folded ``label`` matches the folded ``query``, None if it does not.

    >>> match("daniel noboa", "noboa").name
    'WORD'
    >>> match("noboa daniel", "daniel noboa").name
    'WORDS'
    >>> match("ecuador", "cuad").name
    'SUBSTRING'
    """
    if label == query:
        return Match.EXACT
    at = label.find(query)
    if at == 0:
        return Match.PREFIX
    found = at > 0
    while at > 0:
        if label[at - 1] == " ":
            return Match.WORD
        at = label.find(query, at + 1)
    if found:
        return Match.SUBSTRING
    words = query.split()
    if len(words) > 1:
        label_words = label.split()
        if all(any(w.startswith(q) for w in label_words) for q in words):
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


@dataclass
class LabelIndex:
    resources: list[Resource] = field(default_factory=list)
    # (label, resource number), one per distinct label of a resource
    entries: list[tuple[str, int]] = field(default_factory=list)
    # the folded labels, in the order of ``entries``, one per line: a search scans this one
    # string with str.find (C speed) and looks closer only at the labels it finds the query in
    keys: str = ""
    starts: array[int] = field(default_factory=lambda: array("q"))  # where each label begins

    def search(self, query: str) -> list[Hit]:
        """Every resource with a matching label, best first."""
        return self.top(query, None)[0]

    def top(self, query: str, limit: int | None) -> tuple[list[Hit], int]:
        """The ``limit`` best hits (all when None) and how many resources match in all."""
        folded = fold(query)
        if not folded:
            return [], 0
        best: dict[int, tuple[Match, int, str]] = {}
        for entry in self._candidates(folded):
            how = match(self._key(entry), folded)
            if how is None:
                continue
            label, number = self.entries[entry]
            rank = (how, len(label), label)
            if number not in best or rank < best[number]:
                best[number] = rank

        def order(item: tuple[int, tuple[Match, int, str]]) -> tuple[Match, int, str, int]:
            number, (how, length, _) = item
            return (how, length, self.resources[number].label.casefold(), number)

        if limit is None:
            ordered = sorted(best.items(), key=order)
        else:  # a common word matches half the labels of a big graph: no need to sort them all
            ordered = heapq.nsmallest(limit, best.items(), key=order)
        hits = [Hit(self.resources[n], label, how) for n, (how, _, label) in ordered]
        return hits, len(best)

    def _candidates(self, folded: str) -> Iterator[int]:
        """The labels holding the query's longest word: every kind of match needs it (whole
        query as a substring, or each of its words starting a word of the label)."""
        needle = max(folded.split(), key=len)
        keys, starts = self.keys, self.starts
        at = keys.find(needle)
        while at != -1:
            entry = bisect.bisect_right(starts, at) - 1
            yield entry
            following = entry + 1
            if following == len(starts):
                return
            at = keys.find(needle, starts[following])

    def _key(self, entry: int) -> str:
        following = entry + 1
        end = self.starts[following] - 1 if following < len(self.starts) else len(self.keys)
        return self.keys[self.starts[entry] : end]

    @classmethod
    def from_rows(
        cls,
        rows: list[dict[str, Term]],
        path_of: PathOf,
        type_labels: Mapping[str, list[Term]] | None = None,
    ) -> LabelIndex:
        """The index of the rows of LABELS_QUERY; ``type_labels``: the labels of the types, when
        the rows do not carry them (as ``typeLabel``)."""
        labels: dict[str, list[Term]] = {}  # iri -> rdfs:label values, then skos:altLabel ones
        alternatives: dict[str, list[Term]] = {}
        types: dict[str, dict[str, Term | None]] = {}  # iri -> type iri -> its label
        for row in rows:
            iri, predicate, value = row["s"].value, row["p"].value, row["v"]
            if predicate == RDF_TYPE:
                known = types.setdefault(iri, {})
                known[value.value] = _better(known.get(value.value), row.get("typeLabel"))
                for label in (type_labels or {}).get(value.value, ()):
                    known[value.value] = _better(known[value.value], label)
            elif value.kind == "literal":
                into = labels if predicate == RDFS_LABEL else alternatives
                into.setdefault(iri, []).append(value)
        index = cls()
        keys: list[str] = []
        for iri in sorted(labels.keys() | alternatives.keys()):
            path = path_of(iri)
            if path is None:
                continue
            main = sorted(
                labels.get(iri, []), key=lambda term: (*_language_order(term), term.value)
            )
            others = alternatives.get(iri, [])
            texts = list(dict.fromkeys(term.value for term in (*main, *others)))
            kinds = {
                label.value if label is not None else _local_name(kind)
                for kind, label in types.get(iri, {}).items()
            }
            number = len(index.resources)
            index.resources.append(
                Resource(iri, path, texts[0], tuple(sorted(kinds, key=str.casefold)))
            )
            index.entries.extend((text, number) for text in texts)
            keys.extend(fold(text) for text in texts)
        offset = 0
        for key in keys:
            index.starts.append(offset)
            offset += len(key) + 1
        index.keys = "\n".join(keys)
        return index


class PathOf:
    """The local page of an IRI served here, the fragment kept for ontology terms."""

    def __init__(self, app: Services) -> None:
        self.minter = app.minter

    def __call__(self, iri: str) -> str | None:
        path = self.minter.path_of(iri)
        if path is not None and "#" in iri and "#" not in path:
            path += "#" + iri.split("#", 1)[1]
        return path


def _language_order(term: Term) -> tuple[int, str]:
    """English and untagged labels first, then the others by language tag."""
    language = (term.language or "").lower()
    return (0 if language in ("", "en") or language.startswith("en-") else 1, language)


def _label_order(term: Term) -> tuple[int, str, str]:
    return (*_language_order(term), term.value)


def _better(current: Term | None, candidate: Term | None) -> Term | None:
    if candidate is None:
        return current
    if current is None or _language_order(candidate) < _language_order(current):
        return candidate
    return current


def _local_name(iri: str) -> str:
    return re.split(r"[#/]", iri.rstrip("/#"))[-1] or iri


INDEX_TIMEOUT = 600.0  # seconds the queries that build the label index may take
_indexes: dict[tuple[str, str], LabelIndex] = {}
_lock = threading.Lock()


def label_index(app: Services) -> LabelIndex:
    """The index of the build being served, made on first use by one worker of the server and
    read by the others from the server's runtime folder (building it reads every label)."""
    key = (app.store.identity, app.minter.base)
    index = _indexes.get(key)
    if index is not None:
        return index
    with _lock:
        if key not in _indexes:
            _indexes[key] = shared_index(app, key)
        return _indexes[key]


def shared_index(app: Services, key: tuple[str, str]) -> LabelIndex:
    """The index from the runtime folder, or built and written there, under a file lock: a second
    worker waits for the first rather than reading every label again beside it."""
    name = hashlib.sha256("\0".join(key).encode()).hexdigest()[:16]
    path = runtime_dir() / f"labels-{name}.pickle"
    with open(runtime_dir() / f"labels-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError):
                index = pickle.loads(path.read_bytes())
                if isinstance(index, LabelIndex):
                    return index
        index = build_index(app)
        partial = path.with_suffix(".part")
        partial.write_bytes(pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
        partial.replace(path)
        return index


def build_index(app: Services) -> LabelIndex:
    rows = _select(app, LABELS_QUERY % {"inferred": app.minter.inferred_graph})
    types = {row["v"].value for row in rows if row["p"].value == RDF_TYPE}
    type_labels: dict[str, list[Term]] = {}
    if types:
        values = " ".join(f"<{iri}>" for iri in sorted(types) if is_iri(iri))
        for row in _select(app, TYPE_LABELS_QUERY % values):
            type_labels.setdefault(row["v"].value, []).append(row["typeLabel"])
    return LabelIndex.from_rows(rows, PathOf(app), type_labels)


def _select(app: Services, query: str) -> list[dict[str, Term]]:
    # reading every label of a big store takes longer than a user's query may: seconds at 1M
    # triples, a minute at 10M; it happens once per build
    timeout = max(app.settings.query_timeout, INDEX_TIMEOUT)
    try:
        return app.store.select(query, timeout)
    except QueryFailed as error:
        raise errors.from_query_failure(error, query, timeout) from None


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
    fmt = pick(formats, OFFERED) if formats else negotiate(request.headers.get("Accept"), OFFERED)
    if fmt is None:
        raise errors.NotAcceptable("search results", OFFERED)
    query, limit = read_query(), read_limit()
    hits, total = label_index(services()).top(query, limit)
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
