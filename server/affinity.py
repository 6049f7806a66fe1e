"""Each web worker on a core of its own while the cores are busy; free to use any core when not.

A request crosses threads inside a worker (granian's HTTP thread hands it to a Python thread and
takes the answer back) and, for a query not yet known to be light, processes (the query process).
Each hand-over wakes a sleeping thread; when the scheduler wakes it on the other core, that wake-up
costs more than a cached answer itself. On a 2-core virtual machine (``bench/README.md``), with the
worker kept on one core a cache hit took about a fifth less CPU. So each worker has a home core
(``claim_home``), and keeps its threads there while the cores are busy. Its query processes go
wherever a core is free (``free``): a long query is no load to steer every ``TICK``.

Kept home, a worker cannot use a second core, and a request cannot use two. So every ``TICK``
seconds each worker looks at the CPU time that each worker, and all the query processes, used
since the last look (``Balancer``), and lets its threads go to any core (``decide``):
- when the cores are far from busy (a few clients): each step of a request then gets a core at
  once, which makes it quicker than saving the wake-ups would;
- when its core is full while another core's workers leave room on theirs (few connections, all on
  one worker: two clients on one of two workers halved the rate of heavy queries when kept home).
It goes home again once the cores are busy and the others have work of their own. An idle worker
looks once every ``IDLE_TICK``.

Linux only (``os.sched_setaffinity``); elsewhere, and with one core or one worker, nothing is done.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TICK = 0.2  # seconds between looks while this worker is busy
IDLE_TICK = 1.0  # ... and while it is idle
# shares of one core's time over a tick: of a core's workers (their own threads), and on average
# over the cores (the workers and all query processes)
# under this average, the cores are left to the kernel: with cores to spare, a request going from
# thread to thread is quicker on two cores than it is cheaper on one
LIGHT = 0.45
HEAVY = 0.65  # ... and over this one the workers go home (between the two, they stay put)
FULL = 0.85  # a worker this busy may want more than its home core
IDLE = 0.4  # another core's workers this little busy leave room on their core
BUSY_AGAIN = 0.6  # when every other core's workers are this busy, a roaming worker goes home
ONE_CORE = 0.6  # a roaming worker needing less than this goes home
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def supported() -> bool:
    return hasattr(os, "sched_setaffinity") and Path("/proc/self/task").is_dir()


@dataclass(frozen=True)
class Home:
    slot: int
    core: int
    fd: int  # the slot's lock, held while the worker lives


def core_of(slot: int, cores: frozenset[int]) -> int:
    """The home core of a slot: slot *n* on the *n*-th core, round the cores again past them."""
    ordered = sorted(cores)
    return ordered[slot % len(ordered)]


def claim_home(folder: Path, workers: int, cores: frozenset[int]) -> Home | None:
    """The first free slot of ``workers`` (a lock file in ``folder``, released when the process
    ends, so a worker started again takes the slot of the one it replaces) and its core among
    ``cores``; None when no slot is free (while the workers are replaced one by one, the old ones
    still hold theirs)."""
    import fcntl  # POSIX only, as this module is

    folder.mkdir(parents=True, exist_ok=True)
    for slot in range(workers):
        fd = os.open(folder / f"slot-{slot}", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return Home(slot, core_of(slot, cores), fd)
    return None


def decide(home_core: int, at_home: bool, load: dict[int, float], queries: float = 0.0) -> bool:
    """Whether the worker should be kept on its home core, given how busy each core's workers were
    (``load``: core -> share of a core), the query processes' load (``queries``, on any core)
    and where it is now."""
    mine = load.get(home_core, 0.0)
    others = [share for core, share in load.items() if core != home_core]
    if not others:
        return True
    average = (sum(load.values()) + queries) / len(load)
    if at_home:
        lopsided = mine >= FULL and min(others) <= IDLE
        return average >= LIGHT and not lopsided
    return average >= HEAVY and (min(others) >= BUSY_AGAIN or mine <= ONE_CORE)


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (its query processes)."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listed:
                found.extend(int(child) for child in listed.read().split())
    except OSError:
        pass
    return found


def ticks_of(pid: int) -> int:
    """User and system clock ticks of process ``pid``, all its threads; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def cpu_ticks(pid: int) -> tuple[int, int]:
    """Clock ticks of the worker ``pid`` itself, and of its query processes."""
    return ticks_of(pid), sum(ticks_of(child) for child in children(pid))


def set_cores(pid: int, cores: set[int] | frozenset[int]) -> None:
    """Every thread of process ``pid`` on ``cores``; a thread gone meanwhile is skipped."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for task in tasks:
        try:
            os.sched_setaffinity(int(task), cores)
        except OSError:
            continue


_balancer: list[Balancer] = []  # this worker's, once started


def free(pid: int) -> None:
    """A query process just started by this worker, put back on every core: it inherited the
    worker's home core, but a long query should go wherever a core is free, as the kernel
    decides (a heavy query every few hundred milliseconds on each worker is no load a look every
    ``TICK`` could follow)."""
    if _balancer and _balancer[0].at_home:
        set_cores(pid, _balancer[0].cores)


class Balancer:
    """The thread that keeps this worker on its home core, or lets it roam (module docstring).
    Without a free slot at start, the worker runs on every core and claims one as soon as one is
    free."""

    def __init__(self, folder: Path, workers: int, cores: frozenset[int]) -> None:
        self.folder = folder
        self.workers_wanted = workers
        self.cores = cores
        self.home: Home | None = None
        self.at_home = False
        self._last: dict[int, tuple[int, int]] = {}
        self._when = time.monotonic()
        self.stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.claim()
        self._thread = threading.Thread(target=self._run, name="core-balancer", daemon=True)
        self._thread.start()

    def claim(self) -> None:
        """A home core; the worker goes there once the cores are busy (``look``)."""
        self.home = claim_home(self.folder, self.workers_wanted, self.cores)

    def stop(self) -> None:
        """Stop looking (the worker stays where it is)."""
        self.stopped.set()
        if self._thread is not None:
            self._thread.join()

    def place(self, at_home: bool) -> None:
        """Threads started later take the cores of the thread starting them, so only a change
        of place has to be applied (query processes are freed as they start, ``free``)."""
        assert self.home is not None
        if at_home != self.at_home:
            set_cores(os.getpid(), {self.home.core} if at_home else self.cores)
            self.at_home = at_home

    def workers(self) -> dict[int, int]:
        """pid -> home core of every worker holding a slot."""
        found: dict[int, int] = {}
        for slot_file in self.folder.glob("slot-*"):
            try:
                slot = int(slot_file.name.removeprefix("slot-"))
                pid = int(slot_file.read_text() or 0)
            except (OSError, ValueError):
                continue
            if pid and Path(f"/proc/{pid}").exists():
                found[pid] = core_of(slot, self.cores)
        return found

    def look(self) -> float:
        """One look: the load of each core's workers since the last, and the decision; the share
        of a core this worker used."""
        assert self.home is not None
        now = time.monotonic()
        seconds = max(now - self._when, 1e-3)
        self._when = now
        load: dict[int, float] = dict.fromkeys(self.cores, 0.0)
        ticks: dict[int, tuple[int, int]] = {}
        queries = 0.0  # the query processes' share: on any core
        mine = 0.0
        for pid, core in self.workers().items():
            ticks[pid] = cpu_ticks(pid)
            own, theirs = ticks[pid]
            last_own, last_theirs = self._last.get(pid, ticks[pid])
            used = max(0, own - last_own) / CLOCK_TICKS / seconds
            load[core] += used
            queries += max(0, theirs - last_theirs) / CLOCK_TICKS / seconds
            if pid == os.getpid():
                mine = used
        self._last = ticks
        self.place(decide(self.home.core, self.at_home, load, queries))
        return mine

    def _run(self) -> None:
        tick = TICK
        while not self.stopped.wait(tick):
            try:
                if self.home is None:
                    self.claim()
                    tick = IDLE_TICK
                else:
                    tick = TICK if self.look() > 0.05 else IDLE_TICK
            except Exception:  # the balance is an optimisation: never let it take a worker down
                log.exception("core balancer")
                tick = IDLE_TICK


def balance(folder: Path, workers: int) -> Balancer | None:
    """Give this worker a home core and start its balancer (``kgpub serve``'s workers); None
    where there is nothing to balance: one worker, one core, or not Linux."""
    if not supported():
        return None
    cores = frozenset(os.sched_getaffinity(0))
    if workers < 2 or len(cores) < 2:
        return None
    balancer = Balancer(folder, workers, cores)
    balancer.start()
    _balancer[:] = [balancer]
    return balancer
