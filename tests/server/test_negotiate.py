"""The one content negotiation: a table of Accept headers and what each gets."""

from __future__ import annotations

import pytest
from kgpub.server.formats import (
    FORMATS,
    GRAPH_FORMATS,
    HTML,
    RESULT_FORMATS,
    by_name,
    negotiate,
    parse_accept,
    pick,
)

RESULTS_AND_HTML = (*RESULT_FORMATS, HTML)
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "offered", "expected"),
    [
        # no preference: the default, first offered
        (None, RESULT_FORMATS, "json"),
        ("", RESULT_FORMATS, "json"),
        ("   ", GRAPH_FORMATS, "turtle"),
        ("*/*", RESULT_FORMATS, "json"),
        ("*/*", GRAPH_FORMATS, "turtle"),
        ("garbage", GRAPH_FORMATS, "turtle"),
        # exact types
        ("application/sparql-results+xml", RESULT_FORMATS, "xml"),
        ("text/csv", RESULT_FORMATS, "csv"),
        ("text/tab-separated-values", RESULT_FORMATS, "tsv"),
        ("application/n-triples", GRAPH_FORMATS, "ntriples"),
        ("application/rdf+xml", GRAPH_FORMATS, "rdfxml"),
        ("application/n-quads", GRAPH_FORMATS, "nquads"),
        ("application/trig", GRAPH_FORMATS, "trig"),
        # aliases
        ("application/json", RESULT_FORMATS, "json"),
        ("application/json", GRAPH_FORMATS, "jsonld"),
        ("application/xml", GRAPH_FORMATS, "rdfxml"),
        ("application/x-turtle", GRAPH_FORMATS, "turtle"),
        ("text/plain", GRAPH_FORMATS, "ntriples"),  # N-Triples' media type before RDF 1.1
        # q-values
        ("text/turtle;q=0.5, application/ld+json", GRAPH_FORMATS, "jsonld"),
        ("text/csv;q=0.9, text/tab-separated-values", RESULT_FORMATS, "tsv"),
        ("text/csv;q=0.1, */*;q=0.5", RESULT_FORMATS, "json"),
        ("text/csv; q=1.0, application/sparql-results+json; q=0.4", RESULT_FORMATS, "csv"),
        # q=0 excludes, even when a wildcard would allow it
        ("application/sparql-results+json;q=0, */*", RESULT_FORMATS, "xml"),
        ("text/turtle;q=0, */*;q=0.1", GRAPH_FORMATS, "ntriples"),
        # exact beats type/* beats */* at the same weight
        ("text/*, text/tab-separated-values", RESULT_FORMATS, "tsv"),
        ("*/*, application/trig", GRAPH_FORMATS, "trig"),
        # a type/* range takes a format by the media type its answer is labelled with, never by
        # an alias: SPARQL XML's text/xml, Turtle's application/x-turtle
        ("text/*", RESULT_FORMATS, "csv"),
        ("application/*", GRAPH_FORMATS, "ntriples"),
        ("text/*", GRAPH_FORMATS, "turtle"),
        ("text/csv;q=0.9, text/*", RESULT_FORMATS, "tsv"),
        ("application/*;q=0.5, text/csv;q=0.4", RESULT_FORMATS, "json"),
        # media-type parameters other than q still match
        (
            'application/ld+json;profile="http://www.w3.org/ns/json-ld#expanded"',
            GRAPH_FORMATS,
            "jsonld",
        ),
        ("text/turtle; charset=utf-8", GRAPH_FORMATS, "turtle"),
        # case does not matter
        ("Text/Turtle", GRAPH_FORMATS, "turtle"),
        # a browser prefers the page; curl's */* does not
        (BROWSER, RESULTS_AND_HTML, "html"),
        ("*/*", RESULTS_AND_HTML, "json"),
        ("text/html;q=0.5, application/sparql-results+json", RESULTS_AND_HTML, "json"),
        # SPARQLWrapper's headers
        (
            "application/sparql-results+json,application/json,text/javascript,application/javascript",
            RESULT_FORMATS,
            "json",
        ),
        ("application/turtle,text/turtle", GRAPH_FORMATS, "turtle"),
    ],
)
def test_negotiate(accept: str | None, offered: tuple, expected: str) -> None:
    chosen = negotiate(accept, offered)
    assert chosen is not None
    assert chosen.name == expected


@pytest.mark.parametrize(
    ("accept", "offered"),
    [
        ("image/png", RESULT_FORMATS),
        ("text/turtle", RESULT_FORMATS),
        ("application/sparql-results+json", GRAPH_FORMATS),
        ("*/*;q=0", GRAPH_FORMATS),
        ("text/html", RESULT_FORMATS),
        # type/* ranges never match by an alias
        ("text/*", (FORMATS["json"], FORMATS["xml"])),
        ("application/*", (HTML,)),
    ],
)
def test_negotiate_none(accept: str, offered: tuple) -> None:
    assert negotiate(accept, offered) is None


def test_parse_accept_skips_malformed_entries() -> None:
    ranges = parse_accept("text/turtle;q=abc, bad, */plain, application/json;q=2")
    assert [(r.type, r.subtype, r.q) for r in ranges] == [
        ("text", "turtle", 0.0),
        ("application", "json", 1.0),
    ]


@pytest.mark.parametrize(
    ("value", "offered", "expected"),
    [
        ("json", RESULT_FORMATS, "json"),
        ("JSON", RESULT_FORMATS, "json"),
        ("json", GRAPH_FORMATS, "jsonld"),
        ("xml", RESULT_FORMATS, "xml"),
        ("xml", GRAPH_FORMATS, "rdfxml"),
        ("ttl", GRAPH_FORMATS, "turtle"),
        ("turtle", GRAPH_FORMATS, "turtle"),
        ("nt", GRAPH_FORMATS, "ntriples"),
        ("jsonld", GRAPH_FORMATS, "jsonld"),
        ("rdf", GRAPH_FORMATS, "rdfxml"),
        ("rdfxml", GRAPH_FORMATS, "rdfxml"),
        ("nq", GRAPH_FORMATS, "nquads"),
        ("trig", GRAPH_FORMATS, "trig"),
        ("text/csv", RESULT_FORMATS, "csv"),
        ("application/sparql-results+json; charset=utf-8", RESULT_FORMATS, "json"),
        # a '+' left unencoded in a URL arrives as a space
        ("application/sparql-results xml", RESULT_FORMATS, "xml"),
        ("application/ld json", GRAPH_FORMATS, "jsonld"),
    ],
)
def test_format_names(value: str, offered: tuple, expected: str) -> None:
    chosen = by_name(value, offered)
    assert chosen is not None and chosen.name == expected


def test_pick_takes_the_first_known_value() -> None:
    assert pick(["", "text/tab-separated-values", "tsv"], RESULT_FORMATS).name == "tsv"
    assert pick(["nonsense", "csv"], RESULT_FORMATS).name == "csv"
    assert pick(["ttl"], RESULT_FORMATS) is None


def test_table_is_consistent() -> None:
    """Every format has one media type, suffix and serializer of its own."""
    data = [f for f in FORMATS.values() if f is not HTML]
    assert len({f.media_type for f in FORMATS.values()}) == len(FORMATS)
    assert len({f.suffix for f in FORMATS.values()}) == len(FORMATS)
    assert all(f.oxigraph is not None and f.w3c for f in data)
