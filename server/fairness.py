"""Per-client fairness on ``/sparql``: a budget of query time per minute and a cap on running
queries, shared by every worker process of the server.

A client is its address (``client_key``). Its record lives in a small fixed-size table in a file
under the server's runtime folder, mapped into memory by every worker and locked with ``fcntl``
(and a thread lock, as ``flock`` does not separate the threads of one process). A record is one
slot, found by a hash of the client's key:

    key hash | window start | seconds used in the window | running queries | last touched
    | the start of each running query (up to ``TRACKED``)

Before a query runs, ``admit`` refuses it (``Refused``, answered 429) when the client has used its
``client_query_seconds`` in the current minute, counting the time its running queries have taken so
far, or when it already has ``client_concurrent_queries`` heavy queries running (running for
``HEAVY_SECONDS`` or more) and none of them finishes within ``ADMISSION_WAIT``. Light queries finish
in milliseconds and never count against the cap, so a client (a benchmark, a crawler behind one
address) may run many of them at once; one holding its places with heavy queries is refused.
After the query (answer, error, timeout, or the end of a streamed answer) ``finish``
charges what it cost (``sparql.run`` decides: the query process's CPU time, a stopped query its
whole time limit). Times are ``time.monotonic()``, one clock for every process of the machine.

Most queries end in a millisecond, and taking the file lock twice for each cost more than the query
itself. So a query of a client that is clear of both limits (read from the table without the lock)
is admitted by its worker alone and known only to it: its cost is added to the client's record in
batches, every ``TICK`` seconds, and once it has run half of ``HEAVY_SECONDS`` it is entered in the
table as running, so that the other workers see it well before it becomes heavy. A client near a
limit takes the locked path, which first enters the worker's own running queries of that client.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import math
import mmap
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from .runtime import PerProcess, runtime_dir
from .ticker import Ticker

WINDOW_SECONDS = 60.0
SLOTS = 4096
PROBES = 16  # slots looked at from a key's home slot before a record is evicted
# how long a query beyond the client's concurrent cap waits for one of its running queries to end
ADMISSION_WAIT = 1.0
POLL_SECONDS = 0.01
# a running query counts against the concurrent cap once it has run this long (light ones never)
HEAVY_SECONDS = 0.5
# running queries tracked per client, each with its start; more at once wait, as over the cap
TRACKED = 32
# a refusal for a spent budget is answered after this pause (at most), so that a client ignoring
# Retry-After cannot turn refusals into a flood that takes the CPU from everyone else
REFUSAL_PAUSE = 0.5
# a record untouched this long is free; also repairs the running count of a worker that died
STALE_SECONDS = 10 * WINDOW_SECONDS

# seconds a running query may outlast the time limit before it is taken for gone (``prune``)
PRUNE_GRACE = 5.0
# seconds between a worker's entries of its batched charges and its longer queries in the table
TICK = 0.05

# key hash, window start, seconds used, running queries, (padding), touched, starts (0: free)
SLOT = struct.Struct(f"<QddIId{TRACKED}d")
HEAD = struct.Struct("<QddIId")  # the slot without its starts
STARTS = struct.Struct(f"<{TRACKED}d")
KEY = struct.Struct("<Q")


class Refused(Exception):
    """The client is over one of its limits; ``retry_after`` is in whole seconds, at least 1."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class LocalRun:
    """A query admitted by this worker alone; ``slot`` and ``place`` once it is in the table."""

    __slots__ = ("enter_after", "key_hash", "place", "slot", "started")

    def __init__(self, key_hash: int, started: float, enter_after: float) -> None:
        self.key_hash = key_hash
        self.started = started
        self.enter_after = enter_after  # seconds of running before it is entered in the table
        self.slot: int | None = None
        self.place = -1


class Ticket(NamedTuple):
    """A running query's place in the table, handed back to ``finish`` (a tuple: one is made
    for every query)."""

    slot: int | None  # None: not in the table (admitted locally, or the table had no room)
    key_hash: int
    started: float
    place: int = -1  # its entry among the record's starts
    local: LocalRun | None = None  # admitted without the lock: known to this worker


@dataclass
class Record:
    key_hash: int
    window_start: float
    used: float
    running: int
    touched: float
    starts: list[float]  # of the running queries; 0.0 marks a free entry

    def roll(self, now: float) -> None:
        """A new window when the current one is over."""
        if now - self.window_start >= WINDOW_SECONDS:
            self.window_start, self.used = now, 0.0

    def prune(self, now: float, longest: float) -> None:
        """Forget the running queries that started more than ``longest`` (the time limit) plus
        ``PRUNE_GRACE`` seconds ago: they were stopped, or their worker died before it could
        say they ended; either way they no longer work for their client."""
        for place, start in enumerate(self.starts):
            if start and now - start > longest + PRUNE_GRACE:
                self.starts[place] = 0.0
                self.running = max(0, self.running - 1)

    def spent(self, now: float) -> float:
        """Seconds charged in this window plus what the running queries have taken so far."""
        return self.used + sum(now - start for start in self.starts if start)

    def heavy(self, now: float, after: float) -> int:
        """The running queries that have run ``after`` seconds or more."""
        return sum(1 for start in self.starts if start and now - start >= after)


def client_address(environ: dict, trust_forwarded: bool) -> str:
    """The peer's address; behind our own proxy (``trust_forwarded``), the address that proxy
    appended last to X-Forwarded-For: the entries before it are whatever the client chose to send,
    so they would let it pose as anyone. The access log names clients by it too."""
    if trust_forwarded:
        last = environ.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        if last:
            return last[:64]
    return environ.get("REMOTE_ADDR", "") or ""


def client_key(environ: dict, trust_forwarded: bool) -> str:
    """Who is asking, for the budgets: its address (``client_address``), with IPv6 addresses
    counted per /64, the block one subscriber usually gets, so rotating addresses inside it buys
    nothing."""
    return _address_key(client_address(environ, trust_forwarded))


@lru_cache(maxsize=4096)
def _address_key(address: str) -> str:
    """The client key of one address; memoized, as clients come back and parsing costs."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


@lru_cache(maxsize=4096)
def key_hash(key: str) -> int:
    digest = hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1  # 0 marks an empty slot


class ClientTable:
    """The shared table, one file mapped by every process that opens it."""

    def __init__(
        self, path: Path, slots: int = SLOTS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.slots = slots
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            size = slots * SLOT.size
            fcntl.flock(fd, fcntl.LOCK_EX)  # two workers may create it at once
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            fcntl.flock(fd, fcntl.LOCK_UN)
            self._map = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._lock = threading.Lock()
        self.pid = os.getpid()  # a mapping is not shared across a fork: each worker opens its own
        # this worker's own part: queries admitted without the lock, charges not yet entered
        self._local_lock = threading.Lock()
        self._runs: set[LocalRun] = set()
        # key hash -> [seconds to charge, start of the first of those queries]
        self._pending: dict[int, list[float]] = {}
        self._homes: dict[int, int] = {}  # key hash -> the slot its record was last seen in
        self._ticker = Ticker("fairness", TICK, self._local_lock, self._enter_due)

    # --- the two operations -------------------------------------------------------------------

    def admit(
        self,
        key: str,
        budget: float,
        concurrent: int,
        wait: float = ADMISSION_WAIT,
        pause: float = REFUSAL_PAUSE,
        heavy_after: float = HEAVY_SECONDS,
        longest: float = math.inf,
    ) -> Ticket:
        """Count a query as running for ``key``, or raise ``Refused``. ``longest``: the time
        limit of a query, past which a running query is taken for gone."""
        hashed = key_hash(key)
        now = self.clock()
        with self._local_lock:
            if heavy_after > 0 and self._clear(
                hashed, now, (budget, concurrent, heavy_after, longest)
            ):
                run = LocalRun(hashed, now, heavy_after / 2)
                self._runs.add(run)
                self._ticker.wake()
                return Ticket(None, hashed, now, local=run)
            # near a limit: the table decides, with this worker's own part entered in it
            self._enter_runs(now, hashed)
            self._enter_charges(now)
        return self._admit_locked(hashed, (budget, concurrent, heavy_after, longest), wait, pause)

    def _admit_locked(
        self, hashed: int, limits: tuple[float, int, float, float], wait: float, pause: float
    ) -> Ticket:
        budget, concurrent, heavy_after, longest = limits
        deadline = self.clock() + wait
        while True:
            now = self.clock()
            with self._locked():
                slot, record = self._find(hashed, now)
                if record is None:
                    return Ticket(None, hashed, now)
                record.roll(now)
                record.prune(now, longest)
                over_budget = budget > 0 and record.spent(now) >= budget
                if over_budget:
                    self._write(slot, record)
                    window_left = record.window_start + WINDOW_SECONDS - now
                elif 0 in record.starts and (
                    concurrent <= 0 or record.heavy(now, heavy_after) < concurrent
                ):
                    place = record.starts.index(0)
                    record.starts[place] = now
                    record.running += 1
                    record.touched = now
                    self._write(slot, record)
                    return Ticket(slot, hashed, now, place)
            if over_budget:
                time.sleep(min(pause, window_left))
                raise Refused(
                    f"this client has used its {budget:g} s of query time for this minute",
                    _whole_seconds(window_left),
                )
            if now >= deadline:
                raise Refused(
                    f"this client already has {concurrent} queries running for {heavy_after:g} s "
                    "or more; wait for one to finish",
                    1,
                )
            time.sleep(POLL_SECONDS)

    def finish(self, ticket: Ticket, seconds: float) -> None:
        """The query of ``ticket`` has ended: charge ``seconds`` and free its running place."""
        run = ticket.local
        if run is not None:
            with self._local_lock:
                self._runs.discard(run)
                if run.slot is None:  # never entered: its charge goes in with the next batch
                    entry = self._pending.get(run.key_hash)
                    if entry is None:
                        self._pending[run.key_hash] = [max(0.0, seconds), run.started]
                    else:
                        entry[0] += max(0.0, seconds)
                    self._ticker.wake()
                    return
                ticket = Ticket(run.slot, run.key_hash, run.started, run.place)
        if ticket.slot is None:
            return
        now = self.clock()
        with self._locked():
            record = self._read(ticket.slot)
            if record.key_hash != ticket.key_hash:
                return  # evicted meanwhile: nothing left to charge
            record.roll(now)
            record.used += max(0.0, seconds)
            if 0 <= ticket.place < TRACKED and record.starts[ticket.place] == ticket.started:
                record.starts[ticket.place] = 0.0
                record.running = max(0, record.running - 1)
            record.touched = now
            self._write(ticket.slot, record)

    def usage(self, key: str) -> tuple[float, int]:
        """(seconds used in the current window, running queries) of ``key``: for tests and
        diagnostics. This worker's part of it is entered in the table first."""
        hashed = key_hash(key)
        now = self.clock()
        with self._local_lock:
            self._enter_runs(now, hashed)
            self._enter_charges(now)
        with self._locked():
            home = hashed % self.slots
            for step in range(PROBES):
                record = self._read((home + step) % self.slots)
                if record.key_hash == hashed:
                    record.roll(now)
                    return record.used, record.running
        return 0.0, 0

    # --- this worker's part -------------------------------------------------------------------

    def _clear(self, hashed: int, now: float, limits: tuple[float, int, float, float]) -> bool:
        """Whether the client is clear of both limits, by the table read without the lock (at
        worst a torn read sends a query down the locked path) and this worker's own part."""
        budget, concurrent, heavy_after, longest = limits
        entry = self._pending.get(hashed)
        spent = entry[0] if entry is not None else 0.0
        heavy = 0
        slot = self._home(hashed)
        if slot is not None:
            offset = slot * SLOT.size
            _, window_start, used, running, _, touched = HEAD.unpack_from(self._map, offset)
            if now - touched < STALE_SECONDS:
                if now - window_start < WINDOW_SECONDS:
                    spent += used
                if running:
                    for start in STARTS.unpack_from(self._map, offset + HEAD.size):
                        if start and now - start <= longest + PRUNE_GRACE:
                            spent += now - start
                            heavy += now - start >= heavy_after
        for run in self._runs:
            if run.key_hash == hashed and run.slot is None:
                spent += now - run.started
                heavy += now - run.started >= heavy_after
        if budget > 0 and spent >= budget:
            return False
        return concurrent <= 0 or heavy < concurrent

    def _home(self, hashed: int) -> int | None:
        """The slot holding ``hashed``'s record, or None when it has none."""
        slot = self._homes.get(hashed)
        if slot is not None and KEY.unpack_from(self._map, slot * SLOT.size)[0] == hashed:
            return slot
        home = hashed % self.slots
        for step in range(PROBES):
            slot = (home + step) % self.slots
            if KEY.unpack_from(self._map, slot * SLOT.size)[0] == hashed:
                if len(self._homes) >= self.slots:
                    self._homes.clear()
                self._homes[hashed] = slot
                return slot
        return None

    def _enter_due(self) -> bool:
        """The ticker's work: the charges, and the queries that have run long enough; whether
        any query of this worker is still running."""
        now = self.clock()
        self._enter_runs(now)
        self._enter_charges(now)
        return bool(self._runs)

    def _enter_runs(self, now: float, key: int | None = None) -> None:
        """Enter in the table this worker's running queries of the client ``key`` (a key hash),
        or without one, those that have run long enough (local lock held)."""
        runs = [
            run
            for run in self._runs
            if run.slot is None
            and (run.key_hash == key if key is not None else now - run.started >= run.enter_after)
        ]
        if not runs:
            return
        with self._locked():
            for run in runs:
                slot, record = self._find(run.key_hash, now, since=run.started)
                if record is None or 0 not in record.starts:
                    continue  # no room: it runs unaccounted, and is charged when it ends
                record.roll(now)
                run.slot, run.place = slot, record.starts.index(0)
                record.starts[run.place] = run.started
                record.running += 1
                record.touched = now
                self._write(slot, record)

    def _enter_charges(self, now: float) -> None:
        """Add the charges of the queries that ended since the last batch (local lock held)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        with self._locked():
            for hashed, (seconds, first) in pending.items():
                slot, record = self._find(hashed, now, since=first)
                if record is None:
                    continue  # every probed slot busy: as an unaccounted query
                record.roll(now)
                record.used += seconds
                record.touched = now
                self._write(slot, record)

    def close(self) -> None:
        with self._local_lock:
            self._ticker.stop()
        self._map.close()
        os.close(self._fd)

    # --- slots --------------------------------------------------------------------------------

    def _find(
        self, hashed: int, now: float, since: float | None = None
    ) -> tuple[int, Record | None]:
        """The slot of ``hashed``, taking a free or the least recently used idle one if it has
        none; (-1, None) when every probed slot is busy with running queries."""
        home = hashed % self.slots
        free: int | None = None
        oldest: tuple[float, int] | None = None
        for step in range(PROBES):
            slot = (home + step) % self.slots
            record = self._read(slot)
            if record.key_hash == hashed:
                if now - record.touched >= STALE_SECONDS:
                    record = _fresh(hashed, now, since)
                return slot, record
            stale = record.key_hash == 0 or now - record.touched >= STALE_SECONDS
            if stale and free is None:
                free = slot
            if record.running == 0 and (oldest is None or record.touched < oldest[0]):
                oldest = (record.touched, slot)
        if free is None and oldest is not None:
            free = oldest[1]
        if free is None:
            return -1, None
        return free, _fresh(hashed, now, since)

    def _read(self, slot: int) -> Record:
        return Record(*_unpack(SLOT.unpack_from(self._map, slot * SLOT.size)))

    def _write(self, slot: int, record: Record) -> None:
        SLOT.pack_into(
            self._map,
            slot * SLOT.size,
            record.key_hash,
            record.window_start,
            record.used,
            record.running,
            0,
            record.touched,
            *record.starts,
        )

    def _locked(self) -> _TableLock:
        return _TableLock(self._lock, self._fd)


class _TableLock:
    """The process's thread lock, then the file lock shared with the other workers."""

    def __init__(self, lock: threading.Lock, fd: int) -> None:
        self.lock = lock
        self.fd = fd

    def __enter__(self) -> None:
        self.lock.acquire()
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.lock.release()


def _unpack(values: tuple) -> tuple:
    hashed, window_start, used, running, _pad, touched, *starts = values
    return hashed, window_start, used, running, touched, starts


def _fresh(hashed: int, now: float, since: float | None = None) -> Record:
    """A new record, its window started at ``since`` (the first query it is for) or now."""
    return Record(hashed, now if since is None else since, 0.0, 0, now, [0.0] * TRACKED)


def _whole_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))


_tables: PerProcess[Path, ClientTable] = PerProcess()


def table() -> ClientTable:
    """This server's table: one file in its runtime folder, opened once per process (after the
    fork, so each worker maps it itself)."""
    return _tables.get(runtime_dir() / "fairness" / "clients", ClientTable)
