"""The query page: for browsers at /sparql, with a plain form that works without scripts."""

from __future__ import annotations

import html

import pytest
from flask.testing import FlaskClient
from kgpub.server.querypage import load_prefixes

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def page(client: FlaskClient, **params: str) -> str:
    response = client.get("/sparql", query_string=params, headers=BROWSER)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def test_page_has_a_plain_form(client: FlaskClient) -> None:
    text = page(client)
    assert '<form class="plain" method="post" action="http://localhost/sparql"' in text
    assert '<textarea id="query" name="query"' in text
    assert '<option value="html" selected>' in text


def test_page_lists_examples_and_prefixes(client: FlaskClient) -> None:
    text = page(client)
    assert "Which events happened where?" in text  # the example's first comment line
    assert "?example=CQ01-events-places" in text
    assert "PREFIX schema: &lt;https://schema.org/&gt;" in text  # from ontology/kgpub.ttl
    assert "PREFIX kgo: &lt;https://w3id.org/kgpub/ontology#&gt;" in text


def test_example_prefills_the_form(client: FlaskClient) -> None:
    text = page(client, example="CQ01-events-places")
    assert "SELECT ?event ?place WHERE" in html.unescape(text.split("<textarea")[1])


def test_form_without_scripts_shows_results(client: FlaskClient) -> None:
    query = (
        "PREFIX kgo: <https://w3id.org/kgpub/ontology#> "
        "SELECT ?event ?place WHERE { ?event kgo:locatedIn ?place }"
    )
    response = client.post("/sparql", data={"query": query, "format": "html"}, headers=BROWSER)
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "<th>?event</th>" in text
    # our IRIs link to their pages on this server
    assert '<a href="/id/emergency-2024">https://w3id.org/kgpub/id/emergency-2024</a>' in text


def test_form_results_for_ask_and_construct(client: FlaskClient) -> None:
    ask = page(client, query="ASK { ?s ?p ?o }", format="html")
    assert '<p class="boolean">true</p>' in ask
    construct = page(client, query="CONSTRUCT WHERE { ?s a ?o } LIMIT 2", format="html")
    assert '<pre class="graph">' in construct


def test_form_errors_are_readable(client: FlaskClient) -> None:
    response = client.get(
        "/sparql", query_string={"query": "SELECT", "format": "html"}, headers=BROWSER
    )
    assert response.status_code == 400
    assert "syntax error" in response.get_data(as_text=True)


def test_page_config_for_yasgui(client: FlaskClient) -> None:
    text = page(client)
    config = html.unescape(text.split('data-config="')[1].split('"></div>')[0])
    assert '"endpoint": "http://localhost/sparql"' in config
    assert '["https://w3id.org/kgpub/", "/"]' in config


def test_yasgui_is_served_from_our_origin(client: FlaskClient, root) -> None:
    if not (root / "node_modules" / "@zazuko" / "yasgui" / "build").is_dir():
        pytest.skip("npm ci has not been run")
    text = page(client)
    assert '<script src="/-/yasgui/yasgui.min.js">' in text
    response = client.get("/-/yasgui/yasgui.min.js")
    assert response.status_code == 200
    assert "javascript" in response.mimetype
    assert client.get("/-/yasgui/../../package.json").status_code == 404


def test_script_is_served(client: FlaskClient) -> None:
    assert client.get("/-/static/sparql.js").status_code == 200


def test_prefix_fallback(tmp_path) -> None:
    prefixes = load_prefixes(tmp_path / "missing.ttl", "https://example.org/kg/")
    assert prefixes["rdfs"] == "http://www.w3.org/2000/01/rdf-schema#"
    assert prefixes["kg"] == "https://example.org/kg/"
