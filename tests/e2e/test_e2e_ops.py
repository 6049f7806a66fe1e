"""Operations against a real ``kgpub serve`` with two worker processes: the metrics add up over the
workers, the health check answers, and stderr carries one JSON access line per request."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Server

ROUNDS = 40  # requests on fresh connections: the kernel spreads them over the workers
LIMITS = ("kgpub_http_requests_total", "system.limits")


def scrape(server: Server) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    # a fresh connection each time: any worker may answer
    response = requests.get(server.url + "/-/metrics", headers={"Connection": "close"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def limits_answered(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    labels = frozenset({"route": "system.limits", "method": "GET", "status": "200"}.items())
    return samples.get(("kgpub_http_requests_total", labels), 0.0)


def access_lines(server: Server) -> list[dict]:
    """The JSON access lines in the server's output (granian's own lines are not JSON)."""
    lines = []
    for line in server.log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def wait_for_lines(server: Server, wanted: Callable[[list[dict]], bool]) -> list[dict]:
    """The lines once ``wanted`` holds: the workers write them as their answers finish."""
    deadline = time.monotonic() + 10
    while True:
        lines = access_lines(server)
        if wanted(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_metrics_add_up_over_the_workers(server: Server) -> None:
    before = limits_answered(scrape(server))
    marker = f"ops-probe-{time.monotonic_ns()}"
    for _ in range(ROUNDS):
        response = requests.get(
            server.url + "/-/limits",
            headers={"Connection": "close", "User-Agent": marker},
            timeout=10,
        )
        assert response.status_code == 200
    lines = wait_for_lines(
        server, lambda found: sum(line["user_agent"] == marker for line in found) == ROUNDS
    )
    ours = [line for line in lines if line["user_agent"] == marker]
    assert len(ours) == ROUNDS
    # more than one worker answered, and every scrape, whichever worker answers it, counts all
    assert len({line["worker"] for line in ours}) >= 2
    for _ in range(4):
        assert limits_answered(scrape(server)) - before == ROUNDS


def test_a_scrape_right_after_the_requests_counts_every_one(server: Server) -> None:
    """No wait for the other workers: each counts in shared files as it answers, so the first
    scrape, whichever worker answers it, already has all the requests."""
    before = limits_answered(scrape(server))
    for round_ in range(1, ROUNDS + 1):
        response = requests.get(
            server.url + "/-/limits", headers={"Connection": "close"}, timeout=10
        )
        assert response.status_code == 200
        if round_ % 10 == 0:
            assert limits_answered(scrape(server)) - before == round_


def test_queries_and_cache_hits_are_counted_over_the_workers(server: Server) -> None:
    query = f"SELECT * WHERE {{ ?s ?p ?o }} LIMIT 3 # {time.monotonic_ns()}"
    before = scrape(server)
    for _ in range(6):
        response = requests.get(
            server.url + "/sparql",
            params={"query": query},
            headers={"Accept": "application/sparql-results+json", "Connection": "close"},
            timeout=10,
        )
        assert response.status_code == 200
        assert "stale-while-revalidate" in response.headers["Cache-Control"]
    after = scrape(server)
    ok = ("kgpub_sparql_queries_total", frozenset({"form": "select", "outcome": "ok"}.items()))
    hits = ("kgpub_cache_hits_total", frozenset())
    ran = after.get(ok, 0) - before.get(ok, 0)
    answered_from_cache = after.get(hits, 0) - before.get(hits, 0)
    # each worker keeps its own cache: at least one query ran, the rest were hits
    assert ran >= 1 and ran + answered_from_cache == 6


def test_health(server: Server) -> None:
    with requests.Session() as session:  # one connection, so one worker
        # the counts of a store without counts.json (a remote one) are those the service
        # description counted: ask for it first on the same worker
        description = session.get(server.url + "/sparql", headers={"Accept": "text/turtle"})
        assert description.status_code == 200
        response = session.get(server.url + "/-/health", timeout=10)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    report = response.json()
    assert report["status"] == "ok"
    assert report["store"]["reachable"] is True
    assert report["store"]["kind"] in ("embedded", "remote")
    assert report["counts"] == {"triples": 36, "quads": 36, "graphs": 4}
    if report["store"]["kind"] == "embedded":
        # each worker copies the store into memory when it starts: done long before this
        assert report["store"]["memory_copy"]["state"] == "ready"
        assert report["store"]["memory_copy"]["quads"] == 36
    else:
        assert "memory_copy" not in report["store"]
    identity = report["build"]["identity"]
    builds = [labels for (name, labels) in scrape(server) if name == "kgpub_build_info"]
    assert [dict(labels)["build"] for labels in builds] == [identity]


def test_access_lines_on_stderr(server: Server) -> None:
    secret = f"ASK {{ ?s ?p 'never-in-a-log-{time.monotonic_ns()}' }}"
    response = requests.post(
        server.url + "/sparql",
        data=secret.encode(),
        headers={"Content-Type": "application/sparql-query", "User-Agent": "ops-post"},
        timeout=10,
    )
    assert response.status_code == 200
    lines = wait_for_lines(server, lambda found: any(x["user_agent"] == "ops-post" for x in found))
    (line,) = [x for x in lines if x["user_agent"] == "ops-post"]
    assert line["method"] == "POST" and line["path"] == "/sparql" and line["status"] == 200
    assert line["route"] == "sparql.endpoint" and line["bytes"] == len(response.content)
    assert line["client"] == "127.0.0.1" and line["duration_ms"] > 0
    assert len(line["query_hash"]) == 12
    assert "never-in-a-log" not in server.log.read_text(encoding="utf-8", errors="replace")


def test_operations_settings_from_the_environment(
    server: Server, server_factory: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KGPUB_ACCESS_LOG", "false")
    monkeypatch.setenv("KGPUB_METRICS", "false")
    quiet = server_factory(server.store)
    for _ in range(5):
        assert requests.get(quiet.url + "/-/limits", timeout=10).status_code == 200
    metrics = requests.get(quiet.url + "/-/metrics", timeout=10)
    assert metrics.status_code == 404 and "metrics are turned off" in metrics.text
    assert requests.get(quiet.url + "/-/health", timeout=10).json()["status"] == "ok"
    time.sleep(0.5)
    assert access_lines(quiet) == []
