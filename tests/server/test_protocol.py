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


def test_url_not_utf8(client: FlaskClient) -> None:
    response = client.get("/sparql?query=ASK%20%7B%20%3Fs%20%3Fp%20%22%E9%22%20%7D")
    assert_readable_error(response, 400, "UTF-8")


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


def test_syntax_error_says_where(client: FlaskClient) -> None:
    query = "SELECT ?s\nWHERE {\n  ?s ?p\n}"
    response = client.get("/sparql", query_string={"query": query})
    # the position is Oxigraph's (line 4, just past the brace), shown under the line itself
    assert_readable_error(response, 400, "syntax error", "line 4, column ", "expected")
    assert "\n  }\n  " in response.get_data(as_text=True)


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
