"""The offline pipeline: no GPU, no API key, no download. What ``goose demo`` runs.

clean text -> extract HTML -> quality filter -> window long documents into passages of
whole paragraphs -> drop near-duplicate passages (MinHash)
-> pick a reasoning span (spaCy sentencizer + heuristics) -> distractor candidates from gold
perturbations and the nearest passages of the run -> distractor quality filter -> adversarial
choice of the wrong options against the shortcut solvers -> tasks -> drop the tasks that
a shortcut solver still answers (ShortcutFilter), each passage trying up to three spans, of
which the best surviving one is kept (FirstSpanPerPassage).

>>> [op.name for op in offline_pipeline().operators][:5]
['PrepareText', 'HtmlToText', 'QualityFilter', 'SplitPassages', 'MinHashDedup']
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import Field, validate_call

from goose.operators import (
    AssembleTasks,
    CorpusDistractors,
    FilterDistractors,
    FirstSpanPerPassage,
    HeuristicMaskSpan,
    HtmlToText,
    MinHashDedup,
    PrepareText,
    QualityFilter,
    SelectDistractors,
    ShortcutFilter,
    SplitPassages,
)
from goose.pipeline import Pipeline


def sample_corpus_path() -> Path:
    """Path of the sample corpus shipped with goose: 48 passages (math, STEM, code, cyber)
    written for this project, one JSON object per line with ``id``, ``domain``, ``text``.

    >>> sample_corpus_path().name
    'sample_corpus.jsonl'
    """
    return Path(str(resources.files("goose") / "data" / "sample_corpus.jsonl"))


NumOptions = Annotated[int, Field(ge=2, le=26, strict=True, description="Options per task, gold included.")]
"""A preset's ``num_options``: 2 to 26 (one letter each)."""
Seed = Annotated[int, Field(strict=True, description="Run seed.")]
BatchSize = Annotated[int, Field(ge=1, strict=True, description="Rows per batch.")]


@validate_call
def offline_pipeline(*, num_options: NumOptions = 9, seed: Seed = 0, batch_size: BatchSize = 64) -> Pipeline:
    """The offline pipeline; ``batch_size`` is also the pool other passages' spans come from.
    Parameters are checked at the call (a ``pydantic.ValidationError`` names the bad one).

    >>> offline_pipeline(num_options=5).operators[-3].num_options
    5
    >>> offline_pipeline(num_options=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    pydantic_core._pydantic_core.ValidationError: 1 validation error for offline_pipeline
    num_options
      Input should be greater than or equal to 2 ...
    """
    return Pipeline(
        [
            PrepareText(),
            HtmlToText(),
            QualityFilter(),
            SplitPassages(),
            MinHashDedup(),
            HeuristicMaskSpan(spans_per_passage=3),
            CorpusDistractors(),
            FilterDistractors(min_distractors=num_options - 1),
            SelectDistractors(num_options=num_options),
            AssembleTasks(num_options=num_options),
            ShortcutFilter(),
            FirstSpanPerPassage(),
        ],
        seed=seed,
        batch_size=batch_size,
    )
