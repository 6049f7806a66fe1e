"""Every query form in every format the endpoint offers for it, through SPARQLWrapper, by GET, by
URL-encoded POST and by direct POST; each answer is parsed and held against the same query run by
rdflib over the fixture the server's store was loaded from. Also rdflib and requests on the
service description, dataset parameters and the page for browsers."""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterable, Mapping
from typing import Any
from xml.dom.minidom import Document, Element

import pytest
import rdflib
import requests
from kgpub.server.formats import OFFERED, Format, Kind
from rdflib.compare import graph_diff, isomorphic, to_isomorphic
from rdflib.term import BNode, Literal, Node, URIRef
from SPARQLWrapper import (
    CSV,
    JSON,
    JSONLD,
    N3,
    POST,
    POSTDIRECTLY,
    RDFXML,
    TSV,
    TURTLE,
    XML,
    SPARQLWrapper,
)

from tests.e2e.conftest import FIXTURE

pytestmark = [
    pytest.mark.e2e,
    # SPARQLWrapper builds its graphs with a class rdflib deprecates; not ours to change
    pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning"),
    # SPARQLWrapper warns when what came back is not what it asked for: that is a failure here
    pytest.mark.filterwarnings("error::RuntimeWarning"),
]

PREFIXES = (
    "PREFIX kg: <https://w3id.org/kgpub/id/>\n"
    "PREFIX kgo: <https://w3id.org/kgpub/ontology#>\n"
    "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
)
# IRIs, language-tagged, typed and plain literals, one with a newline, a tab and quotes, a blank
# node and an unbound variable: what each format must carry
SELECT = PREFIXES + (
    "SELECT ?s ?p ?o ?label WHERE {\n"
    "  ?s ?p ?o FILTER(?s IN (kg:president, kg:emergency-2024))\n"
    "  OPTIONAL { ?o rdfs:label ?label }\n"
    "}"
)
ASK_TRUE = PREFIXES + "ASK { ?event a kgo:Event ; kgo:locatedIn kg:ecuador }"
ASK_FALSE = PREFIXES + "ASK { kg:ecuador a kgo:Person }"
CONSTRUCT = PREFIXES + (
    "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o FILTER(?s IN (kg:president, kg:emergency-2024)) }"
)
DESCRIBE = PREFIXES + "DESCRIBE kg:emergency-2024"  # its triples and its blank node's
VARIABLES = ["s", "p", "o", "label"]

METHODS = ["GET", "POST", "POST-direct"]
# SPARQLWrapper's own names for our formats; the others it reaches by content negotiation alone
CONSTANTS = {
    "json": JSON,
    "xml": XML,
    "csv": CSV,
    "tsv": TSV,
    "turtle": TURTLE,
    "jsonld": JSONLD,
    "rdfxml": RDFXML,
}
RDFLIB_SYNTAX = {
    "turtle": "turtle",
    "ntriples": "nt",
    "jsonld": "json-ld",
    "rdfxml": "xml",
    "nquads": "nquads",
    "trig": "trig",
}


def offered(kind: Kind) -> list[Any]:
    return [pytest.param(fmt, id=fmt.name) for fmt in OFFERED[kind]]


@pytest.fixture(scope="module")
def local() -> rdflib.Dataset:
    """The server's data in rdflib, the default graph the union of all, as the endpoint has it."""
    dataset = rdflib.Dataset(default_union=True)
    dataset.parse(FIXTURE, format="trig")
    return dataset


def run(endpoint: str, query: str, fmt: Format, method: str) -> tuple[str, Any]:
    """The answer's media type and what SPARQLWrapper made of it."""
    sparql = SPARQLWrapper(endpoint)
    sparql.setQuery(query)
    if method != "GET":
        sparql.setMethod(POST)
    if method == "POST-direct":
        sparql.setRequestMethod(POSTDIRECTLY)
    constant = CONSTANTS.get(fmt.name)
    if constant is not None:
        sparql.setReturnFormat(constant)
        result = sparql.query()
        return media_type(result.info()["content-type"]), result.convert()
    sparql.setOnlyConneg(True)
    sparql.addCustomHttpHeader("Accept", fmt.media_type)
    result = sparql.query()
    with warnings.catch_warnings():
        # it hands back the bytes of a type it has no name for, saying so
        warnings.simplefilter("ignore", RuntimeWarning)
        return media_type(result.info()["content-type"]), result.convert()


def media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip()


# --- answers to solutions, as (variables, rows of terms) ---


def solutions_of(result: Any, fmt: Format) -> tuple[list[str], list[dict[str, Node]]]:
    if fmt.name == "json":
        rows = [{k: json_term(v) for k, v in b.items()} for b in result["results"]["bindings"]]
        return result["head"]["vars"], rows
    if fmt.name == "xml":
        return xml_solutions(result)
    parsed = rdflib.query.Result.parse(io.BytesIO(result), format=fmt.name)
    rows = [{str(k): v for k, v in binding.items()} for binding in parsed.bindings]
    return [str(v) for v in parsed.vars or []], rows


def json_term(value: Mapping[str, str]) -> Node:
    if value["type"] == "uri":
        return URIRef(value["value"])
    if value["type"] == "bnode":
        return BNode(value["value"])
    return Literal(value["value"], lang=value.get("xml:lang"), datatype=value.get("datatype"))


def xml_solutions(document: Document) -> tuple[list[str], list[dict[str, Node]]]:
    variables = [v.getAttribute("name") for v in document.getElementsByTagName("variable")]
    rows = []
    for result in document.getElementsByTagName("result"):
        row = {}
        for binding in result.getElementsByTagName("binding"):
            term = next(n for n in binding.childNodes if n.nodeType == n.ELEMENT_NODE)
            row[binding.getAttribute("name")] = xml_term(term)
        rows.append(row)
    return variables, rows


def xml_term(element: Element) -> Node:
    text = "".join(n.data for n in element.childNodes if n.nodeType == n.TEXT_NODE)
    if element.tagName == "uri":
        return URIRef(text)
    if element.tagName == "bnode":
        return BNode(text)
    return Literal(
        text,
        lang=element.getAttribute("xml:lang") or None,
        datatype=element.getAttribute("datatype") or None,
    )


def comparable(rows: Iterable[Mapping[str, Node]], lossy: bool) -> list[tuple[str, ...]]:
    """Rows in a form two answers can be compared in: blank nodes only as blank nodes, terms as
    N-Triples (CSV keeps no more than the text of each term)."""

    def show(term: Node | None) -> str:
        if term is None:
            return ""
        if isinstance(term, BNode):
            return "_:"
        return str(term) if lossy else term.n3()

    return sorted(tuple(show(row.get(name)) for name in VARIABLES) for row in rows)


# --- answers to graph queries ---


def graph_of(result: Any, fmt: Format) -> rdflib.Graph:
    graph = rdflib.Graph()
    if isinstance(result, rdflib.Graph):  # RDF/XML and JSON-LD: SPARQLWrapper parsed them
        for triple in result.triples((None, None, None)):
            graph.add(triple)
        return graph
    dataset = rdflib.Dataset()
    dataset.parse(data=result, format=RDFLIB_SYNTAX[fmt.name])
    for subject, predicate, obj, _ in dataset.quads((None, None, None, None)):
        graph.add((subject, predicate, obj))
    return graph


def assert_same_graph(got: rdflib.Graph, expected: rdflib.Graph) -> None:
    if isomorphic(got, expected):
        return
    _, missing, extra = graph_diff(to_isomorphic(expected), to_isomorphic(got))
    raise AssertionError(
        f"missing:\n{missing.serialize(format='nt')}\nunexpected:\n{extra.serialize(format='nt')}"
    )


# --- the matrix ---


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fmt", offered(Kind.SOLUTIONS))
def test_select(endpoint: str, local: rdflib.Dataset, fmt: Format, method: str) -> None:
    served, result = run(endpoint, SELECT, fmt, method)
    assert served == fmt.media_type
    variables, rows = solutions_of(result, fmt)
    assert variables == VARIABLES
    expected = local.query(SELECT).bindings
    lossy = fmt.name == "csv"
    assert comparable(rows, lossy) == comparable(
        [{str(k): v for k, v in b.items()} for b in expected], lossy
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fmt", offered(Kind.BOOLEAN))
def test_ask(endpoint: str, local: rdflib.Dataset, fmt: Format, method: str) -> None:
    for query in (ASK_TRUE, ASK_FALSE):
        served, result = run(endpoint, query, fmt, method)
        assert served == fmt.media_type
        if fmt.name == "json":
            answer = result["boolean"]
        elif fmt.name == "xml":
            answer = {"true": True, "false": False}[
                result.getElementsByTagName("boolean")[0].firstChild.data
            ]
        else:  # CSV and TSV: the word alone
            answer = {b"true": True, b"false": False}[result.strip()]
        assert answer is local.query(query).askAnswer


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fmt", offered(Kind.GRAPH))
@pytest.mark.parametrize(
    "query", [pytest.param(CONSTRUCT, id="CONSTRUCT"), pytest.param(DESCRIBE, id="DESCRIBE")]
)
def test_graph(endpoint: str, local: rdflib.Dataset, query: str, fmt: Format, method: str) -> None:
    served, result = run(endpoint, query, fmt, method)
    assert served == fmt.media_type
    expected = local.query(query).graph
    assert expected is not None and len(expected) > 5
    assert_same_graph(graph_of(result, fmt), expected)


@pytest.mark.parametrize(
    ("constant", "served"), [(N3, "text/turtle"), (XML, "application/rdf+xml")]
)
def test_graph_by_older_names(endpoint: str, constant: str, served: str) -> None:
    """Scripts ask for graphs as N3 or XML too; they get Turtle and RDF/XML."""
    sparql = SPARQLWrapper(endpoint)
    sparql.setQuery(DESCRIBE)
    sparql.setReturnFormat(constant)
    result = sparql.query()
    assert media_type(result.info()["content-type"]) == served
    graph = result.convert()
    if not isinstance(graph, rdflib.Graph):
        graph = rdflib.Graph().parse(data=graph, format="turtle")
    president = URIRef("https://w3id.org/kgpub/id/president")
    assert (None, URIRef("https://w3id.org/kgpub/ontology#participant"), president) in graph


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
