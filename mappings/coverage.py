"""Which facts each sentence of each article yields; a sentence with none must say why."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import DataError
from .facts import ArticleData

SEGMENT_KINDS = ("title", "title-repeat", "heading", "sentence")


@dataclass(frozen=True)
class Row:
    article: str
    segment: str
    kind: str
    text: str
    facts: tuple[str, ...]
    reason: str | None  # why it states no fact

    @property
    def status(self) -> str:
        if self.facts:
            return "covered"
        return "non-factual" if self.reason else "UNCOVERED"


def rows(data: ArticleData) -> list[Row]:
    by_segment: dict[str, list[str]] = {}
    for entity in data.entities:
        by_segment.setdefault(entity.citation.sentence, []).append(f"entity-{entity.id}")
    for fact in data.facts:
        by_segment.setdefault(fact.citation.sentence, []).append(fact.id)
    return [
        Row(
            data.slug,
            seg.id,
            seg.kind,
            seg.text,
            tuple(by_segment.get(seg.id, ())),
            data.nonfactual.get(seg.id),
        )
        for seg in data.article.segments.values()
        if seg.kind in SEGMENT_KINDS
    ]


def check(data: ArticleData) -> None:
    """Every sentence is covered or marked non-factual, and nothing is both."""
    for row in rows(data):
        if row.status == "UNCOVERED":
            raise DataError(
                f"sentence {row.segment} states no fact and is not marked non-factual: "
                f"{row.text!r}",
                path=data.folder / "facts.yaml",
                fix=f"add a fact citing 'sentence: {row.segment}' to facts.yaml, or add "
                f"'{row.segment}: <reason>' to nonfactual.yaml",
            )
        if row.facts and row.reason:
            raise DataError(
                f"{row.segment} is marked non-factual but facts cite it: {', '.join(row.facts)}",
                path=data.folder / "nonfactual.yaml",
                line=data.nonfactual_lines.get(row.segment),
                fix=f"remove '{row.segment}' from nonfactual.yaml",
            )


def markdown(all_rows: list[Row]) -> str:
    lines = ["# Coverage: every sentence and the facts derived from it", ""]
    total = len(all_rows)
    covered = sum(1 for r in all_rows if r.facts)
    nonfactual = sum(1 for r in all_rows if not r.facts and r.reason)
    lines.append(
        f"{total} segments: {covered} covered by facts, {nonfactual} non-factual, "
        f"{total - covered - nonfactual} uncovered."
    )
    article = None
    for row in all_rows:
        if row.article != article:
            article = row.article
            lines += [
                "",
                f"## {article}",
                "",
                "| segment | status | facts / reason | text |",
                "|---|---|---|---|",
            ]
        detail = ", ".join(f"`{f}`" for f in row.facts) if row.facts else (row.reason or "")
        text = row.text.replace("|", "\\|")
        lines.append(f"| {row.segment} | {row.status} | {detail} | {text} |")
    return "\n".join(lines) + "\n"


def as_json(all_rows: list[Row]) -> str:
    return (
        json.dumps(
            [
                {
                    "article": r.article,
                    "segment": r.segment,
                    "kind": r.kind,
                    "status": r.status,
                    "facts": list(r.facts),
                    "reason": r.reason,
                    "text": r.text,
                }
                for r in all_rows
            ],
            indent=1,
            ensure_ascii=False,
        )
        + "\n"
    )
