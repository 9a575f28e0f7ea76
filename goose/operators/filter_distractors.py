"""FilterDistractors: keep only distractors that cannot be confused with the gold or each other.

A distractor is removed when it is blank or holds ``[MASK]`` (``blank``), contains the
gold or is contained in it (``overlaps_gold``: a partial or padded answer), is a
near-duplicate of the gold (``near_gold``) or of a distractor kept before it
(``near_other``), would also be a correct fill (``equivalent``: the same code after
normalisation, e.g. ``if not n:`` for ``if n == 0:``; the same final value in math; the
same words up to filler in prose; see :mod:`goose.text.equivalence`, the kind judged
from the optional ``domain`` column and the gold's text), has a length far from the
gold's (``length``: otherwise "pick the longest option" would win), or occurs verbatim
in the masked passage (``in_passage``: a solver could rule it out by spotting it). Order is preserved, so earlier (preferred)
distractors win ties.

Input columns: ``text``, ``gold``, ``span_start``, ``span_end``, ``distractors``,
``distractor_sources`` (and ``domain`` when present). Output columns: ``distractors``,
``distractor_sources`` (filtered).
Drops: ``too_few_distractors`` when fewer than ``min_distractors`` survive; the detail
counts the removals by rule.

>>> from goose import Pipeline
>>> row = {"text": "a. We add 2 and 2 to get 4. b.", "gold": "We add 2 and 2 to get 4.", "span_start": 3,
...        "span_end": 27, "distractors": ["We add 2 and 2 to get 4!", "We add 3 and 3 to get 6."],
...        "distractor_sources": ["x", "y"]}
>>> Pipeline([FilterDistractors(min_distractors=1)]).run([row]).tasks["distractors"].to_pylist()
[['We add 3 and 3 to get 6.']]
>>> code = {"text": "def f(n):\\n    if n == 0:\\n        return 1", "gold": "if n == 0:", "span_start": 14,
...         "span_end": 24, "distractors": ["if not n:", "if n < 0:"], "distractor_sources": ["x", "y"]}
>>> Pipeline([FilterDistractors(min_distractors=1)]).run([code]).tasks["distractors"].to_pylist()
[['if n < 0:']]
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator
from rapidfuzz import fuzz, process

from goose.options import NEAR_DUPLICATE_SIMILARITY, normalize_for_comparison
from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext
from goose.question import MASK_TOKEN
from goose.text.equivalence import EquivalenceChecker, guess_kind


class FilterDistractors(Operator):
    """Remove distractors that are ambiguous, leaky or give the gold away by length."""

    requires: ClassVar[tuple[str, ...]] = (
        "text", "gold", "span_start", "span_end", "distractors", "distractor_sources",
    )
    produces: ClassVar[tuple[str, ...]] = ("distractors", "distractor_sources")

    min_distractors: int = Field(8, ge=1, description="Fewest distractors a task needs (options - 1).")
    max_similarity: float = Field(
        NEAR_DUPLICATE_SIMILARITY - 1.0, gt=0, le=100,
        description="Highest fuzz.ratio (0-100) to the gold or to a kept distractor.",
    )
    min_length_ratio: float = Field(0.5, gt=0, description="Shortest distractor as a share of the gold's length.")
    max_length_ratio: float = Field(2.0, gt=0, description="Longest distractor as a share of the gold's length.")
    check_equivalence: bool = Field(
        True, description="Remove distractors that would also be a correct fill (rule ``equivalent``)."
    )

    @model_validator(mode="after")
    def _ratios_in_order(self) -> FilterDistractors:
        if self.max_length_ratio < self.min_length_ratio:
            raise ValueError("max_length_ratio must be at least min_length_ratio")
        return self

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(
            batch, types={"distractors": pa.list_(pa.string()), "distractor_sources": pa.list_(pa.string())}
        )
        domains = batch.column("domain").to_pylist() if "domain" in batch.schema.names else [None] * batch.num_rows
        for index, row in enumerate(batch.select(list(self.requires)).to_pylist()):
            kept, sources, removed = self._filter(row, domains[index])
            if len(kept) < self.min_distractors:
                counts = ", ".join(f"{rule} {n}" for rule, n in sorted(removed.items()))
                outcomes.drop(
                    index, "too_few_distractors",
                    f"{len(kept)} of {len(row['distractors'])} left, need {self.min_distractors}"
                    + (f" (removed: {counts})" if counts else ""),
                )
                continue
            outcomes.keep(index, distractors=kept, distractor_sources=sources)
        return outcomes.result()

    def _filter(self, row: dict, domain: str | None = None) -> tuple[list[str], list[str], Counter[str]]:
        gold, candidates = row["gold"], row["distractors"] or []
        sources = row["distractor_sources"] or [""] * len(candidates)
        text = row["text"]
        masked = normalize_for_comparison(text[: row["span_start"]] + MASK_TOKEN + text[row["span_end"] :])
        norm_gold = normalize_for_comparison(gold)
        norms = [normalize_for_comparison(candidate or "") for candidate in candidates]  # once per text
        to_gold = _ratios(norms, [norm_gold])[:, 0] if candidates else []
        pairwise = _ratios(norms, norms) if candidates else None
        same_fill = EquivalenceChecker(gold, guess_kind(gold, domain)) if self.check_equivalence and gold else None
        removed: Counter[str] = Counter()
        kept: list[int] = []
        for i, candidate in enumerate(candidates):
            norm = norms[i]
            ratio = len(candidate or "") / max(len(gold), 1)
            if not norm or MASK_TOKEN.lower() in norm:
                removed["blank"] += 1
            elif norm_gold in norm or norm in norm_gold:
                removed["overlaps_gold"] += 1
            elif to_gold[i] >= self.max_similarity:
                removed["near_gold"] += 1
            elif same_fill is not None and same_fill.matches(candidate):
                removed["equivalent"] += 1
            elif not self.min_length_ratio <= ratio <= self.max_length_ratio:
                removed["length"] += 1
            elif norm in masked:
                removed["in_passage"] += 1
            elif any(pairwise[i, j] >= self.max_similarity for j in kept):
                removed["near_other"] += 1
            else:
                kept.append(i)
        return [candidates[i] for i in kept], [sources[i] for i in kept], removed


def _ratios(left: list[str], right: list[str]) -> np.ndarray:
    """:func:`goose.options.similarity_matrix` of texts that are normalised already."""
    return process.cdist(left, right, scorer=fuzz.ratio, dtype=np.float32).astype(np.float64)
