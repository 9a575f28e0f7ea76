"""Every goose operator, one per module; :data:`OPERATORS` maps names (as used in YAML configs) to classes.

Operators are imported when first used (``goose.operators.CorpusDistractors``, ``from
goose.operators import HtmlToText``) or when :data:`OPERATORS` is first read, so importing
this package loads neither spaCy nor trafilatura.

>>> sorted(OPERATORS)[:2]
['AssembleTasks', 'CorpusDistractors']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goose.operators.assemble_tasks import AssembleTasks
    from goose.operators.corpus_distractors import CorpusDistractors
    from goose.operators.decontaminate import Decontaminate
    from goose.operators.extract_passage import ExtractPassage
    from goose.operators.filter_distractors import FilterDistractors
    from goose.operators.first_span_per_passage import FirstSpanPerPassage
    from goose.operators.heuristic_mask import HeuristicMaskSpan
    from goose.operators.html_to_text import HtmlToText
    from goose.operators.judge_distractors import JudgeDistractors
    from goose.operators.mask_reasoning_span import MaskReasoningSpan
    from goose.operators.minhash_dedup import MinHashDedup
    from goose.operators.prepare_text import PrepareText
    from goose.operators.probe_difficulty import ProbeDifficulty
    from goose.operators.quality_filter import QualityFilter
    from goose.operators.select_distractors import SelectDistractors
    from goose.operators.shortcut_filter import ShortcutFilter
    from goose.operators.split_passages import SplitPassages

_MODULES: dict[str, str] = {
    "PrepareText": "prepare_text",
    "HtmlToText": "html_to_text",
    "QualityFilter": "quality_filter",
    "SplitPassages": "split_passages",
    "ExtractPassage": "extract_passage",
    "MaskReasoningSpan": "mask_reasoning_span",
    "HeuristicMaskSpan": "heuristic_mask",
    "CorpusDistractors": "corpus_distractors",
    "FilterDistractors": "filter_distractors",
    "SelectDistractors": "select_distractors",
    "FirstSpanPerPassage": "first_span_per_passage",
    "JudgeDistractors": "judge_distractors",
    "AssembleTasks": "assemble_tasks",
    "ShortcutFilter": "shortcut_filter",
    "ProbeDifficulty": "probe_difficulty",
    "MinHashDedup": "minhash_dedup",
    "Decontaminate": "decontaminate",
}
"""Operator class name -> its module under ``goose.operators``, in pipeline order."""


def _operators() -> dict[str, type]:
    """Every operator class by name, input adapters (goose.adapters, steps too) last."""
    from goose.adapters import ADAPTERS

    found: dict[str, type] = {name: __getattr__(name) for name in _MODULES}
    found.update(ADAPTERS)
    return found


_ADAPTERS = ("FromWebDocuments", "FromQAPairs", "FromCodeProblems", "FromPassages")
"""Input adapters (:mod:`goose.adapters`), steps too: reachable here as well."""


def __getattr__(name: str) -> Any:
    """Import an operator class (or build :data:`OPERATORS`) on first access."""
    if name in _MODULES:
        value = getattr(importlib.import_module(f"goose.operators.{_MODULES[name]}"), name)
    elif name in _ADAPTERS:
        value = getattr(importlib.import_module("goose.adapters"), name)
    elif name == "OPERATORS":
        value = _operators()
    else:
        raise AttributeError(f"module 'goose.operators' has no attribute {name!r}")
    globals()[name] = value  # later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES, *_ADAPTERS, "OPERATORS"])


OPERATORS: dict[str, type]
"""Operator classes by name, for pipelines described in YAML (input adapters included)."""

__all__ = ["OPERATORS", *sorted(_MODULES)]
