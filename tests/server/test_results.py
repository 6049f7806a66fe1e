"""Formats are chosen by Accept or ?format= from the result's kind, never from the query text."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
import rdflib
from flask.testing import FlaskClient

SELECT = (
    "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
    "SELECT ?s ?label WHERE { ?s rdfs:label ?label } ORDER BY ?s ?label"
)
ASK = "ASK { ?s ?p ?o }"
CONSTRUCT = (
    "PREFIX kgo: <https://w3id.org/kgpub/ontology#> "
    "CONSTRUCT { ?s ?p ?o } WHERE { ?s a kgo:Person ; ?p ?o }"
)
DESCRIBE = "DESCRIBE <https://w3id.org/kgpub/id/ecuador>"
SRX = "{http://www.w3.org/2005/sparql-results#}"


def get(client: FlaskClient, query: str, accept: str | None = None, **params: str):
    headers = {"Accept": accept} if accept is not None else {}
    return client.get("/sparql", query_string={"query": query, **params}, headers=headers)


def test_select_defaults_to_sparql_json(client: FlaskClient) -> None:
    response = get(client, SELECT)
    assert response.mimetype == "application/sparql-results+json"
    document = json.loads(response.data)
    assert document["head"]["vars"] == ["s", "label"]
    labels = {b["label"]["value"] for b in document["results"]["bindings"]}
    assert {"Ecuador", "estado de excepción", "Event"} <= labels


@pytest.mark.parametrize("how", ["accept", "format", "output"])
@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("json", "application/sparql-results+json"),
        ("xml", "application/sparql-results+xml"),
        ("csv", "text/csv"),
        ("tsv", "text/tab-separated-values"),
    ],
)
def test_select_formats(client: FlaskClient, how: str, name: str, media_type: str) -> None:
    if how == "accept":
        response = get(client, SELECT, media_type)
    else:
        response = get(client, SELECT, "text/turtle", **{how: name})  # the parameter wins
    assert response.status_code == 200, response.data
    assert response.mimetype == media_type
    text = response.get_data(as_text=True)
    if name == "json":
        assert len(json.loads(text)["results"]["bindings"]) > 5
    elif name == "xml":
        assert len(ET.fromstring(text).findall(f"{SRX}results/{SRX}result")) > 5
    elif name == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["s", "label"] and len(rows) > 5
    else:
        assert text.splitlines()[0] == "?s\t?label"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, b'{"head":{},"boolean":true}'),
        ("application/sparql-results+xml", b"<boolean>true</boolean>"),
        ("text/csv", b"true"),
        ("text/tab-separated-values", b"true"),
    ],
)
def test_ask_formats(client: FlaskClient, accept: str | None, expected: bytes) -> None:
    response = get(client, ASK, accept)
    assert response.status_code == 200
    assert expected in response.data


GRAPH_FORMATS = [
    ("text/turtle", "ttl", "turtle"),
    ("application/n-triples", "nt", "nt"),
    ("application/ld+json", "jsonld", "json-ld"),
    ("application/rdf+xml", "rdfxml", "xml"),
    ("application/n-quads", "nq", "nquads"),
    ("application/trig", "trig", "trig"),
]


@pytest.mark.parametrize(("media_type", "short", "rdflib_format"), GRAPH_FORMATS)
@pytest.mark.parametrize("query", [CONSTRUCT, DESCRIBE])
def test_graph_formats_parse(
    client: FlaskClient, query: str, media_type: str, short: str, rdflib_format: str
) -> None:
    for response in (get(client, query, media_type), get(client, query, format=short)):
        assert response.status_code == 200, response.data
        assert response.mimetype == media_type
        graph = rdflib.Dataset()
        graph.parse(data=response.data, format=rdflib_format)
        assert len(graph) > 0 or sum(len(g) for g in graph.graphs()) > 0
        labels = {str(o) for o in graph.objects(None, rdflib.RDFS.label)} | {
            str(o) for _, _, o, _ in graph.quads((None, rdflib.RDFS.label, None, None))
        }
        assert labels & {"the president", "Ecuador"}


def test_graph_defaults_to_turtle_with_our_prefixes(client: FlaskClient) -> None:
    response = get(client, CONSTRUCT)
    assert response.mimetype == "text/turtle"
    assert b"@prefix kgo: <https://w3id.org/kgpub/ontology#>" in response.data
    graph = rdflib.Graph().parse(data=response.data, format="turtle")
    comment = next(graph.objects(None, rdflib.RDFS.comment))
    assert str(comment) == 'a line\nand a "quoted" one\twith a tab'


def test_kind_decides_not_text(client: FlaskClient) -> None:
    """The same Accept header gives each kind its own format; 'json' is JSON-LD for graphs."""
    accept = "application/json"
    assert get(client, SELECT, accept).mimetype == "application/sparql-results+json"
    assert get(client, CONSTRUCT, accept).mimetype == "application/ld+json"
    assert get(client, CONSTRUCT, format="json").mimetype == "application/ld+json"
    assert get(client, CONSTRUCT, format="xml").mimetype == "application/rdf+xml"
    # a query whose text says CONSTRUCT only in a comment is still a SELECT
    tricky = "# CONSTRUCT { ?s ?p ?o }\nSELECT * { ?s ?p ?o } LIMIT 1"
    assert get(client, tricky).mimetype == "application/sparql-results+json"


def test_not_acceptable_lists_offers(client: FlaskClient) -> None:
    response = get(client, SELECT, "image/png")
    assert response.status_code == 406
    assert b"application/sparql-results+json" in response.data
    # acceptable for graphs only: a SELECT cannot be written in it
    response = get(client, SELECT, "text/turtle")
    assert response.status_code == 406
    text = response.get_data(as_text=True)
    assert "SELECT" in text and "text/csv" in text
    # a format= name no answer has is a mistake in the request, told with the names there are
    response = get(client, SELECT, format="png")
    assert response.status_code == 400
    assert "'png' names no format" in response.get_data(as_text=True)


def test_sparqlwrapper_style_parameters(client: FlaskClient) -> None:
    response = client.get(
        "/sparql?query=ASK%7B%7D&format=tsv&format=text/tab-separated-values&output=tsv&results=tsv"
    )
    assert response.mimetype == "text/tab-separated-values"


def test_html_only_when_preferred(client: FlaskClient) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert get(client, SELECT, browser).mimetype == "text/html"
    assert get(client, SELECT, "*/*").mimetype == "application/sparql-results+json"
    assert get(client, SELECT, "text/*").mimetype != "text/html"
    assert get(client, SELECT, "text/html;q=0.5, */*").mimetype != "text/html"
