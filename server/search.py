"""``/search?q=``: find resources by their labels (``rdfs:label``, ``skos:altLabel``).

One query reads every label and asserted type of the resources served here into an in-memory
index, once per worker and build (keyed by the store's identity); each request then only scans that
index. Matching ignores case, accents and punctuation; results rank exact > prefix > word prefix >
substring > all words in any order, then the shorter matched label. JSON by default (the
autocomplete's API); a browser (``Accept: text/html``) or ``format=html`` gets the results page.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass, field
from enum import IntEnum

from flask import Blueprint, Response, jsonify, render_template, request
from kgpub.mappings.iris import ONTOLOGY_IRI

from . import errors
from .config import Services, services
from .formats import HTML, JSON, negotiate, pick
from .pool import QueryFailed
from .store import Term

bp = Blueprint("search", __name__)

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_QUERY_CHARS = 200
OFFERED = (JSON, HTML)

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SKOS_ALT_LABEL = "http://www.w3.org/2004/02/skos/core#altLabel"

# labels and asserted types of every resource served here; the inferred graph adds only the
# parent types, which would crowd the result list
LABELS_QUERY = """PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT ?s ?p ?v ?typeLabel WHERE {
  {
    VALUES ?p { rdfs:label skos:altLabel }
    ?s ?p ?v .
    FILTER(isLiteral(?v))
  } UNION {
    ?s rdf:type ?v .
    FILTER NOT EXISTS { GRAPH <%(inferred)s> { ?s rdf:type ?v } }
    BIND(rdf:type AS ?p)
    OPTIONAL { ?v rdfs:label ?typeLabel }
  }
  FILTER(isIRI(?s) && (STRSTARTS(STR(?s), "%(base)s") || STRSTARTS(STR(?s), "%(ontology)s")))
}"""

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
    # (folded label, label, resource number), one per distinct label of a resource
    entries: list[tuple[str, str, int]] = field(default_factory=list)

    def search(self, query: str) -> list[Hit]:
        """Every resource with a matching label, best first."""
        folded = fold(query)
        if not folded:
            return []
        best: dict[int, tuple[Match, int, str]] = {}
        for key, label, number in self.entries:
            how = match(key, folded)
            if how is None:
                continue
            rank = (how, len(label), label)
            if number not in best or rank < best[number]:
                best[number] = rank
        ordered = sorted(
            best.items(),
            key=lambda item: (*item[1][:2], self.resources[item[0]].label.casefold(), item[0]),
        )
        return [Hit(self.resources[n], label, how) for n, (how, _, label) in ordered]

    @classmethod
    def from_rows(cls, rows: list[dict[str, Term]], path_of: PathOf) -> LabelIndex:
        labels: dict[str, list[Term]] = {}  # iri -> rdfs:label values, then skos:altLabel ones
        alternatives: dict[str, list[Term]] = {}
        types: dict[str, dict[str, Term | None]] = {}  # iri -> type iri -> its label
        for row in rows:
            iri, predicate, value = row["s"].value, row["p"].value, row["v"]
            if predicate == RDF_TYPE:
                known = types.setdefault(iri, {})
                known[value.value] = _better(known.get(value.value), row.get("typeLabel"))
            elif value.kind == "literal":
                into = labels if predicate == RDFS_LABEL else alternatives
                into.setdefault(iri, []).append(value)
        index = cls()
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
            index.entries.extend((fold(text), text, number) for text in texts)
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


_indexes: dict[tuple[str, str], LabelIndex] = {}
_lock = threading.Lock()


def label_index(app: Services) -> LabelIndex:
    """The index of the build being served, made on first use in this worker."""
    key = (app.store.identity, app.minter.base)
    index = _indexes.get(key)
    if index is not None:
        return index
    with _lock:
        if key not in _indexes:
            query = LABELS_QUERY % {
                "inferred": app.minter.inferred_graph,
                "base": _literal(app.minter.base),
                "ontology": _literal(ONTOLOGY_IRI),
            }
            timeout = app.settings.query_timeout
            try:
                rows = app.store.select(query, timeout)
            except QueryFailed as error:
                raise errors.from_query_failure(error, query, timeout) from None
            _indexes[key] = LabelIndex.from_rows(rows, PathOf(app))
        return _indexes[key]


def _literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


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
    hits = label_index(services()).search(query)
    if fmt is HTML:
        page = SearchPage(query, hits[:limit], len(hits), limit)
        response = Response(
            render_template("search.html", page=page, search_q=query), mimetype=HTML.media_type
        )
    else:
        response = jsonify(
            query=query,
            limit=limit,
            total=len(hits),
            results=[hit.as_json() for hit in hits[:limit]],
        )
    response.vary.add("Accept")
    return response
