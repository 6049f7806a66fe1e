"""Serving: the app under granian, never under the Flask development server.

``serve(settings)`` runs granian in-process on the WSGI interface: worker processes (one per core
and at least two), each answering requests on ``settings.threads`` Python threads behind a Rust
HTTP/1.1 front (keep-alive, backlog, graceful stop on SIGTERM/SIGINT). Each worker builds its app
with ``worker_app()``, from the settings that ``serve`` left in the environment, so the workers get
the same settings whether they are forked or spawned. Start-up opens nothing: each worker starts its
query processes on its first query, so start-up does not grow with the data.

``python -m kgpub.server.wsgi`` takes the same flags as ``kgpub serve``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

from kgpub.settings import Settings

from . import affinity, allocator, create_app, inline
from .config import services
from .observe import ACCESS_LOGGER
from .remote import check_backend_url
from .runtime import RUNTIME_VARIABLE, shared_runtime_dir

log = logging.getLogger(__name__)

# the settings of ``serve``, as JSON, for the worker processes
SETTINGS_VARIABLE = "KGPUB_SERVE_SETTINGS"
TARGET = "kgpub.server.wsgi:worker_app"
BACKLOG = 2048
# seconds a worker may take to finish its requests once asked to stop, then it is killed
GRACEFUL_SECONDS = 10
# the HTTP server's read buffer can be no smaller
MIN_HEAD_BUFFER = 8192

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def worker_count(settings: Settings) -> int:
    return settings.workers or max(2, os.cpu_count() or 1)


def settings_to_text(settings: Settings) -> str:
    """Every setting that is not None, as text: ``Settings.load`` reads the text back."""
    values = {f.name: getattr(settings, f.name) for f in fields(settings)}
    return json.dumps({name: str(value) for name, value in values.items() if value is not None})


def settings_from_text(text: str) -> Settings:
    return Settings.load(overrides=json.loads(text), environ={})


def worker_app() -> WsgiApp:
    """The app of one worker process (granian's factory target)."""
    text = os.environ.get(SETTINGS_VARIABLE)
    settings = settings_from_text(text) if text else Settings.load()
    # The server merges the process environment into every request's environ: a variable named
    # like a request header (HTTP_PROXY, HTTP_HOST) would pass for one the client never sent.
    for name in [name for name in os.environ if name.startswith("HTTP_")]:
        del os.environ[name]
    shared = os.environ.get(RUNTIME_VARIABLE)  # set by ``serve``: this is one of its workers
    if settings.pin_workers and shared:
        affinity.balance(Path(shared) / "affinity", worker_count(settings))
    if shared:
        # the network closes before this worker runs a query itself (``inline``)
        inline.WORKER_NETWORK.arm()
    app = create_app(settings)
    # this worker's copy of the embedded store, begun now rather than on its first query
    memory = inline.memory_copy_of(services(app).store)
    if memory is not None:
        memory.start()
    return app.wsgi_app


# how granian reports a response body that raised; ours raise only to cut an answer short once
# its head went out (the time limit, the byte cap, a query process gone): the client sees a body
# without its end, and the access line says complete=false, so that is no crash to trace
BODY_RAISED = "Application callable raised an exception"
CUT_SHORT = ("QueryFailed", "QueryTimeout", "Cancelled")


class CutAnswers(logging.Filter):
    """granian's report of a body that raised, made one line when it is one of our answers cut
    short on purpose; any other error keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(BODY_RAISED):
            name, _, reason = message.rstrip().rsplit("\n", 1)[-1].partition(":")
            name = name.strip()
            if name.rsplit(".", 1)[-1] in CUT_SHORT:
                reason = reason.strip() or name
                record.msg = f"an answer was cut short after its head was sent: {reason}"
                record.args = ()
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def logging_config() -> dict[str, Any]:
    """granian's own logging, plus the project's loggers on stderr."""
    from granian.log import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["kgpub_cut_answers"] = {"()": "kgpub.server.wsgi.CutAnswers"}
    config["handlers"]["console"].setdefault("filters", []).append("kgpub_cut_answers")
    config["formatters"]["kgpub"] = {
        "()": "logging.Formatter",
        "fmt": "[%(levelname)s] %(name)s: %(message)s",
    }
    config["handlers"]["kgpub"] = {
        "class": "logging.StreamHandler",
        "formatter": "kgpub",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["kgpub"] = {"handlers": ["kgpub"], "level": "INFO", "propagate": False}
    # the access lines are JSON documents, one per line, with nothing around them
    config["handlers"]["kgpub_access"] = {"()": "kgpub.server.observe.LineHandler", "fd": 2}
    config["loggers"][ACCESS_LOGGER] = {
        "handlers": ["kgpub_access"],
        "level": "INFO",
        "propagate": False,
    }
    return config


def head_buffer_bytes(settings: Settings) -> int:
    """The largest request head (request line and headers) the HTTP server reads: a URL of up to
    ``max_url_bytes`` plus ``max_header_bytes`` of headers. Beyond it the server answers 431 and
    closes the connection, before the app sees anything."""
    return max(MIN_HEAD_BUFFER, settings.max_url_bytes + settings.max_header_bytes)


def granian_options(settings: Settings) -> dict[str, Any]:
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    return {
        "target": TARGET,
        "factory": True,
        "address": settings.host,
        "port": settings.port,
        "interface": Interfaces.WSGI,
        "workers": worker_count(settings),
        # a thread for every request a worker takes on: threads only wait (for a query process, a
        # client's turn); the work is bounded by the query processes, ``threads`` per pool
        "blocking_threads": max(settings.threads, settings.max_concurrent_requests),
        "backlog": BACKLOG,
        # requests a worker takes on at once; the next ones wait, unread, in the listen backlog
        "backpressure": max(1, settings.max_concurrent_requests),
        "http": HTTPModes.http1,
        "http1_settings": HTTP1Settings(
            keep_alive=True, max_buffer_size=head_buffer_bytes(settings)
        ),
        "websockets": False,
        "workers_kill_timeout": GRACEFUL_SECONDS,
        "log_dictconfig": logging_config(),
        "log_access": False,
    }


def serve(settings: Settings) -> None:
    """Serve until stopped (SIGINT/SIGTERM); the query processes go with their workers."""
    from granian import Granian

    allocator.start_with(settings.allocator)
    source = data_source(settings)
    print(
        f"kgpub: serving http://{settings.host}:{settings.port}/sparql from {source} "
        f"({worker_count(settings)} workers x {settings.threads} threads, "
        f"{allocator.in_use()} allocator)",
        file=sys.stderr,
        flush=True,
    )
    os.environ[SETTINGS_VARIABLE] = settings_to_text(settings)
    with shared_runtime_dir():
        Granian(**granian_options(settings)).serve()


def data_source(settings: Settings) -> str:
    """What the start-up line names as the data served: the remote store's URL (checked now, so a
    wrong one stops the start with a clear message) or the store folder."""
    if settings.backend:
        return f"the SPARQL store at {check_backend_url(settings.backend)}"
    store = Path(settings.store_path)
    if not store.is_dir():
        log.warning("no store at %s yet: queries will answer 503 until it is built", store)
    return str(store)


if __name__ == "__main__":  # the same command as ``kgpub serve``, flags and all
    from kgpub.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
