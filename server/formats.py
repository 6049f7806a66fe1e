"""The one format table and the one content negotiation used by every route.

A format is known by its media type, the other media types clients send for it, a file suffix and
short names (``?format=ttl``). The SPARQL endpoint offers the formats of one result kind; the linked
data pages reuse the same table for their ``.ttl``/``.jsonld`` suffixes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pyoxigraph import QueryResultsFormat, RdfFormat


class Kind(StrEnum):
    """What a SPARQL query returns; the formats on offer depend on it, never on the query text."""

    SOLUTIONS = "solutions"
    BOOLEAN = "boolean"
    GRAPH = "graph"


@dataclass(frozen=True)
class Format:
    name: str  # the key used everywhere else (cache keys, executor requests)
    media_type: str  # what we send in Content-Type
    suffix: str  # ".ttl" on resource pages
    short_names: tuple[str, ...]  # ?format= / ?output= values besides the media types
    aliases: tuple[str, ...] = ()  # other media types that mean the same format
    w3c: str = ""  # the http://www.w3.org/ns/formats/ IRI, for the service description
    text: bool = True  # a text type gets "; charset=utf-8"
    # the serializer; query processes look it up again from media_type, which crosses a pipe
    oxigraph: QueryResultsFormat | RdfFormat | None = None

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8" if self.text else self.media_type

    @property
    def media_types(self) -> tuple[str, ...]:
        return (self.media_type, *self.aliases)


_W3C = "http://www.w3.org/ns/formats/"

SPARQL_JSON = Format(
    "json",
    "application/sparql-results+json",
    ".srj",
    ("json", "srj"),
    aliases=("application/json",),
    w3c=_W3C + "SPARQL_Results_JSON",
    text=False,
    oxigraph=QueryResultsFormat.JSON,
)
SPARQL_XML = Format(
    "xml",
    "application/sparql-results+xml",
    ".srx",
    ("xml", "srx"),
    aliases=("application/xml", "text/xml"),
    w3c=_W3C + "SPARQL_Results_XML",
    oxigraph=QueryResultsFormat.XML,
)
SPARQL_CSV = Format(
    "csv",
    "text/csv",
    ".csv",
    ("csv",),
    w3c=_W3C + "SPARQL_Results_CSV",
    oxigraph=QueryResultsFormat.CSV,
)
SPARQL_TSV = Format(
    "tsv",
    "text/tab-separated-values",
    ".tsv",
    ("tsv",),
    w3c=_W3C + "SPARQL_Results_TSV",
    oxigraph=QueryResultsFormat.TSV,
)
TURTLE = Format(
    "turtle",
    "text/turtle",
    ".ttl",
    ("ttl", "turtle", "n3"),
    aliases=("application/x-turtle", "application/turtle", "text/n3", "text/rdf+n3"),
    w3c=_W3C + "Turtle",
    oxigraph=RdfFormat.TURTLE,
)
N_TRIPLES = Format(
    "ntriples",
    "application/n-triples",
    ".nt",
    ("nt", "ntriples", "n-triples"),
    aliases=("text/plain",),  # its media type before RDF 1.1, still sent; Oxigraph takes it too
    w3c=_W3C + "N-Triples",
    oxigraph=RdfFormat.N_TRIPLES,
)
JSON_LD = Format(
    "jsonld",
    "application/ld+json",
    ".jsonld",
    ("jsonld", "json-ld", "json"),
    aliases=("application/json", "application/x-json+ld"),
    w3c=_W3C + "JSON-LD",
    text=False,
    oxigraph=RdfFormat.JSON_LD,
)
RDF_XML = Format(
    "rdfxml",
    "application/rdf+xml",
    ".rdf",
    ("rdfxml", "rdf", "rdf+xml", "xml", "owl"),
    aliases=("application/xml", "text/xml"),
    w3c=_W3C + "RDF_XML",
    oxigraph=RdfFormat.RDF_XML,
)
N_QUADS = Format(
    "nquads",
    "application/n-quads",
    ".nq",
    ("nq", "nquads"),
    w3c=_W3C + "N-Quads",
    oxigraph=RdfFormat.N_QUADS,
)
TRIG = Format(
    "trig", "application/trig", ".trig", ("trig",), w3c=_W3C + "TriG", oxigraph=RdfFormat.TRIG
)
HTML = Format("html", "text/html", ".html", ("html",), aliases=("application/xhtml+xml",))
# plain JSON, for the site's own APIs (label search); no RDF or SPARQL format, so not in FORMATS
JSON = Format("plain-json", "application/json", ".json", ("json",), text=False)

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        SPARQL_JSON,
        SPARQL_XML,
        SPARQL_CSV,
        SPARQL_TSV,
        TURTLE,
        N_TRIPLES,
        JSON_LD,
        RDF_XML,
        N_QUADS,
        TRIG,
        HTML,
    )
}

# what each result kind can be written as, the default first
RESULT_FORMATS: tuple[Format, ...] = (SPARQL_JSON, SPARQL_XML, SPARQL_CSV, SPARQL_TSV)
BOOLEAN_FORMATS: tuple[Format, ...] = (SPARQL_JSON, SPARQL_XML, SPARQL_CSV, SPARQL_TSV)
GRAPH_FORMATS: tuple[Format, ...] = (TURTLE, N_TRIPLES, JSON_LD, RDF_XML, N_QUADS, TRIG)
OFFERED: dict[Kind, tuple[Format, ...]] = {
    Kind.SOLUTIONS: RESULT_FORMATS,
    Kind.BOOLEAN: BOOLEAN_FORMATS,
    Kind.GRAPH: GRAPH_FORMATS,
}

BY_SUFFIX: dict[str, Format] = {f.suffix: f for f in FORMATS.values()}


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    q: float

    @property
    def specificity(self) -> int:
        """2 for an exact type, 1 for ``type/*``, 0 for ``*/*``."""
        if self.type == "*":
            return 0
        return 1 if self.subtype == "*" else 2

    def matches(self, media_type: str) -> bool:
        main, _, sub = media_type.partition("/")
        if self.type == "*":
            return True
        return self.type == main and self.subtype in ("*", sub)


def parse_accept(header: str) -> list[MediaRange]:
    """The media ranges of an Accept header; malformed entries are skipped, not fatal."""
    ranges = []
    for item in header.split(","):
        media, *params = item.split(";")
        main, slash, sub = media.strip().lower().partition("/")
        if not slash or not main or not sub or (main == "*" and sub != "*"):
            continue
        q = 1.0
        for param in params:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0  # an unreadable weight must not outrank readable ones
        ranges.append(MediaRange(main, sub, q))
    return ranges


def negotiate(accept: str | None, offered: Sequence[Format]) -> Format | None:
    """The offered format the client prefers, ``offered[0]`` without a preference, None if none.

    For each offered format the most specific matching range of the header gives its weight
    (exact type, then ``type/*``, then ``*/*``); a weight of 0 excludes it. The highest weight wins;
    ties go to the more specific match, then to the order of ``offered``. Parameters other than q
    (``application/ld+json;profile=...``) do not stop a match.

    >>> negotiate("text/turtle;q=0.5, application/ld+json", GRAPH_FORMATS).name
    'jsonld'
    >>> negotiate("", GRAPH_FORMATS).name
    'turtle'
    >>> negotiate("image/png", GRAPH_FORMATS) is None
    True
    """
    if accept is None or not accept.strip():
        return offered[0] if offered else None
    ranges = parse_accept(accept)
    if not ranges:
        return offered[0] if offered else None
    best: tuple[float, int, int] | None = None
    chosen: Format | None = None
    for position, fmt in enumerate(offered):
        weight = _weight(ranges, fmt)
        if weight is None or weight[0] <= 0:
            continue
        rank = (weight[0], weight[1], -position)
        if best is None or rank > best:
            best, chosen = rank, fmt
    return chosen


def _weight(ranges: Iterable[MediaRange], fmt: Format) -> tuple[float, int] | None:
    """(q, specificity) of the most specific range matching ``fmt``: an exact range matches any
    of its media types, a ``type/*`` range only the one the answer is labelled with (``text/*``
    takes no SPARQL XML answer for its alias ``text/xml``)."""
    found: tuple[int, float] | None = None
    for media_range in ranges:
        names = fmt.media_types if media_range.specificity == 2 else (fmt.media_type,)
        if not any(media_range.matches(m) for m in names):
            continue
        key = (media_range.specificity, media_range.q)
        if found is None or key[0] > found[0] or (key[0] == found[0] and key[1] > found[1]):
            found = key
    return None if found is None else (found[1], found[0])


def by_name(value: str, offered: Sequence[Format]) -> Format | None:
    """The offered format a ``?format=`` value names: a short name or a media type."""
    value = value.strip().lower()
    # a media type has no spaces: one here is a '+' the URL's form encoding turned into a space
    # (format=application/sparql-results+xml typed into a browser's address bar)
    media = value.split(";", 1)[0].strip().replace(" ", "+")
    for fmt in offered:
        if value in fmt.short_names or media in fmt.media_types:
            return fmt
    return None


def pick(values: Sequence[str], offered: Sequence[Format]) -> Format | None:
    """The first of several ``?format=``/``?output=`` values that names an offered format.

    Clients such as SPARQLWrapper send the same choice under several names at once
    (``format=tsv&format=text/tab-separated-values``).
    """
    for value in values:
        fmt = by_name(value, offered)
        if fmt is not None:
            return fmt
    return None


def choose(values: Sequence[str], accept: str | None, offered: Sequence[Format]) -> Format | None:
    """The format ``?format=`` values name when there are any, else the one ``Accept`` prefers;
    None when the client accepts none of ``offered``."""
    return pick(values, offered) if values else negotiate(accept, offered)


def offered_list(offered: Iterable[Format]) -> str:
    return ", ".join(f.media_type for f in offered)
