"""``/store`` and ``/service``: the Graph Store Protocol for reading, and writes that change
nothing."""

from __future__ import annotations

import time

import pytest
import rdflib
from flask.testing import FlaskClient

K = "https://w3id.org/kgpub/"
F2 = K + "fact/demo/f2"  # three resources, no blank node
ONTOLOGY = K + "graph/ontology"
# a triple F2 holds, as N-Triples
HELD = (
    b"<https://w3id.org/kgpub/id/ecuador> <http://www.w3.org/2000/01/rdf-schema#label> "
    b'"Ecuador"@en .\n'
)


def graph_of(response) -> rdflib.Graph:
    assert response.status_code == 200, response.get_data(as_text=True)
    return rdflib.Graph().parse(data=response.data, format=response.mimetype)


def assert_refused(response, status: int, word: str) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == "text/plain" and word in text and "Traceback" not in text


@pytest.mark.parametrize("path", ["/store", "/service"])
def test_a_named_graph_in_the_format_asked(client: FlaskClient, path: str) -> None:
    turtle = client.get(path, query_string={"graph": F2})
    assert turtle.mimetype == "text/turtle"
    graph = graph_of(turtle)
    assert (
        rdflib.URIRef(K + "id/ecuador"),
        rdflib.RDFS.label,
        rdflib.Literal("Ecuador", lang="en"),
    ) in graph
    assert len(graph) == 6
    nt = client.get(path, query_string={"graph": F2}, headers={"Accept": "application/n-triples"})
    assert nt.mimetype == "application/n-triples" and len(graph_of(nt)) == 6
    assert client.get(path, query_string={"graph": F2, "format": "jsonld"}).mimetype == (
        "application/ld+json"
    )


def test_the_default_graph_is_the_union(client: FlaskClient) -> None:
    union = graph_of(client.get("/store?default", headers={"Accept": "application/n-triples"}))
    named = graph_of(client.get("/store", query_string={"graph": ONTOLOGY}))
    assert len(named) > 0 and all(triple in union for triple in named)


def test_a_graph_is_whole_whatever_the_row_cap(capped_app) -> None:
    """A client of the protocol asks for a graph: one cut at the row cap would pass for the whole
    graph. Reads are not capped; the endpoint's answers still are."""
    client = capped_app.test_client()
    named = client.get("/store", query_string={"graph": F2})
    assert named.headers["X-Result-Truncated"] == "false"
    assert len(graph_of(named)) == 6  # more than the cap of 3
    union = client.get("/store?default", headers={"Accept": "application/n-triples"})
    assert union.headers["X-Result-Truncated"] == "false" and b"# truncated" not in union.data
    everything = "SELECT (COUNT(*) AS ?n) { SELECT DISTINCT ?s ?p ?o { ?s ?p ?o } }"
    counted = client.get("/sparql", query_string={"query": everything})
    assert len(graph_of(union)) == int(counted.json["results"]["bindings"][0]["n"]["value"]) > 3
    capped = client.get("/sparql", query_string={"query": "CONSTRUCT WHERE { ?s ?p ?o }"})
    assert capped.headers["X-Result-Truncated"] == "true"


@pytest.mark.parametrize(
    ("query", "status", "word"),
    [
        ("", 400, "?graph=IRI"),
        ("default&graph=" + F2, 400, "one graph"),
        (f"graph={F2}&graph={ONTOLOGY}", 400, "one graph"),
        ("graph=not%20an%20iri", 400, "not an IRI"),
        ("graph=http://example.org/none", 404, "no graph"),
        (f"graph={F2}&format=png", 406, "text/turtle"),
    ],
)
def test_bad_graph_names(client: FlaskClient, query: str, status: int, word: str) -> None:
    assert_refused(client.get("/store?" + query), status, word)


def test_a_write_that_changes_nothing_is_done(client: FlaskClient) -> None:
    held = client.get("/store", query_string={"graph": F2}).data
    put = client.put("/store", query_string={"graph": F2}, data=held, content_type="text/turtle")
    assert put.status_code == 204 and put.data == b""
    post = client.post(
        "/service", query_string={"graph": F2}, data=HELD, content_type="application/n-triples"
    )
    assert post.status_code == 204
    assert client.get("/store", query_string={"graph": F2}).data == held


def test_a_graph_with_blank_nodes_is_compared_as_a_graph(client: FlaskClient) -> None:
    f1 = K + "fact/demo/f1"  # holds a blank node
    held = client.get(
        "/store", query_string={"graph": f1}, headers={"Accept": "application/n-triples"}
    )
    assert b"_:" in held.data
    # the same graph with its blank node under another label
    relabelled = held.data.replace(b"_:", b"_:other")
    put = client.put(
        "/store", query_string={"graph": f1}, data=relabelled, content_type="application/n-triples"
    )
    assert put.status_code == 204
    changed = relabelled.replace(b"a blank node", b"another label")
    put = client.put(
        "/store", query_string={"graph": f1}, data=changed, content_type="application/n-triples"
    )
    assert_refused(put, 403, "read-only")


def test_a_large_write_is_refused_quickly(client: FlaskClient) -> None:
    body = b"".join(
        b"<http://example.org/s%d> <http://example.org/p> <http://example.org/o> .\n" % n
        for n in range(12_000)
    )
    started = time.perf_counter()
    put = client.put(
        "/store", query_string={"graph": F2}, data=body, content_type="application/n-triples"
    )
    assert_refused(put, 403, "read-only")
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
    ("method", "body", "content_type"),
    [
        (
            "PUT",
            HELD,  # all of it, instead of the graph's six triples
            "application/n-triples",
        ),
        (
            "POST",
            b"<http://example.org/a> <http://example.org/b> <http://example.org/c> .\n",
            "application/n-triples",
        ),
        (
            "POST",
            b'_:x <http://www.w3.org/2000/01/rdf-schema#label> "Ecuador"@en .\n',
            "application/n-triples",
        ),
        ("DELETE", b"", None),
    ],
)
def test_a_write_that_would_change_the_graph_is_refused(
    client: FlaskClient, method: str, body: bytes, content_type: str | None
) -> None:
    held = client.get("/store", query_string={"graph": F2}).data
    response = client.open(
        "/store", method=method, query_string={"graph": F2}, data=body, content_type=content_type
    )
    assert_refused(response, 403, "read-only")
    assert client.get("/store", query_string={"graph": F2}).data == held


@pytest.mark.parametrize(
    ("body", "content_type", "status", "word"),
    [
        (b"<a> <b> <c> .", "application/pdf", 415, "text/turtle"),
        (b"<a> <b> <c> .", None, 415, "(none)"),
        (b"<http://a> <http://b>", "text/turtle", 400, "does not parse"),
    ],
)
def test_a_payload_that_is_not_rdf(
    client: FlaskClient, body: bytes, content_type: str | None, status: int, word: str
) -> None:
    response = client.put(
        "/store", query_string={"graph": F2}, data=body, content_type=content_type
    )
    assert_refused(response, status, word)
