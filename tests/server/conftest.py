"""Apps on a real read-only store built from the TriG fixture, with their real query processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest
from flask import Flask
from flask.testing import FlaskClient
from kgpub.server import create_app

from kgpub.settings import Settings

FIXTURE = Path(__file__).parents[1] / "e2e" / "fixtures" / "dataset.trig"
NODE_MODULES = Path(__file__).parents[2] / "node_modules"
BASE = "https://w3id.org/kgpub/"

ONTOLOGY_TTL = """@prefix kgo: <https://w3id.org/kgpub/ontology#> .
@prefix nif: <http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#> .
PREFIX schema: <https://schema.org/>
kgo:Event a <http://www.w3.org/2002/07/owl#Class> .
"""
EXAMPLE = """# Which events happened where?
PREFIX kgo: <https://w3id.org/kgpub/ontology#>
SELECT ?event ?place WHERE { ?event kgo:locatedIn ?place }
"""


@pytest.fixture(scope="session")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root: the store, an ontology file with prefixes, one example query."""
    root = tmp_path_factory.mktemp("root")
    store = ox.Store(str(root / "store"))
    store.bulk_load(path=str(FIXTURE), format=ox.RdfFormat.TRIG)
    store.flush()
    del store  # read-write handle closed before the read-only ones open
    (root / "ontology" / "cq").mkdir(parents=True)
    (root / "ontology" / "kgpub.ttl").write_text(ONTOLOGY_TTL)
    (root / "ontology" / "cq" / "CQ01-events-places.rq").write_text(EXAMPLE)
    if NODE_MODULES.is_dir():
        (root / "node_modules").symlink_to(NODE_MODULES)
    return root


def make_app(root: Path, **settings: object) -> Flask:
    values = {"root": root, "store": root / "store", "cache": False, "threads": 2, **settings}
    return create_app(Settings(), test_config=values)


@pytest.fixture()
def app_factory(root: Path) -> Iterator[Callable[..., Flask]]:
    """Fresh apps with changed settings; their query processes end with the test."""
    made: list[Flask] = []

    def factory(**settings: object) -> Flask:
        made.append(make_app(root, **settings))
        return made[-1]

    yield factory
    for app in made:
        app.extensions["kgpub"].store.close()


@pytest.fixture(scope="session")
def app(root: Path) -> Iterator[Flask]:
    app = make_app(root)
    yield app
    app.extensions["kgpub"].store.close()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def capped_app(root: Path) -> Iterator[Flask]:
    app = make_app(root, max_rows=3)
    yield app
    app.extensions["kgpub"].store.close()


@pytest.fixture(scope="session")
def cached_app(root: Path) -> Iterator[Flask]:
    app = make_app(root, cache=True)
    yield app
    app.extensions["kgpub"].store.close()


@pytest.fixture(scope="session")
def slow_app(root: Path) -> Iterator[Flask]:
    app = make_app(root, query_timeout=1.0)
    yield app
    app.extensions["kgpub"].store.close()


@pytest.fixture(scope="session")
def heavy_query() -> str:
    """Every pattern joins with every triple: billions of solutions even on the small fixture."""
    return (
        "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n ?o . "
        "?p ?q ?r . ?s ?t ?u }"
    )


# --- linked-data pages: the real build, and a tiny store of awkward cases

PROJECT = Path(__file__).parents[2]
TINY_TRIG = """@prefix kg: <https://w3id.org/kgpub/> .
@prefix kgo: <https://w3id.org/kgpub/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix schema: <http://schema.org/> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix nif: <http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#> .
@prefix itsrdf: <http://www.w3.org/2005/11/its/rdf#> .

<https://w3id.org/kgpub/fact/tiny/evil> {
  <https://w3id.org/kgpub/id/evil> a kgo:Person ;
    rdfs:label "Evil </script><script>alert(1)</script>"@en ;
    schema:description "<b>bold</b> & <script>alert(2)</script>"@en ;
    kgo:knows <https://w3id.org/kgpub/id/caf%C3%A9>, <https://w3id.org/kgpub/id/café> .
}
<https://w3id.org/kgpub/fact/tiny/cafe> {
  <https://w3id.org/kgpub/id/café> rdfs:label "Café with an é"@fr .
  <https://w3id.org/kgpub/id/caf%C3%A9> rdfs:label "Café spelt with %C3%A9" .
  <https://w3id.org/kgpub/id/na%C3%AFve> rdfs:label "Naïve, only percent-encoded" .
}
<https://w3id.org/kgpub/graph/provenance/tiny> {
  <https://w3id.org/kgpub/fact/tiny/evil> a kgo:Fact ;
    prov:wasDerivedFrom <https://w3id.org/kgpub/article/tiny/p1s1> ;
    kgo:quote "<i>quoted</i> </script>" .
}
<https://w3id.org/kgpub/graph/text/tiny> {
  <https://w3id.org/kgpub/article/tiny> a nif:Context ;
    rdfs:label "A <script>tiny</script> article"@en ;
    nif:isString "A <script>tiny</script> article\\n\\nEvil met <script>x</script> & friends." ;
    nif:beginIndex "0"^^xsd:integer ; nif:endIndex "71"^^xsd:integer .
  <https://w3id.org/kgpub/article/tiny/title> a nif:Title ; dct:identifier "title" ;
    nif:referenceContext <https://w3id.org/kgpub/article/tiny> ;
    nif:beginIndex "0"^^xsd:integer ; nif:endIndex "31"^^xsd:integer .
  <https://w3id.org/kgpub/article/tiny/p1> a nif:Paragraph ; dct:identifier "p1" ;
    nif:referenceContext <https://w3id.org/kgpub/article/tiny> ;
    nif:beginIndex "33"^^xsd:integer ; nif:endIndex "71"^^xsd:integer .
  <https://w3id.org/kgpub/article/tiny/p1s1> a nif:Sentence ; dct:identifier "p1s1" ;
    rdfs:label "Sentence p1s1"@en ;
    nif:referenceContext <https://w3id.org/kgpub/article/tiny> ;
    nif:anchorOf "Evil met <script>x</script> & friends." ;
    nif:beginIndex "33"^^xsd:integer ; nif:endIndex "71"^^xsd:integer .
  <https://w3id.org/kgpub/article/tiny/char/33-37> a nif:Phrase ;
    nif:referenceContext <https://w3id.org/kgpub/article/tiny> ;
    itsrdf:taIdentRef <https://w3id.org/kgpub/id/evil> ; nif:anchorOf "Evil" ;
    nif:beginIndex "33"^^xsd:integer ; nif:endIndex "37"^^xsd:integer .
}
"""
# links to two hubs: 120 to a page-sized one (two properties), 1100 to one past an RDF document
HUB_LINKS = {"hub": 120, "bighub": 1100}


def tiny_quads() -> str:
    lines = []
    for hub, count in HUB_LINKS.items():
        for i in range(count):
            prop = "about" if i % 2 else "mentions"
            lines.append(
                f"<{BASE}id/{hub}-s{i:04d}> <https://w3id.org/kgpub/ontology#{prop}> "
                f"<{BASE}id/{hub}> <{BASE}fact/tiny/links> ."
            )
    lines.append(f'<{BASE}id/hub> <http://www.w3.org/2000/01/rdf-schema#label> "Hub" .')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def built_app(built: Path) -> Iterator[Flask]:
    """The app on the real build of the project's data."""
    values = {"root": PROJECT, "store": built / "store", "cache": False, "threads": 2}
    app = create_app(Settings(), test_config=values)
    yield app
    app.extensions["kgpub"].store.close()


@pytest.fixture(scope="session")
def tiny_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on a tiny store: markup in literals, non-ASCII IRIs, many incoming links."""
    folder = tmp_path_factory.mktemp("tiny")
    store = ox.Store(str(folder / "store"))
    store.load(TINY_TRIG.encode("utf-8"), format=ox.RdfFormat.TRIG)
    store.load(tiny_quads().encode("utf-8"), format=ox.RdfFormat.N_QUADS)
    store.flush()
    del store
    values = {"root": PROJECT, "store": folder / "store", "cache": False, "threads": 2}
    app = create_app(Settings(), test_config=values)
    yield app
    app.extensions["kgpub"].store.close()
