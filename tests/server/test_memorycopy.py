"""A web worker's copy of the store in memory: the same quads, blank node labels and graphs as on
disk, the same answers from it as from a query process, and the disk kept when the store is too
big for the copy or the copy fails."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest
from flask import Flask
from kgpub.server import memorycopy
from kgpub.server.memorycopy import MemoryCopy
from kgpub.server.pool import Answer, ExecutorPool

from kgpub.storecounts import FILE_NAME, count_store_folder
from tests.server.conftest import PROJECT, make_app

EX = "http://example.org/"
# blank nodes with labels of every shape Oxigraph stores (hex numbers, words, made by it), one a
# graph name, one inside a triple term, and a named graph declared with no triples in it
TRIG = f"""
@prefix ex: <{EX}> .
_:b0 ex:knows _:ab12cd .
_:x-y.z ex:says <<( ex:a ex:p _:b0 )>> .
ex:a ex:label "a"@en .
ex:g {{ _:b0 ex:in ex:g . ex:a ex:n 1 . }}
_:gname {{ ex:a ex:in _:gname . }}
"""
QUERY = "SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g ?s ?p ?o"
UNION = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("memorycopy") / "store"
    store = ox.Store(str(folder))
    # loaded quad by quad: a parser would give the blank nodes labels of its own
    for quad in ox.parse(TRIG.encode(), format=ox.RdfFormat.TRIG):
        store.add(quad)
    store.add_graph(ox.NamedNode(EX + "empty"))
    store.flush()
    del store
    return folder


def copied(copy: MemoryCopy, seconds: float = 10.0) -> MemoryCopy:
    """The copy once its thread is done, whatever the outcome."""
    copy.start()
    deadline = time.monotonic() + seconds
    while copy.state == "copying" and time.monotonic() < deadline:
        time.sleep(0.01)
    return copy


def all_quads(store: ox.Store) -> set[ox.Quad]:
    return set(store.quads_for_pattern(None, None, None, None))


def test_the_copy_holds_the_same_quads_labels_and_graphs(store_dir: Path) -> None:
    disk = ox.Store.read_only(str(store_dir))
    copy = copied(MemoryCopy(str(store_dir), max_quads=100))
    assert copy.state == "ready" and copy.store is not None
    assert all_quads(copy.store) == all_quads(disk)
    labels = {
        term.value
        for quad in all_quads(copy.store)
        for term in (quad.subject, quad.object, quad.graph_name)
        if isinstance(term, ox.BlankNode)
    }
    assert {"b0", "ab12cd", "x-y.z", "gname"} <= labels
    assert set(copy.store.named_graphs()) == set(disk.named_graphs())
    assert ox.NamedNode(EX + "empty") in set(copy.store.named_graphs())
    assert copy.report() == {"state": "ready", "quads": 6, "seconds": copy.seconds}
    for query in (QUERY, UNION, "SELECT ?g WHERE { GRAPH ?g {} } ORDER BY ?g"):
        options = {"use_default_graph_as_union": True}
        expected = disk.query(query, **options).serialize(format=ox.QueryResultsFormat.TSV)
        found = copy.store.query(query, **options).serialize(format=ox.QueryResultsFormat.TSV)
        assert found == expected


def test_a_store_over_the_limit_stays_on_disk(store_dir: Path) -> None:
    copy = copied(MemoryCopy(str(store_dir), max_quads=5))
    assert copy.state == "too big" and copy.store is None
    assert copy.report()["seconds"] is None


def test_the_counts_beside_the_store_spare_the_copying(tmp_path: Path, store_dir: Path) -> None:
    """``kgpub load`` wrote how many quads there are: a store too big is not read at all."""
    folder = tmp_path / "store"
    shutil.copytree(store_dir, folder)
    count_store_folder(folder)
    assert json.loads((folder / FILE_NAME).read_text())["quads"] == 6
    copy = copied(MemoryCopy(str(folder), max_quads=5))
    assert copy.state == "too big" and copy.quads == 0
    assert copied(MemoryCopy(str(folder), max_quads=6)).state == "ready"


def test_a_machine_short_of_memory_keeps_the_store_on_disk(
    tmp_path: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before copying a store whose size is known, and as the copy grows, the machine's
    available memory is asked; a copy it has no room for is not made."""
    folder = tmp_path / "store"
    shutil.copytree(store_dir, folder)
    count_store_folder(folder)
    meminfo = tmp_path / "meminfo"
    real_open = open

    def machine(total_kib: int, available_kib: int) -> None:
        meminfo.write_text(f"MemTotal: {total_kib} kB\nMemAvailable: {available_kib} kB\n")

    def reading_meminfo(path: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        return real_open(meminfo if path == "/proc/meminfo" else path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", reading_meminfo)
    machine(total_kib=8, available_kib=2)  # 6 quads need 2 x 2,400 bytes, and 1 KiB stays free
    copy = copied(MemoryCopy(str(folder), max_quads=100))
    assert copy.state == "short of memory" and copy.store is None and copy.quads == 0
    machine(total_kib=8, available_kib=6)
    assert copied(MemoryCopy(str(folder), max_quads=100)).state == "ready"
    # without the count beside the store, the memory is watched while copying
    monkeypatch.setattr(memorycopy, "CHECK_EVERY", 2)
    machine(total_kib=800, available_kib=50)  # under an eighth
    blind = copied(MemoryCopy(str(store_dir), max_quads=100))
    assert blind.state == "short of memory" and blind.quads == 2


def test_off_and_failed_copies(tmp_path: Path) -> None:
    off = copied(MemoryCopy(str(tmp_path / "nothing"), max_quads=0))
    assert off.state == "off" and off.store is None
    failed = copied(MemoryCopy(str(tmp_path / "nothing"), max_quads=10))
    assert failed.state == "failed" and failed.store is None


@pytest.fixture()
def app_on(store_dir: Path) -> Iterator[Callable[..., Flask]]:
    made: list[Flask] = []

    def factory(**settings: object) -> Flask:
        made.append(make_app(PROJECT, store=store_dir, **settings))
        return made[-1]

    yield factory
    for app in made:
        app.extensions["kgpub"].store.close()


def health_copy(app: Flask) -> dict:
    return app.test_client().get("/-/health").get_json()["store"]["memory_copy"]


def select(app: Flask, query: str) -> bytes:
    response = app.test_client().get(
        "/sparql", query_string={"query": query}, headers={"Accept": "text/tab-separated-values"}
    )
    assert response.status_code == 200
    return response.data


def test_answers_from_the_copy_are_those_of_a_query_process(app_on: Callable[..., Flask]) -> None:
    """The first run is a query process's, on disk; the next ones the worker's, on its copy:
    the same rows, the same blank node labels, as health reports the copy whole."""
    app = app_on()
    queries = app.extensions["kgpub"].store.inline
    copy = copied(queries.memory_copy())
    assert health_copy(app) == {"state": "ready", "quads": 6, "seconds": copy.seconds}
    for query in (QUERY, UNION):
        first = select(app, query)
        assert b"_:b0" in first and b"_:gname" in first
        assert select(app, query) == select(app, query) == first
    assert queries._handle() is copy.store


def test_a_worker_without_a_copy_answers_from_disk(app_on: Callable[..., Flask]) -> None:
    app = app_on(memory_copy_quads=0)
    first = select(app, UNION)
    assert select(app, UNION) == first
    assert health_copy(app) == {"state": "off", "quads": 0, "seconds": None}


class QueryProcessRuns:
    """The queries sent to query processes, each reported to have cost ``cost`` CPU seconds."""

    def __init__(self, cost: float) -> None:
        self.cost = cost
        self.count = 0


@pytest.fixture()
def costly(monkeypatch: pytest.MonkeyPatch) -> QueryProcessRuns:
    runs = QueryProcessRuns(cost=0.5)
    real_run = ExecutorPool.run

    def run(pool: ExecutorPool, request: dict, timeout: float) -> Answer:
        runs.count += 1
        answer = real_run(pool, request, timeout)
        answer.cpu_seconds = runs.cost
        return answer

    monkeypatch.setattr(ExecutorPool, "run", run)
    return runs


def test_a_query_too_costly_on_disk_runs_in_the_worker_on_its_copy(
    app_on: Callable[..., Flask], costly: QueryProcessRuns
) -> None:
    """Past ``inline_query_ms`` on disk (0.5 s here) but within ten times it, a query comes
    back to the worker only once it has the store in memory."""
    app = app_on(inline_query_ms=100)
    copied(app.extensions["kgpub"].store.inline.memory_copy())
    answers = [select(app, UNION + " # costly") for _ in range(3)]
    assert costly.count == 1
    assert answers[0] == answers[1] == answers[2]
    # no copy, or none yet (here: the store is too big for it): every run in a query process
    for settings in ({"memory_copy_quads": 0}, {"memory_copy_quads": 5}):
        on_disk = app_on(inline_query_ms=100, **settings)
        copied(on_disk.extensions["kgpub"].store.inline.memory_copy())
        before = costly.count
        for _ in range(3):
            assert select(on_disk, UNION + " # costly on disk") == answers[0]
        assert costly.count == before + 3


def test_a_query_no_lighter_in_memory_goes_back_to_the_query_processes(
    app_on: Callable[..., Flask], costly: QueryProcessRuns
) -> None:
    app = app_on(inline_query_ms=0.000_01)  # 10 ns: every run here costs more
    costly.cost = 0.000_000_05  # 50 ns: within ten times it
    copied(app.extensions["kgpub"].store.inline.memory_copy())
    for _ in range(4):
        select(app, UNION + " # no lighter")
    # a query process, the worker (too costly again: forgotten), a query process, the worker
    assert costly.count == 2
