"""``kgpub serve`` keeps each worker on a core of its own (``server/affinity.py``), and not with
``pin_workers = false``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
        reason="needs Linux and two cores",
    ),
]

Server = Any  # conftest.Server
CORES = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()


def worker_cores(server: Server) -> list[frozenset[int]]:
    """The cores each worker process (the server's children) may run on, once all have started."""
    pid = server.process.pid
    for _ in range(100):
        workers = [
            int(child)
            for task in os.listdir(f"/proc/{pid}/task")
            for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        ]
        if len(workers) >= 2:
            break
        time.sleep(0.1)
    return [frozenset(os.sched_getaffinity(worker)) for worker in workers]


def test_each_worker_on_a_core_of_its_own(
    workdir: Path, server_factory: Callable[..., Server]
) -> None:
    server = server_factory(workdir / "store", "--workers", "2")
    assert requests.get(server.url + "/sparql", params={"query": "ASK {}"}, timeout=10).ok
    cores = worker_cores(server)
    assert len(cores) == 2
    assert all(len(allowed) == 1 for allowed in cores), cores
    assert cores[0] != cores[1] and cores[0] | cores[1] <= CORES


def test_workers_free_when_pinning_is_off(
    workdir: Path, server_factory: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KGPUB_PIN_WORKERS", "false")
    server = server_factory(workdir / "store", "--workers", "2")
    assert requests.get(server.url + "/sparql", params={"query": "ASK {}"}, timeout=10).ok
    assert worker_cores(server) == [CORES, CORES]
