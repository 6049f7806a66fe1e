"""The annotated article page and its segments, on the real build and on the tiny store."""

from __future__ import annotations

import html as htmllib
import json
import re
from html.parser import HTMLParser

import pyoxigraph as ox
import pytest
import rdflib
from flask import Flask
from flask.testing import FlaskClient
from rdflib import RDF, URIRef

BASE = "https://w3id.org/kgpub/"
SLUG = "ecuador-security-crisis"
ARTICLE = BASE + f"article/{SLUG}"
PAGE = f"/article/{SLUG}.html"
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
NIF = "http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#"
PREFIXES = f"""PREFIX nif: <{NIF}> PREFIX dct: <http://purl.org/dc/terms/>
PREFIX itsrdf: <http://www.w3.org/2005/11/its/rdf#> PREFIX prov: <http://www.w3.org/ns/prov#>
"""


@pytest.fixture()
def client(built_app: Flask) -> FlaskClient:
    return built_app.test_client()


@pytest.fixture(scope="module")
def article_html(built_app: Flask) -> str:
    response = built_app.test_client().get(PAGE)
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/html"
    return response.text


def rows(store: ox.Store, query: str) -> list[list[str]]:
    return [
        [term.value for term in row]
        for row in store.query(PREFIXES + query, use_default_graph_as_union=True)
    ]


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside each element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


def test_the_article_iri_negotiates(client: FlaskClient) -> None:
    browser = client.get(f"/article/{SLUG}", headers={"Accept": FIREFOX})
    assert browser.status_code == 303 and browser.headers["Location"] == PAGE
    machine = client.get(f"/article/{SLUG}")
    assert machine.headers["Location"] == f"/article/{SLUG}.ttl"
    assert "Accept" in machine.headers["Vary"]
    head = client.head(PAGE)
    assert head.status_code == 200 and head.get_data() == b""


def test_every_sentence_is_anchored(article_html: str, store: ox.Store) -> None:
    sentences = rows(
        store,
        f"SELECT ?id WHERE {{ ?s a nif:Sentence ; nif:referenceContext <{ARTICLE}> ; "
        "dct:identifier ?id }",
    )
    assert len(sentences) > 20
    ids = {attrs.get("id") for _, attrs in parse(article_html).tags}
    for (sentence_id,) in sentences:
        assert sentence_id in ids, sentence_id


def test_every_mention_links_to_its_entity(article_html: str, store: ox.Store) -> None:
    mentions = rows(
        store,
        "SELECT ?text ?entity WHERE { ?m a nif:Phrase ; itsrdf:taIdentRef ?entity ; "
        f"nif:anchorOf ?text ; nif:referenceContext <{ARTICLE}> }}",
    )
    links = re.findall(r'<a class="mention" href="([^"]+)"[^>]*>([^<]+)</a>', article_html)
    assert len(links) == len(mentions)
    found = {(htmllib.unescape(text), href) for href, text in links}
    for text, entity in mentions:
        href = "/" + entity.removeprefix(BASE) + ".html"
        assert (text, href) in found, (text, href)


def test_the_text_is_the_article_text(article_html: str, store: ox.Store) -> None:
    """Sentences are cut from the context string by their offsets: the page shows them whole."""
    shown = htmllib.unescape(re.sub(r"<[^>]+>", "", article_html))
    for (text,) in rows(
        store,
        f"SELECT ?text WHERE {{ ?s a nif:Sentence ; nif:referenceContext <{ARTICLE}> ; "
        "nif:anchorOf ?text }",
    ):
        assert text in shown, text


def test_headings_are_headings(article_html: str, store: ox.Store) -> None:
    headings = rows(
        store,
        f"SELECT ?id ?text WHERE {{ ?h a nif:Title ; nif:referenceContext <{ARTICLE}> ; "
        'dct:identifier ?id ; nif:anchorOf ?text FILTER(STRSTARTS(?id, "h")) }',
    )
    assert headings
    for heading_id, text in headings:
        match = re.search(rf'<h2 id="{heading_id}">(.*?)</h2>', article_html)
        assert match is not None, heading_id
        assert htmllib.unescape(re.sub(r"<[^>]+>", "", match.group(1))) == text
    title = rows(store, f"SELECT ?t WHERE {{ <{ARTICLE}> <http://schema.org/headline> ?t }}")
    match = re.search(r'<h1 id="title">(.*?)</h1>', article_html)
    assert match is not None
    assert htmllib.unescape(re.sub(r"<[^>]+>", "", match.group(1))) == title[0][0]
    assert article_html.count("<h1") == 1


def test_each_sentence_lists_its_facts(article_html: str, store: ox.Store) -> None:
    derived = rows(
        store,
        "SELECT ?fact ?id WHERE { ?fact prov:wasDerivedFrom ?s . "
        f"?s nif:referenceContext <{ARTICLE}> ; dct:identifier ?id }}",
    )
    assert len(derived) > 100
    for fact, sentence_id in derived:
        block = article_html.split(f'<details id="facts-{sentence_id}">')[1].split("</details>")[0]
        assert f'href="/{fact.removeprefix(BASE)}.html"' in block, (fact, sentence_id)
    p3s1 = article_html.split('<details id="facts-p3s1">')[1].split("</details>")[0]
    assert '<a href="/id/christopher-dodd.html">Christopher Dodd</a>' in p3s1
    assert "<q>" in p3s1


def test_schema_org_news_article(article_html: str) -> None:
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', article_html, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    assert data["@type"] == "NewsArticle" and data["@id"] == ARTICLE
    assert data["inLanguage"] == "en"
    assert data["headline"].startswith("Ecuador")


def test_page_headers(client: FlaskClient) -> None:
    response = client.get(PAGE)
    link = response.headers["Link"]
    assert f'</article/{SLUG}.ttl>; rel="alternate"; type="text/turtle"' in link
    assert f'<{ARTICLE}.html>; rel="canonical"' in link
    again = client.get(PAGE, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    since = client.get(PAGE, headers={"If-Modified-Since": response.headers["Last-Modified"]})
    assert since.status_code == 304


@pytest.mark.parametrize(
    ("suffix", "fmt"), [(".ttl", "turtle"), (".jsonld", "json-ld"), (".rdf", "xml")]
)
def test_article_rdf(client: FlaskClient, suffix: str, fmt: str) -> None:
    response = client.get(f"/article/{SLUG}{suffix}")
    assert response.status_code == 200
    graph = rdflib.Graph().parse(data=response.get_data(), format=fmt)
    kgo = "https://w3id.org/kgpub/ontology#"
    assert (URIRef(ARTICLE), RDF.type, URIRef(kgo + "Article")) in graph


def test_segments_are_resources(client: FlaskClient) -> None:
    sentence = f"/article/{SLUG}/p3s1"
    assert client.get(sentence, headers={"Accept": FIREFOX}).headers["Location"] == (
        sentence + ".html"
    )
    assert client.get(sentence).headers["Location"] == sentence + ".ttl"
    graph = rdflib.Graph().parse(data=client.get(sentence + ".ttl").get_data(), format="turtle")
    assert (URIRef(BASE + sentence.lstrip("/")), RDF.type, URIRef(NIF + "Sentence")) in graph
    page = client.get(sentence + ".html").text
    assert f'href="/article/{SLUG}.html#p3s1"' in page
    mention = client.get(f"/article/{SLUG}/char/1016-1028.nt")
    assert mention.status_code == 200 and "taIdentRef" in mention.text


@pytest.mark.parametrize(
    "path",
    [
        "/article/no-such-article",
        "/article/no-such-article.html",
        f"/article/{SLUG}/p99s9.html",
        f"/article/{SLUG}/char/0-0",
    ],
)
def test_unknown_article_paths_are_404(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404
    browser = client.get(path, headers={"Accept": FIREFOX})
    assert browser.status_code == 404 and 'role="search"' in browser.text


def test_the_tiny_article_escapes_its_text(tiny_app: Flask) -> None:
    response = tiny_app.test_client().get("/article/tiny.html")
    assert response.status_code == 200
    page = response.text
    assert "<script>x</script>" not in page and "<script>tiny" not in page
    assert "Evil met &lt;script&gt;x&lt;/script&gt; &amp; friends." not in page  # Evil is a link
    assert '<a class="mention" href="/id/evil.html"' in page
    assert " met &lt;script&gt;x&lt;/script&gt; &amp; friends." in page
    assert "&lt;i&gt;quoted&lt;/i&gt;" in page
    assert page.count("</script>") == 1
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert block is not None and "tiny" in json.loads(block.group(1))["headline"]
