"""No outbound requests, ever: a listener on 127.0.0.1 must see no connection, whatever IRIs a
query or the protocol names."""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from kgpub.server.formats import SPARQL_JSON, Kind
from kgpub.server.pool import ExecutorPool, QueryFailed
from kgpub.server.store import EmbeddedStore, QueryRequest

from tests.e2e.conftest import Listener

pytestmark = pytest.mark.e2e
EX = "PREFIX ex: <http://example.org/>"


def test_listener_works(listener: Listener) -> None:
    """The control: a real connection is counted."""
    with socket.create_connection(("127.0.0.1", int(listener.url.rsplit(":", 1)[1][:-1]))):
        pass
    time.sleep(0.3)
    assert listener.connections == 1


def test_no_request_reaches_the_listener(endpoint: str, listener: Listener) -> None:
    url = listener.url
    attempts = [
        ({"query": f"SELECT * WHERE {{ SERVICE <{url}sparql> {{ ?s ?p ?o }} }}"}, 403),
        ({"query": f"SELECT * WHERE {{ SERVICE SILENT <{url}> {{ ?s ?p ?o }} }}"}, 403),
        ({"query": f"SELECT * FROM <{url}data.ttl> WHERE {{ ?s ?p ?o }}"}, 200),
        ({"query": f"SELECT * FROM NAMED <{url}g> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"}, 200),
        ({"query": "SELECT * WHERE { ?s ?p ?o }", "default-graph-uri": url + "g"}, 200),
        ({"query": "SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }", "named-graph-uri": url}, 200),
        ({"query": f"DESCRIBE <{url}thing>"}, 200),
        ({"update": f"LOAD <{url}data.ttl>"}, 403),
        # an escaped character of a prefixed name is no comment: the SERVICE after it is seen,
        # on the first run (in a query process) and on the next ones (on the worker's thread)
        *[({"query": f"{EX} SELECT * {{ BIND(ex:a\\#b AS ?z) SERVICE SILENT <{url}> {{}} }}"}, 403)]
        * 4,
        # a keyword needs no space around it; a codepoint escape in a string ends nothing
        ({"query": f"SELECT * {{ ?s ?p 1SERVICE <{url}> {{}} }}"}, 403),
        ({"query": f"PREFIX : <{url}> SELECT * {{ SERVICE:x {{}} }}"}, 403),
        ({"query": f'SELECT * {{ BIND("a\\u0022 #" AS ?x) SERVICE <{url}> {{}} }}'}, 403),
    ]
    for params, status in attempts:
        response = requests.post(endpoint, data=params, timeout=10)
        assert response.status_code == status, (params, response.text)
        if status == 200 and "DESCRIBE" not in params.get("query", ""):
            assert response.json()["results"]["bindings"] == []  # nothing was fetched
    time.sleep(0.5)
    assert listener.connections == 0


def test_query_processes_cannot_open_connections(server, listener: Listener) -> None:
    """Even a SERVICE query that slipped past the endpoint's check reaches nothing: the query
    processes have no network (the second lock)."""
    store = EmbeddedStore(Path(server.store), pool_size=1)
    try:
        pool = store._executors()
        probe = pool._acquire(time.monotonic() + 30)
        sealed = probe.sealed
        pool._release(probe)
        if not sealed:
            pytest.skip("this platform has no seccomp filter for the query processes")
        query = f"SELECT * WHERE {{ SERVICE <{listener.url}> {{ ?s ?p ?o }} }}"
        with pytest.raises(QueryFailed):
            store.query(QueryRequest(query, {Kind.SOLUTIONS: SPARQL_JSON}, timeout=10))
    finally:
        store.close()
    time.sleep(0.3)
    assert listener.connections == 0


def test_a_pool_alone_is_sealed(server) -> None:
    pool = ExecutorPool(str(Path(server.store).resolve()), 1)
    try:
        executor = pool._acquire(time.monotonic() + 30)
        assert executor.sealed or not Path("/proc/self/status").exists()
        pool._release(executor)
    finally:
        pool.close()


def test_the_web_workers_have_no_network(server, endpoint: str) -> None:
    """The lock for the queries a worker runs itself: a query it has answered before is known to
    be light and runs on the worker's own threads, which by then refuse themselves IPv4 and IPv6
    sockets (a seccomp filter, shown in /proc)."""
    if server.remote is not None:
        pytest.skip("a worker in front of a remote store runs no query itself")
    if "Seccomp:" not in Path("/proc/self/status").read_text():
        pytest.skip("this platform has no seccomp")
    query = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    for turn in range(12):  # a new connection each: the workers take turns, unevenly
        # a parameter the endpoint ignores makes each request new to the response cache
        params = {"query": query, "turn": str(turn)}
        assert requests.get(endpoint, params=params, timeout=10).status_code == 200
    time.sleep(0.3)  # access lines are written within 50 ms
    answered = Counter(
        json.loads(line)["worker"]
        for line in server.log.read_text().splitlines()
        if line.startswith("{") and '"route":"sparql.endpoint"' in line
    )
    ran_it_themselves = [pid for pid, count in answered.items() if count >= 2]
    assert ran_it_themselves, answered
    for pid in ran_it_themselves:
        status = Path(f"/proc/{pid}/status").read_text()
        assert "\nSeccomp:\t2\n" in status, (pid, status)
