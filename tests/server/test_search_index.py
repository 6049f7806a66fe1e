"""The label search index on disk: written by the build and by ``kgpub load``, built once per
store by the first server otherwise, shared by every app on the same store, rebuilt when the data
changes or the file is damaged, and ranking as the plain-Python rule ``match`` says."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest
from flask import Flask
from kgpub.mappings.load import load
from kgpub.server import search
from kgpub.server.search import placement

from kgpub.searchindex import (
    FILE_NAME,
    RDFS_LABEL,
    SKOS_ALT_LABEL,
    Match,
    SearchIndex,
    fold,
    match,
    read_meta,
    write_index,
)
from kgpub.settings import Settings
from tests.server.conftest import make_app

BASE = "https://w3id.org/kgpub/"
TRIG = f"""
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix schema: <https://schema.org/> .
<{BASE}graph/facts> {{
  <{BASE}id/quito> a schema:City ; rdfs:label "Quito" ; skos:altLabel "San Francisco de Quito" .
  <{BASE}id/guayaquil> a schema:City ; rdfs:label "Guayaquil"@es, "Guayaquil" .
  <{BASE}id/cuenca> a schema:City ; rdfs:label "Cuenca" .
  schema:City rdfs:label "Ciudad"@es, "City"@en .
  <https://example.org/elsewhere> rdfs:label "Quito elsewhere" .
}}
"""


@pytest.fixture(autouse=True)
def fresh_slots() -> Iterator[None]:
    """Each test starts as a new server process would: no index open in memory."""
    search._slots.clear()
    yield
    search._slots.clear()


@pytest.fixture()
def store_dir(tmp_path: Path) -> Path:
    """A store loaded by hand: no search index beside it."""
    folder = tmp_path / "store"
    store = ox.Store(str(folder))
    store.load(TRIG.encode(), format=ox.RdfFormat.TRIG)
    store.flush()
    del store
    return folder


@pytest.fixture()
def apps(root: Path) -> Iterator[Callable[..., Flask]]:
    made: list[Flask] = []

    def factory(store: Path, **settings: object) -> Flask:
        made.append(make_app(root, store=store, **settings))
        return made[-1]

    yield factory
    for app in made:
        app.extensions["kgpub"].store.close()


@pytest.fixture()
def writes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every index file a server writes, in order."""
    written: list[Path] = []
    real = search.write_index

    def counted(target: Path, *args: object, **kwargs: object) -> object:
        written.append(target)
        return real(target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(search, "write_index", counted)
    return written


def paths(app: Flask, query: str) -> list[str]:
    response = app.test_client().get("/search", query_string={"q": query})
    assert response.status_code == 200, response.text
    return [hit["path"] for hit in response.get_json()["results"]]


def test_the_first_search_builds_the_index_beside_the_store_once(
    store_dir: Path, apps: Callable[..., Flask], writes: list[Path]
) -> None:
    first = apps(store_dir)
    assert paths(first, "quito") == ["/id/quito"]  # the other "Quito" is not served here
    assert writes == [store_dir / FILE_NAME]
    built = (store_dir / FILE_NAME).stat().st_mtime_ns

    search._slots.clear()  # a second server (or worker) on the same store
    second = apps(store_dir)
    assert paths(second, "guayaquil") == ["/id/guayaquil"]
    assert writes == [store_dir / FILE_NAME]  # read, not built again
    assert (store_dir / FILE_NAME).stat().st_mtime_ns == built


def test_changed_data_gets_a_new_index(
    store_dir: Path, apps: Callable[..., Flask], writes: list[Path]
) -> None:
    before = apps(store_dir)
    assert paths(before, "loja") == []
    identity = before.extensions["kgpub"].store.identity
    before.extensions["kgpub"].store.close()

    store = ox.Store(str(store_dir))  # the data changes in place
    store.add(ox.Quad(ox.NamedNode(BASE + "id/loja"), ox.NamedNode(RDFS_LABEL), ox.Literal("Loja")))
    store.flush()
    del store

    search._slots.clear()
    after = apps(store_dir)
    assert after.extensions["kgpub"].store.identity != identity
    assert paths(after, "loja") == ["/id/loja"]
    assert len(writes) == 2


@pytest.mark.parametrize("damage", [b"", b"not a database at all" * 100])
def test_a_damaged_index_file_is_built_again_not_a_500(
    store_dir: Path, apps: Callable[..., Flask], writes: list[Path], damage: bytes
) -> None:
    paths(apps(store_dir), "quito")
    (store_dir / FILE_NAME).write_bytes(damage)

    search._slots.clear()
    assert paths(apps(store_dir), "cuenca") == ["/id/cuenca"]
    assert len(writes) == 2
    assert read_meta(store_dir / FILE_NAME) is not None


def test_an_index_damaged_while_open_is_dropped_and_built_again(
    store_dir: Path, apps: Callable[..., Flask], writes: list[Path]
) -> None:
    app = apps(store_dir)
    assert paths(app, "quito") == ["/id/quito"]
    index_file = store_dir / FILE_NAME
    with open(index_file, "r+b") as damaged:  # overwritten in place, under the open index
        damaged.write(b"\0" * index_file.stat().st_size)
    client = app.test_client()
    statuses = [client.get("/search?q=cuenca").status_code for _ in range(3)]
    assert 500 not in statuses and statuses[-1] == 200
    assert paths(app, "cuenca") == ["/id/cuenca"]
    assert len(writes) == 2


def test_while_the_index_is_built_searches_get_503_with_retry_after(
    store_dir: Path, apps: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real = search.write_index

    def slow(*args: object, **kwargs: object) -> object:
        release.wait(30)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(search, "write_index", slow)
    monkeypatch.setattr(search, "BUILD_WAIT", 0.2)
    client = apps(store_dir).test_client()
    started = time.perf_counter()
    waiting = client.get("/search?q=quito")
    assert time.perf_counter() - started < 5
    assert waiting.status_code == 503
    assert int(waiting.headers["Retry-After"]) > 0
    assert "search index is being built" in waiting.text
    release.set()
    deadline = time.monotonic() + 30
    while (answer := client.get("/search?q=quito")).status_code == 503:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert answer.status_code == 200
    assert answer.get_json()["results"][0]["path"] == "/id/quito"


def test_a_read_only_store_folder_gets_its_index_in_the_runtime_folder(
    store_dir: Path, apps: Callable[..., Flask], writes: list[Path]
) -> None:
    store_dir.chmod(0o555)
    try:
        if not (store_dir / "probe").exists():
            try:
                (store_dir / "probe").touch()
            except PermissionError:
                pass
            else:
                (store_dir / "probe").unlink()
                pytest.skip("this user may write to read-only folders (root)")
        assert paths(apps(store_dir), "quito") == ["/id/quito"]
    finally:
        store_dir.chmod(0o755)
    assert len(writes) == 1 and writes[0].parent == search.runtime_dir()
    assert not (store_dir / FILE_NAME).exists()


class RemoteLike:
    """What ``placement`` reads of a remote store: an identity, and no folder."""

    def __init__(self, identity: str) -> None:
        self.identity = identity


def test_a_remote_store_index_is_named_by_its_identity() -> None:
    first = placement(RemoteLike("aaaa"), BASE)  # type: ignore[arg-type]
    again = placement(RemoteLike("aaaa"), BASE)  # type: ignore[arg-type]
    changed = placement(RemoteLike("bbbb"), BASE)  # type: ignore[arg-type]
    assert first.build_at == again.build_at
    assert first.build_at.parent == search.runtime_dir()
    assert changed.build_at != first.build_at
    assert changed.expected["data"] == "bbbb"


def test_kgpub_load_writes_the_index_and_the_server_reads_it(
    tmp_path: Path, apps: Callable[..., Flask], writes: list[Path]
) -> None:
    data = tmp_path / "cities.trig"
    data.write_text(TRIG)
    log = io.StringIO()
    load([data], tmp_path / "loaded", stream=log)
    assert "indexing the labels for search ... 4 labels of 3 resources" in log.getvalue()
    meta = read_meta(tmp_path / "loaded" / FILE_NAME)
    assert meta is not None and meta["base"] == BASE and meta["resources"] == "3"
    assert paths(apps(tmp_path / "loaded"), "san francisco") == ["/id/quito"]
    assert writes == []  # the server built nothing


def test_the_build_writes_the_index_the_server_uses(
    built: Path, writes: list[Path], root: Path
) -> None:
    meta = read_meta(built / "store" / FILE_NAME)
    assert meta is not None and meta["base"] == Settings().base_iri
    app = make_app(Path(__file__).parents[2], store=built / "store")
    try:
        assert paths(app, "noboa")[0] == "/id/daniel-noboa"
    finally:
        app.extensions["kgpub"].store.close()
    assert writes == []


def test_another_base_iri_gets_its_own_index_and_keeps_the_builds(
    store_dir: Path, apps: Callable[..., Flask], writes: list[Path]
) -> None:
    assert paths(apps(store_dir), "quito") == ["/id/quito"]
    other = apps(store_dir, base_iri="https://example.org/")
    assert paths(other, "quito") == ["/elsewhere"]
    assert writes[0] == store_dir / FILE_NAME
    assert writes[1].parent == search.runtime_dir()
    assert read_meta(store_dir / FILE_NAME)["base"] == BASE  # type: ignore[index]


# --- the SQL ranking against the plain rule ---------------------------------------------------

LABELS = [
    "Park",
    "Parking",
    "Parkside Avenue",
    "Central Park Café",
    "Skatepark",
    "Park of the city",
    "Big Green",
    "Ecuador",
    "República del Ecuador",
    "Ecuadorian Embassy",
    "US–Mexico border",
    "Mexico",
    "New Mexico State",
    "Daniel Noboa",
    "Noboa",
    "ab",
    "a b c",
    "Straße",
]
QUERIES = ["park", "PARK", "ecuador", "cuado", "mexico us", "noboa daniel", "e", "ab", "a b"]
QUERIES += ["o", "strasse", "city park", "x", "el", "del ecu", "border us mexico", "pa"]


class Labels:
    def __init__(self, labels: list[str]) -> None:
        self.rows = labels

    def labels(self) -> Iterator[tuple[str, str, str, str]]:
        for number, text in enumerate(self.rows):
            predicate = RDFS_LABEL if number % 3 else SKOS_ALT_LABEL
            yield f"{BASE}id/r{number // 2}", predicate, text, ""

    def types(self) -> list[tuple[str, str, bool]]:
        return []

    def type_labels(self, types: object) -> list[tuple[str, str, str]]:
        return []


def expected_ranking(index: SearchIndex, query: str) -> list[tuple[str, str, Match]]:
    """The hits as the rule says: each resource's best label, then best resources first."""
    connection = index._connection()
    rows = connection.execute(
        "SELECT r.path, r.sort_key, r.id, l.label FROM labels l JOIN resources r "
        "ON r.id = l.resource"
    ).fetchall()
    best: dict[str, tuple[Match, int, str, str, int]] = {}
    for path, sort_key, number, label in rows:
        how = match(fold(label), fold(query))
        if how is None:
            continue
        rank = (how, len(label), label, sort_key, number)
        if path not in best or rank[:3] < best[path][:3]:
            best[path] = rank
    ordered = sorted(best.items(), key=lambda item: (item[1][0], item[1][1], *item[1][3:]))
    return [(path, rank[2], rank[0]) for path, rank in ordered]


@pytest.mark.parametrize("query", QUERIES)
def test_the_index_ranks_as_the_matching_rule_says(tmp_path: Path, query: str) -> None:
    target = tmp_path / FILE_NAME
    write_index(target, Labels(LABELS), lambda iri: "/" + iri[len(BASE) :], {})
    index = SearchIndex(target)
    hits, total = index.top(query, 5)
    every = index.search(query)
    assert [(h.resource.path, h.matched, h.how) for h in every] == expected_ranking(index, query)
    assert total == len(every) and hits == every[:5]
