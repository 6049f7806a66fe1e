"""Ontology QA as files: competency questions and their answers, violation queries, namespace."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pyoxigraph as ox
import pytest
from kgpub.mappings import namespace
from kgpub.mappings.iris import ONTOLOGY_IRI, ONTOLOGY_NS
from rdflib import OWL, RDF, RDFS, Graph, URIRef
from rdflib.namespace import SKOS

from tests.conftest import ROOT

CQ_DIR = ROOT / "ontology" / "cq"
CHECKS_DIR = ROOT / "ontology" / "checks"
CQS = sorted(CQ_DIR.glob("CQ*.rq"))
VIOLATIONS = sorted(CHECKS_DIR.glob("*-violation.rq"))
SECTIONS = [
    "lead",
    "The Unfolding Crisis",
    "Collaborative Intervention",
    "Global Implications and Migration Challenges",
]


def cell(term: object) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.BlankNode):
        return "_:" + term.value
    return term.value  # type: ignore[attr-defined]


def run(store: ox.Store, query: str):
    return store.query(query, use_default_graph_as_union=True)


def test_there_are_enough_competency_questions() -> None:
    assert len(CQS) >= 20
    readme = (CQ_DIR / "README.md").read_text("utf-8")
    for cq in CQS:
        ident = cq.name.split("-", 1)[0]
        assert re.search(rf"^\|\s*{ident}\b", readme, re.M), f"{ident} has no row in README.md"
    for section in SECTIONS:
        assert section.lower() in readme.lower(), f"no competency question covers {section}"


@pytest.mark.parametrize("cq", CQS, ids=lambda p: p.stem)
def test_competency_question_gives_its_expected_answer(cq: Path, store: ox.Store) -> None:
    expected_path = cq.with_suffix(".csv")
    assert expected_path.exists(), f"{cq.name} has no expected answer {expected_path.name}"
    expected_text = expected_path.read_text("utf-8")
    result = run(store, cq.read_text("utf-8"))
    if isinstance(result, ox.QueryBoolean):
        assert str(bool(result)).lower() == expected_text.strip().lower()
        return
    assert isinstance(result, ox.QuerySolutions), "a competency question is a SELECT or ASK"
    variables = [v.value for v in result.variables]
    rows = [[cell(solution[v]) for v in variables] for solution in result]
    reader = list(csv.reader(io.StringIO(expected_text)))
    header, expected = reader[0], [r for r in reader[1:] if r]
    assert header == variables
    assert expected, f"{expected_path.name} lists no answer"
    if re.search(r"\bORDER\s+BY\b", cq.read_text("utf-8"), re.I):
        assert rows == expected
    else:
        assert sorted(rows) == sorted(expected)


def test_violation_queries_exist() -> None:
    assert len(VIOLATIONS) >= 8


@pytest.mark.parametrize("check", VIOLATIONS, ids=lambda p: p.stem)
def test_violation_query_returns_nothing(check: Path, store: ox.Store) -> None:
    result = run(store, check.read_text("utf-8"))
    assert isinstance(result, ox.QuerySolutions), "a violation query is a SELECT"
    rows = [[cell(solution[v]) for v in result.variables] for solution in result]
    assert rows == []


@pytest.fixture(scope="module")
def ontology() -> Graph:
    g = Graph()
    g.parse(ROOT / "ontology" / "kgpub.ttl", format="turtle")
    return g


def test_ontology_has_its_own_iri_version_and_license(ontology: Graph) -> None:
    onto = URIRef(ONTOLOGY_IRI)
    assert (onto, RDF.type, OWL.Ontology) in ontology
    assert ontology.value(onto, OWL.versionInfo) is not None
    assert ontology.value(onto, OWL.versionIRI) is not None
    assert ontology.value(onto, URIRef("http://purl.org/dc/terms/license")) is not None


def test_every_term_has_a_label_and_a_definition(ontology: Graph) -> None:
    terms = {
        s
        for s in ontology.subjects()
        if isinstance(s, URIRef)
        and str(s).startswith(ONTOLOGY_NS)
        and (s, RDF.type, None) in ontology
    }
    assert len(terms) > 40
    missing = sorted(
        str(t)
        for t in terms
        if ontology.value(t, RDFS.label) is None or ontology.value(t, SKOS.definition) is None
    )
    assert missing == []


def test_ontology_reuses_standard_vocabularies(ontology: Graph) -> None:
    parents = {
        str(o) for p in (RDFS.subClassOf, RDFS.subPropertyOf) for o in ontology.objects(None, p)
    }
    for ns in (
        "http://schema.org/",
        "http://xmlns.com/foaf/0.1/",
        "http://www.w3.org/ns/org#",
        "http://www.w3.org/ns/prov#",
        "http://www.w3.org/2004/02/skos/core#",
    ):
        assert any(x.startswith(ns) for x in parents), f"nothing reuses {ns}"


def test_the_generated_namespace_module_is_up_to_date() -> None:
    generated = namespace.generate(ROOT / "ontology" / "kgpub.ttl")
    assert namespace.TARGET.read_text("utf-8") == generated, "run `make namespace`"


def test_the_namespace_module_is_closed() -> None:
    from kgpub.mappings.kgo import KGO

    assert str(KGO.Fact) == ONTOLOGY_NS + "Fact"
    with pytest.raises(AttributeError):
        KGO.NoSuchTerm  # noqa: B018
