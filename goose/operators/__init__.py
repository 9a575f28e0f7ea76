"""Every goose operator, one per module; :data:`OPERATORS` maps names (as used in YAML configs) to classes.

>>> sorted(OPERATORS)[:2]
['AssembleTasks', 'CorpusDistractors']
"""

from goose.operators.assemble_tasks import AssembleTasks
from goose.operators.corpus_distractors import CorpusDistractors
from goose.operators.decontaminate import Decontaminate
from goose.operators.filter_distractors import FilterDistractors
from goose.operators.heuristic_mask import HeuristicMaskSpan
from goose.operators.html_to_text import HtmlToText
from goose.operators.minhash_dedup import MinHashDedup
from goose.operators.prepare_text import PrepareText
from goose.operators.quality_filter import QualityFilter

OPERATORS = {
    cls.__name__: cls
    for cls in (
        PrepareText,
        HtmlToText,
        QualityFilter,
        HeuristicMaskSpan,
        CorpusDistractors,
        FilterDistractors,
        AssembleTasks,
        MinHashDedup,
        Decontaminate,
    )
}
"""Operator classes by name, for pipelines described in YAML."""

__all__ = [
    "OPERATORS",
    "AssembleTasks",
    "CorpusDistractors",
    "Decontaminate",
    "FilterDistractors",
    "HeuristicMaskSpan",
    "HtmlToText",
    "MinHashDedup",
    "PrepareText",
    "QualityFilter",
]
