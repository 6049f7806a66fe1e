"""SHACL (real pyshacl) and the violation queries (real pyoxigraph) on small fixtures."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
import pytest
from kgpub.mappings import validate
from kgpub.mappings.errors import BuildError
from kgpub.mappings.validate import Finding, ShaclReport, ValidationError
from rdflib import Dataset, Graph, Literal, Namespace

HERE = Path(__file__).resolve().parent / "fixtures" / "reasoning"
SHAPES = HERE / "shapes"
CHECKS = HERE / "checks"
KGO = Namespace("https://w3id.org/kgpub/ontology#")
ID = Namespace("https://w3id.org/kgpub/id/")
RDFS_LABEL = Namespace("http://www.w3.org/2000/01/rdf-schema#")["label"]
RDF_TYPE = Namespace("http://www.w3.org/1999/02/22-rdf-syntax-ns#")["type"]


def dataset(name: str) -> Dataset:
    data = Dataset()
    data.parse(HERE / name, format="trig")
    return data


def union(data: Dataset) -> Graph:
    graph = Graph()
    for s, p, o, _g in data.quads((None, None, None, None)):
        graph.add((s, p, o))
    return graph


@pytest.fixture(scope="module")
def ontology() -> Graph:
    return Graph().parse(HERE / "ontology.ttl", format="turtle")


@pytest.fixture(scope="module")
def bad() -> Dataset:
    return dataset("validation-bad.trig")


@pytest.fixture(scope="module")
def good() -> Dataset:
    return dataset("validation-good.trig")


@pytest.fixture(scope="module")
def bad_report(bad: Dataset, ontology: Graph) -> ShaclReport:
    return validate.shacl(union(bad), SHAPES, ontology)


# --------------------------------------------------------------------------- SHACL
def test_errors_and_warnings_are_split(bad_report: ShaclReport) -> None:
    assert [f.severity for f in bad_report.errors] == ["error"] * 4
    assert [f.severity for f in bad_report.warnings] == ["warning"] * 2
    assert not bad_report.conforms
    assert {f.shape for f in bad_report.errors} == {
        "shapes:PersonShape",
        "shapes:VisitShape",
        "shapes:PersonnelShape",
    }
    assert {f.shape for f in bad_report.warnings} == {
        "shapes:DescribedAgentShape",
        "shapes:PartOfShape",
    }


def test_a_finding_prints_focus_node_shape_path_and_the_shapes_message(
    bad_report: ShaclReport,
) -> None:
    lines = bad_report.format().splitlines()
    assert lines[0] == (
        "ERROR <https://w3id.org/kgpub/id/christopher-dodd> (shape shapes:PersonShape, "
        "path rdfs:label): A person needs an rdfs:label with a language tag: add 'label' to its "
        "entry in entities.yaml."
    )
    assert (
        "WARNING <https://w3id.org/kgpub/id/ecuador> (shape shapes:PartOfShape, path ^kgo:partOf): "
        "A place is part of something that is not a place: check the 'partOf' facts."
    ) in lines
    assert len(lines) == 6
    assert [line.split()[0] for line in lines] == ["ERROR"] * 4 + ["WARNING"] * 2


def test_a_finding_keeps_the_offending_value(bad_report: ShaclReport) -> None:
    label = next(f for f in bad_report.errors if "laura-richardson" in f.focus_node)
    assert label.value == '"Laura Richardson"'
    assert label.path == "rdfs:label"


def test_the_order_is_deterministic(bad: Dataset, ontology: Graph, bad_report: ShaclReport) -> None:
    again = validate.shacl(bad, SHAPES, ontology)  # a dataset: validated as the union
    assert again.errors == bad_report.errors and again.warnings == bad_report.warnings
    assert bad_report.errors == sorted(bad_report.errors, key=lambda f: (f.focus_node, f.path))


def test_good_data_has_no_findings(good: Dataset, ontology: Graph) -> None:
    report = validate.shacl(union(good), SHAPES, ontology)
    assert report.errors == [] and report.warnings == [] and report.conforms
    assert report.format() == ""


def test_a_folder_without_shapes_is_an_error(tmp_path: Path, good: Dataset) -> None:
    with pytest.raises(BuildError, match="no SHACL shapes"):
        validate.shacl(union(good), tmp_path)


# --------------------------------------------------------------------------- SPARQL
@pytest.fixture(scope="module")
def bad_store(bad: Dataset) -> ox.Store:
    store = ox.Store()
    store.load(bad.serialize(format="nquads", encoding="utf-8"), format=ox.RdfFormat.N_QUADS)
    return store


def test_violation_queries_return_rows_on_bad_data(bad_store: ox.Store) -> None:
    results = validate.violations(bad_store, CHECKS)
    assert [r.file for r in results] == [
        "fact-without-sentence-violation.rq",
        "visit-without-destination-violation.rq",
    ]
    facts, visits = results
    assert facts.variables == ("fact", "graph")
    assert facts.rows == (
        (
            "<https://w3id.org/kgpub/fact/test/parts>",
            "<https://w3id.org/kgpub/graph/provenance/test>",
        ),
    )
    assert visits.rows == (("<https://w3id.org/kgpub/id/visit>",),)
    assert facts.header == (
        "Every fact graph is derived from a sentence of an article.\n"
        "Fix: give the fact a 'sentence' in facts.yaml."
    )
    text = visits.format()
    assert "visit-without-destination-violation.rq: 1 row(s)" in text
    assert "# Every visit names where it went." in text
    assert "<https://w3id.org/kgpub/id/visit>" in text


def test_violation_queries_return_nothing_on_good_data(good: Dataset) -> None:
    assert validate.violations(good, CHECKS) == []


def test_an_rdflib_dataset_and_a_store_give_the_same_rows(bad: Dataset, bad_store) -> None:
    assert validate.violations(bad, CHECKS) == validate.violations(bad_store, CHECKS)


def test_a_broken_query_names_its_file(tmp_path: Path, good: Dataset) -> None:
    (tmp_path / "broken-violation.rq").write_text("# broken\nSELECT ?x WHERE { ?x ", "utf-8")
    with pytest.raises(BuildError) as caught:
        validate.violations(good, tmp_path)
    assert "broken-violation.rq" in str(caught.value)


def test_comment_header() -> None:
    query = "\n# What it checks.\n#\n#   Fix: this.\nPREFIX x: <http://x/>\n# not header\n"
    assert validate.comment_header(query) == "What it checks.\n\n  Fix: this."


# --------------------------------------------------------------------------- check()
def test_check_fails_on_errors_and_violation_rows(
    bad: Dataset, bad_store: ox.Store, ontology: Graph
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate.check(union(bad), SHAPES, ontology=ontology, store=bad_store, checks_dir=CHECKS)
    error = caught.value
    assert isinstance(error, BuildError)
    text = str(error)
    assert "SHACL validation found 4 error(s)" in text
    assert "ERROR <https://w3id.org/kgpub/id/visit> (shape shapes:VisitShape" in text
    assert "WARNING" not in text
    assert "2 violation quer(y/ies) returned rows" in text
    assert "visit-without-destination-violation.rq" in text
    assert len(error.report.errors) == 4 and len(error.failures) == 2


def test_check_returns_warnings_without_failing(good: Dataset, ontology: Graph) -> None:
    data = union(good)
    agency = ID["us-government"]
    data.add((agency, RDF_TYPE, KGO.Organization))
    data.add((agency, RDF_TYPE, KGO.Agent))
    data.add((agency, RDFS_LABEL, Literal("US government", lang="en")))
    warnings = validate.check(data, SHAPES, ontology=ontology, store=data, checks_dir=CHECKS)
    assert [w.shape for w in warnings] == ["shapes:DescribedAgentShape"]
    assert isinstance(warnings[0], Finding)
    assert warnings[0].format().startswith("WARNING <https://w3id.org/kgpub/id/us-government>")
