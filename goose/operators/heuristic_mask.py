"""HeuristicMaskSpan: choose a contiguous reasoning span of a passage with no LLM.

The passage is split into units (sentences; code lines on their own, see
:mod:`goose.text.segment`). Every window of ``min_units`` to ``max_units`` consecutive
units that does not start at the first unit is scored by how much reasoning it holds
(connectives, equations, numbers, code statements); the best window becomes the gold
span. A small per-passage jitter, seeded by the run seed and the source id, breaks ties
so that runs are reproducible.

Input columns: ``source_id``, ``text``; optional ``solution_start`` (set by the
question + solution adapters of :mod:`goose.adapters`): the span then starts at or after
that character offset, so the gold is part of the solution, never of the question.
Output columns: ``gold``, ``span_start``,
``span_end`` (character offsets of the gold in ``text``), ``span_rank`` (0 for the best span),
``units`` (the passage's units, :func:`goose.text.segment.unit_records`: :class:`CorpusDistractors`
reads them instead of segmenting the passage again, and drops the column).
With ``spans_per_passage`` above 1 a passage gives up to that many rows, one per
non-overlapping span, best first: when a later step (e.g. :class:`ShortcutFilter`) drops the
task of the best span, :class:`FirstSpanPerPassage` keeps the next one that survived.

Span choice also weighs **cohesion** (``cohesion_weight``): the share of the window's
content words found within 300 characters around it (:func:`context_cohesion`). A span
that restates its neighbourhood can be found by word overlap alone (the topic-matching
shortcut the audit measures), so such spans are chosen less.

Span hygiene: a window holds only content units (no heading, link list, citation,
licence, navigation, doctest output, docstring line or ``def``/``class`` line: see
:attr:`goose.text.segment.Unit.junk`), so the gold starts and ends at sentence or statement
boundaries and never crosses a function definition.

Leak checks, tried on the windows in score order (the first window that passes both wins):

* **repeat**: the gold must not occur elsewhere in the passage, exactly (normalised
  containment) or as a near-copy (rapidfuzz ``partial_ratio`` of the normalised gold
  against the normalised masked passage at least ``repeat_similarity``, e.g. a second copy
  of a code example with a renamed variable); golds under 20 characters use only the exact
  check, since a short string aligns closely somewhere by chance;
* **answer after mask**: the ``answer_window`` characters right after the span (GSM8K's
  ``#### 72``) must not contain the gold's last number, nor any number of two or more digits
  that the gold introduces (absent from the text before the span); otherwise a solver reads
  the answer off the text after ``[MASK]`` and picks the option holding that number.

Drops: ``mask_token_in_text`` (the passage already holds ``[MASK]``), ``too_few_units``
(not enough sentences/lines to leave context), ``no_valid_span`` (no window meets the
length limits), ``no_reasoning_span`` (no window scores ``min_score``),
``gold_leak_repeat`` (every reasoning window is repeated in the passage),
``answer_after_mask`` (every reasoning window that is not repeated gives its number away
right after the mask).

>>> from goose import Pipeline
>>> text = "Find x. We know 2x + 3 = 11. Subtracting 3 gives 2x = 8. Dividing by 2, x = 4. Done."
>>> masker = HeuristicMaskSpan(min_span_chars=10, max_span_fraction=0.7)
>>> Pipeline([masker]).run([{"source_id": "d", "text": text}]).tasks["gold"][0].as_py()
'Subtracting 3 gives 2x = 8. Dividing by 2, x = 4.'
"""

from __future__ import annotations

from typing import ClassVar, Literal

import re

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr, model_validator
from rapidfuzz import fuzz

from goose.options import normalize_for_comparison
from goose.pipeline.operator import BatchResult, Drop, Operator, RowOutcomes, RunContext, column_or_nulls
from goose.question import MASK_TOKEN
from goose.text.segment import Segmenter, Unit, unit_records

UNITS_TYPE = pa.list_(pa.struct([
    ("start", pa.int64()), ("end", pa.int64()), ("kind", pa.string()), ("score", pa.float64()), ("junk", pa.string()),
]))
"""Arrow type of the ``units`` column (one record per :class:`goose.text.segment.Unit`)."""


class HeuristicMaskSpan(Operator):
    """Pick the most reasoning-dense multi-unit span of each passage as the gold."""

    requires: ClassVar[tuple[str, ...]] = ("source_id", "text")
    produces: ClassVar[tuple[str, ...]] = ("gold", "span_start", "span_end", "span_rank", "units")
    expands: ClassVar[bool] = True

    min_units: int = Field(2, ge=1, description="Fewest sentences/lines in the span.")
    max_units: int = Field(4, ge=1, description="Most sentences/lines in the span.")
    min_span_chars: int = Field(40, ge=1, description="Shortest gold span in characters.")
    max_span_fraction: float = Field(0.5, gt=0, le=1, description="Largest share of the passage the span may take.")
    min_score: float = Field(0.8, description="Lowest mean reasoning score per unit of the chosen span.")
    jitter: float = Field(0.15, ge=0, description="Seeded noise added to window scores to vary choices.")
    cohesion_weight: float = Field(
        4, ge=0, description="Penalty per unit share of the span's content words found right around it "
        "(words a topic-matching solver would use to find the gold); 0 turns it off.",
    )
    repeat_similarity: float = Field(
        95.0, ge=50, le=100, description="partial_ratio (0-100) of the gold to the masked text that counts as a repeat."
    )
    answer_window: int = Field(
        200, ge=0, description="Characters after the span checked for the gold's numbers (0: no answer-after-mask check)."
    )

    kinds: list[Literal["sentence", "line"]] = Field(
        default_factory=lambda: ["sentence", "line"], min_length=1,
        description="Unit kinds a span may be made of: 'line' only for code tasks (never docstring prose).",
    )
    spans_per_passage: int = Field(
        1, ge=1, le=8, description="Non-overlapping spans kept per passage, best first (span_rank 0, 1, ...): "
        "alternatives for when a later step drops the first one (see FirstSpanPerPassage).",
    )

    _segmenter: Segmenter | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _units_in_order(self) -> HeuristicMaskSpan:
        if self.max_units < self.min_units:
            raise ValueError(f"max_units ({self.max_units}) must be at least min_units ({self.min_units})")
        return self

    def run_memory(self) -> dict[str, int]:
        """The segmenter's vocabulary (lexemes; rebuilt past :data:`goose.text.segment.MAX_LEXEMES`)."""
        return {"segmenter_lexemes": self._segmenter.lexemes if self._segmenter is not None else 0}

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        if self._segmenter is None:
            self._segmenter = Segmenter()
        outcomes = RowOutcomes(batch, types={
            "gold": pa.string(), "span_start": pa.int64(), "span_end": pa.int64(), "span_rank": pa.int64(), "units": UNITS_TYPE,
        })
        ids = batch.column("source_id").to_pylist()
        solution_starts = column_or_nulls(batch, "solution_start")
        for index, text in enumerate(batch.column("text").to_pylist()):
            if MASK_TOKEN in text:
                outcomes.drop(index, "mask_token_in_text", f"the passage already contains {MASK_TOKEN}")
                continue
            units = self._segmenter.units(text)
            if len(units) < self.min_units + 1:
                outcomes.drop(index, "too_few_units", f"{len(units)} sentences/lines, need {self.min_units + 1}")
                continue
            # The span may not start before the solution (a question + solution row) nor at the first unit.
            start_at = solution_starts[index] or 0
            first_allowed = max(1, next((i for i, unit in enumerate(units) if unit.start >= start_at), len(units)))
            choice = self._best_windows(text, units, first_allowed, context.rng(self.name, ids[index]))
            if isinstance(choice, Drop):
                outcomes.drop(index, choice.reason, choice.detail)
                continue
            records = unit_records(units)
            for rank, (start, end) in enumerate(choice):
                outcomes.keep(index, gold=text[start:end], span_start=start, span_end=end, span_rank=rank, units=records)
        return outcomes.result()

    def _best_windows(
        self, text: str, units: list[Unit], first_allowed: int, rng: np.random.Generator
    ) -> list[tuple[int, int]] | Drop:
        """Up to ``spans_per_passage`` non-overlapping windows that pass the leak checks, best first."""
        scores = np.array([unit.score for unit in units])
        candidates: list[tuple[float, float, int, int]] = []
        for size in range(self.min_units, self.max_units + 1):
            for first in range(first_allowed, len(units) - size + 1):
                last = first + size - 1
                window = units[first : last + 1]
                if len({unit.kind for unit in window}) > 1 or window[0].kind not in self.kinds or any(
                    unit.junk is not None for unit in window
                ):
                    continue
                start, end = units[first].start, units[last].end
                if not self.min_span_chars <= end - start <= self.max_span_fraction * len(text):
                    continue
                mean = float(scores[first : last + 1].mean())
                # Prefer 3-unit spans slightly and spans that leave context after them.
                bonus = 0.1 * min(size, 3) + (0.1 if last < len(units) - 1 else 0.0)
                penalty = self.cohesion_weight * context_cohesion(text, start, end) if self.cohesion_weight else 0.0
                candidates.append((mean + bonus - penalty, mean, start, end))
        if not candidates:
            return Drop(-1, "no_valid_span", f"no window of {self.min_units}-{self.max_units} units fits the length limits")
        noise = rng.uniform(0, self.jitter, size=len(candidates))
        repeated = answer_leaks = 0
        chosen: list[tuple[int, int]] = []
        for position in np.argsort([-(c[0] + n) for c, n in zip(candidates, noise)], kind="stable"):
            _, mean, start, end = candidates[position]
            if mean < self.min_score or any(start < b and a < end for a, b in chosen):
                continue
            if self._repeated(text, start, end):
                repeated += 1
            elif self._answer_after_mask(text, start, end):
                answer_leaks += 1
            else:
                chosen.append((start, end))
                if len(chosen) == self.spans_per_passage:
                    break
        if chosen:
            return chosen
        best_mean = max(c[1] for c in candidates)
        if best_mean < self.min_score:
            return Drop(-1, "no_reasoning_span", f"best span scores {best_mean:.2f} per unit, min_score is {self.min_score}")
        if answer_leaks:
            return Drop(-1, "answer_after_mask", (
                f"{answer_leaks} reasoning span(s) have their number right after the mask, {repeated} are repeated"
            ))
        return Drop(-1, "gold_leak_repeat", "every reasoning span also occurs (or nearly) elsewhere in the passage")

    def _repeated(self, text: str, start: int, end: int) -> bool:
        """Whether the gold ``text[start:end]`` occurs elsewhere in the passage: exactly after
        normalisation, or (golds of 20+ characters) as a near-copy."""
        gold = normalize_for_comparison(text[start:end])
        masked = normalize_for_comparison(text[:start] + MASK_TOKEN + text[end:])
        if gold in masked:
            return True
        return len(gold) >= _MIN_FUZZY_CHARS and fuzz.partial_ratio(gold, masked) >= self.repeat_similarity

    def _answer_after_mask(self, text: str, start: int, end: int) -> bool:
        """Whether the text right after the span gives one of the gold's numbers away: its
        last number, or a number of two or more digits that first appears in the gold."""
        if self.answer_window == 0:
            return False
        gold_numbers = numbers_in(text[start:end])
        if not gold_numbers:
            return False
        after = set(numbers_in(text[end : end + self.answer_window]))
        if not after:
            return False
        before = set(numbers_in(text[:start]))
        telling = {gold_numbers[-1]} | {n for n in gold_numbers if n not in before and len(n.lstrip("-")) >= 2}
        return bool(telling & after)


_MIN_FUZZY_CHARS = 20
COHESION_CHARS = 300
"""Characters on each side of a span that :func:`context_cohesion` compares it with."""
_CONTENT_WORD = re.compile(r"[^\W\d_]{3,}")
_COMMON = frozenset(
    "the and for are but not you all any can had her was one our out has have him his how its may new now "
    "old see two way who did get let put say she too use that with this from they will would there their "
    "what when which while where been into than then them these those also each other some such only".split()
)


def context_cohesion(text: str, start: int, end: int) -> float:
    """Share of the span's distinct content words that also occur within
    :data:`COHESION_CHARS` characters around it: high for a span that restates its
    neighbourhood (a word-overlap solver finds it), low for one that says something new.

    >>> text = "The cache keeps pages. The cache keeps pages warm. Disks spin slowly."
    >>> context_cohesion(text, 23, 50) > context_cohesion(text, 51, len(text))
    True
    """
    words = {w for w in _CONTENT_WORD.findall(text[start:end].lower()) if w not in _COMMON}
    if not words:
        return 0.0
    around = text[max(0, start - COHESION_CHARS) : start] + " " + text[end : end + COHESION_CHARS]
    return len(words & set(_CONTENT_WORD.findall(around.lower()))) / len(words)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?")


def numbers_in(text: str) -> list[str]:
    """The numbers of ``text`` in order, normalised: thousands separators and trailing
    decimal zeros dropped, so ``1,200.50`` and ``1200.5`` compare equal.

    >>> numbers_in("She paid $1,200.50, then 72 more; x2 is not a number. #### 72")
    ['1200.5', '72', '72']
    """
    found = []
    for match in _NUMBER.finditer(text):
        number = match.group().replace(",", "")
        if "." in number:
            number = number.rstrip("0").rstrip(".")
        found.append(number)
    return found
