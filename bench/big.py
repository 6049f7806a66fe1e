"""Big graphs: our server against ``oxigraph serve`` on the same 1M or 10M triples, side by side.

For each size the script generates the data if needed (bench/generate.py: the hub country gets
over 100,000 incoming links from 1M triples on), loads it with ``kgpub load`` and with
``oxigraph load`` (stores reused while the data file is unchanged, as bench/run.py does), then:

* start-up: seconds from launching each server to its first answered query (``ASK {}``),
* resident memory of each server's whole process tree (granian workers and query processes for
  ours), RSS and PSS, after a warm-up and again after the workload,
* resource pages, p50/p99: an ordinary entity, the biggest hub, the hub's page 2 and a deep page,
  as HTML and Turtle; Oxigraph has no pages, so the same queries our store runs for a page
  (``LinkedDataQueries.resource``) are sent to it: the engine's share of a page,
* ``/sparql`` requests per second on the cheap queries of bench/queries (c=1 and c=8), with the
  ratio to Oxigraph, the two servers taking turns round by round,
* search: our ``/search?q=`` (the first one builds the label index) against Oxigraph answering the
  label REGEX and CONTAINS queries.

    .venv/bin/python bench/big.py --sizes 1M
    .venv/bin/python bench/big.py --sizes 1M,10M --duration 3

Our server runs with ``--no-cache``: every page and query is computed, none replayed. Results go to
bench/results/big-<size>-<timestamp>.json and .md; bench/README.md explains them.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kgpub.server.store import LinkedDataQueries, Paging, Term
from run import (
    DATA_DIR,
    OXIGRAPH,
    RESULTS_DIR,
    SELECT_TYPE,
    VENV_BIN,
    Measure,
    Server,
    answer_digest,
    ensure_data,
    free_port,
    hold_bench_lock,
    http_get,
    load_queries,
    load_stores,
    parameter_pools,
    parse_size,
    percentile,
    run_python,
    run_wrk,
    size_label,
    write_results,
)

OURS = "ours"
HTML_TYPE = "text/html"
TURTLE_TYPE = "text/turtle"
HTML_PAGE, RDF_PAGE = 50, 1000  # incoming links per page (server/resources.py)
CHEAP_QUERIES = ("ask", "lookup", "construct", "provenance")
LABEL_QUERIES = ("label-regex", "label-contains")
ASK = urllib.parse.urlencode({"query": "ASK {}"})


# ---------------------------------------------------------------------------------------------
# measuring


@dataclass
class Latency:
    """Latencies of one kind of request, made one after another."""

    requests: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    first_ms: float  # the first request, before any warm-up: caches and indexes cold
    errors: list[str] = field(default_factory=list)


def sequential(call: Callable[[], None], seconds: float, most: int, least: int = 5) -> Latency:
    """Time ``call`` again and again for ``seconds`` (at least ``least``, at most ``most`` times)
    after one timed first call and one untimed warm-up call."""
    errors: list[str] = []

    def timed() -> float | None:
        started = time.perf_counter()
        try:
            call()
        except (OSError, RuntimeError, ValueError) as error:
            errors.append(str(error)[:200])
            return None
        return (time.perf_counter() - started) * 1000

    first = timed()
    timed()
    times: list[float] = []
    deadline = time.monotonic() + seconds
    while len(times) < most and (time.monotonic() < deadline or len(times) < least):
        ms = timed()
        if ms is None and len(errors) > 3:
            break
        if ms is not None:
            times.append(ms)
    times.sort()
    return Latency(
        requests=len(times),
        p50_ms=percentile(times, 50),
        p99_ms=percentile(times, 99),
        mean_ms=statistics.fmean(times) if times else math.nan,
        first_ms=first if first is not None else math.nan,
        errors=errors[:3],
    )


def fetch_ok(port: int, path: str, accept: str, timeout: float) -> Callable[[], None]:
    def call() -> None:
        status, body = http_get(port, path, accept, timeout)
        if status != 200:
            raise RuntimeError(f"{path}: {status} {body[:120]!r}")

    return call


class Remote(LinkedDataQueries):
    """The linked-data queries of our store, sent to Oxigraph's own server."""

    def __init__(self, port: int) -> None:
        self.port = port

    def select(self, sparql: str, timeout: float, union: bool = True) -> list[dict[str, Term]]:
        params = {"query": sparql, **({"union-default-graph": ""} if union else {})}
        status, body = http_get(self.port, "/query?" + urllib.parse.urlencode(params), SELECT_TYPE)
        if status != 200:
            raise RuntimeError(f"oxigraph answered {status}: {body[:200]!r}")
        return [
            {k: Term(v["type"], v["value"], v.get("datatype"), v.get("xml:lang")) for k, v in b}
            for b in (row.items() for row in json.loads(body)["results"]["bindings"])
        ]


def sparql_path(server: Server, query: str) -> str:
    """A GET of ``query`` on the union of the graphs: our endpoint's default, a parameter on
    Oxigraph's (started without --union-default-graph, so the page queries see the real default
    graph, as our store's do)."""
    params = {"query": query}
    if server.name == OXIGRAPH:
        params["union-default-graph"] = ""
    return server.endpoint + "?" + urllib.parse.urlencode(params)


# ---------------------------------------------------------------------------------------------
# the steps of a size


def plain_load_seconds(data: Path) -> float:
    """pyoxigraph's ``bulk_load`` from the path and ``optimize``, no progress: what ``kgpub
    load`` costs without its progress reports."""
    target = Path(tempfile.mkdtemp(prefix="plain-", dir=DATA_DIR / "stores"))
    script = (
        "import sys, pyoxigraph as ox; s = ox.Store(sys.argv[1]); "
        "s.bulk_load(path=sys.argv[2], format=ox.RdfFormat.N_QUADS); s.optimize()"
    )
    try:
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", script, str(target), str(data)], check=True)
        return round(time.monotonic() - started, 2)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def make_servers(args: argparse.Namespace, loads: dict[str, Any], size: str) -> list[Server]:
    def server(name: str, cmd: Callable[[int], list[str]], endpoint: str, ping: str) -> Server:
        port = free_port()
        log = DATA_DIR / "logs" / f"big-{size}-{name}.log"
        ready = f"{endpoint}?{ASK}"  # start-up ends with the first answered query
        return Server(name, cmd(port), port, endpoint, ready, ping, log)

    serve = [str(args.kgpub), "serve", "--store", loads["ours_store"], "--no-cache"]
    serve += args.serve_arg or []
    oxigraph = [str(args.oxigraph), "serve-read-only", "--location", loads["oxigraph_store"]]
    return [
        server(OURS, lambda port: [*serve, "--port", str(port)], "/sparql", "/-/ping"),
        server(OXIGRAPH, lambda port: [*oxigraph, "--bind", f"127.0.0.1:{port}"], "/query", "/"),
    ]


def memory(servers: list[Server]) -> dict[str, dict[str, float | None]]:
    return {s.name: {"rss_mib": s.rss_mib(), "pss_mib": s.pss_mib()} for s in servers}


def page_cases(manifest: dict[str, Any]) -> list[tuple[str, str, str, int, int]]:
    """(name, iri, format suffix, incoming-page, links per page) of every page measured."""
    entity = manifest["resources"][0]
    hub = manifest["hubs"][0]
    deep = max(2, math.ceil(0.9 * hub["incoming"] / HTML_PAGE))  # near the end of the links
    return [
        ("entity html", entity, ".html", 1, HTML_PAGE),
        ("entity ttl", entity, ".ttl", 1, RDF_PAGE),
        ("hub html", hub["iri"], ".html", 1, HTML_PAGE),
        ("hub html page 2", hub["iri"], ".html", 2, HTML_PAGE),
        (f"hub html page {deep}", hub["iri"], ".html", deep, HTML_PAGE),
        ("hub ttl", hub["iri"], ".ttl", 1, RDF_PAGE),
        ("hub ttl page 2", hub["iri"], ".ttl", 2, RDF_PAGE),
    ]


def measure_pages(
    args: argparse.Namespace, ours: Server, oxigraph: Server, manifest: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each page from our server; the same store queries from Oxigraph, alternately."""
    remote = Remote(oxigraph.port)
    base = "https://w3id.org/kgpub/"
    found: dict[str, dict[str, Any]] = {}
    for name, iri, suffix, number, per_page in page_cases(manifest):
        path = "/" + iri.removeprefix(base) + suffix
        path += f"?incoming-page={number}" if number > 1 else ""
        accept = HTML_TYPE if suffix == ".html" else TURTLE_TYPE
        paging = Paging(per_page, (number - 1) * per_page)

        def engine(iri: str = iri, paging: Paging = paging) -> None:
            remote.resource(iri, paging, args.timeout)

        mine = sequential(fetch_ok(ours.port, path, accept, args.timeout), args.duration, args.most)
        theirs = sequential(engine, args.duration, args.most)
        found[name] = {"path": path, OURS: asdict(mine), OXIGRAPH: asdict(theirs)}
        report(name, mine, theirs)
    return found


def measure_search(
    args: argparse.Namespace, ours: Server, oxigraph: Server, manifest: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    term = manifest["terms"][0]
    path = "/search?" + urllib.parse.urlencode({"q": term, "limit": 10})
    found: dict[str, dict[str, Any]] = {}
    mine = sequential(
        fetch_ok(ours.port, path, "application/json", args.timeout), args.duration, args.most
    )
    found["search"] = {"path": path, OURS: asdict(mine)}
    report(f"/search?q={term}", mine, None)
    for query in load_queries(list(LABEL_QUERIES)):
        text = query.render({"term": term})
        call = fetch_ok(oxigraph.port, sparql_path(oxigraph, text), SELECT_TYPE, args.timeout)
        theirs = sequential(call, args.duration, args.most)
        found[query.name] = {OXIGRAPH: asdict(theirs)}
        report(f"oxigraph {query.name}", None, theirs)
    return found


def measure_sparql(
    args: argparse.Namespace, servers: list[Server], manifest: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Requests per second on the cheap queries, the servers taking turns round by round."""
    runner = run_wrk if shutil.which("wrk") else run_python
    pools = parameter_pools(manifest)
    found: dict[str, dict[str, Any]] = {}
    for query in load_queries(list(CHEAP_QUERIES)):
        text = query.render({p: pools[p][0] for p in query.params})
        digests = {}
        for server in servers:
            status, body = http_get(server.port, sparql_path(server, text), query.accept)
            digests[server.name] = answer_digest(body, query.accept) if status == 200 else status
        for concurrency in args.concurrency:
            rounds: dict[str, list[Measure]] = {s.name: [] for s in servers}
            for turn in range(args.rounds):
                order = servers if turn % 2 == 0 else servers[::-1]
                for server in order:
                    path = sparql_path(server, text)
                    m = runner(
                        server.port, [path], query.accept, concurrency, args.duration, args.timeout
                    )
                    rounds[server.name].append(m)
            cell = {
                name: {
                    "rps": statistics.median(m.rps for m in ms),
                    "p50_ms": statistics.median(m.p50_ms for m in ms),
                    "p99_ms": statistics.median(m.p99_ms for m in ms),
                    "errors": sum(m.errors for m in ms),
                    "rounds_rps": [round(m.rps, 1) for m in ms],
                }
                for name, ms in rounds.items()
            }
            cell["same_answers"] = len(set(map(str, digests.values()))) == 1
            found[f"{query.name} c={concurrency}"] = cell
            print(
                f"  {query.name:<11} c={concurrency:<2} ours {cell[OURS]['rps']:8.1f} req/s, "
                f"oxigraph {cell[OXIGRAPH]['rps']:8.1f} req/s",
                file=sys.stderr,
                flush=True,
            )
    return found


def report(name: str, mine: Latency | None, theirs: Latency | None) -> None:
    parts = [f"  {name:<22}"]
    for who, lat in ((OURS, mine), (OXIGRAPH, theirs)):
        if lat is not None:
            parts.append(f"{who} p50 {lat.p50_ms:8.1f} p99 {lat.p99_ms:8.1f} ms")
    print("  ".join(parts), file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# one size


@dataclass
class BigResult:
    size: str
    triples: int
    started: str
    settings: dict[str, Any]
    data: dict[str, Any]
    loads: dict[str, Any]
    startup_s: dict[str, float] = field(default_factory=dict)
    memory_warm: dict[str, dict[str, float | None]] = field(default_factory=dict)
    memory_after: dict[str, dict[str, float | None]] = field(default_factory=dict)
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)
    sparql: dict[str, dict[str, Any]] = field(default_factory=dict)
    search: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_size(args: argparse.Namespace, triples: int, command: str) -> BigResult:
    size = size_label(triples)
    print(f"== {size}: data", file=sys.stderr, flush=True)
    data, manifest = ensure_data(triples, "nq", args.seed)
    print(f"== {size}: stores (kgpub load, oxigraph load)", file=sys.stderr, flush=True)
    loads = load_stores(data, size, args.kgpub, args.oxigraph, False, args.reload)
    if triples <= args.plain_load_max:
        print(f"== {size}: plain bulk_load, for the cost of the progress", file=sys.stderr)
        loads["plain_bulk_load_s"] = plain_load_seconds(data)
    result = BigResult(
        size=size,
        triples=int(manifest["triples"]),
        started=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        settings={"command": command, **{k: v for k, v in vars(args).items() if k != "sizes"}},
        data={
            "generate_s": manifest.get("seconds"),
            "hub": manifest["hubs"][0],
            "entity": manifest["resources"][0],
            "term": manifest["terms"][0],
            "bytes": data.stat().st_size,
        },
        loads=loads,
    )
    servers = make_servers(args, loads, size)
    try:
        for server in servers:
            print(f"== {size}: start {server.name}", file=sys.stderr, flush=True)
            started = time.monotonic()
            server.start(timeout=600)
            result.startup_s[server.name] = round(time.monotonic() - started, 2)
        ours, oxigraph = servers
        print(f"== {size}: search (the first builds the label index)", file=sys.stderr)
        result.search = measure_search(args, ours, oxigraph, manifest)
        result.memory_warm = memory(servers)
        print(f"== {size}: pages", file=sys.stderr, flush=True)
        result.pages = measure_pages(args, ours, oxigraph, manifest)
        print(f"== {size}: /sparql", file=sys.stderr, flush=True)
        result.sparql = measure_sparql(args, servers, manifest)
        result.memory_after = memory(servers)
    finally:
        for server in servers:
            server.stop()
    return result


# ---------------------------------------------------------------------------------------------
# the report


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b or math.isnan(a) or math.isnan(b):
        return "-"
    return f"{a / b:.2f}"


def table(result: BigResult) -> list[list[str]]:
    """Rows of (measure, ours, oxigraph, ours/oxigraph)."""
    loads, n = result.loads, result.triples
    rows = []
    ours_load, ox_load = loads.get("ours_load_s"), loads.get("oxigraph_load_s")
    rows.append(
        ["load s (with optimize)", _num(ours_load), _num(ox_load), _ratio(ours_load, ox_load)]
    )
    rows.append(
        [
            "load triples/s",
            _num(n / ours_load, 0) if ours_load else "-",
            _num(n / ox_load, 0) if ox_load else "-",
            _ratio(ox_load, ours_load),
        ]
    )
    if loads.get("plain_bulk_load_s"):
        plain = loads["plain_bulk_load_s"]
        rows.append(["plain bulk_load + optimize s", _num(plain), "", f"{ours_load / plain:.2f}"])
    start = result.startup_s
    rows.append(
        [
            "start-up to first answer s",
            _num(start.get(OURS), 2),
            _num(start.get(OXIGRAPH), 2),
            _ratio(start.get(OURS), start.get(OXIGRAPH)),
        ]
    )
    for label, mem in (
        ("after warm-up", result.memory_warm),
        ("after workload", result.memory_after),
    ):
        for kind in ("rss_mib", "pss_mib"):
            a, b = mem.get(OURS, {}).get(kind), mem.get(OXIGRAPH, {}).get(kind)
            rows.append(
                [f"memory {kind[:3].upper()} MiB {label}", _num(a, 0), _num(b, 0), _ratio(a, b)]
            )
    search = result.search.get("search", {}).get(OURS, {})
    rows.append(["first /search ms (builds the index)", _num(search.get("first_ms"), 0), "", ""])
    for name in LABEL_QUERIES:
        theirs = result.search.get(name, {}).get(OXIGRAPH, {})
        rows.append(
            [
                f"search p50 / p99 ms (oxigraph: {name})",
                f"{_num(search.get('p50_ms'))} / {_num(search.get('p99_ms'))}",
                f"{_num(theirs.get('p50_ms'))} / {_num(theirs.get('p99_ms'))}",
                _ratio(search.get("p50_ms"), theirs.get("p50_ms")),
            ]
        )
    for name, page in result.pages.items():
        mine, theirs = page[OURS], page[OXIGRAPH]
        rows.append(
            [
                f"page {name} p50 / p99 ms",
                f"{_num(mine['p50_ms'])} / {_num(mine['p99_ms'])}",
                f"{_num(theirs['p50_ms'])} / {_num(theirs['p99_ms'])}",
                _ratio(mine["p50_ms"], theirs["p50_ms"]),
            ]
        )
    for name, cell in result.sparql.items():
        mine, theirs = cell[OURS], cell[OXIGRAPH]
        same = "" if cell.get("same_answers") else " (answers differ)"
        rows.append(
            [
                f"/sparql {name} req/s{same}",
                _num(mine["rps"]),
                _num(theirs["rps"]),
                _ratio(mine["rps"], theirs["rps"]),
            ]
        )
    return rows


def markdown(result: BigResult) -> str:
    s = result.settings
    hub = result.data["hub"]
    lines = [
        f"## big graph {result.size} ({result.triples:,} triples), {result.started}",
        "",
        f"`{s['command']}`",
        "",
        f"Hub: <{hub['iri']}> ({hub['incoming']:,} incoming triples). Our server with "
        f"`--no-cache`; pages on Oxigraph are the store queries of our page (no HTML, no labels); "
        f"latencies one request at a time for {s['duration']}s; /sparql rates are medians of "
        f"{s['rounds']} rounds of {s['duration']}s, the servers taking turns.",
        "",
        "| measure | ours | oxigraph | ours/oxigraph |",
        "|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table(result)]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1M", help="comma-separated: 1M,10M")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--most", type=int, default=500, help="requests per latency, at most")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per /sparql cell")
    parser.add_argument("--concurrency", default="1,8", help="connections for /sparql")
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds per request (the first search reads every label: minutes at 10M)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reload", action="store_true", help="load the stores again")
    parser.add_argument(
        "--plain-load-max",
        type=parse_size,
        default=parse_size("1M"),
        help="time a plain bulk_load too up to this size (the cost of the load progress)",
    )
    parser.add_argument("--serve-arg", action="append", metavar="ARG", help="for `kgpub serve`")
    parser.add_argument("--kgpub", type=Path, default=VENV_BIN / "kgpub")
    parser.add_argument("--oxigraph", type=Path, default=VENV_BIN / "oxigraph")
    args = parser.parse_args(argv)
    args.sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    command = " ".join(["bench/big.py", *argv])
    lock = hold_bench_lock()  # noqa: F841 (held until the process ends)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for triples in args.sizes:
        result = run_size(args, triples, command)
        write_results(RESULTS_DIR / f"big-{result.size}-{stamp}", asdict(result), markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
