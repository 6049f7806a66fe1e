"""The article split into title, headings, paragraphs and sentences with true offsets."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from kgpub.mappings.errors import DataError
from kgpub.mappings.text import segment

ARTICLE = Path(__file__).resolve().parent.parent / "data/articles/ecuador-security-crisis"


@pytest.fixture(scope="module")
def article():
    return segment("ecuador-security-crisis", (ARTICLE / "article.txt").read_text("utf-8"))


def test_every_offset_slices_to_its_segment(article) -> None:
    for seg in article.segments.values():
        assert article.text[seg.begin : seg.end] == seg.text, seg.id


def test_the_article_has_the_expected_structure(article) -> None:
    kinds = [s.kind for s in article.segments.values()]
    assert kinds.count("sentence") == 25
    assert kinds.count("paragraph") == 10
    assert kinds.count("heading") == 3
    assert [s.id for s in article.sections] == ["sec0", "sec1", "sec2", "sec3"]
    assert article.segments["h2"].text == "Collaborative Intervention"
    assert article.sections[2].paragraphs == ["p5", "p6", "p7"]


def test_the_repeated_headline_is_kept_and_marked_not_a_sentence(article) -> None:
    title, repeat = article.segments["title"], article.segments["title-repeat"]
    assert title.text == repeat.text == "Ecuador's Security Crisis: A Call for Global Cooperation"
    assert (title.begin, repeat.kind) == (0, "title-repeat")
    assert repeat.begin > title.end
    assert all(s.text != title.text for s in article.sentences)


def test_abbreviations_do_not_end_sentences(article) -> None:
    sentence = article.segments["p3s1"].text
    assert sentence.startswith(
        "The recent visit of special adviser Christopher Dodd and Gen. Laura"
    )
    assert sentence.endswith("underscores the gravity of the situation.")


def test_sentences_are_whole_and_in_order(article) -> None:
    sentences = article.sentences
    assert [s.id for s in sentences[:4]] == ["p1s1", "p1s2", "p1s3", "p2s1"]
    for before, after in pairwise(sentences):
        assert before.end <= after.begin
        assert before.text[-1] in ".!?'\""


def test_other_texts_split_the_same_way() -> None:
    text = (
        "A Title\n\nLead sentence one. Dr. Smith met U.S. officials in St. Louis! Was it late?\n\n"
        "A Heading\n\n“Quoted end.” Next one.\n"
    )
    art = segment("x", text)
    assert [s.text for s in art.sentences] == [
        "Lead sentence one.",
        "Dr. Smith met U.S. officials in St. Louis!",
        "Was it late?",
        "“Quoted end.”",
        "Next one.",
    ]
    assert art.segments["h1"].text == "A Heading"
    assert "title-repeat" not in art.segments


def test_extra_abbreviations_come_from_the_article() -> None:
    text = "T\n\nThe colonel spoke. Ven. Ajahn came.\n"
    assert len(segment("x", text).sentences) == 3
    assert len(segment("x", text, ("Ven.",)).sentences) == 2


def test_a_title_that_differs_from_the_metadata_is_an_error() -> None:
    with pytest.raises(DataError) as err:
        segment("x", "Real Title\n\nBody.\n", title="Other Title", path=Path("a/article.txt"))
    assert "a/article.txt:1" in str(err.value) and "fix:" in str(err.value)
