"""``kgpub publish`` against a real ``oxigraph serve`` on 127.0.0.1, started and stopped here.

Where a failure is needed, a small HTTP proxy sits between kgpub and Oxigraph and answers one
chosen request with an error; everything else reaches the real store.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyoxigraph as ox
import pytest
import requests
from kgpub.mappings import build
from kgpub.mappings.dumps import sha256
from kgpub.mappings.iris import Minter
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic

from kgpub.cli import main
from kgpub.publish import STAGING_PREFIX, staging_graph
from kgpub.settings import Settings
from tests.conftest import FIXTURES, ROOT

OXIGRAPH = Path(sys.executable).parent / "oxigraph"
BASE = "https://w3id.org/kgpub/"
MINTER = Minter(BASE)
DCT = "http://purl.org/dc/terms/"
LIVE_COUNTS = (
    "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } "
    f'FILTER(!STRSTARTS(STR(?g), "{STAGING_PREFIX}")) }} GROUP BY ?g'
)

pytestmark = pytest.mark.skipif(not OXIGRAPH.exists(), reason="the oxigraph CLI is not installed")


# -- a real store ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Oxigraph:
    url: str
    process: subprocess.Popen

    @property
    def store(self) -> str:
        return self.url + "/store"

    def select(self, query: str) -> list[dict[str, str]]:
        reply = requests.post(
            self.url + "/query",
            data={"query": query},
            headers={"Accept": "application/sparql-results+json"},
            timeout=30,
        )
        reply.raise_for_status()
        return [
            {k: v["value"] for k, v in row.items()} for row in reply.json()["results"]["bindings"]
        ]

    def counts(self) -> dict[str, int]:
        """Triples per named graph, staging graphs included."""
        rows = self.select("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
        return {row["g"]: int(row["n"]) for row in rows}

    def graph(self, name: str | None) -> Graph:
        params = {"graph": name} if name is not None else {"default": ""}
        reply = requests.get(
            self.store, params=params, headers={"Accept": "application/n-triples"}, timeout=30
        )
        reply.raise_for_status()
        return Graph().parse(data=reply.text, format="nt")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_oxigraph(location: Path, port: int | None = None) -> Oxigraph:
    port = port or free_port()
    log = location.with_suffix(".log")
    start = log.stat().st_size if log.exists() else 0  # a restart appends to the same log
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(OXIGRAPH), "serve", "--location", str(location), "--bind", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Oxigraph(f"http://127.0.0.1:{port}", process)
    try:
        wait_until_listening(server, log, start)
    except BaseException:
        server.stop()
        raise
    return server


def wait_until_listening(server: Oxigraph, log: Path, start: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"oxigraph exited early:\n{log.read_text()}")
        # our own process must be the one listening: another server on the port would be
        # written to (that one fails with "Address already in use" and never says this)
        if f"Listening for requests at {server.url}".encode() in log.read_bytes()[start:]:
            try:
                if requests.post(server.url + "/query", data={"query": "ASK {}"}, timeout=5).ok:
                    return
            except requests.ConnectionError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"oxigraph did not start:\n{log.read_text()}")


@pytest.fixture()
def oxigraph(tmp_path: Path) -> Iterator[Oxigraph]:
    server = start_oxigraph(tmp_path / "oxigraph")
    yield server
    server.stop()


# -- a proxy that fails on demand ------------------------------------------------------------


@dataclass
class Proxy:
    """Forwards to Oxigraph; answers 500 to writes of ``fail_graph`` or to updates while
    ``fail_update`` is set, and 401 without the expected basic auth when ``auth`` is set."""

    upstream: str
    fail_graph: str | None = None
    fail_update: bool = False
    auth: str | None = None
    writes: list[str] = field(default_factory=list)  # graph of every PUT/POST, in order
    methods: list[str] = field(default_factory=list)  # and its method
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep the test output quiet
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urlsplit(self.path)
                graph = parse_qs(path.query).get("graph", [None])[0]
                if proxy.auth and self.headers.get("Authorization") != proxy.auth:
                    return self._answer(401, b"authentication required")
                if self.command in ("PUT", "POST") and path.path == "/store":
                    proxy.writes.append(str(graph))
                    proxy.methods.append(self.command)
                    if graph is not None and graph == proxy.fail_graph:
                        return self._answer(500, b"disk quota exceeded on the test store")
                if path.path == "/update" and proxy.fail_update:
                    return self._answer(500, b"update refused by the test proxy")
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                reply = requests.request(
                    self.command, proxy.upstream + self.path, data=body, headers=headers, timeout=60
                )
                self._answer(reply.status_code, reply.content, reply.headers.get("Content-Type"))

            def _answer(self, status: int, body: bytes, content_type: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type or "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = _forward

        return Handler


@pytest.fixture()
def proxy(oxigraph: Oxigraph) -> Iterator[Proxy]:
    proxy = Proxy(oxigraph.url)
    proxy.server = ThreadingHTTPServer(("127.0.0.1", 0), proxy.handler())
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.server.shutdown()
    proxy.server.server_close()


# -- builds ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def second_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of the second-article fixture alone, same base IRI: a build that changes every
    fact graph of the first one."""
    build_dir = tmp_path_factory.mktemp("second-build")
    settings = Settings.load(
        {"root": ROOT, "data_dir": FIXTURES / "second" / "data", "build_dir": build_dir},
        environ={},
    )
    build.run(settings, stream=io.StringIO())
    return build_dir / "current"


def copy_build(build_folder: Path, target: Path) -> Path:
    """A private copy of a build, so that its publish record is this test's own."""
    shutil.copytree(build_folder.resolve(), target)
    return target


@pytest.fixture()
def old(built: Path, tmp_path: Path) -> Path:
    return copy_build(built, tmp_path / "old-build")


@pytest.fixture()
def new(second_built: Path, tmp_path: Path) -> Path:
    return copy_build(second_built, tmp_path / "new-build")


def build_id(folder: Path) -> str:
    return json.loads((folder / "manifest.json").read_text())["build_id"]


def build_graphs(folder: Path) -> dict[str | None, set[ox.Triple]]:
    """The build's own graphs, read from its N-Quads dump."""
    dump = next((folder / "dumps").glob("*.nq"))
    graphs: dict[str | None, set[ox.Triple]] = {}
    for quad in ox.parse(path=str(dump), format=ox.RdfFormat.N_QUADS):
        name = None if isinstance(quad.graph_name, ox.DefaultGraph) else quad.graph_name.value
        graphs.setdefault(name, set()).add(ox.Triple(quad.subject, quad.predicate, quad.object))
    return graphs


def expected_live(folder: Path) -> dict[str, int]:
    """What a reader counts once ``folder`` is live: its graphs, and the two triples that record
    the build in the dataset description."""
    counts = {name: len(triples) for name, triples in build_graphs(folder).items() if name}
    counts[str(MINTER.dataset_graph)] += 2
    return counts


def store_graph(folder: Path, name: str) -> Graph:
    """A graph as the build's own store holds it. Oxigraph keeps integer subtypes as xsd:integer
    (``"3"^^xsd:nonNegativeInteger`` in the dump is ``"3"^^xsd:integer`` in any Oxigraph store),
    so the store, not the dump, is what a remote Oxigraph must match term for term."""
    store = ox.Store.read_only(str(folder / "store"))
    triples = [
        ox.Triple(q.subject, q.predicate, q.object)
        for q in store.quads_for_pattern(None, None, None, ox.NamedNode(name))
    ]
    return Graph().parse(data=ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES), format="nt")


def publish(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["publish", *args])
    return code, capsys.readouterr().err


def live_build(server: Oxigraph) -> list[str]:
    rows = server.select(
        f"SELECT ?id WHERE {{ GRAPH <{MINTER.dataset_graph}> "
        f"{{ <{MINTER.dataset}> <{DCT}identifier> ?id }} }}"
    )
    return [row["id"] for row in rows]


# -- the tests -------------------------------------------------------------------------------


def test_every_graph_arrives_with_exactly_the_triples_of_the_build(
    oxigraph: Oxigraph, old: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # small batches: the big graphs (text, provenance, ontology) go in one PUT and many POSTs
    code, err = publish(
        capsys, "--to", oxigraph.store, "--build", str(old), "--batch-triples", "100"
    )
    assert code == 0, err
    graphs = build_graphs(old)
    assert None not in graphs  # a kgpub build keeps everything in named graphs
    assert oxigraph.counts() == expected_live(old)
    assert live_build(oxigraph) == [build_id(old)]
    for name in (
        MINTER.provenance_graph("ecuador-security-crisis"),
        MINTER.text_graph("ecuador-security-crisis"),
        MINTER.ontology_graph,
        MINTER.fact("ecuador-security-crisis", "meetings-chair"),
    ):
        assert isomorphic(oxigraph.graph(str(name)), store_graph(old, str(name))), name
    # the description on the remote is the build's, plus the record of which build is live
    remote = oxigraph.graph(str(MINTER.dataset_graph))
    description = store_graph(old, str(MINTER.dataset_graph))
    assert len(remote) == len(description) + 2 and not description - remote
    extra = remote - description
    assert {(s, p) for s, p, _ in extra} == {
        (MINTER.dataset, URIRef(DCT + "identifier")),
        (MINTER.dataset, URIRef(DCT + "modified")),
    }
    assert (MINTER.dataset, URIRef(DCT + "identifier"), Literal(build_id(old))) in remote
    # progress: graph k/N, triples sent, rate
    total = sum(len(t) for t in graphs.values())
    assert f"graph {len(graphs)}/{len(graphs)}: {total} triples sent" in err
    assert "triples/s" in err and f"published build {build_id(old)}" in err

    modified = oxigraph.select(f"SELECT ?m WHERE {{ GRAPH ?g {{ ?d <{DCT}modified> ?m }} }}")
    code, err = publish(capsys, "--to", oxigraph.store, "--build", str(old))
    assert code == 0, err
    assert f"build {build_id(old)} is already live" in err
    # a no-op: the switch did not run again
    assert (
        oxigraph.select(f"SELECT ?m WHERE {{ GRAPH ?g {{ ?d <{DCT}modified> ?m }} }}") == modified
    )


def test_a_new_build_replaces_the_old_one_and_readers_never_see_a_mix(
    oxigraph: Oxigraph, old: Path, new: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish(capsys, "--to", oxigraph.store, "--build", str(old))[0] == 0
    before, after = expected_live(old), expected_live(new)
    assert before != after

    seen: list[dict[str, int]] = []
    stop = threading.Event()

    def read_continuously() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                reply = session.get(
                    oxigraph.url + "/query",
                    params={"query": LIVE_COUNTS},
                    headers={"Accept": "application/sparql-results+json"},
                    timeout=30,
                )
                rows = reply.json()["results"]["bindings"]
                seen.append({r["g"]["value"]: int(r["n"]["value"]) for r in rows})

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        while not seen:
            time.sleep(0.01)
        code, err = publish(capsys, "--to", oxigraph.store, "--build", str(new))
        observed_during = len(seen)
        time.sleep(0.2)
    finally:
        stop.set()
        reader.join()
    assert code == 0, err

    assert observed_during > 5, "the reader did not run during the publish"
    states = ["old" if s == before else "new" if s == after else "mix" for s in seen]
    assert "mix" not in states
    assert states[0] == "old" and states[-1] == "new"
    # once readers see the new build they never see the old one again
    assert "old" not in states[states.index("new") :]

    remote = oxigraph.counts()
    assert remote == after  # removed graphs are gone, no staging graph is left
    assert str(MINTER.text_graph("ecuador-security-crisis")) not in remote
    assert live_build(oxigraph) == [build_id(new)]
    assert "graphs the new build does not have" in err


def test_a_failure_midway_leaves_the_live_data_and_a_rerun_finishes(
    oxigraph: Oxigraph, proxy: Proxy, old: Path, new: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    to = proxy.url + "/store"  # .../update and .../query are derived from it, through the proxy
    assert publish(capsys, "--to", to, "--build", str(old))[0] == 0
    failing = str(MINTER.provenance_graph("port-inspection-visit"))
    proxy.fail_graph = staging_graph(build_id(new), failing)
    proxy.writes.clear()

    code, err = publish(capsys, "--to", to, "--build", str(new))
    assert code == 1
    assert f"<{failing}> failed: HTTP 500" in err
    assert "disk quota exceeded on the test store" in err
    assert f"to resume, run the same command again: kgpub publish --to {to} --build {new}" in err
    assert "Traceback" not in err
    # readers still see the old build, the staged graphs wait beside it
    assert {g: n for g, n in oxigraph.counts().items() if not g.startswith(STAGING_PREFIX)} == (
        expected_live(old)
    )
    assert live_build(oxigraph) == [build_id(old)]
    state = json.loads((new / "publish-state.json").read_text())[to]
    assert state["status"] == "failed" and failing in state["error"]
    staged_before = [g for g in proxy.writes if g != proxy.fail_graph]
    assert staged_before, "the failing graph should not be the first one"

    proxy.fail_graph = None
    proxy.writes.clear()
    code, err = publish(capsys, "--to", to, "--build", str(new))
    assert code == 0, err
    graphs = len(build_graphs(new))
    assert f"resuming: {len(staged_before)} of {graphs} graphs are staged already" in err
    # what was staged before the failure is not sent again
    assert not set(proxy.writes) & set(staged_before)
    assert oxigraph.counts() == expected_live(new)
    assert live_build(oxigraph) == [build_id(new)]
    assert json.loads((new / "publish-state.json").read_text())[to]["status"] == "live"


def test_a_failed_switch_changes_nothing_and_a_rerun_switches(
    oxigraph: Oxigraph, proxy: Proxy, old: Path, new: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    to = proxy.url + "/store"
    assert publish(capsys, "--to", to, "--build", str(old))[0] == 0
    proxy.fail_update = True
    code, err = publish(capsys, "--to", to, "--build", str(new))
    assert code == 1
    assert "switching build" in err and "HTTP 500" in err and "update refused" in err
    assert "to resume, run the same command again" in err
    assert live_build(oxigraph) == [build_id(old)]

    proxy.fail_update = False
    proxy.writes.clear()
    code, err = publish(capsys, "--to", to, "--build", str(new))
    assert code == 0, err
    assert proxy.writes == []  # everything was staged: the rerun only switches
    assert oxigraph.counts() == expected_live(new)


def test_staging_graphs_of_an_abandoned_publish_are_removed(
    oxigraph: Oxigraph, proxy: Proxy, old: Path, new: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    to = proxy.url + "/store"
    assert publish(capsys, "--to", to, "--build", str(old))[0] == 0
    proxy.fail_graph = staging_graph(build_id(new), str(MINTER.dataset_graph))
    assert publish(capsys, "--to", to, "--build", str(new))[0] == 1
    abandoned = [g for g in oxigraph.counts() if g.startswith(STAGING_PREFIX)]
    assert abandoned

    # the new build is given up: publishing the old one again clears what it left behind
    code, err = publish(capsys, "--to", to, "--build", str(old))
    assert code == 0, err
    assert f"removed {len(abandoned)} staging graphs of an abandoned publish" in err
    assert f"build {build_id(old)} is already live" in err
    assert oxigraph.counts() == expected_live(old)


def make_build(folder: Path, nquads: str, base: str = "http://example.org/kg/") -> Path:
    """A build folder as ``kgpub build`` lays it out, around a given N-Quads dump."""
    (folder / "dumps").mkdir(parents=True)
    data = nquads.encode()
    (folder / "dumps" / "small.nq").write_bytes(data)
    manifest = {
        "build_id": sha256(data)[:16],
        "base_iri": base,
        "dumps": [{"file": "small.nq", "format": "nquads", "encoding": None}],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_big_graphs_go_in_batches_and_blank_nodes_stay_together(
    oxigraph: Oxigraph, proxy: Proxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ex = "http://example.org/kg/"
    lines = [f'<{ex}id/a> <{ex}p> "default {i}" .' for i in range(5)]
    # a graph of blank nodes bigger than a batch: cut in two, a store that scopes blank node
    # labels to one document (as the protocol says) would break the chain
    lines += [f"_:n{i} <{ex}next> _:n{i + 1} <{ex}graph/chain> ." for i in range(7)]
    lines += [f'<{ex}id/b> <{ex}p> "{i}" <{ex}graph/plain> .' for i in range(7)]
    folder = make_build(tmp_path / "small", "\n".join(lines) + "\n")
    code, err = publish(
        capsys, "--to", proxy.url + "/store", "--build", str(folder), "--batch-triples", "2"
    )
    assert code == 0, err
    sent = {}
    for graph, method in zip(proxy.writes, proxy.methods, strict=True):
        sent.setdefault(graph, []).append(method)
    staged = {
        name: staging_graph(build_id(folder), name)
        for name in (None, *(f"{ex}graph/{g}" for g in ("chain", "plain")))
    }
    assert sent[staged[None]] == ["PUT", "POST", "POST"]  # 5 triples, 2 a batch
    assert sent[staged[f"{ex}graph/plain"]] == ["PUT", "POST", "POST", "POST"]
    assert sent[staged[f"{ex}graph/chain"]] == ["PUT"]
    assert len(oxigraph.graph(None)) == 5  # the default graph, moved to DEFAULT
    chain = oxigraph.graph(f"{ex}graph/chain")
    assert len(chain) == 7
    assert len(set(chain.subjects()) - set(chain.objects())) == 1  # one chain
    assert len(oxigraph.graph(f"{ex}graph/plain")) == 7
    assert not [g for g in oxigraph.counts() if g.startswith(STAGING_PREFIX)]


def test_other_data_in_the_store_is_left_alone(
    oxigraph: Oxigraph, old: Path, new: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "http://example.org/someone-else/graph"
    requests.put(
        oxigraph.store,
        params={"graph": other},
        data='<http://example.org/x> <http://example.org/y> "z" .',
        headers={"Content-Type": "application/n-triples"},
        timeout=10,
    ).raise_for_status()
    for folder in (old, new):
        assert publish(capsys, "--to", oxigraph.store, "--build", str(folder))[0] == 0
    assert oxigraph.counts() == {**expected_live(new), other: 1}


def test_credentials_come_from_the_environment(
    proxy: Proxy, old: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.auth = "Basic cHVibGlzaGVyOnMzY3JldA=="  # publisher:s3cret
    code, err = publish(capsys, "--to", proxy.url + "/store", "--build", str(old))
    assert code == 2 and "HTTP 401" in err and "nothing was changed" in err
    monkeypatch.setenv("KGPUB_PUBLISH_USER", "publisher")
    monkeypatch.setenv("KGPUB_PUBLISH_PASSWORD", "s3cret")
    code, err = publish(capsys, "--to", proxy.url + "/store", "--build", str(old))
    assert code == 0, err
    assert "s3cret" not in err


@pytest.mark.parametrize(
    ("to", "extra", "message"),
    [
        ("ftp://127.0.0.1/store", [], "is not an http(s) URL"),
        ("not a url", [], "is not an http(s) URL"),
        ("http://127.0.0.1:99999/store", [], "Port out of range"),
        ("http://user:pw@127.0.0.1:7878/store", [], "put credentials in KGPUB_PUBLISH_USER"),
        ("http://127.0.0.1:7878/sparql", [], "give it with --update URL"),
        ("http://127.0.0.1:7878/store", ["--update", "file:///x"], "--update 'file:///x'"),
        ("http://127.0.0.1:7878/store", ["--batch-triples", "0"], "at least 1"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    old: Path, capsys: pytest.CaptureFixture[str], to: str, extra: list[str], message: str
) -> None:
    code, err = publish(capsys, "--to", to, "--build", str(old), *extra)
    assert code == 2
    assert message in err and err.startswith("error: ")


def test_a_folder_that_is_no_build_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = publish(capsys, "--to", "http://127.0.0.1:7878/store", "--build", str(tmp_path))
    assert code == 2 and "is not a build folder (no manifest.json); run kgpub build" in err


def test_a_manifest_with_a_forged_build_id_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_build(
        tmp_path / "forged", "<http://e/s> <http://e/p> <http://e/o> <http://e/g> .\n"
    )
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["build_id"] = 'x" } } ; DROP ALL ; #'
    (folder / "manifest.json").write_text(json.dumps(manifest))
    code, err = publish(capsys, "--to", "http://127.0.0.1:7878/store", "--build", str(folder))
    assert code == 2 and "is not a hex digest" in err


def test_a_dump_that_does_not_match_its_build_id_exits_2(
    old: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = next((old / "dumps").glob("*.nq"))
    dump.write_bytes(dump.read_bytes() + b'<http://e/s> <http://e/p> "x" <http://e/g> .\n')
    code, err = publish(capsys, "--to", "http://127.0.0.1:7878/store", "--build", str(old))
    assert code == 2 and f"does not match build id {build_id(old)}" in err


def test_an_unreachable_store_exits_2_without_a_traceback(old: Path) -> None:
    to = f"http://127.0.0.1:{free_port()}/store"  # nothing listens there
    result = subprocess.run(
        [sys.executable, "-m", "kgpub.cli", "publish", "--to", to, "--build", str(old)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"cannot reach {to.removesuffix('/store')}/query" in result.stderr
    assert "nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_store_that_stops_midway_fails_resumably(
    tmp_path: Path, old: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = tmp_path / "stopping"
    server = start_oxigraph(location)
    problems: list[str] = []

    def stop_the_store_once_some_graphs_are_staged() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                staged = [g for g in server.counts() if g.startswith(STAGING_PREFIX)]
            except requests.RequestException as exc:  # a busy store: ask again
                problems.append(repr(exc))
                continue
            if len(staged) >= 10:
                server.stop()
                return
            time.sleep(0.01)
        problems.append("no 10 staging graphs within 60 s")

    watcher = threading.Thread(target=stop_the_store_once_some_graphs_are_staged)
    watcher.start()
    try:
        # tiny batches: the publish takes long enough for the watcher to stop the store midway
        code, err = publish(
            capsys, "--to", server.store, "--build", str(old), "--batch-triples", "3"
        )
    finally:
        watcher.join()
        server.stop()
    graphs = len(build_graphs(old))
    assert code == 1, (err, problems)
    assert re.search(
        rf"staging graph \d+/{graphs} <[^>]+> failed: cannot reach {server.store}", err
    ), err
    assert "to resume, run the same command again" in err and "Traceback" not in err

    # the store comes back on the same port with its data: the rerun skips what was staged
    restarted = start_oxigraph(location, port=int(server.url.rsplit(":", 1)[1]))
    try:
        code, err = publish(capsys, "--to", restarted.store, "--build", str(old))
        assert code == 0, err
        assert re.search(rf"resuming: \d+ of {graphs} graphs are staged already", err), err
        assert restarted.counts() == expected_live(old)
    finally:
        restarted.stop()
