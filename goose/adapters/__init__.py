"""Input adapters: the first step of a pipeline, one per input shape, each producing the
``source_id``, ``text`` and ``domain`` columns the rest of goose reads.

* :class:`FromWebDocuments`: WARC-like records (URL + HTML, or text);
* :class:`FromQAPairs`: question + reference solution (adds ``solution_start``);
* :class:`FromCodeProblems`: problem + solution code, optional language (adds ``solution_start``);
* :class:`FromPassages`: plain passages, optionally titled.

The rule: **an adapter replaces** :class:`~goose.operators.PrepareText` (it cleans fields
the same way), so a pipeline starts with either one adapter or ``PrepareText``, never both.
Column names are parameters, so YAML configs map their own (``FromQAPairs:
{question_column: prompt, solution_column: answer}``); adapters are registered in
:data:`goose.operators.OPERATORS` like every other step.

>>> from goose import Pipeline
>>> Pipeline([FromQAPairs()]).run([{"question": "Why?", "solution": None}]).rejects["reason"].to_pylist()
['missing_solution']
"""

# goose.operators imports these adapters into its registry, and the adapters import
# goose.operators.prepare_text: loading the registry first keeps the import order acyclic.
import goose.operators  # noqa: F401  isort: skip
from goose.adapters.base import Adapter
from goose.adapters.code_problems import FromCodeProblems
from goose.adapters.passages import FromPassages
from goose.adapters.qa_pairs import FromQAPairs
from goose.adapters.web_documents import FromWebDocuments

ADAPTERS = {cls.__name__: cls for cls in (FromWebDocuments, FromQAPairs, FromCodeProblems, FromPassages)}
"""Adapter classes by name (all of them are also in :data:`goose.operators.OPERATORS`)."""

__all__ = ["ADAPTERS", "Adapter", "FromCodeProblems", "FromPassages", "FromQAPairs", "FromWebDocuments"]
