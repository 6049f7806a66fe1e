"""The one interface routes use to reach the data, and its embedded pyoxigraph implementation.

Routes never import pyoxigraph: they call a ``Store``. Today that is ``EmbeddedStore``, the
read-only build store queried in killable processes (``pool.py``); a store that forwards to a
remote SPARQL endpoint can stand behind the same interface.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .formats import SPARQL_JSON, Format, Kind
from .pool import Answer, ExecutorPool, QueryFailed


@dataclass(frozen=True)
class QueryRequest:
    """One SPARQL query as the protocol received it, with the dataset and formats decided."""

    query: str
    formats: Mapping[Kind, Format | None]  # per result kind; None: the client accepts none
    default_graphs: tuple[str, ...] | None = None  # default-graph-uri, None when not given
    named_graphs: tuple[str, ...] | None = None  # named-graph-uri, None when not given
    union_default_graph: bool = True  # the default graph is the union of all graphs
    max_rows: int = 0  # 0: no cap
    timeout: float = 10.0
    prefixes: Mapping[str, str] = field(default_factory=dict)  # for Turtle and TriG output
    truncation_link: str | None = None  # in-band note on a truncated SPARQL JSON/XML answer


@dataclass(frozen=True)
class Term:
    """An RDF term as SPARQL JSON results give it: kind is uri, bnode, literal or triple."""

    kind: str
    value: str
    datatype: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class QuadRow:
    subject: Term
    predicate: Term
    object: Term
    graph: Term | None  # None: the default graph


@dataclass(frozen=True)
class Counts:
    default_graph_triples: int  # triples outside every named graph
    graphs: Mapping[str, int]  # named graph -> triples, at most ``limit`` of them
    more_graphs: bool  # True when there are graphs beyond those listed

    @property
    def triples(self) -> int:
        return self.default_graph_triples + sum(self.graphs.values())


class Store(Protocol):
    @property
    def identity(self) -> str:
        """Names the data being served; equal identities mean equal answers (cache key)."""
        ...

    def query(self, request: QueryRequest) -> Answer:
        """Run a query: the answer whole or streamed. Raises pool.QueryTimeout, pool.Busy or
        pool.QueryFailed."""
        ...

    def select(self, sparql: str, timeout: float, union: bool = True) -> list[dict[str, Term]]:
        """The rows of a small SELECT as terms; ``union``: the default graph is all graphs."""
        ...

    def resource_quads(self, iri: str, limit: int, timeout: float) -> list[QuadRow]:
        """The quads with ``iri`` as subject or object, in every graph."""
        ...

    def counts(self, limit: int, timeout: float) -> Counts: ...

    def close(self) -> None: ...


def build_identity(path: Path) -> str:
    """A short hash of the store's real location and RocksDB's current manifest.

    ``build/current`` is a symlink to ``build/<build-id>``, so the real path names the build; the
    manifest's name and size change whenever the data does, even if a store is rebuilt in place.
    Computed once; it reads no data, so it does not grow with the store.
    """
    real = path.resolve()
    digest = hashlib.sha256(str(real).encode())
    current = real / "CURRENT"
    if current.is_file():
        manifest = current.read_text().strip()
        digest.update(manifest.encode())
        try:
            stat = (real / manifest).stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        except OSError:
            pass
    return digest.hexdigest()[:16]


class EmbeddedStore:
    """The build's pyoxigraph store, opened read-only by query processes of this worker."""

    def __init__(self, path: Path, pool_size: int) -> None:
        self.path = path
        # the symlink is resolved once: every query process of this server reads the same build
        self.real_path = str(path.resolve())
        self.pool_size = pool_size
        self._identity: str | None = None
        self._pool: ExecutorPool | None = None
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = build_identity(self.path)
        return self._identity

    def _executors(self) -> ExecutorPool:
        """The pool of this process, made after the fork: processes and sockets are not shared
        across gunicorn workers."""
        pool = self._pool
        if pool is not None and pool.pid == os.getpid():
            return pool
        with self._lock:
            if self._pool is None or self._pool.pid != os.getpid():
                if not Path(self.real_path).is_dir():
                    raise QueryFailed("store", f"no store at {self.path}: build it first")
                self._pool = ExecutorPool(self.real_path, self.pool_size)
                atexit.register(self._pool.close)
            return self._pool

    def query(self, request: QueryRequest) -> Answer:
        message = {
            "query": request.query,
            "default_graphs": _list(request.default_graphs),
            "named_graphs": _list(request.named_graphs),
            "union": request.union_default_graph,
            "formats": {
                str(kind): (fmt.media_type if fmt is not None else None)
                for kind, fmt in request.formats.items()
            },
            "max_rows": request.max_rows,
            "prefixes": dict(request.prefixes),
            "link": request.truncation_link,
        }
        return self._executors().run(message, request.timeout)

    def select(self, sparql: str, timeout: float, union: bool = True) -> list[dict[str, Term]]:
        answer = self.query(
            QueryRequest(
                sparql, {Kind.SOLUTIONS: SPARQL_JSON}, union_default_graph=union, timeout=timeout
            )
        )
        body = answer.body if answer.body is not None else b"".join(answer.chunks or ())
        document = json.loads(body)
        return [
            {name: _term(value) for name, value in binding.items()}
            for binding in document["results"]["bindings"]
        ]

    def resource_quads(self, iri: str, limit: int, timeout: float) -> list[QuadRow]:
        node = "<" + iri.replace(">", "%3E") + ">"
        rows = self.select(
            "SELECT ?s ?p ?o ?g WHERE { "
            f"{{ GRAPH ?g {{ {node} ?p ?o }} BIND({node} AS ?s) }} UNION "
            f"{{ GRAPH ?g {{ ?s ?p {node} }} BIND({node} AS ?o) }} UNION "
            f"{{ {node} ?p ?o BIND({node} AS ?s) }} UNION {{ ?s ?p {node} BIND({node} AS ?o) }}"
            f" }} LIMIT {int(limit)}",
            timeout,
            union=False,  # the un-GRAPHed patterns are for the store's own default graph only
        )
        return [QuadRow(row["s"], row["p"], row["o"], row.get("g")) for row in rows]

    def counts(self, limit: int, timeout: float) -> Counts:
        default = self.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", timeout, union=False)
        default_count = int(default[0]["n"].value)
        rows = self.select(
            "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } "
            f"GROUP BY ?g ORDER BY ?g LIMIT {int(limit) + 1}",
            timeout,
        )
        graphs = {row["g"].value: int(row["n"].value) for row in rows[:limit]}
        return Counts(default_count, graphs, len(rows) > limit)

    def close(self) -> None:
        if self._pool is not None and self._pool.pid == os.getpid():
            self._pool.close()


def _list(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


def _term(value: dict) -> Term:
    if value["type"] == "triple":
        # quoted triples are rare here; keep their N-Triples-like text rather than drop them
        inner = value["value"]
        text = " ".join(_term(inner[k]).value for k in ("subject", "predicate", "object"))
        return Term("triple", text)
    return Term(value["type"], value["value"], value.get("datatype"), value.get("xml:lang"))
