"""The SPARQL 1.1 Protocol's three ways to send a query, and every malformed request a 4xx."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

ASK = "ASK { ?s ?p ?o }"
FORM = "application/x-www-form-urlencoded"


def solutions(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.data)["results"]["bindings"]


def assert_readable_error(response, status: int, *words: str) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == "text/plain"
    assert "Traceback" not in text and "<" not in text.split("\n")[0]
    for word in words:
        assert word.lower() in text.lower(), text


def test_get(client: FlaskClient) -> None:
    response = client.get("/sparql", query_string={"query": ASK})
    assert response.status_code == 200
    assert response.mimetype == "application/sparql-results+json"
    assert json.loads(response.data) == {"head": {}, "boolean": True}


def test_post_form(client: FlaskClient) -> None:
    response = client.post("/sparql", data={"query": ASK})
    assert json.loads(response.data)["boolean"] is True


def test_post_query_body(client: FlaskClient) -> None:
    response = client.post(
        "/sparql", data=ASK.encode(), content_type="application/sparql-query; charset=utf-8"
    )
    assert json.loads(response.data)["boolean"] is True


def test_post_query_body_with_dataset_in_url(client: FlaskClient) -> None:
    response = client.post(
        "/sparql?default-graph-uri=https://w3id.org/kgpub/graph/ontology",
        data="SELECT (COUNT(*) AS ?n) { ?s ?p ?o }",
        content_type="application/sparql-query",
    )
    assert solutions(response)[0]["n"]["value"] == "10"


@pytest.mark.parametrize("form", [{}, {"foo": "bar"}, {"default-graph-uri": "urn:x:g"}])
def test_post_form_without_query(client: FlaskClient, form: dict) -> None:
    """Not the service description, which answers a GET: a protocol request missing its query."""
    response = client.post("/sparql", data=form, content_type=FORM)
    assert_readable_error(response, 400, "no query", "query", "GET /sparql")


def test_utf8_query(client: FlaskClient) -> None:
    query = 'ASK { ?s ?p "estado de excepción"@es }'
    assert json.loads(client.get("/sparql", query_string={"query": query}).data)["boolean"]
    response = client.post("/sparql", data=query.encode(), content_type="application/sparql-query")
    assert json.loads(response.data)["boolean"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "FOO"])
def test_other_methods(client: FlaskClient, method: str) -> None:
    response = client.open("/sparql", method=method, query_string={"query": ASK})
    assert_readable_error(response, 405, method)
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed


def test_post_without_content_type(client: FlaskClient) -> None:
    response = client.post("/sparql", data=ASK.encode(), content_type="")
    assert_readable_error(response, 415, "Content-Type")


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "multipart/form-data"])
def test_post_wrong_content_type(client: FlaskClient, content_type: str) -> None:
    response = client.post("/sparql", data=ASK.encode(), content_type=content_type)
    assert_readable_error(response, 415, content_type.split(";")[0])


@pytest.mark.parametrize(
    "content_type",
    ["application/sparql-query; charset=ISO-8859-1", f"{FORM}; charset=utf-16"],
)
def test_other_charsets(client: FlaskClient, content_type: str) -> None:
    response = client.post("/sparql", data=b"query=ASK%7B%7D", content_type=content_type)
    assert_readable_error(response, 415, "charset", "UTF-8")


def test_body_not_utf8(client: FlaskClient) -> None:
    response = client.post(
        "/sparql",
        data='ASK { ?s ?p "é" }'.encode("latin-1"),
        content_type="application/sparql-query",
    )
    assert_readable_error(response, 400, "UTF-8")


def test_raw_utf8_in_the_url(client: FlaskClient) -> None:
    # the WSGI string of a URL holds its bytes as Latin-1: raw UTF-8 is read as the UTF-8 it is
    raw = 'query=ASK { ?s ?p "estado de excepción"@es }'.encode().decode("latin-1")
    response = client.get("/sparql", environ_overrides={"QUERY_STRING": raw})
    assert json.loads(response.data)["boolean"] is True
    raw = 'query=ASK { ?s ?p "é" }'.encode("latin-1").decode("latin-1")  # raw, but not UTF-8
    response = client.get("/sparql", environ_overrides={"QUERY_STRING": raw})
    assert_readable_error(response, 400, "URL is not valid UTF-8")


def test_url_not_utf8(client: FlaskClient) -> None:
    response = client.get("/sparql?query=ASK%20%7B%20%3Fs%20%3Fp%20%22%E9%22%20%7D")
    assert_readable_error(response, 400, "UTF-8")


@pytest.mark.parametrize("query", ["", "  \n "])
def test_an_empty_query(client: FlaskClient, query: str) -> None:
    response = client.get("/sparql", query_string={"query": query})
    assert_readable_error(response, 400, "empty")
    response = client.post("/sparql", data=query, content_type="application/sparql-query")
    assert_readable_error(response, 400, "empty")


def test_a_format_typed_into_the_address_bar(client: FlaskClient) -> None:
    # "+" unencoded in a URL is a space once decoded: still the media type meant
    response = client.get("/sparql?query=ASK%7B%7D&format=application/sparql-results+xml")
    assert response.status_code == 200
    assert response.mimetype == "application/sparql-results+xml"
    assert b"<boolean>true</boolean>" in response.data


def test_a_format_name_nothing_has(client: FlaskClient) -> None:
    response = client.get("/sparql", query_string={"query": "ASK {}", "format": "jsonn"})
    assert_readable_error(response, 400, "'jsonn' names no format")
    assert "json, xml, csv, tsv, ttl" in response.get_data(as_text=True)
    # a format that exists but cannot carry this kind of answer is a matter of negotiation
    construct = "CONSTRUCT WHERE { ?s ?p ?o }"
    response = client.get("/sparql", query_string={"query": construct, "format": "csv"})
    assert_readable_error(response, 406, "text/turtle")


def test_two_queries_in_url(client: FlaskClient) -> None:
    response = client.get("/sparql?query=ASK%7B%7D&query=ASK%7B%7D")
    assert_readable_error(response, 400, "more than one query")


def test_query_in_url_and_body(client: FlaskClient) -> None:
    response = client.post("/sparql?query=ASK%7B%7D", data={"query": ASK})
    assert_readable_error(response, 400, "more than one query")
    response = client.post(
        "/sparql?query=ASK%7B%7D", data=ASK, content_type="application/sparql-query"
    )
    assert_readable_error(response, 400, "more than one query")


@pytest.mark.parametrize(
    "request_args",
    [
        {"query_string": [("query", ASK), ("version", "1.2")]},
        {"method": "POST", "data": {"query": ASK, "version": "1.1"}},
        {"method": "POST", "data": ASK, "content_type": "application/sparql-query; version=1.2"},
    ],
)
def test_a_version_announced(client: FlaskClient, request_args: dict) -> None:
    response = client.open("/sparql", **request_args)
    assert json.loads(response.data)["boolean"] is True


@pytest.mark.parametrize(
    ("request_args", "words"),
    [
        ({"query_string": "query=ASK%7B%7D&version=1.1&version=1.2"}, ("more than one version",)),
        (
            {
                "method": "POST",
                "data": "query=ASK%7B%7D&version=1.1&version=1.2",
                "content_type": FORM,
            },
            ("more than one version",),
        ),
        (
            {
                "query_string": "query=ASK%7B%7D&version=1.2",
                "method": "POST",
                "data": {"version": "1.2"},
            },
            ("more than one version",),
        ),
        ({"query_string": {"query": ASK, "version": "9.9"}}, ("'9.9'", "1.2")),
        (
            {
                "method": "POST",
                "data": ASK,
                "content_type": "application/sparql-query; version=2.0",
            },
            ("'2.0'",),
        ),
    ],
)
def test_versions_refused(client: FlaskClient, request_args: dict, words: tuple) -> None:
    response = client.open("/sparql", **request_args)
    assert_readable_error(response, 400, *words)


def test_get_with_a_body_is_refused(client: FlaskClient) -> None:
    # answered once with no body, so the refusal cannot come from the cache either
    assert client.get("/sparql", query_string={"query": ASK}).status_code == 200
    response = client.open(
        "/sparql",
        method="GET",
        query_string={"query": ASK},
        data=b"ASK {}",
        content_type="text/plain",
    )
    assert_readable_error(response, 400, "GET", "POST")
    response = client.open(
        "/sparql", method="GET", query_string={"query": ASK}, data=b"", content_type="text/plain"
    )
    assert response.status_code == 200


def test_relative_iris_resolve_against_the_published_base(client: FlaskClient) -> None:
    query = "SELECT ?x ?n WHERE { BIND(<id/ecuador> AS ?x) OPTIONAL { ?x ?p ?n } } LIMIT 1"
    row = solutions(client.get("/sparql", query_string={"query": query}))[0]
    assert row["x"]["value"] == "https://w3id.org/kgpub/id/ecuador"
    assert "n" in row  # the resource the relative IRI names is the one in the data
    query = "BASE <http://example.org/> SELECT ?x WHERE { BIND(<test> AS ?x) }"
    row = solutions(client.post("/sparql", data={"query": query}))[0]
    assert row["x"]["value"] == "http://example.org/test"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_endpoint_with_a_slash_sends_on(client: FlaskClient, method: str) -> None:
    response = client.open("/sparql/?query=ASK%7B%7D&format=json", method=method)
    assert response.status_code == 308
    assert response.headers["Location"] == "/sparql?query=ASK%7B%7D&format=json"
    response = client.open("/sparql/", method="POST", data={"query": ASK}, follow_redirects=True)
    assert json.loads(response.data)["boolean"] is True


def test_syntax_error_says_where(client: FlaskClient) -> None:
    query = "SELECT ?s\nWHERE {\n  ?s ?p\n}"
    response = client.get("/sparql", query_string={"query": query})
    # the position is Oxigraph's (line 4, just past the brace), shown under the line itself
    assert_readable_error(response, 400, "syntax error", "line 4, column ", "expected")
    assert "\n  }\n  " in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "first_line"),
    [
        # a prefix this endpoint knows (the ontology file declares it): the line to add
        (
            "SELECT ?x WHERE { ?x a schema:Person }",
            "line 1, column 37: the prefix schema: is not declared; add this line at the top of "
            "the query: PREFIX schema: <https://schema.org/>",
        ),
        # one it does not know, as in a query copied from Wikidata
        (
            "PREFIX kgo: <https://w3id.org/kgpub/ontology#>\nSELECT ?x {\n  ?x kgo:sameAs wd:Q5 }",
            "line 3, column 22: the prefix wd: is not declared; add PREFIX wd: <...> at the top",
        ),
        ("SELECT * { ?s <a b> ?o }", "<a b> is not a valid IRI: an IRI has no spaces"),
        ("SELECT * WHERE {\n  ?s ?p ?o .\n", 'the "{" on line 1 is not closed by a "}"'),
        ("SELECT * { ?s ?p ?o } }", 'the "}" on line 1 closes nothing'),
        (
            "SELECT * {\n  ?s ?p ?o FILTER(regex(?o, 'a') }",
            'the "(" on line 2 is not closed by a ")" before the "}" on line 2',
        ),
        ('SELECT * { ?s ?p "Quito }', 'the string opened with " on line 1 is not closed'),
        # the parser's own words, its character classes named instead of spelt as code points
        ("SELECT * { ?s ?p ?o } LIMIT ten", "expected one of HAVING, OFFSET"),
    ],
)
def test_syntax_error_says_what_to_fix(client: FlaskClient, query: str, first_line: str) -> None:
    response = client.post("/sparql", data={"query": query})
    text = response.get_data(as_text=True)
    assert response.status_code == 400, text
    assert response.mimetype == "text/plain"
    assert first_line in text.splitlines()[0], text
    assert "\\u{" not in text and "..=" not in text and "[_]" not in text, text
    assert "Traceback" not in text


@pytest.mark.parametrize(
    "request_args",
    [
        {"query_string": {"update": "INSERT DATA { <a> <b> <c> }"}},
        {"method": "POST", "data": {"update": "INSERT DATA { <a> <b> <c> }"}},
        {
            "method": "POST",
            "data": "INSERT DATA { <a> <b> <c> }",
            "content_type": "application/sparql-update",
        },
        {"query_string": {"query": "INSERT DATA { <a> <b> <c> }"}},
        {"query_string": {"query": "LOAD <http://127.0.0.1:9/x.ttl>"}},
        {"method": "POST", "data": {"update": "LOAD <http://127.0.0.1:9/x.ttl>"}},
    ],
)
def test_updates_are_forbidden(client: FlaskClient, request_args: dict) -> None:
    response = client.open("/sparql", **request_args)
    assert_readable_error(response, 403, "read-only")


def test_service_is_refused(client: FlaskClient) -> None:
    query = "SELECT * { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }"
    response = client.get("/sparql", query_string={"query": query})
    assert_readable_error(response, 403, "SERVICE", "outbound")


def test_body_too_large(app: Flask, client: FlaskClient) -> None:
    limit = app.extensions["kgpub"].settings.max_body_bytes
    query = "ASK { ?s ?p ?o }" + " " * limit
    response = client.post("/sparql", data=query, content_type="application/sparql-query")
    assert_readable_error(response, 413, str(limit))


def test_url_too_long(app: Flask, client: FlaskClient) -> None:
    limit = app.extensions["kgpub"].settings.max_url_bytes
    response = client.get("/sparql", query_string={"query": "ASK {}" + " " * limit})
    assert_readable_error(response, 414, "POST")


def test_bad_graph_iri(client: FlaskClient) -> None:
    response = client.get("/sparql", query_string={"query": ASK, "default-graph-uri": "not an iri"})
    assert_readable_error(response, 400)


def test_errors_answer_html_to_browsers(client: FlaskClient) -> None:
    response = client.get(
        "/sparql", query_string={"query": "SELECT"}, headers={"Accept": "text/html"}
    )
    # a browser asking for a query gets the page, which shows the query: not an error
    assert response.status_code == 200
    response = client.put("/sparql", headers={"Accept": "text/html"})
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert b"Traceback" not in response.data


def test_a_bug_is_a_plain_500(app_factory, caplog: pytest.LogCaptureFixture) -> None:
    app = app_factory()

    @app.get("/-/boom")
    def boom() -> str:
        raise RuntimeError("secret detail")

    response = app.test_client().get("/-/boom")
    assert_readable_error(response, 500, "logged")
    assert "secret detail" not in response.get_data(as_text=True)
    assert "secret detail" in caplog.text
