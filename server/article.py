"""``/article/<slug>``: the annotated article, and the pages of its segments and mentions.

The article page is the text itself, cut from the context string by the NIF offsets: headings as
headings, every sentence anchored by its id (``#p3s1``), every entity mention linked to the
entity's page, and under each paragraph the facts derived from each of its sentences. Segments
(``/article/<slug>/p3s1``) and mentions (``.../char/<b>-<e>``) are resources like any other: their
pages and RDF come from ``resources``; a segment's page links to its place in the article.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, render_template

from . import describe, resources
from .config import services
from .formats import HTML
from .store import Segment, Term, TextRows

bp = Blueprint("article", __name__)

NIF_STRING = describe.NIF + "isString"
LANGUAGE = describe.DCT + "language"
LICENSE = describe.DCT + "license"
SOURCE = describe.DCT + "source"
ABOUT = describe.SCHEMA + "about"
# a paragraph and its only sentence share their offsets: the paragraph comes first
KIND_ORDER = {"Title": 0, "Paragraph": 1, "Sentence": 2, "Phrase": 3}


@dataclass(frozen=True)
class Piece:
    """A run of the text; a mention links to the entity it names."""

    text: str
    href: str | None = None
    title: str | None = None


@dataclass
class Claim:
    """What a fact says of one subject: (property, value) pairs."""

    subject: describe.Node
    pairs: list[tuple[describe.Node, describe.Node]]


@dataclass
class FactView:
    iri: str
    href: str | None
    quote: str | None
    claims: list[Claim]


@dataclass
class SentenceView:
    id: str
    before: str  # the text between the previous sentence and this one
    pieces: list[Piece]
    facts: list[FactView] = field(default_factory=list)


@dataclass
class ParagraphView:
    id: str
    sentences: list[SentenceView]
    after: str  # text after the last sentence


@dataclass
class SectionView:
    heading_id: str | None
    heading: list[Piece]
    paragraphs: list[ParagraphView]


@dataclass(frozen=True)
class ArticlePage:
    iri: str
    title: str
    headline: list[Piece]  # the title with its mentions linked
    language: str | None
    sections: list[SectionView]
    facts: int
    canonical: str
    alternates: list[resources.Alternate]
    schema_org: dict[str, object]
    about: list[describe.Node]
    license: describe.Node | None
    source: str | None


# An article's text, mentions and facts take about a thousand index lookups to read; the data is
# read-only, so each worker reads them once per build and article.
_TEXTS: dict[tuple[str, str], tuple[TextRows, Any]] = {}
_MAX_TEXTS = 64


def article_rows(iri: str) -> tuple[TextRows, Any] | None:
    """The article's text rows and the labels they need, or None for a resource without text."""
    app = services()
    key = (app.store.identity, iri)
    if key in _TEXTS:
        return _TEXTS[key]
    timeout = app.settings.query_timeout
    text = resources.store_call(lambda: app.store.text(iri, timeout))
    if not text.segments or not any(r.predicate.value == NIF_STRING for r in text.context):
        return None
    targets = [s.refers_to for s in text.segments if s.refers_to]
    targets += [
        t.value for r in (*text.facts, *text.context) for t in (r.subject, r.predicate, r.object)
    ]
    annotations = resources.store_call(
        lambda: app.store.annotations(
            [t for t in targets if t is not None], describe.LABELS, [], timeout
        )
    )
    if len(_TEXTS) >= _MAX_TEXTS:
        _TEXTS.clear()
    _TEXTS[key] = (text, annotations)
    return text, annotations


def article_page(iri: str, where: resources.Target) -> str | None:
    """The annotated text, or the generic resource page for an article without text."""
    rows = article_rows(iri)
    if rows is None:
        return resources.resource_page(iri, where)
    text, annotations = rows
    string = next(r.object.value for r in text.context if r.predicate.value == NIF_STRING)
    app = services()
    linker = resources.make_linker(app)
    namer = describe.Namer(linker, (*annotations.values, *text.context))
    page = build_page(iri, string, text, namer, linker)
    return render_template("article.html", page=page)


def build_page(
    iri: str, string: str, text: TextRows, namer: describe.Namer, linker: describe.Linker
) -> ArticlePage:
    segments = sorted(text.segments, key=lambda s: (s.begin, -s.end, KIND_ORDER[s.kind]))
    mentions = [s for s in segments if s.kind == "Phrase" and s.refers_to]
    facts = facts_by_sentence(text, namer, linker)
    sections: list[SectionView] = [SectionView(None, [], [])]
    title = namer.label(iri) or string[:80]
    headline: list[Piece] = [Piece(title)]
    paragraph: ParagraphView | None = None
    cursor = end = 0
    for seg in segments:
        if seg.kind == "Title":
            if seg.begin == 0:  # the headline: the page's <h1>
                headline = cut(string, seg.begin, seg.end, mentions, namer)
                continue
            if seg.repeats:
                continue  # the source repeats the headline
            sections.append(
                SectionView(seg.identifier, cut(string, seg.begin, seg.end, mentions, namer), [])
            )
        elif seg.kind == "Paragraph":
            paragraph = ParagraphView(seg.identifier or "", [], "")
            sections[-1].paragraphs.append(paragraph)
            cursor = seg.begin
            end = seg.end
        elif seg.kind == "Sentence" and paragraph is not None and seg.begin >= cursor:
            paragraph.sentences.append(
                SentenceView(
                    seg.identifier or "",
                    string[cursor : seg.begin],
                    cut(string, seg.begin, seg.end, mentions, namer),
                    facts.get(seg.iri, []),
                )
            )
            cursor = seg.end
            paragraph.after = string[cursor:end]
    language = next((r.object.value for r in text.context if r.predicate.value == LANGUAGE), None)
    about = [namer.node(r.object) for r in text.context if r.predicate.value == ABOUT]
    license_ = next((r.object for r in text.context if r.predicate.value == LICENSE), None)
    source = next((r.object.value for r in text.context if r.predicate.value == SOURCE), None)
    url = resources.canonical(linker, iri, HTML)
    return ArticlePage(
        iri=iri,
        title=title,
        headline=headline,
        language=language,
        sections=[s for s in sections if s.heading or s.paragraphs],
        facts=len(text.derived),
        canonical=url,
        alternates=resources.alternates(linker, iri),
        schema_org=schema_org(iri, title, language, about, license_, url),
        about=sorted(about, key=lambda n: n.text.lower()),
        license=namer.node(license_) if license_ is not None else None,
        source=source,
    )


def cut(
    string: str, begin: int, end: int, mentions: list[Segment], namer: describe.Namer
) -> list[Piece]:
    """The text from begin to end, with the mentions inside it as links."""
    pieces, cursor = [], begin
    for mention in mentions:
        if mention.begin < cursor or mention.end > end or mention.refers_to is None:
            continue  # outside, or overlapping a mention already linked
        if mention.begin > cursor:
            pieces.append(Piece(string[cursor : mention.begin]))
        node = namer.node(Term("uri", mention.refers_to))
        pieces.append(Piece(string[mention.begin : mention.end], node.href, node.text))
        cursor = mention.end
    if cursor < end:
        pieces.append(Piece(string[cursor:end]))
    return pieces


def facts_by_sentence(
    text: TextRows, namer: describe.Namer, linker: describe.Linker
) -> dict[str, list[FactView]]:
    claims: dict[str, dict[Term, Claim]] = {}
    for row in text.facts:
        fact = row.graph.value if row.graph else ""
        about = claims.setdefault(fact, {})
        claim = about.get(row.subject)
        if claim is None:
            claim = about[row.subject] = Claim(namer.node(row.subject), [])
        claim.pairs.append((namer.node(row.predicate), namer.node(row.object)))
    by_sentence: dict[str, list[FactView]] = {}
    for fact, about in sorted(claims.items()):
        for claim in about.values():
            claim.pairs.sort(key=lambda pair: describe.property_rank(pair[0].value, pair[0].text))
        view = FactView(fact, linker.document(fact), text.quotes.get(fact), list(about.values()))
        by_sentence.setdefault(text.derived[fact], []).append(view)
    return by_sentence


def schema_org(
    iri: str,
    title: str,
    language: str | None,
    about: list[describe.Node],
    license_: Term | None,
    url: str,
) -> dict[str, object]:
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "@id": iri,
        "headline": title,
        "url": url,
    }
    if language:
        data["inLanguage"] = language
    if license_ is not None:
        data["license"] = license_.value
    if about:
        data["about"] = [{"@id": node.value, "name": node.text} for node in about]
    return data


@bp.get("/article/<path:rest>")
def article(rest: str) -> Response:
    where = resources.target()
    is_article = "/" not in where.path.removeprefix("/article/")
    return resources.serve(where, article_page if is_article else resources.resource_page)
