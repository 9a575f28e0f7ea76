"""Domain presets: cybersecurity, STEM, math and code, each a plain function returning a
:class:`goose.Pipeline` whose steps you can read, inspect and change.

Every preset has two variants, chosen by ``engine``:

* **with an engine** (``engine=Engine(...)``): the Golden Goose chain. An LLM masks a
  reasoning span and writes distractors in one call (:class:`MaskReasoningSpan`), goose's
  rules filter the distractors, tasks are assembled and deduplicated, and a student model
  probes their difficulty (:class:`ProbeDifficulty`, dropping tasks solved in every
  rollout). The probe runs on ``probe_engine`` when one is given (a small model, engine
  role ``"probe"``), else on ``engine``. Cyber web pages also get an LLM passage
  extraction (:class:`ExtractPassage`) first.
* **offline** (``engine=None``): the same domain chain with no GPU, API key or download:
  :class:`HeuristicMaskSpan` picks the span, :class:`CorpusDistractors` makes distractors
  from the gold, the same document and the most similar passages of the run; then
  :class:`SelectDistractors` chooses the wrong options against the shortcut solvers,
  :class:`ShortcutFilter` drops the tasks they still answer and
  :class:`FirstSpanPerPassage` keeps one task per passage. There is no extraction and no probe
  (both need a model), so offline tasks are for trying goose out, not for training.

Each preset starts with the input adapter of its usual source shape (see
:mod:`goose.adapters`; ``adapter=`` swaps it or maps its columns, e.g.
``adapter={"question_column": "prompt"}``) and labels every task with its domain, so the
policy model sees that domain's instruction (:data:`goose.question.DOMAIN_INSTRUCTIONS`).
The adapter ignores a ``domain`` column of the input: a domain preset makes tasks of one
domain (pass your own adapter to keep per-row domains).

Cheap filters run before paid ones: task dedup and decontamination (``benchmarks``) come
before the probe, so no rollouts are spent on copies or contaminated tasks.

>>> [op.name for op in math_pipeline().operators]  # offline
['FromQAPairs', 'MinHashDedup', 'HeuristicMaskSpan', 'CorpusDistractors', 'FilterDistractors', 'SelectDistractors', 'AssembleTasks', 'ShortcutFilter', 'FirstSpanPerPassage', 'MinHashDedup']
>>> from goose.engines import Engine
>>> from goose.engines.testing import ScriptedBackend
>>> [op.name for op in cyber_pipeline(Engine(ScriptedBackend(["{}"]))).operators][3:7]
['SplitPassages', 'ExtractPassage', 'MinHashDedup', 'MaskReasoningSpan']
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from goose.adapters import Adapter, FromCodeProblems, FromQAPairs, FromWebDocuments
from goose.engines import Engine
from goose.operators import (
    AssembleTasks,
    CorpusDistractors,
    Decontaminate,
    ExtractPassage,
    FilterDistractors,
    FirstSpanPerPassage,
    HeuristicMaskSpan,
    HtmlToText,
    JudgeDistractors,
    MaskReasoningSpan,
    MinHashDedup,
    ProbeDifficulty,
    QualityFilter,
    SelectDistractors,
    ShortcutFilter,
    SplitPassages,
)
from goose.operators.probe_difficulty import preset_option_orders
from goose.pipeline import Operator, Pipeline
from goose.pipeline.operator import MAIN_ENGINE
from goose.text.security_terms import SECURITY_TERMS

PROBE_ROLE = "probe"
"""Engine role of the difficulty probe when the preset gets a ``probe_engine``."""

CYBER_KEYWORDS: tuple[str, ...] = SECURITY_TERMS
"""Words that route a web page to the ``cyber`` domain in :func:`cyber_pipeline` (inflections
count too: see :mod:`goose.text.security_terms`)."""

CYBER_MIN_KEYWORD_DENSITY = 3.0
"""Cyber keyword hits per 1,000 words a page needs besides ``min_keyword_hits`` (a long
article that mentions "attack" three times is no security page)."""

SAMPLE_FILES: dict[str, str] = {
    "web_pages": "sample_web_pages.jsonl",
    "qa_pairs": "sample_qa_pairs.jsonl",
    "code_problems": "sample_code_problems.jsonl",
    "corpus": "sample_corpus.jsonl",
}
"""Sample inputs shipped with goose, all written for this project."""


def sample_data_path(kind: Literal["web_pages", "qa_pairs", "code_problems", "corpus"]) -> Path:
    """Path of a sample input shipped with goose: ``web_pages`` (12 WARC-like ``url`` +
    ``html`` records: 10 security pages with menus and footers, 2 off-topic ones),
    ``qa_pairs`` (12 math and STEM ``question`` + ``solution`` pairs), ``code_problems``
    (8 ``problem`` + ``solution`` + ``language`` records) or ``corpus`` (48 mixed passages).

    >>> sample_data_path("qa_pairs").name
    'sample_qa_pairs.jsonl'
    """
    if kind not in SAMPLE_FILES:
        raise ValueError(f"unknown sample {kind!r}; use one of {sorted(SAMPLE_FILES)}")
    return Path(str(resources.files("goose") / "data" / SAMPLE_FILES[kind]))


OFFLINE_SPANS = 3
"""Candidate spans per passage offline: when the best span's task is answered by a shortcut
solver, the next one is tried (:class:`FirstSpanPerPassage` keeps one task per passage)."""

CODE_MIN_LINES = 3
"""Fewest code lines in a code task's gold span ("several consecutive lines")."""


def cyber_pipeline(
    engine: Engine | None = None,
    *,
    probe_engine: Engine | None = None,
    num_options: int = 9,
    probe_rollouts: int | None = 16,
    judge_distractors: bool = False,
    benchmarks: dict[str, list[str]] | None = None,
    adapter: Operator | Mapping[str, Any] | None = None,
    keywords: tuple[str, ...] | list[str] = CYBER_KEYWORDS,
    min_keyword_hits: int = 3,
    seed: int = 0,
    batch_size: int = 64,
    max_tokens: int = 2048,
) -> Pipeline:
    """Cybersecurity tasks from noisy web pages (WARC-like ``url`` + ``html`` records).

    Steps: :class:`FromWebDocuments` -> :class:`HtmlToText` -> :class:`QualityFilter`
    (pages with fewer than ``min_keyword_hits`` hits of ``keywords``, inflections counted, or
    fewer than :data:`CYBER_MIN_KEYWORD_DENSITY` hits per 1,000 words are dropped as
    ``no_domain_match``; the rest become domain ``cyber``) -> :class:`SplitPassages` (long
    pages become up to three passages of whole paragraphs) -> with an engine,
    :class:`ExtractPassage` -> :class:`MinHashDedup` -> mask + distract ->
    :class:`FilterDistractors` -> (``judge_distractors``) :class:`JudgeDistractors` ->
    :class:`SelectDistractors` -> :class:`AssembleTasks` -> :class:`ShortcutFilter` ->
    (offline) :class:`FirstSpanPerPassage` -> task dedup -> (``benchmarks``)
    :class:`Decontaminate` -> with an engine and ``probe_rollouts`` (``None``: no probe), :class:`ProbeDifficulty`.

    >>> cyber_pipeline().operators[2].domain_keywords["cyber"][:2]
    ['access control', 'attacker']
    """
    _check_engines(engine, probe_engine)
    steps: list[Operator] = [
        _adapter(adapter, FromWebDocuments, default_domain="general"),
        HtmlToText(),
        QualityFilter(domain_keywords={"cyber": list(keywords)}, min_keyword_hits=min_keyword_hits,
                      min_keyword_density=CYBER_MIN_KEYWORD_DENSITY, require_domain=True),
        SplitPassages(),  # long pages become passages of whole paragraphs: fewer tokens for the extractor
    ]
    if engine is not None:
        steps.append(ExtractPassage(max_tokens=max_tokens))
    steps.append(MinHashDedup())
    steps += _mask_to_tasks(engine, "cyber", num_options, judge_distractors, max_tokens)
    steps += _after_assembly(engine, probe_engine, probe_rollouts, benchmarks)
    return _pipeline(steps, engine, probe_engine, seed, batch_size)


def stem_pipeline(
    engine: Engine | None = None,
    *,
    probe_engine: Engine | None = None,
    num_options: int = 9,
    probe_rollouts: int | None = None,
    judge_distractors: bool = False,
    benchmarks: dict[str, list[str]] | None = None,
    adapter: Operator | Mapping[str, Any] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    max_tokens: int = 2048,
) -> Pipeline:
    """STEM tasks from question + reference solution records (``question``, ``solution``).

    Steps: :class:`FromQAPairs` (``Question: ...`` / ``Solution: ...``) -> :class:`MinHashDedup`
    -> mask + distract -> :class:`FilterDistractors` -> (``judge_distractors``)
    :class:`JudgeDistractors` -> :class:`AssembleTasks` -> task dedup -> (``benchmarks``)
    :class:`Decontaminate` -> with an engine, :class:`ProbeDifficulty` when
    ``probe_rollouts`` or ``probe_engine`` is given (16 rollouts unless ``probe_rollouts``
    says otherwise; the paper probes only noisy sources, so it is off by default).

    >>> stem_pipeline().operators[0].question_label
    'Question'
    """
    return _solution_pipeline(
        "stem", _adapter(adapter, FromQAPairs, default_domain="stem", question_label="Question"),
        engine, probe_engine, num_options, probe_rollouts, judge_distractors, benchmarks, seed, batch_size, max_tokens,
    )


def math_pipeline(
    engine: Engine | None = None,
    *,
    probe_engine: Engine | None = None,
    num_options: int = 9,
    probe_rollouts: int | None = None,
    judge_distractors: bool = False,
    benchmarks: dict[str, list[str]] | None = None,
    adapter: Operator | Mapping[str, Any] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    max_tokens: int = 2048,
) -> Pipeline:
    """Math tasks from problem + reference solution records (``question``, ``solution``).

    The steps of :func:`stem_pipeline`, with ``Problem: ...`` / ``Solution: ...`` and the
    math instruction.

    >>> math_pipeline().operators[0].default_domain
    'math'
    """
    return _solution_pipeline(
        "math", _adapter(adapter, FromQAPairs, default_domain="math", question_label="Problem"),
        engine, probe_engine, num_options, probe_rollouts, judge_distractors, benchmarks, seed, batch_size, max_tokens,
    )


def code_pipeline(
    engine: Engine | None = None,
    *,
    probe_engine: Engine | None = None,
    num_options: int = 9,
    probe_rollouts: int | None = None,
    judge_distractors: bool = False,
    benchmarks: dict[str, list[str]] | None = None,
    adapter: Operator | Mapping[str, Any] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    max_tokens: int = 2048,
) -> Pipeline:
    """Code tasks from problem + solution code records (``problem``, ``solution``, optional
    ``language``); the gold is at least :data:`CODE_MIN_LINES` consecutive lines of code.

    The steps of :func:`stem_pipeline`, starting with :class:`FromCodeProblems`.

    >>> code_pipeline().operators[2].min_units
    3
    """
    return _solution_pipeline(
        "code", _adapter(adapter, FromCodeProblems, default_domain="code"),
        engine, probe_engine, num_options, probe_rollouts, judge_distractors, benchmarks, seed, batch_size, max_tokens,
    )


def _solution_pipeline(
    domain: str,
    adapter: Operator,
    engine: Engine | None,
    probe_engine: Engine | None,
    num_options: int,
    probe_rollouts: int | None,
    judge_distractors: bool,
    benchmarks: dict[str, list[str]] | None,
    seed: int,
    batch_size: int,
    max_tokens: int,
) -> Pipeline:
    """The chain shared by the question + solution presets (math, STEM, code)."""
    _check_engines(engine, probe_engine)
    if probe_rollouts is None and probe_engine is not None:
        probe_rollouts = 16
    steps: list[Operator] = [adapter, MinHashDedup()]
    steps += _mask_to_tasks(engine, domain, num_options, judge_distractors, max_tokens)
    steps += _after_assembly(engine, probe_engine, probe_rollouts, benchmarks)
    return _pipeline(steps, engine, probe_engine, seed, batch_size)


def _mask_to_tasks(
    engine: Engine | None, domain: str, num_options: int, judge_distractors: bool, max_tokens: int
) -> list[Operator]:
    """Mask a span, make and filter distractors, assemble: LLM or offline."""
    if num_options < 2:
        raise ValueError(f"num_options must be at least 2 (gold + 1 distractor), got {num_options}")
    min_units = CODE_MIN_LINES if domain == "code" else 2
    if engine is None:
        mask: list[Operator] = [
            HeuristicMaskSpan(min_units=min_units, max_units=max(min_units + 2, 4), spans_per_passage=OFFLINE_SPANS,
                              kinds=["line"] if domain == "code" else ["sentence", "line"]),
            CorpusDistractors(),
        ]
    else:
        mask = [MaskReasoningSpan(min_distractors=num_options - 1, min_units=min_units, max_tokens=max_tokens)]
    steps = [*mask, FilterDistractors(min_distractors=num_options - 1)]
    if judge_distractors:
        if engine is None:
            raise ValueError("judge_distractors needs an engine (the judge is an LLM); pass engine=... or drop it")
        steps.append(JudgeDistractors(min_distractors=num_options - 1))
    # Choose the wrong options against the shortcut solvers, then drop what they still solve (AFLite-style).
    steps += [SelectDistractors(num_options=num_options), AssembleTasks(num_options=num_options), ShortcutFilter()]
    if engine is None:
        steps.append(FirstSpanPerPassage())  # the best span whose task no shortcut solver answers
    return steps


def _after_assembly(
    engine: Engine | None,
    probe_engine: Engine | None,
    probe_rollouts: int | None,
    benchmarks: dict[str, list[str]] | None,
) -> list[Operator]:
    """Task dedup, decontamination, then (with an engine) the difficulty probe."""
    steps: list[Operator] = [MinHashDedup(fields=["masked_text", "gold"])]
    if benchmarks:
        steps.append(Decontaminate(benchmarks=benchmarks))
    if engine is not None and probe_rollouts is not None:
        role = PROBE_ROLE if probe_engine is not None else MAIN_ENGINE
        orders = preset_option_orders(probe_rollouts)  # a letter-biased probe must not drop tasks by letter
        steps.append(ProbeDifficulty(rollouts=probe_rollouts, engine_role=role, option_orders=orders))
    return steps


def _adapter(given: Operator | Mapping[str, Any] | None, kind: type[Adapter], **defaults: Any) -> Operator:
    """The preset's input step: ``given`` as it is, or ``kind`` with the preset's defaults
    updated by ``given``'s keyword arguments. The input's domain column is ignored unless
    the arguments name one."""
    if isinstance(given, Operator):
        return given
    return kind(**{"domain_column": "", **defaults, **dict(given or {})})


def _check_engines(engine: Engine | None, probe_engine: Engine | None) -> None:
    if probe_engine is not None and engine is None:
        raise ValueError("probe_engine is set but engine is not: the offline variant has no probe step; "
                         "pass engine=... as well, or leave probe_engine out")


def _pipeline(
    steps: list[Operator], engine: Engine | None, probe_engine: Engine | None, seed: int, batch_size: int
) -> Pipeline:
    engines = {PROBE_ROLE: probe_engine} if probe_engine is not None else None
    return Pipeline(steps, seed=seed, batch_size=batch_size, engine=engine, engines=engines)
