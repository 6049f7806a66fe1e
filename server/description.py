"""The SPARQL 1.1 Service Description of the endpoint, for RDF clients asking ``/sparql`` bare.

It tells where the endpoint answers, what it speaks (SPARQL 1.1 Query only: the store is
read-only), which result formats it writes, that the default graph is the union of all graphs
(``sd:UnionDefaultGraph``) and which named graphs the default dataset holds, with their sizes.
"""

from __future__ import annotations

import logging
import threading
import time

import pyoxigraph as ox

from .formats import GRAPH_FORMATS, RESULT_FORMATS, Format
from .pool import Busy, QueryFailed, QueryTimeout
from .store import Counts, Store

log = logging.getLogger(__name__)

SD = "http://www.w3.org/ns/sparql-service-description#"
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
VOID_TRIPLES = ox.NamedNode("http://rdfs.org/ns/void#triples")
DCTERMS = "http://purl.org/dc/terms/"
XSD_INTEGER = ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")
PREFIXES = {
    "sd": SD,
    "void": "http://rdfs.org/ns/void#",
    "dcterms": DCTERMS,
    "formats": "http://www.w3.org/ns/formats/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
}
# a count that failed (timeout, store unreachable) is tried again this many seconds later at the
# earliest: a store too large to count within the query timeout is not scanned on every request
RECOUNT_AFTER_FAILURE = 60.0

_counted: dict[str, tuple[float, Counts | None]] = {}  # by build: when, and what was counted
_counting = threading.Lock()


def _sd(name: str) -> ox.NamedNode:
    return ox.NamedNode(SD + name)


def counts_of(store: Store, timeout: float, scan: bool = True) -> Counts | None:
    """The store's triples and graphs, for the service description and the health check: read
    or counted once per build and worker (one request counts, the others wait for it); None
    when they could not be counted. Without ``scan``, only those already known or written
    beside the store: the health check never waits for a count."""
    identity = store.identity
    known = _known(identity)
    if known is not None:
        return known[1]
    if not scan:
        written = store.counts(timeout, scan=False)
        if written is not None:
            _counted[identity] = (time.monotonic(), written)
        return written
    with _counting:
        known = _known(identity)
        if known is not None:  # counted while this request waited
            return known[1]
        try:
            counts = store.counts(timeout)
        except (QueryFailed, QueryTimeout, Busy, OSError) as error:
            log.warning("no counts of the store's triples and graphs: %s", error)
            counts = None
        _counted[identity] = (time.monotonic(), counts)
        return counts


def _known(identity: str) -> tuple[float, Counts | None] | None:
    """What was counted for the build, unless it was a failure long enough ago to try again."""
    known = _counted.get(identity)
    if known is None or (known[1] is None and time.monotonic() - known[0] >= RECOUNT_AFTER_FAILURE):
        return None
    return known


def describe(endpoint: str, dataset: str, counts: Counts | None) -> list[ox.Triple]:
    service = ox.BlankNode()
    triples = [
        ox.Triple(service, RDF_TYPE, _sd("Service")),
        ox.Triple(service, _sd("endpoint"), ox.NamedNode(endpoint)),
        ox.Triple(service, _sd("supportedLanguage"), _sd("SPARQL11Query")),
        ox.Triple(service, _sd("feature"), _sd("UnionDefaultGraph")),
        ox.Triple(
            service,
            _sd("defaultEntailmentRegime"),
            ox.NamedNode("http://www.w3.org/ns/entailment/Simple"),
        ),
        ox.Triple(
            service,
            ox.NamedNode(DCTERMS + "description"),
            ox.Literal(
                "Read-only SPARQL 1.1 Query endpoint. Without FROM or default-graph-uri the "
                "default graph is the union of all named graphs. SERVICE and updates are refused."
            ),
        ),
    ]
    for fmt in (*RESULT_FORMATS, *GRAPH_FORMATS):
        triples.append(ox.Triple(service, _sd("resultFormat"), ox.NamedNode(fmt.w3c)))
    triples.extend(_dataset(service, dataset, counts))
    return triples


def _dataset(service: ox.BlankNode, dataset: str, counts: Counts | None) -> list[ox.Triple]:
    node = ox.BlankNode()
    default = ox.BlankNode()
    triples = [
        ox.Triple(service, _sd("defaultDataset"), node),
        ox.Triple(node, RDF_TYPE, _sd("Dataset")),
        ox.Triple(
            node,
            ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#seeAlso"),
            ox.NamedNode(dataset),
        ),
        ox.Triple(node, _sd("defaultGraph"), default),
        ox.Triple(default, RDF_TYPE, _sd("Graph")),
    ]
    if counts is None:
        return triples
    if counts.triples is not None:
        triples.append(ox.Triple(default, VOID_TRIPLES, _integer(counts.triples)))
    if counts.more_graphs:
        triples.append(
            ox.Triple(
                node,
                ox.NamedNode(DCTERMS + "description"),
                ox.Literal(
                    f"{counts.named_graphs} named graphs; the first {len(counts.graphs)} by IRI "
                    "are listed here. SELECT DISTINCT ?g WHERE { GRAPH ?g {} } gives them all."
                ),
            )
        )
    for name, size in counts.graphs.items():
        named, graph = ox.BlankNode(), ox.BlankNode()
        triples += [
            ox.Triple(node, _sd("namedGraph"), named),
            ox.Triple(named, RDF_TYPE, _sd("NamedGraph")),
            ox.Triple(named, _sd("name"), ox.NamedNode(name)),
            ox.Triple(named, _sd("graph"), graph),
            ox.Triple(graph, RDF_TYPE, _sd("Graph")),
            ox.Triple(graph, VOID_TRIPLES, _integer(size)),
        ]
    return triples


def _integer(value: int) -> ox.Literal:
    return ox.Literal(str(value), datatype=XSD_INTEGER)


def serialize(triples: list[ox.Triple], fmt: Format) -> bytes:
    assert isinstance(fmt.oxigraph, ox.RdfFormat)
    return ox.serialize(triples, format=fmt.oxigraph, prefixes=PREFIXES)
