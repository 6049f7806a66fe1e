"""The server leaves no process behind when stopped, and its start-up does not read the data."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if text.encode() in command:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_stop_leaves_nothing_behind(workdir: Path, server_factory) -> None:
    store = workdir / "store-lifecycle"
    shutil.copytree(workdir / "store", store)
    server = server_factory(store)
    for i in range(4):  # wake query processes in both workers
        response = requests.get(
            server.url + "/sparql", params={"query": f"ASK {{}} # {i}"}, timeout=10
        )
        assert response.status_code == 200
    assert processes_mentioning(str(store)), "query processes run while serving"
    server.stop()
    deadline = time.monotonic() + 5
    while processes_mentioning(str(store)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(store)) == []


def test_starts_without_a_store(workdir: Path, server_factory) -> None:
    """Start-up opens nothing: a missing store is a clear 503 on query, not a failed start."""
    server = server_factory(workdir / "no-store-here")
    assert requests.get(server.url + "/-/ping", timeout=5).text == "ok"
    response = requests.get(server.url + "/sparql", params={"query": "ASK {}"}, timeout=10)
    assert response.status_code == 503
    assert "not available" in response.text
