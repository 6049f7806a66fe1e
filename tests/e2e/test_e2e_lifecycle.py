"""The server leaves no process behind when stopped, and its start-up does not read the data."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import requests
from kgpub.server import allocator

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


def family(pid: int) -> list[int]:
    """A process and all its descendants."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(stat[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += parents.get(found[-1], [])
    return found


def with_mimalloc(pid: int) -> bool:
    return "libmimalloc" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(allocator.library() is None, reason="mimalloc is not installed here")
def test_serving_processes_run_with_mimalloc_unless_told_otherwise(
    workdir: Path, server_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    for setting, expected in (("mimalloc", True), ("system", False)):
        monkeypatch.setenv("KGPUB_ALLOCATOR", setting)
        server = server_factory(workdir / "store")
        for i in range(4):  # wake query processes in both workers
            response = requests.get(
                server.url + "/sparql", params={"query": f"ASK {{}} # {i}"}, timeout=10
            )
            assert response.status_code == 200
        # the server restarted itself in place: the process started is the one serving
        processes = family(server.process.pid)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in processes]
        assert len(processes) >= 4, "the server, two workers and a query process at least"
        assert any(b"executor.py" in command for command in commands)
        assert [with_mimalloc(pid) for pid in processes] == [expected] * len(processes)
        assert f"{setting} allocator" in server.log.read_text(encoding="utf-8")
        server.stop()
