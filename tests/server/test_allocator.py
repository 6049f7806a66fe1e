"""The allocator ``kgpub serve`` starts its processes with (``server/allocator.py``)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest
from kgpub.server import allocator

SUPPORTED = sys.platform.startswith("linux") and platform.machine() in ("x86_64", "aarch64")


@pytest.mark.skipif(not SUPPORTED, reason="the mimalloc wheel is a dependency on Linux only")
def test_mimalloc_is_installed_with_the_project() -> None:
    library = allocator.library()
    assert library is not None and library.is_file()
    assert library.name == "libmimalloc.so"


@pytest.mark.skipif(not SUPPORTED, reason="the mimalloc wheel is a dependency on Linux only")
def test_a_process_without_it_starts_again_with_it_preloaded() -> None:
    library = str(allocator.library())
    env = allocator.restart_environment("mimalloc", {"PATH": "/usr/bin"})
    assert env is not None
    assert env["LD_PRELOAD"] == library
    assert env["MIMALLOC_ARENA_EAGER_COMMIT"] == "0"
    assert env["PATH"] == "/usr/bin"
    # a preload of the operator's own is kept, after ours; their mimalloc options too
    env = allocator.restart_environment(
        "mimalloc", {"LD_PRELOAD": "/opt/libtrace.so", "MIMALLOC_ARENA_EAGER_COMMIT": "1"}
    )
    assert env is not None
    assert env["LD_PRELOAD"] == f"{library} /opt/libtrace.so"
    assert env["MIMALLOC_ARENA_EAGER_COMMIT"] == "1"


@pytest.mark.skipif(not SUPPORTED, reason="the mimalloc wheel is a dependency on Linux only")
def test_once_preloaded_it_goes_on_as_it_is() -> None:
    library = str(allocator.library())
    assert allocator.restart_environment("mimalloc", {"LD_PRELOAD": library}) is None
    assert allocator.restart_environment("mimalloc", {"LD_PRELOAD": f"/x.so:{library}"}) is None


def test_the_system_allocator_changes_nothing() -> None:
    assert allocator.restart_environment("system", {}) is None


def test_an_unknown_allocator_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="allocator: expected one of mimalloc, system"):
        allocator.restart_environment("jemalloc", {})


def test_serve_refuses_an_unknown_allocator_before_starting(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kgpub.cli", "serve", "--store", str(tmp_path), "--port", "1"],
        env={"KGPUB_ALLOCATOR": "tcmalloc", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "allocator: expected one of mimalloc, system, got 'tcmalloc'" in result.stderr
    assert "Traceback" not in result.stderr
