"""What the ontology and the curated facts entail, computed by HermiT (through owlready2).

``reason(ontology, asserted)`` returns the triples about the data's individuals that follow from the
ontology and the asserted facts but are not stated: every named type of an individual (with all its
named superclasses), and object-property values from inverse, symmetric, transitive and
super-properties. Nothing else: no TBox axioms, no literal values (datatype values pass through the
reasoner untouched and never come back), no triples about IRIs that occur in the data only as
annotation values or types.

How it works:

1. The ontology (its ``owl:imports`` removed: nothing is fetched) and the data go, as N-Triples,
   into a fresh in-memory owlready2 ``World``; HermiT runs on it (``sync_reasoner``,
   ``infer_property_values=True``). Its working file lives in a temporary folder that is removed
   afterwards, also when HermiT fails.
2. HermiT reports the classified class and property hierarchies, the most specific types of every
   individual and, per property, the pairs not already implied through a sub-property. owlready2
   adds those to the world except pairs whose inverse is stated. The object triples of the world are
   then closed here over the classified hierarchies (superclasses; super-, inverse, symmetric and
   transitive properties), which is sound because every step is an OWL 2 entailment.
3. What the inputs already contain is removed; the rest is the result (a set, hence deterministic).

An inconsistent ontology+data, or a named class that no individual can belong to, raises
``ReasoningError`` with the reason as precise as it can be found: HermiT itself does not say why,
so clashes (disjoint types, data values outside a property's range, ...) are looked for in the data
and, if needed, with a second HermiT run without the disjointness axioms.

Known owlready2/HermiT quirks handled here:

* ``owl:imports`` makes owlready2 download the imported ontology: removed before loading.
* The OWL API inside owlready2's HermiT predates ``rdf:langString``; a datatype property with that
  range is then taken for an object property and its range is not checked. The reasoner therefore
  reads ``rdf:langString`` as ``rdf:PlainLiteral`` (its OWL 2 superset).
* HermiT rejects datatypes outside the OWL 2 datatype map (``xsd:date``, ``xsd:gYear``): run with
  ``ignore_unsupported_datatypes``.
* owlready2 stores literals as Python values: ``"INF"^^xsd:double`` becomes ``"inf"`` (which HermiT
  rejects), NaN becomes ``"None"``, an integer beyond 64 bits stops the loader, ill-typed
  ``xsd:integer`` literals stop it too. Ill-typed literals are reported as errors; the triples with
  such numbers are left out of the reasoner's input (only a domain of their property could have
  typed their subject).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import subprocess
import tempfile
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import owlready2
from rdflib import OWL, RDF, RDFS, XSD, BNode, Graph, Literal, URIRef
from rdflib.graph import ConjunctiveGraph
from rdflib.term import Node

from .errors import BuildError

Triple = tuple[Node, Node, Node]
_T = TypeVar("_T")

FIX = (
    "check the types and links of the entities named above in entities.yaml/facts.yaml against "
    "the ontology (class disjointness, property domains and ranges, value types)"
)
FIX_CLASSES = (
    "check the axioms of these classes in ontology/*.ttl: a class below two disjoint classes, or a "
    "restriction that no individual can meet"
)

# IRI the reasoner's input is loaded under (never published, never fetched)
_INPUT_IRI = "http://kgpub.invalid/reasoning-input#"
_MAX_LISTED = 20

_RESERVED_NS = (str(OWL), str(RDF), str(RDFS), str(XSD))
_OBJECT_PROPERTY_TYPES = frozenset(
    OWL[name]
    for name in (
        "ObjectProperty TransitiveProperty SymmetricProperty AsymmetricProperty ReflexiveProperty "
        "IrreflexiveProperty InverseFunctionalProperty"
    ).split()
)
# types that make a subject a term of the ontology rather than an individual of the data
_TBOX_TYPES = (
    _OBJECT_PROPERTY_TYPES
    | {RDFS.Class, RDFS.Datatype, RDF.Property}
    | {
        OWL[name]
        for name in (
            "Class Restriction Ontology DatatypeProperty AnnotationProperty OntologyProperty "
            "FunctionalProperty AllDisjointClasses AllDisjointProperties"
        ).split()
    }
)
_DISJOINTNESS = frozenset({OWL.disjointWith, OWL.disjointUnionOf, OWL.members})
_NT_OBJECT_TRIPLE = re.compile(r"^(?:<[^>]*>|_:\S+) <[^>]*> (?:<[^>]*>|_:\S+) \.$")
# one HermiT run at a time: the temporary folder and the JVM options are set process-wide
_HERMIT_LOCK = threading.Lock()
# HermiT runs for a few seconds in a fresh JVM: the quick (C1) compiler alone and the serial
# garbage collector halve its time against the JVM's defaults, which are made for long-running
# servers. Passed through JAVA_TOOL_OPTIONS, as owlready2 builds the java command line itself.
JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


class ReasoningError(BuildError):
    """The ontology and the data have no model, or the ontology has unsatisfiable classes."""

    def __init__(self, message: str, reasons: Iterable[str] = (), *, fix: str | None = FIX) -> None:
        self.reasons = list(reasons)
        listed = self.reasons[:_MAX_LISTED]
        text = message + "".join(f"\n  - {reason}" for reason in listed)
        if len(self.reasons) > len(listed):
            text += f"\n  ... and {len(self.reasons) - len(listed)} more"
        super().__init__(text, fix=fix)


class _Inconsistent(Exception):
    """HermiT found no model."""


# --------------------------------------------------------------------------- entry point
def reason(
    ontology: Graph,
    asserted: Graph,
    progress: Callable[[str], None] | None = None,
) -> Graph:
    """The triples about individuals that ontology + asserted entail and neither contains.

    ``asserted`` may be a Graph or a Dataset (all its graphs are read). Raises ``ReasoningError``
    when the two are inconsistent or a named class is unsatisfiable.
    """
    say = progress or _quiet
    names = _Names(ontology)
    tbox = {t for t in _triples(ontology) if t[1] != OWL.imports}
    abox = set(_triples(asserted))
    _check_literals(tbox | abox, names)

    say(f"reasoning: HermiT on {len(tbox)} ontology and {len(abox)} data triples")
    start = time.perf_counter()
    try:
        entailed = _hermit(tbox | abox)
    except _Inconsistent:
        say(
            f"reasoning: HermiT found the data inconsistent ({time.perf_counter() - start:.1f} s);"
            " looking for the clash"
        )
        raise ReasoningError(
            "the ontology and the data are inconsistent (no interpretation satisfies both)",
            _explain_inconsistency(tbox, abox, names, say),
        ) from None
    say(f"reasoning: HermiT took {time.perf_counter() - start:.1f} s")

    vocab = _Vocabulary(tbox | entailed)
    unsatisfiable = sorted(vocab.unsatisfiable(), key=str)
    if unsatisfiable:
        raise ReasoningError(
            f"{len(unsatisfiable)} class(es) of the ontology cannot have any member "
            "(equivalent to owl:Nothing)",
            [_explain_unsatisfiable(c, vocab, names) for c in unsatisfiable],
            fix=FIX_CLASSES,
        )

    result = Graph(bind_namespaces="none")
    for prefix, namespace in ontology.namespaces():
        result.bind(prefix, namespace)
    for triple in _entailed_triples(vocab, tbox, abox, entailed):
        result.add(triple)
    say(f"reasoning: {len(result)} new triple(s) entailed")
    return result


def _quiet(_message: str) -> None:
    pass


def _triples(graph: Graph) -> Iterator[Triple]:
    if isinstance(graph, ConjunctiveGraph):
        for s, p, o, _g in graph.quads((None, None, None, None)):
            yield s, p, o
    else:
        yield from graph


# --------------------------------------------------------------------------- HermiT
def _hermit(triples: Iterable[Triple]) -> set[Triple]:
    """Run HermiT on the triples; return every object triple of the world afterwards."""
    graph = Graph(bind_namespaces="none")
    for s, p, o in triples:
        if isinstance(o, Literal) and not _owlready_can_store(o):
            continue
        graph.add((s, p, RDF.PlainLiteral if o == RDF.langString else o))
    data = graph.serialize(format="nt", encoding="utf-8")

    noise = io.StringIO()
    with (
        _HERMIT_LOCK,
        tempfile.TemporaryDirectory(prefix="kgpub-reasoning-") as folder,
        _tempdir(folder),
        _jvm_options(JVM_OPTIONS),
        contextlib.redirect_stdout(noise),
        contextlib.redirect_stderr(noise),
    ):
        world = owlready2.World()
        try:
            world.get_ontology(_INPUT_IRI).load(fileobj=io.BytesIO(data), format="ntriples")
            owlready2.sync_reasoner(
                world, infer_property_values=True, debug=0, ignore_unsupported_datatypes=True
            )
            out = io.BytesIO()
            world.save(out, format="ntriples")
        except owlready2.OwlReadyInconsistentOntologyError:
            raise _Inconsistent from None
        except owlready2.OwlReadyJavaError as exc:
            raise ReasoningError(
                "HermiT failed: " + _java_message(str(exc)),
                fix="the message names the statement HermiT cannot read; correct it in the "
                "ontology or the data",
            ) from None
        except owlready2.OwlReadyOntologyParsingError as exc:
            raise ReasoningError(
                f"owlready2 cannot read the graph for the reasoner: {exc}", fix=None
            ) from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise ReasoningError(
                f"cannot run HermiT ({owlready2.JAVA_EXE}): {exc}",
                fix="install Java 8 or later and put 'java' on the PATH",
            ) from None
        finally:
            world.close()
    return _object_triples(out.getvalue())


@contextlib.contextmanager
def _tempdir(folder: str) -> Iterator[None]:
    """Make ``tempfile`` (which owlready2 uses for HermiT's input) write into ``folder``."""
    saved = tempfile.tempdir
    tempfile.tempdir = folder
    try:
        yield
    finally:
        tempfile.tempdir = saved


@contextlib.contextmanager
def _jvm_options(options: str) -> Iterator[None]:
    """Add ``options`` to JAVA_TOOL_OPTIONS (the user's own come last and win) for a while."""
    saved = os.environ.get("JAVA_TOOL_OPTIONS")
    os.environ["JAVA_TOOL_OPTIONS"] = f"{options} {saved}" if saved else options
    try:
        yield
    finally:
        if saved is None:
            del os.environ["JAVA_TOOL_OPTIONS"]
        else:
            os.environ["JAVA_TOOL_OPTIONS"] = saved


def _owlready_can_store(literal: Literal) -> bool:
    """False for numbers owlready2 cannot write back faithfully (huge integers, INF, NaN)."""
    value = literal.value
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def _java_message(text: str) -> str:
    """The exception line of a Java stack trace, without the frames."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [
        line
        for line in lines
        if not line.startswith(("at ", "Picked up JAVA_TOOL_OPTIONS")) and "Java error" not in line
    ]
    return " ".join(lines[:4]) or text.strip()


def _object_triples(ntriples: bytes) -> set[Triple]:
    """The triples of owlready2's N-Triples output whose object is not a literal."""
    lines = [
        line
        for line in ntriples.decode("utf-8", errors="replace").split("\n")
        if _NT_OBJECT_TRIPLE.match(line.strip())
    ]
    graph = Graph(bind_namespaces="none")
    graph.parse(data="\n".join(lines), format="nt")
    return set(graph)


# --------------------------------------------------------------------------- the vocabulary
@dataclass
class _Vocabulary:
    """Classes, properties and their hierarchies as stated and as classified by HermiT."""

    triples: set[Triple]
    supers: dict[Node, set[Node]] = field(default_factory=lambda: defaultdict(set))
    prop_supers: dict[Node, set[Node]] = field(default_factory=lambda: defaultdict(set))
    inverses: dict[Node, set[Node]] = field(default_factory=lambda: defaultdict(set))
    object_properties: set[Node] = field(default_factory=set)
    symmetric: set[Node] = field(default_factory=set)
    transitive: set[Node] = field(default_factory=set)
    terms: set[Node] = field(default_factory=set)
    domains: dict[Node, set[Node]] = field(default_factory=lambda: defaultdict(set))
    ranges: dict[Node, set[Node]] = field(default_factory=lambda: defaultdict(set))
    disjoint: set[frozenset[Node]] = field(default_factory=set)
    _closure: dict[Node, frozenset[Node]] = field(default_factory=dict)
    _prop_closure: dict[Node, frozenset[Node]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lists = _Lists(self.triples)
        for s, p, o in self.triples:
            if p == RDF.type:
                if o in _TBOX_TYPES and isinstance(s, URIRef):
                    self.terms.add(s)
                if o in _OBJECT_PROPERTY_TYPES:
                    self.object_properties.add(s)
                if o == OWL.SymmetricProperty:
                    self.symmetric.add(s)
                elif o == OWL.TransitiveProperty:
                    self.transitive.add(s)
            elif p == RDFS.subClassOf and _named(s, o):
                self.supers[s].add(o)
            elif p == OWL.equivalentClass and _named(s, o):
                self.supers[s].add(o)
                self.supers[o].add(s)
            elif p == RDFS.subPropertyOf and _named(s, o):
                self.prop_supers[s].add(o)
            elif p == OWL.equivalentProperty and _named(s, o):
                self.prop_supers[s].add(o)
                self.prop_supers[o].add(s)
            elif p == OWL.inverseOf and _named(s, o):
                self.inverses[s].add(o)
                self.inverses[o].add(s)
            elif p == RDFS.domain and _named(s, o):
                self.domains[s].add(o)
            elif p == RDFS.range and _named(s, o):
                self.ranges[s].add(o)
            elif p == OWL.disjointWith and _named(s, o):
                self.disjoint.add(frozenset((s, o)))
            elif p in (OWL.members, OWL.disjointUnionOf) and (
                p == OWL.disjointUnionOf or (s, RDF.type, OWL.AllDisjointClasses) in self.triples
            ):
                members = [m for m in lists.items(o) if isinstance(m, URIRef)]
                self.disjoint.update(
                    frozenset((a, b)) for i, a in enumerate(members) for b in members[i + 1 :]
                )
        self.object_properties -= {OWL.topObjectProperty, OWL.bottomObjectProperty}

    def superclasses(self, cls: Node) -> frozenset[Node]:
        """``cls`` and every named class above or equivalent to it."""
        if cls not in self._closure:
            self._closure[cls] = _reachable(cls, self.supers)
        return self._closure[cls]

    def superproperties(self, prop: Node) -> frozenset[Node]:
        if prop not in self._prop_closure:
            self._prop_closure[prop] = _reachable(prop, self.prop_supers)
        return self._prop_closure[prop]

    def unsatisfiable(self) -> set[Node]:
        nothing = {
            s
            for s, p, o in self.triples
            if p in (OWL.equivalentClass, RDFS.subClassOf) and o == OWL.Nothing
        } | {o for s, p, o in self.triples if p == OWL.equivalentClass and s == OWL.Nothing}
        return {c for c in nothing if isinstance(c, URIRef) and c != OWL.Nothing}

    def data_ranges(self, prop: Node) -> set[Node]:
        return {r for r in self.ranges.get(prop, ()) if str(r).startswith((str(XSD), str(RDF)))}

    def functional(self) -> set[Node]:
        return {s for s, p, o in self.triples if p == RDF.type and o == OWL.FunctionalProperty}


def _named(*nodes: Node) -> bool:
    return all(isinstance(n, URIRef) for n in nodes)


def _reachable(start: Node, edges: Mapping[Node, set[Node]]) -> frozenset[Node]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return frozenset(seen)


class _Lists:
    """RDF collections (owl:members, owl:disjointUnionOf) of a set of triples."""

    def __init__(self, triples: set[Triple]) -> None:
        self.first: dict[Node, Node] = {}
        self.rest: dict[Node, Node] = {}
        for s, p, o in triples:
            if p == RDF.first:
                self.first[s] = o
            elif p == RDF.rest:
                self.rest[s] = o

    def items(self, head: Node) -> list[Node]:
        out: list[Node] = []
        seen: set[Node] = set()
        while head in self.first and head not in seen:
            seen.add(head)
            out.append(self.first[head])
            head = self.rest.get(head, RDF.nil)
        return out


# --------------------------------------------------------------------------- the result
def _individuals(vocab: _Vocabulary, abox: set[Triple]) -> set[Node]:
    """IRIs the data is about: subjects, and values of object properties; no ontology terms."""
    found: set[Node] = set()
    for s, p, o in abox:
        if isinstance(s, URIRef):
            found.add(s)
        if isinstance(o, URIRef) and p in vocab.object_properties:
            found.add(o)
    return found - vocab.terms


def _close_links(vocab: _Vocabulary, links: set[Triple]) -> set[Triple]:
    """Close object-property triples over super-, inverse, symmetric and transitive properties."""
    closed = set(links)
    todo = deque(closed)
    # per transitive property: the values after and before each node, among the triples done
    after: dict[tuple[Node, Node], set[Node]] = defaultdict(set)
    before: dict[tuple[Node, Node], set[Node]] = defaultdict(set)

    def add(triple: Triple) -> None:
        if triple not in closed:
            closed.add(triple)
            todo.append(triple)

    while todo:
        s, p, o = todo.popleft()
        for sup in vocab.superproperties(p):
            add((s, sup, o))
            for inverse in vocab.inverses.get(sup, ()):
                add((o, inverse, s))
            if sup in vocab.symmetric:
                add((o, sup, s))
        if p in vocab.transitive:
            after[(p, s)].add(o)
            before[(p, o)].add(s)
            for nxt in list(after.get((p, o), ())):
                add((s, p, nxt))
            for prev in list(before.get((p, s), ())):
                add((prev, p, o))
    return closed


def _entailed_triples(
    vocab: _Vocabulary, tbox: set[Triple], abox: set[Triple], entailed: set[Triple]
) -> set[Triple]:
    individuals = _individuals(vocab, abox)
    known = tbox | abox
    out: set[Triple] = set()

    types: dict[Node, set[Node]] = defaultdict(set)
    for s, p, o in known | entailed:
        if p == RDF.type and s in individuals and isinstance(o, URIRef):
            types[s].add(o)
    for individual, classes in types.items():
        for cls in classes:
            for sup in vocab.superclasses(cls):
                if isinstance(sup, URIRef) and not str(sup).startswith(_RESERVED_NS):
                    out.add((individual, RDF.type, sup))

    links = {
        (s, p, o)
        for s, p, o in known | entailed
        if p in vocab.object_properties and s in individuals and o in individuals
    }
    out.update(t for t in _close_links(vocab, links) if t[0] in individuals and t[2] in individuals)
    return out - known


# --------------------------------------------------------------------------- literals
def _check_literals(triples: set[Triple], names: _Names) -> None:
    bad = sorted(
        f"{names.show(s)} {names.show(p)} {names.show(o)}: not a valid {names.show(o.datatype)}"
        for s, p, o in triples
        if isinstance(o, Literal) and o.datatype is not None and o.ill_typed
    )
    if bad:
        raise ReasoningError(
            f"{len(bad)} value(s) do not match their datatype",
            bad,
            fix="correct the values in facts.yaml/entities.yaml (or the datatype of the property "
            "in the ontology)",
        )


_STRING_TYPES = frozenset(
    {XSD.string, XSD.normalizedString, XSD.token, XSD.language, XSD.Name, XSD.NCName, XSD.NMTOKEN}
)
_TEXT_RANGES = frozenset({RDF.langString, RDF.PlainLiteral})
_INTEGER_BOUNDS: dict[Node, tuple[int | None, int | None]] = {
    XSD.integer: (None, None),
    XSD.nonNegativeInteger: (0, None),
    XSD.positiveInteger: (1, None),
    XSD.nonPositiveInteger: (None, 0),
    XSD.negativeInteger: (None, -1),
    XSD.long: (-(2**63), 2**63 - 1),
    XSD.int: (-(2**31), 2**31 - 1),
    XSD.short: (-(2**15), 2**15 - 1),
    XSD.byte: (-128, 127),
    XSD.unsignedLong: (0, 2**64 - 1),
    XSD.unsignedInt: (0, 2**32 - 1),
    XSD.unsignedShort: (0, 2**16 - 1),
    XSD.unsignedByte: (0, 255),
}
# OWL 2 keeps the value spaces of decimals (integers included), floats and doubles apart
_NUMBER_FAMILIES = (
    frozenset(_INTEGER_BOUNDS) | {XSD.decimal, OWL.real, OWL.rational},
    frozenset({XSD.float}),
    frozenset({XSD.double}),
)


def _range_clash(value: Literal, rng: Node) -> str | None:
    """Why ``value`` cannot be a value of the datatype ``rng`` for HermiT, or None."""
    dtype = value.datatype
    if rng in _TEXT_RANGES:
        if dtype is not None and dtype not in _STRING_TYPES:
            return "a text is expected"
        return None
    if rng in _STRING_TYPES:
        if value.language:
            return "a string without language tag is expected"
        if dtype is not None and dtype not in _STRING_TYPES:
            return "a string is expected"
        return None
    family = next((f for f in _NUMBER_FAMILIES if rng in f), None)
    if family is not None:
        if dtype not in family:
            return "a number of that type is expected"
        low, high = _INTEGER_BOUNDS.get(rng, (None, None))
        number = value.value
        if not isinstance(number, (int, float, Decimal)):
            return None
        if rng in _INTEGER_BOUNDS and number != int(number):
            return "a whole number is expected"
        if (low is not None and number < low) or (high is not None and number > high):
            return "the number is out of range"
        return None
    if rng != RDFS.Literal and dtype is not None and dtype != rng:
        return "another datatype is expected"
    return None


# --------------------------------------------------------------------------- explanations
def _explain_inconsistency(
    tbox: set[Triple], abox: set[Triple], names: _Names, say: Callable[[str], None]
) -> list[str]:
    """Clashes in the data that make it inconsistent, as readable sentences."""
    vocab = _Vocabulary(tbox)
    reasons = _value_clashes(vocab, abox, names) + _link_clashes(vocab, abox, names)
    reasons += _type_clashes(vocab, _told_types(vocab, abox, names), names)
    if reasons:
        return reasons
    # the clash lies deeper (class restrictions, functional properties merging individuals): ask
    # HermiT for the types without the disjointness axioms and look for disjoint ones
    relaxed = {t for t in tbox if t[1] not in _DISJOINTNESS}
    relaxed -= {t for t in tbox if t[1] == RDF.type and t[2] == OWL.AllDisjointClasses}
    say("reasoning: HermiT again, without the disjointness axioms, to find the clash")
    try:
        entailed = _hermit(relaxed | abox)
    except (_Inconsistent, ReasoningError):
        entailed = None
    if entailed is not None:
        vocab_entailed = _Vocabulary(relaxed | entailed)
        vocab_entailed.disjoint = vocab.disjoint
        individuals = _individuals(vocab_entailed, abox)
        told: dict[Node, dict[Node, str]] = defaultdict(dict)
        for s, p, o in abox | entailed:
            if p == RDF.type and s in individuals and isinstance(o, URIRef):
                told[s].setdefault(o, "asserted" if (s, p, o) in abox else "entailed by HermiT")
        reasons = _type_clashes(vocab_entailed, told, names)
    return reasons or [
        "HermiT does not say which statements clash, and no disjoint types, values outside a "
        "range or contradicting links were found; remove facts one at a time to find it"
    ]


def _told_types(
    vocab: _Vocabulary, abox: set[Triple], names: _Names
) -> dict[Node, dict[Node, str]]:
    """Per individual: its asserted types and those from domains and ranges, with the reason."""
    told: dict[Node, dict[Node, str]] = defaultdict(dict)
    for s, p, o in _sorted(abox):
        if p == RDF.type and isinstance(o, URIRef):
            told[s].setdefault(o, "asserted")
    links = {t for t in abox if t[1] in vocab.object_properties}
    for s, p, o in _sorted(_close_links(vocab, links)):
        for prop in _sorted(vocab.superproperties(p)):
            for cls in _sorted(vocab.domains.get(prop, ())):
                told[s].setdefault(cls, f"links with {names.show(p)} (domain {names.show(cls)})")
            for cls in _sorted(vocab.ranges.get(prop, ())):
                told[o].setdefault(cls, f"is a value of {names.show(p)} (range {names.show(cls)})")
    for s, p, _o in _sorted(abox):
        if p not in vocab.object_properties:
            for cls in _sorted(vocab.domains.get(p, ())):
                told[s].setdefault(cls, f"has a {names.show(p)} (domain {names.show(cls)})")
    return told


def _type_clashes(
    vocab: _Vocabulary, told: Mapping[Node, Mapping[Node, str]], names: _Names
) -> list[str]:
    reasons: list[str] = []
    for individual in _sorted(told):
        why: dict[Node, str] = {}
        for cls in _sorted(told[individual]):
            reason = told[individual][cls]
            for sup in _sorted(vocab.superclasses(cls)):
                via = "" if sup == cls else f"as a {names.show(cls)}, "
                why.setdefault(sup, f"{via}{reason}")
        if OWL.Nothing in why:
            reasons.append(f"{names.show(individual)} is typed owl:Nothing ({why[OWL.Nothing]})")
        for pair in _sorted_pairs(vocab.disjoint):
            a, b = _sorted(pair)
            if a in why and b in why:
                reasons.append(
                    f"{names.show(individual)} is a {names.show(a)} ({why[a]}) and a "
                    f"{names.show(b)} ({why[b]}), classes the ontology declares disjoint"
                )
    return reasons


def _value_clashes(vocab: _Vocabulary, abox: set[Triple], names: _Names) -> list[str]:
    reasons: list[str] = []
    functional = vocab.functional()
    values: dict[tuple[Node, Node], set[Literal]] = defaultdict(set)
    for s, p, o in _sorted(abox):
        if not isinstance(o, Literal):
            continue
        values[(s, p)].add(o)
        for prop in _sorted(vocab.superproperties(p)):
            for rng in _sorted(vocab.data_ranges(prop)):
                problem = _range_clash(o, rng)
                if problem:
                    reasons.append(
                        f"{names.show(s)} {names.show(p)} {names.show(o)}: the range of "
                        f"{names.show(prop)} is {names.show(rng)}, {problem}"
                    )
    for (s, p), literals in sorted(values.items(), key=lambda item: _key(item[0])):
        if p in functional and len(literals) > 1:
            shown = ", ".join(sorted(names.show(v) for v in literals))
            reasons.append(
                f"{names.show(s)} has {len(literals)} values of the functional "
                f"property {names.show(p)}: {shown}"
            )
    return reasons


def _link_clashes(vocab: _Vocabulary, abox: set[Triple], names: _Names) -> list[str]:
    reasons: list[str] = []
    typed = {(s, o) for s, p, o in vocab.triples if p == RDF.type}
    links = _close_links(vocab, {t for t in abox if t[1] in vocab.object_properties})
    for s, p, o in _sorted(links):
        if (p, OWL.IrreflexiveProperty) in typed and s == o:
            reasons.append(
                f"{names.show(s)} links to itself with {names.show(p)}, which is irreflexive"
            )
        if (p, OWL.AsymmetricProperty) in typed and (o, p, s) in links and str(s) < str(o):
            reasons.append(
                f"{names.show(s)} and {names.show(o)} link to each other with "
                f"{names.show(p)}, which is asymmetric"
            )
    same = {(s, o) for s, p, o in abox if p == OWL.sameAs}
    for s, p, o in _sorted(abox):
        if p == OWL.differentFrom and ((s, o) in same or (o, s) in same or s == o):
            reasons.append(
                f"{names.show(s)} is declared both the same as and different from {names.show(o)}"
            )
    return reasons


def _explain_unsatisfiable(cls: Node, vocab: _Vocabulary, names: _Names) -> str:
    supers = vocab.superclasses(cls)
    for pair in _sorted_pairs(vocab.disjoint):
        a, b = _sorted(pair)
        if a in supers and b in supers:
            return (
                f"{names.show(cls)}: below {names.show(a)} and {names.show(b)}, which are disjoint"
            )
    return f"{names.show(cls)}"


def _key(value: object) -> tuple[Any, ...]:
    """A sort key for terms, triples and pairs of terms of any kind."""
    if isinstance(value, tuple):
        return tuple(_key(v) for v in value)
    return (type(value).__name__, str(value))


def _sorted(values: Iterable[_T]) -> list[_T]:
    return sorted(values, key=_key)


def _sorted_pairs(pairs: Iterable[frozenset[Node]]) -> list[frozenset[Node]]:
    return sorted(pairs, key=lambda pair: tuple(_key(n) for n in _sorted(pair)))


class _Names:
    """Short names (CURIEs) for messages, from the ontology's prefixes."""

    def __init__(self, graph: Graph) -> None:
        self.prefixes = sorted(
            ((prefix, str(ns)) for prefix, ns in graph.namespaces() if prefix),
            key=lambda item: (-len(item[1]), item[0]),
        )

    def show(self, node: Node | None) -> str:
        if isinstance(node, URIRef):
            text = str(node)
            for prefix, ns in self.prefixes:
                local = text[len(ns) :]
                if text.startswith(ns) and re.fullmatch(r"[A-Za-z_][\w.-]*", local or "-"):
                    return f"{prefix}:{local}"
            return f"<{text}>"
        if isinstance(node, BNode):
            return "a blank node"
        if isinstance(node, Literal):
            text = '"' + str(node).replace("\\", "\\\\").replace('"', '\\"') + '"'
            if node.language:
                return f"{text}@{node.language}"
            return f"{text}^^{self.show(node.datatype)}" if node.datatype else text
        return str(node)
