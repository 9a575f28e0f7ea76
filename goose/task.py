"""The task record: one verifiable multiple-choice cloze item, and the rules it must obey.

A task is valid when (each rule has a reason code, used in rejects tables):

* ``mask_count``: ``masked_text`` holds exactly one ``[MASK]``;
* ``empty_gold``: the gold span has non-blank text;
* ``gold_offsets``: the gold sits at ``lineage.span_start:span_end`` of the source passage,
  i.e. putting the gold back into ``[MASK]`` rebuilds a passage whose SHA-256 is
  ``lineage.passage_sha256`` and ``[MASK]`` starts at ``span_start``;
* ``option_count``: 2 to 26 options, none blank;
* ``duplicate_options``: no two options are near-duplicates (see
  :data:`goose.options.NEAR_DUPLICATE_SIMILARITY`);
* ``gold_not_once``: the gold is among the options exactly once;
* ``answer_letter``: ``answer`` is the letter of the gold option;
* ``gold_leak``: the gold does not occur verbatim (case and spacing ignored) in the masked text;
* ``question_mismatch``: the question shows the masked text and every option;
* ``lineage_mismatch``: ``lineage.option_sources`` has one entry per option.

>>> task = Task.build(domain="math", source_id="d1", passage="We have x = 2. So y = 4. Done.",
...     span=(15, 24), distractors=["So y = 5.", "So y = 9."], answer_index=1, seed=0)
>>> task.answer, task.options[1]
('B', 'So y = 4.')
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from goose.options import (
    LETTERS,
    index_for,
    letter_for,
    near_duplicate_pairs,
    normalize_for_comparison,
)
from goose.question import MASK_TOKEN, render_question


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of UTF-8 text.

    >>> sha256_hex("")[:8]
    'e3b0c442'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_id_for(text: str, *candidates: object) -> str:
    """A row's source id: the first candidate (an id column, a URL) that is not blank,
    stripped; else ``sha-`` and 16 hex digits of the text's SHA-256. One rule for every
    first step, so the same record gets the same id whichever step read it.

    >>> source_id_for("some text", None, " doc-7 "), source_id_for("some text", "", None)
    ('doc-7', 'sha-b94f6f125c79e3a5')
    """
    for candidate in candidates:
        if candidate is not None and str(candidate).strip():
            return str(candidate).strip()
    return "sha-" + sha256_hex(text)[:16]


class Lineage(BaseModel):
    """Where a task came from and what made it.

    >>> Lineage(passage_sha256="ab", span_start=0, span_end=3, seed=0).engine is None
    True
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    passage_sha256: str = Field(description="SHA-256 of the source passage the span was cut from.")
    span_start: int = Field(ge=0, description="Character offset of the gold span in the passage.")
    span_end: int = Field(ge=0, description="Character offset just past the gold span.")
    document_id: str | None = Field(
        default=None, description="Id of the document the passage was cut from (SplitPassages), if it was cut."
    )
    document_start: int | None = Field(
        default=None, ge=0,
        description="Character offset of the passage in that document (the gold is at document_start + span_start "
        "unless an LLM step such as ExtractPassage rewrote the passage).",
    )
    seed: int = Field(description="Seed of the run that made the task.")
    operators: list[str] = Field(default_factory=list, description="'Name/version' of each operator.")
    option_sources: list[str] = Field(
        default_factory=list,
        description="Per option: 'gold', or where the distractor came from (e.g. 'corpus:doc-7').",
    )
    engine: str | None = Field(default=None, description="LLM back end that wrote the span/options.")
    model: str | None = Field(default=None, description="Model name used for synthesis.")
    prompt_version: str | None = Field(default=None, description="Id of the synthesis prompt.")
    probe_model: str | None = Field(default=None, description="Model that probed the difficulty.")
    probe_letters: list[str] | None = Field(default=None, description="Letter of each probe rollout.")
    probe_pass_rate: float | None = Field(default=None, ge=0, le=1, description="Share of rollouts right.")


class TaskProblem(ValueError):
    """A rule a task breaks: ``reason`` is a stable code, ``detail`` says what was seen.

    >>> str(TaskProblem("mask_count", "found 2"))
    'mask_count: found 2'
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def find_task_problem(
    *,
    masked_text: str,
    gold: str,
    options: Sequence[str],
    answer: str,
    question: str,
    lineage: Lineage,
) -> TaskProblem | None:
    """The first rule (in the order of the module docstring) these fields break, or None.

    >>> lineage = Lineage(passage_sha256=sha256_hex("ab"), span_start=1, span_end=2, seed=0,
    ...     option_sources=["gold", "x"])
    >>> find_task_problem(masked_text="a[MASK]", gold="b", options=["b", "c"], answer="A",
    ...     question="a[MASK] b c", lineage=lineage) is None
    True
    """
    mask_count = masked_text.count(MASK_TOKEN)
    if mask_count != 1:
        return TaskProblem("mask_count", f"masked text holds {mask_count} {MASK_TOKEN} tokens, needs 1")
    if not gold.strip():
        return TaskProblem("empty_gold", "the gold span is blank")
    start = masked_text.index(MASK_TOKEN)
    rebuilt = masked_text[:start] + gold + masked_text[start + len(MASK_TOKEN) :]
    if (lineage.span_start, lineage.span_end) != (start, start + len(gold)):
        return TaskProblem(
            "gold_offsets",
            f"lineage span {lineage.span_start}:{lineage.span_end} but [MASK] at {start} "
            f"with a gold of {len(gold)} characters",
        )
    if sha256_hex(rebuilt) != lineage.passage_sha256:
        return TaskProblem("gold_offsets", "gold put back into [MASK] does not rebuild the source passage")
    if not 2 <= len(options) <= len(LETTERS):
        return TaskProblem("option_count", f"{len(options)} options, needs 2 to {len(LETTERS)}")
    if any(not option.strip() for option in options):
        return TaskProblem("option_count", "an option is blank")
    pairs = near_duplicate_pairs(options)
    if pairs:
        i, j = pairs[0]
        return TaskProblem("duplicate_options", f"options {letter_for(i)} and {letter_for(j)} are near-duplicates")
    gold_count = sum(option == gold for option in options)
    if gold_count != 1:
        return TaskProblem("gold_not_once", f"the gold is among the options {gold_count} times, needs 1")
    try:
        answer_index = index_for(answer)
    except ValueError as error:
        return TaskProblem("answer_letter", str(error))
    if answer != letter_for(answer_index) or answer_index >= len(options) or options[answer_index] != gold:
        return TaskProblem("answer_letter", f"answer {answer!r} does not point to the gold option")
    if normalize_for_comparison(gold) in normalize_for_comparison(masked_text):
        return TaskProblem("gold_leak", "the gold occurs verbatim in the masked text")
    if masked_text not in question or any(option not in question for option in options):
        return TaskProblem("question_mismatch", "the question does not show the masked text and every option")
    if len(lineage.option_sources) != len(options):
        return TaskProblem(
            "lineage_mismatch", f"{len(lineage.option_sources)} option sources for {len(options)} options"
        )
    return None


def make_task_id(domain: str, source_id: str, lineage: Lineage, options: Sequence[str], answer: str) -> str:
    """A stable id: the same passage, span, options, answer and seed give the same id.

    >>> len(make_task_id("math", "d", Lineage(passage_sha256="x", span_start=0, span_end=1, seed=0), ["a"], "A"))
    20
    """
    key = json.dumps(
        [domain, source_id, lineage.passage_sha256, lineage.span_start, lineage.span_end,
         list(options), answer, lineage.seed],
        ensure_ascii=False,
    )
    return "goose-" + sha256_hex(key)[:14]


class Task(BaseModel):
    """A validated multiple-choice cloze task; construction fails with the broken rule.

    Use :meth:`Task.build` to make one from a passage, a span and distractors.

    >>> Task.model_validate({"id": "x"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    pydantic_core._pydantic_core.ValidationError: ...
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="Stable id, see make_task_id.")
    domain: str = Field(min_length=1, description="math, stem, code, cyber, general, ...")
    source_id: str = Field(min_length=1, description="Id of the input document.")
    masked_text: str = Field(description="The passage with exactly one [MASK].")
    gold: str = Field(description="The removed span, verbatim from the passage.")
    options: list[str] = Field(description="Lettered options in display order; the gold once.")
    answer: str = Field(description="Letter of the gold option.")
    question: str = Field(description="The full prompt a policy model sees.")
    lineage: Lineage

    @model_validator(mode="after")
    def _obey_rules(self) -> Task:
        problem = find_task_problem(
            masked_text=self.masked_text,
            gold=self.gold,
            options=self.options,
            answer=self.answer,
            question=self.question,
            lineage=self.lineage,
        )
        if problem is not None:
            raise problem
        return self

    @classmethod
    def build(
        cls,
        *,
        domain: str,
        source_id: str,
        passage: str,
        span: tuple[int, int],
        distractors: Sequence[str],
        answer_index: int,
        seed: int,
        distractor_sources: Sequence[str] | None = None,
        **lineage_fields: object,
    ) -> Task:
        """Cut ``passage[span]`` out as the gold, place it at ``answer_index`` among the
        distractors, render the question and validate everything.

        >>> Task.build(domain="general", source_id="d", passage="One. Two. Three.", span=(5, 9),
        ...     distractors=["Six."], answer_index=0, seed=1).masked_text
        'One. [MASK] Three.'
        """
        start, end = span
        gold = passage[start:end]
        options = list(distractors)
        options.insert(answer_index, gold)
        sources = list(distractor_sources) if distractor_sources is not None else ["distractor"] * len(distractors)
        sources.insert(answer_index, "gold")
        masked_text = passage[:start] + MASK_TOKEN + passage[end:]
        lineage = Lineage(
            passage_sha256=sha256_hex(passage),
            span_start=start,
            span_end=start + len(gold),
            seed=seed,
            option_sources=sources,
            **lineage_fields,  # type: ignore[arg-type]
        )
        answer = letter_for(answer_index)
        return cls(
            id=make_task_id(domain, source_id, lineage, options, answer),
            domain=domain,
            source_id=source_id,
            masked_text=masked_text,
            gold=gold,
            options=options,
            answer=answer,
            question=render_question(masked_text, options, domain),
            lineage=lineage,
        )
