"""ProbeDifficulty: let a small "student" model answer each task and drop the ones it finds trivial.

This is the paper's difficulty filter (step 7 of the Golden Goose method): a student model
answers each assembled task, and a task it always solves is dropped as too easy (the span
could be inferred from the context alone). Tasks it never solves are kept by default, as
in the paper; ``min_pass_rate`` drops them too when you want that.

Two ways to measure the pass rate (``mode``):

* ``rollouts`` (the paper's): the task's ``question`` is sampled ``rollouts`` times
  (``SamplingParams(n=rollouts, temperature=...)``, one request per task, the back end
  draws the samples); each rollout's letter is read with :func:`goose.reward.extract_answer`
  (the verifier the RL trainer will use) and the pass rate is the share equal to ``answer``.
* ``logprobs`` (cheap): one pass with :func:`goose.engines.scoring.score_letters` on the
  question with a letter-only answer instruction; the pass rate is the softmax probability
  of the gold letter over the task's option letters (letters outside the model's top
  log-probabilities count as probability 0).

A task is kept when ``min_pass_rate <= pass_rate <= upper bound``. With
``max_pass_rate=None`` (the default) the upper bound is "short of certain": in
``rollouts`` mode only tasks solved in every rollout are dropped; in ``logprobs`` mode a
task is dropped when ``p ** rollouts >= 0.5``, i.e. when ``rollouts`` samples would more
likely than not all be right, so the paper's filter would more likely than not drop it.

``option_orders=k`` spreads the probe over ``k`` orders of the options (the task's own and
cyclic shifts that move the gold to other letters; in ``rollouts`` mode ``rollouts / k``
samples each, in ``logprobs`` mode the gold's probability averaged over the orders), with
letters mapped back to the task's order. A student biased towards one letter (small models
often favour "A") then solves every task equally rarely instead of "solving" the tasks
whose answer is its favourite letter, so the filter no longer drops tasks by answer letter
and the run's letter balance survives the probe. ``1`` (the default) probes the task
exactly as shown, as the paper does.

``check_without_passage=True`` also asks every task with the passage left out (options
only, prompt ``probe_no_passage``): a task the student answers from the options alone
(no-passage pass rate ``>= no_passage_max_pass_rate``) tests option artefacts, not
reasoning, and is dropped. Both probes of a batch go out in ONE engine call.

Input columns: task rows (:data:`goose.schema.TASK_SCHEMA`, as ``AssembleTasks`` writes
them), of which it reads ``domain``, ``options``, ``answer``, ``question``, ``lineage``.
Output columns: ``lineage``, rebuilt with ``probe_model`` (the engine's model),
``probe_letters`` (each rollout's letter, ``""`` when it committed to none; in
``logprobs`` mode the one most likely letter) and ``probe_pass_rate``; every other field
and column is kept as it was, so the rows stay valid tasks.
Drops: ``too_easy`` (above the upper bound), ``too_hard`` (below ``min_pass_rate``),
``answerable_without_passage``, ``no_letter_logprobs`` (``logprobs`` mode: no option
letter among the model's most likely next tokens, so the task cannot be rated), and
``engine_<kind>`` when a request failed (see :class:`goose.engines.Failure`).

>>> from goose import Task
>>> from goose.engines import Engine
>>> from goose.engines.testing import ScriptedBackend
>>> from goose.schema import tasks_to_table
>>> task = Task.build(domain="math", source_id="d", passage="x = 2. So y = 4. Done.", span=(7, 16),
...     distractors=["So y = 5.", "So y = 9."], answer_index=1, seed=0)
>>> engine = Engine(ScriptedBackend([r"So \\boxed{B}"]))
>>> result = ProbeDifficulty(rollouts=4).process(tasks_to_table([task]), RunContext(engine=engine))
>>> [(drop.reason, drop.detail) for drop in result.drops]
[('too_easy', 'pass rate 1.000 (B x4)')]
>>> ProbeDifficulty(rollouts=4).keeps(0.75), ProbeDifficulty(mode="logprobs").keeps(0.99)
(True, False)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Literal

import pyarrow as pa
from pydantic import Field, model_validator

from goose.engines.engine import Engine
from goose.engines.scoring import score_letters
from goose.engines.types import ChatRequest, Failure, Generation, SamplingParams
from goose.options import letter_for
from goose.pipeline.operator import MAIN_ENGINE, BatchResult, Operator, RowOutcomes, RunContext
from goose.prompts.untrusted import escape_delimiters
from goose.prompts import load_prompt
from goose.question import ANSWER_INSTRUCTION, render_question
from goose.reward import extract_answer

LETTER_ONLY_INSTRUCTION = "Reply with the letter of the correct option only, one of {letters}, and nothing else."
"""Answer instruction of ``logprobs`` mode: the letter must be the model's first token."""

NO_PASSAGE_PROMPT = "probe_no_passage"
"""Packaged prompt (``goose/prompts/probe_no_passage.txt``) of the options-only probe."""

_Probe = tuple[list[str], float] | Failure | str
"""One probe's outcome: (letters, pass rate), a failed request, or a drop reason code."""

LIKELY_ALL_RIGHT = 0.5
"""``logprobs`` mode's default bound: drop when all ``rollouts`` samples are right with at least this chance."""


class ProbeDifficulty(Operator):
    """Probe each task with a student model; drop the tasks it always solves."""

    requires: ClassVar[tuple[str, ...]] = ("domain", "options", "answer", "question", "lineage")
    produces: ClassVar[tuple[str, ...]] = ("lineage",)
    uses_engine: ClassVar[bool] = True

    mode: Literal["rollouts", "logprobs"] = Field(
        "rollouts", description="rollouts: sample and verify (the paper); logprobs: one pass, gold letter's probability."
    )
    rollouts: int = Field(16, ge=1, le=128, description="Samples per task (the paper: 16); logprobs mode: see max_pass_rate.")
    temperature: float = Field(1.0, ge=0, le=2, description="Sampling temperature of the rollouts.")
    max_tokens: int = Field(
        2048, ge=1, description="Most tokens per rollout; a rollout cut off before its answer counts as wrong."
    )
    min_pass_rate: float = Field(0.0, ge=0, le=1, description="Drop tasks below this pass rate (too_hard); 0 keeps all.")
    max_pass_rate: float | None = Field(
        None, ge=0, le=1,
        description="Drop tasks above this pass rate (too_easy); None: only tasks solved in every rollout "
        "(logprobs mode: p ** rollouts >= 0.5).",
    )
    check_without_passage: bool = Field(
        False, description="Also ask each task without its passage; drop tasks answerable from the options alone."
    )
    no_passage_max_pass_rate: float = Field(
        0.5, gt=0, le=1, description="Drop (answerable_without_passage) at or above this no-passage pass rate."
    )
    option_orders: int = Field(
        1, ge=1, le=26,
        description="Orders of the options the probe is spread over (1: the task as shown); see the module docstring.",
    )
    engine_role: str = Field(
        MAIN_ENGINE, min_length=1,
        description="Which engine probes: 'main', or another role such as 'probe' given as Pipeline(engines={'probe': small}).",
    )

    @model_validator(mode="after")
    def _window_in_order(self) -> ProbeDifficulty:
        if self.max_pass_rate is not None and self.max_pass_rate < self.min_pass_rate:
            raise ValueError("max_pass_rate must be at least min_pass_rate")
        if self.mode == "rollouts" and self.rollouts % self.option_orders:
            raise ValueError(f"rollouts ({self.rollouts}) must be a multiple of option_orders ({self.option_orders})")
        return self

    def engine_roles(self) -> tuple[str, ...]:
        return (self.engine_role,)

    def keeps(self, pass_rate: float) -> bool:
        """Whether a task with this pass rate is inside the keep window."""
        return self.min_pass_rate <= pass_rate and not self._too_easy(pass_rate)

    def _too_easy(self, pass_rate: float) -> bool:
        if self.max_pass_rate is not None:
            return pass_rate > self.max_pass_rate
        if self.mode == "rollouts":
            return pass_rate >= 1.0
        return pass_rate**self.rollouts >= LIKELY_ALL_RIGHT

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        engine = context.require_engine(self.name, self.engine_role)
        rows = batch.select(list(self.required_columns())).to_pylist()
        shifts = [_shifts(len(row["options"]), self.option_orders) for row in rows]
        prompts = [self._question_prompt(row, shift) for row, row_shifts in zip(rows, shifts) for shift in row_shifts]
        owners = [(index, shift) for index, row_shifts in enumerate(shifts) for shift in row_shifts]
        if self.check_without_passage:
            prompts += [self._no_passage_prompt(row) for row in rows]
            owners += [(index, 0) for index in range(len(rows))]
        probes: list[_Probe]
        if self.mode == "rollouts":
            probes = self._probe_rollouts(engine, prompts, rows, owners, context.seed)
        else:
            probes = self._probe_logprobs(engine, prompts, rows, owners)
        asked = len(prompts) - (len(rows) if self.check_without_passage else 0)
        with_passage = _combine_orders(probes[:asked], [len(row_shifts) for row_shifts in shifts])
        without_passage = probes[asked:]

        outcomes = RowOutcomes(batch)
        kept: list[tuple[list[str], float]] = []
        for index, probe in enumerate(with_passage):
            if isinstance(probe, Failure):
                outcomes.drop(index, probe.reason, probe.message)
                continue
            if isinstance(probe, str):
                outcomes.drop(index, probe, "no option letter among the most likely next tokens")
                continue
            letters, rate = probe
            if not self.keeps(rate):
                reason = "too_hard" if rate < self.min_pass_rate else "too_easy"
                outcomes.drop(index, reason, f"pass rate {rate:.3f} ({_letters_detail(letters)})")
                continue
            if without_passage:
                blind = without_passage[index]
                if isinstance(blind, Failure):
                    outcomes.drop(index, blind.reason, f"no-passage probe: {blind.message}")
                    continue
                blind_rate = 0.0 if isinstance(blind, str) else blind[1]
                if blind_rate >= self.no_passage_max_pass_rate:
                    outcomes.drop(
                        index, "answerable_without_passage",
                        f"no-passage pass rate {blind_rate:.3f} >= {self.no_passage_max_pass_rate} (with passage {rate:.3f})",
                    )
                    continue
            outcomes.keep(index)
            kept.append((letters, rate))
        result = outcomes.result()
        lineage = _with_probe_fields(result.kept.column("lineage"), engine.model, kept)
        table = result.kept.set_column(result.kept.schema.get_field_index("lineage"), "lineage", lineage)
        return BatchResult(table, result.drops)

    # -- prompts ----------------------------------------------------------------------------

    def _answer_instruction(self, options: Sequence[str]) -> str:
        letters = ", ".join(letter_for(i) for i in range(len(options)))
        template = ANSWER_INSTRUCTION if self.mode == "rollouts" else LETTER_ONLY_INSTRUCTION
        return template.format(letters=letters)

    def required_columns(self) -> tuple[str, ...]:
        return (*self.requires, "masked_text") if self.option_orders > 1 else self.requires

    def _question_prompt(self, row: dict, shift: int = 0) -> str:
        """The task's own question (its options shifted by ``shift`` places when ``shift``);
        in logprobs mode with its answer instruction swapped for a letter-only one."""
        question = row["question"]
        if shift:
            question = render_question(row["masked_text"], _shifted(row["options"], shift), row["domain"])
        if self.mode == "rollouts":
            return question
        letters = ", ".join(letter_for(i) for i in range(len(row["options"])))
        usual = ANSWER_INSTRUCTION.format(letters=letters)
        body = question[: -len(usual)] if question.endswith(usual) else question.rstrip() + "\n\n"
        return body + self._answer_instruction(row["options"])

    def _no_passage_prompt(self, row: dict) -> str:
        lettered = "\n".join(f"{letter_for(i)}. {escape_delimiters(option)}" for i, option in enumerate(row["options"]))
        return load_prompt(NO_PASSAGE_PROMPT).render(
            domain=row["domain"], options=lettered, answer_instruction=self._answer_instruction(row["options"])
        )

    # -- probes -----------------------------------------------------------------------------

    def _probe_rollouts(
        self, engine: Engine, prompts: list[str], rows: list[dict], owners: list[tuple[int, int]], seed: int
    ) -> list[_Probe]:
        samples = self.rollouts // self.option_orders
        requests = [
            # the no-passage probe (after the tasks' own prompts) always gets every rollout
            ChatRequest.user(prompt, SamplingParams(
                n=samples if position < len(prompts) - self.check_without_passage * len(rows) else self.rollouts,
                temperature=self.temperature, max_tokens=self.max_tokens, seed=seed,
            ))
            for position, prompt in enumerate(prompts)
        ]
        answers = engine.generate(requests, tag=self.name)
        probes: list[_Probe] = []
        for answer, (index, shift) in zip(answers, owners):
            if isinstance(answer, Failure):
                probes.append(answer)
                continue
            probes.append(_rollout_pass_rate(answer, rows[index]["answer"], shift, len(rows[index]["options"])))
        return probes

    def _probe_logprobs(
        self, engine: Engine, prompts: list[str], rows: list[dict], owners: list[tuple[int, int]]
    ) -> list[_Probe]:
        most = max((len(row["options"]) for row in rows), default=0)
        letters = "".join(letter_for(i) for i in range(most))
        scores = score_letters(engine, [ChatRequest.user(p) for p in prompts], letters, tag=self.name)
        probes: list[_Probe] = []
        for scored, (index, shift) in zip(scores, owners):
            if isinstance(scored, Failure):
                probes.append(scored)
                continue
            row = rows[index]
            count = len(row["options"])
            # the letter that shows option i of the task's own order is at position (i - shift) mod count
            own = {letter_for(i): scored[letter_for((i - shift) % count)] for i in range(count)}
            probes.append(_softmax_pass_rate(own, row["answer"]))
        return probes


PRESET_OPTION_ORDERS = 4
"""Option orders the presets probe with (fewer when the rollouts do not split evenly)."""


def preset_option_orders(rollouts: int, mode: str = "rollouts") -> int:
    """The presets' ``option_orders``: up to :data:`PRESET_OPTION_ORDERS`, a divisor of
    ``rollouts`` in ``rollouts`` mode.

    >>> preset_option_orders(16), preset_option_orders(6), preset_option_orders(3, "logprobs")
    (4, 3, 4)
    """
    if mode != "rollouts":
        return PRESET_OPTION_ORDERS
    return max(k for k in range(1, PRESET_OPTION_ORDERS + 1) if rollouts % k == 0)


def _shifts(count: int, orders: int) -> list[int]:
    """How far the options move in each probed order: 0 first, then spread over ``count``.

    >>> _shifts(9, 1), _shifts(9, 4), _shifts(2, 4)
    ([0], [0, 2, 4, 7], [0, 1])
    """
    return sorted({round(k * count / orders) % count for k in range(orders)})


def _shifted(options: Sequence[str], shift: int) -> list[str]:
    """The options moved ``shift`` places: option ``i`` of the task is shown at ``(i - shift) mod n``.

    >>> _shifted(["a", "b", "c"], 1)
    ['b', 'c', 'a']
    """
    return [options[(position + shift) % len(options)] for position in range(len(options))]


def _combine_orders(probes: list[_Probe], orders_per_row: list[int]) -> list[_Probe]:
    """One probe per task from its orders' probes: letters joined, pass rates averaged over
    the orders that could be rated; a failed request makes the task's probe that failure,
    and a task with no ratable order gets the reason (``no_letter_logprobs``)."""
    combined: list[_Probe] = []
    start = 0
    for count in orders_per_row:
        parts = probes[start : start + count]
        start += count
        failure = next((part for part in parts if isinstance(part, Failure)), None)
        tuples = [part for part in parts if isinstance(part, tuple)]
        if failure is not None or not tuples:
            combined.append(failure if failure is not None else parts[0])
            continue
        combined.append(([letter for letters, _ in tuples for letter in letters], sum(rate for _, rate in tuples) / len(tuples)))
    return combined


def _rollout_pass_rate(
    generation: Generation, answer: str, shift: int = 0, count: int = 0
) -> tuple[list[str], float] | Failure:
    """Each rollout's letter (``""`` when none; mapped back to the task's own order when
    the options were shown shifted) and the share equal to ``answer``."""
    if not generation.texts:
        return Failure(kind="empty_response", message="the back end returned no rollouts")
    letters = [extract_answer(text) or "" for text in generation.texts]
    if shift:
        letters = [_unshifted(letter, shift, count) for letter in letters]
    gold = answer.strip().upper()
    return letters, sum(letter == gold for letter in letters) / len(letters)


def _unshifted(letter: str, shift: int, count: int) -> str:
    """The task's own letter of the option shown as ``letter`` in an order shifted by ``shift``.

    >>> _unshifted("A", 1, 3), _unshifted("", 1, 3), _unshifted("Z", 1, 3)
    ('B', '', '')
    """
    position = ord(letter) - ord("A") if len(letter) == 1 else -1
    return letter_for((position + shift) % count) if 0 <= position < count else ""


def _softmax_pass_rate(scores: dict[str, float], answer: str) -> tuple[list[str], float] | str:
    """The most likely letter and the gold letter's softmax probability over the options.

    >>> _softmax_pass_rate({"A": math.log(0.5), "B": math.log(0.5), "C": -math.inf}, "A")
    (['A'], 0.5)
    """
    finite = {letter: value for letter, value in scores.items() if value > -math.inf}
    if not finite:
        return "no_letter_logprobs"
    top = max(finite.values())
    weights = {letter: math.exp(value - top) for letter, value in finite.items()}
    best = max(finite, key=finite.__getitem__)
    return [best], weights.get(answer.strip().upper(), 0.0) / sum(weights.values())


def _letters_detail(letters: list[str]) -> str:
    """``letters`` compactly for a drop detail, e.g. ``C x14, none x2``."""
    counts: dict[str, int] = {}
    for letter in letters:
        counts[letter or "none"] = counts.get(letter or "none", 0) + 1
    return ", ".join(f"{letter} x{n}" for letter, n in sorted(counts.items(), key=lambda item: -item[1]))


def _with_probe_fields(
    lineage: pa.ChunkedArray, probe_model: str, probes: list[tuple[list[str], float]]
) -> pa.StructArray:
    """The ``lineage`` struct column with ``probe_model``, ``probe_letters`` and
    ``probe_pass_rate`` set from ``probes`` (one per row); every other field untouched."""
    column = lineage.combine_chunks() if lineage.num_chunks != 1 else lineage.chunk(0)
    assert isinstance(column, pa.StructArray)
    new = {
        "probe_model": pa.array([probe_model] * len(probes), type=pa.string()),
        "probe_letters": pa.array([letters for letters, _ in probes], type=pa.list_(pa.string())),
        "probe_pass_rate": pa.array([rate for _, rate in probes], type=pa.float64()),
    }
    fields = list(column.type)
    arrays = [new.get(field.name, column.field(i)) for i, field in enumerate(fields)]
    names = {field.name for field in fields}
    for name, array in new.items():  # a lineage written before the probe fields existed
        if name not in names:
            fields.append(pa.field(name, array.type))
            arrays.append(array)
    fields = [pa.field(f.name, new[f.name].type) if f.name in new else f for f in fields]
    return pa.StructArray.from_arrays(arrays, fields=fields, mask=column.is_null() if column.null_count else None)
