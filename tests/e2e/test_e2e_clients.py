"""Every query form and format through real clients: SPARQLWrapper, rdflib, requests."""

from __future__ import annotations

import json

import pytest
import rdflib
import requests
from SPARQLWrapper import CSV, JSON, JSONLD, N3, POST, POSTDIRECTLY, TSV, TURTLE, XML, SPARQLWrapper

pytestmark = [
    pytest.mark.e2e,
    # SPARQLWrapper builds its graphs with a class rdflib deprecates; not ours to change
    pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning"),
]

PREFIXES = "PREFIX kgo: <https://w3id.org/kgpub/ontology#>\n"
SELECT = PREFIXES + "SELECT ?event ?place WHERE { ?event kgo:locatedIn ?place }"
ASK = PREFIXES + "ASK { ?event a kgo:Event }"
CONSTRUCT = PREFIXES + "CONSTRUCT { ?s ?p ?o } WHERE { ?s a kgo:Person ; ?p ?o }"
DESCRIBE = "DESCRIBE <https://w3id.org/kgpub/id/ecuador>"
EVENT = "https://w3id.org/kgpub/id/emergency-2024"
PRESIDENT = rdflib.URIRef("https://w3id.org/kgpub/id/president")
ECUADOR = rdflib.URIRef("https://w3id.org/kgpub/id/ecuador")


def wrapper(endpoint: str, query: str, fmt: str, method: str | None = None) -> SPARQLWrapper:
    sparql = SPARQLWrapper(endpoint)
    sparql.setQuery(query)
    sparql.setReturnFormat(fmt)
    if method == "form":
        sparql.setMethod(POST)
    elif method == "direct":
        sparql.setMethod(POST)
        sparql.setRequestMethod(POSTDIRECTLY)
    return sparql


@pytest.mark.parametrize("method", [None, "form", "direct"])
def test_select_json(endpoint: str, method: str | None) -> None:
    result = wrapper(endpoint, SELECT, JSON, method).queryAndConvert()
    assert result["head"]["vars"] == ["event", "place"]
    assert result["results"]["bindings"][0]["event"]["value"] == EVENT


def test_select_xml(endpoint: str) -> None:
    document = wrapper(endpoint, SELECT, XML).queryAndConvert()
    uris = [node.firstChild.data for node in document.getElementsByTagName("uri")]
    assert EVENT in uris


@pytest.mark.parametrize("fmt", [CSV, TSV])
def test_select_tables(endpoint: str, fmt: str) -> None:
    text = wrapper(endpoint, SELECT, fmt).queryAndConvert().decode()
    header, row = text.splitlines()[:2]
    assert header.replace("?", "").replace("\t", ",") == "event,place"
    assert EVENT in row


def test_ask(endpoint: str) -> None:
    assert wrapper(endpoint, ASK, JSON).queryAndConvert()["boolean"] is True
    document = wrapper(endpoint, ASK, XML).queryAndConvert()
    assert document.getElementsByTagName("boolean")[0].firstChild.data == "true"


@pytest.mark.parametrize("fmt", [XML, TURTLE, N3, JSONLD])
@pytest.mark.parametrize(("query", "subject"), [(CONSTRUCT, PRESIDENT), (DESCRIBE, ECUADOR)])
def test_graph_queries(endpoint: str, fmt: str, query: str, subject: rdflib.URIRef) -> None:
    result = wrapper(endpoint, query, fmt).queryAndConvert()
    graph = (
        result
        if isinstance(result, rdflib.Graph)
        else rdflib.Graph().parse(
            data=result, format={TURTLE: "turtle", N3: "turtle", JSONLD: "json-ld"}[fmt]
        )
    )
    assert (subject, rdflib.RDFS.label, None) in graph


@pytest.mark.parametrize(
    ("media_type", "rdflib_format"),
    [
        ("text/turtle", "turtle"),
        ("application/n-triples", "nt"),
        ("application/ld+json", "json-ld"),
        ("application/rdf+xml", "xml"),
        ("application/n-quads", "nquads"),
        ("application/trig", "trig"),
    ],
)
def test_every_graph_format_parses(endpoint: str, media_type: str, rdflib_format: str) -> None:
    response = requests.get(
        endpoint, params={"query": CONSTRUCT}, headers={"Accept": media_type}, timeout=10
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == media_type
    dataset = rdflib.Dataset()
    dataset.parse(data=response.content, format=rdflib_format)
    labels = {str(o) for _, _, o, _ in dataset.quads((PRESIDENT, rdflib.RDFS.label, None, None))}
    assert labels == {"the president"}


def test_service_description_parses(endpoint: str) -> None:
    graph = rdflib.Graph().parse(endpoint, format="turtle")
    sd = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
    assert (None, sd.endpoint, rdflib.URIRef(endpoint)) in graph


def test_dataset_parameters(endpoint: str) -> None:
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    response = requests.get(
        endpoint,
        params={"query": count, "default-graph-uri": "https://w3id.org/kgpub/graph/ontology"},
        timeout=10,
    )
    assert json.loads(response.content)["results"]["bindings"][0]["n"]["value"] == "10"


def test_query_page_for_browsers(server) -> None:
    response = requests.get(
        server.url + "/sparql", headers={"Accept": "text/html,*/*;q=0.8"}, timeout=10
    )
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<form" in response.text
