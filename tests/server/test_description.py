"""The SPARQL 1.1 Service Description at /sparql, for RDF clients."""

from __future__ import annotations

import pytest
import rdflib
from flask.testing import FlaskClient

SD = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
VOID = rdflib.Namespace("http://rdfs.org/ns/void#")
FORMATS = rdflib.Namespace("http://www.w3.org/ns/formats/")


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
