"""Generate a synthetic knowledge graph in the shape of the published one, for benchmarks.

The graph imitates what the build publishes for real articles (data/README.md, mappings/graphs.py):
per article a text graph (NIF 2.0: the context, title, sections, paragraphs, sentences and entity
mentions), one named graph per fact (registry entries included) and a provenance graph
(``<fact> a kgo:Fact; prov:wasDerivedFrom <sentence>; kgo:quote "..."``); then the inferred graph
(the superclasses of every entity and the super-, inverse and transitive links that the ontology
entails from the facts), the ontology graph (ontology/kgpub.ttl, read with pyoxigraph, or a sketch
of its terms when it is missing) and the dataset description.

A few hub entities (countries and organisations) receive a large share of the links, so that the
pages and queries of hubs can be measured. A gazetteer of the localities of the biggest hub country
(``graph/gazetteer``: ``kgo:locatedIn`` and what the ontology entails from it) gives that country
about a tenth of all triples as incoming links: over 100,000 from 1M triples on. Output is
streamed article by article, so 10M triples need little memory. The same seed, size and ontology
give the same file, byte for byte.

Beside the data file, a manifest (``<name>.json``) lists what the benchmark queries need: hub IRIs,
a sample of ordinary entities, label search terms, and counts.

    python bench/generate.py --triples 100000            # bench/data/kg-100k.nq
    python bench/generate.py --triples 1M --format trig  # bench/data/kg-1m.trig
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

BASE = "https://w3id.org/kgpub/"
KGO = "https://w3id.org/kgpub/ontology#"
ONTOLOGY_IRI = "https://w3id.org/kgpub/ontology"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
OWL = "http://www.w3.org/2002/07/owl#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
PROV = "http://www.w3.org/ns/prov#"
ORG = "http://www.w3.org/ns/org#"
NIF = "http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#"
ITSRDF = "http://www.w3.org/2005/11/its/rdf#"
DCT = "http://purl.org/dc/terms/"
VOID = "http://rdfs.org/ns/void#"
SCHEMA = "http://schema.org/"

MANIFEST_VERSION = 2  # bench/run.py generates data again when this changes

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUT_DIR = BENCH_DIR / "data"
ONTOLOGY_FILE = BENCH_DIR.parent / "ontology" / "kgpub.ttl"


def iri(value: str) -> str:
    return f"<{value}>"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")


def lang(text: str, tag: str = "en") -> str:
    return f'"{_escape(text)}"@{tag}'


def plain(text: str) -> str:
    return f'"{_escape(text)}"'


def typed(value: object, datatype: str) -> str:
    return f'"{value}"^^<{datatype}>'


def nonneg(value: int) -> str:
    return typed(value, XSD + "nonNegativeInteger")


# terms used in every article, rendered once
A = iri(RDF + "type")
LABEL = iri(RDFS + "label")
COMMENT = iri(RDFS + "comment")
SUBCLASS = iri(RDFS + "subClassOf")
ALT = iri(SKOS + "altLabel")
DESCRIPTION = iri(SCHEMA + "description")
DERIVED = iri(PROV + "wasDerivedFrom")
QUOTE = iri(KGO + "quote")
FACT = iri(KGO + "Fact")
SUBORG = iri(ORG + "subOrganizationOf")
HAS_SUBORG = iri(ORG + "hasSubOrganization")
MEMBER_OF = iri(ORG + "memberOf")
VISITOR = iri(KGO + "visitor")
DESTINATION = iri(KGO + "destination")
ORIGIN = iri(KGO + "origin")
PROVIDER = iri(KGO + "provider")
RECIPIENT = iri(KGO + "recipient")
CHAIR = iri(KGO + "chair")
LOCATED_IN = iri(KGO + "locatedIn")
NIF_CONTEXT = iri(NIF + "Context")
NIF_PARAGRAPH = iri(NIF + "Paragraph")
NIF_SENTENCE = iri(NIF + "Sentence")
NIF_PHRASE = iri(NIF + "Phrase")
NIF_TITLE = iri(NIF + "Title")
IS_STRING = iri(NIF + "isString")
ANCHOR = iri(NIF + "anchorOf")
BEGIN = iri(NIF + "beginIndex")
END = iri(NIF + "endIndex")
REF_CONTEXT = iri(NIF + "referenceContext")
SUPER_STRING = iri(NIF + "superString")
TA_IDENT = iri(ITSRDF + "taIdentRef")
DCT_TITLE = iri(DCT + "title")
DCT_SOURCE = iri(DCT + "source")
DCT_LICENSE = iri(DCT + "license")
IDENTIFIER = iri(DCT + "identifier")
LICENSE = iri("https://creativecommons.org/licenses/by/4.0/")
HEADLINE = iri(SCHEMA + "headline")
NEWS_ARTICLE = iri(SCHEMA + "NewsArticle")
IS_PART_OF = iri(SCHEMA + "isPartOf")
HAS_PART = iri(SCHEMA + "hasPart")
KGO_ARTICLE = iri(KGO + "Article")
KGO_SECTION = iri(KGO + "Section")
NONFACTUAL = iri(KGO + "nonFactualReason")
NIF_STRING = iri(NIF + "String")
NEXT_SENTENCE = iri(NIF + "nextSentence")
PREVIOUS_SENTENCE = iri(NIF + "previousSentence")
DCT_LANGUAGE = iri(DCT + "language")

SUBPROPERTY = iri(RDFS + "subPropertyOf")
INVERSE_OF = iri(OWL + "inverseOf")
SYMMETRIC = iri(OWL + "SymmetricProperty")
TRANSITIVE = iri(OWL + "TransitiveProperty")

# the entity classes of the data, with the superclass the sketch ontology gives them (the real
# ontology, ontology/kgpub.ttl, is used instead when it exists)
SKETCH_CLASSES: dict[str, str] = {
    "Person": KGO + "Agent",
    "Organization": KGO + "Agent",
    "Country": KGO + "Place",
    "Visit": KGO + "Event",
    "Assistance": KGO + "Event",
    "MeetingSeries": KGO + "Event",
}
SKETCH_PROPERTIES = {
    "visitor": ("Visit", "Person"),
    "destination": ("Visit", "Country"),
    "origin": ("Visit", "Country"),
    "provider": ("Assistance", "Agent"),
    "recipient": ("Assistance", "Agent"),
    "chair": ("MeetingSeries", "Person"),
    "quote": ("Fact", None),
}


def words(text: str) -> tuple[str, ...]:
    """Split a word list on '|' when it has one, else on white space."""
    return tuple(text.split("|") if "|" in text else text.split())


# word lists for labels and sentences; label search terms are the surname syllables
FIRST_NAMES = words(
    "Ada Alma Amir Anna Aris Bela Boris Carla Cyril Dana Dario Elena Elio Emil Enzo Erik Eva Farid "
    "Fiona Gala Goran Hana Hugo Ilse Ines Ivan Jana Jonas Kai Karin Lara Leon Lina Luca Mara Marek "
    "Mila Nadia Nils Noor Omar Ola Pablo Petra Rafael Rosa Sami Sara Tomas Una Vera Yusuf Zora"
)
SYLLABLES = words(
    "bar ber cal dor fen gar hal jor kas lan mor nel pav quin ros sal tam val wen zar ard "
    "bel cor del ent fal gol hen ist lor mar nor ost per rin sel tor ulm ver wil"
)
ORG_WORDS = words(
    "Northern Southern Eastern Western Central United National Federal Joint Regional "
    "Civic Maritime Border Strategic Public Coastal Allied Independent Democratic"
)
ORG_KINDS = words(
    "Security Council|Defence Agency|Police Command|Development Fund|Trade Office|Coast Guard|"
    "Intelligence Service|Ministry of Interior|Ministry of Defence|Customs Authority|"
    "Prosecution Service|Border Agency|Naval Command|Relief Agency|Justice Department"
)
VERBS = words(
    "met|spoke with|visited|praised|announced support for|criticised|signed an accord with|"
    "thanked|welcomed|hosted|called on|joined"
)
FILLER = words(
    "on Tuesday|during the talks|according to officials|in a joint statement|earlier this month|"
    "amid rising violence|at the capital|in a televised address|after a closed meeting|"
    "to discuss security cooperation|under the new agreement|for the second time this year"
)
LEAD = words(
    "Officials said|Reports indicate that|Observers noted that|The statement added that|"
    "Analysts argue that|Sources confirmed that"
)
HUB_COUNTRIES = ("Republic of Aldoria", "Velmoran Federation", "Kingdom of Ostrava")
HUB_ORGS = ("United Assembly of Nations", "Continental Security Alliance")
# localities are numbered, not named from SYLLABLES: the label searches' terms stay selective
LOCALITY_KINDS = ("Township", "Hamlet")


def parse_size(text: str) -> int:
    """'10k' -> 10000, '1M' -> 1000000, '250000' -> 250000."""
    value = text.strip().lower().replace("_", "")
    factor = 1
    if value.endswith("k"):
        factor, value = 1_000, value[:-1]
    elif value.endswith("m"):
        factor, value = 1_000_000, value[:-1]
    return int(float(value) * factor)


def size_label(triples: int) -> str:
    """1000000 -> '1m', 100000 -> '100k', 12345 -> '12345'."""
    if triples % 1_000_000 == 0:
        return f"{triples // 1_000_000}m"
    if triples % 1_000 == 0:
        return f"{triples // 1_000}k"
    return str(triples)


def slugify(label: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "-" for ch in label)
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")


@dataclass(eq=False)
class Entity:
    slug: str
    kind: str
    label: str
    alt: list[str] = field(default_factory=list)
    hub: bool = False

    @property
    def iri(self) -> str:
        return iri(BASE + "id/" + self.slug)


@dataclass
class Fact:
    fact_id: str
    triples: list[tuple[str, str, str]]
    mentions: list[Entity]
    entity: Entity | None = None  # set for a registry fact (entity-<id>)


class Registry:
    """Every entity minted so far, by kind; slugs are unique across the graph."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.by_kind: dict[str, list[Entity]] = {kind: [] for kind in SKETCH_CLASSES}
        self.ordinary: dict[str, list[Entity]] = {kind: [] for kind in SKETCH_CLASSES}  # not hubs
        self.slugs: set[str] = set()
        self.hubs: list[Entity] = []
        self.hub_countries: list[Entity] = []
        self.hub_orgs: list[Entity] = []

    def mint(
        self, kind: str, label: str, alt: list[str] | None = None, hub: bool = False
    ) -> Entity:
        base = slugify(label) or kind.lower()
        slug, n = base, 1
        while slug in self.slugs:
            n += 1
            slug = f"{base}-{n}"
        self.slugs.add(slug)
        entity = Entity(slug, kind, label, alt or [], hub)
        self.by_kind[kind].append(entity)
        (self.hubs if hub else self.ordinary[kind]).append(entity)
        return entity

    def person_label(self) -> tuple[str, list[str]]:
        r = self.rng
        surname = "".join(r.choice(SYLLABLES) for _ in range(r.choice((2, 2, 3)))).capitalize()
        return f"{r.choice(FIRST_NAMES)} {surname}", [surname]

    def org_label(self) -> tuple[str, list[str]]:
        r = self.rng
        label = f"{r.choice(ORG_WORDS)} {r.choice(ORG_KINDS)}"
        if r.random() < 0.5:
            label = f"{label} of {self.country_name()}"
        acronym = "".join(w[0] for w in label.split() if w[0].isupper())
        return label, [acronym]

    def country_name(self) -> str:
        r = self.rng
        stem = "".join(r.choice(SYLLABLES) for _ in range(2)).capitalize()
        return stem + r.choice(("ia", "ana", "ova", "land", "istan", "ea"))


@dataclass
class Vocabulary:
    """The ontology graph and what a reasoner draws from it for the inferred graph."""

    triples: list[tuple[str, str, str]]
    source: str = "sketch"
    supers: dict[str, list[str]] = field(default_factory=dict)  # class -> all named superclasses
    super_props: dict[str, list[str]] = field(default_factory=dict)  # direct super-properties
    inverses: dict[str, list[str]] = field(default_factory=dict)
    symmetric: set[str] = field(default_factory=set)
    transitive: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        direct: dict[str, list[str]] = {}
        for s, p, o in self.triples:
            if not (s.startswith("<") and o.startswith("<")):
                continue
            if p == SUBCLASS:
                direct.setdefault(s, []).append(o)
            elif p == SUBPROPERTY:
                self.super_props.setdefault(s, []).append(o)
            elif p == INVERSE_OF:
                self.inverses.setdefault(s, []).append(o)
                self.inverses.setdefault(o, []).append(s)
            elif p == A and o == SYMMETRIC:
                self.symmetric.add(s)
            elif p == A and o == TRANSITIVE:
                self.transitive.add(s)
        for cls in direct:
            found: dict[str, None] = {}
            todo = list(direct[cls])
            while todo:
                parent = todo.pop(0)
                if parent not in found and parent != cls:
                    found[parent] = None
                    todo += direct.get(parent, [])
            self.supers[cls] = list(found)

    def entail(
        self, triple: tuple[str, str, str], closure: dict[tuple[str, str], dict[str, None]]
    ) -> list[tuple[str, str, str]]:
        """Triples that follow from one asserted link: super-, inverse, symmetric and transitive
        properties. ``closure`` keeps, per transitive property and subject, what it reaches."""
        seen = {triple}
        todo = [triple]
        out = []
        while todo:
            s, p, o = todo.pop(0)
            follows = [(s, q, o) for q in self.super_props.get(p, ())]
            follows += [(o, r, s) for r in self.inverses.get(p, ())]
            if p in self.symmetric:
                follows.append((o, p, s))
            if p in self.transitive:
                beyond = closure.get((p, o), {})
                follows += [(s, p, a) for a in beyond]
                closure.setdefault((p, s), {}).update({o: None, **beyond})
            for t in follows:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
                    out.append(t)
        return out


def load_vocabulary(path: Path = ONTOLOGY_FILE) -> Vocabulary:
    """The real ontology when it exists and parses, else a sketch of the terms the data uses."""
    if path.exists():
        try:
            import pyoxigraph

            triples = [
                (str(t.subject), str(t.predicate), str(t.object))
                for t in pyoxigraph.parse(path=str(path), format=pyoxigraph.RdfFormat.TURTLE)
            ]
            return Vocabulary(triples, str(path.relative_to(BENCH_DIR.parent)))
        except (ImportError, SyntaxError, OSError) as exc:
            print(f"note: {path} not used ({exc}); using a sketch", file=sys.stderr)
    t: list[tuple[str, str, str]] = []
    onto = iri(ONTOLOGY_IRI)
    t += [(onto, A, iri(OWL + "Ontology")), (onto, LABEL, lang("kgpub ontology"))]
    for name, parent in [*SKETCH_CLASSES.items(), ("Fact", PROV + "Entity")]:
        cls = iri(KGO + name)
        t += [(cls, A, iri(OWL + "Class")), (cls, LABEL, lang(name)), (cls, SUBCLASS, iri(parent))]
    for name, (domain, rng) in SKETCH_PROPERTIES.items():
        prop = iri(KGO + name)
        kind = "ObjectProperty" if rng else "DatatypeProperty"
        t += [(prop, A, iri(OWL + kind)), (prop, LABEL, lang(name))]
        t.append((prop, iri(RDFS + "domain"), iri(KGO + domain)))
        if rng:
            t.append((prop, iri(RDFS + "range"), iri(KGO + rng)))
    t += [(SUBORG, INVERSE_OF, HAS_SUBORG), (MEMBER_OF, INVERSE_OF, iri(ORG + "hasMember"))]
    return Vocabulary(t)


class Generator:
    """Builds one article at a time: its text graph, its facts and their provenance."""

    def __init__(self, seed: int, hub_share: float, vocab: Vocabulary) -> None:
        self.rng = random.Random(seed)
        self.vocab = vocab
        self.closure: dict[tuple[str, str], dict[str, None]] = {}  # of transitive properties
        self.reg = Registry(self.rng)
        self.hub_share = hub_share
        self.max_countries = 250
        self.pending: list[Entity] = []  # minted, not yet registered by an article

    def hubs_first(self) -> None:
        """Mint the hubs; the first article registers them."""
        for name in HUB_COUNTRIES:
            self.reg.hub_countries.append(self.reg.mint("Country", name, [name.split()[-1]], True))
        for name in HUB_ORGS:
            acronym = "".join(w[0] for w in name.split() if w[0].isupper())
            self.reg.hub_orgs.append(self.reg.mint("Organization", name, [acronym], True))
        self.pending = list(self.reg.hubs)

    # choosing the entities a fact links to
    def pick(self, kind: str, hub_pool: list[Entity], p_hub: float) -> Entity | None:
        r = self.rng
        if hub_pool and r.random() < p_hub:
            # skewed among hubs: the first one is the biggest
            weights = [1.0 / (i + 1) for i in range(len(hub_pool))]
            return r.choices(hub_pool, weights)[0]
        pool = self.reg.ordinary[kind] or self.reg.by_kind[kind]
        if not pool:
            return None
        # recent entities are more likely to be named again, older ones still appear
        if r.random() < 0.7:
            return pool[r.randrange(max(0, len(pool) - 2000), len(pool))]
        return pool[r.randrange(len(pool))]

    def new_entity(self, kind: str) -> Entity:
        r = self.reg
        if kind == "Person":
            label, alt = r.person_label()
        elif kind == "Organization":
            label, alt = r.org_label()
        elif kind == "Country":
            name = r.country_name()
            label, alt = f"Republic of {name}", [name]
        else:
            raise ValueError(kind)
        return r.mint(kind, label, alt)

    def article(self, index: int) -> tuple[str, list[Fact]]:
        """The slug of article ``index`` and its facts (registry facts first)."""
        r = self.rng
        slug = f"article-{index:06d}"
        facts: list[Fact] = []
        new: list[Entity] = self.pending
        self.pending = []
        new += [self.new_entity("Person") for _ in range(r.choice((1, 2, 2, 3)))]
        if r.random() < 0.8:
            new.append(self.new_entity("Organization"))
        countries = self.reg.by_kind["Country"]
        if len(countries) < self.max_countries and r.random() < 0.3:
            new.append(self.new_entity("Country"))
        events: list[Fact] = []
        h = self.hub_share

        # a visit: visitors, destination, origin
        for _ in range(r.choice((1, 1, 2))):
            visitors: list[Entity] = []
            for _ in range(r.choice((1, 2))):
                person = self.pick("Person", [], 0)
                if person and person not in visitors:
                    visitors.append(person)
            dest = self.pick("Country", self.reg.hub_countries, h)
            origin = self.pick("Country", self.reg.hub_countries, h * 0.6)
            if not visitors or dest is None or origin is None:
                continue
            names = " and ".join(v.label for v in visitors)
            visit = self.reg.mint("Visit", f"Visit of {names} to {dest.label}")
            new.append(visit)
            triples = [(visit.iri, VISITOR, v.iri) for v in visitors]
            events.append(Fact(f"{visit.slug}-visitors", triples, visitors))
            events.append(
                Fact(
                    f"{visit.slug}-route",
                    [(visit.iri, DESTINATION, dest.iri), (visit.iri, ORIGIN, origin.iri)],
                    [dest, origin],
                )
            )

        # an act of assistance between agents
        if r.random() < 0.8:
            provider = self.pick("Organization", self.reg.hub_orgs + self.reg.hub_countries, h)
            recipient = self.pick("Country", self.reg.hub_countries, h)
            if provider and recipient and provider is not recipient:
                act = self.reg.mint("Assistance", f"Assistance from {provider.label}")
                new.append(act)
                events.append(
                    Fact(
                        f"{act.slug}-parties",
                        [(act.iri, PROVIDER, provider.iri), (act.iri, RECIPIENT, recipient.iri)],
                        [provider, recipient],
                    )
                )

        # a meeting series with its chair
        if r.random() < 0.3:
            chair = self.pick("Person", [], 0)
            if chair:
                series = self.reg.mint("MeetingSeries", f"{self.reg.country_name()} Talks")
                new.append(series)
                events.append(
                    Fact(f"{series.slug}-chair", [(series.iri, CHAIR, chair.iri)], [chair])
                )

        # new people work for an organisation, often a hub
        for person in [e for e in new if e.kind == "Person"]:
            if r.random() < 0.7:
                employer = self.pick("Organization", self.reg.hub_orgs, h)
                if employer:
                    events.append(
                        Fact(
                            f"{person.slug}-member",
                            [(person.iri, MEMBER_OF, employer.iri)],
                            [person, employer],
                        )
                    )

        # new organisations belong to a bigger one, often a hub
        for org in [e for e in new if e.kind == "Organization" and not e.hub]:
            parent = self.pick("Organization", self.reg.hub_orgs, min(1.0, h * 1.5))
            if parent and parent is not org:
                events.append(
                    Fact(f"{org.slug}-parent", [(org.iri, SUBORG, parent.iri)], [org, parent])
                )

        for entity in new:
            triples = [
                (entity.iri, A, iri(KGO + entity.kind)),
                (entity.iri, LABEL, lang(entity.label)),
            ]
            triples += [(entity.iri, ALT, lang(alt)) for alt in entity.alt]
            if r.random() < 0.5:
                triples.append((entity.iri, DESCRIPTION, lang(f"{entity.kind} named in {slug}.")))
            facts.append(Fact(f"entity-{entity.slug}", triples, [entity], entity))
        return slug, facts + events


@dataclass
class Stats:
    quads: int = 0
    by_graph_kind: Counter[str] = field(default_factory=Counter)
    hub_incoming: Counter[str] = field(default_factory=Counter)
    classes: Counter[str] = field(default_factory=Counter)
    term_contains: Counter[str] = field(default_factory=Counter)  # labels containing a term
    term_word_start: Counter[str] = field(default_factory=Counter)  # ... with a word starting so
    articles: int = 0
    facts: int = 0
    sentences: int = 0
    localities: int = 0
    gazetteer_quads: int = 0  # with what the inferred graph holds about the localities


class Sink:
    """Writes quads as N-Quads (line by line) or TriG (one block per graph and article)."""

    def __init__(self, out: TextIO, fmt: str, hub_iris: set[str]) -> None:
        self.out = out
        self.fmt = fmt
        self.hub_iris = hub_iris
        self.stats = Stats()
        self.blocks: dict[str, list[str]] = {}

    def count_terms(self, literal: str) -> None:
        """Count the labels the label-search queries would find for each term."""
        text = literal[1 : literal.rindex('"')].lower()
        for term in SYLLABLES:
            if term in text:
                self.stats.term_contains[term] += 1
                if text.startswith(term) or " " + term in text:
                    self.stats.term_word_start[term] += 1

    def quad(self, kind: str, graph: str, s: str, p: str, o: str) -> None:
        st = self.stats
        st.quads += 1
        st.by_graph_kind[kind] += 1
        if o in self.hub_iris:
            st.hub_incoming[o] += 1
        if p == A:
            st.classes[o] += 1
        elif p == LABEL:
            self.count_terms(o)
        if self.fmt == "nq":
            self.out.write(f"{s} {p} {o} {graph} .\n")
        else:
            self.blocks.setdefault(graph, []).append(f"  {s} {p} {o} .\n")

    def flush(self) -> None:
        if self.fmt == "trig":
            for graph, lines in self.blocks.items():
                self.out.write(f"{graph} {{\n")
                self.out.writelines(lines)
                self.out.write("}\n")
            self.blocks.clear()


@dataclass
class Segment:
    """A block or sentence of the generated text, with the entity names placed in it."""

    seg_id: str
    kind: str  # title, heading, paragraph or sentence
    begin: int
    end: int
    text: str
    parent: str  # the section of a heading or paragraph, the paragraph of a sentence
    mentions: list[tuple[int, int, Entity]] = field(default_factory=list)
    cites: list[Fact] = field(default_factory=list)


@dataclass
class Section:
    sec_id: str
    heading: Segment | None
    paragraphs: list[Segment] = field(default_factory=list)


def compose(
    gen: Generator, index: int, cites: list[list[Fact]]
) -> tuple[str, list[Segment], list[Section]]:
    """The article text: a title, then paragraphs of sentences, now and then under a heading.

    Every sentence names the entities of the facts that cite it, and often a hub or two.
    """
    r = gen.rng
    title = f"{r.choice(HUB_COUNTRIES)} and the {r.choice(ORG_KINDS)}: report {index}"
    segments = [Segment("title", "title", 0, len(title), title, "sec0")]
    sections = [Section("sec0", None)]
    blocks = [title]
    offset = len(title) + 2  # blocks are separated by a blank line
    n_par = n_head = 0
    pending: list[Segment] = []  # sentences of the paragraph being written

    def close_paragraph() -> None:
        nonlocal offset, n_par
        text = " ".join(s.text for s in pending)
        begin = pending[0].begin
        par = Segment(f"p{n_par}", "paragraph", begin, begin + len(text), text, sections[-1].sec_id)
        segments.append(par)
        segments.extend(pending)
        sections[-1].paragraphs.append(par)
        blocks.append(text)
        offset = par.end + 2
        pending.clear()

    for i, cited in enumerate(cites):
        if not pending:
            if n_par and r.random() < 0.15:
                n_head += 1
                heading_text = f"{r.choice(ORG_WORDS)} {r.choice(ORG_KINDS)} under pressure"
                heading = Segment(
                    f"h{n_head}",
                    "heading",
                    offset,
                    offset + len(heading_text),
                    heading_text,
                    f"sec{n_head}",
                )
                segments.append(heading)
                sections.append(Section(f"sec{n_head}", heading))
                blocks.append(heading_text)
                offset = heading.end + 2
            n_par += 1
        mentioned: list[Entity] = []
        for fact in cited:
            for e in fact.mentions:
                if e not in mentioned and e.kind in ("Person", "Organization", "Country"):
                    mentioned.append(e)
        # news text names the big players again and again
        for _ in range(round(8 * gen.hub_share)):
            if r.random() < gen.hub_share * 2:
                hub = r.choice(gen.reg.hubs)
                if hub not in mentioned:
                    mentioned.append(hub)
        begin = offset
        pieces = [r.choice(LEAD)]
        cursor = begin + len(pieces[0]) + 1
        spans: list[tuple[int, int, Entity]] = []
        for j, e in enumerate(mentioned):
            if j:
                verb = r.choice(VERBS)
                pieces.append(verb)
                cursor += len(verb) + 1
            spans.append((cursor, cursor + len(e.label), e))
            pieces.append(e.label)
            cursor += len(e.label) + 1
        pieces.append(r.choice(FILLER) + ".")
        text = " ".join(pieces)
        sentence = Segment(
            f"p{n_par}s{len(pending) + 1}",
            "sentence",
            begin,
            begin + len(text),
            text,
            f"p{n_par}",
            spans,
            cited,
        )
        pending.append(sentence)
        offset = sentence.end + 1
        if i == len(cites) - 1 or (len(pending) >= 2 and r.random() < 0.35):
            close_paragraph()
    text = "\n\n".join(blocks) + "\n"
    for seg in segments:
        assert text[seg.begin : seg.end] == seg.text, seg.seg_id
        for m_begin, m_end, entity in seg.mentions:
            assert text[m_begin:m_end] == entity.label
    return text, segments, sections


def write_article(sink: Sink, gen: Generator, index: int) -> list[Entity]:
    """Write one article's graphs the way the build maps them; return the entities it registered."""
    r = gen.rng
    slug, facts = gen.article(index)
    art = BASE + f"article/{slug}"
    doc = iri(art)
    text_g = iri(BASE + f"graph/text/{slug}")
    prov_g = iri(BASE + f"graph/provenance/{slug}")
    inferred_g = iri(BASE + "graph/inferred")

    # every fact cites one sentence; some sentences state no fact
    n_sentences = max(len(facts) // 2 + r.randint(2, 6), 4)
    cites: list[list[Fact]] = [[] for _ in range(n_sentences)]
    for fact in facts:
        cites[r.randrange(n_sentences)].append(fact)
    text, segments, sections = compose(gen, index, cites)
    title = segments[0].text

    def q(s: str, p: str, o: str) -> None:
        sink.quad("text", text_g, s, p, o)

    def span(node: str, begin: int, end: int, anchor: str | None) -> None:
        q(node, A, NIF_STRING)
        q(node, REF_CONTEXT, doc)
        q(node, BEGIN, nonneg(begin))
        q(node, END, nonneg(end))
        if anchor is not None:
            q(node, ANCHOR, plain(anchor))

    for cls in (KGO_ARTICLE, NIF_CONTEXT, NEWS_ARTICLE):
        q(doc, A, cls)
    q(doc, IS_STRING, plain(text))
    q(doc, BEGIN, nonneg(0))
    q(doc, END, nonneg(len(text)))
    for prop in (LABEL, DCT_TITLE, HEADLINE):
        q(doc, prop, lang(title))
    q(doc, DCT_LANGUAGE, plain("en"))
    q(doc, DCT_SOURCE, plain("synthetic benchmark text"))
    q(doc, DCT_LICENSE, LICENSE)

    seg_iri = {seg.seg_id: iri(f"{art}/{seg.seg_id}") for seg in segments}
    seg_iri.update({sec.sec_id: iri(f"{art}/{sec.sec_id}") for sec in sections})
    sentence_nodes: list[str] = []
    for seg in segments:
        node = seg_iri[seg.seg_id]
        span(node, seg.begin, seg.end, seg.text)
        q(node, IDENTIFIER, plain(seg.seg_id))
        if seg.kind in ("title", "heading"):
            q(node, A, NIF_TITLE)
            q(node, LABEL, lang(seg.text))
            if seg.kind == "heading":
                q(node, SUPER_STRING, seg_iri[seg.parent])
        elif seg.kind == "paragraph":
            q(node, A, NIF_PARAGRAPH)
            q(node, LABEL, lang(f"Paragraph {seg.seg_id}"))
            q(node, SUPER_STRING, seg_iri[seg.parent])
        else:
            sentence_nodes.append(node)
            q(node, A, NIF_SENTENCE)
            q(node, LABEL, lang(f"Sentence {seg.seg_id}"))
            q(node, SUPER_STRING, seg_iri[seg.parent])
            if not seg.cites:
                q(node, NONFACTUAL, lang("background sentence: no fact"))
            for m_begin, m_end, entity in seg.mentions:
                mention = iri(f"{art}/char/{m_begin}-{m_end}")
                span(mention, m_begin, m_end, entity.label)
                q(mention, A, NIF_PHRASE)
                q(mention, SUPER_STRING, node)
                q(mention, TA_IDENT, entity.iri)
    for before, after in itertools.pairwise(sentence_nodes):
        q(before, NEXT_SENTENCE, after)
        q(after, PREVIOUS_SENTENCE, before)
    for sec in sections:
        parts = ([sec.heading] if sec.heading else []) + sec.paragraphs
        if not parts:
            continue
        node = seg_iri[sec.sec_id]
        span(node, parts[0].begin, parts[-1].end, None)
        q(node, A, KGO_SECTION)
        q(node, IDENTIFIER, plain(sec.sec_id))
        q(node, IS_PART_OF, doc)
        q(doc, HAS_PART, node)
        q(node, LABEL, lang(sec.heading.text if sec.heading else "Lead"))
    sink.stats.sentences += len(sentence_nodes)

    registered: list[Entity] = []
    for seg in segments:
        for fact in seg.cites:
            fact_iri = iri(BASE + f"fact/{slug}/{fact.fact_id}")
            for s, p, o in fact.triples:
                sink.quad("fact", fact_iri, s, p, o)
            quote = fact.mentions[0].label if fact.mentions else seg.text
            sink.quad("provenance", prov_g, fact_iri, A, FACT)
            sink.quad("provenance", prov_g, fact_iri, IDENTIFIER, plain(fact.fact_id))
            sink.quad("provenance", prov_g, fact_iri, DERIVED, seg_iri[seg.seg_id])
            sink.quad("provenance", prov_g, fact_iri, QUOTE, plain(quote))
            sink.stats.facts += 1
            if fact.entity is not None:
                e = fact.entity
                registered.append(e)
                for cls in gen.vocab.supers.get(iri(KGO + e.kind), ()):
                    sink.quad("inferred", inferred_g, e.iri, A, cls)
            for triple in fact.triples:
                if triple[1] != A and triple[2].startswith("<"):
                    for s, p, o in gen.vocab.entail(triple, gen.closure):
                        sink.quad("inferred", inferred_g, s, p, o)
    sink.flush()
    sink.stats.articles += 1
    return registered


def write_localities(sink: Sink, gen: Generator, share: float) -> None:
    """Add gazetteer entries until they make ``share`` of the quads written so far.

    Each locality is a place of the biggest hub country; the inferred graph gets what the
    ontology entails (its superclasses, ``schema:containedInPlace``, the inverse
    ``kgo:containsPlace``), so every locality adds two incoming links to the country.
    """
    country = gen.reg.hub_countries[0]
    graph = iri(BASE + "graph/gazetteer")
    inferred = iri(BASE + "graph/inferred")
    place = iri(KGO + "Place")
    supers = gen.vocab.supers.get(place, ())
    st = sink.stats
    while st.gazetteer_quads < share * st.quads:
        before = st.quads
        st.localities += 1
        n = st.localities
        node = iri(f"{BASE}id/locality-{n}")
        sink.quad("gazetteer", graph, node, A, place)
        sink.quad("gazetteer", graph, node, LABEL, lang(f"{LOCALITY_KINDS[n % 2]} {n}"))
        link = (node, LOCATED_IN, country.iri)
        sink.quad("gazetteer", graph, *link)
        for cls in supers:
            sink.quad("inferred", inferred, node, A, cls)
        # no locality contains another: the transitive closure needs no memory here
        for s, p, o in gen.vocab.entail(link, {}):
            sink.quad("inferred", inferred, s, p, o)
        st.gazetteer_quads += st.quads - before
    sink.flush()


def ontology_quads(sink: Sink, vocab: Vocabulary) -> None:
    g = iri(BASE + "graph/ontology")
    for s, p, o in vocab.triples:
        sink.quad("ontology", g, s, p, o)
    sink.flush()


def dataset_quads(sink: Sink, triples: int) -> None:
    g = iri(BASE + "graph/dataset")
    ds = iri(BASE + "dataset")
    q = sink.quad
    q("dataset", g, ds, A, iri(VOID + "Dataset"))
    q("dataset", g, ds, DCT_TITLE, lang("kgpub synthetic benchmark graph"))
    q("dataset", g, ds, iri(VOID + "triples"), typed(triples, XSD + "integer"))
    q("dataset", g, ds, iri(VOID + "sparqlEndpoint"), iri(BASE + "sparql"))
    sink.flush()


class Sample:
    """A fixed-size uniform sample of a stream (reservoir), reproducible from its own seed."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = random.Random(seed)
        self.items: list[Entity] = []
        self.seen = 0

    def offer(self, item: Entity) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            j = self.rng.randrange(self.seen)
            if j < self.size:
                self.items[j] = item


def generate(
    triples: int,
    out_path: Path,
    fmt: str = "nq",
    seed: int = 42,
    hub_share: float = 0.5,
    progress: bool = True,
    gazetteer_share: float = 0.33,
) -> dict[str, object]:
    """Write ``triples`` quads or up to one article more; return the manifest."""
    vocab = load_vocabulary()
    gen = Generator(seed, hub_share, vocab)
    gen.hubs_first()
    hub_iris = {e.iri for e in gen.reg.hubs}
    samples = {kind: Sample(1000, seed + i) for i, kind in enumerate(("Person", "Organization"))}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".part")
    started = time.monotonic()
    last_report = started
    with open(tmp, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as out:
        sink = Sink(out, fmt, hub_iris)
        ontology_quads(sink, vocab)
        index = 0
        while sink.stats.quads < triples - 4:
            for entity in write_article(sink, gen, index):
                if entity.kind in samples and not entity.hub:
                    samples[entity.kind].offer(entity)
            index += 1
            write_localities(sink, gen, gazetteer_share)
            now = time.monotonic()
            if progress and now - last_report > 2:
                last_report = now
                done = sink.stats.quads
                print(
                    f"\r{out_path.name}: {done:,} / {triples:,} triples "
                    f"({100 * done / triples:.0f}%), {done / (now - started):,.0f}/s",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
        dataset_quads(sink, sink.stats.quads + 4)
    tmp.replace(out_path)
    elapsed = time.monotonic() - started
    if progress:
        print(
            f"\r{out_path.name}: {sink.stats.quads:,} triples in {elapsed:.1f}s" + " " * 20,
            file=sys.stderr,
        )

    st = sink.stats
    hub_total = sum(st.hub_incoming.values())
    hubs = sorted(gen.reg.hubs, key=lambda e: -st.hub_incoming[e.iri])
    manifest: dict[str, object] = {
        "version": MANIFEST_VERSION,
        "file": out_path.name,
        "format": fmt,
        "seed": seed,
        "ontology": vocab.source,
        "requested_triples": triples,
        "triples": st.quads,
        "articles": st.articles,
        "facts": st.facts,
        "sentences": st.sentences,
        "localities": st.localities,
        "graphs": dict(st.by_graph_kind),
        "entities": {kind: len(items) for kind, items in gen.reg.by_kind.items()},
        "classes": {k.strip("<>"): v for k, v in st.classes.most_common()},
        "hub_incoming_share": round(hub_total / st.quads, 4),
        "hubs": [
            {"iri": h.iri.strip("<>"), "kind": h.kind, "incoming": st.hub_incoming[h.iri]}
            for h in hubs
        ],
        "hub_countries": [h.iri.strip("<>") for h in hubs if h.kind == "Country"],
        "resources": [
            e.iri.strip("<>")
            for e in _interleave(samples["Person"].items, samples["Organization"].items)
        ],
        "terms": search_terms(st),
        "term_counts": {t: [st.term_contains[t], st.term_word_start[t]] for t in sorted(SYLLABLES)},
        "seconds": round(elapsed, 1),
    }
    manifest_path(out_path).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def search_terms(st: Stats, cap: int = 5_000) -> list[str]:
    """Terms that both label searches find, in fewer than ``cap`` labels (the server caps rows at
    10,000); the one with the median count first (the default), then the others."""
    usable = [t for t in SYLLABLES if 0 < st.term_contains[t] <= cap and st.term_word_start[t]]
    if not usable:
        usable = [t for t in SYLLABLES if st.term_contains[t]] or list(SYLLABLES)
    usable.sort(key=lambda t: (st.term_contains[t], t))
    middle = usable[len(usable) // 2]
    return [middle, *[t for t in usable if t != middle]]


def _interleave(a: list[Entity], b: list[Entity]) -> Iterator[Entity]:
    for i in range(max(len(a), len(b))):
        if i < len(a):
            yield a[i]
        if i < len(b):
            yield b[i]


def manifest_path(data_path: Path) -> Path:
    return data_path.with_suffix(".json")


def data_path(triples: int, fmt: str = "nq", out_dir: Path = DEFAULT_OUT_DIR) -> Path:
    return out_dir / f"kg-{size_label(triples)}.{fmt}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--triples", type=parse_size, default=parse_size("100k"), help="10k, 100k, 1M, 10M, ..."
    )
    parser.add_argument("--format", choices=("nq", "trig"), default="nq")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--hub-share",
        type=float,
        default=0.5,
        help="probability that a link goes to a hub (0.5: about 6%% of all triples link to a hub)",
    )
    parser.add_argument(
        "--gazetteer-share",
        type=float,
        default=0.33,
        help="share of the triples that are gazetteer entries of the biggest hub country "
        "(0.33: it gets about 11%% of all triples as incoming links)",
    )
    parser.add_argument("--out", type=Path, help="output file (default bench/data/kg-<size>.<fmt>)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    out = args.out or data_path(args.triples, args.format)
    manifest = generate(
        args.triples,
        out,
        args.format,
        args.seed,
        args.hub_share,
        not args.quiet,
        args.gazetteer_share,
    )
    summary = {k: manifest[k] for k in ("file", "triples", "articles", "hub_incoming_share")}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
