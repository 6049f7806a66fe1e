"""Oxigraph's syntax errors, said so that the person who wrote the query can fix it.

Oxigraph reports what its parser expected at the failing position, in the parser's own terms:
character classes spelt as Unicode ranges, and the two most common mistakes (a prefix used without
its ``PREFIX`` declaration, an IRI with a space in it) as the bare words "Prefix not found" and
"IRI parsing failed" among a dozen alternatives. Queries copied from another endpoint (DBpedia,
Wikidata) rely on that endpoint's predeclared prefixes, so the first one is the error users meet
most: the hint names the prefix and, when it is one the query page preloads, the line to add.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .querytext import unclosed

UNDECLARED = "Prefix not found"
BAD_IRI = "IRI parsing failed"
# what ends a prefixed name when reading back from the error position
_PNAME_BEFORE = re.compile(r"""([^\s(){}\[\],;<>"'^|/!=*+&]*)$""")
_IRI_BEFORE = re.compile(r"<([^<>]*)>?\s*$")
# the parser's character classes, by their first range; "[_]" (any character) says nothing
_CLASSES = (
    (re.compile(r"\['A' \.\.= 'Z' \| 'a' \.\.= 'z'[^\]]*\]"), "a name"),
    (re.compile(r"\['-' \| '0' \.\.= '9'[^\]]*\]"), "a name character"),
    (re.compile(r"\['0'\s*\.\.=\s*'9'\]"), "a digit"),
    (re.compile(r"\['(.)'\]"), r'"\1"'),
    (re.compile(r",\s*\[_\]|\[_\],\s*"), ""),
)


def explain(detail: str, query: str, line: int, column: int, prefixes: Mapping[str, str]) -> str:
    """What to tell the user for Oxigraph's ``detail`` (its message after the position) about
    ``query``, failing at ``line`` and ``column`` (from 1), given the prefixes this endpoint
    knows."""
    offset = _offset(query, line, column)
    before = query[:offset].rsplit("\n", 1)[-1]
    hint = None
    if UNDECLARED in detail:
        hint = _undeclared_prefix(before, prefixes)
    elif BAD_IRI in detail:
        hint = _bad_iri(before)
    return hint or _unbalanced(query, offset) or _plain(detail)


def _offset(query: str, line: int, column: int) -> int:
    lines = query.splitlines(keepends=True)
    return sum(len(text) for text in lines[: line - 1]) + column - 1


def _undeclared_prefix(before: str, prefixes: Mapping[str, str]) -> str | None:
    match = _PNAME_BEFORE.search(before)
    name = match.group(1) if match else ""
    if ":" not in name:
        return None
    prefix = name.split(":", 1)[0]
    namespace = prefixes.get(prefix)
    if namespace:
        return (
            f"the prefix {prefix}: is not declared; add this line at the top of the query: "
            f"PREFIX {prefix}: <{namespace}>"
        )
    return (
        f"the prefix {prefix}: is not declared; add PREFIX {prefix}: <...> at the top of the "
        "query, with the namespace IRI it stands for"
    )


def _bad_iri(before: str) -> str | None:
    match = _IRI_BEFORE.search(before)
    if not match:
        return None
    return (
        f"<{match.group(1)}> is not a valid IRI: an IRI has no spaces and none of the characters "
        '<>"{}|^`\\ (write a space as %20)'
    )


def _unbalanced(query: str, offset: int) -> str | None:
    """A string or bracket left open, or a bracket closing nothing, when the parser failed where
    that shows: the parser itself can only say what it expected where the input ran out."""
    found = unclosed(query)
    if found is None:
        return None
    char, line = found.char, _line_of(query, found.offset)
    if char in "\"'":
        if offset < found.offset:
            return None
        return f"the string opened with {char} on line {line} is not closed"
    closer = found.closer
    if closer is None:
        return f'the "{char}" on line {line} closes nothing' if offset >= found.offset else None
    wrongly = found.closed_wrongly_at
    if wrongly is not None:
        if offset < wrongly:
            return None
        return (
            f'the "{char}" on line {line} is not closed by a "{closer}" before the '
            f'"{query[wrongly]}" on line {_line_of(query, wrongly)}'
        )
    if query[offset:].strip():
        return None  # the parser stopped before the end: its own message says more
    return f'the "{char}" on line {line} is not closed by a "{closer}"'


def _line_of(query: str, offset: int) -> int:
    return query.count("\n", 0, offset) + 1


def _plain(detail: str) -> str:
    """The parser's expectations, with its character classes named instead of spelt out."""
    text = " ".join(detail.split())  # the classes are wrapped over several lines
    for pattern, name in _CLASSES:
        text = pattern.sub(name, text)
    return text
