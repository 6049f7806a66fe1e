"""The memory allocator of the serving processes: mimalloc when it is installed.

Oxigraph's query engine allocates and frees small objects at every step of a query (terms,
tuples, iterators). Under glibc's allocator a label search over 100k triples costs about 5 % more
CPU time than under mimalloc, measured in our web workers (see ``bench/README.md``). The allocator
of a process is chosen when it starts, so ``kgpub serve`` starts itself again with mimalloc
preloaded (``LD_PRELOAD``) before it opens anything: the web workers it forks and the query
processes they start inherit it. The library comes from the ``cmeel-mimalloc`` wheel, a
dependency on Linux. Setting ``allocator = "system"`` keeps the system's allocator.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import sys
from collections.abc import Mapping
from pathlib import Path

ALLOCATORS = ("mimalloc", "system")
PRELOAD = "LD_PRELOAD"
DISTRIBUTION = "cmeel-mimalloc"
# mimalloc commits its arenas whole by default, which the kernel may back with huge pages: 15-20
# MiB more resident memory in every process (measured), for no speed we could see
OPTIONS = {"MIMALLOC_ARENA_EAGER_COMMIT": "0"}


@functools.cache  # the start-up looks twice (the restart, then the start-up line)
def library() -> Path | None:
    """The installed mimalloc shared library, or None (not installed, or not on Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        files = importlib.metadata.files(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "libmimalloc.so":
            path = Path(str(file.locate()))
            return path if path.is_file() else None
    return None


def preloaded(environ: Mapping[str, str], path: Path) -> bool:
    return str(path) in environ.get(PRELOAD, "").replace(":", " ").split()


def restart_environment(allocator: str, environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment to start again with, when ``allocator`` asks for mimalloc and it is
    installed but not yet preloaded; None when this process may go on as it is."""
    if allocator not in ALLOCATORS:
        raise ValueError(
            f"setting allocator: expected one of {', '.join(ALLOCATORS)}, got {allocator!r}"
        )
    path = library() if allocator == "mimalloc" else None
    if path is None or preloaded(environ, path):
        return None
    env = dict(environ)
    env[PRELOAD] = " ".join(filter(None, (str(path), environ.get(PRELOAD, ""))))
    for name, value in OPTIONS.items():
        env.setdefault(name, value)
    return env


def start_with(allocator: str) -> None:
    """Replace this process by itself under the allocator asked for, if it is not so already
    (same process id, same arguments); no return then."""
    env = restart_environment(allocator, os.environ)
    if env is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, env)


def in_use() -> str:
    """The allocator this process runs with, as the start-up line names it."""
    path = library()
    if path is not None and _mapped(path):
        return "mimalloc"
    return "system"


def _mapped(path: Path) -> bool:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any(str(path) in line for line in maps)
    except OSError:
        return False
