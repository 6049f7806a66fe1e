"""docs/sparql.md keeps up with the code: routes, formats, statuses, flags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from kgpub.server import errors
from kgpub.server.formats import FORMATS, HTML

from kgpub.cli import parser

DOC = (Path(__file__).parents[2] / "docs" / "sparql.md").read_text(encoding="utf-8")


def test_every_route_is_documented(app: Flask) -> None:
    """The endpoint's routes and the system pages; other pages have docs of their own."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("sparql", "system", "static"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)
        assert f"`{path}" in DOC, path


@pytest.mark.parametrize("fmt", [f for f in FORMATS.values() if f is not HTML])
def test_every_format_is_documented(fmt) -> None:
    assert f"`{fmt.media_type}`" in DOC
    for name in fmt.short_names:
        assert f"`{name}`" in DOC, name


def test_every_status_is_documented() -> None:
    statuses = {
        cls.status
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.HttpError)
    }
    table = DOC.split("## Errors")[1].split("##")[0]
    for status in statuses:
        assert f"| {status} |" in table, status


def test_every_flag_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    """The flags ``kgpub serve --help`` lists; those every command shares are the CLI's own."""
    with pytest.raises(SystemExit):
        parser().parse_args(["serve", "--help"])
    flags = set(re.findall(r"(--[a-z][a-z-]+)", capsys.readouterr().out))
    own = flags - {"--help", "--config", "--root", "--data", "--ontology", "--build-dir", "--base"}
    assert {"--host", "--port", "--store", "--backend", "--no-cache"} <= own
    for flag in own - {"--threads"}:
        assert f"`{flag}`" in DOC, flag
