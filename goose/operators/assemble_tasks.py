"""AssembleTasks: turn a passage, its gold span and its distractors into validated tasks.

Picks ``num_options - 1`` distractors from the (filtered, preference-ordered) list so
that the gold's length rank among the options is as uniform as the candidates allow: a
per-row seeded draw, uniform over the feasible counts, says how many options are longer
than the gold; that many are taken from the longer distractors, the rest from the shorter
ones (so neither "pick the longest" nor "pick the middle one" is a reliable shortcut). It shuffles them with a per-row seed, places the
gold, renders the question and checks every rule of :class:`goose.Task`.

Answer letters are balanced over the whole run, not just in expectation: the k-th task
the run builds gets its letter from a seeded permutation of all letters, a fresh one for
every ``num_options`` tasks, so among the tasks this step builds no letter is used more than once more than any other
(a policy learns nothing from "it is usually C"). Steps after it that drop tasks can
unbalance the final set: a probe model biased towards "A" solves, and so drops, more "A"
tasks; the run report shows the final letter counts. This makes the step stateful (it
counts the tasks built so far); a resumed run restores the count.

Input columns: ``source_id``, ``domain``, ``text``, ``span_start``, ``span_end``,
``distractors``, ``distractor_sources``; optional ``engine``, ``model``, ``prompt_version``,
``document_id``, ``document_start`` (set by :class:`~goose.operators.SplitPassages`; they go
to the task's lineage).
Output columns: exactly :data:`goose.schema.TASK_SCHEMA`.
Drops: ``too_few_distractors`` (fewer than ``num_options - 1``), or the reason code of the
task rule the row breaks (``gold_leak``, ``duplicate_options``, ...; see :mod:`goose.task`).

>>> letters = [answer_slot(seed=0, position=k, num_options=3) for k in range(6)]
>>> sorted(letters[:3]) == sorted(letters[3:]) == [0, 1, 2]
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr, ValidationError

from goose.pipeline.operator import BatchResult, Drop, Operator, RunContext
from goose.schema import tasks_to_table
from goose.task import Task, TaskProblem

_OPTIONAL_LINEAGE = ("engine", "model", "prompt_version", "document_id", "document_start")


def answer_slot(*, seed: int, position: int, num_options: int) -> int:
    """The gold's option index for the ``position``-th task of a run: each block of
    ``num_options`` consecutive tasks uses every index once, in a seeded order.

    >>> [answer_slot(seed=1, position=k, num_options=2) for k in range(4)] in ([0, 1, 1, 0], [0, 1, 0, 1], [1, 0, 0, 1], [1, 0, 1, 0])
    True
    """
    block, offset = divmod(position, num_options)
    digest = np.random.SeedSequence([seed, num_options, block])
    return int(np.random.default_rng(digest).permutation(num_options)[offset])


class AssembleTasks(Operator):
    """Build validated multiple-choice tasks with seeded, run-balanced answer letters."""

    requires: ClassVar[tuple[str, ...]] = (
        "source_id", "domain", "text", "span_start", "span_end", "distractors", "distractor_sources",
    )
    produces: ClassVar[tuple[str, ...]] = (
        "id", "domain", "source_id", "masked_text", "gold", "options", "answer", "question", "lineage",
    )

    num_options: int = Field(9, ge=2, le=26, description="Options per task, gold included (the paper's best: 9).")

    stateful: ClassVar[bool] = True
    _built: int = PrivateAttr(0)
    _built_at_checkpoint: int = PrivateAttr(0)

    def start_run(self) -> None:
        self._built = 0
        self._built_at_checkpoint = 0

    def checkpoint(self) -> bytes:
        """How many tasks were built since the previous checkpoint (8 bytes, little-endian)."""
        delta = self._built - self._built_at_checkpoint
        self._built_at_checkpoint = self._built
        return delta.to_bytes(8, "little")

    def restore(self, checkpoints: Sequence[bytes]) -> None:
        self._built = sum(int.from_bytes(state, "little") for state in checkpoints)
        self._built_at_checkpoint = self._built

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        columns = list(self.requires) + [name for name in _OPTIONAL_LINEAGE if name in batch.column_names]
        tasks: list[Task] = []
        drops: list[Drop] = []
        for index, row in enumerate(batch.select(columns).to_pylist()):
            needed = self.num_options - 1
            if len(row["distractors"]) < needed:
                drops.append(Drop(index, "too_few_distractors", f"{len(row['distractors'])} distractors, need {needed}"))
                continue
            rng = context.rng(self.name, row["source_id"])
            gold_length = row["span_end"] - row["span_start"]
            longer = sum(len(d) > gold_length for d in row["distractors"])
            fewest, most = max(0, needed - (len(row["distractors"]) - longer)), min(needed, longer)
            picked = _pick_by_length_rank(row["distractors"], gold_length, needed, int(rng.integers(fewest, most + 1)))
            order = rng.permutation(len(picked)).tolist()
            try:
                tasks.append(
                    Task.build(
                        domain=row["domain"],
                        source_id=row["source_id"],
                        passage=row["text"],
                        span=(row["span_start"], row["span_end"]),
                        distractors=[row["distractors"][picked[i]] for i in order],
                        distractor_sources=[row["distractor_sources"][picked[i]] for i in order],
                        answer_index=answer_slot(seed=context.seed, position=self._built, num_options=self.num_options),
                        seed=context.seed,
                        operators=list(context.operators),
                        **{name: row.get(name) for name in _OPTIONAL_LINEAGE},
                    )
                )
                self._built += 1
            except TaskProblem as problem:
                drops.append(Drop(index, problem.reason, problem.detail))
            except ValidationError as error:
                problem = _task_problem(error)
                drops.append(Drop(index, problem.reason if problem else "invalid_task", str(problem or error)[:300]))
        return BatchResult(tasks_to_table(tasks), drops)


def _pick_by_length_rank(distractors: list[str], gold_length: int, needed: int, longer_wanted: int) -> list[int]:
    """Indices of ``needed`` distractors of which ``longer_wanted`` are longer than the gold
    (as near as the list allows), each side in preference order.

    >>> _pick_by_length_rank(["aaaa", "a", "aaaaa", "aa"], gold_length=3, needed=3, longer_wanted=1)
    [0, 1, 3]
    """
    longer = [i for i, d in enumerate(distractors) if len(d) > gold_length]
    shorter = [i for i, d in enumerate(distractors) if len(d) <= gold_length]
    take_shorter = min(needed - min(longer_wanted, len(longer)), len(shorter))
    take_longer = needed - take_shorter
    return sorted(longer[:take_longer] + shorter[:take_shorter])


def _task_problem(error: ValidationError) -> TaskProblem | None:
    for detail in error.errors():
        cause = (detail.get("ctx") or {}).get("error")
        if isinstance(cause, TaskProblem):
            return cause
    return None
