"""How long the linked-data pages take to render: p50 and p99 per kind of page, in process.

Each page is requested through the Flask test client (routing, negotiation, the store's query
processes, normalising, the template, gzip off), so the time is the server's own, without the
network. The response cache is off unless ``--cache`` is given: the numbers are for a page built
from the store each time.

    .venv/bin/python bench/pages.py                       # build/current/store, 200 rounds
    .venv/bin/python bench/pages.py --rounds 50 --cache   # served from the response cache
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from kgpub.server import create_app

from kgpub.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PAGES = {
    "entity, small (html)": "/id/daniel-noboa.html",
    "entity, large (html)": "/id/ecuador.html",
    "entity (turtle)": "/id/daniel-noboa.ttl",
    "entity (json-ld)": "/id/daniel-noboa.jsonld",
    "fact graph (html)": "/fact/ecuador-security-crisis/noboa-president.html",
    "sentence (html)": "/article/ecuador-security-crisis/p3s1.html",
    "article (html)": "/article/ecuador-security-crisis.html",
    "article (turtle)": "/article/ecuador-security-crisis.ttl",
    "303 redirect": "/id/daniel-noboa",
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=ROOT / "build" / "current" / "store")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--cache", action="store_true", help="with the response cache")
    args = parser.parse_args(argv)
    if not args.store.is_dir():
        print(f"no store at {args.store}: run `kgpub build` first", file=sys.stderr)
        return 1
    config = {"root": ROOT, "store": args.store, "cache": args.cache, "threads": 2}
    app = create_app(Settings(), test_config=config)
    client = app.test_client()
    try:
        print(f"{'page':26} {'bytes':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
        for name, path in PAGES.items():
            response = client.get(path)
            assert response.status_code in (200, 303), (path, response.status_code)
            for _ in range(5):
                client.get(path)
            times = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                client.get(path)
                times.append((time.perf_counter() - started) * 1000)
            print(
                f"{name:26} {len(response.get_data()):8} {percentile(times, 0.5):8.2f} "
                f"{percentile(times, 0.99):8.2f} {statistics.fmean(times):8.2f}"
            )
    finally:
        app.extensions["kgpub"].store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
