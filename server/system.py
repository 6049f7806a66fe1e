"""System pages under ``/-/``, apart from the data's URI space: a liveness ping, the limits in
force, and the query page's browser assets, served from our own origin."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, send_from_directory

from . import errors
from .config import services
from .sparql import YASGUI_BUILD

bp = Blueprint("system", __name__, url_prefix="/-")


@bp.get("/ping")
def ping() -> Response:
    """The stack's own cost: no store, no template (the benchmark's ceiling)."""
    return Response("ok", content_type="text/plain; charset=utf-8")


@bp.get("/limits")
def limits() -> Response:
    """What a truncated answer's ``link`` points at: the limits this server applies."""
    settings = services().settings
    return jsonify(
        query_timeout_seconds=settings.query_timeout,
        max_rows=settings.max_rows,
        max_body_bytes=settings.max_body_bytes,
        max_url_bytes=settings.max_url_bytes,
        truncated=(
            "an answer cut at max_rows rows (or triples) carries the header "
            "X-Result-Truncated: true and, in SPARQL JSON and XML, this page as a head link"
        ),
    )


@bp.get("/yasgui/<path:name>")
def yasgui(name: str) -> Response:
    folder = services().node_modules / YASGUI_BUILD
    if not folder.is_dir():
        raise errors.NotFound("the query editor is not installed; run `npm ci`")
    return send_from_directory(folder, name, max_age=86400)
