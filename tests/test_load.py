"""`kgpub load`: any RDF file into a store the server can open read-only."""

from __future__ import annotations

import gzip
import io
from contextlib import redirect_stderr
from pathlib import Path

import pyoxigraph as ox
import pytest

from kgpub.cli import main

TRIG = """@prefix ex: <http://example.org/> .
ex:g1 { ex:a ex:p ex:b . ex:a ex:name "A" . }
ex:g2 { ex:b ex:p ex:c . }
ex:c ex:p "default graph" .
"""
TURTLE = '@prefix ex: <http://example.org/> .\nex:x ex:p "x" , "y" .\n'
RDFXML = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">
  <rdf:Description rdf:about="http://example.org/r"><ex:p>from xml</ex:p></rdf:Description>
</rdf:RDF>
"""
JSONLD = '{"@id": "http://example.org/j", "http://example.org/p": "from json-ld"}'
NQUADS = '<http://example.org/q> <http://example.org/p> "q" <http://example.org/g3> .\n'


def run(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(list(args))
    return code, err.getvalue()


def test_loads_every_format_and_keeps_named_graphs(tmp_path: Path) -> None:
    files = {"a.trig": TRIG, "b.ttl": TURTLE, "c.rdf": RDFXML, "d.jsonld": JSONLD}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "e.nq.gz").write_bytes(gzip.compress(NQUADS.encode()))
    (tmp_path / "f.nt").write_text('<http://example.org/n> <http://example.org/p> "n" .\n')
    store_dir = tmp_path / "store"
    code, log = run(
        "load", *(str(tmp_path / n) for n in [*files, "e.nq.gz", "f.nt"]), "--store", str(store_dir)
    )
    assert code == 0, log
    assert "[1/6] loading" in log and "done: 10 quads" in log
    store = ox.Store.read_only(str(store_dir))
    graphs = {g.value for g in store.named_graphs()}
    assert graphs == {"http://example.org/g1", "http://example.org/g2", "http://example.org/g3"}
    assert len(store) == 10
    answer = store.query('SELECT ?g WHERE { GRAPH ?g { ?s ?p "q" } }')
    assert [s["g"].value for s in answer] == ["http://example.org/g3"]


def test_refuses_to_overwrite_without_replace(tmp_path: Path) -> None:
    (tmp_path / "a.ttl").write_text(TURTLE)
    assert run("load", str(tmp_path / "a.ttl"), "--store", str(tmp_path / "s"))[0] == 0
    code, log = run("load", str(tmp_path / "a.ttl"), "--store", str(tmp_path / "s"))
    assert code == 1 and "--replace" in log
    assert run("load", str(tmp_path / "a.ttl"), "--store", str(tmp_path / "s"), "--replace")[0] == 0


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("data.txt", "x", "cannot tell the RDF format"),
        ("bad.ttl", "@prefix ex: <http://example.org/> .\nex:a ex:b .\n", "not valid"),
    ],
)
def test_bad_files_are_named_and_leave_nothing(
    tmp_path: Path, name: str, content: str, needle: str
) -> None:
    (tmp_path / name).write_text(content)
    code, log = run("load", str(tmp_path / name), "--store", str(tmp_path / "s"))
    assert code == 1
    assert needle in log and name in log and "fix:" in log
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    code, log = run("load", str(tmp_path / "nope.ttl"), "--store", str(tmp_path / "s"))
    assert code == 1 and "nope.ttl" in log and "no such file" in log
