"""The docs stay honest: the README's first lines are the two commands, and CI runs the second."""

from __future__ import annotations

import re

from kgpub.cli import parser
from tests.conftest import ROOT


def test_readme_starts_with_the_run_and_test_commands() -> None:
    head = (ROOT / "README.md").read_text("utf-8").splitlines()[:4]
    assert any(line.strip().startswith("make run") for line in head)
    assert any(line.strip().startswith("make test") for line in head)
    makefile = (ROOT / "Makefile").read_text("utf-8")
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text("utf-8")


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    commands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        assert f"`kgpub {name}" in readme, name
