"""A real server process on 127.0.0.1, serving a store loaded from the TriG fixture.

The server is ``kgpub serve`` (granian, its workers and their query processes); it is stopped by
its own PID at the end of the session. The session's ``server`` runs twice: on the embedded store,
and in front of a remote store (``kgpub serve --backend``), a real ``oxigraph serve`` on 127.0.0.1
holding the same data, so every test written against ``server`` or ``endpoint`` runs against both.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests

FIXTURE = Path(__file__).parent / "fixtures" / "dataset.trig"
PROJECT = Path(__file__).parents[2]
TIMEOUT_SECONDS = 2
# the ``oxigraph`` command of the PyPI package ``oxigraph``, next to this interpreter
OXIGRAPH = str(Path(sys.executable).with_name("oxigraph"))
# the remote store's own limit per query; ours (TIMEOUT_SECONDS) answers long before it
OXIGRAPH_TIMEOUT_SECONDS = 30
BACKENDS = ("embedded", "remote")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command() -> list[str]:
    """``kgpub serve`` through the CLI when it has the command, else the server's own entry."""
    cli = PROJECT / "kgpub" / "cli.py"
    if cli.is_file() and "cmd_serve" in cli.read_text(encoding="utf-8"):
        return [sys.executable, "-m", "kgpub.cli", "serve"]
    return [sys.executable, "-m", "kgpub.server.wsgi"]


@dataclass
class Oxigraph:
    """An ``oxigraph serve`` process on 127.0.0.1: a remote SPARQL store for kgpub to front."""

    port: int
    location: Path
    log: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        """Its SPARQL query endpoint: what ``kgpub serve --backend`` takes."""
        return self.url + "/query"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()  # it waits for a running query; the data is on disk
                self.process.wait()

    def restart(self) -> None:
        """The same store on the same port: stops a query it would otherwise run on for long."""
        self.stop()
        self.process = start_oxigraph(self.location, self.log.parent, self.port).process

    def count(self, query: str = "SELECT (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } }") -> int:
        """The number ``query`` counts, asked of the store directly (not through kgpub)."""
        response = requests.post(
            self.endpoint,
            data={"query": query},
            headers={"Accept": "application/sparql-results+json"},
            timeout=30,
        )
        response.raise_for_status()
        return int(response.json()["results"]["bindings"][0]["n"]["value"])


def load_oxigraph(location: Path, *files: Path) -> Path:
    """A store for ``oxigraph serve``, loaded with ``oxigraph load`` (TriG, N-Quads, ...)."""
    command = [OXIGRAPH, "load", "--location", str(location)]
    for file in files:
        command += ["--file", str(file)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return location


def start_oxigraph(location: Path, logs: Path, port: int | None = None, *flags: str) -> Oxigraph:
    """``oxigraph serve`` (read-write, like a real remote store) until it answers a query."""
    port = port or free_port()
    log = logs / f"oxigraph-{port}.log"
    command = [
        OXIGRAPH,
        "serve",
        "--location",
        str(location),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout-s",
        str(OXIGRAPH_TIMEOUT_SECONDS),
        *flags,
    ]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    store = Oxigraph(port, location, log, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"oxigraph exited early:\n{log.read_text()}")
        try:
            answer = requests.get(store.endpoint, params={"query": "ASK {}"}, timeout=1)
            if answer.status_code == 200:
                return store
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    store.stop()
    raise RuntimeError(f"oxigraph did not start:\n{log.read_text()}")


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    store: Path
    remote: Oxigraph | None = None  # the remote store it fronts (--backend), if any

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(workdir: Path, store: Path, *flags: str) -> Server:
    port = free_port()
    log = workdir / f"server-{port}.log"
    command = [
        *serve_command(),
        "--root",
        str(workdir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--store",
        str(store),
        "--timeout",
        str(TIMEOUT_SECONDS),
        "--workers",
        "2",
        *flags,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env={**os.environ}
        )
    server = Server(f"http://127.0.0.1:{port}", process, log, store)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            if requests.get(server.url + "/-/ping", timeout=1).text == "ok":
                return server
        except requests.ConnectionError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder: the store, plus the ontology folder the query page reads."""
    workdir = tmp_path_factory.mktemp("e2e")
    store = ox.Store(str(workdir / "store"))
    store.bulk_load(path=str(FIXTURE), format=ox.RdfFormat.TRIG)
    store.flush()
    del store
    (workdir / "ontology" / "cq").mkdir(parents=True)
    return workdir


@pytest.fixture(scope="session")
def remote_store(workdir: Path) -> Iterator[Oxigraph]:
    """``oxigraph serve`` on its own store, loaded from the same fixture as the embedded one."""
    store = start_oxigraph(load_oxigraph(workdir / "oxigraph-store", FIXTURE), workdir)
    yield store
    store.stop()


def start_remote_server(workdir: Path, remote: Oxigraph, *flags: str) -> Server:
    """``kgpub serve --backend`` in front of ``remote``."""
    server = start_server(workdir, workdir / "store", "--backend", remote.endpoint, *flags)
    server.remote = remote
    return server


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Which store the session's ``server`` serves: the embedded one, or a remote one."""
    return request.param


@pytest.fixture(scope="session")
def server(workdir: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[Server]:
    if backend == "remote":
        server = start_remote_server(workdir, request.getfixturevalue("remote_store"))
    else:
        server = start_server(workdir, workdir / "store")
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _remote_store_left_calm(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that sent the heavy query through the remote store, restart that store.

    We answer the client at our deadline and close the connection, but Oxigraph computes an
    aggregate to its end (or, much later, to its own timeout): the next tests would share the
    CPU with it.
    """
    call = getattr(request.node, "callspec", None)
    remote = None
    on_remote = call is not None and call.params.get("backend") == "remote"
    if on_remote and "heavy_query" in request.fixturenames:
        remote = request.getfixturevalue("remote_store")
    yield
    if remote is not None:
        remote.restart()


@pytest.fixture()
def server_factory(workdir: Path) -> Iterator[Callable[..., Server]]:
    """More servers, each stopped by its PID at the end of the test. ``remote=`` an ``Oxigraph``
    starts one in front of that remote store instead of on ``store``."""
    started: list[Server] = []

    def factory(store: Path, *flags: str, remote: Oxigraph | None = None) -> Server:
        if remote is not None:
            started.append(start_remote_server(workdir, remote, *flags))
        else:
            started.append(start_server(workdir, store, *flags))
        return started[-1]

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def endpoint(server: Server) -> str:
    return server.url + "/sparql"


@pytest.fixture(scope="session")
def heavy_query() -> str:
    """Every pattern joins with every triple: billions of solutions even on the small fixture."""
    return (
        "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n ?o . "
        "?p ?q ?r . ?s ?t ?u }"
    )


class Listener:
    """A socket on 127.0.0.1 that counts the connections made to it: a server that makes no
    outbound request leaves it at zero."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture()
def listener() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()
