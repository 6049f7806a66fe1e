"""``/-/openapi.json``: an OpenAPI 3.1 description of the HTTP API.

It describes what clients call: the SPARQL endpoint, search, the dumps, the linked-data pages (the
303 from a thing to a document, and the documents' suffix forms), the article view and the system
pages. The media types come from the one format table, so the description cannot drift from what
the routes negotiate. The test suite fuzzes the running server against it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from kgpub import __version__

from .formats import GRAPH_FORMATS, HTML, RESULT_FORMATS, Format
from .resources import OFFERS
from .sparql import SPARQL_VERSIONS

bp = Blueprint("openapi", __name__, url_prefix="/-")

Json = dict[str, Any]

TEXT = {"text/plain": {"schema": {"type": "string"}}}
SPARQL_JSON_SCHEMA: Json = {
    "type": "object",
    "properties": {
        "head": {"type": "object"},
        "results": {
            "type": "object",
            "properties": {"bindings": {"type": "array", "items": {"type": "object"}}},
        },
        "boolean": {"type": "boolean"},
    },
    "required": ["head"],
}


def content(formats: tuple[Format, ...], schema: Json | None = None) -> Json:
    """A response's content: one entry per media type, a JSON schema where we have one."""
    found: Json = {}
    for fmt in formats:
        found[fmt.media_type] = {
            "schema": schema if schema and fmt.media_type.endswith("json") else {}
        }
    return found


def error(description: str) -> Json:
    """An error answer: a short message, text/plain (or an HTML page for a browser)."""
    return {"description": description, "content": {**TEXT, HTML.media_type: {"schema": {}}}}


ERRORS: dict[str, Json] = {
    "400": error("malformed request or query; the message says what and where"),
    "403": error("an update, a SERVICE clause: this endpoint is read-only and makes no requests"),
    "404": error("nothing here"),
    "405": error("method not allowed; the Allow header lists the methods"),
    "406": error("none of the accepted formats is offered; the message lists those offered"),
    "413": error("the request body is too large"),
    "414": error("the URL is too long; send the query with POST"),
    "415": error("a body type or charset this endpoint does not take"),
    "429": error("this client's share of query time is used up; see Retry-After"),
    "503": error("the query ran out of time or the server is busy; see Retry-After"),
}


def errors_for(*statuses: str) -> Json:
    return {status: ERRORS[status] for status in statuses}


def query_parameters() -> list[Json]:
    many = {"type": "array", "items": {"type": "string"}}
    return [
        {
            "name": "query",
            "in": "query",
            "schema": {"type": "string"},
            "description": "a SPARQL 1.1 query; without one, the service description or query page",
        },
        {
            "name": "default-graph-uri",
            "in": "query",
            "schema": many,
            "explode": True,
            "description": "the graphs whose merge is the default graph (replaces FROM)",
        },
        {
            "name": "named-graph-uri",
            "in": "query",
            "schema": many,
            "explode": True,
            "description": "the named graphs the query may use (replaces FROM NAMED)",
        },
        {
            "name": "format",
            "in": "query",
            "schema": {"type": "string"},
            "description": "a result format by short name or media type, instead of Accept",
        },
        VERSION_PARAMETER,
    ]


# SPARQL 1.2 Protocol's version announcement: at most one, in the URL or the form
VERSION_PARAMETER: Json = {
    "name": "version",
    "in": "query",
    "schema": {"type": "string", "enum": list(SPARQL_VERSIONS)},
    "description": "the SPARQL version of the query (SPARQL 1.2 Protocol); at most one",
}


def sparql_responses() -> Json:
    every = (*RESULT_FORMATS, *GRAPH_FORMATS, HTML)
    return {
        "200": {
            "description": "the results (SELECT, ASK), a graph (CONSTRUCT, DESCRIBE), the service "
            "description, or the query page for a browser; X-Result-Truncated says if cut",
            "content": content(every, SPARQL_JSON_SCHEMA),
        },
        **errors_for("400", "403", "406", "414", "429", "503"),
    }


def sparql_path() -> Json:
    form = {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "default-graph-uri": {"type": "array", "items": {"type": "string"}},
            "named-graph-uri": {"type": "array", "items": {"type": "string"}},
            "version": VERSION_PARAMETER["schema"],
        },
    }
    return {
        "get": {
            "summary": "SPARQL 1.1 query (GET)",
            "parameters": query_parameters(),
            "responses": sparql_responses(),
        },
        "post": {
            "summary": "SPARQL 1.1 query (POST, form or direct)",
            "parameters": query_parameters()[1:],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {"schema": form},
                    "application/sparql-query": {"schema": {"type": "string"}},
                },
            },
            "responses": {**sparql_responses(), **errors_for("413", "415")},
        },
    }


def search_path() -> Json:
    hit = {
        "type": "object",
        "properties": {
            "iri": {"type": "string"},
            "path": {"type": ["string", "null"]},
            "label": {"type": "string"},
            "matched": {"type": "string"},
            "match": {"type": "string"},
            "types": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["iri", "label"],
    }
    results = {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "limit": {"type": "integer"},
            "total": {"type": "integer"},
            "results": {"type": "array", "items": hit},
        },
        "required": ["query", "total", "results"],
    }
    return {
        "get": {
            "summary": "find resources by their labels",
            "parameters": [
                {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                },
                {"name": "format", "in": "query", "schema": {"enum": ["json", "html"]}},
            ],
            "responses": {
                "200": {
                    "description": "the matches, best first: JSON, or a page for a browser",
                    "content": {
                        "application/json": {"schema": results},
                        HTML.media_type: {"schema": {}},
                    },
                },
                **errors_for("400", "406"),
            },
        }
    }


def dumps_paths() -> Json:
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/dumps/": {
            "get": {
                "summary": "the dump files of the build being served",
                "responses": {"200": {"description": "the list", "content": {HTML.media_type: {}}}},
            }
        },
        "/dumps/{name}": {
            "get": {
                "summary": "one dump file: ETag, Last-Modified and byte ranges",
                "parameters": [name],
                "responses": {
                    "200": {"description": "the file", "content": {"*/*": {}}},
                    "206": {"description": "the requested byte range", "content": {"*/*": {}}},
                    "304": {"description": "not modified since the client's copy"},
                    "416": error("the byte range is outside the file"),
                    **errors_for("404"),
                },
            }
        },
    }


def document_content() -> Json:
    return {fmt.media_type: {"schema": {}} for fmt in OFFERS}


def see_other(what: str) -> Json:
    return {
        "description": f"{what} is not a document: see the document about it, chosen by Accept",
        "headers": {"Location": {"schema": {"type": "string"}, "required": True}},
    }


def resource_paths() -> Json:
    family = {"name": "family", "in": "path", "required": True,
              "schema": {"enum": ["id", "fact", "graph", "dataset"]}}  # fmt: skip
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    suffix = {"name": "suffix", "in": "path", "required": True,
              "schema": {"enum": [fmt.suffix.lstrip(".") for fmt in OFFERS]}}  # fmt: skip
    slug = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
    page = {"name": "incoming-page", "in": "query", "schema": {"type": "integer", "minimum": 1}}
    documents = {
        "200": {
            "description": "the document in the format its suffix names",
            "content": document_content(),
        },
        "304": {"description": "not modified since the client's copy"},
        **errors_for("400", "404", "414"),
    }
    negotiated = {"303": see_other("the resource"), **errors_for("400", "404", "406", "414")}
    return {
        "/{family}/{name}": {
            "get": {
                "summary": "a resource IRI under the base: 303 to a document about it",
                "parameters": [family, name, page],
                "responses": negotiated,
            }
        },
        "/{family}/{name}.{suffix}": {
            "get": {
                "summary": "the document about a resource, in one format",
                "parameters": [family, name, suffix, page],
                "responses": documents,
            }
        },
        "/article/{slug}": {
            "get": {
                "summary": "an article: 303 to its reading view or its RDF",
                "parameters": [slug],
                "responses": negotiated,
            }
        },
    }


def system_paths() -> Json:
    json_object = {"application/json": {"schema": {"type": "object"}}}
    return {
        "/-/limits": {
            "get": {
                "summary": "the limits this server applies",
                "responses": {"200": {"description": "the limits", "content": json_object}},
            }
        },
        "/-/health": {
            "get": {
                "summary": "whether the store answers, the build served and its counts",
                "responses": {
                    "200": {"description": "healthy", "content": json_object},
                    "503": {"description": "the store does not answer", "content": json_object},
                },
            }
        },
        "/-/metrics": {
            "get": {
                "summary": "Prometheus metrics (404 when the metrics setting is off)",
                "responses": {
                    "200": {"description": "metrics", "content": {"text/plain": {}}},
                    **errors_for("404"),
                },
            }
        },
        "/-/openapi.json": {
            "get": {
                "summary": "this description",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": json_object}},
            }
        },
    }


def graph_store_path() -> Json:
    """``/store`` (also at ``/service``): the Graph Store Protocol's GET; its writes are refused
    unless they would change nothing (docs/sparql.md)."""
    return {
        "get": {
            "summary": "a graph of the store (Graph Store Protocol): ?graph=IRI, or ?default",
            "parameters": [
                {"name": "graph", "in": "query", "schema": {"type": "string"}},
                {"name": "default", "in": "query", "schema": {"type": "string"}},
                {"name": "format", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": "the graph", "content": content(GRAPH_FORMATS)},
                **errors_for("400", "404", "406", "429", "503"),
            },
        }
    }


def describe_api() -> Json:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kgpub",
            "version": __version__,
            "description": "A read-only knowledge graph: SPARQL 1.1 endpoint, linked-data pages, "
            "search and dumps. Every error is a short text/plain message (HTML for browsers).",
        },
        "paths": {
            "/sparql": sparql_path(),
            "/search": search_path(),
            "/store": graph_store_path(),
            **dumps_paths(),
            **resource_paths(),
            **system_paths(),
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(describe_api())
