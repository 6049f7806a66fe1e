"""Generate ``mappings/kgo.py``: a closed rdflib ``DefinedNamespace`` of the ontology's own terms.

A closed namespace turns a misspelt term in code (``KGO.vistor``) into an error at once. The module
is generated, never edited: ``kgpub namespace`` (or ``make namespace``) rewrites it, and a test
regenerates it and compares.
"""

from __future__ import annotations

from pathlib import Path

from rdflib import OWL, RDF, RDFS, Graph, URIRef
from rdflib.namespace import SKOS

from .iris import ONTOLOGY_NS

TARGET = Path(__file__).with_name("kgo.py")

KINDS = (
    (OWL.Class, "classes"),
    (OWL.ObjectProperty, "object properties"),
    (OWL.DatatypeProperty, "datatype properties"),
    (OWL.AnnotationProperty, "annotation properties"),
    (OWL.NamedIndividual, "individuals"),
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render(ontology: Graph) -> str:
    lines = [
        '"""The terms of the kgpub ontology (https://w3id.org/kgpub/ontology).',
        "",
        "Generated from ontology/kgpub.ttl by `kgpub namespace`; do not edit.",
        '"""',
        "",
        "from rdflib.namespace import DefinedNamespace, Namespace",
        "from rdflib.term import URIRef",
        "",
        "",
        "class KGO(DefinedNamespace):",
        "    _NS = Namespace(" + repr(ONTOLOGY_NS).replace("'", '"') + ")",
        "    _fail = True",
    ]
    seen: set[str] = set()
    for kind, title in KINDS:
        names = sorted(
            str(s)[len(ONTOLOGY_NS) :]
            for s in ontology.subjects(RDF.type, kind)
            if isinstance(s, URIRef) and str(s).startswith(ONTOLOGY_NS)
        )
        names = [n for n in names if n and n not in seen and n.isidentifier()]
        if not names:
            continue
        lines += ["", f"    # {title}"]
        for name in names:
            seen.add(name)
            term = URIRef(ONTOLOGY_NS + name)
            label = ontology.value(term, RDFS.label)
            definition = ontology.value(term, SKOS.definition)
            comment = _one_line(str(definition or label or ""))
            line = f"    {name}: URIRef"
            if comment:
                room = 96 - len(line)
                comment = comment if len(comment) <= room else comment[: room - 3] + "..."
                line += f"  # {comment}"
            lines.append(line)
    return "\n".join(lines) + "\n"


def generate(ontology_file: Path) -> str:
    graph = Graph()
    graph.parse(ontology_file, format="turtle")
    return render(graph)


def write(ontology_file: Path, target: Path = TARGET) -> Path:
    target.write_text(generate(ontology_file), encoding="utf-8")
    return target
