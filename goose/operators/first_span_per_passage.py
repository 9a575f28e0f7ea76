"""FirstSpanPerPassage: keep one task per passage, the best-ranked span that survived.

:class:`HeuristicMaskSpan` with ``spans_per_passage > 1`` makes one row per candidate span
of a passage, best first, and every step keeps rows in order. The steps after it may drop
some (a cheap solver answers the task, too few distractors); this step keeps, per passage
(``source_id``), the first surviving row, which is the best-ranked span, and drops the
others as ``other_span_kept``. Tasks of one passage share most of their text, so keeping
several would let a policy see one task's answer in another's passage.

A passage's rows are made in one batch and stay in it, so this step needs no memory across
batches. Put it after the steps that may drop a span's task and before task dedup.

Input columns: ``source_id``. Output columns: unchanged.
Drops: ``other_span_kept`` (a better-ranked span of the same passage was kept).

>>> from goose import Pipeline
>>> rows = [{"source_id": "a", "gold": "x"}, {"source_id": "a", "gold": "y"}, {"source_id": "b", "gold": "z"}]
>>> result = Pipeline([FirstSpanPerPassage()]).run(rows)
>>> result.tasks["gold"].to_pylist(), result.rejects["reason"].to_pylist()
(['x', 'z'], ['other_span_kept'])
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa

from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext


class FirstSpanPerPassage(Operator):
    """Keep the first (best-ranked) surviving span of each passage; drop the rest as ``other_span_kept``."""

    requires: ClassVar[tuple[str, ...]] = ("source_id",)

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(batch)
        seen: set[str] = set()
        for index, source in enumerate(batch.column("source_id").to_pylist()):
            if source in seen:
                outcomes.drop(index, "other_span_kept", "an earlier (better-ranked) span of this passage was kept")
            else:
                seen.add(source)
                outcomes.keep(index)
        return outcomes.result()
