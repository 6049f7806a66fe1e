"""Two ``kgpub serve`` instances on one store answer alike: two opening the same embedded store
read-only, and two in front of the same remote store (``oxigraph serve``). A load balancer may send
a client's requests to either, so answers, pages and ETags must not depend on which one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Oxigraph, Server

pytestmark = pytest.mark.e2e

BASE = "https://w3id.org/kgpub/"
QUERIES = [
    # no blank nodes: their labels are the store's own, and the two stores were loaded apart
    (
        "SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } FILTER(!isBlank(?s) && !isBlank(?o)) } "
        "ORDER BY ?g ?s ?p ?o",
        "text/csv",
    ),
    (
        "SELECT ?s ?label WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?label "
        "FILTER(isIRI(?s)) } "
        "ORDER BY ?s ?label",
        "application/sparql-results+json",
    ),
    ("ASK { ?s a <https://w3id.org/kgpub/ontology#Event> }", "application/sparql-results+xml"),
    (
        f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{BASE}fact/demo/f2> {{ ?s ?p ?o }} }}",
        "application/n-triples",
    ),
]
PAGES = [
    ("/id/ecuador.html", "text/html"),
    ("/id/president.ttl", "text/turtle"),
    ("/id/ecuador.jsonld", "application/ld+json"),
    ("/article/demo.html", "text/html"),
    ("/search?q=ecuador", "application/json"),
]


def sparql(server: Server, query: str, accept: str) -> requests.Response:
    response = requests.post(
        server.url + "/sparql", data={"query": query}, headers={"Accept": accept}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response


def page(server: Server, path: str, accept: str) -> requests.Response:
    response = requests.get(server.url + path, headers={"Accept": accept}, timeout=30)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return response


def answers(server: Server) -> list[tuple[str, bytes, str | None]]:
    """Everything compared: each query's and page's media type and body, and each page's ETag."""
    seen = []
    for query, accept in QUERIES:
        response = sparql(server, query, accept)
        seen.append((response.headers["Content-Type"], response.content, None))
    for path, accept in PAGES:
        response = page(server, path, accept)
        etag = response.headers.get("ETag")  # resource and article pages have one
        seen.append((response.headers["Content-Type"], response.content, etag))
    return seen


def assert_alike(first: Server, second: Server) -> list[tuple[str, bytes, str | None]]:
    mine, theirs = answers(first), answers(second)
    assert len(mine) == len(QUERIES) + len(PAGES)
    for (query_or_path, _), one, other in zip(QUERIES + PAGES, mine, theirs, strict=True):
        assert one == other, query_or_path
    assert all(body for _, body, _ in mine)
    return mine


def test_two_servers_on_one_embedded_store(
    workdir: Path, server_factory: Callable[..., Server]
) -> None:
    store = workdir / "store"
    first, second = server_factory(store), server_factory(store)
    assert_alike(first, second)
    # and again, now that each worker's caches are warm
    assert_alike(second, first)


def test_two_servers_on_one_remote_store(
    workdir: Path, server_factory: Callable[..., Server], remote_store: Oxigraph
) -> None:
    before = remote_store.count()
    first = server_factory(workdir / "store", remote=remote_store)
    second = server_factory(workdir / "store", remote=remote_store)
    seen = assert_alike(first, second)
    assert_alike(second, first)
    assert remote_store.count() == before
    # in front of the remote store, the same answers as on the embedded one
    embedded = server_factory(workdir / "store")
    for (what, _), one, other in zip(QUERIES + PAGES, seen, answers(embedded), strict=True):
        assert one[:2] == other[:2], what
