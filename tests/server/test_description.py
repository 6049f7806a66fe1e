"""The SPARQL 1.1 Service Description at /sparql, for RDF clients."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest
import rdflib
from flask import Flask
from flask.testing import FlaskClient
from kgpub.mappings.load import load
from kgpub.server import description
from kgpub.server.pool import QueryTimeout

from kgpub import storecounts
from tests.server.conftest import FIXTURE

SD = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
VOID = rdflib.Namespace("http://rdfs.org/ns/void#")
FORMATS = rdflib.Namespace("http://www.w3.org/ns/formats/")
DCTERMS = rdflib.Namespace("http://purl.org/dc/terms/")


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        (None, "turtle"),
        ("text/turtle", "turtle"),
        ("application/ld+json", "json-ld"),
        ("application/rdf+xml", "xml"),
        ("application/n-triples", "nt"),
        ("*/*", "turtle"),
    ],
)
def test_description_parses(client: FlaskClient, accept: str | None, fmt: str) -> None:
    response = client.get("/sparql", headers={"Accept": accept} if accept else {})
    assert response.status_code == 200
    graph = rdflib.Graph().parse(data=response.data, format=fmt)
    service = graph.value(None, rdflib.RDF.type, SD.Service)
    assert service is not None
    assert graph.value(service, SD.endpoint) == rdflib.URIRef("http://localhost/sparql")
    assert (service, SD.supportedLanguage, SD.SPARQL11Query) in graph
    assert (service, SD.feature, SD.UnionDefaultGraph) in graph
    formats = set(graph.objects(service, SD.resultFormat))
    assert {FORMATS.SPARQL_Results_JSON, FORMATS.Turtle, FORMATS["JSON-LD"]} <= formats
    # no update language, no federation
    assert (service, SD.supportedLanguage, SD.SPARQL11Update) not in graph
    assert (service, SD.feature, SD.BasicFederatedQuery) not in graph


def test_default_dataset(client: FlaskClient) -> None:
    graph = rdflib.Graph().parse(data=client.get("/sparql").data, format="turtle")
    dataset = next(graph.objects(None, SD.defaultDataset))
    default = graph.value(dataset, SD.defaultGraph)
    assert graph.value(default, VOID.triples).toPython() == 36
    names = {
        str(graph.value(named, SD.name)): graph.value(graph.value(named, SD.graph), VOID.triples)
        for named in graph.objects(dataset, SD.namedGraph)
    }
    assert names["https://w3id.org/kgpub/graph/ontology"].toPython() == 10
    assert len(names) == 4


def test_format_parameter(client: FlaskClient) -> None:
    response = client.get("/sparql?format=nt")
    assert response.mimetype == "application/n-triples"


def test_not_acceptable(client: FlaskClient) -> None:
    response = client.get("/sparql", headers={"Accept": "application/sparql-results+json"})
    assert response.status_code == 406
    assert b"text/turtle" in response.data


# --- the counts: the union's distinct triples, every named graph, from the loader's file --------

EX = "https://example.org/"


def described(app_factory: Callable[..., Flask], store: Path) -> tuple[rdflib.Graph, Any]:
    client = app_factory(store=store).test_client()
    graph = rdflib.Graph().parse(data=client.get("/sparql").data, format="turtle")
    return graph, next(graph.objects(None, SD.defaultDataset))


def default_graph_triples(graph: rdflib.Graph, dataset: Any) -> int:
    return graph.value(graph.value(dataset, SD.defaultGraph), VOID.triples).toPython()


def write_store(folder: Path, quads: list[ox.Quad]) -> Path:
    store = ox.Store(str(folder))
    store.extend(quads)
    store.flush()
    del store
    return folder


def test_a_triple_in_several_graphs_counts_once(
    app_factory: Callable[..., Flask], tmp_path: Path
) -> None:
    s, p = ox.NamedNode(EX + "s"), ox.NamedNode(EX + "p")
    quads = [
        ox.Quad(s, p, ox.Literal("in both"), ox.NamedNode(EX + "g1")),
        ox.Quad(s, p, ox.Literal("in both"), ox.NamedNode(EX + "g2")),
        ox.Quad(s, p, ox.Literal("only g2"), ox.NamedNode(EX + "g2")),
        ox.Quad(s, p, ox.Literal("in the default graph")),
    ]
    store = write_store(tmp_path / "store", quads)
    app = app_factory(store=store)
    graph, dataset = described(app_factory, store)
    # the endpoint's default graph is the union: three distinct triples, not four statements
    assert default_graph_triples(graph, dataset) == 3
    sizes = {
        str(graph.value(named, SD.name)): graph.value(graph.value(named, SD.graph), VOID.triples)
        for named in graph.objects(dataset, SD.namedGraph)
    }
    assert {name: size.toPython() for name, size in sizes.items()} == {EX + "g1": 1, EX + "g2": 2}
    health = app.test_client().get("/-/health").get_json()
    assert health["counts"] == {"triples": 3, "quads": 4, "graphs": 2}


def test_many_graphs_are_counted_and_the_first_listed(
    app_factory: Callable[..., Flask], tmp_path: Path
) -> None:
    total = storecounts.LISTED_GRAPHS + 5
    p = ox.NamedNode(EX + "p")
    quads = [
        ox.Quad(ox.NamedNode(f"{EX}s{n}"), p, ox.Literal(str(n)), ox.NamedNode(f"{EX}g{n:05d}"))
        for n in range(total)
    ]
    graph, dataset = described(app_factory, write_store(tmp_path / "store", quads))
    assert default_graph_triples(graph, dataset) == total
    listed = sorted(
        str(graph.value(named, SD.name)) for named in graph.objects(dataset, SD.namedGraph)
    )
    assert listed == [f"{EX}g{n:05d}" for n in range(storecounts.LISTED_GRAPHS)]
    note = str(graph.value(dataset, DCTERMS.description))
    assert f"{total} named graphs" in note and "GRAPH ?g" in note


def test_too_many_quads_to_count_distinct_triples(
    app_factory: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    load([FIXTURE], store, stream=io.StringIO())
    store_counts = storecounts.count(selecting(store), distinct_at_most=35)  # the fixture: 36
    assert (store_counts.triples, store_counts.quads, store_counts.named_graphs) == (None, 36, 4)
    # the server's own count of a store without the file, held to the same limit
    (store / storecounts.FILE_NAME).unlink()
    monkeypatch.setattr(storecounts, "DISTINCT_AT_MOST", 35)
    app = app_factory(store=store)
    graph, dataset = described(app_factory, store)
    assert graph.value(graph.value(dataset, SD.defaultGraph), VOID.triples) is None
    names = list(graph.objects(dataset, SD.namedGraph))
    assert len(names) == 4  # the named graphs are listed with their sizes all the same
    health = app.test_client().get("/-/health").get_json()
    assert health["counts"] == {"triples": None, "quads": 36, "graphs": 4}


def selecting(store: Path) -> storecounts.Select:
    opened = ox.Store.read_only(str(store))
    return lambda sparql: list(opened.query(sparql))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "described_triples"),
    [
        # the server takes the file's figures as they are, without scanning the store again
        ({"triples": 123_456}, 123_456),
        # figures written for the store as it was before a change are counted again
        ({"triples": 123_456, "data": "MANIFEST-000001:1:1"}, 36),
    ],
)
def test_the_loader_counts_once_and_the_server_reads_it(
    app_factory: Callable[..., Flask],
    tmp_path: Path,
    changes: dict[str, Any],
    described_triples: int,
) -> None:
    store = tmp_path / "store"
    load([FIXTURE], store, stream=io.StringIO())
    written = json.loads((store / storecounts.FILE_NAME).read_text())
    assert (written["triples"], written["quads"], written["named_graphs"]) == (36, 36, 4)
    (store / storecounts.FILE_NAME).write_text(json.dumps({**written, **changes}))
    graph, dataset = described(app_factory, store)
    assert default_graph_triples(graph, dataset) == described_triples


class SlowStore:
    """A store whose counting always runs out of time."""

    identity = "slow-build"

    def __init__(self) -> None:
        self.calls = 0

    def counts(self, timeout: float) -> storecounts.Counts:
        self.calls += 1
        raise QueryTimeout(f"no answer within {timeout} s")


def test_a_count_that_failed_is_not_retried_on_every_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SlowStore()
    assert description.counts_of(store, 1.0) is None  # type: ignore[arg-type]
    assert description.counts_of(store, 1.0) is None  # type: ignore[arg-type]
    assert store.calls == 1
    later = time.monotonic() + description.RECOUNT_AFTER_FAILURE + 1
    monkeypatch.setattr(description.time, "monotonic", lambda: later)
    assert description.counts_of(store, 1.0) is None  # type: ignore[arg-type]
    assert store.calls == 2
