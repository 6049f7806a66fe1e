"""``kgpub serve`` gives each worker a home core (``server/affinity.py``), and none with
``pin_workers = false``; an idle server leaves its workers on every core."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from kgpub.server import affinity

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
        reason="needs Linux and two cores",
    ),
]

Server = Any  # conftest.Server
CORES = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()


def workers_of(server: Server) -> list[int]:
    """The worker processes (the server's children), once both have started."""
    workers: list[int] = []
    for _ in range(100):
        workers = affinity.children(server.process.pid)
        if len(workers) >= 2:
            break
        time.sleep(0.1)
    return workers


def slots_of(workers: list[int]) -> dict[str, str]:
    """The home slots (slot file -> the pid holding it) in the runtime folder of the server these
    workers belong to (``kgpub serve`` makes it in the temporary folder)."""
    mine = {str(worker) for worker in workers}
    for folder in Path(tempfile.gettempdir()).glob("kgpub-serve-*/affinity"):
        slots = {path.name: path.read_text() for path in folder.glob("slot-*")}
        if mine & set(slots.values()):
            return slots
    return {}


def start(server_factory: Callable[..., Server], workdir: Path) -> tuple[Server, list[int]]:
    server = server_factory(workdir / "store", "--workers", "2")
    assert requests.get(server.url + "/sparql", params={"query": "ASK {}"}, timeout=10).ok
    workers = workers_of(server)
    assert len(workers) == 2
    return server, workers


def test_each_worker_holds_a_home_slot_and_roams_while_idle(
    workdir: Path, server_factory: Callable[..., Server]
) -> None:
    _, workers = start(server_factory, workdir)
    slots = slots_of(workers)
    assert set(slots) == {"slot-0", "slot-1"}
    assert set(slots.values()) == {str(worker) for worker in workers}
    assert [frozenset(os.sched_getaffinity(worker)) for worker in workers] == [CORES, CORES]


def test_no_slots_when_pinning_is_off(
    workdir: Path, server_factory: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KGPUB_PIN_WORKERS", "false")
    _, workers = start(server_factory, workdir)
    assert slots_of(workers) == {}
    assert [frozenset(os.sched_getaffinity(worker)) for worker in workers] == [CORES, CORES]
