"""Checks of the data before it is published: SHACL shapes and SPARQL violation queries.

* ``shacl(data, shapes_dir, ontology)`` validates with pyshacl against every ``*.ttl`` in
  ``shapes_dir`` (``errors.ttl`` holds the ``sh:Violation`` shapes, ``warnings.ttl`` the
  ``sh:Warning`` ones). No inference runs inside pyshacl: the data already holds the reasoner's
  triples. The ontology is mixed in so that ``sh:class`` sees the class hierarchy.
* ``violations(store_or_graph, checks_dir)`` runs every ``*-violation.rq`` (a SPARQL SELECT that
  returns the offending rows; the comment lines at its top say what it checks and how to fix it)
  over the union of all graphs.
* ``check(...)`` runs either or both and raises ``ValidationError`` on any SHACL error or violation
  row; warnings are returned, for printing.

Every result comes in a deterministic order, so that two runs over the same data print the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
import pyshacl
from rdflib import RDF, BNode, Graph, Literal, Namespace, URIRef
from rdflib.graph import ConjunctiveGraph
from rdflib.term import Node

from .errors import BuildError

SH = Namespace("http://www.w3.org/ns/shacl#")

SEVERITIES = {SH.Violation: "error", SH.Warning: "warning", SH.Info: "info"}
_RANK = {"error": 0, "warning": 1, "info": 2}
_MAX_ROWS_SHOWN = 20


class ValidationError(BuildError):
    """SHACL errors or violation rows: the data must not be published as it is."""

    def __init__(self, report: ShaclReport | None, failures: Sequence[ViolationResult]) -> None:
        self.report = report
        self.failures = list(failures)
        parts: list[str] = []
        if report is not None and report.errors:
            parts.append(f"SHACL validation found {len(report.errors)} error(s):")
            parts.extend(finding.format() for finding in report.errors)
        if self.failures:
            parts.append(f"{len(self.failures)} violation quer(y/ies) returned rows:")
            parts.extend(failure.format() for failure in self.failures)
        super().__init__(
            "\n".join(parts) or "validation failed",
            fix="correct the data files as each message says; a violation query's header says "
            "what it checks and how to fix it",
        )


# --------------------------------------------------------------------------- SHACL
@dataclass(frozen=True, order=True)
class Finding:
    """One SHACL validation result, ready to print."""

    focus_node: str
    path: str | None
    shape: str
    severity: str  # error | warning | info
    message: str
    value: str | None = None

    def format(self) -> str:
        where = f"shape {self.shape}" + (f", path {self.path}" if self.path else "")
        return f"{self.severity.upper()} {self.focus_node} ({where}): {self.message}"


@dataclass
class ShaclReport:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)  # sh:Warning and sh:Info

    @property
    def conforms(self) -> bool:
        return not self.errors

    def format(self) -> str:
        return "\n".join(finding.format() for finding in [*self.errors, *self.warnings])


def load_shapes(shapes_dir: Path) -> Graph:
    """Every ``*.ttl`` of ``shapes_dir`` in one graph."""
    files = sorted(shapes_dir.glob("*.ttl")) if shapes_dir.is_dir() else []
    if not files:
        raise BuildError(
            "no SHACL shapes (*.ttl) found",
            path=shapes_dir,
            fix="put the shapes in ontology/shapes/errors.ttl (sh:Violation) and warnings.ttl "
            "(sh:Warning)",
        )
    shapes = Graph(bind_namespaces="none")
    for path in files:
        try:
            shapes.parse(path, format="turtle")
        except Exception as exc:  # rdflib raises many parser exception types
            raise BuildError(
                f"the shapes do not parse as Turtle: {exc}",
                path=path,
                fix="fix the Turtle syntax at the place named",
            ) from None
    return shapes


def shacl(data: Graph, shapes_dir: Path, ontology: Graph | None = None) -> ShaclReport:
    """Validate ``data`` against the shapes in ``shapes_dir``; errors and warnings, sorted.

    A dataset is validated as the union of its graphs. ``ontology`` (optional) is mixed into a copy
    of the data so that ``sh:class`` follows ``rdfs:subClassOf``.
    """
    shapes = load_shapes(shapes_dir)
    if isinstance(data, ConjunctiveGraph):  # a dataset is validated as the union of its graphs
        union = Graph(bind_namespaces="none")
        for s, p, o, _g in data.quads((None, None, None, None)):
            union.add((s, p, o))
        data = union
    _conforms, results, _text = pyshacl.validate(
        data,
        shacl_graph=shapes,
        ont_graph=ontology,
        inference="none",
        advanced=True,
        abort_on_first=False,
        allow_infos=True,
        allow_warnings=True,
    )
    names = _Names(shapes, ontology, data)
    report = ShaclReport()
    for result in results.subjects(RDF.type, SH.ValidationResult):
        finding = _finding(results, shapes, result, names)
        (report.errors if finding.severity == "error" else report.warnings).append(finding)
    report.errors = sorted(set(report.errors), key=_finding_key)
    report.warnings = sorted(set(report.warnings), key=_finding_key)
    return report


def _finding_key(finding: Finding) -> tuple[int, str, str, str, str, str]:
    return (
        _RANK[finding.severity],
        finding.focus_node,
        finding.path or "",
        finding.shape,
        finding.message,
        finding.value or "",
    )


def _finding(results: Graph, shapes: Graph, result: Node, names: _Names) -> Finding:
    severity = SEVERITIES.get(results.value(result, SH.resultSeverity), "error")
    focus = results.value(result, SH.focusNode)
    path = results.value(result, SH.resultPath)
    shape = results.value(result, SH.sourceShape)
    value = results.value(result, SH.value)
    messages = [m for m in results.objects(result, SH.resultMessage) if isinstance(m, Literal)]
    if not messages and shape is not None:
        messages = [m for m in shapes.objects(shape, SH.message) if isinstance(m, Literal)]
    component = results.value(result, SH.sourceConstraintComponent)
    message = _pick_message(messages) or f"constraint {names.show(component)} not met"
    path_graph = results if path is not None and (path, None, None) in results else shapes
    return Finding(
        focus_node=names.show(focus, full=True),
        path=_show_path(path_graph, path, names) if path is not None else None,
        shape=_shape_name(shapes, shape, names),
        severity=severity,
        message=message,
        value=names.show(value, full=True) if value is not None else None,
    )


def _pick_message(messages: list[Literal]) -> str:
    """The English (or untagged) messages, else all; joined, in a stable order."""
    preferred = [m for m in messages if not m.language or m.language.lower().startswith("en")]
    return " / ".join(sorted({str(m) for m in preferred or messages}))


def _shape_name(shapes: Graph, shape: Node | None, names: _Names) -> str:
    """A shape's name; for a blank property shape, the name of the node shape holding it."""
    if isinstance(shape, URIRef):
        return names.show(shape)
    owners = sorted(o for o in shapes.subjects(SH.property, shape) if isinstance(o, URIRef))
    if owners:
        return names.show(owners[0])
    path = shapes.value(shape, SH.path) if shape is not None else None
    return f"[{_show_path(shapes, path, names)}]" if path is not None else "[]"


def _show_path(graph: Graph, path: Node, names: _Names) -> str:
    """A SHACL property path in SPARQL syntax (``^p``, ``p/q``, ``p|q``, ``p*``, ``p+``, ``p?``)."""
    if isinstance(path, URIRef):
        return names.show(path)
    items = list(graph.items(path)) if (path, RDF.first, None) in graph else None
    if items is not None:
        return "/".join(_show_path(graph, item, names) for item in items)
    for prop, template in (
        (SH.inversePath, "^{}"),
        (SH.zeroOrMorePath, "({})*"),
        (SH.oneOrMorePath, "({})+"),
        (SH.zeroOrOnePath, "({})?"),
    ):
        inner = graph.value(path, prop)
        if inner is not None:
            return template.format(_show_path(graph, inner, names))
    alternatives = graph.value(path, SH.alternativePath)
    if alternatives is not None:
        return "(" + "|".join(_show_path(graph, i, names) for i in graph.items(alternatives)) + ")"
    return names.show(path)


class _Names:
    """Prefixed names from the prefixes the shapes, ontology and data declare."""

    def __init__(self, *graphs: Graph | None) -> None:
        prefixes: dict[str, str] = {}
        for graph in graphs:
            if graph is None:
                continue
            for prefix, namespace in graph.namespaces():
                if prefix and str(namespace) not in prefixes.values():
                    prefixes.setdefault(prefix, str(namespace))
        self.prefixes = sorted(prefixes.items(), key=lambda item: (-len(item[1]), item[0]))

    def show(self, node: Node | None, full: bool = False) -> str:
        """A CURIE (or ``<iri>`` when ``full`` or without prefix), a literal in Turtle, ``[]``."""
        if isinstance(node, URIRef):
            if not full:
                text = str(node)
                for prefix, namespace in self.prefixes:
                    local = text[len(namespace) :]
                    if text.startswith(namespace) and re.fullmatch(r"[A-Za-z_][\w.-]*", local):
                        return f"{prefix}:{local}"
            return f"<{node}>"
        if isinstance(node, Literal):
            text = '"' + str(node).replace("\\", "\\\\").replace('"', '\\"') + '"'
            if node.language:
                return f"{text}@{node.language}"
            return f"{text}^^{self.show(node.datatype)}" if node.datatype else text
        if isinstance(node, BNode):
            return "[]"
        return "?" if node is None else str(node)


# --------------------------------------------------------------------------- SPARQL
@dataclass(frozen=True)
class ViolationResult:
    """A violation query that returned rows."""

    file: str
    header: str  # the comment lines at the top of the file: what it checks, how to fix it
    variables: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def format(self) -> str:
        lines = [f"{self.file}: {len(self.rows)} row(s)"]
        lines.extend(f"  # {line}" if line else "  #" for line in self.header.splitlines())
        lines.append("  " + " | ".join(f"?{v}" for v in self.variables))
        lines.extend("  " + " | ".join(row) for row in self.rows[:_MAX_ROWS_SHOWN])
        if len(self.rows) > _MAX_ROWS_SHOWN:
            lines.append(f"  ... and {len(self.rows) - _MAX_ROWS_SHOWN} more")
        return "\n".join(lines)


def comment_header(query: str) -> str:
    """The comment lines at the top of a query, without their ``#``."""
    lines: list[str] = []
    for line in query.splitlines():
        stripped = line.strip()
        if not stripped and not lines:
            continue
        if not stripped.startswith("#"):
            break
        lines.append(stripped[1:].removeprefix(" ").rstrip())
    return "\n".join(lines).strip("\n")


def as_store(store_or_graph: ox.Store | Graph) -> ox.Store:
    """A pyoxigraph store as it is, or an in-memory copy of an rdflib graph or dataset."""
    if isinstance(store_or_graph, ox.Store):
        return store_or_graph
    store = ox.Store()
    if isinstance(store_or_graph, ConjunctiveGraph):
        data = store_or_graph.serialize(format="nquads", encoding="utf-8")
        store.load(data, format=ox.RdfFormat.N_QUADS)
    else:
        data = store_or_graph.serialize(format="nt", encoding="utf-8")
        store.load(data, format=ox.RdfFormat.N_TRIPLES)
    return store


def violations(store_or_graph: ox.Store | Graph, checks_dir: Path) -> list[ViolationResult]:
    """Run every ``*-violation.rq`` in ``checks_dir``; the ones that returned rows, by file name."""
    if not checks_dir.is_dir():
        raise BuildError(
            "the folder of violation queries does not exist",
            path=checks_dir,
            fix="create it (ontology/checks) with one <what>-violation.rq SELECT query per check",
        )
    store = as_store(store_or_graph)
    failures = []
    for path in sorted(checks_dir.glob("*-violation.rq")):
        query = path.read_text(encoding="utf-8")
        try:
            results = store.query(query, use_default_graph_as_union=True)
        except SyntaxError as exc:
            raise BuildError(
                f"the violation query does not parse: {exc}",
                path=path,
                fix="correct the SPARQL syntax",
            ) from None
        variables, rows = _rows(results, path)
        if rows:
            failures.append(ViolationResult(path.name, comment_header(query), variables, rows))
    return failures


def _rows(
    results: ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples, path: Path
) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    if isinstance(results, ox.QuerySolutions):
        variables = tuple(v.value for v in results.variables)
        rows = {
            tuple("" if term is None else str(term) for term in solution) for solution in results
        }
        return variables, tuple(sorted(rows))
    if isinstance(results, ox.QueryBoolean):
        return ("violated",), ((("true",),) if bool(results) else ())
    raise BuildError(
        "a violation query must be a SELECT (or ASK) query",
        path=path,
        fix="select the offending nodes: SELECT ?node ... WHERE { ... }",
    )


# --------------------------------------------------------------------------- all checks
def check(
    data: Graph | None = None,
    shapes_dir: Path | None = None,
    *,
    ontology: Graph | None = None,
    store: ox.Store | Graph | None = None,
    checks_dir: Path | None = None,
) -> list[Finding]:
    """Run SHACL (``data`` + ``shapes_dir``) and/or the violation queries (``store`` +
    ``checks_dir``); raise ``ValidationError`` on any SHACL error or violation row.

    Returns the SHACL warnings (and infos), which do not fail the build.
    """
    report = shacl(data, shapes_dir, ontology) if data is not None and shapes_dir else None
    failures = violations(store, checks_dir) if store is not None and checks_dir else []
    if (report is not None and report.errors) or failures:
        raise ValidationError(report, failures)
    return list(report.warnings) if report is not None else []
