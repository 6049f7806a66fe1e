"""What the endpoint must know about a query's text before it runs.

Oxigraph does not expose its parsed algebra to Python, so three facts come from a lexical scan that
follows the SPARQL 1.1 grammar's terminals: does the query use ``SERVICE`` (refused: no outbound
requests), does it name its own dataset with ``FROM``/``FROM NAMED`` (then the union default graph
must not override it), and is it an update (refused: read-only). A fourth says whether it calls a
function whose value changes between runs (``NOW()``, ``RAND()``...): such a query is never taken
for light on the strength of an earlier run (``inline``). The scan first undoes codepoint
escapes (``\\u0053ERVICE``), as the SPARQL parser does, then blanks out comments, strings and IRIs,
so a keyword inside them never counts. When in doubt it errs toward refusing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_CODEPOINT = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
# one alternation so that whichever starts first wins: a '#' inside a string is not a comment and
# a quote inside a comment opens no string
_OPAQUE = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n\r]|\\.)*"'
    r"|'(?:[^'\\\n\r]|\\.)*'"
    r'|<[^<>"{}|^`\\\x00-\x20]*>'
    r"|#[^\n\r]*"
    # an escaped character of a prefixed name (ex:a\#b, ex:a\'b): no comment or string starts
    # there, and it is still part of that name
    r"|\\."
    # a language tag ("x"@from): never a keyword
    r"|@[A-Za-z][A-Za-z0-9\-]*",
    re.DOTALL,
)
# a keyword is a bare word: not a variable (?service), not part of a prefixed name (ex:service,
# service:x) or a blank node label (_:service). SERVICE may follow a '.' that ends a triple, so a
# local name such as ex:a.service is taken for the keyword: a refusal, never a missed SERVICE.
_SERVICE = re.compile(r"(?<![\w?$:])service(?![\w:\-])", re.IGNORECASE)
_FROM = re.compile(r"(?<![\w?$:.\-])from(?![\w:\-])", re.IGNORECASE)
# the version declaration's string is blanked like any other, so VERSION stands alone
_PROLOGUE = re.compile(
    r"\s*(?:(?:base\s*<>|prefix\s*[\w.\-]*:\s*<>|version(?![\w:\-]))\s*)*", re.IGNORECASE
)
# the functions whose value changes from one run to the next, and with it a query's work
_VARYING = re.compile(r"(?<![\w?$:])(?:now|rand|uuid|struuid)(?![\w:\-])", re.IGNORECASE)
_UPDATE = re.compile(
    r"(?:insert|delete|load|clear|drop|create|add|move|copy|with)(?![\w:\-])", re.IGNORECASE
)


@dataclass(frozen=True)
class QueryText:
    uses_service: bool
    names_dataset: bool
    looks_like_update: bool
    limit: int | None  # the outermost query's LIMIT, if any
    nesting: int = 0  # the deepest nesting of { ( [
    operators: int = 0  # groups, operators and pattern keywords, counted below
    # calls NOW(), RAND(), UUID() or STRUUID(): the same text may do other work on the next run
    varies: bool = False
    # writes an IRI without a scheme (<id/x>, <>), which resolves against a base IRI
    relative_iri: bool = False

    @property
    def too_complex(self) -> str | None:
        """Why the query is refused as too deep or too long a chain, or None.

        Oxigraph parses and evaluates queries recursively: a few thousand nested groups or chained
        operators exhaust a query process's stack and kill it. The limits sit far above any query
        a person writes and far below that point.
        """
        if self.nesting > MAX_NESTING:
            return (
                f"the query nests groups {self.nesting} levels deep; "
                f"this endpoint takes at most {MAX_NESTING}"
            )
        if self.operators > MAX_OPERATORS:
            return (
                f"the query has {self.operators} operators and groups; this endpoint takes at "
                f"most {MAX_OPERATORS}: split it into smaller queries"
            )
        return None


MAX_NESTING = 128
MAX_OPERATORS = 2000


# a prefixed name may hold '-', '.' and ':' (ex:a-b); it is blanked before operators are counted
_PREFIXED_NAME = re.compile(r"(?<![\w?$])[A-Za-z_][\w.\-]*:[\w.\-:%]*")
# what makes the parse or the evaluation one level deeper: openers, operators, pattern keywords
_OPERATOR = re.compile(
    r"[{(\[!^|/+*\-]|&&|(?<![\w?$:])(?:union|optional|minus|filter|bind|exists|graph)(?![\w:\-])",
    re.IGNORECASE,
)
_OPEN, _CLOSE = frozenset("{(["), frozenset("})]")
# LIMIT outside every brace is the outermost query's: subqueries always sit inside braces
_BRACES_OR_LIMIT = re.compile(r"[{}]|(?<![\w?$:])limit\s+(\d+)", re.IGNORECASE)


def scan(query: str) -> QueryText:
    """The facts above about one query string; short queries, the usual ones, are memoized.

    >>> scan('SELECT * { SERVICE <http://x/> { ?s ?p ?o } }').uses_service
    True
    >>> scan('SELECT ?service { ?service ?p "SERVICE" } # SERVICE').uses_service
    False
    >>> scan('SELECT * FROM <g> { ?s ?p ?o }').names_dataset
    True
    >>> scan('PREFIX ex: <http://x/> INSERT DATA { ex:a ex:b ex:c }').looks_like_update
    True
    >>> scan('SELECT * { { SELECT * { ?s ?p ?o } LIMIT 5 } } LIMIT 20').limit
    20
    >>> scan('SELECT * { <id/x> ?p "<not/an/iri>" }').relative_iri
    True
    """
    if len(query) <= MEMO_MAX_CHARS:
        return _scan_memo(query)
    return _scan(query)


# longer queries are scanned every time, so the memo's size stays small
MEMO_MAX_CHARS = 4096


@lru_cache(maxsize=1024)
def _scan_memo(query: str) -> QueryText:
    return _scan(query)


def _scan(query: str) -> QueryText:
    text = _CODEPOINT.sub(_codepoint, query)
    bare = _OPAQUE.sub(_blank, text)
    prologue = _PROLOGUE.match(bare)
    rest = bare[prologue.end() if prologue else 0 :]
    return QueryText(
        uses_service=bool(_SERVICE.search(bare)),
        names_dataset=bool(_FROM.search(bare)),
        looks_like_update=bool(_UPDATE.match(rest)),
        limit=_outer_limit(bare),
        nesting=_nesting(bare),
        operators=len(_OPERATOR.findall(_PREFIXED_NAME.sub(" ", bare))),
        varies=bool(_VARYING.search(bare)),
        relative_iri=_has_relative_iri(text),
    )


# an IRI reference that starts with a scheme is absolute; any other is relative
_ABSOLUTE_IRI = re.compile(r"<[A-Za-z][A-Za-z0-9+.\-]*:")


def _has_relative_iri(text: str) -> bool:
    """Whether an IRI reference outside strings and comments is relative. A comparison that
    looks like one (``?a<?b>``) counts too: then a base is given that nothing uses."""
    for match in _OPAQUE.finditer(text):
        token = match.group(0)
        if token.startswith("<") and not _ABSOLUTE_IRI.match(token):
            return True
    return False


def _nesting(bare: str) -> int:
    depth = deepest = 0
    for char in bare:
        if char in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSE:
            depth -= 1
    return deepest


def _outer_limit(bare: str) -> int | None:
    depth, limit = 0, None
    for match in _BRACES_OR_LIMIT.finditer(bare):
        token = match.group(0)
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
        elif depth == 0:
            limit = int(match.group(1))
    return limit


def _codepoint(match: re.Match[str]) -> str:
    try:
        return chr(int(match.group(1) or match.group(2), 16))
    except (ValueError, OverflowError):
        return match.group(0)


def _blank(match: re.Match[str]) -> str:
    """Keep the delimiters' kind so the prologue pattern still sees ``<>`` for an IRI."""
    token = match.group(0)
    if token.startswith("<"):
        return " <> "
    if token.startswith("\\"):
        return "__"  # a name character, so the prefixed name stays one word
    return " "


_POSITION = re.compile(r"at (\d+):(\d+)")


def error_position(message: str) -> tuple[int, int] | None:
    """(line, column) from an Oxigraph syntax error such as ``error at 3:17: expected ...``."""
    match = _POSITION.search(message)
    return (int(match.group(1)), int(match.group(2))) if match else None


_PAIRS = {"}": "{", ")": "(", "]": "["}


@dataclass(frozen=True)
class Unclosed:
    """A delimiter of a query left open (a quote, a bracket) or a bracket closing nothing."""

    char: str
    offset: int
    closed_wrongly_at: int | None = None  # where another bracket closes it: {(} has "(" at 1, 2


def unclosed(query: str) -> Unclosed | None:
    """The first delimiter left open or closed with nothing open: what a parser can only report
    where it runs out of input. Strings, IRIs and comments are blanked (to spaces, so offsets
    hold) before the brackets are matched; a quote left after that opens a string that never
    ends."""
    bare = _OPAQUE.sub(lambda match: " " * len(match.group(0)), query)
    quote = min((bare.find(q) for q in "\"'" if q in bare), default=-1)
    if quote >= 0:
        return Unclosed(bare[quote], quote)
    opened: list[int] = []
    for offset, char in enumerate(bare):
        if char in _OPEN:
            opened.append(offset)
        elif char in _CLOSE:
            if not opened:
                return Unclosed(char, offset)
            if bare[opened[-1]] != _PAIRS[char]:
                return Unclosed(bare[opened[-1]], opened[-1], offset)
            opened.pop()
    return Unclosed(bare[opened[-1]], opened[-1]) if opened else None
