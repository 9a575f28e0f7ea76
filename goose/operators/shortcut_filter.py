"""ShortcutFilter: drop (or mark) tasks that a cheap solver answers without reasoning.

Runs the shortcut solvers of :mod:`goose.audit.solvers` on assembled tasks; they read the
masked passage and the options only, never the gold, so LLM-written and offline tasks
are judged alike. A task is *solved* by a solver when the gold is its single best-scored
option (a tie does not count).

Solvers that need corpus statistics (TF-IDF, BM25) fit them on the batch the filter
sees, so a task's verdict can depend a little on its batch-mates; they still work on a
batch of one task.

Input columns: ``masked_text``, ``options``, ``answer`` (``domain`` is not needed).
Output columns: ``shortcut_solved_by`` (``list<string>``, only in ``mode="audit"``: the
configured solvers that solve the task, in configured order).
Drops (``mode="drop"``): ``shortcut:<solver>`` for the first configured solver that solves
the task; the detail names every configured solver that solves it.

>>> import pyarrow as pa
>>> from goose import Pipeline
>>> tasks = [{"masked_text": "The moon pulls the tides. [MASK]", "options": ["Tides follow the moon.", "Tax rose."],
...           "answer": "A"}]
>>> result = Pipeline([ShortcutFilter(solvers=["tfidf_passage"])]).run(tasks)
>>> result.tasks.num_rows, result.rejects["reason"].to_pylist()
(0, ['shortcut:tfidf_passage'])
>>> audit = Pipeline([ShortcutFilter(solvers=["longest", "tfidf_passage"], mode="audit")]).run(tasks)
>>> audit.tasks["shortcut_solved_by"].to_pylist()
[['longest', 'tfidf_passage']]
"""

from __future__ import annotations

from typing import ClassVar, Literal

import pyarrow as pa
from pydantic import Field, field_validator

from goose.audit.audit import AuditAccumulator
from goose.audit.solvers import SOLVER_NAMES, solver_by_name
from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext

DEFAULT_FILTER_SOLVERS = ("tfidf_window", "bm25_passage", "numbers_after_mask")
"""Solvers the filter uses unless told otherwise: two views of topic matching (the words
around ``[MASK]``, the whole passage) and the answer-after-mask shortcut. The other topic
solvers (``tfidf_passage``, ``word_overlap``) are left out on purpose: the run's audit
reports them as held-out checks, so a filtered run still shows whether the filter removed
topic matching or only what these solvers in particular see. Length and centroid solvers
are left out too: they solve about 1 in (number of options) tasks by chance, and dropping
those would only cost yield."""


class ShortcutFilter(Operator):
    """Drop tasks that a configured cheap solver answers, or mark them with the solvers that do."""

    requires: ClassVar[tuple[str, ...]] = ("masked_text", "options", "answer")
    produces: ClassVar[tuple[str, ...]] = ("shortcut_solved_by",)

    solvers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FILTER_SOLVERS),
        min_length=1,
        description="Solvers that may not solve a kept task, in order (the first that solves it names the reason).",
    )
    mode: Literal["drop", "audit"] = Field(
        "drop", description="'drop' removes solved tasks; 'audit' keeps every task and adds shortcut_solved_by."
    )

    @field_validator("solvers")
    @classmethod
    def _known_solvers(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in SOLVER_NAMES]
        if unknown:
            raise ValueError(f"unknown shortcut solvers {unknown}; choose from {', '.join(SOLVER_NAMES)}")
        if len(set(names)) != len(names):
            raise ValueError(f"solvers {names} names a solver twice; list each once")
        return names

    def produced_columns(self) -> tuple[str, ...]:
        return self.produces if self.mode == "audit" else ()

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        audit_mode = self.mode == "audit"
        outcomes = RowOutcomes(batch, types={"shortcut_solved_by": pa.list_(pa.string())} if audit_mode else None)
        accumulator = AuditAccumulator([solver_by_name(name) for name in self.solvers])
        if accumulator.unavailable:
            name, reason = next(iter(accumulator.unavailable.items()))
            raise RuntimeError(f"ShortcutFilter cannot run solver {name!r}: {reason}; remove it from solvers")
        if batch.num_rows:
            accumulator.add(batch.select([name for name in self.requires if name in batch.schema.names]))
        solved_by = accumulator.solved_by or [[] for _ in range(batch.num_rows)]
        for index, solvers in enumerate(solved_by):
            if audit_mode:
                outcomes.keep(index, shortcut_solved_by=solvers)
            elif solvers:
                outcomes.drop(index, f"shortcut:{solvers[0]}", "solved by " + ", ".join(solvers))
            else:
                outcomes.keep(index)
        return outcomes.result()
