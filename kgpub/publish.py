"""``kgpub publish``: push a build into a remote SPARQL store, all named graphs kept.

The build goes over the SPARQL 1.1 Graph Store HTTP Protocol in two phases:

1. **Staging.** Every graph G of the build is written to a staging graph whose name is derived from
   the build id and G (``urn:kgpub:staging:<build-id>:<hash of G>``): the first batch with PUT
   (which replaces whatever a failed attempt left), the rest with POST. The live graphs are not
   touched, so readers keep seeing the previous build.
2. **Switch.** One SPARQL Update request drops the live graphs the new build no longer has, MOVEs
   every staging graph onto its live name and records the build id in the dataset description.
   A store that runs one update request as one transaction (Oxigraph does: the whole request is
   evaluated in one storage transaction and committed at its end, and queries read a snapshot)
   shows its readers the old build or the new one, never a mix.

A failure names the graph, the HTTP status and the remote's message. Staging graphs survive it, and
the staging names depend only on the build id and the graph, so running the same command again
counts what is already staged (one cheap count query per batch of graphs), skips the graphs that
are complete and finishes. Staging graphs of another build (an abandoned publish) are dropped.

The graphs kgpub owns on the remote are those under the build's base IRI: other data in the same
store is left alone. The remote copy of the dataset description graph gains two triples the build
cannot hold itself (its id is a hash of its own dump): ``<dataset> dct:identifier "<build-id>"``
and ``<dataset> dct:modified <time of the switch>``, so a server in front of the store can tell
which build it serves.

No Flask here: this runs where the build is, with the standard library and pyoxigraph.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode, urlsplit, urlunsplit

import pyoxigraph as ox

from kgpub.mappings.dumps import sha256_file
from kgpub.mappings.iris import Minter

STAGING_PREFIX = "urn:kgpub:staging:"
STATE_FILE = "publish-state.json"
DCT_IDENTIFIER = "http://purl.org/dc/terms/identifier"
DCT_MODIFIED = "http://purl.org/dc/terms/modified"
XSD_DATETIME = "http://www.w3.org/2001/XMLSchema#dateTime"
DEFAULT_BATCH_TRIPLES = 50_000
DEFAULT_TIMEOUT = 120.0
COUNT_QUERY_GRAPHS = 200  # staging graphs counted per query: keeps each query small
PROGRESS_EVERY = 1.0  # seconds between progress lines


class PublishError(Exception):
    """A publish that cannot go on. ``resumable``: something was staged and a rerun finishes it;
    otherwise nothing on the remote was changed (bad arguments, unreachable store)."""

    def __init__(self, message: str, *, resumable: bool = False) -> None:
        super().__init__(message)
        self.resumable = resumable


class RemoteError(Exception):
    """The remote store answered with an error status, or could not be reached."""

    def __init__(self, url: str, status: int | None, message: str) -> None:
        self.url = url
        self.status = status
        self.message = message
        where = f"HTTP {status} from {url}" if status is not None else f"cannot reach {url}"
        super().__init__(f"{where}: {message}" if message else where)


# -- where to send what ----------------------------------------------------------------------


# the stores whose Graph Store endpoint sits next to their query and update endpoints:
# Oxigraph (/store, /query, /update) and Fuseki (/<dataset>/data, /query, /update)
_STORE_SEGMENTS = ("store", "data")


@dataclass(frozen=True)
class Endpoints:
    store: str  # Graph Store HTTP Protocol
    update: str  # SPARQL 1.1 Update
    query: str  # SPARQL 1.1 Query (for counts and the live build id)

    @classmethod
    def from_urls(cls, to: str, update: str | None = None, query: str | None = None) -> Endpoints:
        store = check_url(to, "--to")
        return cls(
            store=store,
            update=check_url(update, "--update") if update else _sibling(store, "update"),
            query=check_url(query, "--query") if query else _sibling(store, "query"),
        )


def check_url(url: str, option: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PublishError(f"{option} {url!r} is not an http(s) URL, e.g. http://host:7878/store")
    if parts.username or parts.password:
        raise PublishError(
            f"{option}: put credentials in KGPUB_PUBLISH_USER and KGPUB_PUBLISH_PASSWORD, "
            "not in the URL (URLs end up in logs)"
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise PublishError(f"{option} {url!r}: {exc}") from None
    return url


def _sibling(store_url: str, endpoint: str) -> str:
    parts = urlsplit(store_url)
    head, _, last = parts.path.rstrip("/").rpartition("/")
    if last not in _STORE_SEGMENTS or parts.query:
        option = "--update" if endpoint == "update" else "--query"
        raise PublishError(
            f"cannot tell the SPARQL {endpoint} endpoint of {store_url}: give it with {option} URL "
            "(it is derived only for Oxigraph's .../store and Fuseki's .../data)"
        )
    return urlunsplit((parts.scheme, parts.netloc, f"{head}/{endpoint}", "", ""))


# -- the build -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphPart:
    name: str | None  # None: the default graph
    triples: int
    blank_nodes: bool  # sent in one request: blank node labels only hold within one document

    @property
    def label(self) -> str:
        return f"<{self.name}>" if self.name is not None else "the default graph"


@dataclass(frozen=True)
class BuildSource:
    """A build folder: its id, base IRI and the graphs of its N-Quads dump."""

    folder: Path
    build_id: str
    base_iri: str
    dump: Path
    graphs: tuple[GraphPart, ...]

    @property
    def triples(self) -> int:
        return sum(g.triples for g in self.graphs)

    @classmethod
    def open(cls, folder: Path) -> BuildSource:
        folder = folder.resolve()  # build/current is a symlink: the state belongs to the build
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            raise PublishError(
                f"{folder} is not a build folder (no manifest.json); run kgpub build"
            )
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            build_id, base_iri = str(manifest["build_id"]), str(manifest["base_iri"])
            name = next(
                d["file"]
                for d in manifest["dumps"]
                if d["format"] == "nquads" and not d.get("encoding")
            )
        except (ValueError, KeyError, TypeError, StopIteration) as exc:
            raise PublishError(f"{manifest_path}: not a kgpub build manifest ({exc!r})") from None
        if not re.fullmatch(r"[0-9a-f]{8,64}", build_id):
            raise PublishError(f"{manifest_path}: build id {build_id!r} is not a hex digest")
        try:
            Minter(base_iri)
        except ValueError as exc:
            raise PublishError(f"{manifest_path}: {exc}") from None
        dump = folder / "dumps" / name
        if not dump.is_file():
            raise PublishError(f"{dump} is missing: the build is incomplete; run kgpub build")
        # the build id is the hash of this very dump: publishing anything else under it would lie
        if sha256_file(dump)[: len(build_id)] != build_id:
            raise PublishError(f"{dump} does not match build id {build_id}; run kgpub build")
        return cls(folder, build_id, base_iri, dump, tuple(_scan(dump)))

    def quads(self) -> Iterator[ox.Quad]:
        return iter(ox.parse(path=str(self.dump), format=ox.RdfFormat.N_QUADS))


def _graph_name(quad: ox.Quad) -> str | None:
    return None if isinstance(quad.graph_name, ox.DefaultGraph) else quad.graph_name.value


def _scan(dump: Path) -> Iterator[GraphPart]:
    """One pass over the dump: each graph's size, in dump order. The build writes quads sorted by
    graph, so each graph is one run of lines and can be streamed without holding the dataset."""
    seen: set[str | None] = set()
    current: str | None = None
    count, blank = 0, False
    for quad in ox.parse(path=str(dump), format=ox.RdfFormat.N_QUADS):
        name = _graph_name(quad)
        if count and name != current:
            yield GraphPart(current, count, blank)
            count, blank = 0, False
        if not count:
            if name in seen:
                raise PublishError(f"{dump}: the quads of graph {name} are not together")
            seen.add(name)
            current = name
        count += 1
        blank = (
            blank or isinstance(quad.subject, ox.BlankNode) or isinstance(quad.object, ox.BlankNode)
        )
    if count:
        yield GraphPart(current, count, blank)


@dataclass
class Batch:
    graph: GraphPart
    index: int  # graph number in the build, from 0
    first: bool  # the first batch replaces the staging graph (PUT), the others add to it (POST)
    triples: list[ox.Triple]


def batches(source: BuildSource, size: int) -> Iterator[Batch]:
    """The build's graphs, in dump order, cut into batches of at most ``size`` triples (a graph
    with blank nodes stays whole)."""
    index = -1
    name: object = object()  # matches no graph name, not even None
    pending: list[ox.Triple] = []
    first = True
    for quad in source.quads():
        if _graph_name(quad) != name:
            if pending:
                yield Batch(source.graphs[index], index, first, pending)
            index += 1
            name, pending, first = _graph_name(quad), [], True
        graph = source.graphs[index]
        pending.append(ox.Triple(quad.subject, quad.predicate, quad.object))
        if len(pending) >= size and not graph.blank_nodes:
            yield Batch(graph, index, first, pending)
            pending, first = [], False
    if pending:
        yield Batch(source.graphs[index], index, first, pending)


def staging_prefix(build_id: str) -> str:
    return f"{STAGING_PREFIX}{build_id}:"


def staging_graph(build_id: str, graph: str | None) -> str:
    """The staging name of a build's graph. It never leaves the remote store and is never
    published (it is a URN outside the base IRI): a hash keeps it short and always a valid IRI."""
    key = "default" if graph is None else hashlib.sha256(graph.encode()).hexdigest()[:24]
    return staging_prefix(build_id) + key


# -- the remote store ------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes

    def text(self, limit: int = 500) -> str:
        message = " ".join(self.body.decode("utf-8", "replace").split())
        return message if len(message) <= limit else message[:limit] + " ..."


class Remote:
    """A few HTTP requests over kept-alive connections (http.client: no extra dependency)."""

    def __init__(self, endpoints: Endpoints, auth: tuple[str, str] | None, timeout: float) -> None:
        self.endpoints = endpoints
        self.timeout = timeout
        self._headers = {"User-Agent": "kgpub-publish"}
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"
        self._connections: dict[tuple[str, str], http.client.HTTPConnection] = {}

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        key = (scheme, netloc)
        if key not in self._connections:
            kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            self._connections[key] = kind(netloc, timeout=self.timeout)
        return self._connections[key]

    def send(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: dict[str, str],
        *,
        once: bool = False,
    ) -> Reply:
        """One request. ``once``: on a new connection, with no retry and no deadline, for a
        request that must not be sent twice and whose outcome must be known (the switch)."""
        parts = urlsplit(url)
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        all_headers = {**self._headers, **headers}
        if once and (parts.scheme, parts.netloc) in self._connections:
            self._connections.pop((parts.scheme, parts.netloc)).close()
        timeout = None if once else self.timeout
        for attempt in (1, 2):
            connection = self._connection(parts.scheme, parts.netloc)
            reused = connection.sock is not None
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            try:
                connection.request(method, target, body=body, headers=all_headers)
                response = connection.getresponse()
                return Reply(response.status, response.read())
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                del self._connections[(parts.scheme, parts.netloc)]
                # a kept-alive connection the server has closed meanwhile fails on first use;
                # the requests sent this way may be sent twice (PUT replaces, POST adds a set
                # of triples, queries and DROP SILENT change nothing the second time)
                if attempt == 1 and reused and not once and not isinstance(exc, TimeoutError):
                    continue
                if isinstance(exc, TimeoutError):
                    raise RemoteError(url, None, f"no answer within {timeout:g} s") from None
                reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise RemoteError(url, None, reason) from None
        raise AssertionError("unreachable")

    def _checked(self, url: str, reply: Reply) -> Reply:
        if not 200 <= reply.status < 300:
            raise RemoteError(url, reply.status, reply.text())
        return reply

    def select(self, query: str) -> list[dict[str, str]]:
        url = self.endpoints.query
        reply = self.send(
            "POST",
            url,
            urlencode({"query": query}).encode(),
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/sparql-results+json",
            },
        )
        self._checked(url, reply)
        try:
            bindings = json.loads(reply.body)["results"]["bindings"]
            return [{k: v["value"] for k, v in row.items()} for row in bindings]
        except (ValueError, KeyError, TypeError):
            raise RemoteError(url, reply.status, "the answer is not SPARQL JSON results") from None

    def update(self, text: str, *, once: bool = False) -> None:
        url = self.endpoints.update
        reply = self.send(
            "POST",
            url,
            text.encode("utf-8"),
            {"Content-Type": "application/sparql-update; charset=utf-8"},
            once=once,
        )
        self._checked(url, reply)

    def write_graph(self, graph: str, triples: Sequence[ox.Triple], *, replace: bool) -> None:
        separator = "&" if urlsplit(self.endpoints.store).query else "?"
        url = f"{self.endpoints.store}{separator}{urlencode({'graph': graph})}"
        body = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)
        reply = self.send(
            "PUT" if replace else "POST",
            url,
            body,
            {"Content-Type": "application/n-triples; charset=utf-8"},
        )
        self._checked(self.endpoints.store, reply)

    # what the remote holds

    def graph_names(self) -> set[str]:
        # GRAPH ?g {} lists the named graphs without reading their triples
        return {row["g"] for row in self.select("SELECT DISTINCT ?g WHERE { GRAPH ?g {} }")}

    def counts(self, graphs: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(graphs), COUNT_QUERY_GRAPHS):
            values = " ".join(f"<{g}>" for g in graphs[start : start + COUNT_QUERY_GRAPHS])
            rows = self.select(
                f"SELECT ?g (COUNT(*) AS ?n) WHERE {{ VALUES ?g {{ {values} }} "
                "GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"
            )
            found.update({row["g"]: int(row["n"]) for row in rows})
        return found

    def live_build(self, minter: Minter) -> str | None:
        rows = self.select(
            f"SELECT ?id WHERE {{ GRAPH <{minter.dataset_graph}> "
            f"{{ <{minter.dataset}> <{DCT_IDENTIFIER}> ?id }} }}"
        )
        return rows[0]["id"] if rows else None


# -- the record of a publish, kept in the build folder ---------------------------------------


@dataclass
class StateFile:
    """``publish-state.json`` in the build folder: per target URL, what is staged and how the last
    attempt ended. The remote's counts decide what a rerun skips; this is the record of it."""

    path: Path
    target: str
    entry: dict[str, Any] = field(default_factory=dict)
    writable: bool = True
    written: float = float("-inf")  # time.monotonic() of the last write

    @classmethod
    def load(cls, folder: Path, target: str) -> StateFile:
        path = folder / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        entry = data.get(target) if isinstance(data, dict) else None
        return cls(path, target, entry if isinstance(entry, dict) else {})

    def save(self, *, at_most_every: float = 0.0, **changes: Any) -> None:
        """Record ``changes``; write the file unless it was written less than
        ``at_most_every`` seconds ago (a big build stages many graphs a second)."""
        self.entry.update(changes, updated=_now())
        now = time.monotonic()
        if not self.writable or now - self.written < at_most_every:
            return
        self.written = now
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            data = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            data = {}
        data[self.target] = self.entry
        try:
            fd, tmp = tempfile.mkstemp(prefix=".publish-", dir=self.path.parent)
        except OSError:
            # a read-only build folder: the remote's counts still let a rerun resume
            self.writable = False
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.write("\n")
            os.replace(tmp, self.path)  # readers of the file never see half of it
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            self.writable = False


# -- the publish -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    build_id: str
    already_live: bool
    graphs: int
    triples: int
    staged: int  # graphs sent by this run
    resumed: int  # graphs found staged by an earlier run
    removed: int  # live graphs of the previous build the new one does not have
    seconds: float


class Progress:
    """Graph k/N, triples sent and the rate, on stderr, at most once a second."""

    def __init__(self, stream: TextIO, total_graphs: int) -> None:
        self.stream = stream
        self.total = total_graphs
        self.sent = 0
        self.start = time.perf_counter()
        self.last = 0.0

    def say(self, message: str) -> None:
        self.stream.write(message + "\n")
        self.stream.flush()

    def sent_batch(self, batch: Batch, done: bool) -> None:
        self.sent += len(batch.triples)
        now = time.perf_counter()
        last_graph = done and batch.index + 1 == self.total
        if now - self.last < PROGRESS_EVERY and not last_graph:
            return
        self.last = now
        rate = self.sent / max(now - self.start, 1e-6)
        self.say(
            f"  graph {batch.index + 1}/{self.total}: {self.sent} triples sent, "
            f"{rate:,.0f} triples/s ({batch.graph.label})"
        )


def publish(
    folder: Path,
    endpoints: Endpoints,
    *,
    batch_triples: int = DEFAULT_BATCH_TRIPLES,
    auth: tuple[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stream: TextIO,
) -> Outcome:
    """Stage every graph of the build in ``folder``, then switch them live in one update."""
    if batch_triples < 1:
        raise PublishError("--batch-triples must be at least 1")
    source = BuildSource.open(folder)
    remote = Remote(endpoints, auth, timeout)
    try:
        return Publication(source, remote, stream, batch_triples).run()
    finally:
        remote.close()


class Publication:
    def __init__(
        self, source: BuildSource, remote: Remote, stream: TextIO, batch_triples: int
    ) -> None:
        self.source = source
        self.remote = remote
        self.minter = Minter(source.base_iri)
        self.batch_triples = batch_triples
        self.progress = Progress(stream, len(source.graphs))
        self.state = StateFile.load(source.folder, remote.endpoints.store)
        self.start = time.perf_counter()

    def run(self) -> Outcome:
        source, say = self.source, self.progress.say
        try:
            live = self.remote.live_build(self.minter)
            remote_graphs = self.remote.graph_names()
        except RemoteError as exc:
            raise PublishError(f"{exc}; nothing was changed") from None
        mine = staging_prefix(source.build_id)
        ours = sorted(g for g in remote_graphs if g.startswith(mine))
        abandoned = sorted(
            g for g in remote_graphs if g.startswith(STAGING_PREFIX) and not g.startswith(mine)
        )
        if live == source.build_id and not ours:
            self._drop_abandoned(abandoned)
            say(f"build {source.build_id} is already live at {self.remote.endpoints.store}")
            self.state.save(build_id=source.build_id, status="live")
            return self._outcome(already_live=True)
        say(
            f"publishing build {source.build_id} ({len(source.graphs)} graphs, "
            f"{source.triples} triples) to {self.remote.endpoints.store}"
        )
        self._drop_abandoned(abandoned)
        done = self._already_staged(ours)
        if done:
            say(f"resuming: {len(done)} of {len(source.graphs)} graphs are staged already")
        self._stage(done)
        removed = self._switch()
        self.state.save(status="live", staged={}, error=None)
        outcome = self._outcome(
            staged=len(source.graphs) - len(done), resumed=len(done), removed=removed
        )
        say(
            f"published build {source.build_id}: {outcome.graphs} graphs, {outcome.triples} "
            f"triples ({outcome.staged} sent now, {outcome.resumed} resumed, {removed} old "
            f"graphs removed) in {outcome.seconds:.1f} s"
        )
        return outcome

    def _outcome(self, *, already_live: bool = False, **counts: int) -> Outcome:
        return Outcome(
            build_id=self.source.build_id,
            already_live=already_live,
            graphs=len(self.source.graphs),
            triples=self.source.triples,
            staged=counts.get("staged", 0),
            resumed=counts.get("resumed", 0),
            removed=counts.get("removed", 0),
            seconds=time.perf_counter() - self.start,
        )

    def _drop_abandoned(self, graphs: list[str]) -> None:
        """Staging graphs of another build: a publish that failed and was never resumed."""
        if not graphs:
            return
        builds = sorted({g[len(STAGING_PREFIX) :].split(":", 1)[0] for g in graphs})
        try:
            self.remote.update(" ;\n".join(f"DROP SILENT GRAPH <{g}>" for g in graphs))
        except RemoteError as exc:
            raise PublishError(
                f"removing the staging graphs of an abandoned publish failed: {exc}; "
                "the live data is unchanged",
                resumable=True,
            ) from None
        self.progress.say(
            f"removed {len(graphs)} staging graphs of an abandoned publish "
            f"(build {', '.join(builds)})"
        )

    def _already_staged(self, present: list[str]) -> set[int]:
        """Graphs (by index) whose staging graph is on the remote with all its triples."""
        if not present:
            return set()
        try:
            counts = self.remote.counts(present)
        except RemoteError as exc:
            raise PublishError(
                f"counting the staged graphs failed: {exc}; the live data is unchanged",
                resumable=True,
            ) from None
        return {
            index
            for index, graph in enumerate(self.source.graphs)
            if counts.get(staging_graph(self.source.build_id, graph.name)) == graph.triples
        }

    def _stage(self, done: set[int]) -> None:
        source, total = self.source, len(self.source.graphs)
        staged = {_state_key(g.name): g.triples for i, g in enumerate(source.graphs) if i in done}
        self.state.save(
            build_id=source.build_id,
            update=self.remote.endpoints.update,
            query=self.remote.endpoints.query,
            status="staging",
            staged=staged,
            error=None,
        )
        graph_sent = 0
        for batch in batches(source, self.batch_triples):
            if batch.index in done:
                continue
            graph = batch.graph
            graph_sent = len(batch.triples) + (0 if batch.first else graph_sent)
            try:
                self.remote.write_graph(
                    staging_graph(source.build_id, graph.name), batch.triples, replace=batch.first
                )
            except RemoteError as exc:
                message = (
                    f"staging graph {batch.index + 1}/{total} {graph.label} failed: {exc}. "
                    f"The live data is unchanged; {len(staged)} of {total} graphs are staged "
                    "and kept"
                )
                self.state.save(status="failed", error=message)
                raise PublishError(message, resumable=True) from None
            complete = graph_sent == graph.triples
            if complete:
                staged[_state_key(graph.name)] = graph.triples
                self.state.save(staged=staged, at_most_every=PROGRESS_EVERY)
            self.progress.sent_batch(batch, done=complete)

    def _switch(self) -> int:
        """One update request: drop what the new build no longer has, move the staging graphs
        onto their live names, record the build id. Returns the number of graphs dropped."""
        source = self.source
        try:
            live = self.remote.graph_names()
        except RemoteError as exc:
            raise self._switch_failed(exc) from None
        names = {g.name for g in source.graphs}
        # only graphs under our base IRI are ours: other data in the store stays
        gone = sorted(g for g in live if g.startswith(source.base_iri) and g not in names)
        operations = [f"DROP SILENT GRAPH <{g}>" for g in gone]
        for graph in source.graphs:
            target = "DEFAULT" if graph.name is None else f"GRAPH <{graph.name}>"
            # no SILENT: a missing staging graph fails the request, and with it the whole switch
            operations.append(
                f"MOVE GRAPH <{staging_graph(source.build_id, graph.name)}> TO {target}"
            )
        operations.append(
            f"INSERT DATA {{ GRAPH <{self.minter.dataset_graph}> {{ <{self.minter.dataset}> "
            f'<{DCT_IDENTIFIER}> "{source.build_id}" ; <{DCT_MODIFIED}> '
            f'"{_now()}"^^<{XSD_DATETIME}> }} }}'
        )
        self.progress.say(
            f"switching {len(source.graphs)} graphs live in one update"
            + (f", removing {len(gone)} graphs the new build does not have" if gone else "")
        )
        start = time.perf_counter()
        try:
            # the store may take minutes to move a big build: waiting without a deadline is
            # what keeps the outcome known (giving up would not stop the store's transaction)
            self.remote.update(" ;\n".join(operations), once=True)
        except RemoteError as exc:
            raise self._switch_failed(exc) from None
        self.progress.say(f"switched in {time.perf_counter() - start:.1f} s")
        return len(gone)

    def _switch_failed(self, exc: RemoteError) -> PublishError:
        if exc.status is not None:
            outcome = (
                "The store applies the switch as one transaction, so the live data is unchanged"
            )
        else:
            # no answer: the store may have committed the switch before the connection broke
            outcome = (
                "Whether the store applied the switch is unknown: a rerun finds the build live "
                "(and stops) or switches it"
            )
        message = (
            f"switching build {self.source.build_id} live failed: {exc}. {outcome}; "
            "every graph is staged"
        )
        self.state.save(status="failed", error=message)
        return PublishError(message, resumable=True)


def _state_key(graph: str | None) -> str:
    return "" if graph is None else graph  # JSON keys are strings: "" is the default graph


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
