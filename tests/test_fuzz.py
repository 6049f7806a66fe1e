"""Property-based tests of the pure parts: content negotiation, the path <-> IRI mapping, and the
facts loader on arbitrary YAML."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kgpub.mappings.errors import BuildError
from kgpub.mappings.facts import load_article
from kgpub.mappings.iris import Minter
from kgpub.server.formats import FORMATS, GRAPH_FORMATS, OFFERED, RESULT_FORMATS, negotiate
from kgpub.server.resources import OFFERS

FAST = settings(max_examples=200, deadline=None)
MEDIA_TYPES = sorted({m for fmt in FORMATS.values() for m in fmt.media_types})
OFFER_SETS = [RESULT_FORMATS, GRAPH_FORMATS, OFFERS, *OFFERED.values()]

media_range = st.one_of(
    st.sampled_from([*MEDIA_TYPES, "*/*", "text/*", "application/*", "image/png"]),
    st.text(max_size=20),
)
weight = st.one_of(
    st.none(),
    st.floats(min_value=0, max_value=1).map(lambda q: f"{q:.3f}"),
    st.text(max_size=6),
)


@st.composite
def accept_headers(draw: st.DrawFn) -> str:
    items = []
    for _ in range(draw(st.integers(0, 6))):
        item = draw(media_range)
        q = draw(weight)
        items.append(item if q is None else f"{item};q={q}")
    return ", ".join(items)


@FAST
@given(st.one_of(st.text(), accept_headers()), st.sampled_from(OFFER_SETS))
def test_negotiate_never_raises_and_picks_an_offer(accept: str, offered: tuple) -> None:
    chosen = negotiate(accept, offered)
    assert chosen is None or chosen in offered


@FAST
@given(st.sampled_from(OFFER_SETS), st.data())
def test_q_zero_is_never_chosen(offered: tuple, data: st.DataObject) -> None:
    refused = data.draw(st.sampled_from(offered))
    header = ", ".join(f"{m};q=0" for m in refused.media_types) + ", */*;q=0.5"
    chosen = negotiate(header, offered)
    # another offered format sharing a refused media type (application/json) is refused too
    assert chosen is None or not set(chosen.media_types) & set(refused.media_types)


@FAST
@given(st.sampled_from(OFFER_SETS), st.data(), st.floats(min_value=0.001, max_value=1))
def test_an_exact_type_beats_a_wildcard_of_equal_weight(
    offered: tuple, data: st.DataObject, q: float
) -> None:
    wanted = data.draw(st.sampled_from(offered))
    header = f"*/*;q={q:.3f}, {wanted.media_type};q={q:.3f}"
    assert negotiate(header, offered) is wanted or (
        negotiate(header, offered).media_type in wanted.media_types  # type: ignore[union-attr]
    )


@FAST
@given(st.sampled_from(OFFER_SETS), st.data())
def test_a_single_exact_type_is_chosen(offered: tuple, data: st.DataObject) -> None:
    wanted = data.draw(st.sampled_from(offered))
    chosen = negotiate(wanted.media_type, offered)
    assert chosen is not None and wanted.media_type in chosen.media_types


@FAST
@given(st.sampled_from(OFFER_SETS), st.sampled_from(["", "   ", None]))
def test_no_preference_gets_the_first_offer(offered: tuple, accept: str | None) -> None:
    assert negotiate(accept, offered) is offered[0]


# --- IRIs and paths ------------------------------------------------------------------------------

bases = st.sampled_from(
    ["https://w3id.org/kgpub/", "http://127.0.0.1:8080/", "https://example.org/data/kg/"]
)
segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/?#"), min_size=1, max_size=12
)
paths = st.lists(segment, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


@FAST
@given(bases, paths)
def test_path_and_iri_round_trip(base: str, path: str) -> None:
    minter = Minter(base)
    iri = str(minter.iri_of(path))
    assert iri.startswith(base), "a path never leaves the base"
    assert minter.path_of(iri) == path


@FAST
@given(bases, st.lists(segment, max_size=3), st.sampled_from(["..", "."]))
def test_traversal_segments_stay_under_the_base(base: str, parts: list[str], dots: str) -> None:
    """The minter keeps even '..' under the base; the server refuses such paths before (see
    tests/e2e: raw bad paths are 4xx)."""
    minter = Minter(base)
    iri = str(minter.iri_of("/" + "/".join([*parts, dots, "etc", "passwd"])))
    assert iri.startswith(base)


@FAST
@given(bases, st.text(max_size=40))
def test_foreign_iris_have_no_local_path(base: str, tail: str) -> None:
    minter = Minter(base)
    foreign = "http://elsewhere.example/" + tail
    assert minter.path_of(foreign) is None


# --- the facts loader on arbitrary YAML ----------------------------------------------------------

ARTICLE_TEXT = "Title of the article\n\nEcuador declared a state of emergency. Noboa spoke.\n"
ARTICLE_YAML = "title: Title of the article\nlanguage: en\n"
yaml_scalars = st.one_of(
    st.text(max_size=20), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False)
)
yaml_keys = st.sampled_from(
    ["id", "type", "label", "sentence", "quote", "subject", "note", "sameAs", "altLabels", "x"]
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(yaml_keys, inner, max_size=4)
    ),
    max_leaves=8,
)


def dump(value: object) -> str:
    import yaml

    return yaml.safe_dump(value, allow_unicode=True)


yaml_texts = st.one_of(
    st.text(max_size=200),
    st.lists(st.dictionaries(yaml_keys, yaml_values, max_size=6), max_size=4).map(dump),
    st.lists(yaml_values, max_size=3).map(dump),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["entities.yaml", "facts.yaml", "nonfactual.yaml"]), yaml_texts)
def test_any_yaml_loads_or_fails_with_file_and_line(name: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "demo-article"
        folder.mkdir()
        (folder / "article.txt").write_text(ARTICLE_TEXT, encoding="utf-8")
        (folder / "article.yaml").write_text(ARTICLE_YAML, encoding="utf-8")
        for other in ("entities.yaml", "facts.yaml"):  # the loader expects both files
            (folder / other).write_text("", encoding="utf-8")
        (folder / name).write_text(text, encoding="utf-8")
        try:
            load_article(folder, {})
        except BuildError as error:
            assert error.path is not None and error.path.name == name, error.format()
            assert error.line is not None and error.line >= 1, error.format()
            assert error.format().startswith(f"{error.path}:{error.line}: ")
