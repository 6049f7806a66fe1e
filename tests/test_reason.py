"""The reasoner on real owlready2 + HermiT: what it entails, what it leaves out, how it fails.

HermiT starts a JVM per run, so every run is made once per module and shared by the tests.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kgpub.mappings.errors import BuildError
from kgpub.mappings.reason import ReasoningError, reason
from rdflib import OWL, RDF, RDFS, Dataset, Graph, Literal, Namespace, URIRef

HERE = Path(__file__).resolve().parent / "fixtures" / "reasoning"
KGO = Namespace("https://w3id.org/kgpub/ontology#")
ID = Namespace("https://w3id.org/kgpub/id/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
SCHEMA = Namespace("http://schema.org/")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
RESERVED = (str(OWL), str(RDF), str(RDFS), str(XSD))


def load(*names: str) -> Graph:
    graph = Graph()
    for name in names:
        graph.parse(HERE / name, format="turtle")
    return graph


@pytest.fixture(scope="module")
def ontology() -> Graph:
    return load("ontology.ttl")


@pytest.fixture(scope="module")
def data() -> Graph:
    return load("data.ttl")


@pytest.fixture(scope="module")
def run(ontology: Graph, data: Graph) -> tuple[Graph, list[str]]:
    messages: list[str] = []
    return reason(ontology, data, progress=messages.append), messages


@pytest.fixture(scope="module")
def inferred(run: tuple[Graph, list[str]]) -> Graph:
    return run[0]


@pytest.fixture(scope="module")
def failures(ontology: Graph) -> Iterator[dict[str, ReasoningError]]:
    """The error of each failing fixture, with the temporary folder checked to stay empty."""
    errors: dict[str, ReasoningError] = {}
    with tempfile.TemporaryDirectory() as folder:
        saved = tempfile.tempdir
        tempfile.tempdir = folder
        try:
            cases = {
                "disjoint types": (ontology, load("inconsistent.ttl")),
                "range": (ontology, load("inconsistent-range.ttl")),
                "value": (ontology, load("inconsistent-value.ttl")),
                "unsatisfiable": (load("ontology.ttl", "unsatisfiable.ttl"), load("data.ttl")),
            }
            for name, (tbox, abox) in cases.items():
                with pytest.raises(ReasoningError) as caught:
                    reason(tbox, abox)
                errors[name] = caught.value
            errors_left = list(Path(folder).iterdir())
        finally:
            tempfile.tempdir = saved
    assert errors_left == [], "HermiT's working files must not be left behind"
    yield errors


# --------------------------------------------------------------------------- entailments
def types_of(graph: Graph, node: URIRef) -> set[URIRef]:
    return {o for o in graph.objects(node, RDF.type) if isinstance(o, URIRef)}


def test_types_include_every_named_superclass(inferred: Graph) -> None:
    # asserted kgo:Official
    assert types_of(inferred, ID["christopher-dodd"]) == {
        KGO.Person,
        KGO.Agent,
        FOAF.Person,
        FOAF.Agent,
        SCHEMA.Person,
    }


def test_types_from_domain_and_range(inferred: Graph) -> None:
    # laura-richardson is only a value of kgo:visitor (range kgo:Person)
    assert {KGO.Person, FOAF.Person, SCHEMA.Person} <= types_of(inferred, ID["laura-richardson"])
    # the visit is only the subject of kgo:visitor (domain kgo:Visit)
    assert {KGO.Visit, KGO.Event, SCHEMA.Event} <= types_of(inferred, ID["dodd-richardson-visit"])
    # through a sub-property: kgo:chair has range kgo:Person, kgo:participant range kgo:Agent
    assert {KGO.Person, KGO.Agent} <= types_of(inferred, ID["jen-daskal"])
    assert {KGO.Organization, FOAF.Organization} <= types_of(inferred, ID["ecuador-government"])


def test_inverse_values(inferred: Graph) -> None:
    assert (ID["christopher-dodd"], KGO.visited, ID["dodd-richardson-visit"]) in inferred
    assert (ID["laura-richardson"], KGO.visited, ID["dodd-richardson-visit"]) in inferred
    assert (ID["jen-daskal"], KGO.participatesIn, ID["interagency-meetings"]) in inferred


def test_symmetric_values(inferred: Graph) -> None:
    assert (ID.peru, KGO.borders, ID.ecuador) in inferred
    assert (ID["ecuador-government"], KGO.cooperatesWith, ID["us-government"]) in inferred


def test_super_property_values(inferred: Graph) -> None:
    # kgo:leaderOf < kgo:memberOf < kgo:affiliatedWith
    assert (ID["daniel-noboa"], KGO.memberOf, ID["ecuador-government"]) in inferred
    assert (ID["daniel-noboa"], KGO.affiliatedWith, ID["ecuador-government"]) in inferred
    assert (ID["interagency-meetings"], KGO.participant, ID["jen-daskal"]) in inferred


def test_transitive_values_and_their_inverses(inferred: Graph) -> None:
    assert (ID.quito, KGO.partOf, ID.ecuador) in inferred
    assert (ID.ecuador, KGO.hasPart, ID.quito) in inferred
    assert (ID.ecuador, KGO.hasPart, ID.pichincha) in inferred
    assert (ID.pichincha, KGO.hasPart, ID.quito) in inferred


def test_nothing_asserted_is_returned(inferred: Graph, data: Graph, ontology: Graph) -> None:
    assert len(inferred) > 0
    assert set(inferred) & set(data) == set()
    assert set(inferred) & set(ontology) == set()


def test_only_types_and_object_values_about_individuals(
    inferred: Graph, data: Graph, ontology: Graph
) -> None:
    object_properties = set(ontology.subjects(RDF.type, OWL.ObjectProperty))
    terms = set(ontology.subjects())
    for s, p, o in inferred:
        assert isinstance(s, URIRef) and isinstance(o, URIRef), (s, p, o)
        assert p == RDF.type or p in object_properties, (s, p, o)
        assert s not in terms, f"a TBox triple came back: {(s, p, o)}"
        assert str(s).startswith(str(ID)), f"not about the data's individuals: {(s, p, o)}"
        if p == RDF.type:
            assert not str(o).startswith(RESERVED), f"{o} must not be emitted as a type"
        else:
            assert str(o).startswith(str(ID)), (s, p, o)


def test_literals_and_annotations_stay_out(inferred: Graph) -> None:
    """Language-tagged text, xsd:nonNegativeInteger and annotations neither break nor come back."""
    assert not any(isinstance(o, Literal) for o in inferred.objects())
    assert not set(inferred.predicates()) & {RDFS.label, KGO.statement, KGO.personnel}
    wikidata = URIRef("http://www.wikidata.org/entity/Q736")
    assert (wikidata, None, None) not in inferred
    assert (None, None, wikidata) not in inferred
    assert (None, None, URIRef("https://www.wikidata.org/wiki/Q736")) not in inferred


def test_progress_is_reported(run: tuple[Graph, list[str]]) -> None:
    messages = run[1]
    assert messages and all(m.startswith("reasoning: ") for m in messages)
    assert any("HermiT" in m for m in messages)


def test_same_input_same_output(inferred: Graph, ontology: Graph, data: Graph) -> None:
    again = reason(ontology, data)
    assert set(again) == set(inferred)
    assert sorted(again) == sorted(inferred)


def test_a_dataset_is_read_with_all_its_graphs(inferred: Graph, ontology: Graph) -> None:
    dataset = Dataset()
    for i, triple in enumerate(sorted(load("data.ttl"))):
        dataset.graph(URIRef(f"https://w3id.org/kgpub/fact/test/f{i % 5}")).add(triple)
    assert set(reason(ontology, dataset)) == set(inferred)


def test_realistic_input_is_fast(ontology: Graph) -> None:
    data = load("realistic.ttl")
    assert 2000 <= len(data) <= 3000
    start = time.perf_counter()
    inferred = reason(ontology, data)
    elapsed = time.perf_counter() - start
    assert elapsed < 15, f"reasoning took {elapsed:.1f} s"
    assert (ID["city-1"], KGO.partOf, ID.ecuador) in inferred
    assert (ID["us-government"], KGO.hasPart, ID.fbi) in inferred
    assert KGO.Place in types_of(inferred, ID["city-1"])


# --------------------------------------------------------------------------- failures
def test_errors_are_build_errors() -> None:
    assert issubclass(ReasoningError, BuildError)


def test_disjoint_types_are_named(failures: dict[str, ReasoningError]) -> None:
    error = failures["disjoint types"]
    text = str(error)
    assert "inconsistent" in text
    assert "https://w3id.org/kgpub/id/christopher-dodd" in text
    assert "kgo:Person" in text and "kgo:Organization" in text and "disjoint" in text
    assert "entities.yaml" in text and "facts.yaml" in text
    assert error.reasons and error.fix


def test_a_type_from_a_range_is_explained(failures: dict[str, ReasoningError]) -> None:
    text = str(failures["range"])
    assert "https://w3id.org/kgpub/id/fbi" in text
    assert "range kgo:Person" in text and "kgo:visitor" in text


def test_a_value_outside_the_range_is_named(failures: dict[str, ReasoningError]) -> None:
    text = str(failures["value"])
    assert "kgo:statement" in text and "rdf:langString" in text and '"5"^^xsd:integer' in text


def test_unsatisfiable_classes_are_listed(failures: dict[str, ReasoningError]) -> None:
    error = failures["unsatisfiable"]
    text = str(error)
    assert "cannot have any member" in text
    assert "kgo:AgencyOfficial" in text and "kgo:SameAsAgencyOfficial" in text
    assert "kgo:Person" in text and "kgo:Organization" in text
    assert len(error.reasons) == 2


def test_ill_typed_literals_fail_before_the_reasoner(ontology: Graph) -> None:
    data = Graph()
    data.add((ID.visit, KGO.personnel, Literal("many", datatype=XSD.nonNegativeInteger)))
    with pytest.raises(ReasoningError) as caught:
        reason(ontology, data)
    assert "xsd:nonNegativeInteger" in str(caught.value) and '"many"' in str(caught.value)
