"""System pages under ``/-/``, apart from the data's URI space: a liveness ping, a health check for
load balancers, the Prometheus metrics, the limits in force, and the query page's browser assets,
served from our own origin."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Response, current_app, jsonify, send_from_directory

from kgpub import __version__

from . import description, errors
from .config import Services, services
from .inline import memory_copy_of
from .observe import CONTENT_TYPE, Observation
from .pool import Busy, QueryFailed, QueryTimeout
from .sparql import YASGUI_BUILD
from .store import Store

log = logging.getLogger(__name__)

bp = Blueprint("system", __name__, url_prefix="/-")

# seconds the health check waits for the store's answer to a query that reads nothing
HEALTH_TIMEOUT = 2.0
PROBE = "SELECT (1 AS ?ok) WHERE {}"
# a health or metrics answer is the state of this moment: no cache may keep it
NO_STORE = "no-store"


@bp.get("/ping")
def ping() -> Response:
    """The stack's own cost: no store, no template (the benchmark's ceiling)."""
    return Response("ok", content_type="text/plain; charset=utf-8")


@bp.get("/health")
def health() -> Response:
    """200 when the store answers a query that reads nothing within ``HEALTH_TIMEOUT``, else 503
    (the one 5xx meant as such: load balancers take the worker out), with the same report."""
    app = services()
    report = health_report(app)
    response = jsonify(report)
    response.status_code = 200 if report["status"] == "ok" else 503
    response.headers["Cache-Control"] = NO_STORE
    return response


def health_report(app: Services) -> dict[str, Any]:
    settings = app.settings
    store = app.store
    timeout = min(HEALTH_TIMEOUT, settings.query_timeout)
    problem = probe(app, timeout)
    modified = store.modified
    return {
        "status": "ok" if problem is None else "unavailable",
        "store": {
            "kind": "remote" if settings.backend else "embedded",
            "reachable": problem is None,
            "location": public_location(settings.backend) or str(settings.store_path),
            **({"problem": problem} if problem is not None else {}),
            **memory_copy(store),
        },
        "build": {
            "identity": store.identity,
            "modified": (
                datetime.fromtimestamp(modified, UTC).isoformat().replace("+00:00", "Z")
                if modified
                else None
            ),
        },
        "counts": graph_counts(app, timeout) if problem is None else None,
        "version": __version__,
    }


def memory_copy(store: Store) -> dict[str, Any]:
    """This worker's copy of the store in memory, if it runs queries itself (``memorycopy``)."""
    copy = memory_copy_of(store)
    return {} if copy is None else {"memory_copy": copy.report()}


def public_location(url: str) -> str:
    """A remote store's URL without the user name and password it may carry."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def probe(app: Services, timeout: float) -> str | None:
    """None when the store answered, else what went wrong, in words."""
    try:
        app.store.select(PROBE, timeout)
    except QueryTimeout:
        return f"the store did not answer within {timeout:g} s"
    except Busy:
        return "every query process of this worker is busy"
    except QueryFailed as error:
        return error.message
    except OSError as error:
        return f"the store cannot be reached: {error}"
    return None


def graph_counts(app: Services, timeout: float) -> dict[str, Any] | None:
    """Triples, quads and named graphs of the build, when known without scanning the data
    (``counts.json``, or counted already for the service description); else None."""
    counts = description.counts_of(app.store, timeout, scan=False)
    if counts is None:
        return None
    return {"triples": counts.triples, "quads": counts.quads, "graphs": counts.named_graphs}


@bp.get("/metrics")
def metrics() -> Response:
    """The counters of every worker, in the Prometheus text format."""
    observation: Observation = current_app.extensions["kgpub.observation"]
    if observation.metrics is None:
        raise errors.NotFound("metrics are turned off on this server (setting: metrics)")
    response = Response(observation.metrics.exposition(), content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = NO_STORE
    return response


@bp.get("/limits")
def limits() -> Response:
    """Every limit this server applies, with its value and what a client meets beyond it; also
    what a truncated answer's ``link`` points at."""
    settings = services().settings
    head = settings.max_url_bytes + settings.max_header_bytes
    rows = [
        (
            "query_timeout",
            settings.query_timeout,
            "seconds per query",
            "the query is stopped: 503 with Retry-After (a streamed answer is cut off instead)",
        ),
        (
            "max_rows",
            settings.max_rows,
            "rows or triples per answer (0: no cap)",
            "the first rows, flagged: X-Result-Truncated: true, and a link to this page in SPARQL "
            "JSON and XML",
        ),
        (
            "max_response_bytes",
            settings.max_response_bytes,
            "bytes per SPARQL answer",
            "422 before any byte is sent, or, once streaming, the response is cut off without its "
            "end so it cannot pass for complete",
        ),
        ("max_body_bytes", settings.max_body_bytes, "bytes per request body", "413"),
        ("max_url_bytes", settings.max_url_bytes, "bytes of the URL's query string", "414"),
        (
            "max_header_bytes",
            settings.max_header_bytes,
            "bytes of request headers",
            f"a request head (request line and headers) over {head} bytes: 431, connection closed",
        ),
        (
            "max_concurrent_requests",
            settings.max_concurrent_requests,
            "connections each worker serves at once",
            "further connections wait in the listen queue until one closes",
        ),
        (
            "client_query_seconds",
            settings.client_query_seconds,
            "seconds of query time per client per minute (0: no budget)",
            "429 with Retry-After: the seconds until the client's minute is over",
        ),
        (
            "client_concurrent_queries",
            settings.client_concurrent_queries,
            "heavy queries (running 0.5 s or more) at once per client (0: no cap)",
            "a further query waits up to 1 s for one to finish, then 429 with Retry-After",
        ),
    ]
    return jsonify(
        {name: value for name, value, _, _ in rows if name != "query_timeout"}
        | {
            "query_timeout_seconds": settings.query_timeout,
            "client_address": (
                "the last address of X-Forwarded-For, appended by our own proxy"
                if settings.trust_forwarded
                else "the connection's peer address"
            )
            + "; IPv6 addresses count per /64",
            "truncated": (
                "an answer cut at max_rows rows (or triples) carries the header "
                "X-Result-Truncated: true and, in SPARQL JSON and XML, this page as a head link"
            ),
            "limits": [
                {"setting": name, "value": value, "unit": unit, "beyond": beyond}
                for name, value, unit, beyond in rows
            ],
        }
    )


@bp.get("/yasgui/<path:name>")
def yasgui(name: str) -> Response:
    folder = services().node_modules / YASGUI_BUILD
    if not folder.is_dir():
        raise errors.NotFound("the query editor is not installed; run `npm ci`")
    return send_from_directory(folder, name, max_age=86400)
