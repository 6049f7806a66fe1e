"""Per-client fairness: the shared table (across processes, windows, running queries) and the app
answering 429 with Retry-After when a client is over its share."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from kgpub.server.fairness import (
    WINDOW_SECONDS,
    ClientTable,
    Refused,
    client_key,
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def table(tmp_path: Path, clock: Clock) -> ClientTable:
    return ClientTable(tmp_path / "clients", clock=clock)


class TestBudget:
    def test_spent_budget_is_refused_until_the_window_ends(
        self, table: ClientTable, clock: Clock
    ) -> None:
        ticket = table.admit("10.0.0.1", budget=5, concurrent=4, pause=0)
        clock.now += 2
        table.finish(ticket, 5.0)
        clock.now += 10  # 12 s into the window
        with pytest.raises(Refused) as refused:
            table.admit("10.0.0.1", budget=5, concurrent=4, wait=0, pause=0)
        assert refused.value.retry_after == WINDOW_SECONDS - 12
        assert "5 s of query time" in refused.value.reason
        clock.now += WINDOW_SECONDS - 12  # the window is over: a fresh budget
        table.finish(table.admit("10.0.0.1", budget=5, concurrent=4, pause=0), 0.1)
        assert table.usage("10.0.0.1") == (pytest.approx(0.1), 0)

    def test_retry_after_is_at_least_one_second(self, table: ClientTable, clock: Clock) -> None:
        table.finish(table.admit("10.0.0.2", budget=1, concurrent=4, pause=0), 1.0)
        clock.now += WINDOW_SECONDS - 0.2
        with pytest.raises(Refused) as refused:
            table.admit("10.0.0.2", budget=1, concurrent=4, wait=0, pause=0)
        assert refused.value.retry_after == 1

    def test_running_queries_count_before_they_end(self, table: ClientTable, clock: Clock) -> None:
        """A client whose heavy queries are still running is refused before they are charged."""
        for _ in range(2):
            table.admit("10.0.0.3", budget=10, concurrent=4, pause=0)
        clock.now += 5  # two queries running for 5 s each: 10 s spent
        with pytest.raises(Refused):
            table.admit("10.0.0.3", budget=10, concurrent=4, wait=0, pause=0)
        assert table.usage("10.0.0.3") == (0.0, 2)

    def test_clients_are_apart(self, table: ClientTable) -> None:
        table.finish(table.admit("10.0.0.4", budget=1, concurrent=4, pause=0), 2.0)
        with pytest.raises(Refused):
            table.admit("10.0.0.4", budget=1, concurrent=4, wait=0, pause=0)
        table.admit("10.0.0.5", budget=1, concurrent=4, pause=0)

    def test_no_budget_when_zero(self, table: ClientTable) -> None:
        table.finish(table.admit("10.0.0.6", budget=0, concurrent=4), 1e6)
        table.admit("10.0.0.6", budget=0, concurrent=4)


class TestConcurrency:
    def test_over_the_cap_is_refused_after_the_wait(self, tmp_path: Path) -> None:
        table = ClientTable(tmp_path / "clients")
        for _ in range(2):
            table.admit("10.0.1.1", budget=60, concurrent=2, heavy_after=0)
        started = time.monotonic()
        with pytest.raises(Refused) as refused:
            table.admit("10.0.1.1", budget=60, concurrent=2, wait=0.2, heavy_after=0)
        assert time.monotonic() - started >= 0.2
        assert refused.value.retry_after == 1
        assert "2 queries running" in refused.value.reason

    def test_only_heavy_queries_count_against_the_cap(
        self, table: ClientTable, clock: Clock
    ) -> None:
        """Light queries beyond the cap run at once (a benchmark or crawler behind one address);
        once they have run long enough to be heavy, the next one is refused."""
        tickets = [table.admit("10.0.1.3", budget=600, concurrent=2, wait=0) for _ in range(6)]
        assert table.usage("10.0.1.3")[1] == 6
        clock.now += 1  # all six are heavy now
        with pytest.raises(Refused) as refused:
            table.admit("10.0.1.3", budget=600, concurrent=2, wait=0, pause=0)
        assert "2 queries running" in refused.value.reason
        for ticket in tickets[:5]:
            table.finish(ticket, 1.0)
        table.admit("10.0.1.3", budget=600, concurrent=2, wait=0)  # one heavy one left
        assert table.usage("10.0.1.3") == (pytest.approx(5.0), 2)

    def test_a_query_whose_worker_died_stops_counting_after_the_time_limit(
        self, table: ClientTable, clock: Clock
    ) -> None:
        """A worker killed while it ran a query never says the query ended: once the time limit
        (and a grace) has passed, the query no longer counts against its client."""
        table.admit("10.0.1.4", budget=60, concurrent=1, heavy_after=0, longest=10)  # never ends
        clock.now += 30  # over the budget and the cap, had it still been running
        with pytest.raises(Refused):
            table.admit("10.0.1.4", budget=60, concurrent=1, wait=0, pause=0, heavy_after=0)
        clock.now += 50
        ticket = table.admit("10.0.1.4", budget=60, concurrent=1, wait=0, heavy_after=0, longest=10)
        assert table.usage("10.0.1.4") == (0.0, 1)
        table.finish(ticket, 0.5)
        assert table.usage("10.0.1.4") == (pytest.approx(0.5), 0)

    def test_a_query_waits_for_a_running_one_to_end(self, tmp_path: Path) -> None:
        """Light queries beyond the cap wait a moment instead of being refused."""
        table = ClientTable(tmp_path / "clients")
        first = table.admit("10.0.1.2", budget=60, concurrent=1, heavy_after=0)
        threading.Timer(0.1, table.finish, args=(first, 0.1)).start()
        second = table.admit("10.0.1.2", budget=60, concurrent=1, wait=2.0, heavy_after=0)
        assert table.usage("10.0.1.2") == (pytest.approx(0.1), 1)
        table.finish(second, 0.0)
        assert table.usage("10.0.1.2")[1] == 0


def _hold_a_query(
    path: str, admitted: multiprocessing.Event, release: multiprocessing.Event
) -> None:
    table = ClientTable(Path(path))
    ticket = table.admit("192.0.2.7", budget=60, concurrent=1)
    admitted.set()
    release.wait(10)
    table.finish(ticket, 3.0)


class TestSharedAcrossProcesses:
    def test_another_process_sees_the_running_query_and_its_charge(self, tmp_path: Path) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh process maps the file itself
        admitted, release = context.Event(), context.Event()
        path = tmp_path / "clients"
        process = context.Process(target=_hold_a_query, args=(str(path), admitted, release))
        process.start()
        try:
            assert admitted.wait(30)
            table = ClientTable(path)
            # a query is entered in the shared table once it has run half of HEAVY_SECONDS
            deadline = time.monotonic() + 5
            while table.usage("192.0.2.7") != (0.0, 1) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert table.usage("192.0.2.7") == (0.0, 1)
            with pytest.raises(Refused):
                table.admit("192.0.2.7", budget=60, concurrent=1, wait=0.05, heavy_after=0)
            release.set()
            process.join(10)
            assert process.exitcode == 0
            assert table.usage("192.0.2.7") == (pytest.approx(3.0), 0)
            table.finish(table.admit("192.0.2.7", budget=60, concurrent=1), 0.0)
        finally:
            release.set()
            process.join(10)


class TestClientKey:
    def test_peer_address(self) -> None:
        assert client_key({"REMOTE_ADDR": "198.51.100.4"}, False) == "198.51.100.4"

    def test_forwarded_only_when_trusted(self) -> None:
        # a client-chosen first entry, then what our proxy appended: the client's real address
        environ = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.9"}
        assert client_key(environ, False) == "10.0.0.1"
        assert client_key(environ, True) == "203.0.113.9"
        assert client_key({"REMOTE_ADDR": "10.0.0.1"}, True) == "10.0.0.1"

    def test_ipv6_counts_per_64(self) -> None:
        one = client_key({"REMOTE_ADDR": "2001:db8:1:2:aaaa::1"}, False)
        other = client_key({"REMOTE_ADDR": "2001:db8:1:2:bbbb::9"}, False)
        assert one == other == "2001:db8:1:2::/64"
        assert client_key({"REMOTE_ADDR": "2001:db8:1:3::1"}, False) != one

    def test_ipv4_mapped(self) -> None:
        assert client_key({"REMOTE_ADDR": "::ffff:192.0.2.1"}, False) == "192.0.2.1"


# --- the app ------------------------------------------------------------------------------------


def get(app: Flask, query: str, address: str, **headers: str):
    return app.test_client().get(
        "/sparql",
        query_string={"query": query},
        headers=headers,
        environ_base={"REMOTE_ADDR": address},
    )


class TestApp:
    def test_spent_budget_answers_429_with_retry_after(
        self, app_factory: Callable[..., Flask], heavy_query: str
    ) -> None:
        app = app_factory(query_timeout=0.5, client_query_seconds=0.5)
        stopped = get(app, heavy_query, "203.0.113.10")
        assert stopped.status_code == 503  # ran to the time limit, which is the whole budget
        refused = get(app, "ASK {}", "203.0.113.10")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        text = refused.get_data(as_text=True)
        assert "0.5 s of query time" in text and "try again in" in text
        assert "Traceback" not in text
        # the query page's own form (format=html) gets the same message in a page
        page = app.test_client().get(
            "/sparql",
            query_string={"query": "ASK {}", "format": "html"},
            headers={"Accept": "text/html"},
            environ_base={"REMOTE_ADDR": "203.0.113.10"},
        )
        assert page.status_code == 429 and page.mimetype == "text/html"
        assert "query time" in page.get_data(as_text=True)
        # another client is not affected
        assert get(app, "ASK {}", "203.0.113.11").status_code == 200

    def test_too_many_running_answers_429(
        self, app_factory: Callable[..., Flask], heavy_query: str
    ) -> None:
        app = app_factory(query_timeout=3.0, client_concurrent_queries=1)
        heavy: dict[str, int] = {}
        thread = threading.Thread(
            target=lambda: heavy.update(status=get(app, heavy_query, "203.0.113.20").status_code)
        )
        thread.start()
        time.sleep(1.0)  # the running query has become a heavy one
        refused = get(app, "ASK {}", "203.0.113.20")
        other = get(app, "ASK {}", "203.0.113.21")
        thread.join()
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert "1 queries running" in refused.get_data(as_text=True)
        assert other.status_code == 200
        assert heavy["status"] == 503

    def test_light_queries_are_charged_little(self, app_factory: Callable[..., Flask]) -> None:
        app = app_factory(client_query_seconds=5)
        for n in range(30):
            assert (
                get(app, f"SELECT * {{ ?s ?p ?o }} LIMIT {n + 1}", "203.0.113.30").status_code
                == 200
            )
        from kgpub.server.fairness import table

        used, running = table().usage("203.0.113.30")
        assert running == 0
        assert 0 < used < 1.0

    def test_cache_hits_cost_nothing(
        self, app_factory: Callable[..., Flask], heavy_query: str
    ) -> None:
        app = app_factory(cache=True, query_timeout=0.5, client_query_seconds=0.5)
        query = "SELECT * WHERE { ?s ?p ?o } LIMIT 2 # fairness cache"
        assert get(app, query, "203.0.113.40").status_code == 200
        assert get(app, heavy_query, "203.0.113.40").status_code == 503  # budget spent
        assert get(app, "ASK {}", "203.0.113.40").status_code == 429
        hit = get(app, query, "203.0.113.40")
        assert hit.status_code == 200 and len(hit.get_json()["results"]["bindings"]) == 2

    def test_streamed_answer_is_charged_when_closed(
        self, app_factory: Callable[..., Flask]
    ) -> None:
        """A streamed answer holds its client's running place until the stream is closed."""
        from kgpub.server.fairness import table

        app = app_factory(max_rows=0)
        query = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } # stream"
        response = app.test_client().get(
            "/sparql",
            query_string={"query": query},
            environ_base={"REMOTE_ADDR": "203.0.113.50"},
            buffered=False,
        )
        assert response.status_code == 200
        assert table().usage("203.0.113.50")[1] == 1
        first = next(iter(response.response))
        assert first
        response.close()
        used, running = table().usage("203.0.113.50")
        assert running == 0 and used > 0
