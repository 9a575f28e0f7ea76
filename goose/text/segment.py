"""Split a passage into reasoning units (prose sentences and code lines) and score each
for how much reasoning it carries.

Prose is split into sentences by spaCy (``spacy.blank`` + ``sentencizer``: rule-based,
ships with spaCy, no model download). Lines that look like code are units on their own,
because masking half a line of code makes a task about syntax rather than reasoning.

>>> segmenter = Segmenter()
>>> [u.text(s) for s in ["We know x = 2. So 2x = 4."] for u in segmenter.units(s)]
['We know x = 2.', 'So 2x = 4.']
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

import spacy

UnitKind = Literal["sentence", "line"]

_CODE_LINE = re.compile(
    r"""^(?:\s{2,}|\t)\S            # indented
    | ^\s*(?:def|class|return|for|while|if|elif|else|try|except|import|from|function|const|let|var|
           public|private|static|int|void|SELECT|INSERT|UPDATE|DELETE|WHERE|\#include)\b
    | [;{}]\s*$                     # ends like C/Java/JS
    | ^\s*[}\])]                    # closing bracket
    | ^\s*\w+(?:\[[^\]]*\])?\s*[+\-*/]?=\s*[^=]   # assignment
    """,
    re.VERBOSE,
)
_CONNECTIVE = re.compile(
    r"\b(?:therefore|thus|hence|so|because|since|consequently|as a result|it follows|which means|"
    r"implies|means that|this gives|we get|gives|yields|substitut\w*|solv\w*|multiply\w*|divid\w*|"
    r"subtract\w*|add\w*|simplif\w*|factor\w*|then|if|when|unless|otherwise|so that|in order to|"
    r"leads? to|causes?|prevents?|allows?|requires?|ensures?|instead|but|however)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?:%|\b)")
_EQUATION = re.compile(r"[=<>≤≥≠≈]|\s[+\-*/×÷^]\s|\d\s*[+\-*/×÷^]\s*\d")


@dataclass(frozen=True)
class Unit:
    """One reasoning unit: ``[start, end)`` character offsets, its kind and reasoning score."""

    start: int
    end: int
    kind: UnitKind
    score: float

    def text(self, passage: str) -> str:
        """The unit's text in ``passage``."""
        return passage[self.start : self.end]


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


class Segmenter:
    """Splits passages into :class:`Unit` lists; holds one spaCy sentencizer pipeline.

    >>> [u.kind for u in Segmenter().units("Sum it:\\n    total = a + b\\n    return total")]
    ['sentence', 'line', 'line']
    """

    def __init__(self) -> None:
        self._nlp = spacy.blank("en")
        self._nlp.add_pipe("sentencizer")

    def units(self, passage: str) -> list[Unit]:
        """Units of ``passage`` in order; white space between units belongs to no unit."""
        units: list[Unit] = []
        prose_start: int | None = None
        offset = 0
        for line in passage.splitlines(keepends=True):
            body = line.rstrip("\n")
            if body.strip() and _CODE_LINE.search(body):
                if prose_start is not None:
                    units.extend(self._sentences(passage, prose_start, offset))
                    prose_start = None
                start = offset + len(body) - len(body.lstrip())
                end = offset + len(body.rstrip())
                units.append(Unit(start, end, "line", reasoning_score(passage[start:end], "line")))
            elif prose_start is None and body.strip():
                prose_start = offset
            offset += len(line)
        if prose_start is not None:
            units.extend(self._sentences(passage, prose_start, len(passage)))
        return units

    def _sentences(self, passage: str, start: int, end: int) -> list[Unit]:
        units = []
        for sentence in self._nlp(passage[start:end]).sents:
            text = sentence.text.strip()
            if not text:
                continue
            lead = len(sentence.text) - len(sentence.text.lstrip())
            s = start + sentence.start_char + lead
            units.append(Unit(s, s + len(text), "sentence", reasoning_score(text, "sentence")))
        return units


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
    too-long unit) is skipped. A short remainder of the same kind joins the window before it
    when the limits allow, so the last units are not left out.

    >>> passage = "We solve 2x + 3 = 11. Subtracting 3 gives 2x = 8. Halving gives x = 4. Check: 2 * 4 + 3 = 11. Done."
    >>> units = Segmenter().units(passage)
    >>> [passage[w.start : w.end] for w in tile_windows(units, first=1, min_chars=10)]
    ['Subtracting 3 gives 2x = 8. Halving gives x = 4.', 'Check: 2 * 4 + 3 = 11. Done.']
    """
    windows: list[Window] = []
    i = max(first, 0)
    while i < len(units):
        kind = units[i].kind
        j = i  # last unit of the window
        while True:
            size, chars = j - i + 1, units[j].end - units[i].start
            if size >= min_units and chars >= min_chars:
                break
            if size >= max_units or j + 1 >= len(units) or units[j + 1].kind != kind:
                j = -1
                break
            j += 1
        if j < 0 or (max_chars is not None and units[j].end - units[i].start > max_chars):
            i += 1
            continue
        rest = 0  # units of the same kind left after the window, up to the next kind change
        while j + rest + 1 < len(units) and units[j + rest + 1].kind == kind:
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
