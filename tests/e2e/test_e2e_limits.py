"""Limits as a client meets them on a real ``kgpub serve``: request heads, the size of an answer,
and connections beyond what a worker takes on at once."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import rdflib
import requests

pytestmark = pytest.mark.e2e

Server = Any  # conftest.Server
CROSS = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"  # 36^3 rows: tens of megabytes


def connect(server: Server) -> socket.socket:
    host, port = urlsplit(server.url).netloc.split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def exchange(server: Server, request: bytes) -> bytes:
    """Send ``request`` as is and read until the server closes the connection."""
    with connect(server) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def get_request(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "Connection: close", "", ""]
    return "\r\n".join(lines).encode()


class TestRequestHead:
    def test_headers_within_the_limit_are_served(self, server: Server) -> None:
        answer = exchange(server, get_request("/-/ping", "X-Padding: " + "a" * 12_000))
        assert answer.startswith(b"HTTP/1.1 200")

    def test_headers_over_the_limit_get_431_and_the_connection_closes(self, server: Server) -> None:
        # the head may hold max_url_bytes + max_header_bytes (8192 + 16384) bytes
        answer = exchange(server, get_request("/-/ping", "X-Padding: " + "a" * 30_000))
        assert answer.startswith(b"HTTP/1.1 431")
        assert b"connection: close" in answer.lower()

    def test_many_headers_count_together(self, server: Server) -> None:
        padding = [f"X-Padding-{n}: {'a' * 1000}" for n in range(30)]
        assert exchange(server, get_request("/-/ping", *padding)).startswith(b"HTTP/1.1 431")

    def test_a_long_query_url_gets_414(self, server: Server) -> None:
        query = quote("ASK { ?s ?p ?o } #" + "x" * 9_000)
        answer = exchange(server, get_request(f"/sparql?query={query}", "Accept: text/plain"))
        assert answer.startswith(b"HTTP/1.1 414")
        assert b"use POST" in answer or b"POST" in answer


@pytest.fixture()
def small_answers(
    workdir: Path, server_factory: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> Server:
    monkeypatch.setenv("KGPUB_MAX_RESPONSE_BYTES", "2000")
    return server_factory(workdir / "store")


@pytest.fixture()
def capped_stream(
    workdir: Path, server_factory: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> Server:
    monkeypatch.setenv("KGPUB_MAX_RESPONSE_BYTES", "1500000")
    monkeypatch.setenv("KGPUB_CACHE", "false")
    return server_factory(workdir / "store", "--max-rows", "0", "--timeout", "20")


class TestResponseBytes:
    def test_a_whole_answer_over_the_cap_is_422(self, small_answers: Server) -> None:
        response = requests.get(
            small_answers.url + "/sparql",
            params={"query": "SELECT * WHERE { ?s ?p ?o }"},
            headers={"Accept": "application/sparql-results+json"},
            timeout=30,
        )
        assert response.status_code == 422
        assert "larger than 2000 bytes" in response.text
        small = requests.get(
            small_answers.url + "/sparql", params={"query": "ASK { ?s ?p ?o }"}, timeout=30
        )
        assert small.status_code == 200 and small.json()["boolean"] is True

    def test_a_stream_over_the_cap_ends_without_its_last_chunk(self, capped_stream: Server) -> None:
        """The head (200) went out before the cap was passed: the chunked body is then cut off,
        with no terminating chunk, and the connection closed; no client takes it for whole."""
        answer = exchange(
            capped_stream,
            get_request("/sparql?query=" + quote(CROSS), "Accept: application/sparql-results+json"),
        )
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"transfer-encoding: chunked" in head.lower()
        assert 1_000_000 <= len(body) <= 1_600_000
        assert not body.endswith(b"0\r\n\r\n")  # the last chunk of a whole chunked body
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(capped_stream.url + "/sparql", params={"query": CROSS}, timeout=30).content  # noqa: B018 (reading the body is the test)
        # the server is fine afterwards
        assert requests.get(capped_stream.url + "/-/ping", timeout=10).text == "ok"
        # and its log says so in one line each time, with no traceback of a crash that was not
        deadline = time.monotonic() + 5
        log = ""
        while log.count("cut short") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            log = capped_stream.log.read_text(encoding="utf-8", errors="replace")
        assert log.count("[WARNING] an answer was cut short after its head was sent: ") == 2
        assert "larger than" in log
        assert "Traceback" not in log


@pytest.fixture()
def capped_rows(workdir: Path, server_factory: Callable[..., Server]) -> Server:
    return server_factory(workdir / "store", "--max-rows", "5")


def test_the_graph_store_answers_whole_graphs_past_the_row_cap(capped_rows: Server) -> None:
    """The endpoint's answers are cut at 5 rows; a graph asked of the Graph Store is not."""
    url = capped_rows.url
    count = requests.get(
        url + "/sparql",
        params={"query": "SELECT (COUNT(*) AS ?n) { SELECT DISTINCT ?s ?p ?o { ?s ?p ?o } }"},
        headers={"Accept": "application/sparql-results+json"},
        timeout=30,
    )
    triples = int(count.json()["results"]["bindings"][0]["n"]["value"])
    assert triples > 5
    graph = requests.get(
        url + "/store?default", headers={"Accept": "application/n-triples"}, timeout=30
    )
    assert graph.status_code == 200 and graph.headers["X-Result-Truncated"] == "false"
    assert len(rdflib.Graph().parse(data=graph.text, format="nt")) == triples
    cut = requests.get(
        url + "/sparql",
        params={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
        headers={"Accept": "application/n-triples"},
        timeout=30,
    )
    assert cut.headers["X-Result-Truncated"] == "true"
    assert len(rdflib.Graph().parse(data=cut.text, format="nt")) == 5


@pytest.fixture()
def two_at_once(
    workdir: Path, server_factory: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> Server:
    monkeypatch.setenv("KGPUB_MAX_CONCURRENT_REQUESTS", "2")
    return server_factory(workdir / "store", "--workers", "1")


def test_connections_beyond_the_cap_wait_their_turn(two_at_once: Server) -> None:
    """A worker serves max_concurrent_requests connections at once (idle keep-alive ones count);
    the next one is not refused but waits, unanswered, until one of them closes."""
    held = []
    for _ in range(2):
        connection = connect(two_at_once)
        connection.sendall(b"GET /-/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert connection.recv(4096).startswith(b"HTTP/1.1 200")
        held.append(connection)  # kept open: keep-alive
    waiting = connect(two_at_once)
    waiting.sendall(get_request("/-/ping"))
    waiting.settimeout(1.0)
    with pytest.raises(TimeoutError):
        waiting.recv(4096)
    held.pop().close()
    waiting.settimeout(10)
    started = time.monotonic()
    assert waiting.recv(4096).startswith(b"HTTP/1.1 200")
    assert time.monotonic() - started < 5
    for connection in (*held, waiting):
        connection.close()
