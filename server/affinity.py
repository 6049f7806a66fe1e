"""Each web worker on a core of its own while every core has work; free to use any core when not.

A request crosses threads inside a worker (granian's HTTP thread hands it to a Python thread and
takes the answer back) and, for a query not yet known to be light, processes (the query process).
Each hand-over wakes a sleeping thread; when the scheduler wakes it on the other core, that wake-up
costs more than a cached answer itself. On a 2-core virtual machine (``bench/README.md``), with the
worker kept on one core a cache hit took about a fifth less CPU, and a query sent to a query
process about 40% less. So each worker has a home core (``claim_home``) and keeps its threads and
its query processes there.

A worker on one core cannot use a second one. With few connections, all of them may be on one
worker while another core idles (two clients on one of two workers halved the rate of heavy
queries when kept on home cores). So every ``TICK`` seconds each worker looks at the CPU time that
each worker, with its query processes, used since the last look (``Balancer``): one that fills its
core while another core's workers leave room on theirs lets its threads go to any core, and goes
home again when the others are busy again, or when it does not need more than its core
(``decide``). An idle worker looks once every ``IDLE_TICK``.

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
# shares of one core's time over a tick (a worker and its query processes together)
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
    cores: frozenset[int]  # every core the server may use
    folder: Path
    fd: int  # the slot's lock, held while the worker lives


def claim_home(folder: Path, workers: int) -> Home | None:
    """The first free slot of ``workers`` (a lock file in ``folder``, released when the process
    ends, so a worker started again takes the slot of the one it replaces), and its core; None
    when there is nothing to gain (one core, one worker) or no slot is free."""
    import fcntl  # POSIX only, as this module is

    cores = sorted(os.sched_getaffinity(0))
    if workers < 2 or len(cores) < 2:
        return None
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
        return Home(slot, cores[slot % len(cores)], frozenset(cores), folder, fd)
    return None


def decide(home_core: int, at_home: bool, load: dict[int, float]) -> bool:
    """Whether the worker should be kept on its home core, given how busy each core's workers were
    (``load``: core -> share of a core) and where it is now."""
    mine = load.get(home_core, 0.0)
    others = [share for core, share in load.items() if core != home_core]
    if not others:
        return True
    if at_home:
        return not (mine >= FULL and min(others) <= IDLE)
    return min(others) >= BUSY_AGAIN or mine <= ONE_CORE


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


def cpu_ticks(pid: int) -> int:
    """User and system clock ticks of ``pid`` and its children, all their threads."""
    total = 0
    for process in (pid, *children(pid)):
        try:
            with open(f"/proc/{process}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total


def set_cores(pid: int, cores: set[int] | frozenset[int]) -> None:
    """Every thread of ``pid`` and of its children on ``cores``; a thread or process that has
    gone meanwhile is skipped."""
    for process in (pid, *children(pid)):
        try:
            tasks = os.listdir(f"/proc/{process}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                os.sched_setaffinity(int(task), cores)
            except OSError:
                continue


class Balancer:
    """The thread that keeps this worker on its home core, or lets it roam (module docstring)."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.at_home = False
        self._last: dict[int, int] = {}
        self._when = time.monotonic()
        self.stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.place(True)
        self._thread = threading.Thread(target=self._run, name="core-balancer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop looking (the worker stays where it is)."""
        self.stopped.set()
        if self._thread is not None:
            self._thread.join()

    def place(self, at_home: bool) -> None:
        """Threads and processes started later take the cores of the thread starting them, so
        only a change of place has to be applied."""
        if at_home != self.at_home:
            set_cores(os.getpid(), {self.home.core} if at_home else self.home.cores)
            self.at_home = at_home

    def workers(self) -> dict[int, int]:
        """pid -> home core of every worker holding a slot."""
        found: dict[int, int] = {}
        cores = sorted(self.home.cores)
        for slot_file in self.home.folder.glob("slot-*"):
            try:
                slot = int(slot_file.name.removeprefix("slot-"))
                pid = int(slot_file.read_text() or 0)
            except (OSError, ValueError):
                continue
            if pid and Path(f"/proc/{pid}").exists():
                found[pid] = cores[slot % len(cores)]
        return found

    def look(self) -> float:
        """One look: the load of each core's workers since the last, and the decision; the share
        of a core this worker used."""
        now = time.monotonic()
        seconds = max(now - self._when, 1e-3)
        self._when = now
        load: dict[int, float] = dict.fromkeys(self.home.cores, 0.0)
        ticks: dict[int, int] = {}
        mine = 0.0
        for pid, core in self.workers().items():
            ticks[pid] = cpu_ticks(pid)
            used = max(0, ticks[pid] - self._last.get(pid, ticks[pid])) / CLOCK_TICKS / seconds
            load[core] += used
            if pid == os.getpid():
                mine = used
        self._last = ticks
        self.place(decide(self.home.core, self.at_home, load))
        return mine

    def _run(self) -> None:
        tick = TICK
        while not self.stopped.wait(tick):
            try:
                tick = TICK if self.look() > 0.05 else IDLE_TICK
            except Exception:  # the balance is an optimisation: never let it take a worker down
                log.exception("core balancer")
                tick = IDLE_TICK


def balance(folder: Path, workers: int) -> Balancer | None:
    """Give this worker a home core and start its balancer (``kgpub serve``'s workers)."""
    if not supported():
        return None
    home = claim_home(folder, workers)
    if home is None:
        return None
    balancer = Balancer(home)
    balancer.start()
    return balancer
