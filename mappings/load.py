"""``kgpub load``: any RDF files into a store the server can serve (other datasets than ours)."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO

import pyoxigraph as ox

from kgpub import searchindex, storecounts
from kgpub.settings import DEFAULT_BASE_IRI

from .build import STORE_MARKER
from .errors import BuildError

# file suffix -> pyoxigraph format; a trailing .gz is read through gzip
SUFFIX_FORMATS = {
    ".ttl": ox.RdfFormat.TURTLE,
    ".turtle": ox.RdfFormat.TURTLE,
    ".nt": ox.RdfFormat.N_TRIPLES,
    ".ntriples": ox.RdfFormat.N_TRIPLES,
    ".nq": ox.RdfFormat.N_QUADS,
    ".nquads": ox.RdfFormat.N_QUADS,
    ".trig": ox.RdfFormat.TRIG,
    ".rdf": ox.RdfFormat.RDF_XML,
    ".owl": ox.RdfFormat.RDF_XML,
    ".xml": ox.RdfFormat.RDF_XML,
    ".jsonld": ox.RdfFormat.JSON_LD,
    ".json": ox.RdfFormat.JSON_LD,
}


def format_of(path: Path) -> ox.RdfFormat:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    fmt = SUFFIX_FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise BuildError(
            "cannot tell the RDF format from the file name",
            path=path,
            fix=f"name it with one of {', '.join(sorted(SUFFIX_FORMATS))} (optionally + .gz)",
        )
    return fmt


PROGRESS_EVERY = 5.0  # seconds between progress lines in a log
PROGRESS_EVERY_TTY = 0.5  # ... and between redraws of the progress line on a terminal
# formats with one statement per line: counting newlines counts the triples as they go by
LINE_FORMATS = (ox.RdfFormat.N_TRIPLES, ox.RdfFormat.N_QUADS)


class Progress:
    """Reports how far the loading of one file is, on ``out``: a line every few seconds, or one
    line redrawn in place when ``out`` is a terminal.

    ``Store.bulk_load`` has no progress callback, so the file goes to it through a
    ``ProgressReader`` that calls ``update`` as the loader reads.
    """

    def __init__(self, out: TextIO, total_bytes: int, counts_triples: bool) -> None:
        self.out = out
        self.tty = out.isatty()
        self.every = PROGRESS_EVERY_TTY if self.tty else PROGRESS_EVERY
        self.total_bytes = total_bytes
        self.counts_triples = counts_triples
        self.started = self.last = time.perf_counter()
        self.read_to_end = False
        self.shown = False

    def update(self, done_bytes: int, triples: int) -> None:
        now = time.perf_counter()
        if not self.read_to_end and now - self.last >= self.every:
            self.last = now
            self.show(self.describe(done_bytes, triples, now - self.started))

    def input_read(self, done_bytes: int, triples: int) -> None:
        """The whole file is read; the loader still sorts and writes its last batch."""
        self.read_to_end = True
        elapsed = time.perf_counter() - self.started
        self.show(self.describe(done_bytes, triples, elapsed) + "; writing the indexes ...")

    def show(self, line: str) -> None:
        self.out.write(f"\r  {line}\033[K" if self.tty else f"  {line}\n")
        self.out.flush()
        self.shown = True

    def describe(self, done_bytes: int, triples: int, elapsed: float) -> str:
        share = f" ({100 * done_bytes / self.total_bytes:.0f}%)" if self.total_bytes else ""
        rate = max(elapsed, 1e-9)
        if self.counts_triples:
            done = f"{triples:,} triples read{share}, {triples / rate:,.0f} triples/s"
        else:  # Turtle, RDF/XML, JSON-LD: only the bytes read are known while loading
            done = f"{done_bytes / 1e6:,.1f} MB read{share}, {done_bytes / 1e6 / rate:,.1f} MB/s"
        return f"{done}, {elapsed:,.1f} s"

    def finish(self) -> None:
        if self.tty and self.shown:
            self.out.write("\r\033[K")  # the file's summary line replaces the progress line
            self.out.flush()


class ProgressReader:
    """A binary stream handed to the bulk loader: reads ``stream`` and reports progress.

    ``position`` gives how far into the file the reading is (for a .gz file, in compressed
    bytes: what the file's size is measured in); newlines are counted in what the loader gets.
    """

    def __init__(self, stream: BinaryIO, position: Callable[[], int], progress: Progress) -> None:
        self.stream = stream
        self.position = position
        self.progress = progress
        self.lines = 0
        self.at_end = False

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        if chunk:
            self.lines += chunk.count(b"\n")
            self.progress.update(self.position(), self.lines)
        elif not self.at_end:
            self.at_end = True
            self.progress.input_read(self.position(), self.lines)
        return chunk


def load_file(store: ox.Store, path: Path, fmt: ox.RdfFormat, out: TextIO) -> int | None:
    """Bulk-load one file, reporting progress; the number of triples when the format tells it
    line by line (N-Triples, N-Quads; blank and comment lines aside), else None."""
    size = path.stat().st_size
    progress = Progress(out, size, fmt in LINE_FORMATS)
    with open(path, "rb") as raw:
        if path.suffix.lower() == ".gz":
            stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")
        else:
            stream = raw
        reader = ProgressReader(stream, raw.tell, progress)
        try:
            store.bulk_load(reader, format=fmt)
        except SyntaxError as exc:
            raise BuildError(
                f"not valid {fmt.name}: {exc}", path=path, fix="fix the syntax at the place named"
            ) from None
        except (OSError, EOFError) as exc:  # gzip: not gzip data, or a file cut short
            raise BuildError(
                f"cannot read the file: {exc}", path=path, fix="check that the file is whole"
            ) from None
        finally:
            progress.finish()
    return reader.lines if fmt in LINE_FORMATS else None


def load(
    files: list[Path],
    store_dir: Path,
    replace: bool = False,
    stream: TextIO | None = None,
    base_iri: str = DEFAULT_BASE_IRI,
) -> int:
    """Load ``files`` into a new store at ``store_dir``; return the number of quads.

    The store is built in a temporary folder beside the target and renamed into place, so a
    failure leaves any previous store as it was. Progress goes to ``stream`` (stderr). The last
    step writes the label search index for the pages under ``base_iri`` into the store's folder.
    """
    out = stream if stream is not None else sys.stderr
    formats = [(f, format_of(f)) for f in files]  # every name checked before any work
    for path, _ in formats:
        if not path.is_file():
            raise BuildError("no such file", path=path, fix="check the path")
    if store_dir.exists() and any(store_dir.iterdir()) and not replace:
        raise BuildError(
            "the store folder exists and is not empty",
            path=store_dir,
            fix="pass --replace to overwrite it, or name a new folder",
        )
    store_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{store_dir.name}-", dir=store_dir.parent))
    digest = hashlib.sha256()
    start = time.perf_counter()
    try:
        store = ox.Store(str(tmp))
        for n, (path, fmt) in enumerate(formats, 1):
            size = path.stat().st_size
            out.write(f"[{n}/{len(formats)}] loading {path} ({fmt.name}, {size / 1e6:,.1f} MB)\n")
            out.flush()
            t0 = time.perf_counter()
            digest.update(path.name.encode() + b"\0" + str(size).encode())
            triples = load_file(store, path, fmt, out)
            seconds = time.perf_counter() - t0
            rate = f", {triples / seconds:,.0f} triples/s" if triples and seconds else ""
            what = f"{triples:,} triples" if triples is not None else "loaded"
            out.write(f"[{n}/{len(formats)}] {path.name}: {what} in {seconds:.1f} s{rate}\n")
        out.write("optimizing ...")
        out.flush()
        t0 = time.perf_counter()
        store.optimize()
        count = len(store)
        store.flush()
        del store
        out.write(f" {time.perf_counter() - t0:.1f} s\n")
        digest.update(str(count).encode())
        marker = {
            "build_id": digest.hexdigest()[:16],
            "quads": count,
            "files": [str(p) for p in files],
        }
        (tmp / STORE_MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        out.write("indexing the labels for search ...")
        out.flush()
        stats = searchindex.index_store_folder(tmp, base_iri)
        out.write(
            f" {stats.labels:,} labels of {stats.resources:,} resources, "
            f"{stats.bytes / 1e6:,.1f} MB in {stats.seconds:.1f} s\n"
        )
        out.write("counting the triples and graphs ...")
        out.flush()
        t0 = time.perf_counter()
        counts = storecounts.count_store_folder(tmp)
        out.write(f" {storecounts.summary(counts)} in {time.perf_counter() - t0:.1f} s\n")
        if store_dir.exists():
            shutil.rmtree(store_dir)
        tmp.rename(store_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    elapsed = time.perf_counter() - start
    out.write(
        f"done: {count} quads in {elapsed:.1f} s ({count / elapsed:,.0f} quads/s) -> {store_dir}\n"
    )
    return count
