"""Benchmark our SPARQL server against Oxigraph's own server on the same synthetic data.

For each size, the script generates the data (bench/generate.py) unless it is there, loads it into
a store for our server (``kgpub load``, or pyoxigraph's bulk loader while that command does not
exist) and into an Oxigraph store (``oxigraph load``), starts on 127.0.0.1:

* ours, with the response cache (``kgpub serve``),
* ours, without it (``kgpub serve --no-cache``),
* Oxigraph (``oxigraph serve-read-only --union-default-graph``),
* with ``--floor``, the least a Python server on pyoxigraph can do (``bench/floor.py`` under
  granian, the same workers as ours, no limits and no cache),

checks that they give the same answers, then runs every query of bench/queries/ against each of
them, at each concurrency, in rounds of a fixed duration after a warm-up. The servers take turns
round by round, so that the ratios compare measurements taken seconds apart on a noisy machine;
the CPU time each server spends per request is measured too. bench/README.md explains the tables.

    .venv/bin/python bench/run.py --sizes 10k,100k
    .venv/bin/python bench/run.py --sizes 10k --only-oxigraph --duration 3
    .venv/bin/python bench/run.py --sizes 100k --vary --queries lookup,construct
    .venv/bin/python bench/run.py --report bench/results/100k-*.json   # print a report again

Results go to bench/results/<size>-<timestamp>.json and .md. The load generator is ``wrk`` when it
is installed (apt-get install wrk), else a small Python one (one process per connection).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import http.client
import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"
RESULTS_DIR = BENCH_DIR / "results"
QUERIES_DIR = BENCH_DIR / "queries"
VENV_BIN = ROOT / ".venv" / "bin"

SELECT_TYPE = "application/sparql-results+json"
CONSTRUCT_TYPE = "text/turtle"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
PING = "ping"  # the name of the cell that measures the trivial route

MANIFEST_VERSION = 2  # bench/generate.py writes it; older data is generated again
OURS = "ours"
OURS_NOCACHE = "ours-nocache"
OXIGRAPH = "oxigraph"
FLOOR = "floor"


# ---------------------------------------------------------------------------------------------
# sizes and data


def parse_size(text: str) -> int:
    value = text.strip().lower().replace("_", "")
    factor = 1
    if value.endswith("k"):
        factor, value = 1_000, value[:-1]
    elif value.endswith("m"):
        factor, value = 1_000_000, value[:-1]
    return int(float(value) * factor)


def size_label(triples: int) -> str:
    if triples % 1_000_000 == 0:
        return f"{triples // 1_000_000}m"
    if triples % 1_000 == 0:
        return f"{triples // 1_000}k"
    return str(triples)


def ensure_data(triples: int, fmt: str, seed: int) -> tuple[Path, dict[str, Any]]:
    """The data file and its manifest, generated when missing."""
    path = DATA_DIR / f"kg-{size_label(triples)}.{fmt}"
    manifest_file = path.with_suffix(".json")
    manifest: dict[str, Any] = {}
    if manifest_file.exists():
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    current = (
        manifest.get("version") == MANIFEST_VERSION
        and manifest.get("seed") == seed
        and manifest.get("format") == fmt
    )
    if not path.exists() or not current:
        cmd = [sys.executable, str(BENCH_DIR / "generate.py"), "--triples", str(triples)]
        cmd += ["--format", fmt, "--seed", str(seed), "--out", str(path)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    return path, manifest


# ---------------------------------------------------------------------------------------------
# queries


@dataclass
class Query:
    name: str
    text: str
    form: str  # SELECT, ASK, CONSTRUCT or DESCRIBE
    params: list[str]

    @property
    def accept(self) -> str:
        return CONSTRUCT_TYPE if self.form in ("CONSTRUCT", "DESCRIBE") else SELECT_TYPE

    def render(self, values: dict[str, str]) -> str:
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], self.text)


def query_form(text: str) -> str:
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    match = re.search(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", body, re.IGNORECASE)
    if not match:
        raise ValueError("not a SPARQL query form")
    return match.group(1).upper()


def load_queries(only: list[str] | None) -> list[Query]:
    queries = []
    for path in sorted(QUERIES_DIR.glob("*.rq")):
        if only and path.stem not in only:
            continue
        text = path.read_text(encoding="utf-8")
        params = sorted(set(PLACEHOLDER.findall(text)))
        queries.append(Query(path.stem, text, query_form(text), params))
    if only:
        missing = set(only) - {q.name for q in queries} - {PING}
        if missing:
            raise SystemExit(f"no such query in {QUERIES_DIR}: {', '.join(sorted(missing))}")
    return queries


def parameter_pools(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """For each placeholder, the values it takes: the first is the one used without --vary."""
    return {
        "resource": [f"<{v}>" for v in manifest["resources"]],
        "hub": [f"<{h['iri']}>" for h in manifest["hubs"]],
        "country": [f"<{v}>" for v in manifest["hub_countries"]],
        "term": list(manifest["terms"]),
    }


def request_paths(
    query: Query, endpoint: str, pools: dict[str, list[str]], vary: bool, count: int
) -> list[str]:
    """The request targets (path and query string) a cell cycles through."""
    if not query.params or not vary:
        values = {p: pools[p][0] for p in query.params}
        return [endpoint + "?" + urllib.parse.urlencode({"query": query.render(values)})]
    rng = random.Random(7)
    paths = []
    n = max(len(pools[p]) for p in query.params)
    for i in range(min(count, n)):
        values = {p: pools[p][i % len(pools[p])] for p in query.params}
        paths.append(endpoint + "?" + urllib.parse.urlencode({"query": query.render(values)}))
    rng.shuffle(paths)
    return paths


# ---------------------------------------------------------------------------------------------
# servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command_works(cmd: list[str]) -> bool:
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def help_text(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


@dataclass
class Server:
    name: str
    cmd: list[str]
    port: int
    endpoint: str  # path of the SPARQL endpoint
    ready_path: str
    ping_path: str  # the trivial route: the ceiling of the HTTP stack
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None  # added to the environment the server starts with
    # ours: a health report saying whether the worker that answered has its store in memory yet
    health_path: str | None = None

    def start(self, timeout: float = 120.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            # a session of its own, so that the server and its workers stop together
            self.proc = subprocess.Popen(
                self.cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=ROOT,
                env={**os.environ, **(self.env or {})},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{tail}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = http_get(self.port, self.ready_path, SELECT_TYPE, timeout=5)
                if status == 200 and self.copied():
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s (log: {self.log})")

    def copied(self, answers: int = 12) -> bool:
        """Whether the workers are done copying the store into memory: so many health answers
        in a row (from whichever workers) say so. Measured before, a cell would time the disk."""
        if self.health_path is None:
            return True
        for _ in range(answers):
            _, body = http_get(self.port, self.health_path, "application/json", timeout=5)
            state = json.loads(body).get("store", {}).get("memory_copy", {}).get("state")
            if state in ("waiting", "copying"):
                return False
        return True

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # our own process group, by its PID
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        # workers left behind by a server that exited first
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def processes(self) -> list[int]:
        """The server's processes: every process of the session it was started in."""
        return session_processes(self.proc.pid) if self.proc else []

    def rss_mib(self) -> float | None:
        """Resident memory of all the server's processes, in MiB (Linux only)."""
        pids = self.processes()
        if not pids:
            return None
        total = 0
        for pid in pids:
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/statm").read_text().split()
                total += int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
        return round(total / 2**20, 1)

    def pss_mib(self) -> float | None:
        """Proportional set size of all the server's processes, in MiB: pages shared between
        processes (the store's files, forked memory) counted once in all, unlike RSS."""
        total_kib = 0
        for pid in self.processes():
            with contextlib.suppress(OSError, ValueError, IndexError):
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total_kib += int(line.split()[1])
        return round(total_kib / 1024, 1) if total_kib else None

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's processes (and the children they reaped)."""
        total = 0
        for pid in self.processes():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = _stat_fields(pid)
                total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        return total / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: state, ppid, pgrp, session, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def session_processes(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(_stat_fields(int(entry.name))[3]) == sid:
                    pids.append(int(entry.name))
    return pids


def client_cpu_seconds() -> float:
    """CPU time of this script and the load generators it has run and reaped."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def http_get(port: int, path: str, accept: str, timeout: float = 60.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": accept})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def load_stores(
    data: Path, size: str, kgpub: Path, oxigraph: Path, only_oxigraph: bool, reload: bool
) -> dict[str, Any]:
    """Load the data into a store per server (reused while the data file is unchanged)."""
    stores = DATA_DIR / "stores" / size
    stores.mkdir(parents=True, exist_ok=True)
    stamp = f"{data.name} {data.stat().st_size} {data.stat().st_mtime_ns}"
    info: dict[str, Any] = {}

    def fresh(target: Path, how: str, key: str) -> bool:
        """Whether the store holds this data file, loaded this way; its load time goes to info."""
        marker = target / ".bench-loaded.json"
        if reload or not marker.exists():
            return False
        with contextlib.suppress(ValueError):
            seen = json.loads(marker.read_text(encoding="utf-8"))
            if seen.get("data") == stamp and seen.get("how") == how:
                info[key] = seen.get("seconds")
                info[key + "_earlier"] = True  # measured when the store was made
                return True
        return False

    def mark(target: Path, how: str, seconds: float) -> None:
        record = {"data": stamp, "how": how, "seconds": seconds}
        (target / ".bench-loaded.json").write_text(json.dumps(record), encoding="utf-8")

    ox_store = stores / "oxigraph"
    if not fresh(ox_store, "oxigraph load", "oxigraph_load_s"):
        shutil.rmtree(ox_store, ignore_errors=True)
        started = time.monotonic()
        cmd = [str(oxigraph), "load", "--location", str(ox_store), "--file", str(data)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"oxigraph load failed:\n{done.stderr[-2000:]}")
        # `kgpub load` optimises its store too: both servers read compacted data
        done = subprocess.run(
            [str(oxigraph), "optimize", "--location", str(ox_store)], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"oxigraph optimize failed:\n{done.stderr[-2000:]}")
        info["oxigraph_load_s"] = round(time.monotonic() - started, 2)
        mark(ox_store, "oxigraph load", info["oxigraph_load_s"])
    info["oxigraph_store"] = str(ox_store)
    if only_oxigraph:
        return info

    ours = stores / "kgpub"
    has_load = command_works([str(kgpub), "load", "--help"])
    how = "kgpub load" if has_load else "pyoxigraph bulk_load"
    if not fresh(ours, how, "ours_load_s"):
        shutil.rmtree(ours, ignore_errors=True)
        started = time.monotonic()
        if has_load:
            cmd = [str(kgpub), "load", str(data), "--store", str(ours), "--replace"]
        else:
            script = (
                "import sys, pyoxigraph as ox; "
                "ox.Store(sys.argv[1]).bulk_load(path=sys.argv[2], "
                "format=ox.RdfFormat.from_extension(sys.argv[2].rsplit('.', 1)[1]))"
            )
            cmd = [sys.executable, "-c", script, str(ours), str(data)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"{how} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        info["ours_load_s"] = round(time.monotonic() - started, 2)
        mark(ours, how, info["ours_load_s"])
    info["ours_loader"] = how
    info["ours_store"] = str(ours)
    return info


# ---------------------------------------------------------------------------------------------
# load generators


@dataclass
class Measure:
    requests: int = 0
    seconds: float = 0.0
    errors: int = 0  # connection errors, timeouts, non-2xx
    non2xx: int = 0  # of which answers with a status of 300 or more
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    mean_ms: float = math.nan
    max_ms: float = math.nan

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else math.nan


WRK_SCRIPT = """
local paths = {%(paths)s}
local accept = %(accept)s
local unique = %(unique)s
local nonce = %(nonce)d  -- new for every run of wrk: no request repeats one of an earlier run
local n = #paths
local counter = 0
local seq = 0
wrk.method = "GET"
wrk.path = paths[1]
wrk.headers["Accept"] = accept
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  math.randomseed(nonce + (id or 0))
end
if n > 1 or unique then
  function request()
    local path = paths[math.random(n)]
    if unique then
      -- a comment of its own at the end of the query: the same query, never the same request
      seq = seq + 1
      path = path .. "%%0A%%23" .. nonce .. "-" .. (id or 0) .. "-" .. seq
    end
    return wrk.format("GET", path, {["Accept"] = accept})
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n{"requests": %%d, "duration_us": %%d, "errors": %%d, "status_errors": %%d, ' ..
    '"p50_us": %%d, "p99_us": %%d, "mean_us": %%f, "max_us": %%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
"""


# distinct for every run of a load generator in this process, and across processes
_NONCES = itertools.count(random.SystemRandom().randrange(1, 2**40) * 1000)


def _lua_string(text: str) -> str:
    return (
        '"' + "".join(c if c.isalnum() or c in "/?=&%-_.~+" else f"\\{ord(c)}" for c in text) + '"'
    )


def run_wrk(
    port: int,
    paths: list[str],
    accept: str,
    concurrency: int,
    seconds: float,
    timeout: float,
    unique: bool = False,
) -> Measure:
    """Load from wrk: one thread, ``concurrency`` keep-alive connections, for ``seconds``.
    ``unique`` ends each query with a comment of its own, so that no request repeats."""
    script = WRK_SCRIPT % {
        "paths": ", ".join(_lua_string(p) for p in paths),
        "accept": _lua_string(accept),
        "unique": "true" if unique else "false",
        "nonce": next(_NONCES),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
        script_path = fh.name
    try:
        cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s"]
        cmd += [f"--timeout={timeout:g}s", "-s", script_path, f"http://127.0.0.1:{port}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + timeout + 30)
    finally:
        os.unlink(script_path)
    line = next((ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("{")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    raw = json.loads(line)
    return Measure(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=raw["errors"] + raw["status_errors"],
        non2xx=raw["status_errors"],
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )


def _python_worker(
    args: tuple[int, list[str], str, float, float, int, bool],
) -> tuple[list[float], int, int]:
    """One connection: request until the deadline; the latencies in seconds, the errors, and how
    many of those were answers with a status of 300 or more."""
    port, paths, accept, deadline, timeout, seed, unique = args
    seq = 0
    nonce = f"{seed}-{os.getpid()}-{time.time_ns()}"
    rng = random.Random(f"{seed}-{time.time_ns()}")
    latencies: list[float] = []
    errors = non2xx = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Accept": accept}
    while time.time() < deadline:
        path = paths[rng.randrange(len(paths))] if len(paths) > 1 else paths[0]
        if unique:
            seq += 1
            path += f"%0A%23{nonce}-{seq}"
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status >= 300:
                errors += 1
                non2xx += 1
            if resp.will_close:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            continue
        latencies.append(time.perf_counter() - started)
    conn.close()
    return latencies, errors, non2xx


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return math.nan
    k = max(0, min(len(sorted_values) - 1, math.ceil(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def run_python(
    port: int,
    paths: list[str],
    accept: str,
    concurrency: int,
    seconds: float,
    timeout: float,
    unique: bool = False,
) -> Measure:
    """Load from Python: one process per connection (keep-alive), for ``seconds``."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(concurrency) as pool:
        started = time.time() + 0.2  # let every worker be up before the clock starts
        deadline = started + seconds
        jobs = [(port, paths, accept, deadline, timeout, i, unique) for i in range(concurrency)]
        results = pool.map(_python_worker, jobs)
        elapsed = max(time.time(), deadline) - started
    latencies = sorted(x for lat, _, _ in results for x in lat)
    return Measure(
        requests=len(latencies),
        seconds=elapsed,
        errors=sum(e for _, e, _ in results),
        non2xx=sum(n for _, _, n in results),
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        mean_ms=sum(latencies) / len(latencies) * 1000 if latencies else math.nan,
        max_ms=latencies[-1] * 1000 if latencies else math.nan,
    )


# ---------------------------------------------------------------------------------------------
# answers: both servers must say the same thing


def answer_digest(body: bytes, accept: str) -> tuple[int, str]:
    """Rows (or triples) of a response and a digest that ignores their order."""
    if accept == SELECT_TYPE:
        doc = json.loads(body)
        if "boolean" in doc:
            return 1, str(doc["boolean"]).lower()
        rows = sorted(json.dumps(b, sort_keys=True) for b in doc["results"]["bindings"])
    else:
        import pyoxigraph

        triples = pyoxigraph.parse(body, format=pyoxigraph.RdfFormat.TURTLE)
        rows = sorted(str(t) for t in triples)
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# the run


@dataclass
class Cell:
    query: str
    concurrency: int
    server: str
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    requests: int
    errors: int
    seconds: float
    non2xx: int  # of the errors, answers with a status of 300 or more
    server_cpu_ms: float  # CPU time of the server per request
    client_cpu_ms: float  # CPU time of the load generator per request
    server_cores: float  # cores the server kept busy on average
    rounds_rps: list[float] = field(default_factory=list)  # req/s of each round


@dataclass
class SizeResult:
    size: str
    triples: int
    started: str
    settings: dict[str, Any]
    loads: dict[str, Any]
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)
    memory_mib: dict[str, float | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# Every request of the benchmark comes from one address, which the per-client limits of a public
# endpoint would soon hold back (a minute's query time spent in half a minute on two cores, then
# 429): the benchmark measures the server, so ours runs without them, as Oxigraph has none.
WITHOUT_CLIENT_LIMITS = {"KGPUB_CLIENT_QUERY_SECONDS": "0", "KGPUB_CLIENT_CONCURRENT_QUERIES": "0"}


def build_servers(args: argparse.Namespace, loads: dict[str, Any], size: str) -> list[Server]:
    logs = DATA_DIR / "logs"
    servers = []
    if not args.only_oxigraph:
        kgpub = str(args.kgpub)
        base = [kgpub, "serve", "--store", loads["ours_store"]]
        extra = list(args.serve_arg or [])
        for name, flags in ((OURS, []), (OURS_NOCACHE, ["--no-cache"])):
            if args.skip_nocache and name == OURS_NOCACHE:
                continue
            port = free_port()
            servers.append(
                Server(
                    name=name,
                    cmd=[*base, "--port", str(port), *flags, *extra],
                    port=port,
                    endpoint="/sparql",
                    ready_path="/-/ping",
                    ping_path="/-/ping",
                    log=logs / f"{size}-{name}.log",
                    env=WITHOUT_CLIENT_LIMITS,
                    health_path="/-/health",
                )
            )
    if args.floor:
        store = loads.get("ours_store") or loads["oxigraph_store"]
        servers.append(floor_server(store, logs / f"{size}-{FLOOR}.log"))
    port = free_port()
    ox_cmd = [str(args.oxigraph), "serve-read-only", "--location", loads["oxigraph_store"]]
    ox_cmd += ["--bind", f"127.0.0.1:{port}"]
    if args.union_default_graph:
        ox_cmd.append("--union-default-graph")
    servers.append(
        Server(
            name=OXIGRAPH,
            cmd=ox_cmd,
            port=port,
            endpoint="/query",
            ready_path="/query?" + urllib.parse.urlencode({"query": "ASK {}"}),
            ping_path="/",  # the static query page
            log=logs / f"{size}-oxigraph.log",
        )
    )
    return servers


def floor_server(store: str, log: Path) -> Server:
    """``bench/floor.py`` under granian on our store, with the workers and threads that
    ``kgpub serve`` has by default (one worker per core, at least two; 64 request threads)."""
    port = free_port()
    workers = max(2, os.cpu_count() or 1)
    cmd = [str(VENV_BIN / "granian"), "--interface", "wsgi", "--working-dir", str(BENCH_DIR)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    cmd += ["--blocking-threads", "64", "--backpressure", "64", "--no-ws", "floor:app"]
    return Server(
        name=FLOOR,
        cmd=cmd,
        port=port,
        endpoint="/sparql",
        ready_path="/ping",
        ping_path="/ping",
        log=log,
        env={"KGPUB_FLOOR_STORE": store},
    )


def probe_answers(
    servers: list[Server], queries: list[Query], pools: dict[str, list[str]]
) -> dict[str, dict[str, Any]]:
    """Each query once on each server: status, rows, digest, size and time of the answer."""
    answers: dict[str, dict[str, Any]] = {}
    for query in queries:
        per_server: dict[str, Any] = {}
        for server in servers:
            path = request_paths(query, server.endpoint, pools, vary=False, count=1)[0]
            started = time.perf_counter()
            status, body = http_get(server.port, path, query.accept)
            ms = (time.perf_counter() - started) * 1000
            if status != 200:
                per_server[server.name] = {"status": status, "ms": round(ms, 2), "body": body[:200]}
                continue
            rows, digest = answer_digest(body, query.accept)
            per_server[server.name] = {
                "rows": rows,
                "digest": digest,
                "bytes": len(body),
                "first_ms": round(ms, 2),
            }
        answers[query.name] = per_server
    return answers


def check_answers(
    servers: list[Server], queries: list[Query], pools: dict[str, list[str]], result: SizeResult
) -> None:
    """Before the measurements: every server must give the same answer to every query."""
    result.answers = probe_answers(servers, queries, pools)
    for name, per_server in result.answers.items():
        for server, answer in per_server.items():
            if "status" in answer:
                result.warnings.append(
                    f"{name}: {server} answered {answer['status']}: {answer.pop('body')!r}"
                )
        digests = {v.get("digest") for v in per_server.values()}
        if len(digests) > 1:
            rows = {k: v.get("rows") for k, v in per_server.items()}
            result.warnings.append(f"{name}: answers differ between servers {rows}")


def recheck_answers(
    servers: list[Server], queries: list[Query], pools: dict[str, list[str]], result: SizeResult
) -> None:
    """After the measurements: the same answers as before, or the servers changed under the run
    (code edited while it ran, a query process that died): then the figures are suspect."""
    after = probe_answers(servers, queries, pools)
    for name, per_server in after.items():
        for server, answer in per_server.items():
            before = result.answers.get(name, {}).get(server, {})
            if answer.get("digest") != before.get("digest"):
                result.warnings.append(
                    f"{name}: {server} answers differently after the run "
                    f"(status {answer.get('status', 200)}, rows {answer.get('rows')}): "
                    "its figures are suspect"
                )


def measure_cell(
    runner: Any,
    server: Server,
    paths: list[str],
    accept: str,
    concurrency: int,
    args: argparse.Namespace,
    seconds: float,
    unique: bool,
) -> tuple[Measure, float, float]:
    """One round: the client's figures, and the server's and client's CPU seconds."""
    server_cpu, client_cpu = server.cpu_seconds(), client_cpu_seconds()
    m = runner(server.port, paths, accept, concurrency, seconds, args.timeout, unique)
    return m, server.cpu_seconds() - server_cpu, client_cpu_seconds() - client_cpu


def round_seconds(
    args: argparse.Namespace, warmup: Measure | None, first_ms: float | None, concurrency: int
) -> float:
    """How long a round lasts: ``--duration``, longer for a slow query so that a round completes
    at least ``--min-requests`` requests, but never longer than ``--max-duration``."""
    cores = os.cpu_count() or 1
    # two estimates of the rate, the larger wins: a warm-up that hit a stall of the machine
    # should not stretch the rounds of a fast query
    rates = []
    latency = math.nan
    if warmup is not None and warmup.requests:
        rates.append(warmup.rps)
        latency = warmup.p50_ms / 1000
    if first_ms:
        rates.append(min(concurrency, cores) / (first_ms / 1000))
        if math.isnan(latency):
            latency = first_ms / 1000
    rate = max(rates, default=0.0)
    if rate <= 0:
        return args.max_duration
    # the first answers come only after the first batch of concurrent queries has been worked off
    first_batch = math.ceil(concurrency / cores) * latency if not math.isnan(latency) else 0.0
    wanted = args.min_requests / rate + first_batch
    return max(args.duration, min(args.max_duration, math.ceil(wanted)))


def settle(server: Server, last: Measure, slow_ms: float = 20.0, limit: float = 30.0) -> None:
    """After slow requests, wait until the server is idle: the client hangs up at the end of a
    round, but the server works on to the end of the queries then in flight, which would take CPU
    from the next measurement (of this server or another)."""
    if last.requests and not last.max_ms > slow_ms:
        return
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = server.cpu_seconds()
        time.sleep(0.25)
        if server.cpu_seconds() - before < 0.025:  # under a tenth of a core
            return


def _median(values: list[float]) -> float:
    values = sorted(v for v in values if not math.isnan(v))
    if not values:
        return math.nan
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def make_cell(
    name: str, concurrency: int, server: str, rounds: list[tuple[Measure, float, float]]
) -> Cell:
    """A cell from its rounds: medians of the rates and latencies, sums of the counts."""
    requests = sum(m.requests for m, _, _ in rounds)
    seconds = sum(m.seconds for m, _, _ in rounds)
    server_cpu = sum(c for _, c, _ in rounds)
    client_cpu = sum(c for _, _, c in rounds)
    per_request = 1000 / requests if requests else math.nan
    return Cell(
        query=name,
        concurrency=concurrency,
        server=server,
        rps=round(_median([m.rps for m, _, _ in rounds]), 1),
        p50_ms=round(_median([m.p50_ms for m, _, _ in rounds]), 3),
        p99_ms=round(_median([m.p99_ms for m, _, _ in rounds]), 3),
        mean_ms=round(_median([m.mean_ms for m, _, _ in rounds]), 3),
        max_ms=round(max(m.max_ms for m, _, _ in rounds), 3),
        requests=requests,
        errors=sum(m.errors for m, _, _ in rounds),
        seconds=round(seconds, 2),
        non2xx=sum(m.non2xx for m, _, _ in rounds),
        server_cpu_ms=round(server_cpu * per_request, 3),
        client_cpu_ms=round(client_cpu * per_request, 3),
        server_cores=round(server_cpu / seconds, 2) if seconds else math.nan,
        rounds_rps=[round(m.rps, 1) for m, _, _ in rounds],
    )


def measure_all(
    args: argparse.Namespace,
    servers: list[Server],
    queries: list[Query],
    pools: dict[str, list[str]],
    result: SizeResult,
) -> None:
    runner = run_wrk if args.client == "wrk" else run_python
    names: list[str] = [q.name for q in queries]
    if not args.no_ping:
        names.insert(0, PING)
    by_name = {q.name: q for q in queries}
    total = len(names) * len(args.concurrency) * len(servers) * args.rounds
    done = 0
    started = time.monotonic()
    for i, name in enumerate(names):
        for concurrency in args.concurrency:
            targets: dict[str, tuple[list[str], str]] = {}
            for server in servers:
                if name == PING:
                    targets[server.name] = ([server.ping_path], "*/*")
                else:
                    query = by_name[name]
                    paths = request_paths(query, server.endpoint, pools, args.vary, args.pool)
                    targets[server.name] = (paths, query.accept)
            rounds: dict[str, list[tuple[Measure, float, float]]] = {s.name: [] for s in servers}
            seconds: dict[str, float] = {}
            unique = args.unique and name != PING
            for round_no in range(args.rounds):
                # the servers take turns, and which one goes first turns too
                shift = (i * len(args.concurrency) + args.concurrency.index(concurrency)) + round_no
                shift %= len(servers)
                for server in servers[shift:] + servers[:shift]:
                    paths, accept = targets[server.name]
                    if server.name not in seconds:
                        warm = None
                        if args.warmup > 0:
                            warm = runner(
                                server.port,
                                paths,
                                accept,
                                concurrency,
                                args.warmup,
                                args.timeout,
                                unique,
                            )
                            settle(server, warm)
                        first = result.answers.get(name, {}).get(server.name, {}).get("first_ms")
                        seconds[server.name] = round_seconds(args, warm, first, concurrency)
                    measured = measure_cell(
                        runner,
                        server,
                        paths,
                        accept,
                        concurrency,
                        args,
                        seconds[server.name],
                        unique,
                    )
                    rounds[server.name].append(measured)
                    settle(server, measured[0])
                    m = measured[0]
                    done += 1
                    eta = (time.monotonic() - started) / done * (total - done)
                    print(
                        f"  [{done}/{total}] {name:<15} c={concurrency:<3} {server.name:<13}"
                        f"{m.rps:>10.1f} req/s  p50 {m.p50_ms:8.2f} ms  p99 {m.p99_ms:8.2f} ms"
                        f"  {m.requests:>6} in {m.seconds:.0f}s (about {eta:.0f}s left)",
                        file=sys.stderr,
                        flush=True,
                    )
            for server in servers:
                cell = make_cell(name, concurrency, server.name, rounds[server.name])
                result.cells.append(cell)
                if cell.errors:
                    result.warnings.append(
                        f"{name} c={concurrency} {server.name}: {cell.errors} errors "
                        f"({cell.non2xx} non-2xx answers) in {cell.requests} requests"
                    )
    for server in servers:
        result.memory_mib[server.name] = server.rss_mib()


# ---------------------------------------------------------------------------------------------
# reports


def _fmt_rps(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _fmt_ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _ratio(a: float, b: float) -> str:
    if not b or math.isnan(a) or math.isnan(b):
        return "-"
    return f"{a / b:.2f}"


def markdown_table(result: SizeResult) -> str:
    servers = list(dict.fromkeys(c.server for c in result.cells))
    cells = {(c.query, c.concurrency, c.server): c for c in result.cells}
    header = ["query", "c"]
    for s in servers:
        header += [f"{s} req/s", "p50 ms", "p99 ms"]
    ours = [s for s in servers if s != OXIGRAPH]
    if OXIGRAPH in servers:
        header += [f"{s}/oxigraph" for s in ours]
    header.append("rows")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    keys = list(dict.fromkeys((c.query, c.concurrency) for c in result.cells))
    for query, conc in keys:
        row = [query, str(conc)]
        for s in servers:
            c = cells.get((query, conc, s))
            if c is None:
                row += ["-", "-", "-"]
                continue
            flag = " (!)" if c.errors else ""
            row += [_fmt_rps(c.rps) + flag, _fmt_ms(c.p50_ms), _fmt_ms(c.p99_ms)]
        if OXIGRAPH in servers:
            ox = cells.get((query, conc, OXIGRAPH))
            for s in ours:
                c = cells.get((query, conc, s))
                row.append(_ratio(c.rps, ox.rps) if c and ox else "-")
        answers = result.answers.get(query, {})
        rows = {v.get("rows") for v in answers.values()}
        digests = {v.get("digest") for v in answers.values()}
        if query == PING:
            row.append("")
        elif len(digests) > 1:
            row.append("differ: " + "/".join(str(v.get("rows")) for v in answers.values()))
        else:
            row.append(str(next(iter(rows), "")))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def cpu_table(result: SizeResult) -> str:
    """Where the CPU went: server CPU per request and cores kept busy, client CPU per request."""
    servers = list(dict.fromkeys(c.server for c in result.cells))
    cells = {(c.query, c.concurrency, c.server): c for c in result.cells}
    header = ["query", "c"]
    for s in servers:
        header += [f"{s} cpu ms/req", "cores"]
    ours = [s for s in servers if s != OXIGRAPH]
    if OXIGRAPH in servers:
        header += [f"{s}/oxigraph cpu" for s in ours]
    header.append("client cpu ms/req (max)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for query, conc in dict.fromkeys((c.query, c.concurrency) for c in result.cells):
        row = [query, str(conc)]
        client = []
        for s in servers:
            c = cells.get((query, conc, s))
            if c is None:
                row += ["-", "-"]
                continue
            row += [_fmt_ms(c.server_cpu_ms), f"{c.server_cores:.2f}"]
            client.append(c.client_cpu_ms)
        if OXIGRAPH in servers:
            ox = cells.get((query, conc, OXIGRAPH))
            for s in ours:
                c = cells.get((query, conc, s))
                row.append(_ratio(c.server_cpu_ms, ox.server_cpu_ms) if c and ox else "-")
        row.append(_fmt_ms(max(client)) if client else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def markdown_report(result: SizeResult) -> str:
    s = result.settings
    loads = result.loads
    parts = [
        f"## {result.size} ({result.triples:,} triples), {result.started}",
        "",
        f"`{s['command']}`",
        "",
        f"client {s['client']}, {s['rounds']} round(s) of {s['duration']}s per cell (medians; "
        f"longer for slow queries, up to {s.get('max_duration', '-')}s), "
        f"{s['warmup']}s warm-up, "
        f"{'varied' if s['vary'] else 'repeated'} parameters"
        f"{', every request unique' if s.get('unique') else ''}, {s['cpus']} CPUs, "
        f"Oxigraph {s['oxigraph_version']}; ours without the per-client limits (one address).",
        "",
    ]
    load_bits = []
    for key, label in (
        ("ours_load_s", f"ours ({loads.get('ours_loader')})"),
        ("oxigraph_load_s", "oxigraph load + optimize"),
    ):
        if loads.get(key) is not None:
            earlier = " (reused store, timed when loaded)" if loads.get(key + "_earlier") else ""
            load_bits.append(f"{label} {loads[key]}s{earlier}")
    if load_bits:
        parts += ["Load: " + ", ".join(load_bits) + ".", ""]
    parts += [markdown_table(result), ""]
    parts += ["CPU time per request (server: all its processes; client: the load generator):", ""]
    parts += [cpu_table(result), ""]
    mem = ", ".join(f"{k} {v} MiB" for k, v in result.memory_mib.items() if v is not None)
    if mem:
        parts += [f"Resident memory after the run: {mem}.", ""]
    if result.warnings:
        parts += ["Warnings:", "", *[f"- {w}" for w in result.warnings], ""]
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,100k", help="comma-separated: 10k,100k,1M,10M")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per round of a cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per cell")
    parser.add_argument(
        "--min-requests",
        type=int,
        default=10,
        help="lengthen the rounds of a slow query so that each completes this many requests",
    )
    parser.add_argument(
        "--max-duration", type=float, default=10.0, help="the longest a round may last (seconds)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="measure each cell this many times, the servers taking turns; report the medians",
    )
    parser.add_argument("--concurrency", default="1,8", help="comma-separated connection counts")
    parser.add_argument("--queries", help="comma-separated query names (default: all)")
    parser.add_argument("--only-oxigraph", action="store_true", help="do not start our server")
    parser.add_argument("--skip-nocache", action="store_true", help="ours with the cache only")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure bench/floor.py: pyoxigraph in a bare WSGI app under granian, the "
        "least a Python server can cost",
    )
    parser.add_argument(
        "--vary",
        action="store_true",
        help="pick the resource, hub or term at random per request from the manifest's lists "
        "(the response cache then holds a working set, not one answer)",
    )
    parser.add_argument("--pool", type=int, default=1000, help="values cycled through by --vary")
    parser.add_argument(
        "--unique",
        action="store_true",
        help="end every query with a comment of its own: no request repeats, every one misses the "
        "response cache (its worst case)",
    )
    parser.add_argument("--no-ping", action="store_true", help="skip the trivial-route cells")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--format", choices=("nq", "trig"), default="nq", help="data file format")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reload", action="store_true", help="load the stores again")
    parser.add_argument(
        "--no-union-default-graph",
        dest="union_default_graph",
        action="store_false",
        help="start Oxigraph without --union-default-graph",
    )
    parser.add_argument(
        "--serve-arg",
        action="append",
        metavar="ARG",
        help="extra argument for `kgpub serve` (repeatable), e.g. --serve-arg=--workers=4",
    )
    parser.add_argument("--kgpub", type=Path, default=VENV_BIN / "kgpub")
    parser.add_argument("--oxigraph", type=Path, default=VENV_BIN / "oxigraph")
    args = parser.parse_args(argv)
    args.sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.queries = [q.strip() for q in args.queries.split(",")] if args.queries else None
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "python"
    if args.client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk), use --client python")
    if not args.only_oxigraph and not command_works([str(args.kgpub), "serve", "--help"]):
        parser.error(f"`{args.kgpub} serve` does not run yet: use --only-oxigraph")
    return args


def run_size(args: argparse.Namespace, triples: int, command: str) -> SizeResult:
    size = size_label(triples)
    print(f"== {size}: data", file=sys.stderr, flush=True)
    data, manifest = ensure_data(triples, args.format, args.seed)
    print(f"== {size}: stores", file=sys.stderr, flush=True)
    loads = load_stores(data, size, args.kgpub, args.oxigraph, args.only_oxigraph, args.reload)
    queries = load_queries(args.queries)
    pools = parameter_pools(manifest)
    oxigraph_version = help_text([str(args.oxigraph), "--version"]).strip().split()[-1]
    result = SizeResult(
        size=size,
        triples=int(manifest["triples"]),
        started=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        settings={
            "command": command,
            "client": args.client,
            "duration": args.duration,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "min_requests": args.min_requests,
            "max_duration": args.max_duration,
            "concurrency": args.concurrency,
            "vary": args.vary,
            "unique": args.unique,
            "pool": args.pool,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "oxigraph_version": oxigraph_version,
            "union_default_graph": args.union_default_graph,
            "serve_args": args.serve_arg or [],
            "defaults": {k: v[0] for k, v in pools.items()},
        },
        loads=loads,
    )
    servers = build_servers(args, loads, size)
    try:
        for server in servers:
            print(f"== {size}: start {server.name}: {' '.join(server.cmd)}", file=sys.stderr)
            server.start()
        check_answers(servers, queries, pools, result)
        for w in result.warnings:
            print(f"warning: {w}", file=sys.stderr)
        measure_all(args, servers, queries, pools, result)
        recheck_answers(servers, queries, pools, result)
    finally:
        for server in servers:
            server.stop()
    return result


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value))


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def load_result(path: Path) -> SizeResult:
    """A result written by an earlier run, to print its report again."""
    raw = json.loads(path.read_text(encoding="utf-8"))

    def num(value: Any) -> Any:
        return math.nan if value is None else value

    cells = [Cell(**{"non2xx": 0, **{k: num(v) for k, v in c.items()}}) for c in raw.pop("cells")]
    return SizeResult(**raw, cells=cells)


def write_results(base: Path, raw: dict[str, Any], report: str) -> None:
    """A run's figures as ``base``.json and its report as ``base``.md; the report printed."""
    base.with_suffix(".json").write_text(
        json.dumps(_no_nan(raw), indent=2, default=_json_default) + "\n", encoding="utf-8"
    )
    base.with_suffix(".md").write_text(report, encoding="utf-8")
    print("\n" + report)
    print(f"(written {base}.json and .md)", file=sys.stderr)


def hold_bench_lock() -> TextIO:
    """Wait for the benchmark lock: one benchmark at a time on a machine, since two would measure
    each other and share the stores. Held while the returned file stays open."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    lock = open(DATA_DIR / ".run.lock", "w")  # noqa: SIM115 (held until the process ends)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print("waiting for another run of the benchmark to finish ...", file=sys.stderr)
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--report"]:
        for name in argv[1:]:
            report = markdown_report(load_result(Path(name)))
            Path(name).with_suffix(".md").write_text(report, encoding="utf-8")
            print(report)
        return 0
    args = parse_args(argv)
    command = " ".join(["bench/run.py", *argv])
    lock = hold_bench_lock()  # noqa: F841 (held until the process ends)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for triples in args.sizes:
        result = run_size(args, triples, command)
        report = markdown_report(result)
        write_results(RESULTS_DIR / f"{result.size}-{stamp}", asdict(result), report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
