"""The one interface routes use to reach the data, and its embedded pyoxigraph implementation.

Routes never import pyoxigraph: they call a ``Store``, one of two: ``EmbeddedStore``, the
read-only build store queried in killable processes (``pool.py``), or ``remote.RemoteStore``, which
forwards to a SPARQL 1.1 endpoint over HTTP. The linked-data pages' queries (``LinkedDataQueries``)
are plain SELECTs through ``select``, written so that they give the same answers whether or not a
store's default graph is the union of its graphs.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kgpub.mappings.iris import ONTOLOGY_NS

from kgpub import storecounts
from kgpub.storecounts import Counts

from .formats import SPARQL_JSON, TRIG, TURTLE, Format, Kind
from .inline import InlineQueries, query_key
from .pool import Answer, ExecutorPool, QueryFailed
from .querytext import scan


@dataclass(frozen=True)
class QueryRequest:
    """One SPARQL query as the protocol received it, with the dataset and formats decided."""

    query: str
    formats: Mapping[Kind, Format | None]  # per result kind; None: the client accepts none
    default_graphs: tuple[str, ...] | None = None  # default-graph-uri, None when not given
    named_graphs: tuple[str, ...] | None = None  # named-graph-uri, None when not given
    union_default_graph: bool = True  # the default graph is the union of all graphs
    max_rows: int = 0  # 0: no cap
    timeout: float = 10.0
    prefixes: Mapping[str, str] = field(default_factory=dict)  # for Turtle and TriG output
    truncation_link: str | None = None  # in-band note on a truncated SPARQL JSON/XML answer
    max_bytes: int = 0  # bytes of the answer; past them it is an error, never a cut answer
    base_iri: str | None = None  # what relative IRIs in a query without BASE resolve against


@dataclass(frozen=True)
class Term:
    """An RDF term as SPARQL JSON results give it: kind is uri, bnode, literal or triple."""

    kind: str
    value: str
    datatype: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class QuadRow:
    subject: Term
    predicate: Term
    object: Term
    graph: Term | None  # None: the default graph


class Store(Protocol):
    @property
    def identity(self) -> str:
        """Names the data being served; equal identities mean equal answers (cache key)."""
        ...

    def query(self, request: QueryRequest) -> Answer:
        """Run a query: the answer whole or streamed. Raises pool.QueryTimeout, pool.Busy or
        pool.QueryFailed."""
        ...

    def select(self, sparql: str, timeout: float, union: bool = True) -> list[dict[str, Term]]:
        """The rows of a small SELECT as terms; ``union``: the default graph is all graphs."""
        ...

    def resource_quads(self, iri: str, limit: int, timeout: float) -> list[QuadRow]:
        """The quads with ``iri`` as subject or object, in every graph."""
        ...

    def counts(self, timeout: float, scan: bool = True) -> Counts | None:
        """Triples, quads and named graphs, the first ``LISTED_GRAPHS`` of them with their sizes:
        as written beside the store, else counted (``scan``) or None (not ``scan``)."""
        ...

    @property
    def modified(self) -> float:
        """When the data being served was built (seconds since the epoch): Last-Modified."""
        ...

    def find(self, iris: Sequence[str], timeout: float) -> list[str]:
        """Those of ``iris`` that occur in the data: as subject, object or graph name."""
        ...

    def resource(self, iri: str, paging: Paging, timeout: float) -> ResourceRows:
        """What a resource page shows: outgoing quads, incoming counts and one page of incoming
        quads, and the triples of the graph ``iri`` names (if it names one)."""
        ...

    def annotations(
        self, iris: Sequence[str], predicates: Sequence[str], graphs: Sequence[str], timeout: float
    ) -> Annotations:
        """The values of ``predicates`` (labels, descriptions) for ``iris``, and the provenance of
        those of ``graphs`` that are facts."""
        ...

    def text(self, context: str, timeout: float) -> TextRows:
        """An article's text: the context, its segments and mentions, and its facts' triples."""
        ...

    def close(self) -> None: ...


def build_identity(path: Path) -> str:
    """A short hash of the store's real location and RocksDB's current manifest.

    ``build/current`` is a symlink to ``build/<build-id>``, so the real path names the build; the
    manifest's name and size change whenever the data does, even if a store is rebuilt in place.
    Computed once; it reads no data, so it does not grow with the store.
    """
    real = path.resolve()
    digest = hashlib.sha256(str(real).encode())
    current = real / "CURRENT"
    if current.is_file():
        manifest = current.read_text().strip()
        digest.update(manifest.encode())
        try:
            stat = (real / manifest).stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        except OSError:
            pass
    return digest.hexdigest()[:16]


# --- the linked-data pages' queries -------------------------------------------------------------
# Each method below is one SELECT through ``select``, so a store that forwards to a remote SPARQL
# endpoint inherits them by implementing ``select`` alone. Most ask with ``union=False`` and say
# ``GRAPH ?g {...}`` (named graphs) and a bare pattern (the store's own default graph) explicitly.

NIF = "http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#"
PREFIXES = (
    f"PREFIX nif: <{NIF}> PREFIX prov: <http://www.w3.org/ns/prov#> "
    "PREFIX dct: <http://purl.org/dc/terms/> PREFIX itsrdf: <http://www.w3.org/2005/11/its/rdf#> "
    f"PREFIX kgo: <{ONTOLOGY_NS}> "
)
# the segments an article page lays out: headings, paragraphs, sentences and entity mentions
SEGMENT_KINDS = ("Title", "Paragraph", "Sentence", "Phrase")

_UCS = "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef" + "".join(
    f"{chr(plane << 16)}-{chr((plane << 16) + 0xFFFD)}" for plane in range(1, 15)
)
# what RFC 3987 allows in an IRI after the scheme; anything else cannot be in the store
_IRI = re.compile(rf"^https?:(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#]|%[0-9A-Fa-f]{{2}}|[{_UCS}])*$")


def is_iri(value: str) -> bool:
    """Whether ``value`` can be written as a SPARQL IRI: a check, not a full RFC 3987 parser."""
    return bool(_IRI.match(value)) and value.count("#") <= 1


def sparql_iri(value: str) -> str:
    if not is_iri(value):
        raise ValueError(f"not an IRI the store can hold: {value!r}")
    return f"<{value}>"


@dataclass(frozen=True)
class Paging:
    incoming: int = 50  # incoming links per page
    offset: int = 0  # incoming links skipped
    outgoing: int = 1000  # outgoing quads at most
    contents: int = 1000  # triples of the graph the resource names, at most


@dataclass(frozen=True)
class ResourceRows:
    outgoing: list[QuadRow]  # <iri> ?p ?o in every graph
    incoming: list[QuadRow]  # one page of distinct (?s, ?p) links to <iri>, in each graph
    incoming_counts: dict[str, int]  # predicate -> distinct subjects linking with it
    contents: list[QuadRow]  # the triples of the graph <iri>

    @property
    def found(self) -> bool:
        return bool(self.outgoing or self.incoming_counts or self.contents)


@dataclass(frozen=True)
class Provenance:
    """A fact graph, the sentence it is derived from and the words it quotes."""

    fact: str
    sentence: str
    graph: str | None  # the graph these statements are in
    quote: str | None = None
    sentence_id: str | None = None  # dct:identifier of the sentence: its anchor in the article
    context: str | None = None  # the article (nif:referenceContext)
    text: str | None = None  # the sentence (nif:anchorOf)
    text_graph: str | None = None


@dataclass(frozen=True)
class Annotations:
    values: list[QuadRow]  # (iri, predicate, value, graph)
    provenance: list[Provenance]


@dataclass(frozen=True)
class Segment:
    iri: str
    kind: str  # Title, Paragraph, Sentence or Phrase
    begin: int
    end: int
    identifier: str | None  # p3s1, h1, ...
    refers_to: str | None  # a mention's entity (itsrdf:taIdentRef)
    repeats: bool  # a repeat of the title (kgo:repeats)


@dataclass(frozen=True)
class TextRows:
    context: list[QuadRow]  # the article's own statements
    segments: list[Segment]
    facts: list[QuadRow]  # the triples of every fact derived from a sentence of the article
    derived: dict[str, str]  # fact graph -> sentence
    quotes: dict[str, str]  # fact graph -> the words of the sentence it quotes


class LinkedDataQueries:
    def select(self, sparql: str, timeout: float, union: bool = True) -> list[dict[str, Term]]:
        raise NotImplementedError

    def find(self, iris: Sequence[str], timeout: float) -> list[str]:
        nodes = " ".join(sparql_iri(iri) for iri in iris if is_iri(iri))
        if not nodes:
            return []
        # each pattern in the named graphs and in the store's own default graph, so the answer
        # is the same whether or not a store's default graph is the union of its graphs
        rows = self.select(
            f"SELECT ?x WHERE {{ VALUES ?x {{ {nodes} }} FILTER(EXISTS {{ ?x ?p ?o }} || "
            "EXISTS { GRAPH ?g { ?x ?p ?o } } || EXISTS { ?s ?p ?x } || "
            "EXISTS { GRAPH ?g { ?s ?p ?x } } || EXISTS { GRAPH ?x { ?s ?p ?o } }) }",
            timeout,
            union=False,
        )
        found = {row["x"].value for row in rows}
        return [iri for iri in iris if iri in found]

    def resource(self, iri: str, paging: Paging, timeout: float) -> ResourceRows:
        x = sparql_iri(iri)
        # every pattern twice: in the named graphs and in the store's own default graph
        out = f"{{ GRAPH ?g {{ {x} ?p ?o }} }} UNION {{ {x} ?p ?o }}"
        into = f"{{ GRAPH ?g {{ ?s ?p {x} }} }} UNION {{ ?s ?p {x} }}"
        # no ORDER BY anywhere: sorting a hub's 100,000 links costs the engine seconds, counting
        # them a tenth of a second; the page of links is fetched per predicate (below)
        rows = self.select(
            "SELECT ?k ?s ?p ?o ?g ?n WHERE { "
            f"{{ {{ SELECT ?p ?o ?g WHERE {{ {out} }} LIMIT {int(paging.outgoing)} }} "
            f'BIND("out" AS ?k) }} UNION '
            f"{{ {{ SELECT ?p (COUNT(DISTINCT ?s) AS ?n) WHERE {{ {into} }} GROUP BY ?p }} "
            f'BIND("count" AS ?k) }} UNION '
            f"{{ {{ SELECT ?s ?p ?o WHERE {{ GRAPH {x} {{ ?s ?p ?o }} }} "
            f'LIMIT {int(paging.contents)} }} BIND("graph" AS ?k) }} }}',
            timeout,
            union=False,
        )
        node = Term("uri", iri)
        out_rows, contents = [], []
        counts: dict[str, int] = {}
        for row in rows:
            kind = row["k"].value
            if kind == "out":
                out_rows.append(QuadRow(node, row["p"], row["o"], row.get("g")))
            elif kind == "count":
                counts[row["p"].value] = int(row["n"].value)
            else:
                contents.append(QuadRow(row["s"], row["p"], row["o"], node))
        windows = incoming_windows(counts, paging.offset, paging.incoming)
        in_rows = []
        if windows:
            # links in predicate order, then in the store's index order: stable for a build, and
            # a page reads only the links before it of its own predicates, never sorts them all
            branches = " UNION ".join(
                f"{{ {{ SELECT DISTINCT ?s WHERE {{ {{ GRAPH ?g {{ ?s {p} {x} }} }} UNION "
                f"{{ ?s {p} {x} }} }} LIMIT {take} OFFSET {skip} }} "
                f"{{ GRAPH ?g {{ ?s {p} {x} }} }} UNION {{ ?s {p} {x} }} BIND({p} AS ?p) }}"
                for p, skip, take in ((sparql_iri(p), skip, take) for p, skip, take in windows)
            )
            page = self.select(f"SELECT ?s ?p ?g WHERE {{ {branches} }}", timeout, union=False)
            in_rows = [QuadRow(row["s"], row["p"], node, row.get("g")) for row in page]
        return ResourceRows(out_rows, in_rows, counts, contents)

    def annotations(
        self, iris: Sequence[str], predicates: Sequence[str], graphs: Sequence[str], timeout: float
    ) -> Annotations:
        nodes = " ".join(sparql_iri(iri) for iri in dict.fromkeys(iris) if is_iri(iri))
        wanted = ", ".join(sparql_iri(p) for p in predicates)
        facts = " ".join(sparql_iri(g) for g in dict.fromkeys(graphs) if is_iri(g))
        branches = []
        if nodes and wanted:
            branches.append(
                f"{{ VALUES ?x {{ {nodes} }} {{ GRAPH ?g {{ ?x ?p ?v }} }} UNION {{ ?x ?p ?v }} "
                f'FILTER(?p IN ({wanted})) BIND("value" AS ?k) }}'
            )
        if facts:
            # The VALUES sit inside GRAPH and each sentence pattern is bound before its OPTIONALs:
            # written the other way, Oxigraph reads every wasDerivedFrom and referenceContext
            # triple of the store before joining, and a page's cost grows with the whole graph.
            branches.append(
                f"{{ GRAPH ?g {{ VALUES ?x {{ {facts} }} ?x prov:wasDerivedFrom ?sentence "
                "OPTIONAL { ?x kgo:quote ?v } } "
                "OPTIONAL { GRAPH ?tg { ?sentence nif:referenceContext ?context } "
                "OPTIONAL { GRAPH ?tg { ?sentence dct:identifier ?id } } "
                "OPTIONAL { GRAPH ?tg { ?sentence nif:anchorOf ?text } } } "
                'BIND("prov" AS ?k) }'
            )
        if not branches:
            return Annotations([], [])
        rows = self.select(
            PREFIXES + "SELECT * WHERE { " + " UNION ".join(branches) + " }", timeout, union=False
        )
        values, provenance = [], []
        for row in rows:
            if row["k"].value == "value":
                values.append(QuadRow(row["x"], row["p"], row["v"], row.get("g")))
                continue
            provenance.append(
                Provenance(
                    fact=row["x"].value,
                    sentence=row["sentence"].value,
                    graph=_value(row.get("g")),
                    quote=_value(row.get("v")),
                    sentence_id=_value(row.get("id")),
                    context=_value(row.get("context")),
                    text=_value(row.get("text")),
                    text_graph=_value(row.get("tg")),
                )
            )
        return Annotations(values, provenance)

    def text(self, context: str, timeout: float) -> TextRows:
        a = sparql_iri(context)
        kinds = ", ".join(f"nif:{kind}" for kind in SEGMENT_KINDS)
        rows = self.select(
            PREFIXES + "SELECT ?k ?seg ?kind ?b ?e ?id ?ref ?rep ?s ?p ?o ?g ?quote WHERE { "
            f"{{ GRAPH ?tg {{ ?seg nif:referenceContext {a} ; a ?kind ; nif:beginIndex ?b ; "
            f"nif:endIndex ?e . FILTER(?kind IN ({kinds})) "
            "OPTIONAL { ?seg dct:identifier ?id } OPTIONAL { ?seg itsrdf:taIdentRef ?ref } "
            'OPTIONAL { ?seg kgo:repeats ?rep } } BIND("seg" AS ?k) } UNION '
            "{ GRAPH ?pg { ?g prov:wasDerivedFrom ?seg OPTIONAL { ?g kgo:quote ?quote } } "
            f"GRAPH ?sg {{ ?seg nif:referenceContext {a} }} GRAPH ?g {{ ?s ?p ?o }} "
            'BIND("fact" AS ?k) } UNION '
            f'{{ GRAPH ?g {{ {a} ?p ?o }} BIND("context" AS ?k) }} }}',
            timeout,
            union=False,
        )
        node = Term("uri", context)
        own, segments, facts = [], [], []
        derived: dict[str, str] = {}
        quotes: dict[str, str] = {}
        for row in rows:
            kind = row["k"].value
            if kind == "context":
                own.append(QuadRow(node, row["p"], row["o"], row.get("g")))
            elif kind == "fact":
                facts.append(QuadRow(row["s"], row["p"], row["o"], row["g"]))
                derived[row["g"].value] = row["seg"].value
                if "quote" in row:
                    quotes[row["g"].value] = row["quote"].value
            else:
                segments.append(
                    Segment(
                        iri=row["seg"].value,
                        kind=row["kind"].value.removeprefix(NIF),
                        begin=int(row["b"].value),
                        end=int(row["e"].value),
                        identifier=_value(row.get("id")),
                        refers_to=_value(row.get("ref")),
                        repeats="rep" in row,
                    )
                )
        return TextRows(own, segments, facts, derived, quotes)

    def resource_quads(self, iri: str, limit: int, timeout: float) -> list[QuadRow]:
        node = "<" + iri.replace(">", "%3E") + ">"
        rows = self.select(
            "SELECT ?s ?p ?o ?g WHERE { "
            f"{{ GRAPH ?g {{ {node} ?p ?o }} BIND({node} AS ?s) }} UNION "
            f"{{ GRAPH ?g {{ ?s ?p {node} }} BIND({node} AS ?o) }} UNION "
            f"{{ {node} ?p ?o BIND({node} AS ?s) }} UNION {{ ?s ?p {node} BIND({node} AS ?o) }}"
            f" }} LIMIT {int(limit)}",
            timeout,
            union=False,  # the un-GRAPHed patterns are for the store's own default graph only
        )
        return [QuadRow(row["s"], row["p"], row["o"], row.get("g")) for row in rows]

    def counts(self, timeout: float, scan: bool = True) -> Counts | None:
        if not scan:
            return None
        return storecounts.count(lambda sparql: self.select(sparql, timeout, union=False))


def incoming_windows(
    counts: Mapping[str, int], offset: int, size: int
) -> list[tuple[str, int, int]]:
    """The links a page of incoming links holds, as (predicate, links skipped, links taken): the
    links are in predicate order (by IRI), so a page spans one predicate or a few."""
    windows = []
    skip = offset
    for predicate in sorted(counts):
        if size <= 0:
            break
        count = counts[predicate]
        if skip >= count:
            skip -= count
            continue
        take = min(count - skip, size)
        windows.append((predicate, skip, take))
        size -= take
        skip = 0
    return windows


def _value(term: Term | None) -> str | None:
    return None if term is None else term.value


def build_time(path: Path) -> float:
    """The build's time: its manifest's mtime when the store sits in a build folder, else the
    store folder's own."""
    real = path.resolve()
    for candidate in (real.parent / "manifest.json", real):
        try:
            return candidate.stat().st_mtime
        except OSError:
            continue
    return 0.0


# the graph formats written with the prefixes of a query request
PREFIXED = (TURTLE, TRIG)
# the CPU niceness of the processes running the endpoint's user queries: the pages' look-ups, in
# processes of normal priority, stay fast while heavy queries saturate the CPU
USER_QUERY_NICE = 10


class EmbeddedStore(LinkedDataQueries):
    """The build's pyoxigraph store, opened read-only by query processes of this worker."""

    def __init__(
        self,
        path: Path,
        pool_size: int,
        inline_seconds: float = 0.0,
        memory_quads: int = 0,
        memory_inline_seconds: float = 0.0,
    ) -> None:
        self.path = path
        # the symlink is resolved once: every query process of this server reads the same build
        self.real_path = str(path.resolve())
        self.pool_size = pool_size
        self._identity: str | None = None
        self._modified: float | None = None
        self._pools: dict[int, ExecutorPool] = {}  # by niceness: the pages' and the endpoint's
        self._lock = threading.Lock()
        # the endpoint's queries known to be light, which the worker runs itself (``inline``)
        self.inline = (
            InlineQueries(
                self.real_path,
                inline_seconds,
                self._user_pool_size(),
                USER_QUERY_NICE,
                memory_quads=memory_quads,
                memory_max_seconds=memory_inline_seconds,
            )
            if inline_seconds > 0
            else None
        )

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = build_identity(self.path)
        return self._identity

    @property
    def modified(self) -> float:
        if self._modified is None:
            self._modified = build_time(self.path)
        return self._modified

    def _executors(self, nice: int = 0) -> ExecutorPool:
        """A pool of this process, made after the fork: processes and sockets are not shared
        across worker processes. ``nice`` 0 is the pages' pool; the endpoint's user queries have
        their own, at a lower priority, holding at most one process per request thread."""
        pool = self._pools.get(nice)
        if pool is not None and pool.pid == os.getpid():
            return pool
        with self._lock:
            pool = self._pools.get(nice)
            if pool is None or pool.pid != os.getpid():
                if not Path(self.real_path).is_dir():
                    raise QueryFailed("store", f"no store at {self.path}: build it first")
                size = self.pool_size if nice == 0 else self._user_pool_size()
                pool = ExecutorPool(self.real_path, size, nice=nice)
                self._pools[nice] = pool
                atexit.register(pool.close)
            return pool

    def _user_pool_size(self) -> int:
        """The endpoint's query processes, and query threads, of each worker."""
        return max(1, self.pool_size - 1)

    def query(self, request: QueryRequest) -> Answer:
        """A user query of the endpoint: run by this worker when it is known to be light
        (``inline``), else in the low-priority pool (and remembered if it proves light)."""
        message = self._message(request)
        inline = self.inline
        if inline is None or scan(request.query).varies:
            # a query calling NOW() or RAND() may be cheap once and heavy the next time: every run
            # of it must be one a query process can be stopped in
            return self._executors(USER_QUERY_NICE).run(message, request.timeout)
        key = query_key(message)
        known = inline.known(key)
        if known is not None:
            return inline.run(message, known, request.timeout)
        answer = self._executors(USER_QUERY_NICE).run(message, request.timeout)
        inline.learn(key, answer)
        return answer

    def _message(self, request: QueryRequest) -> dict:
        return answer_message(request)

    def counts(self, timeout: float, scan: bool = True) -> Counts | None:
        """Those the loader wrote beside the store (``kgpub.storecounts``), else counted now."""
        written = storecounts.read_counts(Path(self.real_path))
        return written if written is not None else super().counts(timeout, scan)

    def select(self, sparql: str, timeout: float, union: bool = True) -> list[dict[str, Term]]:
        request = QueryRequest(
            sparql, {Kind.SOLUTIONS: SPARQL_JSON}, union_default_graph=union, timeout=timeout
        )
        answer = self._executors().run(self._message(request), timeout)
        body = answer.whole_body()
        return json_rows(body)

    def close(self) -> None:
        for pool in self._pools.values():
            if pool.pid == os.getpid():
                pool.close()


def answer_message(request: QueryRequest) -> dict:
    """What ``executor.handle`` and ``executor.answer`` take: the query, its dataset and how to
    write its answer (formats, caps, prefixes), as plain data."""
    return {
        "query": request.query,
        "default_graphs": _list(request.default_graphs),
        "named_graphs": _list(request.named_graphs),
        "union": request.union_default_graph,
        "formats": {
            str(kind): (fmt.media_type if fmt is not None else None)
            for kind, fmt in request.formats.items()
        },
        "max_rows": request.max_rows,
        # only a graph written as Turtle or TriG uses them: not sent for nothing
        "prefixes": (dict(request.prefixes) if request.formats.get(Kind.GRAPH) in PREFIXED else {}),
        "link": request.truncation_link,
        # with a LIMIT within the cap, rows need no counting: one pass, straight to the format
        "limit": scan(request.query).limit,
        "max_bytes": request.max_bytes,
        "base": request.base_iri,
    }


def _list(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


def json_rows(body: bytes) -> list[dict[str, Term]]:
    """The rows of a SPARQL JSON results document."""
    document = json.loads(body)
    return [
        {name: _term(value) for name, value in binding.items()}
        for binding in document["results"]["bindings"]
    ]


def _term(value: dict) -> Term:
    if value["type"] == "triple":
        # quoted triples are rare here; keep their N-Triples-like text rather than drop them
        inner = value["value"]
        text = " ".join(_term(inner[k]).value for k in ("subject", "predicate", "object"))
        return Term("triple", text)
    return Term(value["type"], value["value"], value.get("datatype"), value.get("xml:lang"))
