"""FromCodeProblems: programming problems with reference solution code, as one passage
with a known solution start.

Each row is rendered as::

    Problem: {problem}

    Solution (Python):
    ```python
    {code}
    ```

(without a language: ``Solution:`` and a bare fence). ``solution_start`` is the character
offset in ``text`` of the code's first character. Code keeps its indentation: it is
dedented as a block, never stripped line by line. The problem is cleaned like any text
(see :mod:`goose.adapters.base`): this adapter replaces ``PrepareText``.

Input columns: ``problem_column``, ``solution_column``; optional ``language_column``,
``id_column``, ``domain_column``. Output columns: ``source_id``, ``text``, ``domain``,
``solution_start``, ``language`` (other input columns pass through).
Drops: ``missing_problem`` / ``missing_solution`` (no value or blank), ``not_text`` (not a
string), ``invalid_utf8`` (bytes that are not UTF-8), ``too_long`` (over ``max_chars``).

>>> from goose import Pipeline
>>> record = {"problem": "Add two numbers.", "solution": "def add(a, b):\\n    return a + b", "language": "python"}
>>> row = Pipeline([FromCodeProblems()]).run([record]).tasks.to_pylist()[0]
>>> print(row["text"][row["solution_start"]:])
def add(a, b):
    return a + b
```
"""

from __future__ import annotations

import textwrap
from typing import ClassVar

import pyarrow as pa
from pydantic import Field

from goose.adapters.base import Adapter, optional_column, read_field
from goose.adapters.qa_pairs import render_labelled
from goose.pipeline.operator import BatchResult, RowOutcomes, RunContext
from goose.pipeline.sources import column_values

LANGUAGE_NAMES: dict[str, str] = {
    "python": "Python", "cpp": "C++", "c++": "C++", "c": "C", "java": "Java", "javascript": "JavaScript",
    "js": "JavaScript", "typescript": "TypeScript", "go": "Go", "rust": "Rust", "sql": "SQL", "bash": "Bash",
}
"""How a language tag is named in the ``Solution (...)`` header; other tags are shown as given."""


class FromCodeProblems(Adapter):
    """Render problem + solution-code records as passages and record where the code starts."""

    produces: ClassVar[tuple[str, ...]] = ("source_id", "text", "domain", "solution_start", "language")

    problem_column: str = Field("problem", min_length=1, description="Column holding the problem statement.")
    solution_column: str = Field("solution", min_length=1, description="Column holding the solution code.")
    language_column: str = Field("language", description="Column naming the code's language, if any.")
    default_language: str = Field("", description="Language of rows without one ('' for unknown).")
    problem_label: str = Field("Problem", description="Label before the problem ('' for none).")
    default_domain: str = Field("code", min_length=1, description="Domain of rows without one.")

    def required_columns(self) -> tuple[str, ...]:
        return (self.problem_column, self.solution_column)

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        names = ("source_id", "text", "domain", "language")
        outcomes = RowOutcomes(batch, types={**{name: pa.string() for name in names}, "solution_start": pa.int64()})
        problems = column_values(batch, self.problem_column)
        solutions = column_values(batch, self.solution_column)
        languages = optional_column(batch, self.language_column)
        ids = optional_column(batch, self.id_column)
        domains = optional_column(batch, self.domain_column)
        for index, (raw_problem, raw_code) in enumerate(zip(problems, solutions)):
            problem = read_field(raw_problem, self.problem_column, "missing_problem", self.max_chars)
            if isinstance(problem, tuple):
                outcomes.drop(index, *problem)
                continue
            if isinstance(raw_code, str):
                raw_code = textwrap.dedent(raw_code.replace("\r\n", "\n"))
            code = read_field(raw_code, self.solution_column, "missing_solution", self.max_chars)
            if isinstance(code, tuple):
                outcomes.drop(index, *code)
                continue
            language = languages[index] if isinstance(languages[index], str) and languages[index].strip() else None
            language = (language or self.default_language).strip().lower()
            header = f"Solution ({LANGUAGE_NAMES.get(language, language)}):" if language else "Solution:"
            head = f"{render_labelled(self.problem_label, problem)}\n\n{header}\n```{language}\n"
            text = f"{head}{code}\n```"
            outcomes.keep(
                index,
                source_id=self.source_id(ids[index], None, text),
                text=text,
                domain=self.domain(domains[index]),
                solution_start=len(head),
                language=language,
            )
        return outcomes.result()
