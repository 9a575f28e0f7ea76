"""Split a passage into reasoning units (prose sentences and code lines) and score each
for how much reasoning it carries.

Prose is split into sentences by spaCy (``spacy.blank`` + ``sentencizer``: rule-based,
ships with spaCy, no model download), then bad splits are merged back: after an
abbreviation ("e.g.", "Fig. 3", "Eq. (2)", "et al."), after a factorial or exclamation
mark followed by no capital ("5! = 120"), and before a piece that starts in lower case or
with an operator. Paragraphs (blank lines) and heading lines always end a sentence.

Lines that look like code are units on their own, because masking half a line of code
makes a task about syntax rather than reasoning. Whether a line is code is decided by its
form (:func:`looks_like_code`: keywords, operators, brackets, assignments, endings like
``:``/``;``/``{``, and a low share of plain words), not by its indentation alone, so prose
indented by two or more spaces (manuals, man pages, docstrings) stays prose.

Units that are page furniture carry a :attr:`Unit.junk` reason (a
:func:`goose.text.hygiene.junk_reason` value; ``"docstring"`` for lines of a triple-quoted
string in code, ``"boilerplate_section"`` for text under a "References"-like heading,
``"markup"`` for code fences and table rows, ``"definition"`` for a ``def``/``class`` line, which a code span
never crosses); no window of :func:`tile_windows` holds one.

>>> segmenter = Segmenter()
>>> [u.text(s) for s in ["We know x = 2. So 2x = 4."] for u in segmenter.units(s)]
['We know x = 2.', 'So 2x = 4.']
>>> [u.text(s) for s in ["Since 5! = 120, there is one zero. See Fig. 3 for more."] for u in segmenter.units(s)]
['Since 5! = 120, there is one zero.', 'See Fig. 3 for more.']
"""

from __future__ import annotations

import itertools
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from goose.text.hygiene import DOCTEST_PROMPT, is_boilerplate_heading, is_heading, junk_reason

if TYPE_CHECKING:
    from spacy.language import Language

UnitKind = Literal["sentence", "line"]
LineRole = Literal["blank", "code", "docstring", "doctest_output", "fence", "heading", "prose"]

_CONNECTIVE = re.compile(
    r"\b(?:therefore|thus|hence|so|because|since|consequently|as a result|it follows|which means|"
    r"implies|means that|this gives|we get|gives|yields|substitut\w*|solv\w*|multiply\w*|divid\w*|"
    r"subtract\w*|add\w*|simplif\w*|factor\w*|then|if|when|unless|otherwise|so that|in order to|"
    r"leads? to|causes?|prevents?|allows?|requires?|ensures?|instead|but|however)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?:%|\b)")
_EQUATION = re.compile(r"[=<>≤≥≠≈]|\s[+\-*/×÷^]\s|\d\s*[+\-*/×÷^]\s*\d")

# --- code or prose ---------------------------------------------------------------------------
_CODE_FENCE = re.compile(r"^\s*(?:```|~~~)")
_TABLE_ROW = re.compile(r"^\|.*\|$")
_TRIPLE_QUOTE = re.compile(r"[rRbBuUfF]{0,2}(\"\"\"|''')")
_UNDERLINE = re.compile(r"\s*([=\-~^\"'`#*+_.:])\1{2,}\s*")
# Starts that only code has: a keyword followed by code syntax, or a preprocessor line.
_CODE_START = re.compile(
    r"^\s*(?:(?:async\s+)?def\s+\w+\s*\(|class\s+\w+\s*[(:{]|import\s+[\w.]+(?:\s+as\s+\w+)?\s*;?$|"
    r"from\s+[\w.]+\s+import\s|return\b(?!\s+(?:to|the|a|an)\b)|elif\b|else\s*[:{]|try\s*[:{]|except\b.*:$|"
    r"finally\s*[:{]|raise\s+\w|yield\b|#include\b|#define\b|#if|function\s*\w*\s*\(|"
    r"(?:const|let|var)\s+\w+\s*=|(?:public|private|protected|static)\s+\w|(?:void|int|char|float|double|bool|"
    r"auto|unsigned|long)\s+\*?\w+\s*[(=;\[,]|struct\s+\w+\s*\{|@\w+(?:\(|$)|"
    r"(?:if|for|while|switch|with)\s*\(.*|(?:if|for|while|with)\s(?!example|instance|more|details|the |a |an |each )\S.*:$|"
    r"(?:SELECT|INSERT|UPDATE|DELETE|CREATE|DROP)\s+\S)"
)
_DEFINITION = re.compile(r"^\s*(?:@\w[\w.]*(?:\(.*)?$|(?:async\s+)?def\s+\w|class\s+\w)")
_ASSIGNMENT = re.compile(r"^\s*[\w.]+(?:\[[^\]]*\])?(?:\s*,\s*[\w.]+)*\s*(?:[+\-*/%&|^]|//|\*\*)?=\s*[^=]")
_CODE_SIGNALS = (
    re.compile(r"[;{}]\s*$"),  # ends like C/Java/JS
    re.compile(r"^\s*[}\])]"),  # closing bracket
    re.compile(r"[A-Za-z_]\w*(?:\.\w+)*\((?:[^()]|\([^()]*\))*\)"),  # a call f(x)
    re.compile(r"==|!=|<=|>=|&&|\|\||->|=>|\+=|-=|::|\*\*|<<|>>"),
    re.compile(r"^\s*(?:#|//|/\*)\s"),  # a comment line
    re.compile(r"\w\[[^\]]*\]"),  # indexing
    re.compile(r"\b[a-z]\w*_\w+\b|\b[a-z]+[A-Z]\w*\b"),  # snake_case / camelCase identifiers
)
_EXCEPTION_LINE = re.compile(r"^(?:Traceback \(most recent call last\)|[\w.]*(?:Error|Exception|Warning)\b:?)")
_PLAIN_WORD = re.compile(r"^[\"'(\[]?[A-Za-z][a-z]*(?:['’][a-z]+)?[\"')\],.;:!?]*$")
_SENTENCE_END = re.compile(r"[A-Za-z)\"'’”][.!?][\"')’”]?$")


def _plain_word_share(line: str) -> float:
    tokens = line.split()
    return sum(bool(_PLAIN_WORD.match(t)) for t in tokens) / max(len(tokens), 1)


def looks_like_code(line: str) -> bool:
    """Whether one line is code judged by its form, not its indentation: a doctest prompt,
    a code-only start (``def f(``, ``import x``, ``return``, ``#include``, ``if (...)``), an
    assignment, or code signals (``;``/``{``/``}`` endings, calls, comparison operators,
    indexing, snake_case) with a low share of plain words. A capitalised line that ends like
    a sentence and is mostly plain words is prose.

    >>> [looks_like_code(s) for s in ["    total = a + b", ">>> f(2)", "  return total", "x[i] += 1;"]]
    [True, True, True, True]
    >>> [looks_like_code(s) for s in ["    The server closes the connection when the peer", "  If no file is given, read stdin."]]
    [False, False]
    >>> [looks_like_code(s) for s in ["for example, the attacker sends a crafted header", "We know x = 2."]]
    [False, False]
    """
    body = line.strip()
    if not body:
        return False
    if DOCTEST_PROMPT.match(line):
        return True
    plain = _plain_word_share(body)
    if body[0].isupper() and _SENTENCE_END.search(body) and plain >= 0.5:
        return False
    if _CODE_START.match(body):
        return plain < 0.85 or len(body.split()) <= 5
    if _ASSIGNMENT.match(body):
        return plain < 0.75
    signals = sum(bool(pattern.search(body)) for pattern in _CODE_SIGNALS)
    return (signals >= 1 and plain < 0.5) or (signals >= 2 and plain < 0.7)


def is_definition_line(line: str) -> bool:
    """Whether a code line opens a function or class (``def``, ``class``, a decorator): a
    code span never holds one.

    >>> [is_definition_line(s) for s in ["def f(n):", "  @property", "class A(B):", "x = define(1)"]]
    [True, True, True, False]
    """
    return bool(_DEFINITION.match(line))


# --- sentence repair -------------------------------------------------------------------------
# Abbreviations after which spaCy's sentencizer splits although the sentence goes on.
_ABBREVIATION_END = re.compile(
    r"(?:^|[\s(\[])(?:e\.g|i\.e|cf|vs|al|fig|figs|eq|eqs|eqn|sec|secs|ch|chap|no|nos|vol|pp|p|approx|resp|"
    r"ref|refs|thm|lem|prop|cor|def|ex|viz|ca|dr|mr|mrs|ms|prof|st|jr|sr|inc|ltd|dept|art|para|ed|eds|"
    r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.$",
    re.IGNORECASE,
)
_ETC_END = re.compile(r"\betc\.$", re.IGNORECASE)
_FACTORIAL_END = re.compile(r"[\w)]!$")
_CONTINUATION_START = re.compile(r"^(?:[a-z]|[=+\-*/^<>≤≥≠≈×÷)\]},;:%])")


def _bad_split(previous: str, following: str) -> bool:
    """Whether spaCy split ``previous`` from ``following`` where the sentence goes on: after
    an abbreviation; after "etc." or "5!" unless a capital follows; before a lower-case or
    operator start."""
    if not following:
        return False
    if _ABBREVIATION_END.search(previous) or previous[-1] in "([{" or re.match(r"\d+[)\]]", following):
        return True  # "Fig. 3", "Eq. (2)" cut after the bracket
    if _ETC_END.search(previous) or _FACTORIAL_END.search(previous):
        return not following[0].isupper()
    return bool(_CONTINUATION_START.match(following))


@dataclass(frozen=True)
class Unit:
    """One reasoning unit: ``[start, end)`` character offsets, its kind and reasoning score,
    and ``junk``: why it may not be part of a gold or wrong option (a
    :func:`goose.text.hygiene.junk_reason` value, ``"docstring"``, ``"boilerplate_section"``,
    ``"markup"``, or ``"definition"`` for a ``def``/``class`` line), ``None`` for content."""

    start: int
    end: int
    kind: UnitKind
    score: float
    junk: str | None = None

    def text(self, passage: str) -> str:
        """The unit's text in ``passage``."""
        return passage[self.start : self.end]


UNIT_FIELDS: tuple[str, ...] = ("start", "end", "kind", "score", "junk")
"""The fields of a :class:`Unit` record (:func:`unit_records`), in order."""


def unit_records(units: Iterable[Unit]) -> list[dict[str, object]]:
    """``units`` as plain records, for a table column that hands one step's segmentation to a
    later step (see :func:`units_from_records`).

    >>> records = unit_records([Unit(0, 5, "sentence", 1.25, None)])
    >>> records, units_from_records(records) == [Unit(0, 5, "sentence", 1.25, None)]
    ([{'start': 0, 'end': 5, 'kind': 'sentence', 'score': 1.25, 'junk': None}], True)
    """
    return [{"start": u.start, "end": u.end, "kind": u.kind, "score": u.score, "junk": u.junk} for u in units]


def units_from_records(records: Iterable[dict]) -> list[Unit]:
    """The :class:`Unit` list of :func:`unit_records` records."""
    return [Unit(r["start"], r["end"], r["kind"], r["score"], r["junk"]) for r in records]


def reasoning_score(text: str, kind: UnitKind) -> float:
    """How much reasoning a unit carries: connectives, equations, numbers, code statements.

    >>> reasoning_score("Therefore x = 12 / 3 = 4.", "sentence") > reasoning_score("The sky was blue.", "sentence")
    True
    """
    connectives = min(len(_CONNECTIVE.findall(text)), 3)
    numbers = min(len(_NUMBER.findall(text)), 5)
    equation = 1.0 if _EQUATION.search(text) else 0.0
    score = 0.6 * connectives + 0.25 * numbers + equation
    if kind == "line":
        score += 0.8 if len(text.strip()) > 6 else 0.0
    elif len(text.split()) < 4:
        score -= 0.5
    return score


_ROLE_JUNK: dict[str, str] = {
    "docstring": "docstring", "doctest_output": "doctest_output", "fence": "markup", "heading": "heading",
}


MAX_LEXEMES = 50_000
"""Lexemes a :class:`Segmenter`'s spaCy vocabulary may hold before the pipeline is built
afresh (every new word of the corpus adds one; the sentencizer reads only the token text, so
a fresh vocabulary splits the same way)."""


PARAGRAPH_CACHE = 4096
"""Paragraphs whose sentence units a :class:`Segmenter` remembers (least recently used out first)."""


class Segmenter:
    """Splits passages into :class:`Unit` lists; holds one spaCy sentencizer pipeline, built
    on first use (so importing goose does not load spaCy) and again whenever its vocabulary
    passes ``max_lexemes``, so memory stays flat however many passages it sees.

    >>> [u.kind for u in Segmenter().units("Sum it:\\n    total = a + b\\n    return total")]
    ['sentence', 'line', 'line']
    >>> [(u.kind, u.junk) for u in Segmenter().units("## Usage\\nCall it twice. Then stop.\\n>>> f(2)\\n4")]
    [('sentence', 'heading'), ('sentence', None), ('sentence', None), ('line', None), ('line', 'doctest_output')]
    """

    def __init__(self, max_lexemes: int = MAX_LEXEMES) -> None:
        if max_lexemes < 1:
            raise ValueError(f"max_lexemes must be at least 1, got {max_lexemes}")
        self.max_lexemes = max_lexemes
        self._nlp: Language | None = None
        self._paragraphs: OrderedDict[tuple[str, bool], list[tuple[int, int, float, str | None]]] = OrderedDict()

    @property
    def lexemes(self) -> int:
        """Lexemes in the spaCy vocabulary now (0 before the first passage).

        >>> segmenter = Segmenter(max_lexemes=1000)
        >>> for k in range(300):
        ...     _ = segmenter.units(f"Word{k} and other{k} here. Then more{k} words.")
        >>> segmenter.lexemes <= 1000
        True
        """
        return 0 if self._nlp is None else len(self._nlp.vocab)

    def _pipeline(self) -> Language:
        """The sentencizer pipeline, built afresh when missing or when its vocabulary is full."""
        if self._nlp is None or len(self._nlp.vocab) > self.max_lexemes:
            import spacy  # here, not at module level: spaCy takes a second and 150 MB to import

            self._nlp = spacy.blank("en")
            self._nlp.add_pipe("sentencizer")
        return self._nlp

    def units(self, passage: str) -> list[Unit]:
        """Units of ``passage`` in order; white space between units belongs to no unit."""
        lines: list[tuple[int, str]] = []
        offset = 0
        for line in passage.splitlines(keepends=True):
            lines.append((offset, line.rstrip("\r\n")))
            offset += len(line)
        roles = line_roles([body for _, body in lines])
        units: list[Unit] = []
        prose_start: int | None = None
        in_boilerplate = False
        for (offset, body), role in zip(lines, roles):
            if role == "prose":
                if prose_start is None:
                    prose_start = offset
                continue
            if prose_start is not None:
                units.extend(self._paragraph(passage, prose_start, offset, in_boilerplate))
                prose_start = None
            if role == "blank" or not body.strip():
                continue
            if role == "heading" and not _UNDERLINE.fullmatch(body):
                in_boilerplate = is_boilerplate_heading(body)
            start = offset + len(body) - len(body.lstrip())
            end = offset + len(body.rstrip())
            junk = _ROLE_JUNK.get(role) or ("boilerplate_section" if in_boilerplate else None)
            if junk is None and role == "code" and is_definition_line(body):
                junk = "definition"  # a def/class line is context: no code span holds or crosses one
            kind: UnitKind = "sentence" if role == "heading" else "line"
            units.append(Unit(start, end, kind, reasoning_score(passage[start:end], kind), junk))
        if prose_start is not None:
            units.extend(self._paragraph(passage, prose_start, len(passage), in_boilerplate))
        return units

    def _paragraph(self, passage: str, start: int, end: int, in_boilerplate: bool) -> list[Unit]:
        """Sentence units of one paragraph; a junk paragraph makes every sentence junk.

        They depend on the paragraph's text alone, so they are remembered by text (the last
        :data:`PARAGRAPH_CACHE` paragraphs): a paragraph seen again, in another passage or in
        the outside text of the same document, is not split again."""
        # White space around a paragraph changes none of its sentences (a passage's paragraph
        # ends with its newline, the same paragraph in a document's outside text does not).
        block = passage[start:end].strip()
        start += len(passage[start:end]) - len(passage[start:end].lstrip())
        key = (block, in_boilerplate)
        found = self._paragraphs.get(key)
        if found is None:
            block_junk = "boilerplate_section" if in_boilerplate else junk_reason(block)
            found = []
            for s, e in self._sentences(block, 0, len(block)):
                text = block[s:e]
                junk = block_junk or (junk_reason(text) if text != block else None)  # one sentence: the block's verdict
                found.append((s, e, reasoning_score(text, "sentence"), junk))
            if len(self._paragraphs) >= PARAGRAPH_CACHE:
                self._paragraphs.popitem(last=False)
            self._paragraphs[key] = found
        else:
            self._paragraphs.move_to_end(key)
        return [Unit(start + s, start + e, "sentence", score, junk) for s, e, score, junk in found]

    def _sentences(self, passage: str, start: int, end: int) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for sentence in self._pipeline()(passage[start:end]).sents:
            text = sentence.text.strip()
            if not text:
                continue
            lead = len(sentence.text) - len(sentence.text.lstrip())
            s = start + sentence.start_char + lead
            if spans and _bad_split(passage[spans[-1][0] : spans[-1][1]], text):
                spans[-1] = (spans[-1][0], s + len(text))
            else:
                spans.append((s, s + len(text)))
        return spans


def line_roles(lines: list[str]) -> list[LineRole]:
    """The role of every line of a passage: ``code`` or ``prose`` by form
    (:func:`looks_like_code`), ``docstring`` (a triple-quoted string, all its lines),
    ``doctest_output`` (non-prompt lines right after a ``>>>`` prompt, up to a blank line),
    ``fence`` (a markdown code fence; the lines inside are code), ``heading`` (a heading-like
    line that starts a paragraph and is not continued in lower case on the next line, or an
    underline) and ``blank``.

    >>> line_roles(["Usage", "=====", "", "  Prints the file.", ">>> f(1)", "2", "def f(n):", "    " + 3 * '"' + "Doc." + 3 * '"'])
    ['heading', 'heading', 'blank', 'prose', 'code', 'doctest_output', 'code', 'docstring']
    """
    roles: list[LineRole] = []
    quote: str | None = None  # the open triple quote of a multi-line string
    in_fence = in_session = False
    for index, body in enumerate(lines):
        stripped = body.strip()
        if quote is not None:
            roles.append("docstring")
            if body.count(quote) % 2 == 1:
                quote = None
            continue
        if not stripped:
            roles.append("blank")
            in_session = False
            continue
        if _CODE_FENCE.match(body):
            roles.append("fence")
            in_fence = not in_fence
            continue
        opener = _TRIPLE_QUOTE.match(stripped)
        if opener:  # a docstring, inside a code fence too
            roles.append("docstring")
            if stripped.count(opener.group(1)) % 2 == 1:
                quote = opener.group(1)
            continue
        if in_fence:
            roles.append("code")
            continue
        if _TABLE_ROW.match(stripped):
            roles.append("fence")  # a markdown table row: markup, never part of a span
            continue
        if in_session and stripped == "...":  # the elided middle of a traceback
            roles.append("doctest_output")
            continue
        if DOCTEST_PROMPT.match(body):
            roles.append("code")
            in_session = True
            continue
        if in_session and not is_definition_line(body) and (
            _EXCEPTION_LINE.match(stripped) or not (len(stripped.split()) >= 4 and _plain_word_share(stripped) >= 0.6)
        ):  # output is reprs and tracebacks; a line of plain words is the prose after the example
            roles.append("doctest_output")
            continue
        in_session = False
        previous = lines[index - 1].strip() if index else ""
        following = lines[index + 1] if index + 1 < len(lines) else ""
        indent = len(body) - len(body.lstrip())
        # A lower-case next line at the same indentation continues a wrapped sentence; one
        # indented deeper is the body under a heading (man pages: "NAME" then "    ls - ...").
        continued = following.strip()[:1].islower() and len(following) - len(following.lstrip()) <= indent
        starts_paragraph = not previous or roles[-1] != "prose" or bool(re.search(r"[.!?:]$", previous))
        if _UNDERLINE.fullmatch(body) and roles and roles[-1] in ("heading", "prose") and len(stripped) >= 3:
            roles[-1] = "heading"  # the line above an underline is a heading, whatever its form
            roles.append("heading")
        elif is_heading(body) and starts_paragraph and not continued and not looks_like_code(body):
            roles.append("heading")
        elif looks_like_code(body):
            roles.append("code")
        else:
            roles.append("prose")
    return roles


@dataclass(frozen=True)
class Window:
    """Consecutive units ``units[first : first + size]`` of one kind: ``[start, end)`` in the
    passage, their kind and their mean reasoning score."""

    first: int
    size: int
    start: int
    end: int
    kind: UnitKind
    score: float


def tile_windows(
    units: list[Unit],
    *,
    first: int = 0,
    min_units: int = 2,
    max_units: int = 4,
    min_chars: int = 1,
    max_chars: int | None = None,
) -> list[Window]:
    """Non-overlapping windows of consecutive units of one kind, in passage order, from
    ``units[first]`` on.

    Each window is the shortest run of units from where the previous one ended that has
    at least ``min_units`` units and ``min_chars`` characters (at most ``max_units`` units and
    ``max_chars`` characters); a unit that cannot start such a window (a kind change, a
    too-long unit, a :attr:`Unit.junk` unit) is skipped, and no window holds a junk unit
    (heading, citation, docstring, ``def`` line, ...). A short remainder of the same kind joins the window before it
    when the limits allow, so the last units are not left out.

    >>> passage = "We solve 2x + 3 = 11. Subtracting 3 gives 2x = 8. Halving gives x = 4. Check: 2 * 4 + 3 = 11. Done."
    >>> units = Segmenter().units(passage)
    >>> [passage[w.start : w.end] for w in tile_windows(units, first=1, min_chars=10)]
    ['Subtracting 3 gives 2x = 8. Halving gives x = 4.', 'Check: 2 * 4 + 3 = 11. Done.']
    """
    windows: list[Window] = []
    i = max(first, 0)
    def joins(index: int, kind: str) -> bool:
        return index < len(units) and units[index].kind == kind and units[index].junk is None

    while i < len(units):
        kind = units[i].kind
        if units[i].junk is not None:
            i += 1
            continue
        j = i  # last unit of the window
        while True:
            size, chars = j - i + 1, units[j].end - units[i].start
            if size >= min_units and chars >= min_chars:
                break
            if size >= max_units or not joins(j + 1, kind):
                j = -1
                break
            j += 1
        if j < 0 or (max_chars is not None and units[j].end - units[i].start > max_chars):
            i += 1
            continue
        rest = 0  # units of the same kind left after the window, up to the next kind change
        while joins(j + rest + 1, kind):
            rest += 1
        if 0 < rest < min_units and j - i + 1 + rest <= max_units:
            end = units[j + rest].end - units[i].start
            if max_chars is None or end <= max_chars:
                j += rest
        chosen = units[i : j + 1]
        windows.append(
            Window(i, len(chosen), chosen[0].start, chosen[-1].end, kind, sum(u.score for u in chosen) / len(chosen))
        )
        i = j + 1
    return windows


def spread_pick(windows: list[Window], count: int) -> list[Window]:
    """At most ``count`` of ``windows``, spread over the passage: the windows are cut into
    ``count`` runs of about equal length and the best-scoring window of each run is kept
    (the earlier one on a tie). Passage order is kept.

    >>> ws = [Window(i, 1, i, i + 1, "sentence", s) for i, s in enumerate([0.1, 0.9, 0.5, 0.2, 0.3, 0.8])]
    >>> [w.first for w in spread_pick(ws, 3)]
    [1, 2, 5]
    >>> len(spread_pick(ws, 10))
    6
    """
    if count <= 0:
        return []
    if len(windows) <= count:
        return list(windows)
    bounds = [round(k * len(windows) / count) for k in range(count + 1)]
    picked = []
    for low, high in itertools.pairwise(bounds):
        run = windows[low:high]
        if run:
            picked.append(max(run, key=lambda w: (w.score, -w.first)))
    return picked
