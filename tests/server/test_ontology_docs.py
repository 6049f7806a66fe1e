"""``/ontology``: the ontology IRI dereferenced, in every format, and its documentation page."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyoxigraph as ox
import pytest
import rdflib
from flask import Flask
from flask.testing import FlaskClient
from kgpub.mappings.iris import ONTOLOGY_IRI, ONTOLOGY_NS
from rdflib import OWL, RDF, RDFS, URIRef
from rdflib.namespace import SKOS

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
FORMATS = [
    ("text/turtle", ".ttl", "turtle"),
    ("application/rdf+xml", ".rdf", "xml"),
    ("application/ld+json", ".jsonld", "json-ld"),
    ("application/n-triples", ".nt", "nt"),
]


@pytest.fixture(scope="module")
def app(built_app: Flask) -> Flask:
    """The app on the real build (shared with the other server tests)."""
    return built_app


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def source(project_root: Path) -> rdflib.Graph:
    """The ontology as edited, to compare the served one with."""
    return rdflib.Graph().parse(project_root / "ontology" / "kgpub.ttl", format="turtle")


@pytest.fixture(scope="module")
def page(app: Flask) -> str:
    response = app.test_client().get("/ontology", headers={"Accept": BROWSER})
    assert response.status_code == 200
    return response.text


def our_terms(graph: rdflib.Graph) -> list[URIRef]:
    kinds = (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty)
    return sorted(
        {
            s
            for kind in kinds
            for s in graph.subjects(RDF.type, kind)
            if isinstance(s, URIRef) and str(s).startswith(ONTOLOGY_NS)
        }
    )


class Sections(HTMLParser):
    """The text and links of each ``<section class="term" id=...>`` and every id on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.text: dict[str, str] = {}
        self.links: dict[str, list[str]] = {}
        self.hrefs: list[str] = []
        self._current: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "a" and attributes.get("href"):
            self.hrefs.append(str(attributes["href"]))
            if self._current:
                self.links[self._current].append(str(attributes["href"]))
        if tag == "section":
            if self._current:
                self._depth += 1
            elif attributes.get("class") == "term":
                self._current = str(attributes["id"])
                self.text[self._current], self.links[self._current] = "", []

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._current:
            if self._depth:
                self._depth -= 1
            else:
                self._current = None

    def handle_data(self, data: str) -> None:
        if self._current:
            self.text[self._current] += data


@pytest.fixture(scope="module")
def sections(page: str) -> Sections:
    parser = Sections()
    parser.feed(page)
    return parser


# --- RDF


@pytest.mark.parametrize(("media_type", "suffix", "rdflib_format"), FORMATS)
def test_every_format_by_negotiation(
    client: FlaskClient, source: rdflib.Graph, media_type: str, suffix: str, rdflib_format: str
) -> None:
    response = client.get("/ontology", headers={"Accept": media_type})
    assert response.status_code == 200
    assert response.mimetype == media_type
    assert "Accept" in response.headers["Vary"]
    assert response.headers["Content-Location"] == "/ontology" + suffix
    graph = rdflib.Graph().parse(data=response.data, format=rdflib_format)
    assert (URIRef(ONTOLOGY_IRI), RDF.type, OWL.Ontology) in graph
    assert len(graph) == len(source)


@pytest.mark.parametrize(("media_type", "suffix", "rdflib_format"), FORMATS)
def test_every_format_by_suffix(
    client: FlaskClient, media_type: str, suffix: str, rdflib_format: str
) -> None:
    response = client.get("/ontology" + suffix, headers={"Accept": BROWSER})
    assert response.status_code == 200
    assert response.mimetype == media_type
    graph = rdflib.Graph().parse(data=response.data, format=rdflib_format)
    assert (URIRef(ONTOLOGY_IRI), RDF.type, OWL.Ontology) in graph
    assert (URIRef(ONTOLOGY_NS + "Person"), RDFS.subClassOf, URIRef(ONTOLOGY_NS + "Agent")) in graph


def test_served_ontology_is_the_edited_one(client: FlaskClient, source: rdflib.Graph) -> None:
    served = rdflib.Graph().parse(data=client.get("/ontology.nt").data, format="nt")
    assert served.isomorphic(source)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (BROWSER, "text/html"),
        ("", "text/turtle"),
        ("*/*", "text/turtle"),
        ("application/json", "application/ld+json"),
        ("application/rdf+xml, application/xml;q=0.7, */*;q=0.1", "application/rdf+xml"),
        ("text/html;q=0.5, text/turtle", "text/turtle"),
    ],
)
def test_negotiation(client: FlaskClient, accept: str, expected: str) -> None:
    assert client.get("/ontology", headers={"Accept": accept}).mimetype == expected


def test_links_to_alternates(client: FlaskClient) -> None:
    link = client.get("/ontology", headers={"Accept": BROWSER}).headers["Link"]
    for media_type, suffix, _ in FORMATS:
        assert f'</ontology{suffix}>; rel="alternate"; type="{media_type}"' in link


def test_unknown_format_and_unacceptable(client: FlaskClient) -> None:
    assert client.get("/ontology.pdf").status_code == 404
    assert client.get("/ontology", headers={"Accept": "image/png"}).status_code == 406


def test_revalidation(client: FlaskClient) -> None:
    first = client.get("/ontology.ttl")
    etag = first.headers["ETag"]
    again = client.get("/ontology.ttl", headers={"If-None-Match": etag})
    assert again.status_code == 304


# --- the documentation page


def test_page_metadata(page: str, source: rdflib.Graph) -> None:
    assert "<h1>kgpub ontology</h1>" in page
    for needle in (
        ONTOLOGY_IRI,
        "https://w3id.org/kgpub/ontology/0.1.0",  # version IRI
        "https://creativecommons.org/licenses/by/4.0/",
        "Namespace prefix",
        "<dd>kgo</dd>",
        'href="/ontology.ttl"',
        'rel="alternate" type="text/turtle"',
    ):
        assert needle in page, needle


def test_every_term_has_its_anchor_label_and_definition(
    sections: Sections, source: rdflib.Graph
) -> None:
    terms = our_terms(source)
    assert len(terms) > 100
    for term in terms:
        anchor = str(term)[len(ONTOLOGY_NS) :]
        assert anchor in sections.text, f"no section for {term}"
        text = " ".join(sections.text[anchor].split())
        label = str(source.value(term, RDFS.label))
        definition = " ".join(str(source.value(term, SKOS.definition)).split())
        assert label in text, term
        assert definition in text, term
        assert str(term) in text


def test_links_within_the_page_resolve(sections: Sections) -> None:
    fragments = {href[1:] for href in sections.hrefs if href.startswith("#")}
    assert fragments
    assert fragments <= sections.ids, fragments - sections.ids


def test_relations_are_linked_within_the_page(sections: Sections) -> None:
    assert "#Agent" in sections.links["Person"]  # super-class
    assert "http://xmlns.com/foaf/0.1/Person" in sections.links["Person"]
    assert "#Country" in sections.links["Place"]  # sub-class
    assert "#ledBy" in sections.links["leads"]  # inverse
    assert "#leads" in sections.links["ledBy"]  # inverse, the other way
    assert "transitive" in sections.text["locatedIn"]
    assert "symmetric" in sections.text["borders"]
    assert "Domain" in sections.text["leads"] and "Range" in sections.text["leads"]


def _listed_query(sections: Sections, anchor: str) -> str:
    href = next(h for h in sections.links[anchor] if h.startswith("/sparql?"))
    return parse_qs(urlsplit(href).query)["query"][0]


def test_class_counts_link_to_their_instances(sections: Sections, store: ox.Store) -> None:
    query = _listed_query(sections, "Person")
    people = {row["instance"].value for row in store.query(query, use_default_graph_as_union=True)}
    assert "https://w3id.org/kgpub/id/daniel-noboa" in people
    shown = re.search(r"(\d+) instances", sections.text["Person"])
    assert shown is not None and int(shown.group(1)) == len(people)


def test_property_counts_link_to_their_triples(sections: Sections, store: ox.Store) -> None:
    query = _listed_query(sections, "visitor")
    rows = list(store.query(query, use_default_graph_as_union=True))
    shown = re.search(r"(\d+) triples?", sections.text["visitor"])
    assert shown is not None and int(shown.group(1)) == len(rows) > 0


def test_store_without_ontology_is_404(app_factory) -> None:  # the TriG fixture has none
    client = app_factory().test_client()
    assert client.get("/ontology.ttl").status_code == 404
    assert client.get("/ontology", headers={"Accept": BROWSER}).status_code == 404
