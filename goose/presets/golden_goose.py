"""The Golden Goose chain on an LLM engine: the method of the paper, plus goose's checks.

clean -> (noisy web text only) extract an educational passage -> dedup documents ->
mask a reasoning span and write distractors in one structured call -> distractor quality
filter -> (optional) LLM judge of distractors -> assemble -> dedup tasks -> difficulty
probe -> (optional) decontaminate against benchmark texts.

Each step is a plain operator; the returned pipeline can be inspected and changed.

>>> from goose.engines import Engine
>>> from goose.engines.testing import ScriptedBackend
>>> pipeline = golden_goose_pipeline(Engine(ScriptedBackend(["{}"])), extract=True)
>>> [op.name for op in pipeline.operators][:4]
['PrepareText', 'HtmlToText', 'QualityFilter', 'ExtractPassage']
"""

from __future__ import annotations

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
)
from goose.pipeline import Operator, Pipeline


def golden_goose_pipeline(
    engine: Engine,
    *,
    num_options: int = 9,
    extract: bool = False,
    judge_distractors: bool = False,
    probe_rollouts: int | None = 16,
    benchmarks: dict[str, list[str]] | None = None,
    default_domain: str = "general",
    seed: int = 0,
    batch_size: int = 64,
    max_tokens: int = 2048,
) -> Pipeline:
    """The full chain on ``engine``.

    ``extract`` adds :class:`ExtractPassage` (for noisy web pages; clean passages such as
    question + solution pairs skip it). ``judge_distractors`` asks the engine whether a
    distractor also fits. ``probe_rollouts`` (``None``: no probe) is how many times the
    probe answers each task; the probe drops tasks solved in every rollout.
    ``benchmarks`` (name -> texts) adds decontamination. ``max_tokens`` bounds the
    engine's answers in the extraction and masking steps.
    """
    steps: list[Operator] = [PrepareText(default_domain=default_domain), HtmlToText(), QualityFilter()]
    if extract:
        steps.append(ExtractPassage(max_tokens=max_tokens))
    steps += [
        MinHashDedup(),
        MaskReasoningSpan(min_distractors=num_options - 1, max_tokens=max_tokens),
        FilterDistractors(min_distractors=num_options - 1),
    ]
    if judge_distractors:
        steps.append(JudgeDistractors(min_distractors=num_options - 1))
    steps.append(AssembleTasks(num_options=num_options))
    steps.append(MinHashDedup(fields=["masked_text", "gold"]))  # before the probe: no rollouts for copies
    if probe_rollouts is not None:
        steps.append(ProbeDifficulty(rollouts=probe_rollouts))
    if benchmarks:
        steps.append(Decontaminate(benchmarks=benchmarks))
    return Pipeline(steps, seed=seed, batch_size=batch_size, engine=engine)
