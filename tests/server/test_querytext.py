"""The lexical facts the endpoint needs before a query runs: SERVICE, FROM, updates."""

from __future__ import annotations

import pytest
from kgpub.server.querytext import error_position, scan


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }",
        "select * { service silent <http://x/> { ?s ?p ?o } }",
        "SELECT * { ?s ?p ?o .SERVICE <http://x/> { } }",
        "SELECT * { ?s ?p ?o }SERVICE<http://x/>{}",
        "SELECT * { SERVICE ?endpoint { ?s ?p ?o } }",
        "SELECT * { \\u0053ERVICE <http://x/> { ?s ?p ?o } }",
        "SELECT * { SERVIC\\U00000045 <http://x/> { ?s ?p ?o } }",
        "SELECT * {\n# a comment\nSERVICE <http://x/> {}\n}",
        'SELECT * { ?s ?p "a \\" quote" . SERVICE <http://x/> {} }',
        # an escaped character of a prefixed name opens no comment and no string
        "SELECT * { BIND(ex:a\\#b AS ?z) SERVICE SILENT <http://x/> { ?s ?p ?o } }",
        "SELECT * { BIND(ex:a\\'b AS ?z) SERVICE <http://x/> { ?s ?p ?o } }",
        'SELECT * { ?s ex:p\\"x ?o . SERVICE <http://x/> {} }',
        # Oxigraph decodes codepoint escapes inside strings only, where they end nothing
        'SELECT * { BIND("a\\u0022 #" AS ?x) SERVICE <http://x/> {} }',
        'SELECT * { BIND("\\u005C" AS ?x) SERVICE <http://x/> {} BIND("" AS ?y) }',
        'SELECT * { # \\u000A """\nSERVICE <http://x/> {}\n# """\n}',
        # keywords need no space around them
        "SELECT * { ?s ?p 1SERVICE <http://x/> {} }",
        "SELECT * { ?s ?p trueSERVICE <http://x/> {} }",
        "SELECT * { ?s ?p 1.5SERVICE <http://x/> {} }",
        "SELECT * { SERVICESILENT<http://x/> {} }",
        "PREFIX : <http://x/> SELECT * { SERVICE:x {} }",
        "PREFIX : <http://x/> SELECT * { SERVICE:{} }",
        "PREFIX ex: <http://x/> SELECT * { SERVICEex:x {} }",
        # a comparison is no IRI, though it reads like one up to a '>' in a comment
        "PREFIX : <http://x/> SELECT * { FILTER(1<2)SERVICE:x#>\n{} }",
        "SELECT * { BIND(<http://x/> AS ?v) FILTER(1<2)SERVICE?v#>\n{} }",
    ],
)
def test_service_is_found(query: str) -> None:
    assert scan(query).uses_service


@pytest.mark.parametrize(
    "query",
    [
        "SELECT ?service WHERE { ?service ?p ?o }",
        "SELECT * WHERE { ?s ?p $service }",
        'SELECT * WHERE { ?s ?p "SERVICE <http://x/> {}" }',
        "SELECT * WHERE { ?s ?p '''multi\nline SERVICE''' }",
        "SELECT * WHERE { ?s ?p ?o } # SERVICE <http://x/>",
        "SELECT * WHERE { ?s <http://x/SERVICE> ?o }",
        "PREFIX ex: <http://x/> SELECT * WHERE { ?s ex:service ?o }",
        "PREFIX service: <http://x/> SELECT * WHERE { ?s service:p ?o }",
        "SELECT * WHERE { _:service ?p ?o }",
        'SELECT * WHERE { ?s ?p "x"@service }',
        "SELECT * WHERE { ?s ex:a\\.service ?o }",
        "SELECT * WHERE { ?s <https://schema.org/serviceType> ?o FILTER(?o < 3) }",
        "SELECT * WHERE { ?s ?p ?o FILTER(?o = <http://x/service/a>) }",
    ],
)
def test_service_is_not_imagined(query: str) -> None:
    assert not scan(query).uses_service


@pytest.mark.parametrize(
    ("query", "names_dataset"),
    [
        ("SELECT * FROM <http://g/> { ?s ?p ?o }", True),
        ("SELECT * FROM NAMED <http://g/> { GRAPH ?g { ?s ?p ?o } }", True),
        ("construct { ?s ?p ?o } from <g> where { ?s ?p ?o }", True),
        ("SELECT * { ?s ?p ?o }", False),
        ("SELECT ?from { ?from ?p 'FROM' } # FROM <x>", False),
        ("PREFIX from: <http://x/> SELECT * { ?s from:p ?o }", False),
        ("SELECT (ex:a\\#b AS ?z) FROM ex:g WHERE { ?s ?p ?o }", True),
        ('SELECT * WHERE { ?s ?p ?o FILTER(?o != "x"@from) }', False),
        ('SELECT ?o ("\\u0022 #" AS ?z) FROM <http://g/> { ?s ?p ?o }', True),
        ('SELECT ?o # \\u000A """\nFROM <http://g/>\n# """\n{ ?s ?p ?o }', True),
        ('ASKFROM<http://g/>{ ?s ?p "in-g" }', True),
        ("PREFIX : <http://g/> SELECT ?o FROM:{ ?s ?p ?o }", True),
        ("SELECT ?o FROMNAMED<http://g/> { ?s ?p ?o }", True),
        ("PREFIX from: <http://x/> SELECT (from:f(?o) AS ?x) { ?s ?p ?o }", False),
    ],
)
def test_dataset_clauses(query: str, names_dataset: bool) -> None:
    assert scan(query).names_dataset is names_dataset


@pytest.mark.parametrize(
    ("query", "update"),
    [
        ("INSERT DATA { <a> <b> <c> }", True),
        ("PREFIX ex: <http://x/>\nDELETE WHERE { ?s ex:p ?o }", True),
        ("BASE <http://x/> LOAD <http://127.0.0.1:9/data.ttl>", True),
        ("# comment\nclear all", True),
        ("DROP GRAPH <g>", True),
        ("WITH <g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }", True),
        ("SELECT * { ?s ?p ?o }", False),
        ("PREFIX insert: <http://x/> SELECT * { ?s insert:p ?o }", False),
        ("ASK { }", False),
        ('VERSION "1.2" INSERT DATA { <a> <b> <c> }', True),
        ("PREFIX ex: <http://x/> VERSION '1.2' CLEAR ALL", True),
        ('VERSION "1.2" SELECT * { ?s ?p ?o }', False),
    ],
)
def test_updates(query: str, update: bool) -> None:
    assert scan(query).looks_like_update is update


def test_error_position() -> None:
    assert error_position("error at 3:17: expected one of ABS, AVG") == (3, 17)
    assert error_position("something else") is None


@pytest.mark.parametrize(
    ("query", "limit"),
    [
        ("SELECT * { ?s ?p ?o } LIMIT 10", 10),
        ("SELECT * { ?s ?p ?o } limit 10 OFFSET 5", 10),
        ("SELECT * { ?s ?p ?o } OFFSET 5 LIMIT 7", 7),
        ("SELECT * { { SELECT * { ?s ?p ?o } LIMIT 5 } }", None),
        ("SELECT * { { SELECT * { ?s ?p ?o } LIMIT 5 } } LIMIT 50", 50),
        ("SELECT * { ?s ?p 'LIMIT 3' } # LIMIT 4", None),
        ("SELECT * { ?s ?p ?o } LIMIT 3 VALUES ?s { <a> }", 3),
        ("SELECT ?limit { ?limit ?p ?o }", None),
    ],
)
def test_outer_limit(query: str, limit: int | None) -> None:
    assert scan(query).limit == limit


@pytest.mark.parametrize(
    ("query", "varies"),
    [
        ("SELECT * { ?s ?p ?o FILTER(NOW() > '2030-01-01T00:00:00Z'^^<x:dateTime>) }", True),
        ("SELECT * { BIND(rand() AS ?r) FILTER(?r < 0.01) ?s ?p ?o }", True),
        ("SELECT (UUID() AS ?u) (STRUUID() AS ?v) {}", True),
        ("SELECT * { BIND(\\u004EOW #c\n () AS ?t) }", True),
        ("SELECT ?now ?rand WHERE { ?now <http://x/rand> ?rand }", False),
        ("PREFIX ex: <http://x/> SELECT * { ?s ex:now ex:uuid }", False),
        ("SELECT * { ?s ?p 'NOW()' } # RAND()", False),
    ],
)
def test_functions_whose_value_changes_between_runs(query: str, varies: bool) -> None:
    assert scan(query).varies is varies


@pytest.mark.parametrize(
    ("query", "relative"),
    [
        ("SELECT * { <id/x> ?p ?o }", True),
        ("ASK { <> ?p ?o }", True),
        ("ASK { <#frag> ?p ?o }", True),
        ("ASK { \\u003Cid/x> ?p ?o }", True),  # an escaped '<' is still an IRI
        ("BASE <http://example.org/> SELECT * { <test> ?p ?o }", True),
        ("SELECT * { <http://example.org/x> ?p <urn:isbn:1> }", False),
        ('SELECT * { ?s ?p "<id/x>" } # <id/y>', False),
        ("PREFIX ex: <http://example.org/> SELECT * { ex:a ?p ?o }", False),
    ],
)
def test_relative_iris(query: str, relative: bool) -> None:
    assert scan(query).relative_iri is relative


def test_nesting_behind_an_escaped_character_is_counted() -> None:
    query = "SELECT * WHERE { BIND(ex:a\\#b AS ?z) " + "{" * 500 + "}" * 500 + " }"
    assert scan(query).too_complex is not None


@pytest.mark.parametrize(
    "query",
    [
        # nesting behind what the plain reading takes for a string or an IRI
        'SELECT * { BIND("\\u0022\\u0022" AS ?z)\n' + "{" * 500 + "}" * 500 + '\n# """\n}',
        "SELECT * { FILTER(1<" + "(" * 500 + "1" + ")" * 500 + "&&2>0) }",
        "SELECT * { FILTER(1<" + "!" * 3000 + "1&&2>0) }",
        # long lists and chains of triples deepen Oxigraph's parse too
        "SELECT * { ?s ?p " + ",".join(["1"] * 3000) + " }",
        "SELECT * { ?s ?p 1" + "; ?p 1" * 3000 + " }",
        "SELECT * { " + " . ".join(["?s ?p ?o"] * 3000) + " }",
    ],
)
def test_too_complex_is_seen_through_every_reading(query: str) -> None:
    assert scan(query).too_complex is not None


@pytest.mark.parametrize(
    "query",
    [
        # a comparison after any operand: an IRI, a prefixed name ending in ':' or an escape,
        # a comment or a long run of spaces before the '<'
        "PREFIX : <http://x/> SELECT * { FILTER(<http://a/><2)SERVICE:#>\n{} }",
        "PREFIX : <http://x/> SELECT * { FILTER(:<2)SERVICE:#>\n{} }",
        "PREFIX : <http://x/> SELECT * { FILTER(:a\\~<2)SERVICE:#>\n{} }",
        "PREFIX : <http://x/> SELECT * { FILTER(1#+\n<2)SERVICE:#>\n{} }",
        "PREFIX : <http://x/> SELECT * { FILTER(1" + " " * 70 + "<2)SERVICE:#>\n{} }",
        'PREFIX : <http://x/> SELECT * { FILTER("a"<2)SERVICE:#>\n{} }',
        # a local name ends at a '.', or never starts
        "PREFIX ex: <http://s/> SELECT * { 1 ^<http://p/> ex:.SERVICE<http://x/>{} }",
        "PREFIX : <http://x/> PREFIX e: <http://y/> SELECT * { 1 ^<http://p/> e:a.b.SERVICE :{} }",
        # the endpoint's local name with a dot, glued to the keyword
        "PREFIX : <http://x/> SELECT * { SERVICE:x.y{} }",
        "PREFIX a: <http://x/> SELECT * { SERVICEa:x.y {} }",
        # a prefix with characters Python's \\w does not take: SPARQL's names do
        "PREFIX a\u00b7b: <http://x/> SELECT * { FILTER(1<2)SERVICEa\u00b7b:#>\n{} }",
        "PREFIX a\u0300: <http://x/> SELECT * { FILTER(1<2)SERVICEa\u0300:#>\n{} }",
    ],
)
def test_service_behind_a_comparison_or_a_dot_is_found(query: str) -> None:
    assert scan(query).uses_service


@pytest.mark.parametrize(
    "query",
    [
        "PREFIX : <http://g/> SELECT ?o (1<2AS?x)FROM:#>\n{ ?s ?p ?o }",
        "PREFIX : <http://g/> SELECT ?o (<http://a/><2AS?x)FROM:#>\n{ ?s ?p ?o }",
        "PREFIX a\u00b7b: <http://g/> SELECT ?o (1<2AS?x)FROMa\u00b7b:#>\n{ ?s ?p ?o }",
    ],
)
def test_from_behind_a_comparison_is_found(query: str) -> None:
    assert scan(query).names_dataset


@pytest.mark.parametrize(
    "query",
    [
        "SELECT*{?s ?p " + "<<?s ?p " * 300 + "?o" + ">>" * 300 + "}",
        "PREFIX ex: <http://x/> SELECT * { FILTER(ex:<" + "(" * 500 + "1" + ")" * 500 + ")#>\n}",
        "SELECT * { FILTER(1#+\n<" + "!" * 3000 + "true)#>\n}",
        "SELECT * { FILTER(1 = " + "/".join(["1"] * 2500) + ") }",
        # each VALUES block is one more join
        "SELECT * { " + "VALUES ?x {} " * 2000 + "}",
    ],
)
def test_depth_behind_reified_triples_and_comparisons_is_counted(query: str) -> None:
    assert scan(query).too_complex is not None


@pytest.mark.parametrize(
    "query",
    [
        "PREFIX service: <http://x/> SELECT * { GRAPH service:registry { ?s ?p ?o } }",
        "SELECT * { ?s ?p ?o FILTER(?p = <https://schema.org/serviceType>) }",
        "SELECT * { ?s ?p ?o FILTER(?o = <http://x/from/y>) }",
        "SELECT ?fromDate { ?s ?p ?fromDate FILTER(?fromDate < '2020') }",
        "PREFIX ex: <http://x/> SELECT * { ?s ex:api.v1 ?o }",
        "SELECT * { <<?s ?p ?o>> ?q ?z }",
        # a long IN list is one level deep, however long
        "SELECT * { ?s ?p ?o FILTER(?s IN ("
        + ", ".join(f"<http://x/a/b/c{i}>" for i in range(5000))
        + ")) }",
    ],
)
def test_ordinary_queries_pass(query: str) -> None:
    facts = scan(query)
    assert not facts.uses_service and not facts.names_dataset and facts.too_complex is None


@pytest.mark.parametrize(
    "query",
    [
        # each item of a collection is two more triples, each '~' one more reifier
        "SELECT * { VALUES ?s {} ?s ?p (" + " 1" * 1100 + ") }",
        "SELECT * { VALUES ?s {} ?s ?p (" + " _:b" * 1100 + ") }",
        "ASK { FILTER(false) ?s ?p ?o " + "~" * 2100 + " }",
        "DESCRIBE " + "<s:>" * 1100,
    ],
)
def test_collections_reifiers_and_describe_lists_count(query: str) -> None:
    assert scan(query).too_complex is not None


def test_a_describe_list_past_the_request_threads_bound_is_not_shallow() -> None:
    facts = scan("DESCRIBE " + "<s:>" * 700)
    assert facts.too_complex is None and facts.operators > 200
