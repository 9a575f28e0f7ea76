"""Option letters and the text comparisons that decide when two options are "the same".

Both the task validator and the distractor filter use these helpers, so a distractor
that the filter keeps can never make the final task invalid.

>>> letter_for(2), index_for("c")
('C', 2)
>>> near_duplicate_pairs(["x = 4", "X =  4", "x = 5"])
[(0, 1)]
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence

import numpy as np
from rapidfuzz import fuzz, process

LETTERS = string.ascii_uppercase
"""Option letters in order; a task has at most 26 options."""

NEAR_DUPLICATE_SIMILARITY = 97.0
"""Two options whose normalised texts have a rapidfuzz ``fuzz.ratio`` at or above this
(0-100) are near-duplicates. 97 means the texts differ in under 3% of their characters:
a one-digit change in a long span is a near-duplicate, a changed step is not."""

_WHITESPACE = re.compile(r"\s+")
_TRAILING_PUNCTUATION = re.compile(r"[\s.!?;:,]+$")


def letter_for(index: int) -> str:
    """The option letter at ``index`` (0 -> ``A``).

    >>> letter_for(0)
    'A'
    """
    if not 0 <= index < len(LETTERS):
        raise ValueError(f"option index {index} is outside 0..25; a task has at most 26 options")
    return LETTERS[index]


def index_for(letter: str) -> int:
    """The option index of ``letter`` (``A`` or ``a`` -> 0).

    >>> index_for("B")
    1
    """
    cleaned = letter.strip().upper()
    if len(cleaned) != 1 or cleaned not in LETTERS:
        raise ValueError(f"{letter!r} is not an option letter; use one letter from A to Z")
    return LETTERS.index(cleaned)


def normalize_for_comparison(text: str) -> str:
    """Case-folded NFKC text with runs of white space collapsed and closing punctuation removed.

    Other punctuation is kept on purpose: in code and equations it changes the meaning.

    >>> normalize_for_comparison("  X =\\n 4! ")
    'x = 4'
    """
    collapsed = _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).casefold()
    return _TRAILING_PUNCTUATION.sub("", collapsed).strip()


def similarity_matrix(left: Sequence[str], right: Sequence[str]) -> np.ndarray:
    """Pairwise ``fuzz.ratio`` (0-100) of the normalised texts, computed in one rapidfuzz call.

    >>> similarity_matrix(["abc"], ["abc", "xyz"]).tolist()
    [[100.0, 0.0]]
    """
    return process.cdist(
        [normalize_for_comparison(t) for t in left],
        [normalize_for_comparison(t) for t in right],
        scorer=fuzz.ratio,
        dtype=np.float32,
    ).astype(np.float64)


def near_duplicate_pairs(
    options: Sequence[str], threshold: float = NEAR_DUPLICATE_SIMILARITY
) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of options that are near-duplicates of each other.

    >>> near_duplicate_pairs(["a + b", "a - b"])
    []
    """
    if len(options) < 2:
        return []
    scores = similarity_matrix(options, options)
    upper = np.triu(scores >= threshold, k=1)
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(upper))]
