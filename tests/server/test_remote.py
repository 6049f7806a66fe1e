"""The app in front of a remote SPARQL store: a real ``oxigraph serve`` on 127.0.0.1.

The remote store holds the same data as the embedded store of the other tests, so most checks ask
both apps the same thing and expect the same answer; the rest check what only a remote store can
do wrong (be down, be slow, change its data) and that the endpoint's rules hold in front of it.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import rdflib
import requests
from flask import Flask
from flask.testing import FlaskClient
from kgpub.server import create_app
from kgpub.server.config import make_store
from kgpub.server.formats import SPARQL_JSON, Kind
from kgpub.server.pool import QueryFailed
from kgpub.server.remote import RemoteStore, check_backend_url, syntax_message
from kgpub.server.store import QueryRequest
from rdflib.compare import isomorphic

from kgpub.cli import parse_serve
from kgpub.settings import Settings
from tests.e2e.conftest import FIXTURE, Oxigraph, free_port, load_oxigraph, start_oxigraph
from tests.server.conftest import make_app

BASE = "https://w3id.org/kgpub/"
F1 = BASE + "fact/demo/f1"
F2 = BASE + "fact/demo/f2"
JSON_RESULTS = "application/sparql-results+json"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
ALL_IRI_TRIPLES = (
    "SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } FILTER(!isBlank(?s) && !isBlank(?o)) } "
    "ORDER BY ?g ?s ?p ?o"
)


# --- the remote store and the apps in front of it ------------------------------------------------


@pytest.fixture(scope="session")
def remote_location(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TriG fixture, loaded with ``oxigraph load``: a pristine copy to start stores from."""
    return load_oxigraph(tmp_path_factory.mktemp("remote") / "store", FIXTURE)


@pytest.fixture(scope="session")
def oxigraph(remote_location: Path) -> Iterator[Oxigraph]:
    store = start_oxigraph(remote_location, remote_location.parent)
    yield store
    store.stop()


@pytest.fixture()
def own_oxigraph(remote_location: Path, tmp_path: Path) -> Iterator[Oxigraph]:
    """A remote store for one test only (to slow down or change), stopped by its PID after it."""
    location = tmp_path / "store"
    subprocess.run(["cp", "-r", str(remote_location), str(location)], check=True)
    store = start_oxigraph(location, tmp_path)
    yield store
    store.stop()


@pytest.fixture()
def remote_factory(root: Path) -> Iterator[Callable[..., Flask]]:
    made: list[Flask] = []

    def factory(remote: Oxigraph | str, **settings: object) -> Flask:
        url = remote if isinstance(remote, str) else remote.endpoint
        made.append(make_app(root, backend=url, **settings))
        return made[-1]

    yield factory
    for app in made:
        app.extensions["kgpub"].store.close()


@pytest.fixture(scope="session")
def remote_app(root: Path, oxigraph: Oxigraph) -> Iterator[Flask]:
    app = make_app(root, backend=oxigraph.endpoint)
    yield app
    app.extensions["kgpub"].store.close()


@pytest.fixture()
def remote(remote_app: Flask) -> FlaskClient:
    return remote_app.test_client()


@pytest.fixture()
def embedded(app: Flask) -> FlaskClient:
    return app.test_client()


def ask(client: FlaskClient, query: str, accept: str = JSON_RESULTS, **params: str):
    headers = {"Accept": accept}
    return client.get("/sparql", query_string={"query": query, **params}, headers=headers)


def bindings(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.data)["results"]["bindings"]


def count(client: FlaskClient, query: str = COUNT, **params: str) -> int:
    return int(bindings(ask(client, query, **params))[0]["n"]["value"])


# --- the same answers as the embedded store ------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [JSON_RESULTS, "application/sparql-results+xml", "text/csv", "text/tab-separated-values"],
)
def test_select_answers_are_those_of_the_embedded_store(
    remote: FlaskClient, embedded: FlaskClient, accept: str
) -> None:
    mine, theirs = ask(remote, ALL_IRI_TRIPLES, accept), ask(embedded, ALL_IRI_TRIPLES, accept)
    assert mine.status_code == 200, mine.get_data(as_text=True)
    assert mine.content_type == theirs.content_type
    assert mine.headers["X-Result-Truncated"] == "false"
    assert mine.data == theirs.data
    assert mine.data.count(b"estado de excepci") == 1  # not empty, and UTF-8 passes through


@pytest.mark.parametrize("accept", [JSON_RESULTS, "application/sparql-results+xml"])
def test_ask_true_and_false(remote: FlaskClient, embedded: FlaskClient, accept: str) -> None:
    for query in (
        f"ASK {{ GRAPH <{F1}> {{ ?s ?p 60 }} }}",
        f"ASK {{ GRAPH <{F2}> {{ ?s ?p 60 }} }}",
    ):
        mine = ask(remote, query, accept)
        assert mine.status_code == 200
        assert mine.data == ask(embedded, query, accept).data
    assert json.loads(ask(remote, f"ASK {{ GRAPH <{F1}> {{ ?s ?p 60 }} }}").data)["boolean"]


@pytest.mark.parametrize(
    ("accept", "rdflib_format"),
    [
        ("text/turtle", "turtle"),
        ("application/n-triples", "nt"),
        ("application/rdf+xml", "xml"),
        ("application/ld+json", "json-ld"),
    ],
)
@pytest.mark.parametrize(
    "query",
    [
        f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{F1}> {{ ?s ?p ?o }} }}",
        f"DESCRIBE <{BASE}id/emergency-2024>",
    ],
)
def test_graph_answers_are_those_of_the_embedded_store(
    remote: FlaskClient, embedded: FlaskClient, query: str, accept: str, rdflib_format: str
) -> None:
    mine = ask(remote, query, accept)
    assert mine.status_code == 200, mine.get_data(as_text=True)
    assert mine.mimetype == accept
    graph = rdflib.Graph().parse(data=mine.data, format=rdflib_format)
    expected = rdflib.Graph().parse(data=ask(embedded, query, accept).data, format=rdflib_format)
    assert len(graph) >= 5
    assert isomorphic(graph, expected)


def test_large_answers_are_streamed_capped_and_flagged(remote: FlaskClient) -> None:
    """Three patterns over every graph: 36³ rows, far past the cap of 10,000 and past the size an
    answer is held back whole."""
    response = ask(remote, "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }", "text/csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["X-Result-Truncated"] == "true"
    assert len(response.data) > 1_000_000
    assert response.data.count(b"\r\n") == 10_000 + 1  # the header line and the capped rows


def test_row_cap_is_ours_and_flagged(remote_factory: Callable[..., Flask], oxigraph) -> None:
    client = remote_factory(oxigraph, max_rows=3).test_client()
    capped = ask(client, "SELECT * WHERE { ?s ?p ?o }")
    assert capped.headers["X-Result-Truncated"] == "true"
    document = json.loads(capped.data)
    assert len(document["results"]["bindings"]) == 3
    assert document["head"]["link"] == ["http://localhost/-/limits"]
    within = ask(client, "SELECT * WHERE { ?s ?p ?o } LIMIT 2")
    assert within.headers["X-Result-Truncated"] == "false"
    assert len(bindings(within)) == 2
    graph = ask(client, "CONSTRUCT WHERE { ?s ?p ?o }", "application/n-triples")
    assert graph.headers["X-Result-Truncated"] == "true"
    lines = graph.get_data(as_text=True).splitlines()
    assert lines[0].startswith("# truncated") and len(lines) == 4


def test_answer_size_cap_is_ours(remote_factory: Callable[..., Flask], oxigraph) -> None:
    client = remote_factory(oxigraph, max_response_bytes=2000).test_client()
    response = ask(client, "SELECT * WHERE { ?s ?p ?o }")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "max_response_bytes" in response.get_data(as_text=True)
    assert ask(client, "SELECT * WHERE { ?s ?p ?o } LIMIT 1").status_code == 200


# --- the dataset ----------------------------------------------------------------------------------


def test_dataset_parameters_restrict_the_dataset(
    remote: FlaskClient, embedded: FlaskClient
) -> None:
    assert count(remote, **{"default-graph-uri": F1}) == 7
    # named graphs alone: the default graph is empty, as on the embedded store
    assert count(remote, **{"named-graph-uri": F1}) == count(embedded, **{"named-graph-uri": F1})
    named = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"
    rows = bindings(ask(remote, named, **{"named-graph-uri": F2}))
    assert [row["g"]["value"] for row in rows] == [F2]
    response = ask(remote, COUNT, **{"default-graph-uri": "not an IRI"})
    assert response.status_code == 400
    assert "default-graph-uri" in response.get_data(as_text=True)


def test_default_graph_is_the_union_as_on_the_embedded_store(
    remote: FlaskClient, embedded: FlaskClient, remote_factory: Callable[..., Flask], oxigraph
) -> None:
    total = count(remote)
    assert total == count(embedded) and total > 30
    assert count(remote, f"SELECT (COUNT(*) AS ?n) FROM <{F1}> WHERE {{ ?s ?p ?o }}") == 7
    # without the union parameter, the store's own default graph: its one triple
    plain = remote_factory(oxigraph, backend_union_param="").test_client()
    assert count(plain) == 1


# --- errors ---------------------------------------------------------------------------------------


def test_syntax_error_is_400_with_its_position(remote: FlaskClient) -> None:
    response = ask(remote, "SELECT * WHERE {\n  ?s ?p\n}")
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "line 3" in text and "^" in text
    assert "Traceback" not in text


def test_jena_style_positions_are_read_too() -> None:
    message = 'Encountered " "}" "} "" at line 3, column 1.'
    assert syntax_message(message).startswith("error at 3:1: ")
    assert syntax_message("error at 1:8: expected x") == "error at 1:8: expected x"
    assert syntax_message("no position here") == "no position here"


REFUSED = [
    ("query", "SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }"),
    ("query", "LOAD <http://127.0.0.1:9/data.ttl>"),
    ("query", "INSERT DATA { <http://a/s> <http://a/p> <http://a/o> }"),
    ("query", "DELETE WHERE { ?s ?p ?o }"),
    ("update", "CLEAR ALL"),
]


@pytest.mark.parametrize(("name", "text"), REFUSED)
def test_updates_and_service_are_403_and_change_nothing(
    remote: FlaskClient, oxigraph: Oxigraph, name: str, text: str
) -> None:
    before = oxigraph.count()
    for response in (
        remote.get("/sparql", query_string={name: text}),
        remote.post("/sparql", data={name: text}),
        remote.get("/sparql", query_string={name: text, "format": "html"}),  # the query page
    ):
        assert response.status_code == 403, response.get_data(as_text=True)
    response = remote.post("/sparql", data=text.encode(), content_type="application/sparql-update")
    assert response.status_code == 403
    assert oxigraph.count() == before


def test_the_store_itself_never_forwards_an_update_or_service() -> None:
    """The second lock: even called directly, the remote store sends neither; nothing connects."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        store = RemoteStore(
            f"http://127.0.0.1:{listener.getsockname()[1]}/query", dataset=BASE + "dataset"
        )
        for _, text in REFUSED[:4]:
            request = QueryRequest(text, {Kind.SOLUTIONS: SPARQL_JSON}, timeout=1)
            with pytest.raises(QueryFailed) as refused:
                store.query(request)
            assert "never forwarded" in refused.value.message
        with pytest.raises(TimeoutError):
            listener.accept()


def test_timeout_is_ours_and_the_next_query_is_answered(
    remote_factory: Callable[..., Flask], own_oxigraph: Oxigraph, heavy_query: str
) -> None:
    client = remote_factory(own_oxigraph, query_timeout=1.0).test_client()
    assert count(client, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o } # warm") > 0
    started = time.monotonic()
    response = ask(client, heavy_query)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert "limit" in response.get_data(as_text=True)
    assert response.headers["Retry-After"]
    assert elapsed < 3.0, elapsed
    assert count(client) > 30  # the store still answers, on a fresh connection


def test_remote_store_down_is_503_with_a_message(remote_factory: Callable[..., Flask]) -> None:
    client = remote_factory(f"http://127.0.0.1:{free_port()}/query").test_client()
    for response in (ask(client, "ASK {}"), client.get("/id/ecuador.ttl")):
        text = response.get_data(as_text=True)
        assert response.status_code == 503, text
        assert "not available" in text and "Traceback" not in text
    assert client.get("/-/ping").status_code == 200


def test_backend_must_be_an_http_url(root: Path) -> None:
    for url in ("ftp://example.org/sparql", "127.0.0.1:7878/query", "http:///query"):
        with pytest.raises(ValueError, match="http"):
            check_backend_url(url)
        with pytest.raises(ValueError, match="http"):
            make_store(Settings(backend=url))
    assert parse_serve(["--backend", "http://127.0.0.1:1/query"]).backend == (
        "http://127.0.0.1:1/query"
    )
    started = subprocess.run(
        [sys.executable, "-m", "kgpub.cli", "serve", "--backend", "ftp://example.org/sparql"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    assert "is not an http:// or https:// URL" in started.stderr
    assert "Traceback" not in started.stderr


# --- which data: identity and Last-Modified ------------------------------------------------------


def test_identity_follows_the_remote_data(
    remote_factory: Callable[..., Flask], own_oxigraph: Oxigraph
) -> None:
    app = remote_factory(own_oxigraph, cache=True, backend_refresh=0.0)
    client = app.test_client()
    store = app.extensions["kgpub"].store
    other = RemoteStore(own_oxigraph.endpoint, dataset=BASE + "dataset")
    first = store.identity
    assert first == other.identity  # two apps on one store share cache keys and ETags
    before = count(client)
    etag = client.get("/id/ecuador.ttl").headers["ETag"]
    update = f'INSERT DATA {{ <{BASE}dataset> <http://rdfs.org/ns/void#triples> "1" }}'
    requests.post(own_oxigraph.url + "/update", data={"update": update}, timeout=10)
    assert store.identity != first
    assert count(client) == before + 1  # not the cached answer
    assert client.get("/id/ecuador.ttl").headers["ETag"] != etag
    # what ``kgpub publish`` adds to the description: the build's time is Last-Modified
    published = (
        f"INSERT DATA {{ GRAPH <{BASE}graph/dataset> {{ <{BASE}dataset> "
        '<http://purl.org/dc/terms/modified> "2024-05-01T12:00:00Z"'
        "^^<http://www.w3.org/2001/XMLSchema#dateTime> } }"
    )
    second = store.identity
    requests.post(own_oxigraph.url + "/update", data={"update": published}, timeout=10)
    assert store.identity != second
    page = client.get("/id/ecuador.ttl")
    assert page.headers["Last-Modified"] == "Wed, 01 May 2024 12:00:00 GMT"


def test_identity_without_a_description_is_the_urls(remote_factory, own_oxigraph) -> None:
    requests.post(own_oxigraph.url + "/update", data={"update": "CLEAR DEFAULT"}, timeout=10)
    store = remote_factory(own_oxigraph).extensions["kgpub"].store
    assert re.fullmatch(r"[0-9a-f]{16}", store.identity)
    moved = RemoteStore(own_oxigraph.url + "/query?x=1", dataset=BASE + "dataset")
    assert moved.identity != store.identity
    assert abs(store.modified - time.time()) < 60


# --- the linked-data pages, search and the article view, on the real build -----------------------


@pytest.fixture(scope="module")
def built_remote(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oxigraph]:
    """The real build's N-Quads dump, loaded into a remote store as a publisher would."""
    folder = tmp_path_factory.mktemp("built-remote")
    dump = next((built / "dumps").glob("*.nq"))
    store = start_oxigraph(load_oxigraph(folder / "store", dump), folder)
    yield store
    store.stop()


@pytest.fixture(scope="module")
def built_remote_app(built_remote: Oxigraph) -> Iterator[Flask]:
    project = Path(__file__).parents[2]
    values = {"root": project, "backend": built_remote.endpoint, "cache": False, "threads": 2}
    app = create_app(Settings(), test_config=values)
    yield app
    app.extensions["kgpub"].store.close()


PAGES = [
    ("/", "text/html"),
    ("/id/daniel-noboa.html", "text/html"),
    ("/id/noboa-administration.jsonld", "application/ld+json"),
    ("/id/daniel-noboa.ttl", "text/turtle"),
    ("/article/ecuador-security-crisis.html", "text/html"),
    ("/search?q=noboa", "application/json"),
    ("/search?q=ecuador&format=html", "text/html"),
    ("/ontology", "text/html"),
]


@pytest.mark.parametrize(("path", "accept"), PAGES)
def test_pages_are_those_of_the_embedded_store(
    built_remote_app: Flask, built_app: Flask, path: str, accept: str
) -> None:
    mine = built_remote_app.test_client().get(path, headers={"Accept": accept})
    theirs = built_app.test_client().get(path, headers={"Accept": accept})
    assert theirs.status_code == 200, (path, theirs.status_code)
    assert mine.status_code == 200, mine.get_data(as_text=True)[:500]
    assert mine.mimetype == theirs.mimetype
    assert mine.data == theirs.data
