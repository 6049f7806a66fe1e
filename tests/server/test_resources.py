"""Linked-data resources on the real build: 303s by Accept, documents by suffix, pages, caching."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import rdflib
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdflib import RDF, RDFS, URIRef

BASE = "https://w3id.org/kgpub/"
NOBOA = URIRef(BASE + "id/daniel-noboa")
KGO = rdflib.Namespace("https://w3id.org/kgpub/ontology#")
PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
HYDRA = rdflib.Namespace("http://www.w3.org/ns/hydra/core#")
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,"
    "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
RDFLIB = (
    "application/rdf+xml, text/n3, text/turtle, application/n-triples, application/ld+json, "
    "application/n-quads, application/trig"
)
SUFFIX_FORMATS = {
    ".ttl": ("text/turtle", "turtle"),
    ".nt": ("application/n-triples", "nt"),
    ".jsonld": ("application/ld+json", "json-ld"),
    ".rdf": ("application/rdf+xml", "xml"),
    ".trig": ("application/trig", "trig"),
    ".nq": ("application/n-quads", "nquads"),
}


@pytest.fixture()
def client(built_app: Flask) -> FlaskClient:
    return built_app.test_client()


@pytest.fixture()
def tiny(tiny_app: Flask) -> FlaskClient:
    return tiny_app.test_client()


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.text)
    assert response.mimetype == "text/html"
    return response.text


# --- negotiation: 303 See Other to the document in the chosen format


@pytest.mark.parametrize(
    ("accept", "suffix"),
    [
        (None, ".ttl"),
        ("", ".ttl"),
        ("*/*", ".ttl"),
        ("text/turtle", ".ttl"),
        ("application/x-turtle", ".ttl"),
        ("text/*", ".ttl"),
        ("application/n-triples", ".nt"),
        ("application/*", ".nt"),  # the first labelled application/: no alias of Turtle counts
        ("application/ld+json", ".jsonld"),
        ('application/ld+json;profile="http://www.w3.org/ns/json-ld#compacted"', ".jsonld"),
        ("application/json", ".jsonld"),
        ("application/rdf+xml", ".rdf"),
        ("application/n-quads", ".nq"),
        ("application/trig", ".trig"),
        ("text/html", ".html"),
        ("application/xhtml+xml", ".html"),
        (FIREFOX, ".html"),
        (CHROME, ".html"),
        ("text/html;q=0.5, text/turtle", ".ttl"),
        ("text/turtle;q=0.5, text/html", ".html"),
        ("text/html;q=0, */*", ".ttl"),
        ("application/ld+json;q=0.9, application/n-triples;q=0.95", ".nt"),
        ("image/png, */*;q=0.1", ".ttl"),
        (RDFLIB, ".ttl"),  # equal weights: the order of the offers decides
    ],
)
def test_accept_chooses_the_document(client: FlaskClient, accept: str | None, suffix: str) -> None:
    headers = {} if accept is None else {"Accept": accept}
    response = client.get("/id/daniel-noboa", headers=headers)
    assert response.status_code == 303
    assert response.headers["Location"] == "/id/daniel-noboa" + suffix
    assert "Accept" in response.headers["Vary"]
    assert "max-age=" in response.headers["Cache-Control"]


@pytest.mark.parametrize("accept", ["image/png", "text/turtle;q=0, text/html;q=0", "text/csv"])
def test_impossible_accept_is_406_listing_the_offers(client: FlaskClient, accept: str) -> None:
    response = client.get("/id/daniel-noboa", headers={"Accept": accept})
    assert response.status_code == 406
    assert response.mimetype == "text/plain"
    for media_type in ("text/turtle", "application/ld+json", "application/trig", "text/html"):
        assert media_type in response.text


def test_the_query_string_follows_the_redirect(client: FlaskClient) -> None:
    response = client.get("/id/ecuador?incoming-page=1", headers={"Accept": "text/html"})
    assert response.headers["Location"] == "/id/ecuador.html?incoming-page=1"


def test_redirect_then_page(client: FlaskClient) -> None:
    response = client.get("/id/daniel-noboa", headers={"Accept": FIREFOX}, follow_redirects=True)
    assert response.status_code == 200
    assert response.request.path == "/id/daniel-noboa.html"
    assert "<h1" in response.text and "Daniel Noboa" in response.text


# --- documents by suffix


@pytest.mark.parametrize("suffix", SUFFIX_FORMATS)
def test_every_format_parses_with_the_resource_as_subject(client: FlaskClient, suffix: str) -> None:
    media_type, rdflib_format = SUFFIX_FORMATS[suffix]
    response = client.get("/id/daniel-noboa" + suffix, headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.mimetype == media_type
    graph = rdflib.Dataset(default_union=True) if suffix in (".trig", ".nq") else rdflib.Graph()
    graph.parse(data=response.get_data(), format=rdflib_format)
    assert (NOBOA, RDFS.label, rdflib.Literal("Daniel Noboa", lang="en")) in graph
    assert (NOBOA, RDF.type, KGO.Person) in graph
    # incoming links, labels of what the resource names, and the provenance of its facts
    admin = URIRef(BASE + "id/noboa-administration")
    assert (admin, KGO.ledBy, NOBOA) in graph
    assert (admin, RDFS.label, None) in graph
    fact = URIRef(BASE + "fact/ecuador-security-crisis/noboa-president")
    sentence = URIRef(BASE + "article/ecuador-security-crisis/p2s3")
    assert (fact, PROV.wasDerivedFrom, sentence) in graph
    assert (fact, KGO.quote, rdflib.Literal("President Daniel Noboa")) in graph
    assert "Vary" not in response.headers or "Accept" not in response.headers["Vary"]


@pytest.mark.parametrize("suffix", [".trig", ".nq"])
def test_named_graphs_are_kept(client: FlaskClient, suffix: str) -> None:
    _, rdflib_format = SUFFIX_FORMATS[suffix]
    data = client.get("/id/daniel-noboa" + suffix).get_data()
    dataset = rdflib.Dataset()
    dataset.parse(data=data, format=rdflib_format)
    fact = dataset.graph(URIRef(BASE + "fact/ecuador-security-crisis/noboa-president"))
    assert (NOBOA, URIRef("http://www.w3.org/ns/org#holds"), None) in fact
    inferred = dataset.graph(URIRef(BASE + "graph/inferred"))
    assert (NOBOA, RDF.type, URIRef("http://schema.org/Person")) in inferred


def test_jsonld_embeds_its_context(client: FlaskClient) -> None:
    document = client.get("/id/daniel-noboa.jsonld").get_json()
    assert document["@context"]["rdfs"] == str(RDFS)
    node = next(n for n in document["@graph"] if n["@id"] == str(NOBOA))
    assert node["rdfs:label"] == [{"@language": "en", "@value": "Daniel Noboa"}]


def test_link_headers_name_every_format_and_the_canonical_url(client: FlaskClient) -> None:
    for path in ("/id/daniel-noboa.html", "/id/daniel-noboa.ttl", "/id/daniel-noboa"):
        link = client.get(path).headers["Link"]
        for suffix, (media_type, _) in {**SUFFIX_FORMATS, ".html": ("text/html", "")}.items():
            assert f'</id/daniel-noboa{suffix}>; rel="alternate"; type="{media_type}"' in link
        assert 'rel="canonical"' in link
    link = client.get("/id/daniel-noboa.ttl").headers["Link"]
    assert f'<{BASE}id/daniel-noboa.ttl>; rel="canonical"' in link


def test_head_answers_like_get_without_a_body(client: FlaskClient) -> None:
    for path, status in (("/id/daniel-noboa", 303), ("/id/daniel-noboa.html", 200)):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == status
        assert head.get_data() == b""
        for name in ("Content-Type", "Link", "Location", "ETag"):
            assert head.headers.get(name) == get.headers.get(name), name


def test_every_family_dereferences(client: FlaskClient) -> None:
    for path, kind in [
        ("/fact/ecuador-security-crisis/noboa-president", KGO.Fact),
        ("/dataset", URIRef("http://rdfs.org/ns/void#Dataset")),
        ("/article/ecuador-security-crisis", KGO.Article),
    ]:
        assert client.get(path).headers["Location"] == path + ".ttl"
        graph = rdflib.Graph().parse(data=client.get(path + ".ttl").get_data(), format="turtle")
        assert (URIRef(BASE + path.lstrip("/")), RDF.type, kind) in graph, path
    graph_page = page(client, "/graph/inferred.html")
    assert "Triples in this graph" in graph_page


def test_a_fact_graph_page_shows_its_triples_and_sentence(client: FlaskClient) -> None:
    html = page(client, "/fact/ecuador-security-crisis/noboa-president.html")
    assert "Triples in this graph" in html
    assert 'href="/id/president-of-ecuador.html">President of Ecuador</a>' in html
    assert 'href="/article/ecuador-security-crisis/p2s3.html"' in html
    trig = client.get("/fact/ecuador-security-crisis/noboa-president.trig").get_data()
    dataset = rdflib.Dataset().parse(data=trig, format="trig")
    fact = dataset.graph(URIRef(BASE + "fact/ecuador-security-crisis/noboa-president"))
    assert len(fact) >= 1


# --- unknown resources and bad paths


def test_unknown_is_404_html_with_a_search_box_for_browsers(client: FlaskClient) -> None:
    response = client.get("/id/no-such-thing", headers={"Accept": FIREFOX})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert 'role="search"' in response.text and 'name="q"' in response.text
    assert 'value="no such thing"' in response.text
    assert "Accept" in response.headers["Vary"]


@pytest.mark.parametrize("path", ["/id/no-such-thing", "/id/no-such-thing.ttl", "/fact/x/y.html"])
def test_unknown_is_404_plain_text_for_machines(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/plain"
    assert "no-such-thing" in response.text or "fact/x/y" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/id/../../etc/passwd",
        "/id/%2e%2e/%2e%2e/etc/passwd",
        "/id/..%2f..%2fetc%2fpasswd",
        "/id/a%00b",
        "/id/%ff",
        "/id/caf%C3",
        "/id/a%0Ab",
        "/id/a b",
        "/id/a b.html",
        "/id/a%3Eb%3C",
        "/id/a%3Eb%3C.ttl",
        "/id/%7Bx%7D",
        "/id/%7Bx%7D.html",
        "/id/x%25zz",
        "/id/x%25zz.nt",
        "/article/a%22b/c.html",
        "/id/%EE%80%80.ttl",
        "/id/" + "a" * 9000,
        "/id/" + "%C3%A9" * 2000,
    ],
)
def test_bad_paths_are_client_errors_with_a_message(client: FlaskClient, path: str) -> None:
    for accept in (None, FIREFOX):
        response = client.get(path, headers={"Accept": accept} if accept else {})
        assert response.status_code in (400, 404, 414), (path, response.status_code)
        assert len(response.text.strip()) > 10


# --- conditional requests


def test_etag_and_last_modified_give_304(client: FlaskClient) -> None:
    first = client.get("/id/daniel-noboa.html")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('W/"')
    assert "public" in first.headers["Cache-Control"]
    again = client.get("/id/daniel-noboa.html", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag and "Link" in again.headers
    assert client.get("/id/daniel-noboa.html", headers={"If-None-Match": "*"}).status_code == 304
    since = client.get("/id/daniel-noboa.html", headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    earlier = format_datetime(parsedate_to_datetime(modified) - timedelta(days=1), usegmt=True)
    stale = client.get("/id/daniel-noboa.html", headers={"If-Modified-Since": earlier})
    assert stale.status_code == 200
    other = client.get("/id/daniel-noboa.html", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200
    # If-None-Match wins over If-Modified-Since
    both = {"If-None-Match": '"other"', "If-Modified-Since": modified}
    assert client.get("/id/daniel-noboa.html", headers=both).status_code == 200


def test_each_representation_has_its_own_etag(client: FlaskClient) -> None:
    tags = {
        client.get(path).headers["ETag"]
        for path in ("/id/daniel-noboa.html", "/id/daniel-noboa.ttl", "/id/ecuador.html")
    }
    assert len(tags) == 3
    ttl = client.get("/id/daniel-noboa.ttl")
    again = client.get("/id/daniel-noboa.ttl", headers={"If-None-Match": ttl.headers["ETag"]})
    assert again.status_code == 304
    response = client.get("/id/daniel-noboa.html", headers={"If-None-Match": ttl.headers["ETag"]})
    assert response.status_code == 200


# --- the resource page


def test_page_shows_label_types_description_and_canonical_iri(client: FlaskClient) -> None:
    html = page(client, "/id/daniel-noboa.html")
    assert re.search(r"<h1[^>]*>Daniel Noboa</h1>", html)
    assert f"<code>{NOBOA}</code>" in html
    assert '<a href="/ontology#Person">Person</a>' in html
    assert "President of Ecuador, whose administration" in html
    assert f'<link rel="canonical" href="{BASE}id/daniel-noboa.html">' in html
    assert '<link rel="alternate" type="text/turtle" href="/id/daniel-noboa.ttl">' in html
    assert '<main id="content">' in html and 'lang="en"' in html


def test_properties_are_ordered_by_the_list(client: FlaskClient) -> None:
    html = page(client, "/id/daniel-noboa.html")
    section = html.split('id="properties-heading"')[1].split("</dl>")[0]
    terms = re.findall(r"<dt><a [^>]*>([^<]+)</a>", section)
    assert terms[:4] == ["label", "also known as", "type", "description"]
    assert terms.index("holds stance") < terms.index("org:holds")


def test_labels_not_iris_when_a_label_exists(client: FlaskClient) -> None:
    html = page(client, "/id/daniel-noboa.html")
    assert ">https://w3id.org/kgpub/id/noboa-administration<" not in html
    assert '<a href="/id/noboa-administration.html">Noboa administration</a>' in html


def test_facts_cite_their_sentences_and_inferred_ones_are_marked(client: FlaskClient) -> None:
    html = page(client, "/id/daniel-noboa.html")
    holds = html.split(">org:holds</a>")[1].split("</dd>")[0]
    assert "<q>President Daniel Noboa</q>" in holds
    assert 'href="/article/ecuador-security-crisis.html#p2s3"' in holds
    assert 'href="/fact/ecuador-security-crisis/noboa-president.html"' in holds
    stance = html.split(">holds stance</a>")[1].split("</dd>")[0]
    assert "inferred" in stance and "<q>" not in stance


def test_external_links_are_shown(client: FlaskClient) -> None:
    html = page(client, "/id/daniel-noboa.html")
    elsewhere = html.split('id="external-heading"')[1].split("</section>")[0]
    assert 'href="http://www.wikidata.org/entity/Q112075625"' in elsewhere


def test_schema_org_json_ld_in_the_head(client: FlaskClient) -> None:
    html = page(client, "/id/daniel-noboa.html")
    head = html.split("</head>")[0]
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', head, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    assert data["@type"] == "Person" and data["name"] == "Daniel Noboa"
    assert data["@id"] == str(NOBOA)
    assert "http://www.wikidata.org/entity/Q112075625" in data["sameAs"]


def test_incoming_links_are_counted_per_property(client: FlaskClient) -> None:
    html = page(client, "/id/daniel-noboa.html")
    incoming = html.split('id="incoming"')[1].split("</section>")[0]
    assert "(6)" in incoming
    assert re.search(r">led by</a> <span class=\"count\">\(1\)</span>", incoming)


def test_segment_pages_link_to_their_place_in_the_article(client: FlaskClient) -> None:
    html = page(client, "/article/ecuador-security-crisis/p3s1.html")
    assert 'href="/article/ecuador-security-crisis.html#p3s1"' in html
    html = page(client, "/article/ecuador-security-crisis/char/1016-1028.html")
    assert '<a href="/id/daniel-noboa.html">Daniel Noboa</a>' in html


def test_pages_with_the_response_cache(built_app: Flask) -> None:
    from kgpub.server import create_app

    from kgpub.settings import Settings

    settings = built_app.extensions["kgpub"].settings
    app = create_app(Settings(), test_config={"root": settings.root, "store": settings.store})
    try:
        client = app.test_client()
        first = client.get("/id/ecuador.html")
        second = client.get("/id/ecuador.html")
        assert first.get_data() == second.get_data()
        assert first.headers["ETag"] == second.headers["ETag"]
        assert app.extensions["kgpub"].cache.hits >= 1
        fresh = client.get("/id/ecuador.html", headers={"If-None-Match": first.headers["ETag"]})
        assert fresh.status_code == 304
    finally:
        app.extensions["kgpub"].store.close()


# --- the tiny store: escaping, non-ASCII IRIs, paging


def test_literals_are_escaped_everywhere(tiny: FlaskClient) -> None:
    html = page(tiny, "/id/evil.html")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp;" in html
    assert "&lt;i&gt;quoted&lt;/i&gt;" in html
    # the JSON-LD block holds the label but cannot be closed by it
    assert html.count("</script>") == 1
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert block is not None
    assert json.loads(block.group(1))["name"] == "Evil </script><script>alert(1)</script>"


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/id/café.html", "Café with an é"),
        ("/id/caf%C3%A9.html", "Café with an é"),
        ("/id/caf%25C3%25A9.html", "Café spelt with %C3%A9"),
        ("/id/na%C3%AFve.html", "Naïve, only percent-encoded"),
        ("/id/naïve.html", "Naïve, only percent-encoded"),
    ],
)
def test_non_ascii_and_percent_encoded_iris(tiny: FlaskClient, path: str, label: str) -> None:
    html = page(tiny, path)
    assert f">{label}</h1>" in html


def test_non_ascii_links_reach_their_own_resource(tiny: FlaskClient) -> None:
    html = page(tiny, "/id/evil.html")
    hrefs = set(re.findall(r'href="(/id/caf[^"]*)"', html))
    assert hrefs == {"/id/caf%C3%A9.html", "/id/caf%25C3%25A9.html"}
    labels = {href: re.search(r">([^<]+)</h1>", page(tiny, href)).group(1) for href in hrefs}
    assert labels == {
        "/id/caf%C3%A9.html": "Café with an é",
        "/id/caf%25C3%25A9.html": "Café spelt with %C3%A9",
    }
    location = tiny.get("/id/caf%25C3%25A9", headers={"Accept": "text/turtle"}).headers["Location"]
    assert location == "/id/caf%25C3%25A9.ttl"
    graph = rdflib.Graph().parse(data=tiny.get(location).get_data(), format="turtle")
    assert (URIRef(BASE + "id/caf%C3%A9"), RDFS.label, None) in graph
    graph = rdflib.Graph().parse(data=tiny.get("/id/naïve.ttl").get_data(), format="turtle")
    assert (URIRef(BASE + "id/na%C3%AFve"), RDFS.label, None) in graph


def test_incoming_links_are_paged_with_counts(tiny: FlaskClient) -> None:
    first = page(tiny, "/id/hub.html")
    assert 'Links to this resource <span class="count">(120)</span>' in first
    assert re.search(r">kgo:about</a> <span class=\"count\">\(60\)</span>", first)
    assert re.search(r">kgo:mentions</a> <span class=\"count\">\(60\)</span>", first)
    assert 'rel="next" href="?incoming-page=2#incoming"' in first
    seen: list[str] = []
    for number in (1, 2, 3):
        html = page(tiny, f"/id/hub.html?incoming-page={number}")
        found = re.findall(r'href="/id/(hub-s\d+)\.html"', html)
        assert len(found) == (50 if number < 3 else 20)
        seen += found
    assert len(set(seen)) == 120
    assert tiny.get("/id/hub.html?incoming-page=4").status_code == 404
    for bad in ("0", "x", "-1", "1.5"):
        assert tiny.get(f"/id/hub.html?incoming-page={bad}").status_code == 400


def test_rdf_documents_link_to_the_next_page_of_incoming_triples(tiny: FlaskClient) -> None:
    hub = URIRef(BASE + "id/bighub")

    def linking(graph: rdflib.Graph) -> set[rdflib.term.Node]:
        return {s for p in (KGO.about, KGO.mentions) for s in graph.subjects(p, hub)}

    graph = rdflib.Graph().parse(data=tiny.get("/id/bighub.ttl").get_data(), format="turtle")
    assert len(linking(graph)) == 1000
    document = URIRef(BASE + "id/bighub.ttl")
    assert (document, HYDRA.next, URIRef(BASE + "id/bighub.ttl?incoming-page=2")) in graph
    second = tiny.get("/id/bighub.ttl?incoming-page=2").get_data()
    rest = rdflib.Graph().parse(data=second, format="turtle")
    assert len(linking(rest)) == 100
    assert not linking(rest) & linking(graph)
    assert (None, HYDRA.next, None) not in rest


def test_every_route_and_suffix_is_documented(built_app: Flask) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "linked-data.md").read_text(encoding="utf-8")
    for rule in built_app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("resources", "article"):
            family = rule.rule.split("<")[0].rstrip("./")
            assert f"`{family}" in doc, rule.rule
    for suffix in (*SUFFIX_FORMATS, ".html"):
        assert f"| `{suffix}` |" in doc, suffix


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(min_size=1, max_size=40),
    suffix=st.sampled_from(["", ".html", ".ttl", ".jsonld", ".nq", ".x"]),
    family=st.sampled_from(["id", "article", "fact", "graph", "dataset"]),
)
def test_no_path_is_a_server_error(
    client: FlaskClient, name: str, suffix: str, family: str
) -> None:
    path = f"/{family}/{quote(name, safe='/%')}{suffix}"
    for accept in ("text/html", "text/turtle"):
        response = client.get(path, headers={"Accept": accept})
        assert response.status_code < 500, (path, response.text)
