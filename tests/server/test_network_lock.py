"""The lock on the network: a process that closes it can open no IPv4 or IPv6 socket, from any of
its threads, including those it had before; Unix sockets (to its query processes) still open."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import socket, threading
from kgpub.server import executor

go, done, seen = threading.Event(), threading.Event(), {}

def older_thread():
    go.wait()
    for name, family in (("inet", socket.AF_INET), ("inet6", socket.AF_INET6)):
        try:
            socket.socket(family, socket.SOCK_STREAM).close()
            seen[name] = "open"
        except PermissionError:
            seen[name] = "refused"
    done.set()

threading.Thread(target=older_thread).start()
closed = executor.forbid_network(all_threads=%s)
go.set()
done.wait()
socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
print(closed, seen["inet"], seen["inet6"])
"""


def probe(all_threads: bool) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-c", PROBE % all_threads], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


@pytest.mark.skipif(
    not Path("/proc/self/status").exists()
    or "Seccomp:" not in Path("/proc/self/status").read_text(),
    reason="no seccomp on this platform",
)
def test_every_thread_loses_the_network() -> None:
    assert probe(all_threads=True) == ["True", "refused", "refused"]
    # the query processes' form: the calling thread and its future threads only
    assert probe(all_threads=False) == ["True", "open", "open"]
