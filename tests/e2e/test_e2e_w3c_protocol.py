"""The W3C SPARQL 1.1 Protocol test suite's query tests and the SPARQL 1.2 Protocol additions,
against a real ``kgpub serve`` whose store ``kgpub load`` built from fixtures/w3c-protocol.trig.

Each case is named after its W3C test (w3c/rdf-tests: sparql/sparql11/protocol/manifest.ttl,
sparql/sparql12/protocol/manifest.ttl, and the tests sparql12-protocol-test.md adds). The
manifests' paths start with ``/sparql/``; as the W3C runners do, the request goes to the endpoint
(``/sparql``) with the same parameters, plus the runner's ``clientRequestId=<test name>`` and
``Authorization: Bearer test``, neither of which may change an outcome.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest
import rdflib

from tests.e2e.conftest import Server, start_server
from tests.e2e.test_e2e_http import request as http_request

pytestmark = pytest.mark.e2e

FIXTURE = Path(__file__).parent / "fixtures" / "w3c-protocol.trig"
FORM = "application/x-www-form-urlencoded"
QUERY = "application/sparql-query"
UPDATE = "application/sparql-update"
XML = "application/sparql-results+xml"
JSON = "application/sparql-results+json"
BOOLEAN = frozenset((XML, JSON))
TABULAR = BOOLEAN | {"text/csv", "text/tab-separated-values"}
RDF = None  # a graph: any RDF media type rdflib parses
RESULTS_NS = "{http://www.w3.org/2005/sparql-results#}"
DOCUMENT = "http://xmlns.com/foaf/0.1/Document"
SERVICE_BASE = "https://w3id.org/kgpub/"  # the published base IRI, the service's own base

# the graphs of the tests' data; data0 is in no test's dataset: an empty graph
D0, D1, D2, D3 = (f"http://kasei.us/2009/09/sparql/data/data{n}.rdf" for n in range(4))
DG0, DG1, DG2, DG3 = (("default-graph-uri", g) for g in (D0, D1, D2, D3))
NG1, NG2 = ("named-graph-uri", D1), ("named-graph-uri", D2)
UG1, UG2 = ("using-graph-uri", D1), ("using-graph-uri", D2)
UNG1, UNG2 = ("using-named-graph-uri", D1), ("using-named-graph-uri", D2)
V11, V12 = ("version", "1.1"), ("version", "1.2")
QUERY_12, UPDATE_12 = f"{QUERY}; version=1.2", f"{UPDATE}; version=1.2"
EXAMPLE = "http://example.org/"

BOTH_TYPED = f"ASK {{ <{D1}> a ?type . <{D2}> a ?type . }}"
BOTH_NAMED = f"GRAPH ?g1 {{ <{D1}> a ?type }} GRAPH ?g2 {{ <{D2}> a ?type }}"
# true only when the default graph is data1 alone (the union of all graphs holds data2 too)
ONLY_DATA1 = f"ASK {{ <{D1}> a ?type FILTER NOT EXISTS {{ <{D2}> a ?other }} }}"
FULL = f"ASK {{ <{D3}> a ?type {BOTH_NAMED} }}"
FROM_DATA3 = f"ASK FROM <{D3}> {{ {BOTH_NAMED} }}"
# the data, as the patterns of a query or an INSERT DATA
DATA = " ".join(f"GRAPH <{g}> {{ <{g}> a <{DOCUMENT}> }}" for g in (D1, D2, D3))
BIND_TEST = "SELECT ?x WHERE { BIND(<test> AS ?x) }"
GIVEN_NAME = "<http://xmlns.com/foaf/0.1/givenName>"
RENAME_BILL = (
    f"WITH <http://example/addresses> DELETE {{ ?person {GIVEN_NAME} 'Bill' }} "
    f"INSERT {{ ?person {GIVEN_NAME} 'William' }} WHERE {{ ?person {GIVEN_NAME} 'Bill' }}"
)
BASE_TEST = "http://example.org/protocol-base-test/"
INSERT_RELATIVE = (
    f"CLEAR GRAPH <{BASE_TEST}> ; INSERT DATA {{ GRAPH <{BASE_TEST}> "
    "{ <http://example.org/s> <http://example.org/p> <test> } }"
)


@dataclass(frozen=True)
class Req:
    method: str
    params: str = ""  # the URL's query string
    body: bytes | None = None
    content_type: str | None = None
    accept: str | None = None


def params(*pairs: tuple[str, str]) -> str:
    return urlencode(pairs, quote_via=quote)


def q(text: str) -> tuple[str, str]:
    return ("query", text)


def u(text: str) -> tuple[str, str]:
    return ("update", text)


def get(*pairs: tuple[str, str], accept: str | None = None) -> Req:
    return Req("GET", params(*pairs), accept=accept)


def post(body: str | bytes, *url: tuple[str, str], type: str | None = QUERY, **kw: str) -> Req:
    """A direct POST (``type=None``: without a Content-Type); ``url``: the URL's parameters."""
    return Req("POST", params(*url), body.encode() if isinstance(body, str) else body, type, **kw)


def form(*pairs: tuple[str, str], url: tuple[tuple[str, str], ...] = ()) -> Req:
    return Req("POST", params(*url), params(*pairs).encode(), FORM)


def copying(slug: str, *url: tuple[str, str]) -> tuple[Req, str]:
    """An update of the manifest's shape (drop all, reload, copy the documents into a new graph)
    and the graph it would write."""
    target = f"http://example.org/protocol-{slug}-test/"
    update = (
        f"DROP ALL ; INSERT DATA {{ {DATA} }} ; INSERT {{ GRAPH <{target}> "
        f"{{ ?s a <http://purl.org/dc/terms/BibliographicResource> }} }} "
        f"WHERE {{ ?s a <{DOCUMENT}> }}"
    )
    return post(update, *url, type=UPDATE), target


@pytest.fixture(scope="module")
def w3c_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One embedded server on a store built by ``kgpub load`` from the protocol tests' data."""
    workdir = tmp_path_factory.mktemp("w3c-protocol")
    (workdir / "ontology" / "cq").mkdir(parents=True)
    store = workdir / "store"
    command = [sys.executable, "-m", "kgpub.cli", "load", "--store", str(store), str(FIXTURE)]
    subprocess.run(command, check=True, cwd=workdir, capture_output=True, timeout=120)
    server = start_server(workdir, store)
    yield server
    server.stop()


@pytest.fixture()
def name(request: pytest.FixtureRequest) -> str:
    """The W3C test's name: the case's id, sent as the runner's ``clientRequestId``."""
    return request.node.callspec.id


def send(server: Server, name: str, req: Req, path: str = "/sparql") -> tuple[int, dict, bytes]:
    target = f"{path}?{req.params}{'&' if req.params else ''}clientRequestId={quote(name)}"
    headers = {"Authorization": "Bearer test"}
    if req.content_type is not None:
        headers["Content-Type"] = req.content_type
    if req.accept is not None:
        headers["Accept"] = req.accept
    return http_request(server.url, req.method, target, req.body, headers)


def media_type(headers: dict) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def boolean(media: str, body: bytes) -> bool:
    if media == XML:
        return ET.fromstring(body).find(f"{RESULTS_NS}boolean").text.strip() == "true"
    return json.loads(body)["boolean"]


def solutions(media: str, body: bytes) -> list[dict[str, str]]:
    if media == JSON:
        rows = json.loads(body)["results"]["bindings"]
        return [{var: term["value"] for var, term in row.items()} for row in rows]
    if media == XML:
        results = ET.fromstring(body).iter(f"{RESULTS_NS}result")
        return [{b.get("name"): "".join(b.itertext()).strip() for b in r} for r in results]
    table = list(csv.reader(io.StringIO(body.decode()), delimiter="," if "csv" in media else "\t"))
    return [dict(zip((v.lstrip("?") for v in table[0]), row, strict=True)) for row in table[1:]]


def ask(server: Server, name: str, query: str) -> bool:
    status, headers, body = send(server, name, get(q(query), accept=JSON))
    assert status == 200, body
    return boolean(media_type(headers), body)


# name: (request, the media types the test accepts or RDF, the answer: a boolean (None: any),
# the solutions, or the number of triples)
QUERIES = {
    "query_post_form": (form(q("ASK {}"), url=(DG0,)), BOOLEAN, True),
    "query_dataset_default_graphs_get": (get(q(BOTH_TYPED), DG1, DG2), BOOLEAN, True),
    "query_dataset_default_graphs_post": (post(BOTH_TYPED, DG1, DG2), BOOLEAN, True),
    "query_dataset_named_graphs_post": (post(f"ASK {{ {BOTH_NAMED} }}", NG1, NG2), BOOLEAN, True),
    "query_dataset_named_graphs_get": (get(q(f"ASK {{ {BOTH_NAMED} }}"), NG1, NG2), BOOLEAN, True),
    "query_dataset_full": (post(FULL, DG3, NG1, NG2), BOOLEAN, True),
    # The manifest percent-encodes the "&" between its two named-graph-uri values (one parameter,
    # naming a graph no store holds); sent as the two parameters the test means (rdf-tests#78):
    # the protocol's dataset replaces the query's FROM, and both GRAPH patterns match.
    "query_multiple_dataset": (post(FROM_DATA3, NG1, NG2), BOOLEAN, True),
    "query_get": (get(q("ASK {}"), DG0), BOOLEAN, True),
    "query_content_type_select": (post("SELECT (1 AS ?value) {}", DG0), TABULAR, [{"value": "1"}]),
    "query_content_type_ask": (post("ASK {}", DG0), BOOLEAN, None),
    "query_content_type_describe": (post("DESCRIBE <http://example.org/>", DG0), RDF, 0),
    "query_content_type_construct": (post("CONSTRUCT { <s> <p> 1 } WHERE {}", DG0), RDF, 1),
    "query_post_direct": (post("ASK {}"), BOOLEAN, True),
    # SPARQL 1.2: the version announcement
    "query_get_with_version": (get(q("ASK {}"), V12, DG1), BOOLEAN, True),
    "query_post_direct_with_version_param": (post("ASK {}", DG1, type=QUERY_12), BOOLEAN, True),
    # added by sparql12-protocol-test.md
    "query_content_negotiation_xml": (get(q("ASK {}"), accept=XML), {XML}, True),
    "query_content_negotiation_json": (get(q("ASK {}"), accept=JSON), {JSON}, True),
    "query_post_form_dataset": (form(q(ONLY_DATA1), DG1), BOOLEAN, True),
    "query_dataset_default_graph": (get(q(ONLY_DATA1), DG1), BOOLEAN, True),
    # relative IRIs resolve against the service's base, or the query's own BASE
    "query_service_base_uri": (
        post(BIND_TEST, accept=JSON),
        {JSON},
        [{"x": SERVICE_BASE + "test"}],
    ),
    "query_base_uri": (
        post(f"BASE <{EXAMPLE}> {BIND_TEST}", accept=JSON),
        {JSON},
        [{"x": EXAMPLE + "test"}],
    ),
}


@pytest.mark.parametrize(("req", "types", "answer"), list(QUERIES.values()), ids=list(QUERIES))
def test_query(w3c_server: Server, name: str, req: Req, types, answer) -> None:
    status, headers, body = send(w3c_server, name, req)
    assert 200 <= status < 300, (status, body)
    media = media_type(headers)
    if types is RDF:
        graph = rdflib.Graph().parse(data=body, format=media)  # fails on a body that is not RDF
        assert len(graph) == answer, body
        return
    assert media in types
    if isinstance(answer, list):
        assert solutions(media, body) == answer
    else:
        value = boolean(media, body)
        assert isinstance(value, bool)
        if answer is not None:
            assert value is answer


# name: (request, the status: exact, or None for any 4xx)
BAD = {
    "bad_query_method": (Req("PUT", params(q("ASK {}"), DG0), b"", FORM), None),
    "bad_multiple_queries": (get(q("ASK {}"), q("SELECT * {}")), None),
    "bad_query_wrong_media_type": (post("ASK {}", type="text/plain"), None),
    "bad_query_missing_form_type": (post("query=ASK%20%7B%7D", type=None), None),
    "bad_query_missing_direct_type": (post("ASK {}", type=None), None),
    "bad_query_non_utf8": (post("ASK {}".encode("utf-16"), type=f"{QUERY}; charset=UTF-16"), None),
    "bad_query_syntax": (get(q("ASK {")), None),
    "bad_update_get": (get(u("CLEAR ALL")), None),
    "bad_multiple_updates": (form(u("CLEAR NAMED"), u("CLEAR DEFAULT")), None),
    "bad_update_wrong_media_type": (post("CLEAR NAMED", type="text/plain"), None),
    "bad_update_missing_form_type": (post("update=CLEAR%20NAMED", type=None), None),
    "bad_update_non_utf8": (
        post("CLEAR NAMED".encode("utf-16"), type=f"{UPDATE}; charset=UTF-16"),
        None,
    ),
    "bad_update_syntax": (form(u("CLEAR XYZ")), None),
    "bad_update_dataset_conflict": (
        post(RENAME_BILL, ("using-named-graph-uri", "http://example/people"), type=UPDATE),
        None,
    ),
    # SPARQL 1.2: the version announcement (the last two are ours)
    "bad_query_multiple_versions": (get(q("ASK {}"), V11, V12, DG1), 400),
    "bad_update_multiple_versions": (form(u("CLEAR ALL"), V11, V12), None),
    "bad_query_unknown_version": (get(q("ASK {}"), ("version", "9.9")), 400),
    "bad_query_multiple_versions_form": (form(q("ASK {}"), V11, V12), 400),
    # added by sparql12-protocol-test.md
    "bad_query_get_with_body": (Req("GET", params(q("ASK {}")), b"ASK {}", QUERY), None),
    "bad_multiple_queries_form": (form(q("ASK {}"), q("SELECT * {}")), None),
}


@pytest.mark.parametrize(("req", "expected"), list(BAD.values()), ids=list(BAD))
def test_bad_request(w3c_server: Server, name: str, req: Req, expected: int | None) -> None:
    status, headers, body = send(w3c_server, name, req)
    if expected is None:
        assert 400 <= status < 500, (status, body)
    else:
        assert status == expected, (status, body)
    assert media_type(headers) == "text/plain", headers
    assert body.strip() and b"Traceback" not in body, body


# The endpoint is read-only by design: the update tests' 2xx (and their follow-up query finding
# what the update wrote) are replaced by the refusal, a 403, after which nothing has changed.
# name: (request, the graph the update would have written, or None)
UPDATES = {
    "update_dataset_default_graph": copying("update-dataset", UG1),
    "update_dataset_default_graphs": copying("update-dataset-graphs", UG1, UG2),
    "update_dataset_named_graphs": copying("update-dataset-named-graphs", UNG1, UNG2),
    "update_dataset_full": copying("update-dataset-full", UG1, UNG2),
    "update_post_form": (form(u("CLEAR ALL")), None),
    "update_post_direct": (post("CLEAR ALL", type=UPDATE), None),
    "update_base_uri": (post(INSERT_RELATIVE, type=UPDATE), BASE_TEST),
    # SPARQL 1.2: the version announcement
    "update_post_form_with_version": (form(u("CLEAR ALL"), V12), None),
    "update_post_direct_with_version_param": (post("CLEAR ALL", type=UPDATE_12), None),
}


@pytest.mark.parametrize(("req", "written"), list(UPDATES.values()), ids=list(UPDATES))
def test_update_refused(w3c_server: Server, name: str, req: Req, written: str | None) -> None:
    status, headers, body = send(w3c_server, name, req)
    assert status == 403, (status, body)
    assert media_type(headers) == "text/plain"
    assert b"read-only" in body.lower(), body
    if written is not None:
        assert ask(w3c_server, name, f"ASK {{ GRAPH <{written}> {{ ?s ?p ?o }} }}") is False
    assert ask(w3c_server, name, f"ASK {{ {DATA} }}") is True


def test_trailing_slash_redirects(w3c_server: Server) -> None:
    """The manifests' ``/sparql/``: a permanent redirect to the endpoint, the parameters kept."""
    status, headers, _ = send(w3c_server, "query_trailing_slash", get(q("ASK {}")), "/sparql/")
    assert status == 308
    location = urlsplit(headers["location"])
    assert location.path == "/sparql"
    assert location.query == "query=ASK%20%7B%7D&clientRequestId=query_trailing_slash"


@pytest.mark.parametrize("graph", [D1, D2, D3])
def test_the_runners_data_setup_changes_nothing(w3c_server: Server, graph: str) -> None:
    """The W3C runner loads each test's data first, with Graph Store Protocol writes to the
    endpoint's ``service`` sibling: PUT for the first graph, POST for the others. On the data
    ``kgpub load`` put there, they change nothing, so they are done (204); any other is refused."""
    data = f"<{graph}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{DOCUMENT}> .\n"
    target = "/service?" + params(("graph", graph))
    headers = {"Content-Type": "application/n-triples", "Authorization": "Bearer test"}
    for method in ("PUT", "POST"):
        status, _, body = http_request(w3c_server.url, method, target, data.encode(), headers)
        assert status == 204, body
    other = data.replace(DOCUMENT, "http://xmlns.com/foaf/0.1/Image").encode()
    status, _, body = http_request(w3c_server.url, "PUT", target, other, headers)
    assert status == 403 and b"read-only" in body
    status, headers, body = http_request(
        w3c_server.url, "GET", target, headers={"Accept": "application/n-triples"}
    )
    assert status == 200 and body.decode() == data
