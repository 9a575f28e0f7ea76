"""FromQAPairs: question + reference-solution records (math, STEM) as one passage with a
known solution start.

Each row is rendered as ``"{question_label}: {question}\\n\\n{solution_label}: {solution}"``
(a blank label leaves out the label and its colon) and ``solution_start`` is the character
offset in ``text`` where the solution's first character is, so a masking step can keep the
gold inside the solution. Fields are cleaned first (see :mod:`goose.adapters.base`): this
adapter replaces ``PrepareText``.

Input columns: ``question_column``, ``solution_column``; optional ``id_column`` and
``domain_column``. Output columns: ``source_id``, ``text``, ``domain``, ``solution_start``
(other input columns pass through).
Drops: ``missing_question`` / ``missing_solution`` (no value or blank), ``not_text`` (not a
string), ``invalid_utf8`` (bytes that are not UTF-8), ``too_long`` (over ``max_chars``).

>>> from goose import Pipeline
>>> row = Pipeline([FromQAPairs(default_domain="math")]).run([{"question": "2 + 2?", "solution": "It is 4."}]).tasks.to_pylist()[0]
>>> row["text"], row["text"][row["solution_start"]:], row["domain"]
('Problem: 2 + 2?\\n\\nSolution: It is 4.', 'It is 4.', 'math')
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from pydantic import Field

from goose.adapters.base import Adapter, optional_column, read_field
from goose.pipeline.operator import BatchResult, RowOutcomes, RunContext
from goose.pipeline.sources import column_values


def render_labelled(label: str, body: str) -> str:
    """``"label: body"``, or ``body`` alone when the label is blank.

    >>> render_labelled("Solution", "x = 1."), render_labelled("", "x = 1.")
    ('Solution: x = 1.', 'x = 1.')
    """
    return f"{label}: {body}" if label.strip() else body


class FromQAPairs(Adapter):
    """Render question + solution pairs as passages and record where the solution starts."""

    produces: ClassVar[tuple[str, ...]] = ("source_id", "text", "domain", "solution_start")

    question_column: str = Field("question", min_length=1, description="Column holding the question.")
    solution_column: str = Field("solution", min_length=1, description="Column holding the reference solution.")
    question_label: str = Field("Problem", description="Label before the question ('' for none).")
    solution_label: str = Field("Solution", description="Label before the solution ('' for none).")

    def required_columns(self) -> tuple[str, ...]:
        return (self.question_column, self.solution_column)

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(
            batch, types={"source_id": pa.string(), "text": pa.string(), "domain": pa.string(), "solution_start": pa.int64()}
        )
        questions = column_values(batch, self.question_column)
        solutions = column_values(batch, self.solution_column)
        ids = optional_column(batch, self.id_column)
        domains = optional_column(batch, self.domain_column)
        for index, (raw_question, raw_solution) in enumerate(zip(questions, solutions)):
            question = read_field(raw_question, self.question_column, "missing_question", self.max_chars)
            if isinstance(question, tuple):
                outcomes.drop(index, *question)
                continue
            solution = read_field(raw_solution, self.solution_column, "missing_solution", self.max_chars)
            if isinstance(solution, tuple):
                outcomes.drop(index, *solution)
                continue
            head = render_labelled(self.question_label, question) + "\n\n"
            solution_start = len(head) + (len(self.solution_label) + 2 if self.solution_label.strip() else 0)
            text = head + render_labelled(self.solution_label, solution)
            outcomes.keep(
                index,
                source_id=self.source_id(ids[index], None, text),
                text=text,
                domain=self.domain(domains[index]),
                solution_start=solution_start,
            )
        return outcomes.result()
