"""JudgeDistractors: ask an LLM which distractors would ALSO correctly fill the gap, and remove them.

A verifiable task needs exactly one right option. The rule-based :class:`FilterDistractors`
catches copies, near-copies and length give-aways, but not a distractor that says the same
thing in other words, or makes another valid step that the passage agrees with; only a
reader of the whole passage can. This operator shows the judge model the passage with
``[MASK]``, the original span and the numbered distractors (prompt ``judge_distractors``)
and asks for the numbers of those that are also correct (JSON ``{"also_correct": [2, 5]}``,
one structured request per row, all rows of a batch in one engine call). Those distractors
are removed; numbers outside the list are ignored. Run it after ``FilterDistractors``
(fewer, cleaner distractors make the judge's job smaller) and before ``AssembleTasks``.

Input columns: ``text`` (the full passage), ``gold``, ``span_start``, ``span_end``,
``distractors``, ``distractor_sources``.
Output columns: ``distractors``, ``distractor_sources`` (judged-correct ones removed, order kept).
Drops: ``too_few_distractors`` (the reason code of ``FilterDistractors``) when fewer than
``min_distractors`` remain (rows already short are dropped without a request), and
``engine_<kind>`` when the judge's request failed or its answer was not the asked-for
JSON after one retry (``engine_malformed_json``, ``engine_schema_mismatch``, ...).

>>> from goose.engines import Engine
>>> from goose.engines.testing import ScriptedBackend
>>> row = {"text": "x = 2. So y = 4. Done.", "gold": "So y = 4.", "span_start": 7, "span_end": 16,
...        "distractors": ["So y = 2 + 2.", "So y = 5."], "distractor_sources": ["a", "b"]}
>>> judge = JudgeDistractors(min_distractors=1)
>>> engine = Engine(ScriptedBackend(['{"also_correct": [1]}']))
>>> judge.process(pa.Table.from_pylist([row]), RunContext(engine=engine)).kept["distractors"].to_pylist()
[['So y = 5.']]
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from goose.engines.structured import generate_json
from goose.engines.types import ChatRequest, Failure, SamplingParams
from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext
from goose.prompts.untrusted import escape_delimiters, fence
from goose.prompts import load_prompt
from goose.question import MASK_TOKEN

JUDGE_PROMPT = "judge_distractors"
"""Packaged prompt (``goose/prompts/judge_distractors.txt``) of the judge."""

MAX_LISTED = 64
"""Most numbers the judge may list: with a schema-constrained back end this stops a weak
model that counts 1, 2, 3, ... until its token budget runs out (a cut-off, unusable answer)."""


class DistractorVerdict(BaseModel):
    """The judge's answer: 1-based numbers of the candidates that also fill the gap correctly.

    >>> DistractorVerdict.model_validate({"also_correct": [2]}).also_correct
    [2]
    """

    model_config = ConfigDict(extra="ignore")

    also_correct: list[int] = Field(
        max_length=MAX_LISTED,
        description="Numbers of the candidates that are also correct; [] for none.",
    )


class JudgeDistractors(Operator):
    """Remove distractors that an LLM judge finds also correct in context."""

    requires: ClassVar[tuple[str, ...]] = (
        "text", "gold", "span_start", "span_end", "distractors", "distractor_sources",
    )
    produces: ClassVar[tuple[str, ...]] = ("distractors", "distractor_sources")
    uses_engine: ClassVar[bool] = True

    min_distractors: int = Field(8, ge=1, description="Fewest distractors a task needs (options - 1).")
    max_tokens: int = Field(256, ge=16, description="Most tokens of the judge's JSON answer.")
    temperature: float = Field(0.0, ge=0, le=2, description="Judge sampling temperature (0: greedy).")

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        engine = context.require_engine(self.name)
        rows = batch.select(list(self.requires)).to_pylist()
        outcomes = RowOutcomes(
            batch, types={"distractors": pa.list_(pa.string()), "distractor_sources": pa.list_(pa.string())}
        )
        asked = [i for i, row in enumerate(rows) if len(row["distractors"] or []) >= self.min_distractors]
        for index in sorted(set(range(len(rows))) - set(asked)):
            have = len(rows[index]["distractors"] or [])
            outcomes.drop(index, "too_few_distractors", f"{have} distractors before judging, need {self.min_distractors}")
        sampling = SamplingParams(temperature=self.temperature, max_tokens=self.max_tokens, seed=context.seed)
        requests = [ChatRequest.user(self._prompt(rows[i]), sampling) for i in asked]
        verdicts = generate_json(engine, requests, DistractorVerdict, tag=self.name) if requests else []
        for index, verdict in zip(asked, verdicts):
            if isinstance(verdict, Failure):
                outcomes.drop(index, verdict.reason, verdict.message)
                continue
            row = rows[index]
            distractors = row["distractors"]
            sources = list(row["distractor_sources"] or [])
            sources += [""] * (len(distractors) - len(sources))  # a missing source stays unknown, never an error
            wrong = set(verdict.also_correct)
            kept = [i for i in range(len(distractors)) if i + 1 not in wrong]
            if len(kept) < self.min_distractors:
                outcomes.drop(
                    index, "too_few_distractors",
                    f"{len(kept)} of {len(distractors)} left, need {self.min_distractors} "
                    f"(judged also correct: {sorted(n for n in wrong if 1 <= n <= len(distractors))})",
                )
                continue
            outcomes.keep(index, distractors=[distractors[i] for i in kept], distractor_sources=[sources[i] for i in kept])
        return outcomes.result()

    @staticmethod
    def _prompt(row: dict) -> str:
        text, start, end = row["text"], row["span_start"], row["span_end"]
        # untrusted text stays inside its tags: a passage or candidate cannot close them early
        candidates = "\n".join(
            fence(d, "candidate", f'number="{n}"') for n, d in enumerate(row["distractors"], start=1)
        )
        masked = escape_delimiters(text[:start]) + MASK_TOKEN + escape_delimiters(text[end:])
        return load_prompt(JUDGE_PROMPT).render(masked_passage=masked, gold=escape_delimiters(row["gold"]), candidates=candidates)
