"""Bad input stops the build with file, line and a fix, and leaves the previous build untouched."""

from __future__ import annotations

import io
import shutil
from contextlib import redirect_stderr
from pathlib import Path

import pytest
import yaml

from kgpub.cli import main
from tests.conftest import copy_project

SLUG = "ecuador-security-crisis"


@pytest.fixture
def project(tmp_path: Path, built: Path) -> Path:
    """A copy of the data and ontology, and of a finished build to protect."""
    root = copy_project(tmp_path / "project")
    shutil.copytree(built.parent, root / "build", symlinks=True)
    return root


def snapshot(build_dir: Path) -> dict[str, bytes | str]:
    state: dict[str, bytes | str] = {}
    for path in sorted(build_dir.rglob("*")):
        rel = str(path.relative_to(build_dir))
        if path.is_symlink():
            state[rel] = "-> " + str(path.readlink())
        elif path.is_file() and "store" not in path.parts:
            state[rel] = path.read_bytes()
    return state


def run_build(root: Path) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(["build", "--root", str(root), "--build-dir", str(root / "build")])
    return code, err.getvalue()


def article_file(root: Path, name: str) -> Path:
    return root / "data" / "articles" / SLUG / name


def first_entity(root: Path) -> str:
    return yaml.safe_load(article_file(root, "entities.yaml").read_text("utf-8"))[0]["id"]


def append(path: Path, text: str) -> int:
    """Append ``text``; return the 1-based line number where it starts."""
    before = path.read_text("utf-8")
    if not before.endswith("\n"):
        before += "\n"
    path.write_text(before + text, encoding="utf-8")
    return before.count("\n") + 1


def expect_failure(root: Path, needle: str, where: str) -> str:
    before = snapshot(root / "build")
    code, message = run_build(root)
    assert code == 1, message
    assert needle in message, message
    assert where in message, message
    assert "fix:" in message, message
    assert "Traceback" not in message
    assert snapshot(root / "build") == before, "the previous build changed"
    assert not [p for p in (root / "build").iterdir() if p.name.startswith(".")]
    return message


def fact(
    subject: str,
    sentence: str = "p1s1",
    quote: str = "The security situation in Ecuador",
    fact_id: str = "test-fact",
    **props: str,
) -> str:
    lines = [
        f"- id: {fact_id}",
        f"  sentence: {sentence}",
        f"  quote: {quote}",
        f"  subject: {subject}",
    ]
    lines += [f"  {k}: {v}" for k, v in props.items()]
    return "\n".join(lines) + "\n"


def test_malformed_yaml(project: Path) -> None:
    path = article_file(project, "facts.yaml")
    line = append(path, "- id: broken\n  quote: [unclosed\n  subject: x\n")
    message = expect_failure(project, "malformed YAML", f"facts.yaml:{line + 2}")
    assert str(path) in message


def test_fact_citing_a_missing_sentence(project: Path) -> None:
    line = append(
        article_file(project, "facts.yaml"),
        fact(first_entity(project), sentence="p99s9", label_note="x"),
    )
    expect_failure(project, "sentence 'p99s9' does not exist", f"facts.yaml:{line + 1}")


def test_quote_not_in_its_sentence(project: Path) -> None:
    line = append(
        article_file(project, "facts.yaml"),
        fact(first_entity(project), quote="words the sentence never says", qualifier="x"),
    )
    expect_failure(project, "does not occur in sentence p1s1", f"facts.yaml:{line + 2}")


def test_unknown_entity(project: Path) -> None:
    line = append(
        article_file(project, "facts.yaml"),
        fact("no-such-entity", **{"schema:about": first_entity(project)}),
    )
    expect_failure(project, "unknown entity 'no-such-entity'", f"facts.yaml:{line + 3}")


def test_unknown_property(project: Path) -> None:
    line = append(
        article_file(project, "facts.yaml"), fact(first_entity(project), noSuchProperty="x")
    )
    expect_failure(project, "unknown property 'noSuchProperty'", f"facts.yaml:{line + 4}")


def test_unknown_class(project: Path) -> None:
    line = append(
        article_file(project, "entities.yaml"),
        "- id: test-thing\n  type: NoSuchClass\n  label: Thing\n  sentence: p1s1\n"
        "  quote: Ecuador\n",
    )
    expect_failure(project, "unknown class 'NoSuchClass'", f"entities.yaml:{line + 1}")


def test_duplicate_fact_id(project: Path) -> None:
    path = article_file(project, "facts.yaml")
    first = yaml.safe_load(path.read_text("utf-8"))[0]
    line = append(path, fact(first["subject"], fact_id=first["id"], type="Thing"))
    expect_failure(project, f"duplicate fact id '{first['id']}'", f"facts.yaml:{line}")


def test_duplicate_entity_id(project: Path) -> None:
    path = article_file(project, "entities.yaml")
    ident = first_entity(project)
    line = append(
        path, f"- id: {ident}\n  type: Thing\n  label: Again\n  sentence: p1s1\n  quote: Ecuador\n"
    )
    expect_failure(project, f"duplicate entity id '{ident}'", f"entities.yaml:{line}")


def test_sentence_with_no_fact_and_no_reason(project: Path) -> None:
    path = article_file(project, "nonfactual.yaml")
    kept = [ln for ln in path.read_text("utf-8").splitlines() if not ln.startswith("h1:")]
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    expect_failure(project, "sentence h1 states no fact", "facts.yaml")


def test_a_good_build_after_a_bad_one_replaces_the_previous(project: Path) -> None:
    path = article_file(project, "facts.yaml")
    good = path.read_text("utf-8")
    append(path, "- id: [broken\n")
    assert run_build(project)[0] == 1
    path.write_text(good, encoding="utf-8")
    code, message = run_build(project)
    assert code == 0, message
    assert (project / "build" / "current" / "manifest.json").exists()


def _drop_fact(path: Path, fact_id: str) -> None:
    """Remove the fact with this id from a facts file (its lines up to the next entry)."""
    out, skipping = [], False
    for line in path.read_text("utf-8").splitlines(keepends=True):
        if line.startswith("- id: "):
            skipping = line.strip() == f"- id: {fact_id}"
        elif line.startswith("#"):
            skipping = False
        if not skipping:
            out.append(line)
    path.write_text("".join(out), encoding="utf-8")


def test_shacl_error_names_node_shape_and_fix(project: Path) -> None:
    path = article_file(project, "facts.yaml")
    facts = yaml.safe_load(path.read_text("utf-8"))
    visitor_facts = [f["id"] for f in facts if "visitor" in f]
    assert visitor_facts
    for fact_id in visitor_facts:
        _drop_fact(path, fact_id)
    message = expect_failure(project, "SHACL", "/id/dodd-richardson-visit")
    assert "kgo:visitor" in message and "add `visitor:" in message


def test_inconsistent_data_stops_the_build(project: Path) -> None:
    # a person cannot also be an organisation (the ontology declares them disjoint)
    path = article_file(project, "facts.yaml")
    line = append(
        path,
        fact("daniel-noboa", quote="President Daniel Noboa", sentence="p2s3", type="Organization"),
    )
    message = expect_failure(project, "inconsistent", "daniel-noboa")
    assert "disjoint" in message
    assert line > 0


def test_reserved_entity_id(project: Path) -> None:
    line = append(
        article_file(project, "entities.yaml"),
        "- id: this-article\n  type: Person\n  label: X\n  sentence: p1s1\n  quote: Ecuador\n",
    )
    expect_failure(project, "'this-article' is reserved", f"entities.yaml:{line}")
