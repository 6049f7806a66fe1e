"""Real clients against a real ``kgpub serve``: rdflib dereferencing our IRIs for real, rdflib's
SPARQLStore, curl and Comunica. Each is skipped, with the reason, only when the tool is absent."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
import requests
from rdflib.plugins.stores.sparqlstore import SPARQLStore

from tests.e2e.conftest import FIXTURE, free_port

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).parents[2]
BASE = "https://w3id.org/kgpub/"
COMUNICA = PROJECT / "node_modules" / "@comunica" / "query-sparql" / "bin" / "query.js"
CURL = shutil.which("curl")
NODE = shutil.which("node")
LABEL = rdflib.RDFS.label


@pytest.fixture()
def own_base(
    tmp_path: Path, server_factory: Callable[..., object], monkeypatch: pytest.MonkeyPatch
) -> str:
    """A server whose IRIs are its own URLs: the fixture's data rewritten to its base."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    trig = tmp_path / "dataset.trig"
    trig.write_text(FIXTURE.read_text("utf-8").replace(BASE, base), encoding="utf-8")
    store = ox.Store(str(tmp_path / "store"))
    store.bulk_load(path=str(trig), format=ox.RdfFormat.TRIG)
    store.flush()
    del store
    # the port is in the data, so the factory must use it: patched where the factory looks it up
    # (pytest may load conftest.py as a module of its own, apart from an import of it)
    monkeypatch.setitem(server_factory.__globals__, "free_port", lambda: port)  # type: ignore[attr-defined]
    server = server_factory(tmp_path / "store", "--base", base)
    assert server.url + "/" == base  # type: ignore[attr-defined]
    return base


def test_rdflib_dereferences_our_iris(own_base: str) -> None:
    iri = own_base + "id/president"
    graph = rdflib.Graph().parse(iri)
    assert (rdflib.URIRef(iri), LABEL, rdflib.Literal("the president")) in graph
    assert (None, None, rdflib.URIRef(iri)) in graph  # the incoming link too


def test_sparqlstore_every_form(endpoint: str) -> None:
    # SPARQL JSON for solutions; the default (XML results, RDF/XML graphs) for CONSTRUCT, as a
    # JSON-only store asks for results JSON, which no graph can be written in (406)
    graph = rdflib.Graph(SPARQLStore(endpoint, returnFormat="json"))
    query = f"SELECT ?l WHERE {{ <{BASE}id/ecuador> ?p ?l FILTER(isLiteral(?l)) }}"
    assert [str(row[0]) for row in graph.query(query)] == ["Ecuador"]
    assert graph.query("ASK { ?s a <https://w3id.org/kgpub/ontology#Event> }").askAnswer is True
    default = rdflib.Graph(SPARQLStore(endpoint))
    assert [str(row[0]) for row in default.query(query)] == ["Ecuador"]
    built = default.query("CONSTRUCT { ?s ?p ?o } WHERE { ?s a ?t ; ?p ?o } LIMIT 200").graph
    assert (rdflib.URIRef(BASE + "id/president"), LABEL, rdflib.Literal("the president")) in built


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    if CURL is None:
        pytest.skip("curl is not installed")
    return subprocess.run([CURL, "-sS", *args], capture_output=True, text=True, timeout=60)


def test_curl(server) -> None:
    endpoint = server.url + "/sparql"
    got = curl("-H", "Accept: text/csv", "-G", "--data-urlencode", "query=ASK {}", endpoint)
    assert got.returncode == 0 and got.stdout.strip() == "true"
    query = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    posted = curl("--data-urlencode", f"query={query}", "--compressed", endpoint)
    assert json.loads(posted.stdout)["results"]["bindings"][0]["n"]["value"] == "36"
    head = curl("-I", server.url + "/id/ecuador")
    assert head.stdout.startswith("HTTP/1.1 303")
    assert "location: /id/ecuador.ttl" in head.stdout.lower()


def comunica(source: str, query: str, *flags: str) -> str:
    if NODE is None or not COMUNICA.is_file():
        pytest.skip("needs node and `npm ci` (@comunica/query-sparql)")
    run = subprocess.run(
        [NODE, str(COMUNICA), f"sparql@{source}", *flags, query],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "createZstdDecompress" in run.stderr:
        pytest.skip(f"this Node ({subprocess.getoutput(NODE + ' --version')}) is older than "
                    "Comunica's HTTP client needs (undici wants >= 22.19)")  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def test_comunica_select_ask_construct(endpoint: str) -> None:
    select = "SELECT ?o WHERE { <https://w3id.org/kgpub/id/ecuador> a ?o }"
    rows = json.loads(comunica(endpoint, select))
    ours = requests.get(endpoint, params={"query": select}, timeout=10).json()
    assert {r["o"].strip("<>") for r in rows} == {
        b["o"]["value"] for b in ours["results"]["bindings"]
    }
    assert comunica(endpoint, "ASK { ?s ?p ?o }").strip() == "true"
    construct = "CONSTRUCT { ?s ?p ?o } WHERE { ?s a ?o . BIND(<urn:p> AS ?p) }"
    text = comunica(endpoint, construct, "-t", "application/n-triples")
    theirs = rdflib.Graph().parse(data=text, format="nt")
    mine = rdflib.Graph().parse(
        data=requests.get(
            endpoint, params={"query": construct}, headers={"Accept": "application/n-triples"}
        ).text,
        format="nt",
    )
    assert len(theirs) == len(mine) > 0 and set(theirs) == set(mine)
