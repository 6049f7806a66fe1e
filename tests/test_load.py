"""`kgpub load`: any RDF file into a store the server can open read-only."""

from __future__ import annotations

import gzip
import io
from contextlib import redirect_stderr
from pathlib import Path

import pyoxigraph as ox
import pytest
from kgpub.mappings import load as load_module

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


def nquads(count: int) -> str:
    return "".join(
        f'<http://example.org/s{i}> <http://example.org/p> "{i}" <http://example.org/g> .\n'
        for i in range(count)
    )


def test_progress_counts_triples_as_the_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load_module, "PROGRESS_EVERY", 0.0)  # a line at every read
    (tmp_path / "big.nq").write_text(nquads(5000))
    code, log = run("load", str(tmp_path / "big.nq"), "--store", str(tmp_path / "s"))
    assert code == 0, log
    progress = [line for line in log.splitlines() if "triples read" in line]
    counts = [int(line.split()[0].replace(",", "")) for line in progress]
    assert len(counts) > 1 and counts == sorted(counts)  # rising while the file is read
    assert progress[-1].startswith("  5,000 triples read (100%)")
    assert "writing the indexes" in progress[-1]
    assert "big.nq: 5,000 triples in" in log and "triples/s" in log
    assert "done: 5000 quads" in log


def test_progress_in_megabytes_for_turtle_and_gzip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load_module, "PROGRESS_EVERY", 0.0)
    (tmp_path / "a.ttl.gz").write_bytes(gzip.compress(TURTLE.encode()))
    code, log = run("load", str(tmp_path / "a.ttl.gz"), "--store", str(tmp_path / "s"))
    assert code == 0, log
    assert "MB read (100%)" in log and "a.ttl.gz: loaded in" in log
    assert "done: 2 quads" in log


def test_a_terminal_gets_one_line_redrawn(tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    (tmp_path / "a.nq").write_text(nquads(10))
    out = Terminal()
    assert load_module.load([tmp_path / "a.nq"], tmp_path / "s", stream=out) == 10
    log = out.getvalue()
    assert "\r  10 triples read (100%)" in log and "\r\x1b[K[1/1] a.nq: 10 triples" in log
    # loading, the file's summary, optimizing, search index, counts, done
    assert log.count("\n") == 6


def test_a_gzip_file_cut_short_is_named(tmp_path: Path) -> None:
    (tmp_path / "cut.nq.gz").write_bytes(gzip.compress(nquads(2000).encode())[:3000])
    code, log = run("load", str(tmp_path / "cut.nq.gz"), "--store", str(tmp_path / "s"))
    assert code == 1
    assert "cut.nq.gz" in log and "cannot read the file" in log and "fix:" in log
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.nq.gz"]
