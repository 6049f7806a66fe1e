"""A resource's description: the rows the store returns, normalised once, then rendered.

``describe`` turns the rows of ``Store.resource`` and ``Store.annotations`` into a ``Description``:
a label, types and a description picked from their variants, properties grouped and put in the
order of ``ORDER``, every value with its label, whether it was inferred and the sentences it comes
from. ``description_quads`` builds the RDF description of the same rows (outgoing and incoming
triples, labels of what they name, the provenance of each fact) and ``serialize`` writes it in one
format of the format table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import pyoxigraph as ox
from kgpub.mappings.iris import Minter

from .formats import JSON_LD, N_QUADS, TRIG, Format
from .store import Annotations, Provenance, QuadRow, ResourceRows, Term

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
SCHEMA = "http://schema.org/"
DCT = "http://purl.org/dc/terms/"
FOAF = "http://xmlns.com/foaf/0.1/"
PROV = "http://www.w3.org/ns/prov#"
NIF = "http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#"
VOID = "http://rdfs.org/ns/void#"
HYDRA = "http://www.w3.org/ns/hydra/core#"
ORG = "http://www.w3.org/ns/org#"
ITSRDF = "http://www.w3.org/2005/11/its/rdf#"
KGO = "https://w3id.org/kgpub/ontology#"

RDF_TYPE = RDF + "type"
# label variants, best first; the page shows one of them
LABELS = (
    SKOS + "prefLabel",
    RDFS + "label",
    SCHEMA + "name",
    FOAF + "name",
    DCT + "title",
    SCHEMA + "headline",
    NIF + "anchorOf",
    DCT + "identifier",  # last resort: a fact's id
)
DESCRIPTIONS = (SCHEMA + "description", SKOS + "definition", RDFS + "comment", DCT + "description")
# links to the same thing elsewhere, shown apart from the properties
EXTERNAL = (OWL + "sameAs", RDFS + "seeAlso", SCHEMA + "sameAs", SCHEMA + "url", FOAF + "page")
# the order of the properties on a page: the properties named first, in this order, then the
# namespaces in this order (each sorted by label), then anything else (by label)
ORDER: tuple[str, ...] = (
    RDFS + "label",
    SKOS + "prefLabel",
    SKOS + "altLabel",
    RDF_TYPE,
    SCHEMA + "description",
    SKOS + "definition",
    RDFS + "comment",
    DCT + "description",
    SCHEMA + "headline",
    DCT + "title",
)
NAMESPACE_ORDER: tuple[str, ...] = (KGO, ORG, SCHEMA, FOAF, SKOS, DCT, RDFS, OWL, PROV, NIF, ITSRDF)
# labels of common terms of other vocabularies, for stores that do not carry them
KNOWN_LABELS = {
    RDF_TYPE: "type",
    RDFS + "label": "label",
    RDFS + "comment": "comment",
    RDFS + "seeAlso": "see also",
    RDFS + "subClassOf": "subclass of",
    RDFS + "subPropertyOf": "subproperty of",
    RDFS + "domain": "domain",
    RDFS + "range": "range",
    RDFS + "isDefinedBy": "defined by",
    OWL + "sameAs": "same as",
    SKOS + "prefLabel": "preferred label",
    SKOS + "altLabel": "also known as",
    SKOS + "definition": "definition",
    SCHEMA + "description": "description",
    SCHEMA + "name": "name",
    DCT + "title": "title",
    DCT + "description": "description",
    DCT + "identifier": "identifier",
    DCT + "license": "license",
    DCT + "source": "source",
    PROV + "wasDerivedFrom": "derived from",
}
LONG_LITERAL = 400  # characters; longer literals are folded on pages
PLAIN_TYPES = (XSD + "string", RDF + "langString")

_LOCAL = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-.]*$")
_CURIE_LOCAL = re.compile(r"^[A-Za-z0-9_][^\s]*$")
PATH_SAFE = "/:@!$&'()*+,;=-._~"


# --- links and names -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Linker:
    """Where a page links an IRI to, and the CURIE it falls back to without a label."""

    minter: Minter
    prefixes: Mapping[str, str]
    documents: tuple[str, ...]  # path families served as /<family>/...html documents

    def local_path(self, iri: str) -> str | None:
        """The path of an IRI served here, percent-encoded for a URL ('/id/caf%C3%A9')."""
        path = self.minter.path_of(iri)
        if path is None:
            return None
        path, hash_, fragment = path.partition("#")
        if not hash_ and "#" in iri:
            fragment, hash_ = iri.split("#", 1)[1], "#"
        encoded = quote(path, safe=PATH_SAFE)
        return encoded + (hash_ + quote(fragment, safe=PATH_SAFE) if hash_ else "")

    def document(self, iri: str, suffix: str = ".html") -> str | None:
        """The URL of a resource's document in one format, if it is one of ours."""
        path = self.local_path(iri)
        if path is None or "#" in path or not self.is_document_path(path):
            return None
        return path + suffix

    def is_document_path(self, path: str) -> bool:
        family = path.lstrip("/").split("/", 1)[0]
        return family in self.documents

    def href(self, iri: str) -> str | None:
        document = self.document(iri)
        if document is not None:
            return document
        local = self.local_path(iri)
        if local is not None:
            return local
        return iri if iri.startswith(("http://", "https://")) else None

    def curie(self, iri: str) -> str | None:
        best, chosen = "", None
        for name, namespace in self.prefixes.items():
            if iri.startswith(namespace) and len(namespace) >= len(best):
                local = iri[len(namespace) :]
                if local == "" or _CURIE_LOCAL.match(local):
                    best, chosen = namespace, f"{name}:{local}"
        return chosen


@dataclass(frozen=True)
class Node:
    kind: str  # uri, bnode or literal
    value: str  # the IRI, blank node id or lexical form
    text: str  # what a page shows: label, CURIE, IRI or the literal
    href: str | None = None
    curie: str | None = None
    language: str | None = None
    datatype: str | None = None  # a literal's datatype as a CURIE, when it is not a string

    @property
    def is_long(self) -> bool:
        return self.kind == "literal" and len(self.value) > LONG_LITERAL


@dataclass(frozen=True)
class Evidence:
    """A sentence a statement was taken from, as the page shows it."""

    fact: str  # the fact graph's IRI
    fact_href: str | None
    quote: str | None
    sentence_id: str | None
    sentence_href: str | None  # the sentence's place in the article page
    text: str | None  # the whole sentence


@dataclass
class Value:
    node: Node
    inferred: bool = False
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class PropertyGroup:
    predicate: Node
    values: list[Value]
    count: int = 0  # incoming links: all of them, not just this page's


@dataclass(frozen=True)
class Statement:
    subject: Node
    predicate: Node
    object: Node


@dataclass
class Description:
    iri: str
    label: str
    description: str | None
    types: list[Value]
    properties: list[PropertyGroup]
    external: list[Value]
    incoming: list[PropertyGroup]
    incoming_total: int
    contents: list[Statement]  # the triples of the graph the resource names
    contents_truncated: bool
    context_href: str | None  # a text segment's place in its article page
    language: str | None
    evidence: Evidence | None  # for a fact graph: the sentence it is derived from


class Namer:
    """Nodes for terms: labels from the annotations, CURIEs otherwise."""

    def __init__(self, linker: Linker, values: Iterable[QuadRow]) -> None:
        self.linker = linker
        self.nodes: dict[Term, Node] = {}
        self.labels: dict[str, tuple[tuple[int, int], str, str | None]] = {}
        for row in values:
            if row.predicate.value in LABELS and row.object.kind == "literal":
                key = label_rank(row.predicate.value, row.object.language)
                known = self.labels.get(row.subject.value)
                if known is None or key < known[0]:
                    self.labels[row.subject.value] = (key, row.object.value, row.object.language)

    def label(self, iri: str) -> str | None:
        known = self.labels.get(iri)
        return KNOWN_LABELS.get(iri) if known is None else known[1]

    def node(self, term: Term) -> Node:
        known = self.nodes.get(term)
        if known is None:
            known = self.nodes[term] = self._node(term)
        return known

    def _node(self, term: Term) -> Node:
        if term.kind == "literal":
            datatype = term.datatype
            shown = None if datatype is None or datatype in PLAIN_TYPES else datatype
            return Node(
                "literal",
                term.value,
                term.value,
                language=term.language,
                datatype=None if shown is None else (self.linker.curie(shown) or shown),
            )
        if term.kind != "uri":
            return Node(term.kind, term.value, f"_:{term.value}")
        curie = self.linker.curie(term.value)
        text = self.label(term.value) or curie or term.value
        return Node("uri", term.value, text, self.linker.href(term.value), curie)


def label_rank(predicate: str, language: str | None) -> tuple[int, int]:
    position = LABELS.index(predicate) if predicate in LABELS else len(LABELS)
    return (position, 0 if not language or language.startswith("en") else 1)


def property_rank(predicate: str, label: str) -> tuple[int, int, str]:
    if predicate in ORDER:
        return (0, ORDER.index(predicate), "")
    for position, namespace in enumerate(NAMESPACE_ORDER, start=1):
        if predicate.startswith(namespace):
            return (position, 0, label.lower())
    return (len(NAMESPACE_ORDER) + 1, 0, label.lower())


# --- normalising ---------------------------------------------------------------------------------


def label_targets(rows: ResourceRows) -> list[str]:
    """The IRIs a page names: predicates, objects, incoming subjects, the graph's terms."""
    seen: dict[str, None] = {}
    for row in (*rows.outgoing, *rows.incoming, *rows.contents):
        for term in (row.subject, row.predicate, row.object):
            if term.kind == "uri":
                seen[term.value] = None
    return list(seen)


def graphs_of(rows: Iterable[QuadRow]) -> list[str]:
    return list(dict.fromkeys(row.graph.value for row in rows if row.graph is not None))


def evidence_of(provenance: Iterable[Provenance], linker: Linker) -> dict[str, Evidence]:
    """Per fact graph, the sentence it comes from, linked to its place in the article page."""
    found: dict[str, Evidence] = {}
    for prov in provenance:
        page = linker.document(prov.context) if prov.context else None
        anchor = f"{page}#{quote(prov.sentence_id, safe='')}" if page and prov.sentence_id else None
        found[prov.fact] = Evidence(
            prov.fact,
            linker.document(prov.fact),
            prov.quote,
            prov.sentence_id,
            anchor or linker.href(prov.sentence),
            prov.text,
        )
    return found


def describe(
    iri: str,
    rows: ResourceRows,
    annotations: Annotations,
    linker: Linker,
    inferred_graph: str,
    contents_limit: int,
) -> Description:
    namer = Namer(linker, (*annotations.values, *rows.outgoing))
    evidence = evidence_of(annotations.provenance, linker)

    def values(grouped: Mapping[tuple[str, Term], list[str | None]]) -> dict[str, list[Value]]:
        by_predicate: dict[str, list[Value]] = {}
        for (predicate, term), graphs in grouped.items():
            facts = [evidence[g] for g in dict.fromkeys(graphs) if g in evidence]
            inferred = bool(graphs) and all(g == inferred_graph for g in graphs)
            by_predicate.setdefault(predicate, []).append(Value(namer.node(term), inferred, facts))
        return by_predicate

    outgoing: dict[tuple[str, Term], list[str | None]] = {}
    for row in rows.outgoing:
        graph = row.graph.value if row.graph else None
        outgoing.setdefault((row.predicate.value, row.object), []).append(graph)
    incoming: dict[tuple[str, Term], list[str | None]] = {}
    for row in rows.incoming:
        graph = row.graph.value if row.graph else None
        incoming.setdefault((row.predicate.value, row.subject), []).append(graph)

    own = values(outgoing)
    for found in own.values():
        found.sort(key=lambda v: (v.inferred, v.node.text.lower()))
    groups = [
        PropertyGroup(namer.node(Term("uri", p)), found)
        for p, found in own.items()
        if p not in EXTERNAL
    ]
    groups.sort(key=lambda g: property_rank(g.predicate.value, g.predicate.text))
    external = [value for p in EXTERNAL for value in own.get(p, [])]
    linked = values(incoming)
    incoming_groups = [
        PropertyGroup(
            namer.node(Term("uri", p)),
            sorted(linked.get(p, []), key=lambda v: v.node.text.lower()),
            count,
        )
        for p, count in rows.incoming_counts.items()
    ]
    incoming_groups.sort(key=lambda g: property_rank(g.predicate.value, g.predicate.text))
    label_row = namer.labels.get(iri)
    return Description(
        iri=iri,
        label=label_row[1] if label_row else (linker.curie(iri) or iri),
        description=_first_literal(rows.outgoing, DESCRIPTIONS),
        types=own.get(RDF_TYPE, []),
        properties=groups,
        external=external,
        incoming=incoming_groups,
        incoming_total=sum(rows.incoming_counts.values()),
        contents=[
            Statement(namer.node(r.subject), namer.node(r.predicate), namer.node(r.object))
            for r in rows.contents
        ],
        contents_truncated=len(rows.contents) >= contents_limit,
        context_href=_context_href(rows.outgoing, linker),
        language=label_row[2] if label_row else None,
        evidence=evidence.get(iri),
    )


def _first_literal(rows: Iterable[QuadRow], predicates: Sequence[str]) -> str | None:
    best: tuple[tuple[int, int], str] | None = None
    for row in rows:
        if row.predicate.value in predicates and row.object.kind == "literal":
            language = row.object.language
            key = (predicates.index(row.predicate.value), 0 if not language else 1)
            if best is None or key < best[0]:
                best = (key, row.object.value)
    return None if best is None else best[1]


def _context_href(rows: Iterable[QuadRow], linker: Linker) -> str | None:
    """For a sentence, heading or paragraph: its anchor in the article page."""
    context = identifier = None
    for row in rows:
        if row.predicate.value == NIF + "referenceContext":
            context = row.object.value
        elif row.predicate.value == DCT + "identifier":
            identifier = row.object.value
    page = linker.document(context) if context else None
    if page is None:
        return None
    return f"{page}#{quote(identifier, safe='')}" if identifier else page


# --- schema.org for search engines ---------------------------------------------------------------


def schema_org(description: Description, url: str) -> dict[str, object]:
    """A schema.org JSON-LD summary of the resource for the page's <head>."""
    types = [
        v.node.value.removeprefix(SCHEMA).removeprefix("https://schema.org/")
        for v in description.types
        if v.node.value.startswith((SCHEMA, "https://schema.org/"))
    ]
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@id": description.iri,
        "@type": types[0] if len(types) == 1 else (types or "Thing"),
        "name": description.label,
        "url": url,
    }
    if description.description:
        data["description"] = description.description
    same = [v.node.value for v in description.external if v.node.kind == "uri"]
    if same:
        data["sameAs"] = same
    return data


# --- the RDF description -------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentMeta:
    """What the RDF document says about itself."""

    document: str  # the document's IRI (<base>id/x.ttl)
    dataset: str
    next_page: str | None = None  # more incoming links: hydra:next
    more_contents: str | None = None  # more triples in the graph: rdfs:seeAlso a query


def description_quads(
    iri: str, rows: ResourceRows, annotations: Annotations, meta: DocumentMeta
) -> list[ox.Quad]:
    quads: list[ox.Quad] = []
    for row in (*rows.outgoing, *rows.incoming, *annotations.values):
        quad = _quad(row.subject, row.predicate, row.object, row.graph)
        if quad is not None:
            quads.append(quad)
    named = ox.NamedNode(iri)
    for row in rows.contents:
        quad = _quad(row.subject, row.predicate, row.object, Term("uri", iri))
        if quad is not None:
            quads.append(quad)
    for prov in annotations.provenance:
        quads.extend(_provenance(prov))
    doc = ox.NamedNode(meta.document)
    quads.append(ox.Quad(doc, ox.NamedNode(FOAF + "primaryTopic"), named))
    quads.append(ox.Quad(doc, ox.NamedNode(VOID + "inDataset"), ox.NamedNode(meta.dataset)))
    if meta.next_page:
        quads.append(ox.Quad(doc, ox.NamedNode(HYDRA + "next"), ox.NamedNode(meta.next_page)))
    if meta.more_contents:
        see = ox.NamedNode(meta.more_contents)
        quads.append(ox.Quad(doc, ox.NamedNode(RDFS + "seeAlso"), see))
    return list(dict.fromkeys(quads))


def _provenance(prov: Provenance) -> list[ox.Quad]:
    fact, sentence = ox.NamedNode(prov.fact), ox.NamedNode(prov.sentence)
    graph = ox.NamedNode(prov.graph) if prov.graph else ox.DefaultGraph()
    quads = [
        ox.Quad(fact, ox.NamedNode(RDF_TYPE), ox.NamedNode(KGO + "Fact"), graph),
        ox.Quad(fact, ox.NamedNode(PROV + "wasDerivedFrom"), sentence, graph),
    ]
    if prov.quote is not None:
        quads.append(ox.Quad(fact, ox.NamedNode(KGO + "quote"), ox.Literal(prov.quote), graph))
    if prov.text is not None:
        text_graph = ox.NamedNode(prov.text_graph) if prov.text_graph else ox.DefaultGraph()
        anchor = ox.Literal(prov.text)
        quads.append(ox.Quad(sentence, ox.NamedNode(NIF + "anchorOf"), anchor, text_graph))
    return quads


def _quad(s: Term, p: Term, o: Term, g: Term | None) -> ox.Quad | None:
    subject, obj = _node(s), _node(o)
    if subject is None or obj is None or p.kind != "uri" or isinstance(subject, ox.Literal):
        return None
    graph = ox.NamedNode(g.value) if g is not None and g.kind == "uri" else ox.DefaultGraph()
    return ox.Quad(subject, ox.NamedNode(p.value), obj, graph)


def _node(term: Term) -> ox.NamedNode | ox.BlankNode | ox.Literal | None:
    if term.kind == "uri":
        return ox.NamedNode(term.value)
    if term.kind == "bnode":
        return ox.BlankNode(term.value)
    if term.kind == "literal":
        if term.language:
            return ox.Literal(term.value, language=term.language)
        datatype = ox.NamedNode(term.datatype) if term.datatype else None
        return ox.Literal(term.value, datatype=datatype)
    return None


def output_prefixes(prefixes: Mapping[str, str], base: str) -> dict[str, str]:
    """One prefix per namespace (the last declared wins), plus those the documents use. The base
    IRI gets none: its local parts hold '/', which Turtle would have to escape."""
    by_namespace: dict[str, str] = {}
    for name, namespace in {**prefixes, "hydra": HYDRA, "foaf": FOAF}.items():
        by_namespace[namespace] = name
    return {name: namespace for namespace, name in by_namespace.items() if namespace != base}


def used_prefixes(quads: Sequence[ox.Quad], prefixes: Mapping[str, str]) -> dict[str, str]:
    iris: set[str] = set()
    for quad in quads:
        for term in (quad.subject, quad.predicate, quad.object):
            if isinstance(term, ox.NamedNode):
                iris.add(term.value)
            elif isinstance(term, ox.Literal):
                iris.add(term.datatype.value)
    return {
        name: namespace
        for name, namespace in prefixes.items()
        if any(iri.startswith(namespace) for iri in iris)
    }


def serialize(quads: Sequence[ox.Quad], fmt: Format, prefixes: Mapping[str, str]) -> bytes:
    """Named graphs kept in TriG and N-Quads; merged into one graph in the other formats."""
    target = fmt.oxigraph
    if not isinstance(target, ox.RdfFormat):
        raise ValueError(f"{fmt.name} is not an RDF format")
    prefixes = used_prefixes(quads, prefixes)
    if fmt in (TRIG, N_QUADS):
        return ox.serialize(quads, format=target, prefixes=_if_supported(fmt, prefixes))
    triples = list(dict.fromkeys(ox.Triple(q.subject, q.predicate, q.object) for q in quads))
    if fmt is JSON_LD:
        return compact_jsonld(ox.serialize(triples, format=target), prefixes)
    return ox.serialize(triples, format=target, prefixes=_if_supported(fmt, prefixes))


def _if_supported(fmt: Format, prefixes: Mapping[str, str]) -> dict[str, str] | None:
    return dict(prefixes) if fmt.name in ("turtle", "trig", "rdfxml") else None


def compact_jsonld(expanded: bytes, prefixes: Mapping[str, str]) -> bytes:
    """Expanded JSON-LD with its property IRIs and datatypes written as CURIEs, and the
    ``@context`` that defines those prefixes embedded."""
    used: dict[str, str] = {}
    ordered = sorted(prefixes.items(), key=lambda item: -len(item[1]))

    def short(iri: str) -> str:
        for name, namespace in ordered:
            if iri.startswith(namespace) and _LOCAL.match(iri[len(namespace) :]):
                used[name] = namespace
                return f"{name}:{iri[len(namespace) :]}"
        return iri

    def walk(node: object) -> object:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, object] = {}
        for key, value in node.items():
            if key == "@type" and "@value" in node and isinstance(value, str):
                out[key] = short(value)
            elif key.startswith("@"):
                out[key] = walk(value)
            else:
                out[short(key)] = walk(value)
        return out

    graph = walk(json.loads(expanded))
    document = {"@context": dict(sorted(used.items())), "@graph": graph}
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
