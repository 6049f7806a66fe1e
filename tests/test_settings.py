"""Settings: defaults, then a TOML file, then the environment, then command-line flags."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from kgpub.settings import Settings
from tests.conftest import ROOT


def test_precedence(tmp_path: Path) -> None:
    config = tmp_path / "kgpub.toml"
    config.write_text("port = 9000\nmax_rows = 50\nquery_timeout = 2.5\ncache = false\n")
    env = {"KGPUB_MAX_ROWS": "70", "KGPUB_CONFIG": str(config)}
    settings = Settings.load({"max_rows": None, "host": "0.0.0.0"}, environ=env)
    assert (settings.port, settings.max_rows, settings.query_timeout) == (9000, 70, 2.5)
    assert settings.cache is False and settings.host == "0.0.0.0"
    assert Settings.load({"max_rows": 5}, environ=env).max_rows == 5


def test_defaults_and_derived_paths() -> None:
    settings = Settings.load(environ={})
    assert settings.base_iri == "https://w3id.org/kgpub/"
    assert settings.store_path == Path("build/current/store")
    assert settings.data_path == Path("data")
    assert settings.query_timeout == 10.0 and settings.max_rows == 10_000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KGPUB_CACHE": "maybe"}, "expected true or false"),
        ({"KGPUB_PORT": "eighty"}, "invalid literal"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.load(environ=env)


def test_unknown_setting_in_a_file(tmp_path: Path) -> None:
    config = tmp_path / "kgpub.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ValueError, match=r"unknown setting.*prot"):
        Settings.load(config_file=config, environ={})


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    for field in fields(Settings):
        assert re.search(rf"^\| `{field.name}` \|", readme, re.M), field.name
