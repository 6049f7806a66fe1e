"""What an operator sees: /-/metrics, /-/health, the JSON access lines and the cache policy."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pyoxigraph as ox
import pytest
from flask import Flask
from flask.testing import FlaskClient
from kgpub.server import cachepolicy, loglines, observe, system, wsgi
from kgpub.server.runtime import RUNTIME_VARIABLE, shared_runtime_dir
from prometheus_client.parser import text_string_to_metric_families

from kgpub import storecounts

FIXTURE = Path(__file__).parents[1] / "e2e" / "fixtures" / "dataset.trig"
SELECT = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 5"
JSON_RESULTS = {"Accept": "application/sparql-results+json"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/-/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples: Samples, route: str, status: str, method: str = "GET") -> float:
    return value(samples, "kgpub_http_requests_total", route=route, method=method, status=status)


class AccessLines(logging.Handler):
    """The access lines the app writes, as the JSON documents they are."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture()
def access_lines() -> Iterator[AccessLines]:
    handler = AccessLines()
    logger = logging.getLogger(observe.ACCESS_LOGGER)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


class BarePipe:
    """The access logger as ``kgpub serve`` sets it up, one bare ``LineHandler``, writing on a
    pipe that a thread drains, as the server's stderr would be."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        self.data = bytearray()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while chunk := os.read(self.read_end, 65536):
            self.data += chunk

    def lines(self, count: int) -> list[str]:
        loglines.flush_all()  # the lines a worker would write within FLUSH_SECONDS
        os.close(self.write_end)
        self.reader.join(timeout=10)
        os.close(self.read_end)
        lines = self.data.decode("ascii").split("\n")
        assert lines[-1] == "" and len(lines) == count + 1
        return lines[:-1]


@pytest.fixture()
def bare_pipe(monkeypatch: pytest.MonkeyPatch) -> Iterator[BarePipe]:
    pipe = BarePipe()
    logger = logging.getLogger(observe.ACCESS_LOGGER)
    monkeypatch.setattr(logger, "handlers", [observe.LineHandler(pipe.write_end)])
    yield pipe


@pytest.fixture()
def cached_client(app_factory: Callable[..., Flask]) -> FlaskClient:
    return app_factory(cache=True).test_client()


# --- /-/metrics ----------------------------------------------------------------------------------


class TestMetrics:
    def test_the_text_format_parses_and_says_which_build(self, cached_client: FlaskClient) -> None:
        response = cached_client.get("/-/metrics")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-store"
        names = {f.name for f in text_string_to_metric_families(response.get_data(as_text=True))}
        assert {
            "kgpub_http_requests",
            "kgpub_http_request_duration_seconds",
            "kgpub_sparql_queries",
            "kgpub_sparql_timeouts",
            "kgpub_sparql_rows_capped",
            "kgpub_cache_hits",
            "kgpub_cache_misses",
            "kgpub_build_info",
        } <= names
        store = cached_client.application.extensions["kgpub"].store
        samples = scrape(cached_client)
        builds = [labels for (name, labels) in samples if name == "kgpub_build_info"]
        assert [dict(labels)["build"] for labels in builds] == [store.identity]

    def test_counters_move_for_a_page_a_query_a_404_and_a_cache_hit(
        self, cached_client: FlaskClient
    ) -> None:
        before = scrape(cached_client)
        assert b"<html" in cached_client.get("/").data
        first = cached_client.get("/sparql", query_string={"query": SELECT}, headers=JSON_RESULTS)
        again = cached_client.get("/sparql", query_string={"query": SELECT}, headers=JSON_RESULTS)
        assert first.status_code == again.status_code == 200
        assert again.data == first.data
        assert cached_client.get("/no/such/page").data.startswith(b"nothing at")
        after = scrape(cached_client)

        def moved(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert requests_of(after, "home.home", "200") - requests_of(before, "home.home", "200") == 1
        assert (
            requests_of(after, "sparql.endpoint", "200")
            - requests_of(before, "sparql.endpoint", "200")
            == 2
        )
        assert requests_of(after, "unmatched", "404") - requests_of(before, "unmatched", "404") == 1
        # the second query was a hit, answered in front of Flask: one query ran, not two
        assert moved("kgpub_cache_hits_total") == 1
        assert moved("kgpub_cache_misses_total") == 1
        assert moved("kgpub_sparql_queries_total", form="select", outcome="ok") == 1
        # the scrape itself is a request like any other
        assert requests_of(after, "system.metrics", "200") >= 1

    def test_latency_histogram_by_route(self, cached_client: FlaskClient) -> None:
        cached_client.get("/sparql", query_string={"query": "ASK {}"}, headers=JSON_RESULTS)
        samples = scrape(cached_client)
        buckets = {
            dict(labels)["le"]: count
            for (name, labels), count in samples.items()
            if name == "kgpub_http_request_duration_seconds_bucket"
            and dict(labels)["route"] == "sparql.endpoint"
        }
        assert {"0.001", "0.1", "1.0", "10.0", "+Inf"} <= set(buckets)
        counts = [buckets[le] for le in sorted(buckets, key=lambda le: float(le))]
        assert counts == sorted(counts) and counts[-1] >= 1
        total = value(samples, "kgpub_http_request_duration_seconds_count", route="sparql.endpoint")
        assert total == buckets["+Inf"]

    def test_capped_answers_are_counted(self, app_factory: Callable[..., Flask]) -> None:
        client = app_factory(max_rows=3).test_client()
        query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
        response = client.get("/sparql", query_string={"query": query}, headers=JSON_RESULTS)
        assert response.headers["X-Result-Truncated"] == "true"
        samples = scrape(client)
        assert value(samples, "kgpub_sparql_rows_capped_total") == 1
        assert value(samples, "kgpub_sparql_queries_total", form="select", outcome="truncated") == 1

    def test_timeouts_are_counted(
        self, app_factory: Callable[..., Flask], heavy_query: str
    ) -> None:
        client = app_factory(query_timeout=0.5).test_client()
        response = client.get("/sparql", query_string={"query": heavy_query}, headers=JSON_RESULTS)
        assert response.status_code == 503 and b"did not finish" in response.data
        samples = scrape(client)
        assert value(samples, "kgpub_sparql_timeouts_total") == 1
        assert value(samples, "kgpub_sparql_queries_total", form="select", outcome="timeout") == 1
        assert requests_of(samples, "sparql.endpoint", "503") == 1

    def test_rejected_queries_and_odd_methods_stay_bounded(
        self, cached_client: FlaskClient
    ) -> None:
        before = scrape(cached_client)
        bad = cached_client.get("/sparql", query_string={"query": "SELEC nothing"})
        assert bad.status_code == 400 and b"syntax error" in bad.data
        brew = cached_client.open("/", method="BREW")
        assert brew.status_code == 405 and b"not allowed" in brew.data
        after = scrape(cached_client)
        rejected = {"form": "unknown", "outcome": "rejected"}
        assert (
            value(after, "kgpub_sparql_queries_total", **rejected)
            - value(before, "kgpub_sparql_queries_total", **rejected)
            == 1
        )
        assert requests_of(after, "home.home", "405", method="other") == 1
        methods = {dict(labels).get("method") for (name, labels) in after if "requests" in name}
        assert "BREW" not in methods

    def test_metrics_can_be_turned_off(self, app_factory: Callable[..., Flask]) -> None:
        client = app_factory(metrics=False).test_client()
        response = client.get("/-/metrics", headers={"Accept": "text/plain"})
        assert response.status_code == 404
        assert "metrics are turned off" in response.get_data(as_text=True)
        assert client.get("/-/ping").data == b"ok"

    def test_a_scrape_right_after_n_requests_counts_all_n(self, cached_client: FlaskClient) -> None:
        before = scrape(cached_client)
        pages, queries = 7, 5
        for _ in range(pages):  # each body read, as a server does: the request ends there
            assert b"max_rows" in cached_client.get("/-/limits").data
        for number in range(queries):  # distinct queries: each one runs, none is a cache hit
            query = f"ASK {{ ?s ?p ?o }} # {number}"
            response = cached_client.get(
                "/sparql", query_string={"query": query}, headers=JSON_RESULTS
            )
            assert response.data == b'{"head":{},"boolean":true}'
        after = scrape(cached_client)

        def moved(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert (
            moved("kgpub_http_requests_total", route="system.limits", method="GET", status="200")
            == pages
        )
        assert (
            moved("kgpub_http_requests_total", route="sparql.endpoint", method="GET", status="200")
            == queries
        )
        assert moved("kgpub_http_request_duration_seconds_count", route="system.limits") == pages
        assert moved("kgpub_sparql_queries_total", form="ask", outcome="ok") == queries
        assert moved("kgpub_cache_misses_total") == queries
        assert moved("kgpub_cache_hits_total") == 0
        sent = moved("kgpub_http_response_bytes_total", route="system.limits")
        assert sent == pages * len(cached_client.get("/-/limits").data)


class TestWorkersShareTheirCounts:
    """Apps of one process sharing a metrics folder stand for the workers of ``kgpub serve``: each
    keeps its counts in files of its own there, and a scrape of any of them adds up all."""

    @pytest.fixture()
    def shared(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        monkeypatch.setenv(RUNTIME_VARIABLE, str(tmp_path))
        return tmp_path / "metrics"

    def test_a_scrape_of_either_worker_counts_the_requests_of_both(
        self, shared: Path, app_factory: Callable[..., Flask]
    ) -> None:
        first, second = app_factory().test_client(), app_factory().test_client()
        for client, times in ((first, 3), (second, 4), (first, 2)):
            for _ in range(times):
                assert client.get("/-/ping").data == b"ok"
        assert len(list(shared.glob("*.keys"))) == 2
        for client in (first, second, first):
            assert requests_of(scrape(client), "system.ping", "200") == 9
        # each scrape is counted by the worker that answered it, and seen by the next one
        assert requests_of(scrape(second), "system.metrics", "200") == 3

    def test_a_stopped_workers_counts_stay_counted(
        self, shared: Path, app_factory: Callable[..., Flask]
    ) -> None:
        gone = observe.Metrics(lambda: ("b1", 0.0))
        gone.request("system.ping", "GET", "200", 0.002, 2, "hit")
        del gone
        client = app_factory().test_client()
        assert client.get("/-/ping").data == b"ok"
        samples = scrape(client)
        assert requests_of(samples, "system.ping", "200") == 2
        assert value(samples, "kgpub_cache_hits_total") == 1
        buckets = {
            dict(labels)["le"]: count
            for (name, labels), count in samples.items()
            if name == "kgpub_http_request_duration_seconds_bucket"
            and dict(labels)["route"] == "system.ping"
        }
        # the stopped worker's 2 ms fall in the 2.5 ms bucket and above
        assert buckets["0.001"] <= 1 and buckets["0.0025"] >= 1 and buckets["+Inf"] == 2

    def test_a_forked_process_counts_apart_from_its_parent(self, shared: Path) -> None:
        metrics = observe.Metrics(lambda: ("b1", 0.0))
        metrics.request("system.ping", "GET", "200", 0.001, 2, None)
        child = os.fork()
        if child == 0:  # the child: three requests of its own, in files of its own
            try:
                for _ in range(3):
                    metrics.request("system.ping", "GET", "200", 0.001, 2, None)
                metrics.count(observe.TIMEOUTS)
            finally:
                os._exit(0)
        _, status = os.waitpid(child, 0)
        assert status == 0
        metrics.request("system.ping", "GET", "200", 0.001, 2, None)
        samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(metrics.exposition().decode())
            for sample in family.samples
        }
        assert requests_of(samples, "system.ping", "200") == 5
        assert value(samples, "kgpub_sparql_timeouts_total") == 1
        assert len(list(shared.glob("*.keys"))) == 2


# --- access lines --------------------------------------------------------------------------------


class TestAccessLog:
    FIELDS: ClassVar[set[str]] = {
        "time",
        "client",
        "method",
        "path",
        "query_length",
        "query_hash",
        "route",
        "status",
        "bytes",
        "duration_ms",
        "cache",
        "truncated",
        "complete",
        "user_agent",
    }

    def test_one_json_line_per_request_with_its_fields(
        self, cached_client: FlaskClient, access_lines: AccessLines
    ) -> None:
        response = cached_client.get(
            "/sparql",
            query_string={"query": SELECT},
            headers={**JSON_RESULTS, "User-Agent": "probe/1.0"},
        )
        body = response.data
        cached_client.get("/sparql", query_string={"query": SELECT}, headers=JSON_RESULTS)
        first, second = access_lines.records()
        assert set(first) >= self.FIELDS
        assert first["time"].endswith("Z") and "T" in first["time"]
        assert first["method"] == "GET" and first["path"] == "/sparql"
        assert first["route"] == "sparql.endpoint" and first["status"] == 200
        assert first["bytes"] == len(body) and first["duration_ms"] > 0
        assert first["query_length"] == len(response.request.query_string)
        assert first["query_hash"] == hashlib.sha256(SELECT.encode()).hexdigest()[:12]
        assert first["user_agent"] == "probe/1.0" and first["client"] == "127.0.0.1"
        assert first["truncated"] is False and first["complete"] is True
        assert (first["cache"], second["cache"]) == ("miss", "hit")
        assert second["query_hash"] == first["query_hash"]

    def test_hits_of_one_entry_name_each_their_own_client(
        self, cached_client: FlaskClient, access_lines: AccessLines
    ) -> None:
        # the hits' lines are templates kept with the cache entry: one client's strings must
        # never show in another's line, and a hostile user agent stays a JSON string
        askers = [
            ("127.0.0.1", "probe/1.0"),
            ("10.0.0.2", 'evil %s %d %% "}\t{"status":500'),
            ("10.0.0.3", "probe/1.0"),
            ("10.0.0.3", "other/2.0"),
            ("127.0.0.1", "probe/1.0"),
            ("10.0.0.2", 'evil %s %d %% "}\t{"status":500'),
        ]
        bodies = []
        for address, agent in askers:
            response = cached_client.get(
                "/sparql",
                query_string={"query": SELECT},
                headers={**JSON_RESULTS, "User-Agent": agent},
                environ_base={"REMOTE_ADDR": address},
            )
            assert response.status_code == 200
            bodies.append(response.data)
        records = access_lines.records()
        assert [r["cache"] for r in records] == ["miss"] + ["hit"] * 5
        assert [(r["client"], r["user_agent"]) for r in records] == askers
        expected_hash = hashlib.sha256(SELECT.encode()).hexdigest()[:12]
        for record, body in zip(records, bodies, strict=True):
            assert record["status"] == 200 and record["route"] == "sparql.endpoint"
            assert record["bytes"] == len(body) and record["query_hash"] == expected_hash
            assert record["time"].endswith("Z") and record["duration_ms"] >= 0

    def test_a_posted_query_is_hashed_never_logged(
        self, cached_client: FlaskClient, access_lines: AccessLines
    ) -> None:
        secret = "SELECT ?secret WHERE { ?secret ?p 'do-not-log-me' } LIMIT 1"
        response = cached_client.post(
            "/sparql", data=secret, content_type="application/sparql-query", headers=JSON_RESULTS
        )
        assert response.status_code == 200
        (line,) = access_lines.lines
        assert "do-not-log-me" not in line and "secret" not in line
        record = json.loads(line)
        assert record["method"] == "POST" and record["query_length"] == 0
        assert record["query_hash"] == hashlib.sha256(secret.encode()).hexdigest()[:12]

    def test_a_client_cannot_forge_lines(
        self, cached_client: FlaskClient, access_lines: AccessLines
    ) -> None:
        forged = '{"status":200,"path":"/forged"}'
        response = cached_client.get(
            "/id/x%0A" + forged.replace('"', "%22"), headers={"User-Agent": "a" * 5000}
        )
        assert response.status_code == 404 and response.data
        (line,) = access_lines.lines
        assert "\n" not in line
        record = json.loads(line)
        assert record["path"] == "/id/x\n" + forged and record["status"] == 404
        assert len(record["user_agent"]) <= observe.MAX_USER_AGENT + 1

    def test_truncated_answers_say_so(
        self, app_factory: Callable[..., Flask], access_lines: AccessLines
    ) -> None:
        client = app_factory(max_rows=2).test_client()
        client.get("/sparql", query_string={"query": "SELECT * { ?s ?p ?o }"}, headers=JSON_RESULTS)
        (record,) = access_lines.records()
        assert record["truncated"] is True and record["cache"] is None

    def test_the_log_can_be_turned_off(
        self, app_factory: Callable[..., Flask], access_lines: AccessLines
    ) -> None:
        client = app_factory(access_log=False).test_client()
        assert client.get("/-/ping").data == b"ok"
        assert b"<html" in client.get("/").data
        assert access_lines.lines == []
        assert requests_of(scrape(client), "system.ping", "200") == 1

    def test_the_bare_handler_gets_whole_lines_in_one_write_each(
        self, cached_client: FlaskClient, bare_pipe: BarePipe
    ) -> None:
        """The set-up of ``kgpub serve``: the lines go to the descriptor whole, even when many
        threads answer at once and clients send the longest text they can."""
        nasty_path = "/id/" + "é\n\u2028\x01" * 400  # escaped, each character takes 6 bytes
        nasty_agent = "\x07" * 5000
        threads = [
            threading.Thread(
                target=lambda: [
                    cached_client.get(
                        nasty_path.replace("\n", "%0A"), headers={"User-Agent": nasty_agent}
                    ).data
                    for _ in range(10)
                ]
            )
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        query = cached_client.get("/sparql", query_string={"query": SELECT}, headers=JSON_RESULTS)
        lines = bare_pipe.lines(41)
        assert all(len(line) + 1 < observe.PIPE_BUF for line in lines)
        records = [json.loads(line) for line in lines]
        nasty, last = records[:40], records[40]
        assert all(record["status"] == 404 and record["route"] == "unmatched" for record in nasty)
        assert all(record["path"].startswith("/id/é\n\u2028\x01") for record in nasty)
        assert all(record["path"].endswith("…") for record in nasty)
        assert all(set(record["user_agent"]) <= {"\x07", "…"} for record in nasty)
        assert last["path"] == "/sparql" and last["status"] == 200
        assert last["bytes"] == len(query.data) and last["cache"] == "miss"
        assert last["query_hash"] == hashlib.sha256(SELECT.encode()).hexdigest()[:12]
        assert set(last) == self.FIELDS | {"worker"} and last["worker"] == os.getpid()

    def test_lines_are_written_in_batches_of_whole_lines_soon_after(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Many lines, few writes: each write is whole lines of at most PIPE_BUF bytes (so the
        workers' lines never mix on a pipe), and the last ones go out without a flush."""
        read_end, write_end = os.pipe()
        writes: list[bytes] = []
        real_write = os.write

        def recorded(fd: int, data: bytes) -> int:
            if fd == write_end:
                writes.append(bytes(data))
            return real_write(fd, data)

        monkeypatch.setattr(loglines.os, "write", recorded)
        batch = loglines.LineBatch(write_end)
        lines = [f'{{"n":{n},"pad":"{"x" * (n % 300)}"}}\n'.encode() for n in range(300)]
        for line in lines:
            batch.add(line)
        deadline = time.monotonic() + 5
        while sum(map(len, writes)) < sum(map(len, lines)) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.close(write_end)
        received = b""
        while chunk := os.read(read_end, 65536):
            received += chunk
        os.close(read_end)
        assert received == b"".join(lines)
        assert len(writes) < len(lines) / 5
        assert all(len(w) <= loglines.PIPE_BUF and w.endswith(b"\n") for w in writes)

    def test_forwarded_addresses_only_when_trusted(self) -> None:
        environ = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"}
        assert observe.client_address(environ, trust_forwarded=False) == "10.0.0.2"
        # the proxy appends the address it saw: the entries before it are the client's to invent
        assert observe.client_address(environ, trust_forwarded=True) == "203.0.113.9"


# --- /-/health -----------------------------------------------------------------------------------


def fixture_store(folder: Path) -> Path:
    store = ox.Store(str(folder))
    store.bulk_load(path=str(FIXTURE), format=ox.RdfFormat.TRIG)
    store.flush()
    del store
    return folder


def fixture_counts() -> dict[str, int]:
    """Distinct triples, quads and named graphs of the fixture, counted by pyoxigraph itself."""
    store = ox.Store()
    store.load(path=str(FIXTURE), format=ox.RdfFormat.TRIG)
    triples = {(q.subject, q.predicate, q.object) for q in store}
    return {"triples": len(triples), "quads": len(store), "graphs": len(list(store.named_graphs()))}


class TestHealth:
    def test_ok_with_the_build_and_its_counts(
        self, app_factory: Callable[..., Flask], tmp_path: Path
    ) -> None:
        app = app_factory(store=fixture_store(tmp_path / "store"))
        client = app.test_client()
        response = client.get("/-/health")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        report = response.get_json()
        assert report["status"] == "ok"
        assert report["store"]["kind"] == "embedded" and report["store"]["reachable"] is True
        assert report["store"]["location"].endswith("store")
        assert report["build"]["identity"] == app.extensions["kgpub"].store.identity
        assert report["build"]["modified"].endswith("Z")
        # no counts written beside this store, and the health check never scans the data for them
        assert report["counts"] is None
        # ... until the service description has counted them
        assert client.get("/sparql", headers={"Accept": "text/turtle"}).status_code == 200
        assert client.get("/-/health").get_json()["counts"] == fixture_counts()

    def test_counts_written_by_the_loader_at_once(
        self, app_factory: Callable[..., Flask], tmp_path: Path
    ) -> None:
        store = fixture_store(tmp_path / "store")
        storecounts.count_store_folder(store)
        report = app_factory(store=store).test_client().get("/-/health").get_json()
        assert report["counts"] == fixture_counts()

    def test_unavailable_when_the_store_is_missing(
        self, app_factory: Callable[..., Flask], tmp_path: Path
    ) -> None:
        client = app_factory(store=tmp_path / "missing").test_client()
        response = client.get("/-/health")
        assert response.status_code == 503
        assert response.headers["Cache-Control"] == "no-store"
        report = response.get_json()
        assert report["status"] == "unavailable"
        assert report["store"]["reachable"] is False
        assert "no store" in report["store"]["problem"]
        assert report["counts"] is None and set(report) >= {"store", "build", "counts"}

    def test_a_remote_store_is_named_without_its_credentials(self) -> None:
        url = "https://reader:s3cret@store.example:7878/query?x=1"
        assert system.public_location(url) == "https://store.example:7878/query"


# --- what shared caches may do -------------------------------------------------------------------


def cache_control(response: object) -> set[str]:
    header = response.headers.get("Cache-Control", "")  # type: ignore[attr-defined]
    return {part.strip().split("=")[0] for part in header.split(",") if part.strip()}


PUBLIC = {"public", "max-age", "stale-while-revalidate", "stale-if-error"}


class TestCachePolicy:
    def test_query_answers_fresh_and_from_the_cache(self, cached_client: FlaskClient) -> None:
        for _ in range(2):  # a miss answered by the endpoint, then a hit answered by the front
            response = cached_client.get(
                "/sparql", query_string={"query": "ASK {}"}, headers=JSON_RESULTS
            )
            assert response.status_code == 200
            assert cache_control(response) == PUBLIC
            assert len(response.headers.getlist("Cache-Control")) == 1
            assert "Accept" in response.headers["Vary"]

    def test_pages_keep_their_validators(self, app: Flask) -> None:
        client = app.test_client()
        page = client.get("/dataset.ttl")
        assert cache_control(page) == PUBLIC and page.headers["ETag"].startswith('W/"')
        again = client.get("/dataset.ttl", headers={"If-None-Match": page.headers["ETag"]})
        assert again.status_code == 304 and cache_control(again) == PUBLIC

    def test_dumps(self, app_factory: Callable[..., Flask], tmp_path: Path) -> None:
        build = tmp_path / "build"
        build.mkdir()
        fixture_store(build / "store")
        (build / "dumps").mkdir()
        data = (
            b"<https://w3id.org/kgpub/a> <https://w3id.org/kgpub/b> <https://w3id.org/kgpub/c> .\n"
        )
        (build / "dumps" / "kgpub.nt").write_bytes(data)
        entry = {
            "file": "kgpub.nt",
            "format": "ntriples",
            "media_type": "application/n-triples",
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        }
        (build / "manifest.json").write_text(json.dumps({"build_id": "b1", "dumps": [entry]}))
        client = app_factory(store=build / "store").test_client()
        response = client.get("/dumps/kgpub.nt")
        assert response.status_code == 200 and response.data == data
        assert cache_control(response) == PUBLIC

    def test_live_answers_are_never_stored(self, app: Flask) -> None:
        client = app.test_client()
        for path in ("/-/health", "/-/metrics"):
            assert client.get(path).headers["Cache-Control"] == "no-store"
        assert "public" not in client.get("/-/ping").headers.get("Cache-Control", "")
        # a POST, an error: nothing added
        assert "Cache-Control" not in client.get("/no/such/page").headers
        posted = client.post(
            "/sparql", data="ASK {}", content_type="application/sparql-query", headers=JSON_RESULTS
        )
        assert posted.status_code == 200 and "Cache-Control" not in posted.headers

    @pytest.mark.parametrize(
        ("sent", "expected"),
        [
            (None, cachepolicy.PUBLIC),
            ("no-cache", cachepolicy.PUBLIC),
            ("public, max-age=60", f"public, max-age=60, {cachepolicy.EXTENSIONS}"),
            ("no-store", None),
            ("private, max-age=60", None),
            (cachepolicy.PUBLIC, None),
        ],
    )
    def test_policy(self, sent: str | None, expected: str | None) -> None:
        assert cachepolicy.policy(sent) == expected


# --- how kgpub serve sets it up for its workers ---------------------------------------------


def test_the_workers_share_a_metrics_folder_in_the_runtime_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RUNTIME_VARIABLE, raising=False)
    with shared_runtime_dir() as runtime:
        folder = observe.multiprocess_folder()
        assert folder == runtime / "metrics" and folder is not None and folder.is_dir()
    assert observe.multiprocess_folder() is None


def test_the_access_lines_go_bare_to_stderr_under_granian() -> None:
    config = wsgi.logging_config()
    logger = config["loggers"][observe.ACCESS_LOGGER]
    assert logger["propagate"] is False and logger["level"] == "INFO"
    (handler,) = logger["handlers"]
    assert config["handlers"][handler]["()"] == "kgpub.server.observe.LineHandler"


def test_a_line_is_one_write(tmp_path: Path) -> None:

    path = tmp_path / "stderr"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        handler = observe.LineHandler(fd)
        record = logging.LogRecord("kgpub.access", logging.INFO, "", 0, '{"a":1}', (), None)
        handler.handle(record)
        handler.handle(record)
    finally:
        os.close(fd)
    assert path.read_text() == '{"a":1}\n{"a":1}\n'
