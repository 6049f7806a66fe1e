"""Canonical serialisations of the whole dataset: the same input always gives the same bytes.

N-Triples, N-Quads and TriG are written by pyoxigraph from quads sorted by their N-Triples form;
Turtle by rdflib's ``longturtle`` (sorted subjects and predicates, readable diffs); JSON-LD by
rdflib with the context embedded, then normalised (keys and node order sorted).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from rdflib import BNode, Dataset, Graph, Literal, URIRef
from rdflib.term import Node

Quad = tuple[Node, Node, Node, URIRef]


@dataclass(frozen=True)
class DumpFormat:
    name: str  # short name used in file suffix and listings
    suffix: str
    media_type: str
    label: str
    quads: bool  # keeps named graphs


# one table of the dump formats; the server's format table is the one for HTTP
DUMP_FORMATS = (
    DumpFormat("turtle", "ttl", "text/turtle", "Turtle (all graphs merged)", False),
    DumpFormat("ntriples", "nt", "application/n-triples", "N-Triples (all graphs merged)", False),
    DumpFormat("nquads", "nq", "application/n-quads", "N-Quads (named graphs kept)", True),
    DumpFormat("trig", "trig", "application/trig", "TriG (named graphs kept)", True),
    DumpFormat("jsonld", "jsonld", "application/ld+json", "JSON-LD (named graphs kept)", True),
)


def to_ox(term: Node) -> Any:
    """rdflib term -> pyoxigraph term."""
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, BNode):
        return ox.BlankNode(str(term))
    if isinstance(term, Literal):
        if term.language:
            return ox.Literal(str(term), language=term.language)
        if term.datatype:
            return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
        return ox.Literal(str(term))
    raise TypeError(f"not an RDF term: {term!r}")


def sorted_quads(graphs: dict[URIRef, Graph]) -> list[ox.Quad]:
    quads = {
        ox.Quad(to_ox(s), to_ox(p), to_ox(o), ox.NamedNode(str(name)))
        for name, graph in graphs.items()
        for s, p, o in graph
    }
    return sorted(
        quads, key=lambda q: (str(q.graph_name), str(q.subject), str(q.predicate), str(q.object))
    )


def sorted_triples(quads: Iterable[ox.Quad]) -> list[ox.Triple]:
    triples = {ox.Triple(q.subject, q.predicate, q.object) for q in quads}
    return sorted(triples, key=lambda t: (str(t.subject), str(t.predicate), str(t.object)))


def serialize(
    fmt: DumpFormat,
    graphs: dict[URIRef, Graph],
    prefixes: dict[str, str],
    quads: list[ox.Quad] | None = None,
) -> bytes:
    quads = quads if quads is not None else sorted_quads(graphs)
    if fmt.name == "nquads":
        return ox.serialize(quads, format=ox.RdfFormat.N_QUADS)
    if fmt.name == "ntriples":
        return ox.serialize(sorted_triples(quads), format=ox.RdfFormat.N_TRIPLES)
    if fmt.name == "trig":
        return ox.serialize(quads, format=ox.RdfFormat.TRIG, prefixes=prefixes)
    if fmt.name == "turtle":
        union = Graph(bind_namespaces="none")
        for prefix, ns in prefixes.items():
            union.bind(prefix, ns)
        for graph in graphs.values():
            union += graph
        return union.serialize(format="longturtle", encoding="utf-8")
    if fmt.name == "jsonld":
        return jsonld(graphs, prefixes)
    raise ValueError(f"unknown dump format {fmt.name}")


def jsonld(graphs: dict[URIRef, Graph], prefixes: dict[str, str]) -> bytes:
    dataset = Dataset(default_union=False)
    for name, graph in graphs.items():
        target = dataset.graph(name)
        for triple in graph:
            target.add(triple)
    raw = dataset.serialize(
        format="json-ld", context=dict(sorted(prefixes.items())), auto_compact=True
    )
    doc = _normalise(json.loads(raw))
    return (json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


def _normalise(value: Any) -> Any:
    """Sort every JSON-LD array whose order carries no meaning (node lists and value sets)."""
    if isinstance(value, dict):
        return {
            k: (_normalise(v) if k != "@list" else [_normalise(x) for x in v])
            for k, v in value.items()
        }
    if isinstance(value, list):
        items = [_normalise(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False))
    return value


def gzipped(data: bytes) -> bytes:
    """gzip with no file name and mtime 0, so equal input gives equal bytes."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as fh:
        fh.write(data)
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
