"""``/ontology``: the ontology IRI dereferenced, as RDF or as documentation.

``https://w3id.org/kgpub/ontology`` and its terms (``...ontology#Term``) land here. The content is
the ontology graph of the store (``<base>graph/ontology``), as Turtle, RDF/XML, JSON-LD or
N-Triples by negotiation or suffix (``/ontology.ttl``), or as an HTML page in the manner of pyLODE:
the metadata, then every class and property of the ontology's namespace at the anchor named by the
fragment of its IRI, with its relations to other terms and how often the data uses it.

The documentation is built in two steps, as pyLODE does: normalise (label and definition variants
onto one field, rows in the order of the tables below), then render (``ontology.html``).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, render_template, request
from kgpub.mappings.iris import ONTOLOGY_IRI, ONTOLOGY_NS
from rdflib import OWL, RDF, RDFS, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, SKOS
from rdflib.term import Node

from . import errors
from .config import Services, services
from .formats import HTML, JSON_LD, N_TRIPLES, RDF_XML, TURTLE, Format, Kind, choose
from .pool import QueryFailed
from .store import QueryRequest, Term

bp = Blueprint("ontology", __name__)

OFFERED: tuple[Format, ...] = (TURTLE, RDF_XML, JSON_LD, N_TRIPLES, HTML)
BY_SUFFIX = {fmt.suffix.lstrip("."): fmt for fmt in OFFERED}
VANN = Namespace("http://purl.org/vocab/vann/")

GRAPH_QUERY = "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH <%s> { ?s ?p ?o } }"
PRESENT_QUERY = "SELECT ?p WHERE { GRAPH <%s> { <%s> ?p ?o } } LIMIT 1"
CLASS_COUNTS = """PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
SELECT ?term (COUNT(DISTINCT ?s) AS ?n) WHERE {
  ?s rdf:type ?term FILTER(STRSTARTS(STR(?term), "%(ns)s"))
} GROUP BY ?term"""
PROPERTY_COUNTS = """SELECT ?term (COUNT(*) AS ?n) WHERE {
  SELECT DISTINCT ?s ?term ?o WHERE { ?s ?term ?o FILTER(STRSTARTS(STR(?term), "%(ns)s")) }
} GROUP BY ?term"""
INSTANCES_QUERY = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX kgo: <%(ns)s>
# everything of type kgo:%(name)s, asserted or inferred
SELECT DISTINCT ?instance ?label WHERE {
  ?instance a kgo:%(name)s .
  OPTIONAL { ?instance rdfs:label ?label }
}
ORDER BY ?label ?instance
"""
USAGE_QUERY = """PREFIX kgo: <%(ns)s>
# every triple stating kgo:%(name)s, asserted or inferred
SELECT DISTINCT ?subject ?object WHERE {
  ?subject kgo:%(name)s ?object .
}
ORDER BY ?subject ?object
"""

# the label and definition variants, in order of preference
LABELS = (SKOS.prefLabel, RDFS.label, DCTERMS.title)
DEFINITIONS = (SKOS.definition, RDFS.comment, DCTERMS.description)
NOTES = (RDFS.comment, SKOS.scopeNote, SKOS.example, SKOS.note)

OUT, IN, BOTH = "out", "in", "both"
CLASS_ROWS = (
    ("Super-classes", RDFS.subClassOf, OUT),
    ("Sub-classes", RDFS.subClassOf, IN),
    ("Equivalent to", OWL.equivalentClass, BOTH),
    ("Disjoint with", OWL.disjointWith, BOTH),
    ("In the domain of", RDFS.domain, IN),
    ("In the range of", RDFS.range, IN),
    ("See also", RDFS.seeAlso, OUT),
)
PROPERTY_ROWS = (
    ("Super-properties", RDFS.subPropertyOf, OUT),
    ("Sub-properties", RDFS.subPropertyOf, IN),
    ("Domain", RDFS.domain, OUT),
    ("Range", RDFS.range, OUT),
    ("Inverse of", OWL.inverseOf, BOTH),
    ("Equivalent to", OWL.equivalentProperty, BOTH),
    ("See also", RDFS.seeAlso, OUT),
)
CHARACTERISTICS = (
    (OWL.FunctionalProperty, "functional"),
    (OWL.InverseFunctionalProperty, "inverse functional"),
    (OWL.TransitiveProperty, "transitive"),
    (OWL.SymmetricProperty, "symmetric"),
    (OWL.AsymmetricProperty, "asymmetric"),
    (OWL.ReflexiveProperty, "reflexive"),
    (OWL.IrreflexiveProperty, "irreflexive"),
)
METADATA_ROWS = (
    ("Version IRI", OWL.versionIRI),
    ("Version", OWL.versionInfo),
    ("License", DCTERMS.license),
    ("Created", DCTERMS.created),
    ("Modified", DCTERMS.modified),
    ("Issued", DCTERMS.issued),
    ("Creators", DCTERMS.creator),
    ("Contributors", DCTERMS.contributor),
    ("Publisher", DCTERMS.publisher),
    ("Imports", OWL.imports),
    ("Namespace prefix", VANN.preferredNamespacePrefix),
    ("Namespace IRI", VANN.preferredNamespaceUri),
    ("See also", RDFS.seeAlso),
)


@dataclass(frozen=True)
class TermKind:
    """A section of the page: the terms of one OWL type."""

    id: str
    title: str
    singular: str
    owl_type: URIRef
    rows: tuple[tuple[str, URIRef, str], ...]
    count_of: str  # what the count of a term counts


SECTIONS = (
    TermKind("classes", "Classes", "Class", OWL.Class, CLASS_ROWS, "instances"),
    TermKind(
        "object-properties",
        "Object properties",
        "Object property",
        OWL.ObjectProperty,
        PROPERTY_ROWS,
        "triples",
    ),
    TermKind(
        "datatype-properties",
        "Datatype properties",
        "Datatype property",
        OWL.DatatypeProperty,
        PROPERTY_ROWS,
        "triples",
    ),
    TermKind(
        "annotation-properties",
        "Annotation properties",
        "Annotation property",
        OWL.AnnotationProperty,
        PROPERTY_ROWS,
        "triples",
    ),
)


@dataclass(frozen=True)
class Ref:
    """A term or resource as a link: within the page for our terms, else to its IRI."""

    text: str
    href: str
    iri: str


@dataclass(frozen=True)
class Row:
    name: str
    refs: tuple[Ref, ...] = ()
    texts: tuple[str, ...] = ()


@dataclass(frozen=True)
class TermDoc:
    iri: str
    anchor: str  # the fragment of the IRI
    curie: str
    label: str
    kind: str
    definition: str | None
    notes: tuple[str, ...]
    rows: tuple[Row, ...]
    characteristics: tuple[str, ...]
    deprecated: bool
    count: int | None  # instances of a class, triples stating a property
    count_of: str
    count_href: str | None


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    terms: tuple[TermDoc, ...]
    external: tuple[Ref, ...]  # terms of other vocabularies the ontology declares


@dataclass(frozen=True)
class Alternate:
    name: str
    href: str
    media_type: str


@dataclass(frozen=True)
class OntologyPage:
    iri: str
    title: str
    description: str | None
    notes: tuple[str, ...]
    metadata: tuple[Row, ...]
    sections: tuple[Section, ...]
    namespaces: tuple[tuple[str, str], ...]
    alternates: tuple[Alternate, ...]


def alternates() -> tuple[Alternate, ...]:
    names = {"turtle": "Turtle", "rdfxml": "RDF/XML", "jsonld": "JSON-LD", "ntriples": "N-Triples"}
    return tuple(
        Alternate(names.get(fmt.name, "HTML"), f"/ontology{fmt.suffix}", fmt.media_type)
        for fmt in OFFERED
    )


def link_header(skip: Format | None = None) -> str:
    return ", ".join(
        f'<{alt.href}>; rel="alternate"; type="{alt.media_type}"'
        for alt, fmt in zip(alternates(), OFFERED, strict=True)
        if fmt is not skip
    )


class Namer:
    """CURIEs and links for IRIs, from the server's prefixes."""

    def __init__(self, prefixes: dict[str, str], app: Services) -> None:
        self.prefixes = sorted(prefixes.items(), key=lambda item: -len(item[1]))
        self.app = app

    def curie(self, iri: str) -> str:
        for name, namespace in self.prefixes:
            rest = iri[len(namespace) :]
            if iri.startswith(namespace) and re.fullmatch(r"[A-Za-z_][\w.-]*", rest):
                return f"{name}:{rest}"
        return iri

    def used_in(self, graph: Graph) -> set[tuple[str, str]]:
        """The (prefix, namespace) pairs the graph's IRIs use."""
        namespaces = dict(self.prefixes)
        used = set()
        for triple in graph:
            for node in triple:
                if isinstance(node, URIRef):
                    curie = self.curie(str(node))
                    if curie != str(node):
                        prefix = curie.split(":", 1)[0]
                        used.add((prefix, namespaces[prefix]))
        return used

    def href(self, iri: str) -> str:
        if iri.startswith(ONTOLOGY_NS):
            return "#" + iri[len(ONTOLOGY_NS) :]
        return self.app.minter.path_of(iri) or iri


def _preferred(values: Iterable[Node]) -> str | None:
    literals = [v for v in values if isinstance(v, Literal)]
    for literal in literals:
        if literal.language in (None, "en") or str(literal.language).startswith("en-"):
            return str(literal)
    return str(literals[0]) if literals else None


def first_of(graph: Graph, node: Node, predicates: Iterable[URIRef]) -> str | None:
    for predicate in predicates:
        value = _preferred(graph.objects(node, predicate))
        if value is not None:
            return value
    return None


def label_of(graph: Graph, node: URIRef) -> str:
    return first_of(graph, node, LABELS) or re.split(r"[#/]", str(node).rstrip("#/"))[-1]


class Builder:
    """The documentation of one ontology graph: normalise first, then the template renders."""

    def __init__(self, graph: Graph, namer: Namer, counts: dict[str, int]) -> None:
        self.graph = graph
        self.namer = namer
        self.counts = counts

    def ref(self, node: Node) -> Ref | None:
        if not isinstance(node, URIRef):
            return None  # class expressions are kept out of the ontology (no blank nodes)
        iri = str(node)
        local = iri.startswith(ONTOLOGY_NS)
        text = label_of(self.graph, node) if local else self.namer.curie(iri)
        return Ref(text, self.namer.href(iri), iri)

    def refs(self, nodes: Iterable[Node]) -> tuple[Ref, ...]:
        found = {ref.iri: ref for ref in map(self.ref, nodes) if ref is not None}
        return tuple(sorted(found.values(), key=lambda ref: (ref.text.casefold(), ref.iri)))

    def related(self, node: URIRef, predicate: URIRef, direction: str) -> tuple[Ref, ...]:
        nodes: list[Node] = []
        if direction in (OUT, BOTH):
            nodes += self.graph.objects(node, predicate)
        if direction in (IN, BOTH):
            nodes += self.graph.subjects(predicate, node)
        return self.refs(n for n in nodes if n != node)

    def term(self, node: URIRef, kind: TermKind) -> TermDoc:
        graph = self.graph
        iri = str(node)
        definition_from = next((p for p in DEFINITIONS if (node, p, None) in graph), None)
        notes = tuple(
            str(value)
            for predicate in NOTES
            if predicate != definition_from
            for value in sorted(graph.objects(node, predicate))
        )
        rows = []
        for name, predicate, direction in kind.rows:
            refs = self.related(node, predicate, direction)
            if refs:
                rows.append(Row(name, refs))
        types = set(graph.objects(node, RDF.type))
        name = iri[len(ONTOLOGY_NS) :]
        count = self.counts.get(iri, 0)
        query = (INSTANCES_QUERY if kind.count_of == "instances" else USAGE_QUERY) % {
            "ns": ONTOLOGY_NS,
            "name": name,
        }
        return TermDoc(
            iri=iri,
            anchor=name,
            curie=self.namer.curie(iri),
            label=label_of(graph, node),
            kind=kind.singular,
            definition=first_of(graph, node, DEFINITIONS),
            notes=notes,
            rows=tuple(rows),
            characteristics=tuple(text for owl, text in CHARACTERISTICS if owl in types),
            deprecated=any(
                str(v).lower() in ("true", "1") for v in graph.objects(node, OWL.deprecated)
            ),
            count=count,
            count_of=kind.count_of,
            count_href=(
                "/sparql?" + urlencode({"query": query, "format": "html"}, quote_via=quote)
                if count
                else None
            ),
        )

    def sections(self) -> tuple[Section, ...]:
        graph = self.graph
        sections = []
        for kind in SECTIONS:
            subjects = {s for s in graph.subjects(RDF.type, kind.owl_type) if isinstance(s, URIRef)}
            ours = sorted(
                (s for s in subjects if str(s).startswith(ONTOLOGY_NS)),
                key=lambda s: (label_of(graph, s).casefold(), str(s)),
            )
            terms = tuple(self.term(s, kind) for s in ours)
            external = self.refs(s for s in subjects if not str(s).startswith(ONTOLOGY_NS))
            sections.append(Section(kind.id, kind.title, terms, external))
        return tuple(sections)

    def page(self) -> OntologyPage:
        graph = self.graph
        node = URIRef(ONTOLOGY_IRI)
        metadata = [Row("IRI", (Ref(ONTOLOGY_IRI, ONTOLOGY_IRI, ONTOLOGY_IRI),))]
        for name, predicate in METADATA_ROWS:
            values = sorted(graph.objects(node, predicate))
            refs = tuple(Ref(str(v), str(v), str(v)) for v in values if isinstance(v, URIRef))
            texts = tuple(str(v) for v in values if isinstance(v, Literal))
            if refs or texts:
                metadata.append(Row(name, refs, texts))
        description = first_of(graph, node, (DCTERMS.description, SKOS.definition))
        notes = tuple(str(v) for v in sorted(graph.objects(node, RDFS.comment)))
        sections = self.sections()
        anchors = {term.anchor for section in sections for term in section.terms}
        # a section's id never hides a term's anchor
        sections = tuple(
            Section("section-" + s.id, s.title, s.terms, s.external) if s.id in anchors else s
            for s in sections
        )
        return OntologyPage(
            iri=ONTOLOGY_IRI,
            title=first_of(graph, node, (DCTERMS.title, RDFS.label)) or ONTOLOGY_IRI,
            description=description,
            notes=notes,
            metadata=tuple(metadata),
            sections=sections,
            namespaces=tuple(sorted(self.namer.used_in(graph))),
            alternates=alternates(),
        )


# --- reading the store, once per build and worker

_graphs: dict[tuple[str, str, str], bytes] = {}
_pages: dict[tuple[str, str], OntologyPage] = {}
_lock = threading.Lock()


def graph_bytes(app: Services, fmt: Format) -> bytes:
    """The ontology graph serialised by the store, or NotFound when the store has none."""
    key = (app.store.identity, app.minter.base, fmt.name)
    if key in _graphs:
        return _graphs[key]
    graph = app.minter.ontology_graph
    timeout = app.settings.query_timeout
    if not select(app, PRESENT_QUERY % (graph, ONTOLOGY_IRI), union=False):
        raise errors.NotFound(f"this server's data has no ontology graph <{graph}>")
    query = GRAPH_QUERY % graph
    try:
        answer = app.store.query(
            QueryRequest(
                query,
                {Kind.GRAPH: fmt},
                union_default_graph=False,
                timeout=timeout,
                prefixes=app.prefixes,
            )
        )
    except QueryFailed as error:
        raise errors.from_query_failure(error, query, timeout) from None
    body = answer.whole_body()
    with _lock:
        _graphs[key] = body
    return body


def select(app: Services, query: str, union: bool = True) -> list[dict[str, Term]]:
    timeout = app.settings.query_timeout
    try:
        return app.store.select(query, timeout, union=union)
    except QueryFailed as error:
        raise errors.from_query_failure(error, query, timeout) from None


def term_counts(app: Services) -> dict[str, int]:
    counts: dict[str, int] = {}
    for query in (CLASS_COUNTS, PROPERTY_COUNTS):
        rows = select(app, query % {"ns": ONTOLOGY_NS})
        for row in rows:
            counts[row["term"].value] = counts.get(row["term"].value, 0) + int(row["n"].value)
    return counts


def ontology_page(app: Services) -> OntologyPage:
    key = (app.store.identity, app.minter.base)
    if key not in _pages:
        graph = Graph()
        graph.parse(data=graph_bytes(app, TURTLE), format="turtle")
        page = Builder(graph, Namer(app.prefixes, app), term_counts(app)).page()
        with _lock:
            _pages[key] = page
    return _pages[key]


# --- routes


def respond(fmt: Format, negotiated: bool) -> Response:
    app = services()
    if fmt is HTML:
        body = render_template("ontology.html", page=ontology_page(app)).encode("utf-8")
    else:
        body = graph_bytes(app, fmt)
    response = Response(body, 200, content_type=fmt.content_type)
    response.headers["Link"] = link_header(skip=fmt)
    if negotiated:
        response.vary.add("Accept")
        response.headers["Content-Location"] = f"/ontology{fmt.suffix}"
    response.set_etag(hashlib.sha256(body).hexdigest()[:32], weak=True)  # gzip may follow
    return response.make_conditional(request)


@bp.get("/ontology")
def ontology() -> Response:
    values = request.args.getlist("format")
    fmt = choose(values, request.headers.get("Accept"), OFFERED)
    if fmt is None:
        raise errors.NotAcceptable("the ontology", OFFERED)
    return respond(fmt, negotiated=not values)


@bp.get("/ontology.<suffix>")
def ontology_as(suffix: str) -> Response:
    fmt = BY_SUFFIX.get(suffix)
    if fmt is None:
        names = ", ".join(f"/ontology{f.suffix}" for f in OFFERED)
        raise errors.NotFound(f"no such format of the ontology; there are {names}")
    return respond(fmt, negotiated=False)
