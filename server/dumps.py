"""``/dumps/``: the build's dump files, and ``/.well-known/void``: the dataset's description.

The files are those the build listed in ``manifest.json`` beside the store being served, plus
``SHA256SUMS`` and ``void.ttl``; no other name is ever opened. Downloads are plain files: ETag (the
SHA-256), Last-Modified, 304 on revalidation, byte ranges (206, 416), and ``.gz`` files sent as
``application/gzip`` attachments (never ``Content-Encoding: gzip``, so clients keep the .gz bytes).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph as ox
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
)
from flask.blueprints import BlueprintSetupState

from . import errors
from .formats import HTML, JSON_LD, N_TRIPLES, RDF_XML, TURTLE, Format, choose

log = logging.getLogger(__name__)

bp = Blueprint("dumps", __name__)

GZIP = "application/gzip"
PLAIN_TEXT = "text/plain"
SUMS, VOID = "SHA256SUMS", "void.ttl"
VOID_OFFERED: tuple[Format, ...] = (TURTLE, N_TRIPLES, JSON_LD, RDF_XML, HTML)
FORMAT_NAMES = {
    "turtle": "Turtle",
    "ntriples": "N-Triples",
    "nquads": "N-Quads",
    "trig": "TriG",
    "jsonld": "JSON-LD",
    "rdfxml": "RDF/XML",
}


@dataclass(frozen=True)
class DumpFile:
    name: str
    path: Path
    media_type: str  # what the response says it is
    format: str  # for people: "Turtle", "N-Quads", ...
    size: int
    sha256: str
    modified: datetime
    statements: int | None = None
    statement_kind: str = "triples"  # or quads
    compressed: bool = False

    @property
    def size_text(self) -> str:
        size = float(self.size)
        for unit in ("bytes", "kB", "MB", "GB"):
            if size < 1000 or unit == "GB":
                return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
            size /= 1000
        return f"{self.size} bytes"


@dataclass
class Dumps:
    """The dump files of the build being served, read once from its manifest."""

    folder: Path
    build_id: str | None = None
    files: dict[str, DumpFile] = field(default_factory=dict)

    @property
    def dumps(self) -> list[DumpFile]:
        return [f for f in self.files.values() if f.name not in (SUMS, VOID)]

    @property
    def extras(self) -> list[DumpFile]:
        return [f for f in self.files.values() if f.name in (SUMS, VOID)]

    @classmethod
    def load(cls, build: Path) -> Dumps:
        found = cls(build / "dumps")
        manifest_path = build / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("no dumps to serve: %s", error)
            return found
        found.build_id = manifest.get("build_id")
        for entry in manifest.get("dumps", []):
            name = str(entry.get("file", ""))
            path = found.folder / name
            if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
                log.warning("manifest lists %r, which is not a dump file here", name)
                continue
            compressed = entry.get("encoding") == "gzip" or name.endswith(".gz")
            fmt = str(entry.get("format", ""))
            found.files[name] = DumpFile(
                name=name,
                path=path,
                media_type=GZIP if compressed else str(entry["media_type"]),
                format=FORMAT_NAMES.get(fmt, fmt) + (", gzip" if compressed else ""),
                size=int(entry.get("bytes", path.stat().st_size)),
                sha256=str(entry["sha256"]),
                modified=_modified(path),
                statements=entry.get("triples"),
                statement_kind=str(entry.get("statements", "triples")),
                compressed=compressed,
            )
        for name, media_type, what in (
            (SUMS, PLAIN_TEXT, "SHA-256 checksums"),
            (VOID, TURTLE.media_type, "VoID + DCAT description, Turtle"),
        ):
            path = found.folder / name
            if path.is_file():
                data = path.read_bytes()
                found.files[name] = DumpFile(
                    name, path, media_type, what, len(data), _sha256(data), _modified(path)
                )
        return found


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _modified(path: Path) -> datetime:
    return datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC)


@bp.record_once
def _locate(state: BlueprintSetupState) -> None:
    """The build folder is the one holding the store, resolved once as the store is (a rebuild
    that moves ``build/current`` is served after a restart, store and dumps together)."""
    app: Flask = state.app
    store = Path(app.extensions["kgpub"].settings.store_path)
    app.extensions["kgpub.dumps"] = store.resolve().parent


def dumps() -> Dumps:
    found = current_app.extensions.get("kgpub.dumps.files")
    if found is None:
        found = Dumps.load(current_app.extensions["kgpub.dumps"])
        current_app.extensions["kgpub.dumps.files"] = found
    return found


@dataclass(frozen=True)
class DumpsPage:
    build_id: str | None
    files: list[DumpFile]
    extras: list[DumpFile]
    void: str = "/.well-known/void"


@bp.get("/dumps/")
def listing() -> Response:
    found = dumps()
    page = DumpsPage(found.build_id, found.dumps, found.extras)
    return Response(render_template("dumps.html", page=page), mimetype=HTML.media_type)


def send(dump: DumpFile, attachment: bool) -> Response:
    response = send_file(
        dump.path,
        mimetype=dump.media_type,
        as_attachment=attachment,
        download_name=dump.name,
        conditional=True,
        etag=dump.sha256,
        last_modified=dump.modified,
    )
    # the checksum of the whole file (RFC 9530), also on a range
    digest = base64.b64encode(bytes.fromhex(dump.sha256)).decode("ascii")
    response.headers["Repr-Digest"] = f"sha-256=:{digest}:"
    return response


@bp.get("/dumps/<name>")
def download(name: str) -> Response:
    dump = dumps().files.get(name)
    if dump is None:
        raise errors.NotFound(f"no dump named {name!r}; the dumps are listed at /dumps/")
    return send(dump, attachment=dump.name not in (SUMS, VOID))


_converted: dict[tuple[str, str], bytes] = {}


@bp.get("/.well-known/void")
def void() -> Response:
    values = request.args.getlist("format")
    offered = VOID_OFFERED
    fmt = choose(values, request.headers.get("Accept"), offered)
    if fmt is None:
        raise errors.NotAcceptable("the dataset description", offered)
    if fmt is HTML:
        response = redirect("/", 303)  # the home page says what the dataset is, for people
        response.vary.add("Accept")
        return response
    description = dumps().files.get(VOID)
    if description is None:
        raise errors.NotFound("this server has no dataset description (dumps/void.ttl)")
    if fmt is TURTLE:
        response = send(description, attachment=False)
    else:
        key = (description.sha256, fmt.name)
        if key not in _converted:
            assert isinstance(fmt.oxigraph, ox.RdfFormat)
            triples = ox.parse(path=description.path, format=ox.RdfFormat.TURTLE)
            _converted[key] = ox.serialize(triples, format=fmt.oxigraph)
        body = _converted[key]
        response = Response(body, content_type=fmt.content_type)
        response.set_etag(_sha256(body)[:32], weak=True)  # gzip may follow
        response.last_modified = description.modified
        response = response.make_conditional(request)
    response.vary.add("Accept")
    response.headers["Link"] = f'</dumps/{VOID}>; rel="alternate"; type="{TURTLE.media_type}"'
    return response
