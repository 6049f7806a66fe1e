"""Shared fixtures: one real build of the project's data, made once per test session."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from kgpub.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "data" / "articles" / "ecuador-security-crisis"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``kgpub build`` of the real data into a temporary build folder; returns build/current."""
    from kgpub.mappings import build

    build_dir = tmp_path_factory.mktemp("build")
    settings = Settings.load({"root": ROOT, "build_dir": build_dir}, environ={})
    log = io.StringIO()
    build.run(settings, stream=log)
    current = build_dir / "current"
    (build_dir / "build.log").write_text(log.getvalue(), encoding="utf-8")
    return current


@pytest.fixture(scope="session")
def store(built: Path):
    import pyoxigraph as ox

    return ox.Store.read_only(str(built / "store"))


def copy_project(target: Path) -> Path:
    """A copy of the project's data and ontology, to change without touching the real one."""
    for name in ("data", "ontology"):
        shutil.copytree(ROOT / name, target / name)
    return target
