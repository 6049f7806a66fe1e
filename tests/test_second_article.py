"""A second article is data, not code: the same pipeline builds it alone and beside the first."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest
from kgpub.mappings import build

from kgpub.settings import Settings
from tests.conftest import FIXTURES, ROOT, copy_project

SECOND = FIXTURES / "second" / "data"
BASE = "https://w3id.org/kgpub/"
CHAIR_WITH_SENTENCE = """
PREFIX kgo: <https://w3id.org/kgpub/ontology#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX nif: <http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?name ?sentence WHERE {
  GRAPH ?fact { ?meetings kgo:chair ?person }
  ?person rdfs:label ?name .
  ?fact prov:wasDerivedFrom ?s . ?s nif:anchorOf ?sentence .
}"""


def run_build(settings: Settings) -> ox.Store:
    build.run(settings, stream=io.StringIO())
    return ox.Store.read_only(str(settings.build_dir / "current" / "store"))


def rows(store: ox.Store, query: str) -> list[tuple[str, ...]]:
    result = store.query(query, use_default_graph_as_union=True)
    return sorted(tuple(s[v].value for v in result.variables) for s in result)


@pytest.mark.slow
def test_the_fixture_article_builds_alone_under_another_base(tmp_path: Path) -> None:
    base = "http://example.org/kg/"
    settings = Settings.load(
        {"root": ROOT, "data_dir": SECOND, "build_dir": tmp_path / "build", "base_iri": base},
        environ={},
    )
    store = run_build(settings)
    ontology_graph = ox.NamedNode(base + "graph/ontology")
    subjects = {
        q.subject.value
        for q in store
        if isinstance(q.subject, ox.NamedNode) and q.graph_name != ontology_graph
    }
    assert subjects and all(s.startswith(base) for s in subjects), sorted(subjects)[:5]
    assert base + "id/ana-torres" in subjects
    assert rows(store, CHAIR_WITH_SENTENCE) == [
        ("Ana Torres", "Officials will hold regular meetings chaired by Ana Torres.")
    ]
    graphs = {g.value for g in store.named_graphs()}
    assert base + "graph/text/port-inspection-visit" in graphs
    assert base + "fact/port-inspection-visit/visit" in graphs
    # "Dr." does not end a sentence in this article either
    sentence = rows(
        store,
        f"""SELECT ?t WHERE {{
        <{base}article/port-inspection-visit/p2s2>
        <http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#anchorOf> ?t }}""",
    )
    assert sentence == [("Dr. Luis Vega of the port authority welcomed the plan.",)]
    assert (tmp_path / "build" / "current" / "dumps" / "fixture.ttl").exists()


@pytest.mark.slow
def test_the_fixture_article_builds_beside_the_first(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    shutil.copytree(
        SECOND / "articles" / "port-inspection-visit",
        root / "data" / "articles" / "port-inspection-visit",
    )
    store = run_build(Settings.load({"root": root, "build_dir": root / "build"}, environ={}))
    graphs = {g.value for g in store.named_graphs()}
    for slug in ("ecuador-security-crisis", "port-inspection-visit"):
        assert BASE + f"graph/text/{slug}" in graphs
    chairs = [name for name, _ in rows(store, CHAIR_WITH_SENTENCE)]
    assert "Ana Torres" in chairs and "Jen Daskal" in chairs
