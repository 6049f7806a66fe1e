"""The pipeline: articles and facts -> graphs -> reasoning and checks -> store and dumps.

Everything is written into a fresh folder first; only when every step has passed does the folder
become ``<build_dir>/<build-id>`` and ``<build_dir>/current`` point at it (an atomic symlink swap).
A failed build leaves the previous one untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pyoxigraph as ox
from rdflib import OWL, Graph, URIRef

from kgpub import __version__, searchindex, storecounts
from kgpub.settings import Settings

from . import coverage, describe, dumps
from .errors import DataError
from .facts import ArticleData, Entity, load_article
from .graphs import PREFIXES, Mapper, new_graph
from .iris import Minter
from .ontology import Ontology
from .yamlsrc import Located

STORE_MARKER = "kgpub-build.json"  # written beside a store: its identity for caches and health


class Progress:
    """Numbered steps with their time, on stderr (or any stream)."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        self.done += 1
        self.stream.write(f"[{self.done}/{self.total}] {what} ...")
        self.stream.flush()
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            self.stream.write(" failed\n")
            raise
        self.stream.write(f" {time.perf_counter() - start:.2f} s\n")
        self.stream.flush()

    def note(self, message: str) -> None:
        self.stream.write(f"\n      {message}")
        self.stream.flush()


@dataclass
class Build:
    """Everything one run of the pipeline produced, before it is written."""

    graphs: dict[URIRef, Graph] = field(default_factory=dict)
    articles: list[ArticleData] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # data/dataset.yaml


def article_folders(data_dir: Path) -> list[Path]:
    articles = data_dir / "articles"
    if not articles.is_dir():
        raise DataError(
            "no articles folder",
            path=articles,
            fix="put each article in data/articles/<slug>/ (see data/README.md)",
        )
    folders = sorted(p for p in articles.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(
            "no article folders",
            path=articles,
            fix="add data/articles/<slug>/article.txt and its YAML files",
        )
    return folders


def assemble(settings: Settings, progress: Progress) -> Build:
    """Read, map, reason and check; raise BuildError on any problem."""
    from . import reason, validate  # heavy imports (owlready2, pyshacl) only when building

    minter = Minter(settings.base_iri)
    build = Build()
    with progress.step("reading the ontology"):
        ontology = Ontology.load(settings.ontology_path / "kgpub.ttl")
    with progress.step("reading articles and curated facts"):
        registry: dict[str, Located] = {}
        build.articles = [load_article(f, registry) for f in article_folders(settings.data_path)]
        entities: dict[str, Entity] = {e.id: e for a in build.articles for e in a.entities}
        for data in build.articles:
            coverage.check(data)
    with progress.step("mapping text and facts to RDF"):
        mapper = Mapper(minter, ontology, entities)
        mapped = [mapper.map_article(a) for a in build.articles]
        ontology_graph = new_graph()
        ontology_graph += ontology.graph
        fact_graphs = {name: g for m in mapped for name, g in m.facts.items()}
        asserted = new_graph()
        for graph in fact_graphs.values():
            asserted += graph
    with progress.step("reasoning (OWL 2, HermiT)"):
        # owl:sameAs links point outside the dataset: the reasoner would copy every fact onto the
        # external IRIs, which is no part of what we publish
        to_reason = new_graph()
        to_reason += asserted
        to_reason.remove((None, OWL.sameAs, None))
        inferred = reason.reason(ontology.graph, to_reason)
        inferred_graph = new_graph()
        for triple in inferred:
            if triple not in asserted:
                inferred_graph.add(triple)
    with progress.step("validating with SHACL"):
        data_graph = new_graph()
        data_graph += asserted
        data_graph += inferred_graph
        for m in mapped:
            data_graph += m.text
            data_graph += m.provenance
        warnings = validate.check(
            data_graph, settings.ontology_path / "shapes", ontology=ontology.graph
        )
        build.warnings.extend(w.format() for w in warnings)

    graphs: dict[URIRef, Graph] = {minter.ontology_graph: ontology_graph}
    for data, m in zip(build.articles, mapped, strict=True):
        graphs[minter.text_graph(data.slug)] = m.text
        graphs[minter.provenance_graph(data.slug)] = m.provenance
    graphs.update(fact_graphs)
    graphs[minter.inferred_graph] = inferred_graph
    meta = describe.load_dataset_meta(settings.data_path / "dataset.yaml")
    parts = {
        "ontology": [ontology_graph],
        "text": [m.text for m in mapped],
        "facts": list(fact_graphs.values()),
        "provenance": [m.provenance for m in mapped],
        "inferred": [inferred_graph],
    }
    graphs[minter.dataset_graph] = describe.describe(
        minter,
        meta,
        parts,
        [minter.article(a.slug) for a in build.articles],
        {p: str(ns) for p, ns in PREFIXES.items()},
    )
    build.graphs = graphs
    build.meta = meta
    return build


def write(settings: Settings, build: Build, progress: Progress) -> Path:
    """Write store, dumps and reports into a fresh folder and swap it in; return its path."""
    from . import validate

    minter = Minter(settings.base_iri)
    name = str(build.meta.get("name", "kgpub"))
    settings.build_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=settings.build_dir))
    tmp.chmod(0o755)  # mkdtemp makes it private; servers may run as another user
    try:
        prefixes = {p: str(ns) for p, ns in PREFIXES.items()}
        with progress.step("writing dumps (Turtle, N-Triples, N-Quads, TriG, JSON-LD, gzip)"):
            quads = dumps.sorted_quads(build.graphs)
            dump_dir = tmp / "dumps"
            dump_dir.mkdir()
            files = []
            triples = len(dumps.sorted_triples(quads))
            for fmt in dumps.DUMP_FORMATS:
                data = dumps.serialize(fmt, build.graphs, prefixes, quads)
                for filename, payload in (
                    (f"{name}.{fmt.suffix}", data),
                    (f"{name}.{fmt.suffix}.gz", dumps.gzipped(data)),
                ):
                    (dump_dir / filename).write_bytes(payload)
                    files.append(
                        {
                            "file": filename,
                            "format": fmt.name,
                            "media_type": fmt.media_type,
                            "encoding": "gzip" if filename.endswith(".gz") else None,
                            "bytes": len(payload),
                            "sha256": dumps.sha256(payload),
                            "triples": len(quads) if fmt.quads else triples,
                            "statements": "quads" if fmt.quads else "triples",
                        }
                    )
            nquads = (dump_dir / f"{name}.nq").read_bytes()
            build_id = dumps.sha256(nquads)[:16]
            (dump_dir / "SHA256SUMS").write_text(
                "".join(f"{f['sha256']}  {f['file']}\n" for f in files), encoding="utf-8"
            )
            void = describe.add_checksums(build.graphs[minter.dataset_graph], minter, files)
            (dump_dir / "void.ttl").write_bytes(
                void.serialize(format="longturtle", encoding="utf-8")
            )
        with progress.step("loading the store (pyoxigraph)"):
            store = ox.Store(str(tmp / "store"))
            store.bulk_load(nquads, format=ox.RdfFormat.N_QUADS)
            store.optimize()
            store.flush()
        with progress.step("running violation queries"):
            try:
                validate.check(store=store, checks_dir=settings.ontology_path / "checks")
            finally:
                del store
        with progress.step("indexing the labels for search (SQLite FTS5)"):
            stats = searchindex.index_store_folder(tmp / "store", settings.base_iri)
            progress.note(
                f"{stats.labels:,} labels of {stats.resources:,} resources, "
                f"{stats.bytes / 1e6:,.1f} MB"
            )
        with progress.step("counting the triples and graphs"):
            counts = storecounts.count_store_folder(tmp / "store")
            progress.note(storecounts.summary(counts))
        with progress.step("writing reports and manifest"):
            rows = [r for a in build.articles for r in coverage.rows(a)]
            reports = tmp / "reports"
            reports.mkdir()
            (reports / "coverage.md").write_text(coverage.markdown(rows), encoding="utf-8")
            (reports / "coverage.json").write_text(coverage.as_json(rows), encoding="utf-8")
            (reports / "warnings.txt").write_text(
                "".join(w + "\n" for w in build.warnings), encoding="utf-8"
            )
            manifest = {
                "build_id": build_id,
                "base_iri": settings.base_iri,
                "kgpub_version": __version__,
                "name": name,
                "articles": [a.slug for a in build.articles],
                "graphs": len(build.graphs),
                "quads": len(quads),
                "triples": triples,
                "dumps": files,
            }
            text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
            (tmp / "manifest.json").write_text(text, encoding="utf-8")
            (tmp / "store" / STORE_MARKER).write_text(text, encoding="utf-8")
        return swap_in(settings, tmp, build_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def swap_in(settings: Settings, tmp: Path, build_id: str) -> Path:
    """Make ``tmp`` the build ``build_id`` and point ``current`` at it atomically."""
    target = settings.build_dir / build_id
    if target.exists():
        # built before from the same input: same bytes; keep the copy servers may have open,
        # with the counts a build by an older kgpub did not write beside its store
        shutil.rmtree(tmp)
        if storecounts.read_counts(target / "store") is None:
            storecounts.count_store_folder(target / "store")
    else:
        os.rename(tmp, target)
    link = settings.build_dir / "current"
    new_link = settings.build_dir / f".current-{os.getpid()}"
    if new_link.is_symlink() or new_link.exists():
        new_link.unlink()
    os.symlink(build_id, new_link)
    os.replace(new_link, link)
    prune(settings, keep=build_id)
    return target


def prune(settings: Settings, keep: str) -> None:
    builds = sorted(
        (
            p
            for p in settings.build_dir.iterdir()
            if p.is_dir()
            and not p.is_symlink()
            and not p.name.startswith(".")
            and (p / "manifest.json").exists()
            and p.name != keep
        ),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in builds[max(settings.keep_builds - 1, 0) :]:
        shutil.rmtree(old, ignore_errors=True)


def run(settings: Settings, stream: TextIO | None = None) -> Path:
    """``kgpub build``: the whole pipeline."""
    progress = Progress(total=11, stream=stream)
    start = time.perf_counter()
    build = assemble(settings, progress)
    path = write(settings, build, progress)
    out = progress.stream
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    for warning in build.warnings:
        out.write(f"warning: {warning}\n")
    out.write(
        f"built {manifest['build_id']}: {len(build.articles)} article(s), "
        f"{manifest['triples']} triples in {manifest['graphs']} graphs, in "
        f"{time.perf_counter() - start:.1f} s -> {settings.build_dir / 'current'}\n"
    )
    return path
