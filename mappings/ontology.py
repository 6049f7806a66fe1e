"""The ontology as the facts loader sees it: its classes and properties, and their kinds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rdflib import OWL, RDF, RDFS, Graph, URIRef
from rdflib.namespace import XSD

from .errors import DataError
from .iris import ONTOLOGY_NS

# Properties that facts may use without the ontology declaring them, with their kind.
BUILTIN_PROPERTIES: dict[URIRef, str] = {RDF.type: "type"}


@dataclass(frozen=True)
class Property:
    iri: URIRef
    kind: str  # object | datatype | annotation | type
    range: URIRef | None


class Ontology:
    """Terms declared in ``ontology/*.ttl``, and the prefixes the facts may use."""

    def __init__(self, graph: Graph, path: Path) -> None:
        self.graph = graph
        self.path = path
        self.prefixes = {prefix: str(ns) for prefix, ns in graph.namespaces() if prefix}
        self.classes = {s for s in graph.subjects(RDF.type, OWL.Class) if isinstance(s, URIRef)}
        self.classes |= {s for s in graph.subjects(RDF.type, RDFS.Class) if isinstance(s, URIRef)}
        self.properties: dict[URIRef, Property] = {
            iri: Property(iri, kind, None) for iri, kind in BUILTIN_PROPERTIES.items()
        }
        for kind, owl_type in (
            ("annotation", OWL.AnnotationProperty),
            ("datatype", OWL.DatatypeProperty),
            ("object", OWL.ObjectProperty),
        ):
            for prop in graph.subjects(RDF.type, owl_type):
                if isinstance(prop, URIRef):
                    rng = graph.value(prop, RDFS.range)
                    self.properties[prop] = Property(
                        prop, kind, rng if isinstance(rng, URIRef) else None
                    )

    @classmethod
    def load(cls, path: Path) -> Ontology:
        graph = Graph(bind_namespaces="core")
        try:
            graph.parse(path, format="turtle")
        except Exception as exc:  # rdflib raises many parser exception types
            raise DataError(
                f"the ontology does not parse as Turtle: {exc}",
                path=path,
                fix="fix the Turtle syntax at the place named",
            ) from None
        return cls(graph, path)

    def expand(self, name: str) -> URIRef | None:
        """'visitor' -> kgo:visitor; 'schema:about' -> schema.org's term; None if unknown."""
        if name in {"a", "type"}:
            return RDF.type
        if ":" in name:
            prefix, local = name.split(":", 1)
            if prefix in {"http", "https"}:
                return URIRef(name)
            base = self.prefixes.get(prefix)
            return URIRef(base + local) if base else None
        return URIRef(ONTOLOGY_NS + name)

    def property(self, name: str) -> Property | None:
        iri = self.expand(name)
        return self.properties.get(iri) if iri is not None else None

    def cls(self, name: str) -> URIRef | None:
        iri = self.expand(name)
        return iri if iri in self.classes else None

    def is_lang_text(self, prop: Property) -> bool:
        return prop.kind == "annotation" or prop.range in {None, RDF.langString, RDF.PlainLiteral}

    def curie(self, iri: URIRef) -> str:
        for prefix, ns in sorted(self.prefixes.items(), key=lambda kv: -len(kv[1])):
            if str(iri).startswith(ns):
                return f"{prefix}:{str(iri)[len(ns) :]}"
        return f"<{iri}>"


XSD_PYTHON = {XSD.integer, XSD.nonNegativeInteger, XSD.boolean, XSD.decimal, XSD.double}
