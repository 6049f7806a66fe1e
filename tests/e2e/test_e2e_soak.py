"""A bounded soak: 8 clients send a fixed mix of queries, pages, searches and dumps to a real
``kgpub serve`` on the real build, at least 2,000 requests within 60 s, while a ninth client runs
protocol conformance checks. Zero 5xx, zero connection errors, every answer the right kind.

The latency summary (p50/p95/p99) goes to the terminal and to ``tests/artifacts/soak.txt``.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import rdflib
import requests

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECT = Path(__file__).parents[2]
ARTIFACT = PROJECT / "tests" / "artifacts" / "soak.txt"
CLIENTS = 8
PER_CLIENT = 300  # 2,400 requests in all
DEADLINE_SECONDS = 60
BASE = "https://w3id.org/kgpub/"
PREFIX = "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
SELECT = PREFIX + "SELECT ?s ?label WHERE { ?s rdfs:label ?label } LIMIT 20"
ASK = PREFIX + 'ASK { ?s rdfs:label "Daniel Noboa"@en }'
CONSTRUCT = PREFIX + "CONSTRUCT { ?s rdfs:label ?l } WHERE { ?s rdfs:label ?l } LIMIT 50"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@dataclass(frozen=True)
class Kind:
    """One kind of request in the mix and what its answer must look like."""

    name: str
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    statuses: tuple[int, ...] = (200,)
    content_type: str = ""  # the answer's media type starts with this
    follow: bool = False

    def send(self, session: requests.Session, url: str) -> requests.Response:
        return session.request(
            self.method,
            url + self.path,
            params=self.params,
            data=self.data,
            headers=self.headers,
            allow_redirects=self.follow,
            timeout=30,
        )


def sparql(name: str, method: str, query: str, accept: str, expected: str) -> Kind:
    if method == "GET":
        return Kind(
            name, "GET", "/sparql", {"query": query}, None, {"Accept": accept}, (200,), expected
        )
    if method == "POST-form":
        return Kind(
            name, "POST", "/sparql", {}, {"query": query}, {"Accept": accept}, (200,), expected
        )
    headers = {"Accept": accept, "Content-Type": "application/sparql-query"}
    return Kind(name, "POST", "/sparql", {}, query.encode(), headers, (200,), expected)


MIX: tuple[Kind, ...] = (
    sparql(
        "select-json-get",
        "GET",
        SELECT,
        "application/sparql-results+json",
        "application/sparql-results+json",
    ),
    sparql(
        "select-xml-post",
        "POST-form",
        SELECT,
        "application/sparql-results+xml",
        "application/sparql-results+xml",
    ),
    sparql("select-csv-direct", "POST", SELECT, "text/csv", "text/csv"),
    sparql(
        "select-tsv-get", "GET", SELECT, "text/tab-separated-values", "text/tab-separated-values"
    ),
    sparql(
        "ask-json-post",
        "POST-form",
        ASK,
        "application/sparql-results+json",
        "application/sparql-results+json",
    ),
    sparql(
        "ask-xml-get",
        "GET",
        ASK,
        "application/sparql-results+xml",
        "application/sparql-results+xml",
    ),
    sparql("construct-turtle-get", "GET", CONSTRUCT, "text/turtle", "text/turtle"),
    sparql(
        "construct-jsonld-post", "POST", CONSTRUCT, "application/ld+json", "application/ld+json"
    ),
    sparql(
        "construct-nt-post",
        "POST-form",
        CONSTRUCT,
        "application/n-triples",
        "application/n-triples",
    ),
    Kind("resource-303", "GET", "/id/daniel-noboa", headers={"Accept": BROWSER}, statuses=(303,)),
    Kind("resource-html", "GET", "/id/daniel-noboa.html", content_type="text/html"),
    Kind(
        "resource-turtle",
        "GET",
        "/id/ecuador",
        headers={"Accept": "text/turtle"},
        content_type="text/turtle",
        follow=True,
    ),
    Kind("search-json", "GET", "/search", {"q": "noboa"}, content_type="application/json"),
    Kind(
        "search-html",
        "GET",
        "/search",
        {"q": "ecuador"},
        headers={"Accept": BROWSER},
        content_type="text/html",
    ),
    Kind("dumps-list", "GET", "/dumps/", content_type="text/html"),
    Kind("dump-head", "HEAD", "/dumps/kgpub.nq.gz", content_type="application/gzip"),
    Kind("dump-get", "GET", "/dumps/kgpub.ttl.gz", content_type="application/gzip"),
    Kind(
        "article",
        "GET",
        "/article/ecuador-security-crisis",
        headers={"Accept": BROWSER},
        content_type="text/html",
        follow=True,
    ),
    Kind("home", "GET", "/", content_type="text/html"),
)


@dataclass
class Tally:
    """What the clients saw, shared by their threads."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    connection_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: Kind, seconds: float, response: requests.Response) -> None:
        problem = check(kind, response)
        with self.lock:
            self.latencies.setdefault(kind.name, []).append(seconds)
            self.statuses[response.status_code] += 1
            if problem:
                self.wrong.append(problem)

    @property
    def total(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    def all_latencies(self) -> list[float]:
        return sorted(v for values in self.latencies.values() for v in values)


def check(kind: Kind, response: requests.Response) -> str | None:
    """Light checks of one answer; the problem, or None."""
    status = response.status_code
    if status not in kind.statuses:
        return f"{kind.name}: status {status}: {response.text[:200]!r}"
    if status == 303:
        return None if response.headers.get("Location") else f"{kind.name}: 303 without Location"
    media = response.headers.get("Content-Type", "")
    if not media.startswith(kind.content_type):
        return f"{kind.name}: Content-Type {media!r}, expected {kind.content_type}"
    if kind.method == "GET" and not response.content:
        return f"{kind.name}: empty body"
    if kind.content_type == "application/sparql-results+json":
        body = response.json()
        if "results" not in body and "boolean" not in body:
            return f"{kind.name}: not SPARQL JSON"
    return None


def client(url: str, number: int, tally: Tally, stop_at: float) -> None:
    with requests.Session() as session:
        for step in range(PER_CLIENT):
            if time.monotonic() > stop_at:
                return
            kind = MIX[(number * 7 + step) % len(MIX)]
            started = time.monotonic()
            try:
                response = kind.send(session, url)
            except requests.RequestException as error:
                with tally.lock:
                    tally.connection_errors.append(f"{kind.name}: {error!r}")
                continue
            tally.record(kind, time.monotonic() - started, response)


# --- conformance checks run while the soak runs --------------------------------------------------


def dataset_parameters(url: str) -> None:
    answer = requests.get(
        url + "/sparql",
        params={
            "query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
            "default-graph-uri": BASE + "graph/ontology",
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    n = int(answer.json()["results"]["bindings"][0]["n"]["value"])
    everything = requests.get(
        url + "/sparql", params={"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"}, timeout=30
    ).json()
    assert 0 < n < int(everything["results"]["bindings"][0]["n"]["value"])


def construct_parses(url: str) -> None:
    answer = requests.post(
        url + "/sparql", data={"query": CONSTRUCT}, headers={"Accept": "text/turtle"}, timeout=30
    )
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/turtle")
    graph = rdflib.Graph().parse(data=answer.text, format="turtle")
    assert len(graph) == 50


def ask_direct_post(url: str) -> None:
    answer = requests.post(
        url + "/sparql",
        data=ASK.encode(),
        headers={
            "Content-Type": "application/sparql-query",
            "Accept": "application/sparql-results+json",
        },
        timeout=30,
    )
    assert answer.status_code == 200 and json.loads(answer.content)["boolean"] is True


def update_refused(url: str) -> None:
    answer = requests.post(url + "/sparql", data={"update": "CLEAR ALL"}, timeout=30)
    assert answer.status_code == 403


def linked_data_negotiation(url: str) -> None:
    graph = rdflib.Graph().parse(url + "/id/daniel-noboa")
    assert (rdflib.URIRef(BASE + "id/daniel-noboa"), rdflib.RDFS.label, None) in graph


CONFORMANCE: tuple[Callable[[str], None], ...] = (
    dataset_parameters,
    construct_parses,
    ask_direct_post,
    update_refused,
    linked_data_negotiation,
)


def conformance(url: str, done: threading.Event, failures: list[str], runs: list[int]) -> None:
    while not done.is_set():
        for check_one in CONFORMANCE:
            try:
                check_one(url)
            except Exception as error:  # every failure is reported, whatever it is
                failures.append(f"{check_one.__name__}: {error!r}")
        runs[0] += 1


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(fraction * len(values)))]


def summary(tally: Tally, seconds: float) -> str:
    values = tally.all_latencies()
    ms = {p: percentile(values, p) * 1000 for p in (0.5, 0.95, 0.99)}
    slowest = max(tally.latencies, key=lambda name: statistics.median(tally.latencies[name]))
    return (
        f"soak: {tally.total} requests from {CLIENTS} clients in {seconds:.1f} s "
        f"({tally.total / seconds:.0f} req/s); p50 {ms[0.5]:.1f} ms, p95 {ms[0.95]:.1f} ms, "
        f"p99 {ms[0.99]:.1f} ms; statuses {dict(sorted(tally.statuses.items()))}; "
        f"slowest kind by median: {slowest}"
    )


def test_soak(built: Path, server_factory, request: pytest.FixtureRequest) -> None:
    server = server_factory(built / "store", "--root", str(PROJECT))
    tally = Tally()
    done = threading.Event()
    failures: list[str] = []
    runs = [0]
    checker = threading.Thread(target=conformance, args=(server.url, done, failures, runs))
    started = time.monotonic()
    stop_at = started + DEADLINE_SECONDS
    clients = [
        threading.Thread(target=client, args=(server.url, n, tally, stop_at))
        for n in range(CLIENTS)
    ]
    checker.start()
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    seconds = time.monotonic() - started
    done.set()
    checker.join()
    line = summary(tally, seconds)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(line + "\n", encoding="utf-8")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("\n" + line)
    assert not tally.connection_errors, tally.connection_errors[:10]
    refused = tally.statuses[429]
    assert refused == 0, f"{refused} requests of a normal mixed workload were refused with 429"
    assert not [s for s in tally.statuses if s >= 500], line
    assert not tally.wrong, tally.wrong[:10]
    assert tally.total >= 2000, line
    assert seconds <= DEADLINE_SECONDS + 5, line
    assert runs[0] >= 1 and not failures, failures[:10]
