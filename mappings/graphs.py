"""Turn an article's text and curated data into RDF graphs (rdflib).

Per article: one text graph (NIF 2.0), one graph per fact (the triples it asserts, registry entries
included) and one provenance graph (each fact graph -> the sentence it was derived from).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from rdflib import OWL, RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, PROV, SKOS

from .errors import DataError
from .facts import ArticleData, Entity, Fact, Statement, referenced_entities
from .iris import Minter
from .kgo import KGO
from .ontology import Ontology, Property

NIF = Namespace("http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#")
ITSRDF = Namespace("http://www.w3.org/2005/11/its/rdf#")
SCHEMA = Namespace("http://schema.org/")

PREFIXES = {
    "kgo": KGO,
    "nif": NIF,
    "itsrdf": ITSRDF,
    "schema": SCHEMA,
    "prov": PROV,
    "skos": SKOS,
    "dct": DCTERMS,
    "owl": OWL,
    "rdfs": RDFS,
    "rdf": RDF,
    "xsd": XSD,
    "foaf": Namespace("http://xmlns.com/foaf/0.1/"),
    "org": Namespace("http://www.w3.org/ns/org#"),
    "void": Namespace("http://rdfs.org/ns/void#"),
    "dcat": Namespace("http://www.w3.org/ns/dcat#"),
}


# the entity id by which a fact names the article it comes from
THIS_ARTICLE = "this-article"


def new_graph() -> Graph:
    graph = Graph(bind_namespaces="none")
    for prefix, ns in PREFIXES.items():
        graph.bind(prefix, ns)
    return graph


def offset(value: int) -> Literal:
    return Literal(value, datatype=XSD.nonNegativeInteger)


@dataclass
class ArticleGraphs:
    text: Graph
    facts: dict[URIRef, Graph]  # fact graph name -> its triples
    provenance: Graph


class Mapper:
    """Maps articles with a shared entity registry and ontology."""

    def __init__(self, minter: Minter, ontology: Ontology, registry: dict[str, Entity]) -> None:
        self.minter = minter
        self.ontology = ontology
        self.registry = registry

    # ---------------------------------------------------------------- facts
    def map_article(self, data: ArticleData) -> ArticleGraphs:
        facts: dict[URIRef, Graph] = {}
        provenance = new_graph()
        for entity in data.entities:
            name = self.minter.fact(data.slug, f"entity-{entity.id}")
            facts[name] = self.entity_graph(entity, data.language)
            self._provenance(
                provenance,
                name,
                data,
                entity.citation.sentence,
                entity.citation.quote,
                f"entity-{entity.id}",
            )
            for link in entity.same_as:
                provenance.add((name, RDFS.seeAlso, URIRef(link.source)))
        for fact in data.facts:
            name = self.minter.fact(data.slug, fact.id)
            facts[name] = self.fact_graph(fact, data.language, data.slug)
            self._provenance(
                provenance, name, data, fact.citation.sentence, fact.citation.quote, fact.id
            )
        cited = {f.citation.sentence for f in data.facts} | {
            e.citation.sentence for e in data.entities
        }
        return ArticleGraphs(self.text_graph(data, cited), facts, provenance)

    def _provenance(
        self, graph: Graph, name: URIRef, data: ArticleData, sentence: str, quote: str, ident: str
    ) -> None:
        graph.add((name, RDF.type, KGO.Fact))
        graph.add((name, DCTERMS.identifier, Literal(ident)))
        graph.add((name, PROV.wasDerivedFrom, self.minter.segment(data.slug, sentence)))
        graph.add((name, KGO.quote, Literal(quote)))

    def entity_graph(self, entity: Entity, lang: str) -> Graph:
        graph = new_graph()
        node = self.minter.entity(entity.id)
        for name in entity.types:
            graph.add((node, RDF.type, self._class(name, entity.where, "type")))
        graph.add((node, RDFS.label, Literal(entity.label, lang=lang)))
        for alt in entity.alt_labels:
            graph.add((node, SKOS.altLabel, Literal(alt, lang=lang)))
        if entity.description:
            graph.add((node, SCHEMA.description, Literal(entity.description, lang=lang)))
        for link in entity.same_as:
            if not re.match(r"^https?://\S+$", link.iri):
                raise entity.where.error(
                    f"sameAs IRI {link.iri!r} is not an http(s) IRI",
                    key="sameAs",
                    fix="write the full entity IRI",
                )
            graph.add((node, OWL.sameAs, URIRef(link.iri)))
        return graph

    def fact_graph(self, fact: Fact, lang: str, slug: str) -> Graph:
        graph = new_graph()
        subject = self._entity_ref(fact.subject, fact, "subject", slug=slug)
        for statement in fact.statements:
            prop = self.ontology.property(statement.prop)
            if prop is None:
                raise DataError(
                    f"unknown property {statement.prop!r} in fact {fact.id!r}",
                    path=fact.where.path,
                    line=statement.line,
                    fix="use a property declared in ontology/kgpub.ttl (a bare name means kgo:), "
                    "or declare it there first",
                )
            for value in statement.values:
                graph.add(
                    (subject, prop.iri, self._value(prop, value, fact, statement, lang, slug))
                )
        return graph

    def _value(
        self, prop: Property, value: object, fact: Fact, st: Statement, lang: str, slug: str
    ) -> URIRef | Literal:
        if prop.kind == "type":
            return self._class(str(value), fact.where, st.prop, st.line)
        if prop.kind == "object":
            if not isinstance(value, str):
                raise DataError(
                    f"{st.prop!r} links to entities, but the value {value!r} is not an entity id",
                    path=fact.where.path,
                    line=st.line,
                    fix="write the id of an entity registered in entities.yaml",
                )
            return self._entity_ref(value, fact, st.prop, st.line, slug)
        if isinstance(value, (dict, list)) or value is None or hasattr(value, "values"):
            raise DataError(
                f"{st.prop!r} takes a plain value, got {value!r}",
                path=fact.where.path,
                line=st.line,
                fix="write text or a number",
            )
        if self.ontology.is_lang_text(prop):
            return Literal(str(value), lang=lang)
        if prop.range is None or prop.range == XSD.string:
            return Literal(str(value))
        literal = Literal(value, datatype=prop.range)
        if literal.ill_typed:
            raise DataError(
                f"{value!r} is not a valid {self.ontology.curie(prop.range)} for {st.prop!r}",
                path=fact.where.path,
                line=st.line,
                fix=f"write a value of type {self.ontology.curie(prop.range)}",
            )
        return literal

    def _class(self, name: str, where, key: str, line: int | None = None) -> URIRef:
        iri = self.ontology.cls(name)
        if iri is None:
            raise DataError(
                f"unknown class {name!r}",
                path=where.path,
                line=line or where.line_of(key),
                fix="use a class declared in ontology/kgpub.ttl (bare name = kgo:), "
                "or declare it there first",
            )
        return iri

    def _entity_ref(
        self, ident: str, fact: Fact, key: str, line: int | None = None, slug: str = ""
    ) -> URIRef:
        if ident == THIS_ARTICLE:
            return self.minter.article(slug)
        if ident not in self.registry:
            raise DataError(
                f"unknown entity {ident!r} in fact {fact.id!r}",
                path=fact.where.path,
                line=line or fact.where.line_of(key),
                fix="register it in entities.yaml (id, type, label, sentence, quote) "
                "or correct the id",
            )
        return self.minter.entity(ident)

    # ---------------------------------------------------------------- text
    def text_graph(self, data: ArticleData, cited: set[str]) -> Graph:
        graph = new_graph()
        art = data.article
        lang = data.language
        doc = self.minter.article(data.slug)
        for cls in (KGO.Article, NIF.Context, SCHEMA.NewsArticle):
            graph.add((doc, RDF.type, cls))
        graph.add((doc, NIF.isString, Literal(art.text)))
        graph.add((doc, NIF.beginIndex, offset(0)))
        graph.add((doc, NIF.endIndex, offset(len(art.text))))
        graph.add((doc, RDFS.label, Literal(art.title.text, lang=lang)))
        graph.add((doc, DCTERMS.title, Literal(art.title.text, lang=lang)))
        graph.add((doc, SCHEMA.headline, Literal(art.title.text, lang=lang)))
        graph.add((doc, DCTERMS.language, Literal(lang)))
        for key, prop in (
            ("publisher", DCTERMS.publisher),
            ("source", DCTERMS.source),
            ("author", DCTERMS.creator),
        ):
            if data.meta.get(key):
                graph.add((doc, prop, _iri_or_text(str(data.meta[key]))))
        if data.meta.get("license"):
            graph.add((doc, DCTERMS.license, URIRef(str(data.meta["license"]))))
        if data.meta.get("url"):
            graph.add((doc, SCHEMA.url, URIRef(str(data.meta["url"]))))
        if data.meta.get("published"):
            graph.add(
                (doc, DCTERMS.issued, Literal(str(data.meta["published"]), datatype=XSD.date))
            )

        sentences = art.sentences
        for seg in art.segments.values():
            node = self.minter.segment(data.slug, seg.id)
            self._span(graph, doc, node, seg.begin, seg.end, seg.text)
            graph.add((node, DCTERMS.identifier, Literal(seg.id)))
            if seg.kind in {"title", "title-repeat", "heading"}:
                graph.add((node, RDF.type, NIF.Title))
                graph.add((node, RDFS.label, Literal(seg.text, lang=lang)))
            if seg.kind == "title-repeat":
                graph.add((node, KGO.repeats, self.minter.segment(data.slug, "title")))
                graph.add(
                    (
                        node,
                        RDFS.comment,
                        Literal(
                            "The source text repeats the headline (page title, then headline); the "
                            "repeat is kept so that offsets stay true to the file.",
                            lang="en",
                        ),
                    )
                )
            elif seg.kind == "paragraph":
                graph.add((node, RDF.type, NIF.Paragraph))
                graph.add((node, RDFS.label, Literal(f"Paragraph {seg.id}", lang="en")))
                graph.add((node, NIF.superString, self.minter.segment(data.slug, seg.section)))
            elif seg.kind == "sentence":
                graph.add((node, RDF.type, NIF.Sentence))
                graph.add((node, RDFS.label, Literal(f"Sentence {seg.id}", lang="en")))
                graph.add((node, NIF.superString, self.minter.segment(data.slug, seg.parent or "")))
            if seg.id in data.nonfactual:
                graph.add((node, KGO.nonFactualReason, Literal(data.nonfactual[seg.id], lang="en")))
        for before, after in pairwise(sentences):
            a = self.minter.segment(data.slug, before.id)
            b = self.minter.segment(data.slug, after.id)
            graph.add((a, NIF.nextSentence, b))
            graph.add((b, NIF.previousSentence, a))
        for section in art.sections:
            node = self.minter.segment(data.slug, section.id)
            parts = ([section.heading] if section.heading else []) + section.paragraphs
            first, last = art.segments[parts[0]], art.segments[parts[-1]]
            self._span(graph, doc, node, first.begin, last.end, None)
            graph.add((node, RDF.type, KGO.Section))
            graph.add((node, DCTERMS.identifier, Literal(section.id)))
            graph.add((node, SCHEMA.isPartOf, doc))
            graph.add((doc, SCHEMA.hasPart, node))
            heading = art.segments[section.heading].text if section.heading else "Lead"
            graph.add((node, RDFS.label, Literal(heading, lang=lang)))
            if section.heading:
                graph.add((self.minter.segment(data.slug, section.heading), NIF.superString, node))
        self._mentions(graph, data, doc)
        return graph

    def _span(
        self, graph: Graph, doc: URIRef, node: URIRef, begin: int, end: int, text: str | None
    ) -> None:
        graph.add((node, RDF.type, NIF.String))
        graph.add((node, NIF.referenceContext, doc))
        graph.add((node, NIF.beginIndex, offset(begin)))
        graph.add((node, NIF.endIndex, offset(end)))
        if text is not None:
            graph.add((node, NIF.anchorOf, Literal(text)))

    def _mentions(self, graph: Graph, data: ArticleData, doc: URIRef) -> None:
        """Link every surface form of the entities this article names to the entity."""
        forms: dict[str, str] = {}
        for ident in sorted(set(referenced_entities(data)) & set(self.registry)):
            for form in self.registry[ident].mentions:
                forms.setdefault(form, ident)
        if not forms:
            return
        # longest forms first, whole words only, no overlaps
        pattern = re.compile(
            r"(?<!\w)("
            + "|".join(re.escape(f) for f in sorted(forms, key=lambda f: (-len(f), f)))
            + r")(?!\w)"
        )
        for seg in data.article.segments.values():
            if seg.kind not in {"sentence", "title", "heading"}:
                continue
            for match in pattern.finditer(data.article.text, seg.begin, seg.end):
                begin, end = match.span()
                node = self.minter.mention(data.slug, begin, end)
                self._span(graph, doc, node, begin, end, match.group(0))
                graph.add((node, RDF.type, NIF.Phrase))
                graph.add((node, NIF.superString, self.minter.segment(data.slug, seg.id)))
                graph.add((node, ITSRDF.taIdentRef, self.minter.entity(forms[match.group(0)])))


def _iri_or_text(value: str) -> URIRef | Literal:
    return URIRef(value) if re.match(r"^https?://\S+$", value) else Literal(value)
