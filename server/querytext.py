"""What the endpoint must know about a query's text before it runs.

Oxigraph does not expose its parsed algebra to Python, so these facts come from a lexical scan:
does the query use ``SERVICE`` (refused: no outbound requests), does it name its own dataset with
``FROM``/``FROM NAMED`` (then the union default graph must not override it), is it an update
(refused: read-only), how deep does it nest and how long are its chains (refused past a limit,
before Oxigraph's recursive parser overflows its stack), and does it call a function whose value
changes between runs (``NOW()``, ``RAND()``...: such a query is never taken for light on the
strength of an earlier run, ``inline``).

The scan reads the text as Oxigraph's parser does, and where a reading could differ it also takes
the other one, keeping the refusals of every reading and the deepest nesting:

- strings, IRIs, comments, language tags, variables, blank node labels and the local part of
  prefixed names are blanked (to spaces: offsets hold), so a keyword inside them never counts;
- keywords need no space around them (``1SERVICE<...>`` and ``ASKFROM<...>`` parse), so
  ``service`` and ``from`` count wherever they are left, glued to other words or not; a prefix
  holding ``service`` counts when a group follows its name (``SERVICE:x {}`` parses as the
  keyword and the name ``:x``), and one holding ``from`` outside the patterns counts unless it
  calls a function;
- Oxigraph decodes codepoint escapes (``\\u0022``) inside strings and IRIs only, the SPARQL grammar
  everywhere first: the text is read both ways;
- inside parentheses, ``<`` after an operand may be a comparison (``FILTER(1<2)``), not the start
  of an IRI: the text is also read that way.

The price of never missing one: a query whose prefix holds ``service`` before a group is refused,
and one that calls no function through a prefix holding ``from`` outside its patterns loses the
union default graph.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

_CODEPOINT = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_NAME = r"[\w\u00B7\u00C0-\uFFFF]"
_IRI_PATTERN = r'<[^<>"{}|^`\\\x00-\x20]*>'
# the prefix of a prefixed name, with its colon ("" for the empty prefix)
_PREFIX = rf"(?:[A-Za-z\u00C0-\uFFFF](?:{_NAME}|[.\-])*)?:"
# the tokens a reading blanks, in one alternation so that whichever starts first wins: a '#'
# inside a string is not a comment, a quote inside a comment opens no string
_TOKEN = re.compile(
    r'(?P<string>"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n\r]|\\.)*"'
    r"|'(?:[^'\\\n\r]|\\.)*')"
    rf"|(?P<iri>{_IRI_PATTERN})"
    r"|(?P<comment>#[^\n\r]*)"
    r"|(?P<lang>@[A-Za-z][A-Za-z0-9\-]*)"
    rf"|(?P<var>[?$]{_NAME}+)"
    rf"|(?P<blank>_:(?:{_NAME}|[.\-])*)"
    # a prefixed name keeps its prefix; its local part (escapes and all: ex:a\#b) is blanked up
    # to its first '.', where Oxigraph may end it (ex:a.SERVICE is ex:a . SERVICE)
    rf"|(?P<pname>{_PREFIX})(?:{_NAME}|[\-:%]|\\.)*"
    # an escape outside a name is no comment or string either
    r"|(?P<escape>\\.)",
    re.DOTALL,
)
_PAREN_OR_ANGLE = re.compile(r"[()<]")
_NO_OPERAND_END = frozenset("(,=!&|+*/<")
_IRI = re.compile(_IRI_PATTERN)
_SERVICE = re.compile(r"service", re.IGNORECASE)
_ENDPOINT = rf"\s*(?:<|[?$]|{_PREFIX})"
_SERVICE_BEFORE_ENDPOINT = re.compile(rf"service\s*(?:silent)?{_ENDPOINT}", re.IGNORECASE)
_FROM_BEFORE_GRAPH = re.compile(rf"from\s*(?:named)?{_ENDPOINT}", re.IGNORECASE)
_GRAPH_BEFORE = re.compile(r"graph\s*$", re.IGNORECASE)
_FROM_OR_BRACE = re.compile(r"from|[{}]", re.IGNORECASE)
_DECLARATION = re.compile(r"prefix\s*$", re.IGNORECASE)
# after a prefix (its local part blanked): a group, or a function's arguments
_GROUP_AFTER_PREFIX = re.compile(rf":(?:\s|{_NAME}|[.\-:%])*\{{")
_CALL_AFTER_PREFIX = re.compile(r":\s*\(")
# the version declaration's string is blanked inside its quotes, like any other
_PROLOGUE = re.compile(
    r"\s*(?:(?:base\s*<\s*>|prefix\s*[\w.\-]*:\s*<\s*>|version\s*(?:\"\s*\"|'\s*'))\s*)*",
    re.IGNORECASE,
)
# the functions whose value changes from one run to the next, and with it a query's work
_VARYING = re.compile(r"now|rand|uuid", re.IGNORECASE)
_UPDATE = re.compile(r"insert|delete|load|clear|drop|create|add|move|copy|with", re.IGNORECASE)
_WORD = frozenset("_.-")


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
                f"the query has {self.operators} operators, groups and listed terms; this endpoint "
                f"takes at most {MAX_OPERATORS}: split it into smaller queries"
            )
        return None


MAX_NESTING = 128
# an `oxigraph serve` behind the endpoint (a remote store) overflowed its stack on a chain of
# 1,800 operators, and the web workers' own threads at 2,000: the limit leaves room below both
MAX_OPERATORS = 1000


# what makes the parse or the evaluation one level deeper: openers, operators, pattern keywords,
# and the separators of triples and of object and predicate lists (a '.' between digits is a
# decimal point)
_OPERATOR = re.compile(
    r"[{(\[!^|/+*\-,;~]|&&|(?<!\d)\.|\.(?!\d)"
    r"|(?<![\w?$:])(?:union|optional|minus|filter|bind|exists|graph)(?![\w:\-])",
    re.IGNORECASE,
)
_OPENERS, _CLOSERS = frozenset(("{", "(", "[", "<<")), frozenset(("}", ")", "]", ">>"))
_BRACKET = re.compile(r"<<|>>|[{}()\[\]]")
# a term, as a plain reading leaves it: an IRI's brackets, a variable's sigil, a string's quotes,
# a blank node's '_:', a number, a prefix, a boolean or 'a'
_TERM = (
    r"<\s*>|[?$]|\"\s*\"|'\s*'|(?<![\w.])\d+(?:\.\d+)?(?:e[+\-]?\d+)?"
    rf"|_:|{_PREFIX}|(?<![\w:])(?:true|false|a)(?![\w:])"
)
_OPERATOR_OR_BRACKET = re.compile(
    rf"(?<![\w?$:])values(?![\w:\-])|<<|>>|(?P<term>{_TERM})|[}})\]]|{_OPERATOR.pattern}",
    re.IGNORECASE,
)
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
    texts = list(dict.fromkeys((query, _CODEPOINT.sub(_codepoint, query))))
    plain = [_TOKEN.sub(_blanked, text) for text in texts]
    compared = [
        _compared(text)
        for text, bare in zip(texts, plain, strict=True)
        if _maybe_comparison(text, bare)
    ]
    readings = plain + compared
    return QueryText(
        # what a comparison reading exposes was an IRI in the plain one: a keyword there counts
        # only where it reads as one, before an endpoint or a graph
        uses_service=any(_uses_service(bare) for bare in plain)
        or any(_SERVICE_BEFORE_ENDPOINT.search(bare) for bare in compared),
        names_dataset=any(_names_dataset(bare) for bare in plain)
        or any(_names_dataset(bare, _FROM_BEFORE_GRAPH) for bare in compared),
        looks_like_update=any(_looks_like_update(bare) for bare in plain),
        limit=_outer_limit(plain[0]),  # Oxigraph's reading
        nesting=max(_nesting(bare) for bare in readings),
        operators=max(_operators(bare) for bare in readings),
        varies=any(_VARYING.search(bare) for bare in readings),
        relative_iri=any(_has_relative_iri(text) for text in texts),
    )


def _maybe_comparison(text: str, bare: str) -> bool:
    """Whether an IRI of the plain reading ``bare`` of ``text`` could be a comparison (the offsets
    of the two are the same)."""
    return any(
        depth > 0 and _IRI.match(text, match.start()) and _after_operand(bare, match.start())
        for match, depth in _with_depth(_PAREN_OR_ANGLE, bare, "()")
    )


def _after_operand(bare: str, start: int) -> bool:
    """Whether what comes before ``bare[start]`` (spaces and comments aside) may end an operand,
    so that a ``<`` there may compare: anything but an opening parenthesis, a comma or an
    operator that cannot end one (an IRI's '>', a name's ':' or '-', an escape, a number can)."""
    position = start - 1
    while position >= 0 and bare[position].isspace():
        position -= 1
    return position < 0 or bare[position] not in _NO_OPERAND_END


def _with_depth(
    pattern: re.Pattern[str], bare: str, pair: str
) -> Iterator[tuple[re.Match[str], int]]:
    """The matches of ``pattern`` in ``bare`` other than the brackets ``pair`` (which the pattern
    matches too), each with the depth of those brackets around it."""
    depth = 0
    for match in pattern.finditer(bare):
        token = match.group(0)
        if token == pair[0]:
            depth += 1
        elif token == pair[1]:
            depth -= 1
        else:
            yield match, depth


def _compared(text: str) -> str:
    """``text`` blanked as the plain reading is (``_blanked``), but inside parentheses a ``<``
    after what may end an operand is an operator, and what follows it query text."""
    parts: list[str] = []
    position = depth = 0
    last = ""  # the last character of the reading so far that is not a space
    while (match := _TOKEN.search(text, position)) is not None:
        start, end = match.span()
        between = text[position:start]
        depth += between.count("(") - between.count(")")
        last = between.rstrip()[-1:] or last
        if match.lastgroup == "iri" and depth > 0 and last not in _NO_OPERAND_END:
            parts.append(text[position : start + 1])
            position, last = start + 1, "<"
            continue
        piece = _blanked(match)
        parts += (between, piece)
        last = piece.rstrip()[-1:] or last
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _blanked(match: re.Match[str]) -> str:
    """A token as the readings leave it, to spaces but for what marks its kind: an IRI keeps its
    ``<`` and ``>``, a prefixed name its prefix, a variable its sigil, a string its quotes, a blank
    node its ``_:``; an escape becomes ``__``."""
    token, kind = match.group(0), match.lastgroup
    if kind == "iri":
        return "<" + " " * (len(token) - 2) + ">"
    if kind == "pname":
        prefix = match.group("pname")
        return prefix + " " * (len(token) - len(prefix))
    if kind == "escape":
        return "__"
    if kind == "var":  # its sigil stays: SERVICE ?endpoint
        return token[0] + " " * (len(token) - 1)
    if kind == "string":  # its quotes stay: a string is an operand ("a"<2)
        return token[0] + " " * (len(token) - 2) + token[-1]
    if kind == "blank":  # its '_:' stays: a term, in a collection as anywhere
        return "_:" + " " * (len(token) - 2)
    return " " * len(token)


def _uses_service(bare: str) -> bool:
    for match in _SERVICE.finditer(bare):
        end = _word_end(bare, match.end())
        if end < len(bare) and bare[end] == ":":  # in a prefix: the keyword if a group follows
            start = _word_start(bare, match.start())
            graph = _preceded_by(_GRAPH_BEFORE, bare, start)  # GRAPH service:g {}
            if _GROUP_AFTER_PREFIX.match(bare, end) and not graph:
                return True
            continue
        return True
    return False


def _names_dataset(bare: str, keyword: re.Pattern[str] | None = None) -> bool:
    """``from`` outside every brace, where the dataset clauses are, and not in a prefix being
    declared or calling a function (``from:f(?x)``); with ``keyword``, only where it matches."""
    for match, depth in _with_depth(_FROM_OR_BRACE, bare, "{}"):
        if keyword is not None and not keyword.match(bare, match.start()):
            continue
        if depth > 0:
            continue
        start, end = _word_start(bare, match.start()), _word_end(bare, match.end())
        if end < len(bare) and bare[end] == ":":
            declared = _preceded_by(_DECLARATION, bare, start)
            if declared or _CALL_AFTER_PREFIX.match(bare, end):
                continue
        return True
    return False


def _preceded_by(keyword: re.Pattern[str], bare: str, start: int) -> bool:
    """Whether ``keyword`` (a pattern such as ``prefix\\s*$``) ends right before
    ``bare[start]``."""
    return bool(keyword.search(bare, max(0, start - 32), start))


def _word_start(bare: str, start: int) -> int:
    while start > 0 and (bare[start - 1].isalnum() or bare[start - 1] in _WORD):
        start -= 1
    return start


def _word_end(bare: str, end: int) -> int:
    while end < len(bare) and (bare[end].isalnum() or bare[end] in _WORD):
        end += 1
    return end


def _looks_like_update(bare: str) -> bool:
    prologue = _PROLOGUE.match(bare)
    return bool(_UPDATE.match(bare, prologue.end() if prologue else 0))


# an IRI reference that starts with a scheme is absolute; any other is relative
_ABSOLUTE_IRI = re.compile(r"<[A-Za-z][A-Za-z0-9+.\-]*:")


def _has_relative_iri(text: str) -> bool:
    """Whether an IRI reference outside strings and comments is relative. A comparison that
    looks like one (``?a<?b>``) counts too: then a base is given that nothing uses."""
    for match in _TOKEN.finditer(text):
        if match.lastgroup == "iri" and not _ABSOLUTE_IRI.match(match.group(0)):
            return True
    return False


def _nesting(bare: str) -> int:
    """The deepest nesting of brackets, counting ``<<`` ``>>`` (a reified triple: Oxigraph
    parses those recursively too)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(bare):
        if match.group(0) in _CLOSERS:
            depth -= 1
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def _operators(bare: str) -> int:
    """The operators, groups, separators and listed terms of ``bare``, each of which Oxigraph's
    parse may nest one level deeper: the items of a collection ``(1 2 3)``, the terms outside
    every bracket (a DESCRIBE list). What is flat counts once however long (lists of 100,000
    run): a list with commas (a function's arguments, an IN list) and a row of a VALUES block;
    a ',' in an object list counts."""
    count = 0
    opened: list[str] = []
    # per '(' open: its terms, or -1 once an operator or a comma shows it is no collection
    terms: list[int] = []
    values = False  # a VALUES keyword was read, its block not yet opened
    for match in _OPERATOR_OR_BRACKET.finditer(bare):
        token = match.group(0)
        inside = opened[-1] if opened else ""
        if match.lastgroup == "term":
            if inside == "(":
                terms[-1] += 1 if terms[-1] >= 0 else 0
            elif not inside:
                count += 1
            continue
        if token in _CLOSERS:
            if opened and opened.pop() == "(":
                count += max(0, terms.pop())
            continue
        if token.lower() == "values":
            values = True  # each block one more join, its rows none
            count += 1
            continue
        if token == "{" and values:
            opened.append("VALUES")
            values = False
            continue
        if token in _OPENERS:
            row = inside == "VALUES" and token == "("
            opened.append(token)
            if token == "(":
                terms.append(-1 if row else 0)
            if row:
                continue
        elif inside == "(":
            terms[-1] = -1  # an operator or a comma: an expression or a flat list, no collection
            if token == ",":
                continue
        count += 1
    return count


def _outer_limit(bare: str) -> int | None:
    limit = None
    for match, depth in _with_depth(_BRACES_OR_LIMIT, bare, "{}"):
        if depth == 0:
            limit = int(match.group(1))
    return limit


def _codepoint(match: re.Match[str]) -> str:
    try:
        return chr(int(match.group(1) or match.group(2), 16))
    except (ValueError, OverflowError):
        return match.group(0)


_POSITION = re.compile(r"at (\d+):(\d+)")


def error_position(message: str) -> tuple[int, int] | None:
    """(line, column) from an Oxigraph syntax error such as ``error at 3:17: expected ...``."""
    match = _POSITION.search(message)
    return (int(match.group(1)), int(match.group(2))) if match else None


_CLOSER = {"{": "}", "(": ")", "[": "]"}
_OPENER = {closer: opener for opener, closer in _CLOSER.items()}


@dataclass(frozen=True)
class Unclosed:
    """A delimiter of a query left open (a quote, a bracket) or a bracket closing nothing."""

    char: str
    offset: int
    closed_wrongly_at: int | None = None  # where another bracket closes it: {(} has "(" at 1, 2

    @property
    def closer(self) -> str | None:
        """The bracket that closes ``char``; None for a quote or a closing bracket."""
        return _CLOSER.get(self.char)


def unclosed(query: str) -> Unclosed | None:
    """The first delimiter left open or closed with nothing open: what a parser can only report
    where it runs out of input. Strings, IRIs and comments are blanked (to spaces, so offsets
    hold) before the brackets are matched; a quote left after that opens a string that never
    ends."""
    bare = _TOKEN.sub(lambda match: " " * len(match.group(0)), query)
    quote = min((bare.find(q) for q in "\"'" if q in bare), default=-1)
    if quote >= 0:
        return Unclosed(bare[quote], quote)
    opened: list[int] = []
    for offset, char in enumerate(bare):
        if char in _CLOSER:
            opened.append(offset)
        elif char in _OPENER:
            if not opened:
                return Unclosed(char, offset)
            if bare[opened[-1]] != _OPENER[char]:
                return Unclosed(bare[opened[-1]], opened[-1], offset)
            opened.pop()
    return Unclosed(bare[opened[-1]], opened[-1]) if opened else None
