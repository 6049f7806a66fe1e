"""The home page and the label search, on a real build of the project's data."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyoxigraph as ox
import pytest
from flask import Flask
from flask.testing import FlaskClient
from kgpub.server.querypage import load_examples
from kgpub.server.search import Match, fold, label_index, match
from markupsafe import escape

from kgpub.searchindex import RDFS_LABEL, SKOS_ALT_LABEL, SearchIndex, write_index

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
BASE = "https://w3id.org/kgpub/"


@pytest.fixture(scope="module")
def app(built_app: Flask) -> Flask:
    """The app on the real build (shared with the other server tests)."""
    return built_app


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def results(client: FlaskClient, query: str, **params: object) -> list[dict]:
    response = client.get("/search", query_string={"q": query, **params})
    assert response.status_code == 200, response.text
    assert response.mimetype == "application/json"
    return response.get_json()["results"]


def count(store: ox.Store, query: str) -> int:
    rows = list(store.query(query, use_default_graph_as_union=True))
    return int(rows[0][0].value)


# --- the docs


def test_every_route_is_documented(app: Flask, project_root: Path) -> None:
    doc = (project_root / "docs" / "site.md").read_text(encoding="utf-8")
    mine = {"home", "search", "ontology", "dumps"}
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] in mine]
    assert len(rules) >= 7
    for rule in rules:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)
        assert f"`{path}`" in doc, path


# --- the home page


def test_home_describes_the_dataset(client: FlaskClient, store: ox.Store) -> None:
    response = client.get("/", headers={"Accept": BROWSER})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.text
    title = next(
        store.quads_for_pattern(
            ox.NamedNode(BASE + "dataset"), ox.NamedNode("http://purl.org/dc/terms/title"), None
        )
    ).object.value
    assert f"<h1>{escape(title)}</h1>" in html
    assert 'href="https://creativecommons.org/licenses/by/4.0/"' in html
    assert 'href="/article/ecuador-security-crisis"' in html
    assert "Ecuador&#39;s Security Crisis: A Call for Global Cooperation" in html
    for href in ('href="/sparql"', 'href="/dumps/"', 'href="/ontology"'):
        assert href in html
    assert '</.well-known/void>; rel="describedby"' in response.headers["Link"]


def test_home_counts_match_the_store(client: FlaskClient, store: ox.Store) -> None:
    html = client.get("/", headers={"Accept": BROWSER}).text
    stats = dict(
        (what, int(n.replace(",", "")))
        for n, what in re.findall(r"<strong>([\d,]+)</strong> (?:<a [^>]*>)?([^<]+)", html)
    )
    kgo = "https://w3id.org/kgpub/ontology#"
    assert stats["facts, each citing its sentence"] == count(
        store, f"SELECT (COUNT(DISTINCT ?f) AS ?n) {{ ?f a <{kgo}Fact> }}"
    )
    assert stats["article"] == 1  # singular for one
    assert stats["entities"] == count(
        store,
        f'SELECT (COUNT(DISTINCT ?e) AS ?n) {{ ?e a ?t FILTER STRSTARTS(STR(?e), "{BASE}id/") }}',
    )
    assert stats["triples"] == len({(q.subject, q.predicate, q.object) for q in store})
    assert stats["classes in the ontology"] > 40


def test_home_links_every_example_query(client: FlaskClient, project_root: Path) -> None:
    html = client.get("/", headers={"Accept": BROWSER}).text
    examples = load_examples(project_root / "ontology" / "cq")
    assert examples
    links = re.findall(r'<a href="(/sparql\?[^"]+)">', html)
    queries = [parse_qs(urlsplit(link.replace("&amp;", "&")).query)["query"][0] for link in links]
    assert queries == [example.query for example in examples]


def test_home_search_box_works_without_script(client: FlaskClient) -> None:
    html = client.get("/", headers={"Accept": BROWSER}).text
    form = re.search(r'<form class="search-box"[^>]*>', html)
    assert form is not None
    assert 'action="/search"' in form.group(0)
    assert 'method="get"' in form.group(0)
    assert re.search(r'<input id="home-q" type="search" name="q"', html)
    assert "search.js" in html
    assert client.get("/-/static/search.js").status_code == 200


# --- the search API


def test_noboa_finds_daniel_noboa_first(client: FlaskClient) -> None:
    found = results(client, "noboa")
    first = found[0]
    assert first["iri"] == BASE + "id/daniel-noboa"
    assert first["path"] == "/id/daniel-noboa"
    assert first["label"] == "Daniel Noboa"
    assert first["matched"] == "Noboa"  # the altLabel, an exact match
    assert first["match"] == "exact"
    assert "Person" in first["types"]
    assert {r["path"] for r in found} >= {"/id/noboa-administration"}


@pytest.mark.parametrize(
    ("query", "path", "matched"),
    [
        ("ecuador", "/id/ecuador", "Ecuador"),
        ("ECUADOR", "/id/ecuador", "Ecuador"),
        ("  Écuador ", "/id/ecuador", "Ecuador"),
        ("fbi", "/id/fbi", "FBI"),
        ("méxico", "/id/mexico", "Mexico"),
        ("daniel noboa", "/id/daniel-noboa", "Daniel Noboa"),
        ("noboa daniel", "/id/daniel-noboa", "Daniel Noboa"),
        ("us mexico border", "/id/us-mexico-border", "US-Mexico border"),
    ],
)
def test_case_accents_and_punctuation_do_not_matter(
    client: FlaskClient, query: str, path: str, matched: str
) -> None:
    first = results(client, query)[0]
    assert (first["path"], first["matched"]) == (path, matched)


def test_ranking_exact_prefix_word_substring(client: FlaskClient) -> None:
    found = results(client, "ecuador", limit=100)
    kinds = [r["match"] for r in found]
    order = ["exact", "prefix", "word", "substring", "words"]
    assert kinds == sorted(kinds, key=order.index)
    assert kinds[0] == "exact" and "prefix" in kinds and "word" in kinds
    prefixes = [r for r in found if r["match"] == "prefix"]
    assert [len(r["matched"]) for r in prefixes] == sorted(len(r["matched"]) for r in prefixes)


def test_substring_match(client: FlaskClient) -> None:
    found = results(client, "cuado")
    assert found and all(r["match"] == "substring" for r in found)
    assert "/id/ecuador" in {r["path"] for r in found}


def test_ontology_terms_are_found_at_their_anchor(client: FlaskClient) -> None:
    found = results(client, "military rank", limit=20)
    assert "/ontology#MilitaryRank" in {r["path"] for r in found}


def test_limit(client: FlaskClient) -> None:
    assert len(results(client, "e")) == 10
    assert len(results(client, "e", limit=3)) == 3
    many = client.get("/search?q=e&limit=100").get_json()
    assert len(many["results"]) == min(100, many["total"])


@pytest.mark.parametrize(
    "query_string",
    ["", "q=", "q=%20%20", "q=" + "a" * 201, "q=x&limit=0", "q=x&limit=101", "q=x&limit=ten"],
)
def test_bad_requests_are_400(client: FlaskClient, query_string: str) -> None:
    response = client.get("/search?" + query_string)
    assert response.status_code == 400
    assert response.text.strip()


def test_no_match_is_an_empty_list(client: FlaskClient) -> None:
    assert results(client, "zzyzx") == []
    assert results(client, "!!!") == []


def test_browsers_get_the_results_page(client: FlaskClient) -> None:
    response = client.get("/search?q=noboa", headers={"Accept": BROWSER})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "Accept" in response.headers["Vary"]
    html = response.text
    assert '<a href="/id/daniel-noboa">Daniel Noboa</a>' in html
    assert 'value="noboa"' in html
    assert client.get("/search?q=noboa&format=html").mimetype == "text/html"
    as_json = client.get("/search?q=noboa&format=json", headers={"Accept": BROWSER})
    assert as_json.mimetype == "application/json"


def test_results_page_without_match(client: FlaskClient) -> None:
    html = client.get("/search?q=zzyzx", headers={"Accept": BROWSER}).text
    assert "No resource has a label matching" in html


def test_unacceptable_format_is_406(client: FlaskClient) -> None:
    assert client.get("/search?q=x", headers={"Accept": "image/png"}).status_code == 406


def test_index_is_built_once_per_build(app: Flask) -> None:
    services = app.extensions["kgpub"]
    with app.app_context():
        first = label_index(services)
        started = time.perf_counter()
        for _ in range(200):
            assert label_index(services) is first
            first.search("security")
        assert time.perf_counter() - started < 2


# --- matching, on labels of our own


def test_fold() -> None:
    assert fold("Café") == "cafe"
    assert fold("ÉCOLE  Normale—Supérieure") == "ecole normale superieure"
    assert fold("Straße") == "strasse"
    assert fold("...") == ""


def test_match_kinds() -> None:
    assert match("cafe", "cafe") is Match.EXACT
    assert match("cafe noir", "cafe") is Match.PREFIX
    assert match("le cafe", "caf") is Match.WORD
    assert match("decaf", "caf") is Match.SUBSTRING
    assert match("noir cafe", "cafe noir") is Match.WORDS
    assert match("tea", "cafe") is None


class Rows:
    """Labels given as (name, predicate, label): a ``LabelSource`` for ``write_index``."""

    def __init__(self, entries: tuple[tuple[str, str, str], ...]) -> None:
        self.entries = entries

    def labels(self) -> list[tuple[str, str, str, str]]:
        return [(BASE + "id/" + name, p, value, "") for name, p, value in self.entries]

    def types(self) -> list[tuple[str, str, bool]]:
        return []

    def type_labels(self, types: object) -> list[tuple[str, str, str]]:
        return []


def _index(tmp_path: Path, *entries: tuple[str, str, str]) -> SearchIndex:
    """An index file of our own labels, written as the build writes one."""
    target = tmp_path / "search.sqlite"
    write_index(target, Rows(entries), lambda iri: "/" + iri[len(BASE) :], {"base": BASE})
    return SearchIndex(target)


LABEL = RDFS_LABEL
ALT = SKOS_ALT_LABEL


def test_accented_labels_are_found_without_accents(tmp_path: Path) -> None:
    index = _index(tmp_path, ("cafe", LABEL, "Café"), ("tea", LABEL, "Tea room"))
    hits = index.search("cafe")
    assert [(h.resource.label, h.how) for h in hits] == [("Café", Match.EXACT)]
    assert index.search("CAFÉ")[0].resource.path == "/id/cafe"


def test_best_label_of_a_resource_counts_then_shorter_labels_first(tmp_path: Path) -> None:
    index = _index(
        tmp_path,
        ("a", LABEL, "Central Park Café"),
        ("b", LABEL, "Park"),
        ("c", LABEL, "Parkside Avenue"),
        ("d", LABEL, "Parking"),
        ("e", LABEL, "Skatepark"),
        ("f", LABEL, "Big Green"),
        ("f", ALT, "Park of the city"),
    )
    hits = index.search("park")
    assert [h.resource.path for h in hits] == ["/id/b", "/id/d", "/id/c", "/id/f", "/id/a", "/id/e"]
    assert [h.how for h in hits] == [
        Match.EXACT,
        Match.PREFIX,
        Match.PREFIX,
        Match.PREFIX,
        Match.WORD,
        Match.SUBSTRING,
    ]
    assert hits[3].matched == "Park of the city" and hits[3].resource.label == "Big Green"


def test_without_a_store_search_is_503_and_home_still_answers(app_factory, tmp_path: Path) -> None:
    client = app_factory(store=tmp_path / "missing").test_client()
    assert client.get("/search?q=ecuador").status_code == 503
    home = client.get("/", headers={"Accept": BROWSER})
    assert home.status_code == 200
    assert "<h1>kgpub</h1>" in home.text
