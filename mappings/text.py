"""Split an article into its title, headings, sections, paragraphs and sentences.

Offsets are code-point offsets into the text exactly as stored, so ``text[begin:end]`` is always the
segment: nothing is normalised before splitting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError

# Words ending in "." that do not end a sentence.
ABBREVIATIONS = frozenset(
    """Adm. Amb. Apr. Aug. Brig. Capt. Cmdr. Col. Co. Corp. Dec. Dept. Dr. Feb. Fig. Gen. Gov.
    Inc. Jan. Jr. Jul. Jun. Lt. Ltd. Maj. Mar. Messrs. Mr. Mrs. Ms. No. Nov. Oct. Prof. Rep. Rev.
    Sen. Sep. Sept. Sgt. Sr. St. Supt. U.K. U.N. U.S. U.S.A. Vol. e.g. etc. i.e. vs.""".split()
)

BLOCK_SEPARATOR = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends at . ! or ? (maybe followed by closing quotes or brackets) before white space.
SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s)")
HEADING_END = (".", "!", "?", ":", ";", ",")


@dataclass(frozen=True)
class Segment:
    """A span of the article: title, heading, paragraph or sentence."""

    id: str
    kind: str  # title | title-repeat | heading | paragraph | sentence
    begin: int
    end: int
    text: str
    section: str  # id of the section it belongs to
    parent: str | None = None  # paragraph of a sentence


@dataclass
class Section:
    id: str
    heading: str | None  # id of the heading segment, None for the lead
    paragraphs: list[str] = field(default_factory=list)


@dataclass
class Article:
    slug: str
    text: str
    segments: dict[str, Segment]  # in reading order
    sections: list[Section]

    @property
    def sentences(self) -> list[Segment]:
        return [s for s in self.segments.values() if s.kind == "sentence"]

    @property
    def title(self) -> Segment:
        return self.segments["title"]

    def sentence(self, sentence_id: str) -> Segment | None:
        seg = self.segments.get(sentence_id)
        return seg if seg is not None and seg.kind == "sentence" else None

    def quotable(self, segment_id: str) -> Segment | None:
        """A segment a fact may cite: a sentence, or the title (headlines state facts too)."""
        seg = self.segments.get(segment_id)
        return seg if seg is not None and seg.kind in {"sentence", "title", "heading"} else None


def blocks(text: str) -> Iterator[tuple[int, int]]:
    """(begin, end) of each blank-line separated block, trimmed of surrounding white space."""
    pos = 0
    for match in [*BLOCK_SEPARATOR.finditer(text), None]:
        stop = match.start() if match else len(text)
        chunk = text[pos:stop]
        stripped = chunk.strip()
        if stripped:
            begin = pos + (len(chunk) - len(chunk.lstrip()))
            yield begin, begin + len(stripped)
        if match:
            pos = match.end()


def split_sentences(
    text: str, begin: int, end: int, abbreviations: frozenset[str]
) -> Iterator[tuple[int, int]]:
    """(begin, end) of each sentence in text[begin:end]."""
    start = begin
    for match in SENTENCE_END.finditer(text, begin, end):
        stop = match.end()
        last_word = text[start:stop].split()[-1].rstrip("\"'”’)]")
        if last_word in abbreviations or re.fullmatch(r"[A-Z]\.", last_word):
            continue
        yield start, stop
        start = stop
        while start < end and text[start].isspace():
            start += 1
    if start < end and text[start:end].strip():
        yield start, end


def is_heading(block: str) -> bool:
    return "\n" not in block and not block.endswith(HEADING_END) and len(block.split()) <= 15


def segment(
    slug: str,
    text: str,
    extra_abbreviations: tuple[str, ...] = (),
    path: Path | None = None,
    title: str | None = None,
) -> Article:
    """Split ``text`` into segments with stable ids (see data/README.md)."""
    abbreviations = ABBREVIATIONS | frozenset(extra_abbreviations)
    spans = list(blocks(text))
    if not spans:
        raise DataError("the article text is empty", path=path, fix="put the article's text in it")
    segments: dict[str, Segment] = {}
    sections = [Section("sec0", None)]

    def add(seg: Segment) -> None:
        segments[seg.id] = seg

    t_begin, t_end = spans[0]
    title_text = text[t_begin:t_end]
    if title is not None and title.strip() != title_text:
        raise DataError(
            f"the first block of the text is {title_text!r} but article.yaml says the title is "
            f"{title!r}",
            path=path,
            line=1,
            fix="make article.yaml's title equal the first line of article.txt",
        )
    add(Segment("title", "title", t_begin, t_end, title_text, "sec0"))
    paragraph_no = 0
    for begin, end in spans[1:]:
        block = text[begin:end]
        if block == title_text and paragraph_no == 0 and "title-repeat" not in segments:
            # The source carries the headline twice (page title, then headline): keep it, mark it.
            add(Segment("title-repeat", "title-repeat", begin, end, block, "sec0"))
        elif is_heading(block):
            number = len(sections)
            heading = Segment(f"h{number}", "heading", begin, end, block, f"sec{number}")
            add(heading)
            sections.append(Section(f"sec{number}", heading.id))
        else:
            paragraph_no += 1
            pid = f"p{paragraph_no}"
            section = sections[-1]
            add(Segment(pid, "paragraph", begin, end, block, section.id))
            section.paragraphs.append(pid)
            for n, (s_begin, s_end) in enumerate(
                split_sentences(text, begin, end, abbreviations), 1
            ):
                add(
                    Segment(
                        f"{pid}s{n}",
                        "sentence",
                        s_begin,
                        s_end,
                        text[s_begin:s_end],
                        section.id,
                        pid,
                    )
                )
    if not sections[0].paragraphs:
        sections.pop(0)  # no lead before the first heading
    return Article(slug, text, segments, sections)
