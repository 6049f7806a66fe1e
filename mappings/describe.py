"""The dataset description (VoID + DCAT): what the dataset is, its parts, counts and dumps."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rdflib import RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, PROV

from .dumps import DUMP_FORMATS
from .graphs import new_graph
from .iris import ONTOLOGY_IRI, Minter
from .yamlsrc import load_mapping

VOID = Namespace("http://rdfs.org/ns/void#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
SPDX = Namespace("http://spdx.org/rdf/terms#")

VOCABULARIES = (
    ONTOLOGY_IRI,
    "http://schema.org/",
    "http://xmlns.com/foaf/0.1/",
    "http://www.w3.org/ns/org#",
    "http://www.w3.org/ns/prov#",
    "http://www.w3.org/2004/02/skos/core#",
    "http://purl.org/dc/terms/",
    "http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#",
)


def load_dataset_meta(path: Path) -> dict[str, Any]:
    fix = "write 'name:', 'title:', 'license:' on separate lines"
    meta = load_mapping(path, fix=fix) if path.exists() else None
    if meta is None:
        return {"name": "kgpub", "title": "kgpub dataset"}
    values = dict(meta.values)
    if not re.match(r"^[a-z0-9][a-z0-9-]*$", str(values.get("name", "kgpub"))):
        raise meta.error(
            "name must be a slug (it names the dump files)",
            key="name",
            fix="use lower-case letters, digits and '-'",
        )
    return values


def _count(n: int) -> Literal:
    return Literal(n, datatype=XSD.integer)


def _key(iri: str, prefixes: dict[str, str]) -> str:
    for prefix, ns in sorted(prefixes.items(), key=lambda kv: -len(kv[1])):
        if iri.startswith(ns) and re.match(r"^[A-Za-z0-9_-]+$", iri[len(ns) :]):
            return f"{prefix}-{iri[len(ns) :]}"
    return hashlib.sha256(iri.encode()).hexdigest()[:12]


def describe(
    minter: Minter,
    meta: dict[str, Any],
    parts: dict[str, Iterable[Graph]],
    articles: list[URIRef],
    prefixes: dict[str, str],
) -> Graph:
    """The description graph. ``parts`` maps a part name (ontology, text, facts, provenance,
    inferred) to its graphs; counts cover every part (the description does not count itself)."""
    g = new_graph()
    g.bind("void", VOID)
    g.bind("dcat", DCAT)
    ds = minter.dataset
    g.add((ds, RDF.type, VOID.Dataset))
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.title, Literal(str(meta.get("title", "kgpub dataset")), lang="en")))
    g.add((ds, RDFS.label, Literal(str(meta.get("title", "kgpub dataset")), lang="en")))
    if meta.get("description"):
        g.add((ds, DCTERMS.description, Literal(str(meta["description"]), lang="en")))
    if meta.get("license"):
        g.add((ds, DCTERMS.license, URIRef(str(meta["license"]))))
    if meta.get("publisher"):
        g.add((ds, DCTERMS.publisher, Literal(str(meta["publisher"]))))
    g.add((ds, VOID.uriSpace, Literal(minter.base)))
    g.add((ds, VOID.sparqlEndpoint, minter.sparql_endpoint))
    g.add((ds, VOID.rootResource, ds))
    for vocabulary in VOCABULARIES:
        g.add((ds, VOID.vocabulary, URIRef(vocabulary)))
    for article in articles:
        g.add((ds, DCTERMS.source, article))
        g.add((ds, PROV.wasDerivedFrom, article))

    name = str(meta.get("name", "kgpub"))
    for fmt in DUMP_FORMATS:
        dump = minter.dump(f"{name}.{fmt.suffix}")
        g.add((ds, VOID.dataDump, dump))
        g.add((ds, DCAT.distribution, dump))
        g.add((dump, RDF.type, DCAT.Distribution))
        g.add((dump, DCAT.downloadURL, dump))
        g.add(
            (
                dump,
                DCAT.mediaType,
                URIRef(f"https://www.iana.org/assignments/media-types/{fmt.media_type}"),
            )
        )
        g.add((dump, DCTERMS.format, Literal(fmt.media_type)))
        g.add((dump, DCTERMS.title, Literal(fmt.label, lang="en")))
        g.add((dump, RDFS.label, Literal(f"{name}.{fmt.suffix}")))

    union = set()
    for part, graphs in parts.items():
        triples = set()
        for graph in graphs:
            triples.update(graph)
        union |= triples
        sub = minter.subset(part)
        g.add((ds, VOID.subset, sub))
        g.add((sub, RDF.type, VOID.Dataset))
        g.add((sub, RDFS.label, Literal(f"{part} of the dataset", lang="en")))
        g.add((sub, VOID.triples, _count(len(triples))))

    classes: Counter[str] = Counter()
    properties: Counter[str] = Counter()
    entities = set()
    for s, p, o in union:
        properties[str(p)] += 1
        if p == RDF.type:
            classes[str(o)] += 1
            if isinstance(s, URIRef):
                entities.add(s)
    g.add((ds, VOID.triples, _count(len(union))))
    g.add((ds, VOID.entities, _count(len(entities))))
    g.add((ds, VOID.distinctSubjects, _count(len({s for s, _, _ in union}))))
    g.add((ds, VOID.distinctObjects, _count(len({o for _, _, o in union}))))
    g.add((ds, VOID.classes, _count(len(classes))))
    g.add((ds, VOID.properties, _count(len(properties))))
    for cls, n in sorted(classes.items()):
        part = minter.partition("class", _key(cls, prefixes))
        g.add((ds, VOID.classPartition, part))
        g.add((part, VOID["class"], URIRef(cls)))
        g.add((part, VOID.entities, _count(n)))
    for prop, n in sorted(properties.items()):
        part = minter.partition("property", _key(prop, prefixes))
        g.add((ds, VOID.propertyPartition, part))
        g.add((part, VOID.property, URIRef(prop)))
        g.add((part, VOID.triples, _count(n)))
    return g


def add_checksums(g: Graph, minter: Minter, files: list[dict[str, Any]]) -> Graph:
    """The description as published next to the dumps: with sizes and SHA-256 of each file."""
    out = new_graph()
    out.bind("void", VOID)
    out.bind("dcat", DCAT)
    out.bind("spdx", SPDX)
    out += g
    for info in files:
        dump = minter.dump(info["file"])
        out.add((dump, RDF.type, DCAT.Distribution))
        out.add((dump, DCAT.downloadURL, dump))
        out.add((dump, DCAT.byteSize, Literal(info["bytes"], datatype=XSD.nonNegativeInteger)))
        checksum = URIRef(f"{dump}#sha256")
        out.add((dump, SPDX.checksum, checksum))
        out.add((checksum, RDF.type, SPDX.Checksum))
        out.add((checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
        out.add((checksum, SPDX.checksumValue, Literal(info["sha256"], datatype=XSD.hexBinary)))
        if info["file"].endswith(".gz"):
            out.add(
                (
                    dump,
                    DCAT.compressFormat,
                    URIRef("https://www.iana.org/assignments/media-types/application/gzip"),
                )
            )
            out.add((minter.dataset, DCAT.distribution, dump))
    return out
