"""Workers on home cores while every core has work, and free to roam when a core idles."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from kgpub.server import affinity

CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
needs_two_cores = pytest.mark.skipif(
    not affinity.supported() or len(CORES) < 2, reason="needs Linux and two cores"
)


@pytest.mark.parametrize(
    ("at_home", "load", "stays_home"),
    [
        (True, {0: 0.9, 1: 0.9}, True),  # every core busy: each at home
        (True, {0: 0.9, 1: 0.5}, True),  # the other core has work of its own
        (True, {0: 0.95, 1: 0.1}, False),  # mine full, the other idle: roam
        (True, {0: 0.3, 1: 0.0}, True),  # light work stays home even with a core free
        (False, {0: 1.6, 1: 0.1}, False),  # roaming and using it
        (False, {0: 1.6, 1: 0.7}, True),  # the other core got busy: home again
        (False, {0: 0.4, 1: 0.0}, True),  # no need for a second core any more
        (False, {0: 1.2, 1: 0.5}, False),  # between the two bounds: no flapping
        (True, {0: 0.9, 1: 0.45}, True),  # ... either way
        (True, {0: 0.9}, True),  # one core only
    ],
)
def test_decide(at_home: bool, load: dict[int, float], stays_home: bool) -> None:
    assert affinity.decide(0, at_home, load) is stays_home


@needs_two_cores
def test_each_worker_claims_its_own_slot_and_core(tmp_path: Path) -> None:
    first = affinity.claim_home(tmp_path, 2)
    second = affinity.claim_home(tmp_path, 2)
    try:
        assert first is not None and second is not None
        assert (first.slot, second.slot) == (0, 1)
        assert first.core != second.core and {first.core, second.core} <= set(CORES)
        assert affinity.claim_home(tmp_path, 2) is None  # every slot taken
        assert (tmp_path / "slot-0").read_text() == str(os.getpid())
    finally:
        for home in (first, second):
            if home is not None:
                os.close(home.fd)
    reclaimed = affinity.claim_home(tmp_path, 2)  # a slot is free again once its holder is gone
    assert reclaimed is not None and reclaimed.slot == 0
    os.close(reclaimed.fd)


def test_nothing_to_claim_for_one_worker(tmp_path: Path) -> None:
    assert affinity.claim_home(tmp_path, 1) is None


def cores_of_every_thread() -> set[frozenset[int]]:
    return {frozenset(os.sched_getaffinity(int(task))) for task in os.listdir("/proc/self/task")}


@needs_two_cores
def test_a_busy_worker_with_an_idle_core_roams_and_comes_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This process as a worker of two: pinned at start; its CPU-bound thread fills its core while
    the other core's worker (none here) is idle, so it roams; idle again, it goes home."""
    monkeypatch.setattr(affinity, "TICK", 0.1)
    monkeypatch.setattr(affinity, "IDLE_TICK", 0.1)
    home = affinity.claim_home(tmp_path, 2)
    assert home is not None
    balancer = affinity.Balancer(home)
    burning = threading.Event()

    def burn() -> None:
        while burning.is_set():
            sum(range(10_000))

    try:
        balancer.start()
        assert cores_of_every_thread() == {frozenset({home.core})}
        burning.set()
        burner = threading.Thread(target=burn, daemon=True)
        burner.start()
        assert wait_for(lambda: not balancer.at_home)
        assert cores_of_every_thread() == {frozenset(CORES)}
        burning.clear()
        burner.join()
        assert wait_for(lambda: balancer.at_home)
        assert cores_of_every_thread() == {frozenset({home.core})}
    finally:
        burning.clear()
        balancer.stop()  # before putting this process back on every core, which it could undo
        affinity.set_cores(os.getpid(), set(CORES))
        os.close(home.fd)


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
