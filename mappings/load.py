"""``kgpub load``: any RDF files into a store the server can serve (other datasets than ours)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import pyoxigraph as ox

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


def load(
    files: list[Path], store_dir: Path, replace: bool = False, stream: TextIO | None = None
) -> int:
    """Load ``files`` into a new store at ``store_dir``; return the number of quads.

    The store is built in a temporary folder beside the target and renamed into place, so a
    failure leaves any previous store as it was.
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
            out.write(f"[{n}/{len(formats)}] loading {path} ({fmt.name}) ...")
            out.flush()
            t0 = time.perf_counter()
            digest.update(path.name.encode() + b"\0" + str(path.stat().st_size).encode())
            try:
                if path.suffix.lower() == ".gz":
                    import gzip

                    with gzip.open(path, "rb") as fh:
                        store.bulk_load(fh, format=fmt)
                else:
                    store.bulk_load(path=str(path), format=fmt)
            except SyntaxError as exc:
                raise BuildError(
                    f"not valid {fmt.name}: {exc}",
                    path=path,
                    fix="fix the syntax at the place named",
                ) from None
            out.write(f" {time.perf_counter() - t0:.1f} s\n")
        out.write("optimizing ...")
        out.flush()
        store.optimize()
        count = len(store)
        store.flush()
        del store
        digest.update(str(count).encode())
        marker = {
            "build_id": digest.hexdigest()[:16],
            "quads": count,
            "files": [str(p) for p in files],
        }
        (tmp / STORE_MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        if store_dir.exists():
            shutil.rmtree(store_dir)
        tmp.rename(store_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    out.write(f" done: {count} quads in {time.perf_counter() - start:.1f} s -> {store_dir}\n")
    return count
