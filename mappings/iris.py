"""The only place that mints IRIs.

Every IRI the project publishes lives under one base IRI (``Settings.base_iri``); the path after
the base is the path the server answers. The ontology has a fixed IRI of its own, so that its
terms do not change with the place the data is served from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rdflib import URIRef

ONTOLOGY_IRI = "https://w3id.org/kgpub/ontology"
ONTOLOGY_NS = ONTOLOGY_IRI + "#"

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SEGMENT = re.compile(r"^(title|title-repeat|sec\d+|h\d+|p\d+|p\d+s\d+)$")


def is_slug(value: str) -> bool:
    return bool(SLUG.match(value))


@dataclass(frozen=True)
class Minter:
    base: str

    def __post_init__(self) -> None:
        if not re.match(r"^https?://[^/\s]+/(\S*/)?$", self.base):
            raise ValueError(
                f"base IRI {self.base!r} must be an http(s) IRI ending in '/', "
                "e.g. https://w3id.org/kgpub/"
            )

    def _iri(self, path: str) -> URIRef:
        return URIRef(self.base + path)

    # things
    def entity(self, entity_id: str) -> URIRef:
        return self._iri(f"id/{entity_id}")

    def article(self, slug: str) -> URIRef:
        return self._iri(f"article/{slug}")

    def segment(self, slug: str, segment_id: str) -> URIRef:
        """A title, heading, section, paragraph or sentence of an article."""
        return self._iri(f"article/{slug}/{segment_id}")

    def mention(self, slug: str, begin: int, end: int) -> URIRef:
        return self._iri(f"article/{slug}/char/{begin}-{end}")

    def fact(self, slug: str, fact_id: str) -> URIRef:
        """A curated fact: the name of the graph holding its triples."""
        return self._iri(f"fact/{slug}/{fact_id}")

    # graphs
    def text_graph(self, slug: str) -> URIRef:
        return self._iri(f"graph/text/{slug}")

    def provenance_graph(self, slug: str) -> URIRef:
        return self._iri(f"graph/provenance/{slug}")

    @property
    def ontology_graph(self) -> URIRef:
        return self._iri("graph/ontology")

    @property
    def inferred_graph(self) -> URIRef:
        return self._iri("graph/inferred")

    @property
    def dataset_graph(self) -> URIRef:
        return self._iri("graph/dataset")

    # the dataset and its parts
    @property
    def dataset(self) -> URIRef:
        return self._iri("dataset")

    def dump(self, filename: str) -> URIRef:
        return self._iri(f"dumps/{filename}")

    @property
    def sparql_endpoint(self) -> URIRef:
        return self._iri("sparql")

    def path_of(self, iri: str) -> str | None:
        """The server path of an IRI under the base ('/id/ecuador'), or None if it is not ours."""
        if iri.startswith(self.base):
            return "/" + iri[len(self.base) :]
        if iri.startswith(ONTOLOGY_IRI):
            return "/ontology" + iri[len(ONTOLOGY_IRI) :].split("#", 1)[0]
        return None

    def iri_of(self, path: str) -> URIRef:
        """The IRI a server path stands for ('/id/ecuador' -> <base>id/ecuador)."""
        return self._iri(path.lstrip("/"))

    def partition(self, kind: str, key: str) -> URIRef:
        """A class or property partition of the dataset description ('class', 'kgo-Visit')."""
        return self._iri(f"dataset/{kind}/{key}")

    def subset(self, key: str) -> URIRef:
        """A part of the dataset described in VoID: 'facts', 'text', 'inferred', ..."""
        return self._iri(f"dataset/{key}")
