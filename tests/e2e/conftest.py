"""A real server process on 127.0.0.1, serving a store loaded from the TriG fixture.

The server is ``kgpub serve`` (granian, its workers and their query processes); it is stopped by
its own PID at the end of the session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
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
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    store: Path

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
def server(workdir: Path) -> Iterator[Server]:
    server = start_server(workdir, workdir / "store")
    yield server
    server.stop()


@pytest.fixture()
def server_factory(workdir: Path) -> Iterator[Callable[..., Server]]:
    """More servers, each stopped by its PID at the end of the test."""
    started: list[Server] = []

    def factory(store: Path, *flags: str) -> Server:
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
