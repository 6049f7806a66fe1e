"""Load and check an article's curated data: metadata, entities, facts, non-factual sentences.

Every problem is a DataError naming the file, the line and the fix; nothing is half-loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError
from .iris import is_slug
from .text import Article, segment
from .yamlsrc import Located, load, load_mapping, read_text

RESERVED_FACT_KEYS = {"id", "sentence", "quote", "subject", "note"}
ENTITY_KEYS = {
    "id",
    "type",
    "label",
    "altLabels",
    "description",
    "mentions",
    "sentence",
    "quote",
    "sameAs",
    "note",
}
META_KEYS = {
    "title",
    "language",
    "publisher",
    "source",
    "license",
    "abbreviations",
    "published",
    "author",
    "url",
}


@dataclass(frozen=True)
class Citation:
    sentence: str
    quote: str


@dataclass(frozen=True)
class Link:
    iri: str
    source: str


@dataclass
class Entity:
    id: str
    types: list[str]
    label: str
    alt_labels: list[str]
    description: str | None
    mentions: list[str]
    citation: Citation
    same_as: list[Link]
    article: str
    where: Located


@dataclass
class Statement:
    prop: str  # as written: 'visitor', 'schema:about', 'type'
    values: list[Any]
    line: int


@dataclass
class Fact:
    id: str
    citation: Citation
    subject: str
    statements: list[Statement]
    note: str | None
    where: Located


@dataclass
class ArticleData:
    slug: str
    folder: Path
    meta: dict[str, Any]
    article: Article
    entities: list[Entity]
    facts: list[Fact]
    nonfactual: dict[str, str]
    nonfactual_lines: dict[str, int] = field(default_factory=dict)

    @property
    def language(self) -> str:
        return str(self.meta.get("language", "en"))

    def files(self) -> list[Path]:
        return [
            self.folder / n
            for n in (
                "article.txt",
                "article.yaml",
                "entities.yaml",
                "facts.yaml",
                "nonfactual.yaml",
            )
        ]


def _text(entry: Located, key: str, required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise entry.error(f"missing {key!r}", fix=f"add '{key}: ...' to this entry")
        return None
    if not isinstance(value, str) or not value.strip():
        raise entry.error(
            f"{key!r} must be non-empty text, got {value!r}",
            key=key,
            fix=f"write '{key}:' followed by text (quote it if it has ': ')",
        )
    return value


def _list_of_text(entry: Located, key: str) -> list[str]:
    value = entry.get(key)
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise entry.error(
                f"{key!r} must be text or a list of text, got {v!r}",
                key=key,
                fix=f"write '{key}: [first, second]'",
            )
    return values


def _entries(path: Path, what: str) -> list[Located]:
    data = load(path)
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(e, Located) for e in data):
        raise DataError(
            f"{path.name} must be a list of {what}",
            path=path,
            line=1,
            fix=f"start each {what[:-1]} with '- id: ...'",
        )
    return data


def _check_id(entry: Located, seen: dict[str, Located], kind: str) -> str:
    ident = _text(entry, "id")
    assert ident is not None
    if not is_slug(ident):
        raise entry.error(
            f"{kind} id {ident!r} is not a slug",
            key="id",
            fix="use lower-case letters, digits and '-' only, e.g. 'jen-daskal'",
        )
    if ident in seen:
        other = seen[ident]
        raise entry.error(
            f"duplicate {kind} id {ident!r} (first at {other.path}:{other.line})",
            key="id",
            fix=f"give one of them another id, or merge them into one {kind}",
        )
    seen[ident] = entry
    return ident


def _citation(entry: Located, article: Article) -> Citation:
    sentence_id = _text(entry, "sentence")
    quote = _text(entry, "quote")
    assert sentence_id is not None and quote is not None
    segment_ = article.quotable(sentence_id)
    if segment_ is None:
        known = ", ".join(s.id for s in article.sentences[:3])
        raise entry.error(
            f"sentence {sentence_id!r} does not exist in article {article.slug!r}",
            key="sentence",
            fix=f"cite a sentence id such as {known}, ...; `kgpub coverage` lists them all",
        )
    if quote not in segment_.text:
        raise entry.error(
            f"the quote {quote!r} does not occur in sentence {sentence_id}: {segment_.text!r}",
            key="quote",
            fix="copy the words verbatim from the sentence (same spelling, quote marks and "
            "spaces), or cite the sentence that says them",
        )
    return Citation(sentence_id, quote)


def load_meta(folder: Path) -> dict[str, Any]:
    path = folder / "article.yaml"
    if not path.exists():
        raise DataError(
            "article.yaml is missing",
            path=path,
            fix="add article.yaml with at least 'title:' and 'language:'",
        )
    meta = load_mapping(path, fix="write 'title: ...' and 'language: en' on separate lines")
    if meta is None:
        raise DataError("article.yaml is empty", path=path, fix="add 'title:' and 'language:'")
    for key in meta.values:
        if key not in META_KEYS:
            raise meta.error(
                f"unknown key {key!r} in article.yaml",
                key=key,
                fix=f"use only: {', '.join(sorted(META_KEYS))}",
            )
    _text(meta, "title")
    return dict(meta.values)


def load_article(folder: Path, registry: dict[str, Located]) -> ArticleData:
    """Load one article folder; ``registry`` collects entity ids across articles (no duplicates)."""
    slug = folder.name
    if not is_slug(slug):
        raise DataError(
            f"article folder name {slug!r} is not a slug",
            path=folder,
            fix="rename the folder using lower-case letters, digits and '-'",
        )
    meta = load_meta(folder)
    text_path = folder / "article.txt"
    if not text_path.exists():
        raise DataError("article.txt is missing", path=text_path, fix="add the article's text")
    text = read_text(text_path)
    abbreviations = tuple(meta.get("abbreviations") or ())
    article = segment(slug, text, abbreviations, path=text_path, title=meta["title"])
    entities = [
        _entity(e, article, registry) for e in _entries(folder / "entities.yaml", "entities")
    ]
    facts = _facts(folder / "facts.yaml", article)
    nonfactual, lines = _nonfactual(folder / "nonfactual.yaml", article)
    return ArticleData(slug, folder, meta, article, entities, facts, nonfactual, lines)


def _entity(entry: Located, article: Article, registry: dict[str, Located]) -> Entity:
    for key in entry.values:
        if key not in ENTITY_KEYS:
            raise entry.error(
                f"unknown key {key!r} in an entity",
                key=key,
                fix=f"use only: {', '.join(sorted(ENTITY_KEYS))}",
            )
    ident = _check_id(entry, registry, "entity")
    if ident == "this-article":
        raise entry.error(
            "'this-article' is reserved: it names the article itself",
            key="id",
            fix="choose another id for this entity",
        )
    types = _list_of_text(entry, "type")
    if not types:
        raise entry.error(f"entity {ident!r} has no type", fix="add 'type: <Class>' (e.g. Person)")
    label = _text(entry, "label")
    assert label is not None
    alt_labels = _list_of_text(entry, "altLabels")
    links = []
    for link in entry.get("sameAs") or []:
        if not isinstance(link, Located) or not link.get("iri") or not link.get("source"):
            raise entry.error(
                "each sameAs needs 'iri' and 'source' (where it was verified)",
                key="sameAs",
                fix="write '- iri: http://www.wikidata.org/entity/Q...' and "
                "'source: <page that states it>'",
            )
        links.append(Link(str(link.get("iri")), str(link.get("source"))))
    return Entity(
        id=ident,
        types=types,
        label=label,
        alt_labels=alt_labels,
        description=_text(entry, "description", required=False),
        mentions=_list_of_text(entry, "mentions") or [label, *alt_labels],
        citation=_citation(entry, article),
        same_as=links,
        article=article.slug,
        where=entry,
    )


def _facts(path: Path, article: Article) -> list[Fact]:
    seen: dict[str, Located] = {}
    facts = []
    for entry in _entries(path, "facts"):
        ident = _check_id(entry, seen, "fact")
        if ident.startswith("entity-"):
            raise entry.error(
                f"fact id {ident!r} uses the prefix 'entity-'",
                key="id",
                fix="'entity-<id>' names the registry entry of an entity; rename the fact",
            )
        subject = _text(entry, "subject")
        assert subject is not None
        statements = [
            Statement(key, value if isinstance(value, list) else [value], entry.line_of(key))
            for key, value in entry.values.items()
            if key not in RESERVED_FACT_KEYS
        ]
        if not statements:
            raise entry.error(
                f"fact {ident!r} states nothing", fix="add at least one 'property: value' line"
            )
        facts.append(
            Fact(
                ident,
                _citation(entry, article),
                subject,
                statements,
                _text(entry, "note", required=False),
                entry,
            )
        )
    return facts


def _nonfactual(path: Path, article: Article) -> tuple[dict[str, str], dict[str, int]]:
    if not path.exists():
        return {}, {}
    data = load_mapping(path, fix="write lines like 'h1: section heading'")
    if data is None:
        return {}, {}
    reasons = {}
    for key, reason in data.values.items():
        if key not in article.segments or article.segments[key].kind == "paragraph":
            raise data.error(
                f"{key!r} is not a sentence, title or heading of the article",
                key=key,
                fix="use an id from `kgpub coverage`",
            )
        if not isinstance(reason, str) or not reason.strip():
            raise data.error(
                f"the reason for {key!r} is empty",
                key=key,
                fix="say why this sentence states no fact",
            )
        reasons[key] = reason
    return reasons, dict(data.key_lines)


def referenced_entities(data: ArticleData) -> Iterable[str]:
    """Every entity id the article's facts or registry name."""
    yield from (e.id for e in data.entities)
    for fact in data.facts:
        yield fact.subject
        for st in fact.statements:
            yield from (v for v in st.values if isinstance(v, str))
