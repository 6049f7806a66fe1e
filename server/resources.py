"""Linked data: every IRI under the base dereferences at the path after the base.

``/id/x``, ``/fact/...``, ``/graph/...``, ``/dataset...`` (and ``/article/...``, see ``article.py``)
name things, not documents. A request for one is negotiated and answered ``303 See Other`` to a
document about it, which is the same path plus the format's suffix: ``/id/x.html`` for browsers,
``/id/x.ttl`` (the default), ``.nt``, ``.jsonld``, ``.rdf``, and ``.trig``/``.nq`` keeping the
named graphs. docs/linked-data.md describes the scheme for users.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, unquote_to_bytes, urlsplit

from flask import Blueprint, Response, g, redirect, render_template, request

from . import describe, errors, httpcache
from .cache import request_key
from .config import Services, services
from .formats import GRAPH_FORMATS, HTML, Format, negotiate
from .pool import QueryFailed
from .store import Annotations, Paging, ResourceRows, is_iri

bp = Blueprint("resources", __name__)
T = TypeVar("T")

# Turtle first: what a client gets that states no preference; HTML only when it prefers it
OFFERS: tuple[Format, ...] = (*GRAPH_FORMATS, HTML)
BY_SUFFIX = {fmt.suffix: fmt for fmt in OFFERS}
DOCUMENT_FAMILIES = ("id", "article", "fact", "graph", "dataset")
HTML_INCOMING = 50  # incoming links per page
RDF_INCOMING = 1000  # incoming triples per RDF document
HTML_CONTENTS = 200  # triples of a named graph shown on its page
RDF_CONTENTS = 1000
MAX_PAGE = 1_000_000


class UnknownResource(errors.NotFound):
    template = "not_found.html"

    def __init__(self, iri: str) -> None:
        super().__init__(
            f"nothing is known about <{iri}>: no triple has it as subject or object",
            {"Vary": "Accept"},
        )
        words = iri.rstrip("/").rsplit("/", 1)[-1].replace("-", " ")
        self.context = {"iri": iri, "search_q": words}


@dataclass(frozen=True)
class Target:
    """What a request path names: candidate IRIs, most likely first, and a format if a suffix
    chose one."""

    path: str  # the decoded path without its suffix
    candidates: tuple[str, ...]
    fmt: Format | None
    page: int  # ?incoming-page=


@dataclass(frozen=True)
class Alternate:
    href: str
    media_type: str
    name: str


@dataclass(frozen=True)
class ResourcePage:
    description: describe.Description
    iri: str
    canonical: str  # the permanent URL of this page
    alternates: list[Alternate]
    schema_org: dict[str, object]
    page: int
    pages: int
    page_size: int


# --- from a request path to IRIs -----------------------------------------------------------------


def raw_path() -> str:
    """The path as the client sent it (percent-encoded), checked; bad paths are 4xx."""
    settings = services().settings
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:  # servers that pass only the decoded path: its bytes, percent-encoded again
        sent = environ.get("PATH_INFO", "").encode("latin-1", "replace")
        raw = quote(sent, safe=describe.PATH_SAFE)
        raw += "?" + environ.get("QUERY_STRING", "")
    if len(raw.encode("latin-1", "replace")) > settings.max_url_bytes:
        raise errors.UriTooLong(f"the URL is longer than {settings.max_url_bytes} bytes")
    if raw.startswith(("http://", "https://")):
        raw = urlsplit(raw).path
    raw = raw.split("?", 1)[0]
    try:
        text = raw.encode("latin-1").decode("utf-8")
        decoded = unquote_to_bytes(text).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise errors.BadRequest("the path is not valid UTF-8 (after percent-decoding)") from None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in decoded):
        raise errors.BadRequest("the path holds a control character such as %00; IRIs cannot")
    if any(part in (".", "..") for part in decoded.split("/")):
        raise errors.BadRequest("the path has '.' or '..' segments; no IRI here has them")
    return text


def target() -> Target:
    raw = raw_path()
    path = request.path
    fmt = None
    for suffix, candidate in BY_SUFFIX.items():
        if path.endswith(suffix) and not path.endswith("/" + suffix):
            path, fmt = path[: -len(suffix)], candidate
            raw = raw[: -len(suffix)] if raw.endswith(suffix) else raw
            break
    minter = services().minter
    paths = [path]
    if raw != path:  # an IRI spelt with percent-encodings, looked up as sent
        paths.append(_upper_escapes(raw))
    if not path.isascii():  # and the URI form of an IRI, for clients that send UTF-8 bytes
        paths.append("".join(c if c.isascii() else quote(c) for c in path))
    # a path with characters no IRI may hold (space, <, ", {, ...) names nothing in the store
    iris = [str(minter.iri_of(p)) for p in dict.fromkeys(paths) if is_iri("http:" + p)]
    if not iris:
        raise UnknownResource(path)
    return Target(path, tuple(iris), fmt, _page())


def _upper_escapes(raw: str) -> str:
    parts = raw.split("%")
    return parts[0] + "".join("%" + p[:2].upper() + p[2:] for p in parts[1:])


def _page() -> int:
    value = request.args.get("incoming-page", "1")
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise errors.BadRequest(f"incoming-page must be a page number from 1, not {value!r}")
    return int(value)


# --- one flow for every resource -----------------------------------------------------------------

HtmlPage = Callable[[str, Target], str | None]


def serve(where: Target, html_page: HtmlPage) -> Response:
    """303 to a document when no suffix chose the format; else the document, or 304."""
    app = services()
    linker = make_linker(app)
    if where.fmt is None:
        return see_other(app, where, linker)
    headers = link_headers(linker, where.candidates[0], where.fmt)
    query = f"incoming-page={where.page}" if where.page > 1 else ""
    validators = httpcache.validators(where.path, where.fmt.name, query)
    early = httpcache.not_modified(validators, headers)
    if early is not None:
        return early
    key = None
    if app.cache is not None:
        # a document does not depend on Accept: one entry serves every client
        key = request_key(app.store.identity, {**request.environ, "HTTP_ACCEPT": ""})
        hit = app.cache.get(key)
        if hit is not None:
            g.from_cache = True
            return Response(hit.body, hit.status, hit.headers)
    for iri in where.candidates:
        if where.fmt is HTML:
            body: str | bytes | None = html_page(iri, where)
        else:
            body = rdf_document(app, linker, iri, where)
        if body is not None:
            break
    else:
        raise UnknownResource(where.candidates[0])
    if iri != where.candidates[0]:
        headers = link_headers(linker, iri, where.fmt)
    response = Response(body, 200, content_type=where.fmt.content_type)
    response.headers.update(headers)
    if key is not None:
        g.cache_key = key
    return httpcache.stamp(response, validators)


def see_other(app: Services, where: Target, linker: describe.Linker) -> Response:
    found = store_call(lambda: app.store.find(where.candidates, app.settings.query_timeout))
    if not found:
        raise UnknownResource(where.candidates[0])
    fmt = negotiate(request.headers.get("Accept"), OFFERS)
    if fmt is None:
        error = errors.NotAcceptable("a description of this resource", OFFERS)
        error.headers["Vary"] = "Accept"
        raise error
    location = linker.document(found[0], fmt.suffix) or where.path + fmt.suffix
    if request.query_string:
        location += "?" + request.query_string.decode("latin-1")
    response = redirect(location, 303)
    response.headers.update(link_headers(linker, found[0], None))
    response.vary.add("Accept")
    return httpcache.cache_headers(response)


def link_headers(linker: describe.Linker, iri: str, fmt: Format | None) -> dict[str, str]:
    links = [
        f'<{alt.href}>; rel="alternate"; type="{alt.media_type}"' for alt in alternates(linker, iri)
    ]
    links.append(f'<{canonical(linker, iri, fmt or HTML)}>; rel="canonical"')
    return {"Link": ", ".join(links)}


def alternates(linker: describe.Linker, iri: str) -> list[Alternate]:
    found = []
    for fmt in (HTML, *GRAPH_FORMATS):
        href = linker.document(iri, fmt.suffix)
        if href is not None:
            found.append(Alternate(href, fmt.media_type, fmt.name))
    return found


def canonical(linker: describe.Linker, iri: str, fmt: Format) -> str:
    """The permanent URL of a document: under the base IRI, whatever host serves it."""
    path = linker.document(iri, fmt.suffix)
    base = linker.minter.base
    return base + path.lstrip("/") if path is not None else iri


def make_linker(app: Services) -> describe.Linker:
    return describe.Linker(app.minter, app.prefixes, DOCUMENT_FAMILIES)


def store_call(call: Callable[[], T]) -> T:
    try:
        return call()
    except QueryFailed as error:
        raise errors.from_query_failure(error, "", services().settings.query_timeout) from None


# --- the two kinds of document -------------------------------------------------------------------


def fetch(app: Services, iri: str, paging: Paging) -> tuple[ResourceRows, Annotations] | None:
    """The resource's rows and their labels and provenance: two queries."""
    timeout = app.settings.query_timeout
    rows = store_call(lambda: app.store.resource(iri, paging, timeout))
    if not rows.found:
        return None
    graphs = [*describe.graphs_of((*rows.outgoing, *rows.incoming)), iri]  # iri: a fact?
    targets = describe.label_targets(rows)
    annotations = store_call(
        lambda: app.store.annotations(targets, describe.LABELS, graphs, timeout)
    )
    return rows, annotations


def resource_page(iri: str, where: Target) -> str | None:
    app = services()
    paging = Paging(HTML_INCOMING, (where.page - 1) * HTML_INCOMING, contents=HTML_CONTENTS)
    fetched = fetch(app, iri, paging)
    if fetched is None:
        return None
    linker = make_linker(app)
    found = describe.describe(iri, *fetched, linker, str(app.minter.inferred_graph), HTML_CONTENTS)
    pages = max(1, math.ceil(found.incoming_total / HTML_INCOMING))
    if where.page > pages:
        raise errors.NotFound(f"there is no incoming-page {where.page}: there are {pages}")
    url = canonical(linker, iri, HTML)
    page = ResourcePage(
        description=found,
        iri=iri,
        canonical=url,
        alternates=alternates(linker, iri),
        schema_org=describe.schema_org(found, url),
        page=where.page,
        pages=pages,
        page_size=HTML_INCOMING,
    )
    return render_template("resource.html", page=page)


def rdf_document(app: Services, linker: describe.Linker, iri: str, where: Target) -> bytes | None:
    assert where.fmt is not None
    paging = Paging(RDF_INCOMING, (where.page - 1) * RDF_INCOMING, contents=RDF_CONTENTS)
    fetched = fetch(app, iri, paging)
    if fetched is None:
        return None
    rows, annotations = fetched
    document = canonical(linker, iri, where.fmt)
    total = sum(rows.incoming_counts.values())
    if where.page > 1 and total <= (where.page - 1) * RDF_INCOMING:
        pages = max(1, math.ceil(total / RDF_INCOMING))
        raise errors.NotFound(f"there is no incoming-page {where.page}: there are {pages}")
    meta = describe.DocumentMeta(
        document=document + (f"?incoming-page={where.page}" if where.page > 1 else ""),
        dataset=str(app.minter.dataset),
        next_page=(
            f"{document}?incoming-page={where.page + 1}"
            if total > where.page * RDF_INCOMING
            else None
        ),
        more_contents=(
            str(app.minter.sparql_endpoint)
            + "?query="
            + quote(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{iri}> {{ ?s ?p ?o }} }}", safe="")
            if len(rows.contents) >= RDF_CONTENTS
            else None
        ),
    )
    quads = describe.description_quads(iri, rows, annotations, meta)
    prefixes = describe.output_prefixes(app.prefixes, app.minter.base)
    return describe.serialize(quads, where.fmt, prefixes)


# --- routes --------------------------------------------------------------------------------------


@bp.get("/id/<path:rest>")
@bp.get("/fact/<path:rest>")
@bp.get("/graph/<path:rest>")
@bp.get("/dataset/<path:rest>")
@bp.get("/dataset.<rest>")
@bp.get("/dataset", defaults={"rest": ""})
def resource(rest: str) -> Response:
    return serve(target(), resource_page)
