"""``/store``: the SPARQL 1.1 Graph Store Protocol, for reading (``/service`` is the same).

``GET /store?graph=IRI`` is the named graph, ``GET /store?default`` the default graph (the union
of all graphs, as on ``/sparql``), in the format ``Accept`` or ``?format=`` asks for; each is the
answer of a CONSTRUCT run through the endpoint (``sparql.run``): the same time limit, byte limit
and fairness. Not the row cap: a client of this protocol asks for a graph, and a graph cut short
would pass for the whole one; a large one is streamed, whole or cut off (the time or byte limit)
before its end. A graph the store does not hold is a 404.

The store is read-only. A write is refused with 403, except one that would change nothing: a PUT
of exactly what the graph holds, or a POST of triples it holds already, is answered 204 No
Content. Tools that load their data before each test (the W3C protocol test runner) then work
against a store ``kgpub load`` filled with that data; any write that would change the graph is
refused. ``/service`` is the address that runner derives from ``/sparql``.
"""

from __future__ import annotations

import json

import pyoxigraph as ox
from flask import Blueprint, Response, request
from rdflib import Graph
from rdflib.compare import isomorphic

from . import errors
from .config import Services, services
from .formats import GRAPH_FORMATS, N_TRIPLES, SPARQL_JSON, Format, Kind, choose
from .pool import Answer
from .sparql import ProtocolRequest, answer_response, check_query, format_values, run

bp = Blueprint("graphstore", __name__)

PATHS = ("/store", "/service")
READ_ONLY = "this graph store is read-only: a write that would change the graph is refused"


def graph_store() -> Response:
    app = services()
    graph = graph_named()
    if request.method in ("GET", "HEAD"):
        return read(app, graph)
    if request.method in ("PUT", "POST"):
        return write_that_changes_nothing(app, graph, replace=request.method == "PUT")
    raise errors.Forbidden(READ_ONLY)


for path in PATHS:
    bp.add_url_rule(path, view_func=graph_store, methods=["GET", "PUT", "POST", "DELETE"])


def graph_named() -> str | None:
    """The graph the request names: ``graph=IRI`` (exactly one), or None for ``default``."""
    graphs = request.args.getlist("graph")
    if ("default" in request.args) == bool(graphs) or len(graphs) > 1:
        raise errors.BadRequest("name one graph: ?graph=IRI, or ?default for the default graph")
    if not graphs:
        return None
    try:
        return ox.NamedNode(graphs[0]).value
    except ValueError as error:
        raise errors.BadRequest(f"graph {graphs[0]!r} is not an IRI: {error}") from None


def read(app: Services, graph: str | None) -> Response:
    # ?format= or ?output= first, as on /sparql; else Accept
    fmt = choose(format_values(request.args.getlist), request.headers.get("Accept"), GRAPH_FORMATS)
    if fmt is None:
        raise errors.NotAcceptable("a graph", GRAPH_FORMATS)
    if graph is not None and not holds(app, graph):
        raise errors.NotFound(f"the store holds no graph <{graph}>")
    return answer_response(construct(app, graph, fmt, max_rows=0))


def construct(app: Services, graph: str | None, fmt: Format, max_rows: int | None = None) -> Answer:
    pattern = "?s ?p ?o" if graph is None else f"GRAPH <{graph}> {{ ?s ?p ?o }}"
    query = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ {pattern} }}"
    return endpoint_query(app, query, Kind.GRAPH, fmt, max_rows)


def holds(app: Services, graph: str) -> bool:
    """Whether the store holds a graph of that name."""
    answer = endpoint_query(app, f"ASK {{ GRAPH <{graph}> {{ }} }}", Kind.BOOLEAN, SPARQL_JSON)
    return bool(json.loads(answer.whole_body())["boolean"])


def endpoint_query(
    app: Services, query: str, kind: Kind, fmt: Format, max_rows: int | None = None
) -> Answer:
    """A query of ours, run as the endpoint runs the client's (limits, fairness, and the row cap
    unless ``max_rows`` says otherwise)."""
    protocol = ProtocolRequest(query, False, None, None, (), None, b"")
    return run(app, protocol, {kind: fmt}, check_query(query), request.environ, max_rows)


def write_that_changes_nothing(app: Services, graph: str | None, replace: bool) -> Response:
    """204 when the graph already is (PUT) or already holds (POST) what the request sends.

    The triples are compared as pyoxigraph terms, in sets; rdflib's isomorphism check runs only
    for a PUT with blank nodes and as many triples as the graph holds, so no body costs the
    worker more than parsing it (a body is at most ``max_body_bytes``)."""
    sent = parse_payload(request.get_data(cache=False), request.mimetype)
    held: list[ox.Triple] = []
    if graph is None or holds(app, graph):
        answer = construct(app, graph, N_TRIPLES)
        if answer.truncated:  # more than the row cap: cannot be compared, so not a no-op
            raise errors.Forbidden(READ_ONLY)
        held = [quad.triple for quad in ox.parse(answer.whole_body(), ox.RdfFormat.N_TRIPLES)]
    if not (same_graph(sent, held) if replace else holds_all(held, sent)):
        raise errors.Forbidden(READ_ONLY)
    return Response(status=204)


def has_blank_node(triple: ox.Triple) -> bool:
    return isinstance(triple.subject, ox.BlankNode) or isinstance(triple.object, ox.BlankNode)


def holds_all(held: list[ox.Triple], sent: list[ox.Triple]) -> bool:
    """A blank node sent is always a new node: never one the graph holds."""
    known = set(held)
    return all(triple in known and not has_blank_node(triple) for triple in sent)


def same_graph(sent: list[ox.Triple], held: list[ox.Triple]) -> bool:
    sent_set, held_set = set(sent), set(held)
    if len(sent_set) != len(held_set):
        return False
    if not any(map(has_blank_node, sent_set)) and not any(map(has_blank_node, held_set)):
        return sent_set == held_set
    return isomorphic(rdflib_graph(sent), rdflib_graph(held))


def rdflib_graph(triples: list[ox.Triple]) -> Graph:
    text = ox.serialize(triples, None, ox.RdfFormat.N_TRIPLES)
    return Graph().parse(data=text.decode("utf-8"), format="nt")


def parse_payload(data: bytes, media_type: str) -> list[ox.Triple]:
    known = next((f for f in GRAPH_FORMATS if media_type in f.media_types), None)
    if known is None:
        raise errors.UnsupportedMediaType(
            f"Content-Type {media_type or '(none)'} is not an RDF format this store reads; "
            f"send one of {', '.join(f.media_type for f in GRAPH_FORMATS)}"
        )
    assert isinstance(known.oxigraph, ox.RdfFormat)  # every graph format has its parser
    try:
        return [quad.triple for quad in ox.parse(data, known.oxigraph)]
    except (SyntaxError, ValueError) as error:
        raise errors.BadRequest(f"the body does not parse as {media_type}: {error}") from None
