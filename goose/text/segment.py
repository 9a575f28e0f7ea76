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
