"""Light queries run by the web worker itself: the same answers, headers and errors as from a query
process, and only for queries a query process has shown to be light."""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from kgpub.server import inline
from kgpub.server.fairness import table
from kgpub.server.inline import QueryThreads
from kgpub.server.pool import ExecutorPool, QueryTimeout

SELECT = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o LIMIT 7 # inline"
CONSTRUCT = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o LIMIT 7 # inline"
FORMATS = {
    SELECT: [
        "application/sparql-results+json",
        "application/sparql-results+xml",
        "text/csv",
        "text/tab-separated-values",
    ],
    CONSTRUCT: [
        "text/turtle",
        "application/n-triples",
        "application/ld+json",
        "application/rdf+xml",
    ],
}


class PoolRuns:
    """How many queries the query processes were sent."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture()
def pool_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[PoolRuns]:
    runs = PoolRuns()
    real_run = ExecutorPool.run

    def counted(pool: ExecutorPool, request: dict, timeout: float):  # type: ignore[no-untyped-def]
        runs.count += 1
        return real_run(pool, request, timeout)

    monkeypatch.setattr(ExecutorPool, "run", counted)
    yield runs


def ask(app: Flask, query: str, accept: str, address: str = "203.0.113.90"):
    return app.test_client().get(
        "/sparql",
        query_string={"query": query},
        headers={"Accept": accept},
        environ_base={"REMOTE_ADDR": address},
    )


@pytest.mark.parametrize("query", [SELECT, CONSTRUCT])
def test_the_second_run_is_the_workers_with_the_same_answer_in_every_format(
    app_factory: Callable[..., Flask], pool_runs: PoolRuns, query: str
) -> None:
    app = app_factory()
    for accept in FORMATS[query]:
        before = pool_runs.count
        first = ask(app, query, accept)
        second = ask(app, query, accept)
        assert first.status_code == second.status_code == 200
        assert first.data == second.data and first.data
        assert first.headers["Content-Type"] == second.headers["Content-Type"]
        assert first.headers["X-Result-Truncated"] == second.headers["X-Result-Truncated"]
        # the first format of a query goes to a query process; every later request is the worker's
        assert pool_runs.count - before == (1 if accept == FORMATS[query][0] else 0)


def test_a_row_capped_answer_is_capped_and_flagged_alike(
    app_factory: Callable[..., Flask], pool_runs: PoolRuns
) -> None:
    app = app_factory(max_rows=3)
    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o # capped"
    first = ask(app, query, "application/sparql-results+json")
    second = ask(app, query, "application/sparql-results+json")
    assert pool_runs.count == 1
    for response in (first, second):
        assert response.headers["X-Result-Truncated"] == "true"
        document = response.get_json()
        assert len(document["results"]["bindings"]) == 3
        assert document["head"]["link"]
    assert first.data == second.data


def test_a_triple_capped_answer_is_capped_and_flagged_alike(
    app_factory: Callable[..., Flask], pool_runs: PoolRuns
) -> None:
    app = app_factory(max_rows=3)
    query = (
        "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o FILTER(!isBlank(?s) && !isBlank(?o)) } "
        "ORDER BY ?s ?p ?o # capped"
    )
    first = ask(app, query, "application/n-triples")
    second = ask(app, query, "application/n-triples")
    assert pool_runs.count == 1
    for response in (first, second):
        assert response.headers["X-Result-Truncated"] == "true"
        comment, *triples = response.get_data(as_text=True).strip().splitlines()
        assert comment.startswith("# truncated") and len(triples) == 3
    assert first.data == second.data


def test_an_answer_over_the_byte_cap_is_refused_alike(
    app_factory: Callable[..., Flask], pool_runs: PoolRuns
) -> None:
    """The byte cap depends on the format, not only on the query: a query that was light in one
    format still meets the cap in a bigger one when the worker runs it."""
    app = app_factory(max_response_bytes=1500)
    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o LIMIT 8 # bytes"
    small = ask(app, query, "text/tab-separated-values")
    assert small.status_code == 200 and len(small.data) <= 1500
    large = ask(app, query, "application/sparql-results+xml")
    assert pool_runs.count == 1  # the worker ran the second one
    assert large.status_code == 422
    assert "max_response_bytes" in large.get_data(as_text=True)


def test_a_failed_answer_leaves_nothing_another_thread_must_free(
    app_factory: Callable[..., Flask], pool_runs: PoolRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyoxigraph's results belong to the thread that made them. A refused answer's error must
    not keep them alive in reference cycles that the collector then clears on another thread,
    where they cannot be freed (an "unsendable" error on stderr, and the memory kept)."""
    app = app_factory(max_response_bytes=1500)
    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o LIMIT 8 # threads"
    assert ask(app, query, "text/tab-separated-values").status_code == 200
    codes: list[int] = []
    unraisable: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda hook: unraisable.append(hook.exc_value))
    gc.disable()
    try:
        thread = threading.Thread(
            target=lambda: codes.extend(
                ask(app, query, "application/sparql-results+xml").status_code for _ in range(3)
            )
        )
        thread.start()
        thread.join()
        gc.collect()
    finally:
        gc.enable()
    assert codes == [422, 422, 422] and pool_runs.count == 1
    assert unraisable == []


def test_a_heavy_query_always_goes_to_a_query_process(
    app_factory: Callable[..., Flask], pool_runs: PoolRuns, heavy_query: str
) -> None:
    """Only a query process can be stopped at the time limit: a heavy query is stopped (503)
    each time it comes, never run by the worker."""
    app = app_factory(query_timeout=0.3, client_query_seconds=0)
    for _ in range(2):
        response = ask(app, heavy_query, "application/sparql-results+json")
        assert response.status_code == 503
    assert pool_runs.count == 2


def test_a_query_whose_work_changes_between_runs_always_goes_to_a_query_process(
    app_factory: Callable[..., Flask], pool_runs: PoolRuns
) -> None:
    """With NOW() or RAND() the same text may be cheap once and heavy the next time (a filter on
    the date in front of a cartesian product): only a query process can stop it then."""
    app = app_factory()
    query = (
        "PREFIX xsd: <http://www.w3.org/2001/XMLSchema#> "
        "SELECT ?s WHERE { ?s ?p ?o FILTER(NOW() < '2000-01-01T00:00:00Z'^^xsd:dateTime) }"
    )
    for _ in range(3):
        assert ask(app, query, "application/sparql-results+json").status_code == 200
    assert pool_runs.count == 3


def test_a_failing_query_is_not_remembered(
    app_factory: Callable[..., Flask], pool_runs: PoolRuns
) -> None:
    app = app_factory()
    query = "SELECT * WHERE { ?s ?p ?o FILTER(<urn:f>(?o)) } # unknown function"
    codes = [ask(app, query, "application/sparql-results+json").status_code for _ in range(2)]
    assert codes[0] == codes[1]
    assert pool_runs.count == 2


def test_the_workers_queries_are_charged_to_their_client(
    app_factory: Callable[..., Flask],
) -> None:
    app = app_factory(client_query_seconds=5)
    for _ in range(20):
        assert ask(app, SELECT, FORMATS[SELECT][0], "203.0.113.91").status_code == 200
    used, running = table().usage("203.0.113.91")
    assert running == 0 and 0 < used < 1.0


def test_turned_off_every_query_goes_to_a_query_process(
    app_factory: Callable[..., Flask], pool_runs: PoolRuns
) -> None:
    app = app_factory(inline_query_ms=0)
    for _ in range(3):
        assert ask(app, SELECT, FORMATS[SELECT][0]).status_code == 200
    assert pool_runs.count == 3


class Runs:
    """Where the worker ran its known queries: each run's thread name and CPU niceness."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []


@pytest.fixture()
def runs(monkeypatch: pytest.MonkeyPatch) -> Runs:
    seen = Runs()
    real = inline._answer_here

    def noted(store, message):  # type: ignore[no-untyped-def]
        thread = threading.current_thread().name
        seen.seen.append((thread, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        return real(store, message)

    monkeypatch.setattr(inline, "_answer_here", noted)
    return seen


def test_a_costlier_known_query_runs_on_a_low_priority_query_thread_with_the_same_answer(
    app_factory: Callable[..., Flask],
    pool_runs: PoolRuns,
    runs: Runs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # every query of the test data is cheap: any known cost counts as costly here
    monkeypatch.setattr(inline, "DIRECT_SECONDS", -1.0)
    app = app_factory()
    query = SELECT.replace("# inline", "# threads")
    answers = [ask(app, query, accept) for accept in FORMATS[SELECT] * 2]
    assert pool_runs.count == 1  # the first only; the worker ran the seven others
    assert all(answer.status_code == 200 for answer in answers)
    for first, again in zip(answers[:4], answers[4:], strict=True):
        assert first.data == again.data and first.data
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert len(runs.seen) == 7
    for thread, nice in runs.seen:
        assert thread.startswith("kgpub-query") and thread != threading.current_thread().name
        assert nice == min(19, own + 10)


def test_a_cheap_known_query_runs_on_the_requests_own_thread(
    app_factory: Callable[..., Flask], runs: Runs
) -> None:
    app = app_factory()
    query = SELECT.replace("# inline", "# direct")
    for _ in range(3):
        assert ask(app, query, "application/sparql-results+json").status_code == 200
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert runs.seen == [(threading.current_thread().name, own)] * 2


def own_stack_size() -> int:
    """The stack size of the calling thread, as the C library reports it."""
    libc = ctypes.CDLL(None)
    libc.pthread_self.restype = ctypes.c_ulong
    attr = ctypes.create_string_buffer(128)  # a pthread_attr_t is 56 bytes on x86-64 and arm64
    assert libc.pthread_getattr_np(ctypes.c_ulong(libc.pthread_self()), attr) == 0
    address, size = ctypes.c_void_p(), ctypes.c_size_t()
    libc.pthread_attr_getstack(attr, ctypes.byref(address), ctypes.byref(size))
    libc.pthread_attr_destroy(attr)
    return size.value


@pytest.mark.skipif(sys.platform != "linux", reason="reads the stack size from glibc")
def test_a_cheap_but_deep_known_query_runs_on_a_query_thread_with_a_large_stack(
    app_factory: Callable[..., Flask], runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the request's own thread is the HTTP server's, with a small stack Oxigraph's recursive
    # parse of a long chain overflows: a deep query goes to a query thread, however cheap
    stacks: list[int] = []
    real = inline._answer_here

    def noted(store, message):  # type: ignore[no-untyped-def]
        stacks.append(own_stack_size())
        return real(store, message)

    monkeypatch.setattr(inline, "_answer_here", noted)
    app = app_factory()
    chain = "/".join(["1"] * (inline.DIRECT_MAX_OPERATORS + 10))
    query = f"SELECT ?s WHERE {{ ?s ?p ?o FILTER(1 = {chain}) }} # deep"
    for _ in range(3):
        assert ask(app, query, "application/sparql-results+json").status_code == 200
    assert [thread for thread, _ in runs.seen] != []
    assert all(thread.startswith("kgpub-query") for thread, _ in runs.seen), runs.seen
    assert all(size >= inline.QUERY_THREAD_STACK for size in stacks)


def test_a_cheap_but_long_known_query_runs_on_a_query_thread(
    app_factory: Callable[..., Flask], runs: Runs
) -> None:
    # a backstop for the scan: past DIRECT_MAX_CHARS a query never runs on the request's thread
    app = app_factory()
    query = SELECT.replace("# inline", "# " + "long " * (inline.DIRECT_MAX_CHARS // 5))
    for _ in range(3):
        assert ask(app, query, "application/sparql-results+json").status_code == 200
    assert len(runs.seen) == 2
    assert all(thread.startswith("kgpub-query") for thread, _ in runs.seen), runs.seen


def test_a_query_thread_past_the_time_limit_answers_a_timeout_and_a_waiting_query_never_runs() -> (
    None
):
    threads = QueryThreads(1, 0)
    started, ran_late = threading.Event(), threading.Event()

    def running() -> inline.Answer:
        started.set()
        time.sleep(0.6)
        return inline.Answer("boolean", "application/sparql-results+json", False, b"{}")

    def waiting() -> inline.Answer:
        ran_late.set()
        raise AssertionError("a query past its time limit ran")

    begun = time.monotonic()
    with pytest.raises(QueryTimeout):
        threads.run(running, 0.1)
    assert started.is_set() and time.monotonic() - begun < 0.4  # answered at the limit
    with pytest.raises(QueryTimeout):
        threads.run(waiting, 0.1)  # the only thread is still busy
    time.sleep(0.8)  # the first one has ended, the thread is free again
    answer = threads.run(lambda: inline.Answer("boolean", "text/csv", False, b"ok"), 1.0)
    assert answer.body == b"ok" and not ran_late.is_set()
