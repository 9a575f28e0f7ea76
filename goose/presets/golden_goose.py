"""The Golden Goose chain on an LLM engine: the method of the paper, plus goose's checks.

clean -> (noisy web text only) extract an educational passage -> dedup documents ->
mask a reasoning span and write distractors in one structured call -> distractor quality
filter -> (optional) LLM judge of distractors -> adversarial choice of the wrong options
(SelectDistractors) -> assemble -> drop tasks a shortcut solver answers -> dedup tasks -> (optional)
decontaminate against benchmark texts -> difficulty probe. The cheap filters (task dedup,
decontamination) run before the probe, so no rollouts are paid for copies or contaminated tasks.

For a weak model (the local CPU engine), ``span_choice="candidates"`` lets the model pick
one of goose's numbered spans instead of copying one, and ``top_up=True`` fills a short
distractor list from perturbations of the gold and spans of other passages (see
:class:`~goose.operators.MaskReasoningSpan`); ``probe_mode="logprobs"`` and a small
``probe_max_tokens`` keep the probe cheap.

Each step is a plain operator; the returned pipeline can be inspected and changed.

>>> from goose.engines import Engine
>>> from goose.engines.testing import ScriptedBackend
>>> pipeline = golden_goose_pipeline(Engine(ScriptedBackend(["{}"])), extract=True)
>>> [op.name for op in pipeline.operators][:4]
['PrepareText', 'HtmlToText', 'QualityFilter', 'ExtractPassage']
>>> local = golden_goose_pipeline(Engine(ScriptedBackend(["{}"])), span_choice="candidates", top_up=True,
...                               benchmarks={"demo": ["some benchmark text"]})
>>> mask = local.operators[4]
>>> mask.span_choice, mask.top_up, [op.name for op in local.operators][-3:]
('candidates', True, ['MinHashDedup', 'Decontaminate', 'ProbeDifficulty'])
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, validate_call

from goose.engines import Engine
from goose.operators import (
    AssembleTasks,
    Decontaminate,
    ExtractPassage,
    FilterDistractors,
    HtmlToText,
    JudgeDistractors,
    MaskReasoningSpan,
    MinHashDedup,
    PrepareText,
    ProbeDifficulty,
    QualityFilter,
    SelectDistractors,
    ShortcutFilter,
)
from goose.operators.probe_difficulty import preset_option_orders
from goose.operators.shortcut_filter import DEFAULT_FILTER_SOLVERS
from goose.pipeline import Operator, Pipeline
from goose.presets.offline import BatchSize, NumOptions, Seed


@validate_call(config=ConfigDict(arbitrary_types_allowed=True))
def golden_goose_pipeline(
    engine: Engine,
    *,
    num_options: NumOptions = 9,
    extract: bool = False,
    judge_distractors: bool = False,
    probe_rollouts: Annotated[int, Field(ge=1, strict=True)] | None = 16,
    benchmarks: dict[str, list[str]] | None = None,
    default_domain: str = "general",
    seed: Seed = 0,
    batch_size: BatchSize = 64,
    max_tokens: Annotated[int, Field(ge=1, strict=True)] = 2048,
    span_choice: Literal["free", "candidates"] = "free",
    top_up: bool = False,
    mask_max_tokens: Annotated[int, Field(ge=1, strict=True)] | None = None,
    probe_mode: Literal["rollouts", "logprobs"] = "rollouts",
    probe_max_tokens: Annotated[int, Field(ge=1, strict=True)] | None = None,
    shortcut_solvers: tuple[str, ...] | list[str] | None = DEFAULT_FILTER_SOLVERS,
) -> Pipeline:
    """The full chain on ``engine``; parameters are checked at the call (a
    ``pydantic.ValidationError`` names the bad one).

    ``shortcut_solvers`` are the cheap solvers whose tasks :class:`ShortcutFilter` drops
    (``None``: no filter; the run's audit still reports every solver).

    ``extract`` adds :class:`ExtractPassage` (for noisy web pages; clean passages such as
    question + solution pairs skip it). ``judge_distractors`` asks the engine whether a
    distractor also fits. ``probe_rollouts`` (``None``: no probe) is how many times the
    probe answers each task; the probe drops tasks solved in every rollout, and spreads its
    rollouts over up to 4 orders of the options so that a student biased towards one letter
    does not drop the tasks whose answer is that letter.
    ``benchmarks`` (name -> texts) adds decontamination. ``max_tokens`` bounds the
    engine's answers in the extraction and masking steps (``mask_max_tokens``, when given,
    in the masking step alone). ``span_choice`` and ``top_up`` are
    :class:`~goose.operators.MaskReasoningSpan`'s (``"candidates"`` and ``True`` for weak
    models); ``probe_mode`` and ``probe_max_tokens`` (``None``: the operator's default) are
    :class:`~goose.operators.ProbeDifficulty`'s.
    """
    steps: list[Operator] = [PrepareText(default_domain=default_domain), HtmlToText(), QualityFilter()]
    if extract:
        steps.append(ExtractPassage(max_tokens=max_tokens))
    steps += [
        MinHashDedup(),
        MaskReasoningSpan(
            min_distractors=num_options - 1, max_tokens=mask_max_tokens or max_tokens, span_choice=span_choice,
            top_up=top_up,
        ),
        FilterDistractors(min_distractors=num_options - 1),
    ]
    if judge_distractors:
        steps.append(JudgeDistractors(min_distractors=num_options - 1))
    steps += [SelectDistractors(num_options=num_options), AssembleTasks(num_options=num_options)]
    if shortcut_solvers:
        steps.append(ShortcutFilter(solvers=list(shortcut_solvers)))
    steps.append(MinHashDedup(fields=["masked_text", "gold"]))  # before the probe: no rollouts for copies
    if benchmarks:
        steps.append(Decontaminate(benchmarks=benchmarks))
    if probe_rollouts is not None:
        probe_options = {} if probe_max_tokens is None else {"max_tokens": probe_max_tokens}
        orders = preset_option_orders(probe_rollouts, probe_mode)  # a letter-biased probe must not drop tasks by letter
        steps.append(ProbeDifficulty(rollouts=probe_rollouts, mode=probe_mode, option_orders=orders, **probe_options))
    return Pipeline(steps, seed=seed, batch_size=batch_size, engine=engine)
