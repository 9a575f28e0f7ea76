"""Wrong-but-plausible variants of a gold span: changed numbers, swapped operators,
flipped words and toggled negations.

Each variant differs from the gold enough not to count as a near-duplicate option
(see :data:`goose.options.NEAR_DUPLICATE_SIMILARITY`), so it survives the task rules.

>>> import numpy as np
>>> variants = perturbations("So 2x = 8, and x = 4.", np.random.default_rng(0))
>>> all(text != "So 2x = 8, and x = 4." for text, kind in variants)
True
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from goose.options import NEAR_DUPLICATE_SIMILARITY, similarity_matrix

_NUMBER = re.compile(r"(?<![\w.])(\d+)(?:\.(\d+))?(?!\d|st\b|nd\b|rd\b|th\b)")
_OPERATOR_SWAPS = {
    " + ": " - ", " - ": " + ", " * ": " / ", " / ": " * ", "×": "÷", "÷": "×",
    " < ": " > ", " > ": " < ", "<=": ">=", ">=": "<=", "≤": "≥", "≥": "≤", "==": "!=", "!=": "==",
    " and ": " or ", " or ": " and ", "min(": "max(", "max(": "min(", "True": "False", "False": "True",
}
_WORD_SWAPS = dict(
    pair
    for a, b in [
        ("increase", "decrease"), ("increases", "decreases"), ("increased", "decreased"),
        ("more", "less"), ("larger", "smaller"), ("higher", "lower"), ("greater", "smaller"),
        ("before", "after"), ("maximum", "minimum"), ("positive", "negative"), ("always", "never"),
        ("allow", "block"), ("allows", "blocks"), ("allowed", "blocked"), ("encrypt", "decrypt"),
        ("encrypted", "decrypted"), ("inbound", "outbound"), ("public", "private"), ("first", "last"),
        ("left", "right"), ("faster", "slower"), ("stronger", "weaker"), ("add", "subtract"),
        ("adding", "subtracting"), ("multiply", "divide"), ("multiplying", "dividing"), ("even", "odd"),
        ("true", "false"), ("valid", "invalid"), ("safe", "unsafe"), ("client", "server"),
        ("upper", "lower"), ("above", "below"), ("absorbs", "releases"), ("exothermic", "endothermic"),
        ("oxidation", "reduction"), ("gains", "loses"), ("rises", "falls"), ("inside", "outside"),
        ("sum", "product"), ("numerator", "denominator"), ("horizontal", "vertical"),
        ("same", "different"), ("identical", "distinct"), ("random", "predictable"), ("unique", "shared"),
        ("strong", "weak"), ("slow", "fast"), ("slowly", "quickly"), ("trusted", "untrusted"),
        ("accept", "reject"), ("accepts", "rejects"), ("include", "exclude"), ("enable", "disable"),
        ("enabled", "disabled"), ("start", "end"), ("open", "closed"), ("input", "output"),
        ("success", "failure"), ("most", "least"), ("all", "none"), ("many", "few"),
    ]
    for pair in ((a, b), (b, a))
)
_WORD = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _WORD_SWAPS), key=len, reverse=True)) + r")\b", re.I)
_NEGATABLE = re.compile(r"\b(?:(cannot)|(is|are|was|were|can|will|should|does|do|must)( not)?\b(?! not))")
_OPERATOR = re.compile("|".join(re.escape(op) for op in sorted(_OPERATOR_SWAPS, key=len, reverse=True)))

MAX_SIMILARITY = NEAR_DUPLICATE_SIMILARITY - 3.0
"""A variant must be at most this similar to the gold (0-100), a margin under the near-duplicate line."""


def _change_numbers(text: str, rng: np.random.Generator, share: float) -> str:
    def replace(match: re.Match[str]) -> str:
        if rng.random() > share:
            return match.group(0)
        whole, fraction = match.group(1), match.group(2)
        if fraction is not None:
            digits = int(fraction) + int(rng.integers(1, 9))
            return f"{whole}.{digits % 10**len(fraction):0{len(fraction)}d}"
        value = int(whole)
        step = int(rng.choice([1, 2, 3, value if value > 1 else 2]))
        new = value + step if value < 2 or rng.random() < 0.5 else value - min(step, value - 1)
        return str(new if new != value else value + 1)

    return _NUMBER.sub(replace, text)


def _swap(pattern: re.Pattern[str], swaps: dict[str, str], text: str, rng: np.random.Generator, share: float) -> str:
    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        if rng.random() > share:
            return found
        swapped = swaps.get(found) or swaps.get(found.lower(), found)
        return swapped[:1].upper() + swapped[1:] if found[:1].isupper() else swapped

    return pattern.sub(replace, text)


def _toggle_negation(text: str, rng: np.random.Generator, share: float) -> str:
    def replace(match: re.Match[str]) -> str:
        if rng.random() > share:
            return match.group(0)
        cannot, verb, negated = match.groups()
        if cannot:
            return "can"
        return verb if negated else f"{verb} not"

    return _NEGATABLE.sub(replace, text)


_EDITS: dict[str, Callable[[str, np.random.Generator, float], str]] = {
    "numbers": _change_numbers,
    "operators": lambda text, rng, share: _swap(_OPERATOR, _OPERATOR_SWAPS, text, rng, share),
    "words": lambda text, rng, share: _swap(_WORD, _WORD_SWAPS, text, rng, share),
    "negation": _toggle_negation,
}


def perturbations(gold: str, rng: np.random.Generator, max_variants: int = 4, attempts: int = 24) -> list[tuple[str, str]]:
    """Up to ``max_variants`` distinct variants of ``gold`` as ``(text, kind)`` pairs.

    ``kind`` names the edits applied, e.g. ``"numbers+words"``. Variants are drawn with
    ``rng`` (reproducible) and kept only when far enough from the gold and from each other.

    >>> import numpy as np
    >>> perturbations("Plain words here", np.random.default_rng(0))
    []
    """
    applicable = [name for name, edit in _EDITS.items() if edit(gold, np.random.default_rng(0), 1.0) != gold]
    variants: list[tuple[str, str]] = []
    for _ in range(attempts):
        if len(variants) >= max_variants or not applicable:
            break
        count = int(rng.integers(1, min(2, len(applicable)) + 1))
        kinds = sorted(rng.choice(applicable, size=count, replace=False).tolist())
        text = gold
        share = float(rng.uniform(0.4, 1.0))
        for kind in kinds:
            text = _EDITS[kind](text, rng, share)
        others = [gold] + [v for v, _ in variants]
        if text != gold and similarity_matrix([text], others).max() <= MAX_SIMILARITY:
            variants.append((text, "+".join(kinds)))
    return variants
