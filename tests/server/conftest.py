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
