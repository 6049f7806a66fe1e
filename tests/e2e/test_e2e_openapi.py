"""The server's own OpenAPI description, fuzzed with schemathesis against a real ``kgpub serve``:
every generated request (valid or not) gets no 5xx, a documented status and a documented media
type, and JSON answers match their schema."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from kgpub.server.openapi import describe_api
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.e2e

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# a direct POST's body is the query text, sent as schemathesis sends text/plain
schemathesis.serializer.alias("application/sparql-query", "text/plain")
# the description the server serves, made by the same function; the first test proves they agree
schema = schemathesis.openapi.from_dict(describe_api())


def test_the_description_is_served(server) -> None:
    answer = requests.get(server.url + "/-/openapi.json", timeout=10)
    assert answer.status_code == 200
    description = answer.json()
    assert description == describe_api()
    assert description["openapi"].startswith("3.1")
    assert {"/sparql", "/search", "/dumps/{name}", "/-/limits"} <= set(description["paths"])
    media = description["paths"]["/sparql"]["get"]["responses"]["200"]["content"]
    assert {"application/sparql-results+json", "text/turtle", "text/csv"} <= set(media)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_answers_as_documented(case, server) -> None:
    case.call_and_validate(base_url=server.url, checks=CHECKS, timeout=30)
