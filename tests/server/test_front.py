"""The raw-WSGI door of ``/sparql`` answers as the Flask route does, and hands over what it must."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from kgpub.server.cache import CacheFront, request_key
from kgpub.server.front import SparqlFront

# in order: a worker's first run of a query reads the disk, the next ones its copy in memory,
# where solutions with no ORDER BY may come in another order
ALL = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o"
SERVICE = "SELECT * { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }"
QUERY_BODY = "application/sparql-query"
GRAPH = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o"
FORM = "application/x-www-form-urlencoded"
HEADERS = (
    "Content-Type",
    "Content-Encoding",
    "Content-Length",
    "X-Result-Truncated",
    "Vary",
    "Access-Control-Allow-Origin",
    "Access-Control-Expose-Headers",
)


def front_of(app: Flask) -> SparqlFront:
    wsgi = app.wsgi_app
    while not isinstance(wsgi, SparqlFront):
        wsgi = wsgi.app  # type: ignore[attr-defined]
    return wsgi


@contextmanager
def flask_only(app: Flask) -> Iterator[None]:
    """The app with its Flask route alone, as it was before the front door."""
    wsgi = app.wsgi_app
    app.wsgi_app = front_of(app).app  # type: ignore[method-assign]
    try:
        yield
    finally:
        app.wsgi_app = wsgi  # type: ignore[method-assign]


@contextmanager
def counting(app: Flask) -> Iterator[list[int]]:
    """How many answers the front door itself gave."""
    front = front_of(app)
    calls: list[int] = []
    respond = front.respond

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return respond(*args, **kwargs)  # type: ignore[arg-type]

    front.respond = spy  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        del front.respond


REQUESTS = [
    {"query_string": {"query": ALL}},
    {"query_string": {"query": ALL}, "headers": {"Accept": "text/csv"}},
    {"query_string": {"query": ALL, "format": "xml"}},
    {"query_string": {"query": "ASK {}"}, "headers": {"Accept": "text/tab-separated-values"}},
    {"query_string": {"query": GRAPH}},
    {"query_string": {"query": GRAPH}, "headers": {"Accept": "application/n-triples"}},
    {"query_string": {"query": ALL}, "headers": {"Accept-Encoding": "gzip"}},
    {"query_string": {"query": GRAPH}, "headers": {"Accept-Encoding": "gzip;q=0"}},
    {"method": "POST", "data": {"query": ALL}},
    {
        "method": "POST",
        "data": ALL,
        "content_type": "application/sparql-query; charset=UTF-8",
    },
    {
        "method": "POST",
        "query_string": {"default-graph-uri": "https://w3id.org/kgpub/graph/ontology"},
        "data": "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }",
        "content_type": "application/sparql-query",
    },
]


@pytest.mark.parametrize("request_args", REQUESTS)
def test_same_answer_as_the_flask_route(app: Flask, request_args: dict) -> None:
    client = app.test_client()
    with counting(app) as calls:
        fast = client.open("/sparql", **request_args)
    assert calls == [1], "answered by the front door"
    with flask_only(app):
        slow = client.open("/sparql", **request_args)
    assert fast.status_code == slow.status_code == 200
    assert fast.data == slow.data
    for name in HEADERS:
        assert fast.headers.get(name) == slow.headers.get(name), name


@pytest.mark.parametrize(
    ("request_args", "status"),
    [
        ({"query_string": {"query": "SELECT nonsense"}}, 400),
        ({"query_string": {"query": "INSERT DATA { <a> <b> <c> }"}}, 403),
        (
            {"query_string": {"query": "SELECT * { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }"}},
            403,
        ),
        ({"query_string": {"query": ALL}, "headers": {"Accept": "image/png"}}, 406),
        ({"query_string": {"query": ALL, "default-graph-uri": "not an iri"}}, 400),
        ({"method": "POST", "data": "ASK {}", "content_type": "text/plain"}, 415),
        (
            {"method": "POST", "data": b"ASK { \xe9 }", "content_type": "application/sparql-query"},
            400,
        ),
        ({"method": "POST", "data": "DROP ALL", "content_type": "application/sparql-update"}, 403),
        ({"method": "POST", "query_string": {"query": "ASK {}"}, "data": {"query": "ASK {}"}}, 400),
    ],
)
def test_errors_are_the_flask_routes(app: Flask, request_args: dict, status: int) -> None:
    """Errors met at the door are rendered by the route: same status, message and headers."""
    client = app.test_client()
    fast = client.open("/sparql", **request_args)
    with flask_only(app):
        slow = client.open("/sparql", **request_args)
    assert fast.status_code == slow.status_code == status
    assert fast.data == slow.data
    assert fast.mimetype == "text/plain"
    assert fast.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "request_args",
    [
        {"query_string": {"query": ALL}, "headers": {"Accept": "text/html"}},
        {"query_string": {"query": ALL, "format": "html"}},
        {"headers": {"Accept": "text/turtle"}},
        {"method": "POST", "data": {"query": ALL}, "content_type": f'{FORM}; charset="utf-8"'},
        {"method": "HEAD", "query_string": {"query": ALL}},
    ],
)
def test_the_rest_goes_to_flask(app: Flask, request_args: dict) -> None:
    """The query page, the service description, unusual bodies and HEAD: Flask's, untouched."""
    with counting(app) as calls:
        response = app.test_client().open("/sparql", **request_args)
    assert response.status_code == 200
    assert calls == []


def test_a_timeout_is_the_routes_503(slow_app: Flask, heavy_query: str) -> None:
    response = slow_app.test_client().get("/sparql", query_string={"query": heavy_query})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "limit" in response.get_data(as_text=True)


class TestCache:
    def test_a_miss_is_stored_as_sent_and_hit_before_flask(self, cached_app: Flask) -> None:
        client: FlaskClient = cached_app.test_client()
        cache = cached_app.extensions["kgpub"].cache
        query = {"query": ALL + " # front cache test"}
        packed = client.get("/sparql", query_string=query, headers={"Accept-Encoding": "gzip"})
        assert packed.headers["Content-Encoding"] == "gzip"
        hits = cache.hits
        again = client.get("/sparql", query_string=query, headers={"Accept-Encoding": "gzip"})
        assert cache.hits == hits + 1
        assert again.data == packed.data and again.data.startswith(b"\x1f\x8b")
        assert dict(again.headers) == dict(packed.headers)
        plain = client.get("/sparql", query_string=query)
        assert "Content-Encoding" not in plain.headers
        assert gzip.decompress(packed.data) == plain.data

    def test_the_key_is_the_requests(self, cached_app: Flask) -> None:
        """What the door stores under is what CacheFront looks up."""
        client = cached_app.test_client()
        cache = cached_app.extensions["kgpub"].cache
        identity = cached_app.extensions["kgpub"].store.identity
        client.get("/sparql?query=ASK%7B%7D%23key", headers={"Accept": "text/csv"})
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/sparql",
            "QUERY_STRING": "query=ASK%7B%7D%23key",
            "HTTP_ACCEPT": "text/csv",
            "HTTP_HOST": "localhost",
        }
        entry = cache.get(request_key(identity, environ))
        assert entry is not None and entry.body.strip() == b"true"
        headers = dict(entry.headers)
        assert headers["Content-Type"] == "text/csv; charset=utf-8"
        assert headers["Content-Length"] == str(len(entry.body))
        assert headers["Access-Control-Allow-Origin"] == "*"

    def test_posts_are_keyed_by_their_body(self, cached_app: Flask) -> None:
        client = cached_app.test_client()
        cache = cached_app.extensions["kgpub"].cache
        first = client.post("/sparql", data={"query": "ASK { ?s ?p ?o } # front post"})
        hits = cache.hits
        second = client.post("/sparql", data={"query": "ASK { ?s ?p ?o } # front post"})
        other = client.post("/sparql", data={"query": "ASK { ?s ?p <urn:x:none> } # front post"})
        assert cache.hits == hits + 1
        assert second.data == first.data
        assert b"false" in other.data

    def test_a_hit_costs_no_flask(self, cached_app: Flask) -> None:
        front = cached_app.wsgi_app
        while not isinstance(front, CacheFront):  # under the middlewares that wrap every answer
            front = front.app
        client = cached_app.test_client()
        client.get("/sparql", query_string={"query": "ASK {} # no flask"})
        inner, front.app = front.app, None  # a hit must not reach it
        try:
            response = client.get("/sparql", query_string={"query": "ASK {} # no flask"})
        finally:
            front.app = inner
        assert response.status_code == 200
