"""SelectDistractors: choose each task's final wrong options adversarially, against the
shortcut solvers of the audit.

From the (filtered, usually longer) candidate list it keeps ``num_options - 1`` that the
cheap solvers cannot tell apart from the gold: none of them should rank the gold first,
nor last, and over a run the gold's rank under each solver is spread out (see
:mod:`goose.distractors.selection`). It reads only the passage, the gold and the
candidates, so it treats LLM-written distractors exactly like offline ones. Put it after
:class:`FilterDistractors` (which removes candidates that are unusable) and before
:class:`AssembleTasks`.

Each kept wrong option's source gets why it was chosen, e.g.
``near:doc-7 | close to gold on tfidf_window, bm25_passage``, which the task lineage keeps.

Input columns: ``text``, ``gold``, ``span_start``, ``span_end``, ``distractors``,
``distractor_sources``. Output columns: ``distractors``, ``distractor_sources`` (at most
``num_options - 1``). Drops: none (a row with too few candidates passes as it is and
:class:`AssembleTasks` drops it as ``too_few_distractors``).

>>> from goose import Pipeline
>>> row = {"text": "Heat the water. It boils at 100 C. Steam rises.", "gold": "It boils at 100 C.", "span_start": 16,
...        "span_end": 34, "distractors": ["It boils at 90 C.", "It freezes at 0 C.", "Dogs bark.", "It melts at 100 C."],
...        "distractor_sources": ["a", "b", "c", "d"]}
>>> out = Pipeline([SelectDistractors(num_options=3)]).run([row]).tasks
>>> len(out["distractors"][0])
2
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from goose.audit.solvers import solver_by_name, tie_credits
from goose.audit.text_features import BatchFeatures
from goose.distractors.selection import Choice, choose_from_scores
from goose.options import similarity_matrix
from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext
from goose.question import MASK_TOKEN

SELECTION_SOLVERS: tuple[str, ...] = (
    "longest", "shortest", "word_overlap", "tfidf_passage", "tfidf_window", "bm25_passage",
    "numbers_after_mask", "centroid",
)
"""The solvers the choice plays against by default: every cheap one except ``in_passage``
(a candidate copied from the passage is removed by :class:`FilterDistractors` instead)."""


class SelectDistractors(Operator):
    """Keep the wrong options that the shortcut solvers cannot separate from the gold."""

    requires: ClassVar[tuple[str, ...]] = (
        "text", "gold", "span_start", "span_end", "distractors", "distractor_sources",
    )
    produces: ClassVar[tuple[str, ...]] = ("distractors", "distractor_sources")

    num_options: int = Field(9, ge=2, le=26, description="Options per task, gold included: keeps num_options - 1.")
    solvers: list[str] = Field(
        default_factory=lambda: list(SELECTION_SOLVERS),
        description="Shortcut solvers (goose.audit.solvers names) the choice plays against.",
    )
    max_rounds: int = Field(30, ge=0, description="Most rounds of single swaps that improve the choice.")

    @field_validator("solvers")
    @classmethod
    def _known_solvers(cls, names: list[str]) -> list[str]:
        for name in names:
            solver_by_name(name)  # raises with the list of known names
        return names

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        columns = list(self.requires) + (["source_id"] if "source_id" in batch.column_names else [])
        rows = batch.select(columns).to_pylist()
        outcomes = RowOutcomes(
            batch, types={"distractors": pa.list_(pa.string()), "distractor_sources": pa.list_(pa.string())}
        )
        if not rows:
            return outcomes.result()
        masked = [r["text"][: r["span_start"]] + MASK_TOKEN + r["text"][r["span_end"] :] for r in rows]
        options = [[r["gold"], *(r["distractors"] or [])] for r in rows]
        features = BatchFeatures(masked, options)
        solvers = [solver_by_name(name) for name in self.solvers]
        solvers = [s for s in solvers if s.unavailable_reason() is None]
        per_solver = [features.split(s.score_features(features)) for s in solvers]
        k = self.num_options - 1
        choices = []
        for index, row in enumerate(rows):
            candidates = row["distractors"] or []
            scores = np.vstack([scores[index] for scores in per_solver]) if per_solver else np.zeros((0, len(candidates) + 1))
            choices.append(choose_from_scores(
                scores, [s.name for s in solvers], k=k, rng=context.rng(self.name, row.get("source_id"), row["gold"]),
                max_rounds=self.max_rounds,
            ))
        if "centroid" in self.solvers:
            self._away_from_the_centre(rows, masked, choices)
        for index, (row, choice) in enumerate(zip(rows, choices)):
            candidates = row["distractors"] or []
            sources = row["distractor_sources"] or [""] * len(candidates)
            outcomes.keep(
                index,
                distractors=[candidates[i] for i in choice.indices],
                distractor_sources=[f"{sources[i]} | {why}" for i, why in zip(choice.indices, choice.why)],
            )
        return outcomes.result()

    @staticmethod
    def _away_from_the_centre(rows: list[dict], masked: list[str], choices: list[Choice], rounds: int = 3) -> None:
        """The ``centroid`` solver depends on the whole option set, so the choice scored it on
        every candidate; here it is checked on the chosen set. Where the gold is the option
        most like the others (the centre of its own look-alikes), the chosen option closest to
        the gold is swapped for the first unchosen candidate less close to it than the chosen
        ones are on average, up to ``rounds`` times."""
        centroid = solver_by_name("centroid")
        for _ in range(rounds):
            sets = [[row["gold"], *[(row["distractors"] or [])[i] for i in choice.indices]]
                    for row, choice in zip(rows, choices)]
            _, solved = tie_credits(centroid.score_batch(masked, sets), [0] * len(sets))
            changed = False
            for row, choice, options, gold_is_centre in zip(rows, choices, sets, solved):
                if len(options) < 2 or not gold_is_centre:
                    continue
                candidates = row["distractors"] or []
                to_gold = similarity_matrix([row["gold"]], candidates)[0]
                slot = int(np.argmax(to_gold[choice.indices]))
                typical = float(np.mean(to_gold[choice.indices]))
                spare = [i for i in range(len(candidates)) if i not in choice.indices and to_gold[i] < typical]
                if not spare:
                    continue
                choice.indices[slot] = spare[0]
                choice.why[slot] = "swapped in: the gold was the centre of the chosen options"
                changed = True
            if not changed:
                break
