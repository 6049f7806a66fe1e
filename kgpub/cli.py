"""The ``kgpub`` command: build, coverage, load, namespace, publish, serve."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kgpub import __version__
from kgpub.settings import Settings


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides = {
        "root": args.root,
        "data_dir": args.data,
        "ontology_dir": args.ontology,
        "build_dir": args.build_dir,
        "base_iri": args.base,
        **extra,
    }
    return Settings.load(overrides, config_file=args.config)


def cmd_build(args: argparse.Namespace) -> int:
    from kgpub.mappings import build

    build.run(_settings(args))
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    from kgpub.mappings import coverage
    from kgpub.mappings.build import article_folders
    from kgpub.mappings.facts import load_article

    settings = _settings(args)
    registry: dict[str, Any] = {}
    rows = []
    for folder in article_folders(settings.data_path):
        rows.extend(coverage.rows(load_article(folder, registry)))
    report = coverage.markdown(rows)
    if args.output:
        Path(args.output).write_text(report, encoding="utf-8")
    sys.stdout.write(report)
    return 1 if any(r.status == "UNCOVERED" for r in rows) else 0


def cmd_load(args: argparse.Namespace) -> int:
    from kgpub.mappings.load import load

    base_iri = _settings(args).base_iri  # the pages the search index points to
    load([Path(f) for f in args.files], Path(args.store), replace=args.replace, base_iri=base_iri)
    return 0


def cmd_namespace(args: argparse.Namespace) -> int:
    from kgpub.mappings import namespace

    settings = _settings(args)
    target = namespace.write(settings.ontology_path / "kgpub.ttl")
    print(f"wrote {target}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from kgpub import publish

    folder = args.build if args.build is not None else _settings(args).build_dir / "current"
    try:
        endpoints = publish.Endpoints.from_urls(args.to, args.update, args.query)
        publish.publish(
            folder,
            endpoints,
            batch_triples=args.batch_triples,
            auth=_publish_credentials(),
            timeout=args.timeout,
            stream=sys.stderr,
        )
    except publish.PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if not exc.resumable:
            return 2
        print(f"to resume, run the same command again: {_publish_command(args)}", file=sys.stderr)
        return 1
    return 0


def _publish_credentials() -> tuple[str, str] | None:
    """Basic auth from the environment, so that no password shows in a process list or a log."""
    user = os.environ.get("KGPUB_PUBLISH_USER")
    return (user, os.environ.get("KGPUB_PUBLISH_PASSWORD", "")) if user else None


def _publish_command(args: argparse.Namespace) -> str:
    words = ["kgpub", "publish", "--to", args.to]
    for flag, value in (
        ("--update", args.update),
        ("--query", args.query),
        ("--build", args.build),
    ):
        if value is not None:
            words += [flag, str(value)]
    if args.build is None and args.build_dir is not None:
        words += ["--build-dir", str(args.build_dir)]
    return shlex.join(words)


def cmd_serve(args: argparse.Namespace) -> int:
    from kgpub.server.wsgi import serve

    serve(serve_settings(args))
    return 0


def serve_settings(args: argparse.Namespace) -> Settings:
    """The settings of ``kgpub serve``: its flags, each onto its setting, over the config file
    and the environment."""
    return _settings(
        args,
        host=args.host,
        port=args.port,
        store=args.store,
        workers=args.workers,
        threads=args.threads,
        query_timeout=args.timeout,
        max_rows=args.max_rows,
        cache=False if args.no_cache else None,
        memory_copy_quads=args.memory_copy_quads,
        backend=args.backend,
    )


def parse_serve(argv: Sequence[str]) -> Settings:
    """The settings ``kgpub serve ARGV`` serves with."""
    return serve_settings(parser().parse_args(["serve", *argv]))


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="TOML settings file (or KGPUB_CONFIG)")
    common.add_argument("--root", type=Path, help="project folder (default: .)")
    common.add_argument("--data", type=Path, help="data folder (default: <root>/data)")
    common.add_argument("--ontology", type=Path, help="ontology folder (default: <root>/ontology)")
    common.add_argument("--build-dir", type=Path, help="where builds go (default: build)")
    common.add_argument(
        "--base", help="base IRI of everything published (default: https://w3id.org/kgpub/)"
    )

    p = argparse.ArgumentParser(prog="kgpub", description=__doc__)
    p.add_argument("--version", action="version", version=f"kgpub {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", parents=[common], help="build the graph: store, dumps, reports")
    b.set_defaults(func=cmd_build)

    c = sub.add_parser(
        "coverage", parents=[common], help="list every sentence with the facts derived from it"
    )
    c.add_argument("-o", "--output", help="also write the report to this file")
    c.set_defaults(func=cmd_coverage)

    ld = sub.add_parser(
        "load",
        parents=[common],
        help="load RDF files (ttl, nt, nq, trig, rdf, jsonld; .gz) into a store",
    )
    ld.add_argument("files", nargs="+")
    ld.add_argument("--store", required=True, help="store folder to create")
    ld.add_argument("--replace", action="store_true", help="overwrite an existing store")
    ld.set_defaults(func=cmd_load)

    n = sub.add_parser(
        "namespace", parents=[common], help="regenerate mappings/kgo.py from the ontology"
    )
    n.set_defaults(func=cmd_namespace)

    pub = sub.add_parser(
        "publish",
        parents=[common],
        help="push a build into a remote SPARQL store (Graph Store Protocol, atomic switch)",
        description="Stage every named graph of a build in the remote store, then switch them "
        "live in one SPARQL Update. Credentials for basic auth: KGPUB_PUBLISH_USER and "
        "KGPUB_PUBLISH_PASSWORD. See docs/publish.md.",
    )
    pub.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="Graph Store Protocol endpoint, e.g. http://host:7878/store (Oxigraph), "
        "http://host:3030/ds/data (Fuseki)",
    )
    pub.add_argument(
        "--update",
        metavar="URL",
        help="SPARQL Update endpoint for the switch (default: derived from --to, .../update)",
    )
    pub.add_argument(
        "--query",
        metavar="URL",
        help="SPARQL query endpoint for counts (default: derived from --to, .../query)",
    )
    pub.add_argument(
        "--build", type=Path, help="build folder to publish (default <build-dir>/current)"
    )
    pub.add_argument(
        "--batch-triples",
        type=int,
        default=50_000,
        metavar="N",
        help="triples per request when a graph is big (default 50000)",
    )
    pub.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="wait this long for each answer while staging (default 120; the switch waits "
        "as long as the store works)",
    )
    pub.set_defaults(func=cmd_publish)

    s = sub.add_parser("serve", parents=[common], help="serve the store over HTTP")
    s.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default 8080)")
    s.add_argument("--store", type=Path, help="store folder (default <build-dir>/current/store)")
    s.add_argument("--workers", type=int, help="worker processes (default: per core)")
    s.add_argument("--threads", type=int, help="request threads per worker (default 4)")
    s.add_argument("--timeout", type=float, help="SPARQL query timeout in seconds (default 10)")
    s.add_argument("--max-rows", type=int, help="result row cap (default 10000)")
    s.add_argument("--no-cache", action="store_true", help="turn the response cache off")
    s.add_argument(
        "--memory-copy-quads",
        type=int,
        metavar="N",
        help="each worker copies the store into memory when it has at most N quads "
        "(default 2000000; 0: always on disk)",
    )
    s.add_argument(
        "--backend", help="URL of a remote SPARQL endpoint to serve instead of the embedded store"
    )
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from kgpub.mappings.errors import BuildError

    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BuildError as exc:
        print(f"error: {exc.format()}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
