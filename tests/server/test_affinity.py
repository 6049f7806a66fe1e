"""Workers on home cores while every core has work, and free to roam when a core idles."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kgpub.server import affinity

CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
ALL = frozenset(CORES)
needs_two_cores = pytest.mark.skipif(
    not affinity.supported() or len(CORES) < 2, reason="needs Linux and two cores"
)


@pytest.mark.parametrize(
    ("at_home", "load", "stays_home"),
    [
        (True, {0: 0.9, 1: 0.9}, True),  # every core busy: each at home
        (True, {0: 0.9, 1: 0.5}, True),  # the other core has work of its own
        (True, {0: 0.95, 1: 0.1}, False),  # mine full, the other idle: roam
        (True, {0: 0.3, 1: 0.2}, False),  # cores to spare: the kernel places the threads
        (True, {0: 0.5, 1: 0.45}, True),  # between the bounds: staying put
        (False, {0: 0.5, 1: 0.45}, False),  # ... either way
        (False, {0: 0.9, 1: 0.9}, True),  # busy again: home
        (False, {0: 1.6, 1: 0.1}, False),  # roaming and using it
        (False, {0: 1.6, 1: 0.7}, True),  # the other core got busy: home again
        (False, {0: 1.2, 1: 0.5}, False),  # between the two bounds: no flapping
        (True, {0: 0.9, 1: 0.45}, True),  # ... either way
        (True, {0: 0.9}, True),  # one core only
    ],
)
def test_decide(at_home: bool, load: dict[int, float], stays_home: bool) -> None:
    assert affinity.decide(0, at_home, load) is stays_home


def test_query_processes_count_toward_busy_cores() -> None:
    """Light web workers, but the query processes fill the cores: the workers go home."""
    assert affinity.decide(0, False, {0: 0.3, 1: 0.2}, queries=1.2) is True
    assert affinity.decide(0, True, {0: 0.3, 1: 0.2}, queries=0.0) is False


@needs_two_cores
def test_each_worker_claims_its_own_slot_and_core(tmp_path: Path) -> None:
    first = affinity.claim_home(tmp_path, 2, ALL)
    second = affinity.claim_home(tmp_path, 2, ALL)
    try:
        assert first is not None and second is not None
        assert (first.slot, second.slot) == (0, 1)
        assert first.core != second.core and {first.core, second.core} <= ALL
        assert affinity.claim_home(tmp_path, 2, ALL) is None  # every slot taken
        assert (tmp_path / "slot-0").read_text() == str(os.getpid())
    finally:
        for home in (first, second):
            if home is not None:
                os.close(home.fd)
    reclaimed = affinity.claim_home(tmp_path, 2, ALL)  # free again once its holder is gone
    assert reclaimed is not None and reclaimed.slot == 0
    os.close(reclaimed.fd)


def test_nothing_to_balance_for_one_worker(tmp_path: Path) -> None:
    assert affinity.balance(tmp_path, 1) is None


def cores_of_every_thread() -> set[frozenset[int]]:
    return {frozenset(os.sched_getaffinity(int(task))) for task in os.listdir("/proc/self/task")}


@needs_two_cores
def test_home_while_both_cores_are_busy_and_roaming_when_one_idles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This process as worker 1 of 2, and a process burning a core as worker 2: idle, the worker
    roams; with both busy, it is kept home; with worker 2 gone and its own core full, it roams."""
    monkeypatch.setattr(affinity, "TICK", 0.1)
    monkeypatch.setattr(affinity, "IDLE_TICK", 0.1)
    balancer = affinity.Balancer(tmp_path, 2, ALL)
    sibling = affinity.claim_home(tmp_path, 2, ALL)  # held here, in the burner's name
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    burning = threading.Event()

    def burn() -> None:
        while burning.is_set():
            sum(range(10_000))

    try:
        assert sibling is not None and sibling.slot == 0
        balancer.start()
        home = balancer.home
        assert home is not None and home.slot == 1
        assert not balancer.at_home and cores_of_every_thread() == {ALL}
        os.ftruncate(sibling.fd, 0)
        os.pwrite(sibling.fd, str(burner.pid).encode(), 0)
        burning.set()
        burner_thread = threading.Thread(target=burn, daemon=True)
        burner_thread.start()
        assert wait_for(lambda: balancer.at_home)
        assert cores_of_every_thread() == {frozenset({home.core})}
        # a query process started now goes wherever a core is free
        monkeypatch.setattr(affinity, "_balancer", [balancer])
        query_process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            affinity.free(query_process.pid)
            assert frozenset(os.sched_getaffinity(query_process.pid)) == ALL
        finally:
            query_process.kill()
            query_process.wait()
        burner.kill()
        burner.wait()
        assert wait_for(lambda: not balancer.at_home)  # its core full, the other idle
        assert cores_of_every_thread() == {ALL}
    finally:
        burning.clear()
        burner.kill()
        burner.wait()
        balancer.stop()  # before putting this process back on every core, which it could undo
        affinity.set_cores(os.getpid(), ALL)
        for held in (sibling, balancer.home):
            if held is not None:
                os.close(held.fd)


@needs_two_cores
def test_a_worker_without_a_free_slot_takes_the_first_one_freed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While workers are replaced one by one (SIGHUP), a new one may start before an old one has
    left: it runs on every core, then takes the slot the old one frees."""
    monkeypatch.setattr(affinity, "IDLE_TICK", 0.1)
    old = [affinity.claim_home(tmp_path, 2, ALL) for _ in range(2)]
    balancer = affinity.Balancer(tmp_path, 2, ALL)
    try:
        balancer.start()
        assert balancer.home is None and cores_of_every_thread() == {ALL}
        leaving = old.pop()
        assert leaving is not None
        os.close(leaving.fd)
        assert wait_for(lambda: balancer.home is not None)
        assert balancer.home is not None and balancer.home.slot == leaving.slot
        assert balancer.home.core == leaving.core
    finally:
        balancer.stop()
        affinity.set_cores(os.getpid(), ALL)
        for home in (*old, balancer.home):
            if home is not None:
                os.close(home.fd)


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
