"""`kgpub build` of the real data: store, dumps, sums, description, determinism, atomicity."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Dataset, Graph, URIRef
from rdflib.compare import isomorphic

from kgpub import storecounts
from tests.conftest import ROOT

BASE = "https://w3id.org/kgpub/"
EXPECTED_DUMPS = ["kgpub.ttl", "kgpub.nt", "kgpub.nq", "kgpub.trig", "kgpub.jsonld"]


def manifest(built: Path) -> dict:
    return json.loads((built / "manifest.json").read_text("utf-8"))


def test_build_writes_store_dumps_and_reports(built: Path) -> None:
    assert built.is_symlink()
    names = {p.name for p in (built / "dumps").iterdir()}
    for dump in EXPECTED_DUMPS:
        assert dump in names and dump + ".gz" in names
    assert {"SHA256SUMS", "void.ttl"} <= names
    assert (built / "reports" / "coverage.md").read_text("utf-8").startswith("# Coverage")
    assert (built / "store").is_dir()
    # every step numbered out of the right total
    log = (built.parent / "build.log").read_text("utf-8")
    numbers = re.findall(r"^\[(\d+)/(\d+)\]", log, flags=re.MULTILINE)
    total = int(numbers[0][1])
    assert [(int(n), int(t)) for n, t in numbers] == [(n, total) for n in range(1, total + 1)]


def test_sha256sums_and_manifest_match_the_files(built: Path) -> None:
    sums = (built / "dumps" / "SHA256SUMS").read_text("utf-8").splitlines()
    assert len(sums) == 2 * len(EXPECTED_DUMPS)
    listed = {f["file"]: f for f in manifest(built)["dumps"]}
    for line in sums:
        digest, name = line.split("  ")
        data = (built / "dumps" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest == listed[name]["sha256"]
        assert len(data) == listed[name]["bytes"]


def _quads(path: Path, fmt: str) -> set[tuple]:
    ds = Dataset()
    ds.parse(path, format=fmt)
    return {(s, p, o, str(getattr(g, "identifier", g))) for s, p, o, g in ds.quads()}


def test_every_dump_parses_to_the_same_data(built: Path) -> None:
    dumps = built / "dumps"
    quads = _quads(dumps / "kgpub.nq", "nquads")
    assert len(quads) == manifest(built)["quads"]
    assert _quads(dumps / "kgpub.trig", "trig") == quads
    assert _quads(dumps / "kgpub.jsonld", "json-ld") == quads
    union = Graph()
    for s, p, o, _ in quads:
        union.add((s, p, o))
    for name, fmt in (("kgpub.ttl", "turtle"), ("kgpub.nt", "nt")):
        g = Graph()
        g.parse(dumps / name, format=fmt)
        assert len(g) == len(union) == manifest(built)["triples"]
        assert isomorphic(g, union), name
    with gzip.open(dumps / "kgpub.ttl.gz") as fh:
        assert fh.read() == (dumps / "kgpub.ttl").read_bytes()


def test_store_holds_exactly_the_nquads_dump(built: Path, store) -> None:
    assert len(store) == manifest(built)["quads"]
    graphs = {g.value for g in store.named_graphs()}
    for name in (
        "graph/ontology",
        "graph/text/ecuador-security-crisis",
        "graph/provenance/ecuador-security-crisis",
        "graph/inferred",
        "graph/dataset",
    ):
        assert BASE + name in graphs
    assert any(g.startswith(BASE + "fact/ecuador-security-crisis/") for g in graphs)
    # the counts the server's description and health check read, written beside the store
    counts = json.loads((built / "store" / "counts.json").read_text("utf-8"))
    triples = {(q.subject, q.predicate, q.object) for q in store}
    assert (counts["triples"], counts["quads"]) == (len(triples), len(store))
    assert counts["named_graphs"] == len(graphs)


def test_jsonld_embeds_its_context(built: Path) -> None:
    doc = json.loads((built / "dumps" / "kgpub.jsonld").read_text("utf-8"))
    assert isinstance(doc["@context"], dict)
    assert doc["@context"]["kgo"] == "https://w3id.org/kgpub/ontology#"


def test_dataset_description_has_void_and_dcat(built: Path) -> None:
    void = Graph()
    void.parse(built / "dumps" / "void.ttl", format="turtle")
    ds = URIRef(BASE + "dataset")
    q = """PREFIX void: <http://rdfs.org/ns/void#> PREFIX dcat: <http://www.w3.org/ns/dcat#>
    PREFIX dct: <http://purl.org/dc/terms/> PREFIX spdx: <http://spdx.org/rdf/terms#>
    SELECT ?endpoint ?space ?triples ?license (COUNT(DISTINCT ?dump) AS ?dumps)
           (COUNT(DISTINCT ?sum) AS ?sums) (COUNT(DISTINCT ?cp) AS ?classes)
    WHERE { ?ds void:sparqlEndpoint ?endpoint ; void:uriSpace ?space ; void:triples ?triples ;
                dct:license ?license ; void:dataDump ?dump ; dcat:distribution ?d ;
                void:classPartition ?cp . ?d spdx:checksum ?sum }
    GROUP BY ?endpoint ?space ?triples ?license"""
    (row,) = list(void.query(q, initBindings={"ds": ds}))
    assert str(row.endpoint) == BASE + "sparql"
    assert str(row.space) == BASE
    assert int(row.triples) > 1000
    assert int(row.dumps) == len(EXPECTED_DUMPS)
    assert int(row.sums) == 2 * len(EXPECTED_DUMPS)
    assert int(row.classes) > 10


def test_inferred_triples_are_kept_apart_from_asserted_ones(store) -> None:
    inferred = ox.NamedNode(BASE + "graph/inferred")
    assert len(list(store.quads_for_pattern(None, None, None, inferred))) > 0
    overlap = store.query(
        f"""ASK {{ GRAPH <{BASE}graph/inferred> {{ ?s ?p ?o }}
                 GRAPH ?g {{ ?s ?p ?o }} FILTER(?g != <{BASE}graph/inferred>) }}"""
    )
    assert not bool(overlap)


def _build_in_subprocess(build_dir: Path, seed: str) -> float:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "kgpub.cli",
            "build",
            "--root",
            str(ROOT),
            "--build-dir",
            str(build_dir),
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    return time.perf_counter() - start


@pytest.mark.slow
def test_two_builds_are_byte_identical_and_fast(tmp_path: Path, built: Path) -> None:
    elapsed = _build_in_subprocess(tmp_path / "a", "1")
    first = tmp_path / "a" / "current" / "dumps"
    second = built / "dumps"  # made in this process, with another hash seed
    for name in sorted(p.name for p in first.iterdir()):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert manifest(tmp_path / "a" / "current")["build_id"] == manifest(built)["build_id"]
    assert elapsed < 15, f"kgpub build took {elapsed:.1f} s"
    # the same input again keeps the build servers may have open, and gives it the counts an
    # older kgpub did not write
    counts = tmp_path / "a" / "current" / "store" / "counts.json"
    counts.unlink()
    _build_in_subprocess(tmp_path / "a", "2")
    assert storecounts.read_counts(counts.parent) == storecounts.count_store_folder(counts.parent)


NIF = "http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#"


def test_every_published_offset_slices_the_text_to_its_anchor(store) -> None:
    rows = list(
        store.query(
            f"""
        SELECT ?text ?anchor ?begin ?end WHERE {{
          ?s <{NIF}referenceContext> ?ctx ; <{NIF}anchorOf> ?anchor ;
             <{NIF}beginIndex> ?begin ; <{NIF}endIndex> ?end .
          ?ctx <{NIF}isString> ?text }}""",
            use_default_graph_as_union=True,
        )
    )
    assert len(rows) > 60
    for row in rows:
        text = row["text"].value
        assert text[int(row["begin"].value) : int(row["end"].value)] == row["anchor"].value


def test_every_asserted_triple_is_reached_from_its_sentence_in_one_query(store) -> None:
    asserted = {
        (q.subject, q.predicate, q.object)
        for q in store
        if q.graph_name.value.startswith(BASE + "fact/")
    }
    reached: set[tuple] = set()
    sentences = [
        s["s"]
        for s in store.query(
            f"SELECT DISTINCT ?s WHERE {{ ?s a <{NIF}Sentence> }}", use_default_graph_as_union=True
        )
    ]
    for sentence in sentences:
        query = f"""PREFIX prov: <http://www.w3.org/ns/prov#>
            SELECT ?s ?p ?o WHERE {{ ?fact prov:wasDerivedFrom {sentence} .
                                     GRAPH ?fact {{ ?s ?p ?o }} }}"""
        reached |= {
            (r["s"], r["p"], r["o"]) for r in store.query(query, use_default_graph_as_union=True)
        }
    assert asserted and reached == asserted
