"""One private folder per running server, shared by its worker processes.

State that must be the same in every worker (per-client query budgets, metrics counters) lives in
files there. ``kgpub serve`` makes the folder before the workers start and removes it when it
stops; the workers find it through ``RUNTIME_VARIABLE``. An app made in a single process (the test
client) gets a folder of its own, removed at exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

RUNTIME_VARIABLE = "KGPUB_RUNTIME_DIR"
_own: Path | None = None

K = TypeVar("K")
V = TypeVar("V")


class PerProcess(Generic[K, V]):
    """Values made once per process and key. A worker forked from the process that made one has
    a copy it must not use (a memory map, a store handle, a writer thread that did not survive
    the fork): it makes its own on first use."""

    def __init__(self) -> None:
        self._made: dict[K, tuple[int, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, make: Callable[[K], V]) -> V:
        found = self._made.get(key)
        if found is not None and found[0] == os.getpid():
            return found[1]
        with self._lock:
            found = self._made.get(key)
            if found is None or found[0] != os.getpid():
                found = self._made[key] = (os.getpid(), make(key))
            return found[1]

    def mine(self) -> list[V]:
        """The values this process made."""
        pid = os.getpid()
        return [value for maker, value in list(self._made.values()) if maker == pid]


def runtime_dir() -> Path:
    """The server's shared folder, or this process's own when no server made one."""
    global _own
    shared = os.environ.get(RUNTIME_VARIABLE)
    if shared:
        return Path(shared)
    if _own is None or not _own.is_dir():
        _own = Path(tempfile.mkdtemp(prefix="kgpub-"))
        atexit.register(shutil.rmtree, _own, True)
    return _own


@contextmanager
def shared_runtime_dir() -> Iterator[Path]:
    """A fresh private folder for the workers of one server, named in the environment they
    inherit, and removed when the server stops."""
    folder = Path(tempfile.mkdtemp(prefix="kgpub-serve-"))
    os.chmod(folder, 0o700)
    previous = os.environ.get(RUNTIME_VARIABLE)
    os.environ[RUNTIME_VARIABLE] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop(RUNTIME_VARIABLE, None)
        else:
            os.environ[RUNTIME_VARIABLE] = previous
        shutil.rmtree(folder, ignore_errors=True)
