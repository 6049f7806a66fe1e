"""Serving: the app under gunicorn, never under the Flask development server.

``serve(settings)`` runs gunicorn in-process (a ``BaseApplication``): threaded workers
(``gthread``), one per core and at least two. The app is created once before the fork (cheap: it
opens nothing); each worker opens the store read-only on its first query, so start-up does not grow
with the data.

``python -m kgpub.server.wsgi`` takes the same flags as ``kgpub serve``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from kgpub.settings import Settings

from . import create_app

log = logging.getLogger(__name__)

# gunicorn refuses a longer request line limit than this
GUNICORN_MAX_LINE = 8190


def worker_count(settings: Settings) -> int:
    return settings.workers or max(2, os.cpu_count() or 1)


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "bind": [f"{settings.host}:{settings.port}"],
        "workers": worker_count(settings),
        "worker_class": "gthread",
        "threads": settings.threads,
        "preload_app": True,
        # a worker's heartbeat runs beside its request threads, so slow queries do not trip it
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "limit_request_line": min(settings.max_url_bytes + 64, GUNICORN_MAX_LINE),
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "kgpub",
        # no runtime-management socket (gunicorn 25+): it would be one shared path for every
        # server on the machine, and nothing here uses it
        "control_socket_disable": True,
    }


class Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.options = gunicorn_options(settings)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # older gunicorn versions lack some settings
                self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app(self.settings)


def serve(settings: Settings) -> None:
    """Serve until stopped (SIGINT/SIGTERM); the query processes go with their workers."""
    store = Path(settings.store_path)
    if not store.is_dir():
        log.warning("no store at %s yet: queries will answer 503 until it is built", store)
    print(
        f"kgpub: serving http://{settings.host}:{settings.port}/sparql from {store} "
        f"({worker_count(settings)} workers x {settings.threads} threads)",
        file=sys.stderr,
        flush=True,
    )
    Server(settings).run()


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    """The flags of ``kgpub serve``, each onto its setting."""
    parser = argparse.ArgumentParser(prog="kgpub serve", description="Serve the knowledge graph.")
    parser.add_argument("--root", type=Path, help="project folder (setting: root)")
    parser.add_argument("--host", help="address to listen on (setting: host)")
    parser.add_argument("--port", type=int, help="port (setting: port)")
    parser.add_argument("--store", type=Path, help="store directory (setting: store)")
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument(
        "--no-cache", action="store_true", help="turn the response cache off (setting: cache)"
    )
    parser.add_argument(
        "--timeout", type=float, help="seconds per SPARQL query (setting: query_timeout)"
    )
    parser.add_argument(
        "--max-rows", type=int, help="rows per SPARQL answer, 0: no cap (setting: max_rows)"
    )
    parser.add_argument("--workers", type=int, help="worker processes, 0: one per core")
    parser.add_argument("--threads", type=int, help="request threads per worker")
    args = parser.parse_args(argv)
    overrides = {
        "root": args.root,
        "host": args.host,
        "port": args.port,
        "store": args.store,
        "cache": False if args.no_cache else None,
        "query_timeout": args.timeout,
        "max_rows": args.max_rows,
        "workers": args.workers,
        "threads": args.threads,
    }
    return Settings.load(overrides=overrides, config_file=args.config)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    serve(parse_args())
