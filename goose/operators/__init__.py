"""Every goose operator, one per module; :data:`OPERATORS` maps names (as used in YAML configs) to classes.

>>> sorted(OPERATORS)[:2]
['AssembleTasks', 'CorpusDistractors']
"""

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
from goose.operators.shortcut_filter import ShortcutFilter
from goose.operators.split_passages import SplitPassages
from goose.operators.select_distractors import SelectDistractors

OPERATORS = {
    cls.__name__: cls
    for cls in (
        PrepareText,
        HtmlToText,
        QualityFilter,
        SplitPassages,
        ExtractPassage,
        MaskReasoningSpan,
        HeuristicMaskSpan,
        CorpusDistractors,
        FilterDistractors,
        SelectDistractors,
        FirstSpanPerPassage,
        JudgeDistractors,
        AssembleTasks,
        ShortcutFilter,
        ProbeDifficulty,
        MinHashDedup,
        Decontaminate,
    )
}
"""Operator classes by name, for pipelines described in YAML (input adapters included)."""

# Input adapters (goose.adapters) are steps too; imported last because they use PrepareText's cleaning.
from goose.adapters.code_problems import FromCodeProblems
from goose.adapters.passages import FromPassages
from goose.adapters.qa_pairs import FromQAPairs
from goose.adapters.web_documents import FromWebDocuments

OPERATORS.update({cls.__name__: cls for cls in (FromWebDocuments, FromQAPairs, FromCodeProblems, FromPassages)})

__all__ = [
    "OPERATORS",
    "AssembleTasks",
    "CorpusDistractors",
    "Decontaminate",
    "ExtractPassage",
    "FilterDistractors",
    "FirstSpanPerPassage",
    "HeuristicMaskSpan",
    "HtmlToText",
    "JudgeDistractors",
    "MaskReasoningSpan",
    "MinHashDedup",
    "PrepareText",
    "ProbeDifficulty",
    "QualityFilter",
    "ShortcutFilter",
    "SplitPassages",
    "SelectDistractors",
]
