"""Golden graphs: the fixture article's data in, the expected RDF out (compared as graphs)."""

from __future__ import annotations

import pytest
from kgpub.mappings.facts import load_article
from kgpub.mappings.graphs import ArticleGraphs, Mapper
from kgpub.mappings.iris import Minter
from kgpub.mappings.ontology import Ontology
from rdflib import Dataset, Graph
from rdflib.compare import graph_diff, to_isomorphic

from tests.conftest import FIXTURES, ROOT

ARTICLE = FIXTURES / "second" / "data" / "articles" / "port-inspection-visit"
EXPECTED = FIXTURES / "second" / "expected"
BASE = "http://example.org/kg/"


def assert_isomorphic(actual: Graph, expected: Graph, what: str) -> None:
    """Equal as graphs; otherwise show the triples found only on each side."""
    a, e = to_isomorphic(actual), to_isomorphic(expected)
    if a == e:
        return
    _, only_actual, only_expected = graph_diff(a, e)

    def lines(g: Graph) -> str:
        return "\n".join(sorted(" ".join(t.n3() for t in triple) for triple in g)) or "(none)"

    pytest.fail(
        f"{what} differs\nonly in the mapping's output:\n{lines(only_actual)}\n"
        f"only in the expected graph:\n{lines(only_expected)}"
    )


@pytest.fixture(scope="module")
def mapped() -> ArticleGraphs:
    data = load_article(ARTICLE, {})
    ontology = Ontology.load(ROOT / "ontology" / "kgpub.ttl")
    return Mapper(Minter(BASE), ontology, {e.id: e for e in data.entities}).map_article(data)


def parse(name: str, fmt: str = "turtle") -> Graph:
    g = Graph()
    g.parse(EXPECTED / name, format=fmt)
    return g


def test_text_graph(mapped: ArticleGraphs) -> None:
    assert_isomorphic(mapped.text, parse("text.ttl"), "the text graph")


def test_provenance_graph(mapped: ArticleGraphs) -> None:
    assert_isomorphic(mapped.provenance, parse("provenance.ttl"), "the provenance graph")


def test_one_graph_per_fact(mapped: ArticleGraphs) -> None:
    expected = Dataset()
    expected.parse(EXPECTED / "facts.trig", format="trig")
    names = {str(g.identifier) for g in expected.graphs() if len(g)}
    assert {str(n) for n in mapped.facts} == names
    for name, graph in mapped.facts.items():
        assert_isomorphic(graph, expected.graph(name), f"fact graph {name}")


def test_fact_graphs_are_named_under_the_base(mapped: ArticleGraphs) -> None:
    assert all(str(n).startswith(BASE + "fact/port-inspection-visit/") for n in mapped.facts)
    assert len(mapped.facts) == 9 + 7  # nine registry entries, seven facts
