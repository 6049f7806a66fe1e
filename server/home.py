"""``/``: what the dataset is, how big, where its articles are, and where to go next.

Title, description, license and source articles come from the dataset description graph
(``<base>graph/dataset``); the counts from a few queries on the store, made once per worker and
build; the example queries are the competency questions ``ontology/cq/*.rq``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, render_template, url_for
from kgpub.mappings.iris import ONTOLOGY_NS

from .config import Services, services
from .formats import HTML, TURTLE
from .pool import Busy, QueryFailed, QueryTimeout
from .store import Term

log = logging.getLogger(__name__)

bp = Blueprint("home", __name__)

DCT = "http://purl.org/dc/terms/"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"

DESCRIPTION_QUERY = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?p ?o ?label WHERE {
  GRAPH <%(graph)s> { <%(dataset)s> ?p ?o }
  OPTIONAL { ?o rdfs:label ?label }
}"""

COUNTS_QUERY = """PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX owl: <http://www.w3.org/2002/07/owl#>
PREFIX kgo: <%(ns)s>
SELECT ?triples ?entities ?classes ?articles ?facts WHERE {
  { SELECT (COUNT(*) AS ?triples) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } } }
  { SELECT (COUNT(DISTINCT ?e) AS ?entities) WHERE {
      ?e rdf:type ?type FILTER(STRSTARTS(STR(?e), "%(entities)s")) } }
  { SELECT (COUNT(DISTINCT ?c) AS ?classes) WHERE {
      ?c rdf:type owl:Class FILTER(STRSTARTS(STR(?c), STR(kgo:))) } }
  { SELECT (COUNT(DISTINCT ?a) AS ?articles) WHERE { ?a rdf:type kgo:Article } }
  { SELECT (COUNT(DISTINCT ?f) AS ?facts) WHERE { ?f rdf:type kgo:Fact } }
}"""


@dataclass(frozen=True)
class Link:
    text: str
    href: str


@dataclass(frozen=True)
class Count:
    what: str
    value: int
    href: str | None = None


@dataclass(frozen=True)
class Summary:
    """What the store says about itself, read once per build."""

    title: str | None = None
    description: str | None = None
    license: str | None = None
    publisher: str | None = None
    articles: tuple[Link, ...] = ()
    counts: tuple[Count, ...] = ()


@dataclass(frozen=True)
class HomePage:
    title: str
    summary: Summary
    examples: list[Link] = field(default_factory=list)
    sparql: str = "/sparql"
    dumps: str = "/dumps/"
    ontology: str = "/ontology"
    void: str = "/.well-known/void"


_summaries: dict[tuple[str, str], Summary] = {}
_lock = threading.Lock()


def summary(app: Services) -> Summary:
    key = (app.store.identity, app.minter.base)
    if key not in _summaries:
        with _lock:
            if key not in _summaries:
                try:
                    _summaries[key] = read_summary(app)
                except (QueryFailed, QueryTimeout, Busy) as error:
                    log.warning("no dataset summary for the home page: %s", error)
                    return Summary()
    return _summaries[key]


def read_summary(app: Services) -> Summary:
    timeout = app.settings.query_timeout
    minter = app.minter
    rows = app.store.select(
        DESCRIPTION_QUERY % {"graph": minter.dataset_graph, "dataset": minter.dataset}, timeout
    )
    values: dict[str, list[Term]] = {}
    labels: dict[str, str] = {}
    for row in rows:
        values.setdefault(row["p"].value, []).append(row["o"])
        if "label" in row:
            labels.setdefault(row["o"].value, row["label"].value)
    articles = []
    for source in sorted({t.value for t in values.get(DCT + "source", []) if t.kind == "uri"}):
        path = minter.path_of(source)
        if path is not None:
            articles.append(Link(labels.get(source, source), path))
    counts = app.store.select(
        COUNTS_QUERY % {"ns": ONTOLOGY_NS, "entities": minter.entity("")}, timeout
    )
    return Summary(
        title=_text(values.get(DCT + "title") or values.get(RDFS_LABEL)),
        description=_text(values.get(DCT + "description")),
        license=_text(values.get(DCT + "license")),
        publisher=_text(values.get(DCT + "publisher")),
        articles=tuple(articles),
        counts=_counts(counts[0]) if counts else (),
    )


def _text(terms: list[Term] | None) -> str | None:
    """The English (or untagged) value if there is one, else any."""
    if not terms:
        return None
    return next((t.value for t in terms if t.language in (None, "", "en")), terms[0].value)


def _counts(row: dict[str, Term]) -> tuple[Count, ...]:
    number = {name: int(term.value) for name, term in row.items()}
    return (
        Count("triples", number.get("triples", 0), "/dumps/"),
        Count("entities", number.get("entities", 0)),
        Count("classes in the ontology", number.get("classes", 0), "/ontology#classes"),
        Count("article" if number.get("articles") == 1 else "articles", number.get("articles", 0)),
        Count("facts, each citing its sentence", number.get("facts", 0)),
    )


def example_links(app: Services) -> list[Link]:
    """Each competency question as a link to the query page with its query filled in; a query
    too long for a URL is named instead (``?example=``)."""
    links = []
    for example in app.examples:
        href = "/sparql?" + urlencode({"query": example.query}, quote_via=quote)
        if len(href) > app.settings.max_url_bytes:
            href = "/sparql?" + urlencode({"example": example.name})
        links.append(Link(example.title, href))
    return links


@bp.get("/")
def home() -> Response:
    app = services()
    about = summary(app)
    page = HomePage(
        title=about.title or "kgpub",
        summary=about,
        examples=example_links(app),
        sparql=url_for("sparql.endpoint"),
    )
    response = Response(render_template("home.html", page=page), mimetype=HTML.media_type)
    response.headers["Link"] = f'<{page.void}>; rel="describedby"; type="{TURTLE.media_type}"'
    return response
