"""Which graphs a query sees: the union by default; FROM, default-graph-uri and named-graph-uri
really restrict it, and the protocol's parameters override the query's own dataset."""

from __future__ import annotations

import json

from flask.testing import FlaskClient

K = "https://w3id.org/kgpub/"
ONTOLOGY = K + "graph/ontology"
F1, F2 = K + "fact/demo/f1", K + "fact/demo/f2"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
GRAPHS = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"


def values(client: FlaskClient, query: str, **params: object) -> list[str]:
    response = client.get("/sparql", query_string={"query": query, **params})
    assert response.status_code == 200, response.data
    bindings = json.loads(response.data)["results"]["bindings"]
    return sorted(next(iter(b.values()))["value"] for b in bindings if b)


def test_default_graph_is_the_union_of_all(client: FlaskClient) -> None:
    # 36 quads, one of them in the store's own default graph
    assert values(client, COUNT) == ["36"]


def test_from_restricts(client: FlaskClient) -> None:
    assert values(client, f"SELECT (COUNT(*) AS ?n) FROM <{ONTOLOGY}> WHERE {{ ?s ?p ?o }}") == [
        "10"
    ]
    # FROM alone leaves no named graphs
    assert values(client, f"SELECT DISTINCT ?g FROM <{ONTOLOGY}> WHERE {{ GRAPH ?g {{}} }}") == []


def test_from_after_what_looks_like_a_comment_or_a_language_tag(client: FlaskClient) -> None:
    # "\\#" escapes a character of a prefixed name, no comment starts there; "@from" is a
    # language tag: neither may hide a FROM, nor pass for one
    escaped = "PREFIX ex: <http://example.org/> SELECT (COUNT(*) AS ?n) (ex:a\\#b AS ?z)"
    assert values(client, f"{escaped} FROM <{ONTOLOGY}> WHERE {{ ?s ?p ?o }}") == ["10"]
    tagged = 'SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o FILTER(?o != "x"@from) }'
    assert values(client, tagged) == ["36"]


def test_from_named_restricts(client: FlaskClient) -> None:
    query = f"SELECT DISTINCT ?g FROM NAMED <{F1}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"
    assert values(client, query) == [F1]


def test_default_graph_uri_restricts(client: FlaskClient) -> None:
    assert values(client, COUNT, **{"default-graph-uri": ONTOLOGY}) == ["10"]
    assert values(client, COUNT, **{"default-graph-uri": F1}) == ["7"]
    both = values(client, COUNT, **{"default-graph-uri": [F1, F2]})
    assert both == [str(7 + 6)]


def test_default_graph_uri_overrides_from(client: FlaskClient) -> None:
    query = f"SELECT (COUNT(*) AS ?n) FROM <{F1}> WHERE {{ ?s ?p ?o }}"
    assert values(client, query, **{"default-graph-uri": ONTOLOGY}) == ["10"]


def test_named_graph_uri_restricts(client: FlaskClient) -> None:
    assert values(client, GRAPHS, **{"named-graph-uri": F2}) == [F2]
    # named graphs only: the default graph is empty
    assert values(client, COUNT, **{"named-graph-uri": F2}) == ["0"]


def test_named_graph_uri_overrides_from_named(client: FlaskClient) -> None:
    query = f"SELECT DISTINCT ?g FROM NAMED <{F1}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"
    assert values(client, query, **{"named-graph-uri": F2}) == [F2]


def test_unknown_graph_is_empty(client: FlaskClient) -> None:
    assert values(client, COUNT, **{"default-graph-uri": K + "graph/none"}) == ["0"]


def test_graph_patterns_see_every_named_graph(client: FlaskClient) -> None:
    graphs = values(client, GRAPHS)
    assert graphs == sorted([ONTOLOGY, K + "graph/text/demo", F1, F2])
