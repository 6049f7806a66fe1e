"""How many triples and named graphs a store holds: counted once, when the store is written.

``kgpub build`` and ``kgpub load`` write ``counts.json`` into the store's folder; the service
description and the health check read it, so neither scans the data while serving (at 1M triples
the counting takes about 2 s, at 10M it would outlast the query timeout). A store without the file,
or whose data changed since, is counted by the server itself, once per build and worker.

The triples are those of the endpoint's default graph, the union of all graphs: a triple stated in
several graphs counts once there, so they can be fewer than the quads.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from kgpub.searchindex import store_fingerprint

FILE_NAME = "counts.json"  # in the store's folder
SCHEMA = 1
# the named graphs listed by name and size, the first by IRI (one graph per fact adds up)
LISTED_GRAPHS = 1000
# the distinct triples are counted in memory, about 270 bytes each (336 MB to count 1M, where
# loading them took 976 MB): past this many quads they are not counted, so that the last step of a
# load never needs much more memory than the loading itself (about 1.4 GB at the limit)
DISTINCT_AT_MOST = 5_000_000

QUADS = "SELECT (COUNT(*) AS ?n) WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"
# spelled out rather than asked of a store's union default graph: a remote store may have none
UNION_TRIPLES = (
    "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { "
    "{ ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } } }"
)
GRAPH_NAMES = "SELECT (COUNT(DISTINCT ?g) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"


def graph_sizes(limit: int) -> str:
    """The first ``limit`` named graphs by IRI with their triples (how many there are in all is
    ``GRAPH_NAMES``)."""
    return (
        "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } "
        f"GROUP BY ?g ORDER BY ?g LIMIT {int(limit)}"
    )


@dataclass(frozen=True)
class Counts:
    # distinct triples in the union of all graphs (the endpoint's default graph); None when there
    # were too many quads to count them (``DISTINCT_AT_MOST``)
    triples: int | None
    quads: int  # statements in all graphs, the store's default graph included
    named_graphs: int
    graphs: dict[str, int]  # named graph -> its triples, the first ``LISTED_GRAPHS`` by IRI

    @property
    def more_graphs(self) -> bool:
        """Whether there are named graphs beyond those listed."""
        return self.named_graphs > len(self.graphs)


# the rows of a SELECT over the store's own dataset (its default graph as it is), each value with
# its lexical form as ``.value``
Select = Callable[[str], list[dict[str, Any]]]


def count(select: Select, limit: int | None = None, distinct_at_most: int | None = None) -> Counts:
    """Four queries: the quads, the union's distinct triples (up to ``distinct_at_most`` quads,
    ``DISTINCT_AT_MOST``), the named graphs, and the sizes of the first ``limit``
    (``LISTED_GRAPHS``) of them."""
    limit = LISTED_GRAPHS if limit is None else limit
    most = DISTINCT_AT_MOST if distinct_at_most is None else distinct_at_most

    def number(sparql: str) -> int:
        return int(select(sparql)[0]["n"].value)

    quads = number(QUADS)
    rows = select(graph_sizes(limit))
    return Counts(
        triples=number(UNION_TRIPLES) if quads <= most else None,
        quads=quads,
        named_graphs=number(GRAPH_NAMES),
        graphs={row["g"].value: int(row["n"].value) for row in rows},
    )


def summary(counts: Counts) -> str:
    """The counts in a line of progress."""
    triples = f"{counts.triples:,} triples" if counts.triples is not None else "triples not counted"
    return f"{triples}, {counts.quads:,} quads, {counts.named_graphs:,} named graphs"


def count_store_folder(store_dir: Path) -> Counts:
    """Count a closed store and write ``counts.json`` into its folder (by rename: whole or not
    at all)."""
    counts = count(_selecting(ox.Store.read_only(str(store_dir))))  # closed when dropped
    document = {"schema": SCHEMA, "data": store_fingerprint(store_dir), **asdict(counts)}
    handle, tmp = tempfile.mkstemp(prefix=".counts-", dir=store_dir)
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=1)
        file.write("\n")
    os.replace(tmp, store_dir / FILE_NAME)
    return counts


def _selecting(store: ox.Store) -> Select:
    def select(sparql: str) -> list[dict[str, Any]]:
        return list(store.query(sparql))  # type: ignore[arg-type]

    return select


def read_counts(store_dir: Path) -> Counts | None:
    """The counts written for the data the folder holds now; None when there are none, they
    are for other data (the store changed since) or the file is not ours."""
    try:
        document = json.loads((store_dir / FILE_NAME).read_text(encoding="utf-8"))
        if document.get("schema") != SCHEMA or document.get("data") != store_fingerprint(store_dir):
            return None
        graphs = document["graphs"]
        return Counts(
            triples=None if document["triples"] is None else int(document["triples"]),
            quads=int(document["quads"]),
            named_graphs=int(document["named_graphs"]),
            graphs={str(name): int(size) for name, size in graphs.items()},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
