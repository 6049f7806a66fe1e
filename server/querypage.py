"""What the query page shows besides the editor: prefixes, example queries, a result table.

Prefixes come from the ontology's own Turtle file when it exists, over a few common ones; the
examples are the competency questions ``ontology/cq/*.rq`` found at start-up.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from kgpub.mappings.iris import ONTOLOGY_NS

log = logging.getLogger(__name__)

COMMON_PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
    "prov": "http://www.w3.org/ns/prov#",
    "nif": "http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#",
    "void": "http://rdfs.org/ns/void#",
    "sd": "http://www.w3.org/ns/sparql-service-description#",
}

_PREFIX = re.compile(r"^\s*(?:@prefix|PREFIX)\s+([A-Za-z][\w.\-]*)?:\s*<([^>\s]*)>", re.I | re.M)


def load_prefixes(ontology_file: Path, base_iri: str) -> dict[str, str]:
    """The common prefixes, ours (``kgo:``, ``kg:``), then every prefix the ontology declares."""
    prefixes = {**COMMON_PREFIXES, "kgo": ONTOLOGY_NS, "kg": base_iri}
    try:
        text = ontology_file.read_text(encoding="utf-8")
    except OSError:
        return prefixes
    for name, iri in _PREFIX.findall(text):
        if name and iri:
            prefixes[name] = iri
    return prefixes


@dataclass(frozen=True)
class Example:
    name: str  # the file's stem, CQ01-...
    title: str  # its first comment line, else the name
    query: str


def load_examples(folder: Path) -> list[Example]:
    examples = []
    for path in sorted(folder.glob("*.rq")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            log.warning("skipping example %s: %s", path, error)
            continue
        examples.append(Example(path.stem, _title(text) or path.stem, text))
    return examples


def _title(query: str) -> str:
    """The comment block a query starts with, as one line."""
    lines = []
    for line in query.lstrip().splitlines():
        if not line.lstrip().startswith("#"):
            break
        lines.append(line.lstrip().lstrip("#").strip())
    return " ".join(part for part in lines if part)


@dataclass(frozen=True)
class Cell:
    text: str
    href: str | None = None


@dataclass(frozen=True)
class ResultTable:
    """A SPARQL JSON answer made ready for the page without scripts."""

    columns: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    boolean: bool | None = None
    graph: str | None = None  # a CONSTRUCT/DESCRIBE answer, as Turtle text
    truncated: bool = False


@dataclass(frozen=True)
class QueryPage:
    endpoint: str
    query: str
    prefixes: dict[str, str]
    examples: list[Example]
    local_links: list[tuple[str, str]]
    yasgui: bool  # the browser assets are installed
    result: ResultTable | None = None
    max_rows: int = 0
    timeout: float = 0.0

    @property
    def config_json(self) -> str:
        """What the page script needs, as JSON for a data attribute."""
        return json.dumps(
            {
                "endpoint": self.endpoint,
                "prefixes": self.prefixes,
                "examples": [
                    {"name": e.name, "title": e.title, "query": e.query} for e in self.examples
                ],
                "links": self.local_links,
                "query": self.query,
            }
        )


def local_href(iri: str, links: list[tuple[str, str]]) -> str:
    """Our IRIs link to their page on this server; others stay as they are."""
    for prefix, path in links:
        if iri.startswith(prefix):
            return path + iri[len(prefix) :]
    return iri


def table_from_json(body: bytes, links: list[tuple[str, str]], truncated: bool) -> ResultTable:
    document = json.loads(body)
    if "boolean" in document:
        return ResultTable(boolean=bool(document["boolean"]), truncated=truncated)
    columns = document["head"].get("vars", [])
    rows = []
    for binding in document["results"]["bindings"]:
        row = []
        for column in columns:
            value = binding.get(column)
            row.append(_cell(value, links) if value is not None else Cell(""))
        rows.append(row)
    return ResultTable(columns=columns, rows=rows, truncated=truncated)


def _cell(value: dict, links: list[tuple[str, str]]) -> Cell:
    kind = value["type"]
    if kind == "uri":
        return Cell(value["value"], local_href(value["value"], links))
    if kind == "bnode":
        return Cell("_:" + value["value"])
    if kind == "literal":
        text = json.dumps(value["value"], ensure_ascii=False)
        if "xml:lang" in value:
            text += "@" + value["xml:lang"]
        elif "datatype" in value:
            text += "^^<" + value["datatype"] + ">"
        return Cell(text)
    return Cell(json.dumps(value["value"], ensure_ascii=False))
