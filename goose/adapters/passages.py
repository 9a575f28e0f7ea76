"""FromPassages: plain passages (textbook sections, notes, clean articles), optionally titled.

The passage is the ``text_column`` value, with the ``title_column`` value and a blank line
in front when one is set. Fields are cleaned (see :mod:`goose.adapters.base`): this adapter
replaces ``PrepareText`` and reads the same shape, plus titles and the adapters' id rule.

Input columns: ``text_column``; optional ``title_column``, ``id_column``, ``domain_column``.
Output columns: ``source_id``, ``text``, ``domain`` (other input columns pass through).
Drops: ``missing_text`` (no value or blank), ``not_text`` (not a string), ``invalid_utf8``
(bytes that are not UTF-8), ``too_long`` (over ``max_chars``).

>>> from goose import Pipeline
>>> rows = [{"title": "Salting", "body": "A salt makes equal passwords hash differently."}]
>>> Pipeline([FromPassages(text_column="body", title_column="title")]).run(rows).tasks["text"][0].as_py()
'Salting\\n\\nA salt makes equal passwords hash differently.'
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from pydantic import Field

from goose.adapters.base import Adapter, optional_column, read_field
from goose.pipeline.operator import BatchResult, RowOutcomes, RunContext
from goose.pipeline.sources import column_values


class FromPassages(Adapter):
    """Turn passage records into ``source_id``/``text``/``domain`` rows."""

    produces: ClassVar[tuple[str, ...]] = ("source_id", "text", "domain")

    text_column: str = Field("text", min_length=1, description="Column holding the passage.")
    title_column: str = Field("", description="Column holding a title put before the passage ('' for none).")

    def required_columns(self) -> tuple[str, ...]:
        return (self.text_column,)

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(batch, types={"source_id": pa.string(), "text": pa.string(), "domain": pa.string()})
        texts = column_values(batch, self.text_column)
        titles = optional_column(batch, self.title_column)
        ids = optional_column(batch, self.id_column)
        domains = optional_column(batch, self.domain_column)
        for index, raw in enumerate(texts):
            body = read_field(raw, self.text_column, "missing_text", self.max_chars)
            if isinstance(body, tuple):
                outcomes.drop(index, *body)
                continue
            title = read_field(titles[index], self.title_column, "missing_title", self.max_chars)
            text = f"{title}\n\n{body}" if isinstance(title, str) else body
            outcomes.keep(
                index, source_id=self.source_id(ids[index], None, text), text=text, domain=self.domain(domains[index])
            )
        return outcomes.result()
