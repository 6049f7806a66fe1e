"""What keeps big graphs fast: the label index shared by a server's workers, the paging of a hub's
incoming links without sorting them, and search answers that do not sort every hit."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from kgpub.server import search
from kgpub.server.store import incoming_windows


@pytest.fixture()
def tiny(tiny_app: Flask) -> FlaskClient:
    return tiny_app.test_client()


def test_a_second_worker_reads_the_label_index_the_first_built(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = app.extensions["kgpub"]
    search._slots.clear()
    with app.app_context():
        first = search.label_index(services)
    assert first.path.is_file()
    word = first.search("e")[0].resource.label.split()[0]

    def no_second_build(*_: object) -> None:
        raise AssertionError("the index was built again")

    search._slots.clear()  # as in another worker process: nothing in memory
    monkeypatch.setattr(search, "write_index", no_second_build)
    with app.app_context():
        second = search.label_index(services)
    assert second is not first and second.path == first.path
    assert second.search(word)
    assert [h.resource.iri for h in second.search(word)] == [
        h.resource.iri for h in first.search(word)
    ]


def test_the_total_counts_every_hit_though_only_the_best_are_returned(
    client: FlaskClient,
) -> None:
    every = client.get("/search?q=e&limit=100").get_json()
    few = client.get("/search?q=e&limit=3").get_json()
    assert every["total"] == few["total"] > 3
    assert few["results"] == every["results"][:3]


@pytest.mark.parametrize(
    ("offset", "size", "expected"),
    [
        (0, 50, [("a", 0, 10), ("b", 0, 40)]),
        (50, 50, [("b", 40, 50)]),
        (100, 50, [("b", 90, 10), ("c", 0, 5)]),
        (105, 50, [("b", 95, 5), ("c", 0, 5)]),
        (115, 50, []),
        (10, 5, [("b", 0, 5)]),
    ],
)
def test_a_page_of_incoming_links_spans_the_predicates_in_order(
    offset: int, size: int, expected: list[tuple[str, int, int]]
) -> None:
    counts = {"c": 5, "a": 10, "b": 100}
    assert incoming_windows(counts, offset, size) == expected


def test_hub_pages_cover_every_link_once_in_predicate_order(tiny: FlaskClient) -> None:
    seen: list[tuple[str, str]] = []
    for number in (1, 2, 3):
        html = tiny.get(f"/id/hub.html?incoming-page={number}").get_data(as_text=True)
        incoming = html.split('id="incoming"')[1].split("</section>")[0]
        for group in re.split(r"<h3|<dt", incoming)[1:]:
            found = re.findall(r'href="/id/(hub-s\d+)\.html"', group)
            predicate = "about" if "kgo:about" in group else "mentions"
            seen += [(predicate, s) for s in found]
    assert len(seen) == len(set(seen)) == 120
    # kgo:about (60 links) before kgo:mentions: page 2 holds the last 10 of one, 40 of the other
    assert [p for p, _ in seen] == ["about"] * 60 + ["mentions"] * 60
