"""PrepareText: turn raw input rows into clean ``text`` rows with a ``source_id`` and a ``domain``.

Input columns: ``text_column`` (default ``text``); optional ``id_column`` and ``domain_column``.
Output columns: ``source_id``, ``text``, ``domain`` (other input columns pass through).
Drops: ``missing_text`` (no value), ``not_text`` (a number, a list, ...), ``invalid_utf8``
(bytes that are not UTF-8), ``too_long`` (over ``max_chars`` before any work is spent),
``empty_text`` (nothing left after cleaning), ``too_short`` (under ``min_chars``),
``duplicate_id`` (the ``id_column`` value of an earlier row of the batch: the first row
with an id is kept, later ones would pass for the same document downstream; ids are
checked within a batch, the step keeps no memory between batches).
A text column whose rows mix strings with lists or numbers is read as strings (see
:mod:`goose.pipeline.sources`); those rows are dropped as ``not_text`` all the same.

>>> from goose import Pipeline
>>> result = Pipeline([PrepareText(default_domain="math")]).run([{"text": "x\\r\\n= 1\\x00"}])
>>> result.tasks.select(["text", "domain"]).to_pylist()
[{'text': 'x\\n= 1', 'domain': 'math'}]
"""

from __future__ import annotations

import re
import unicodedata
from typing import ClassVar

import pyarrow as pa
from pydantic import Field

from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext
from goose.pipeline.sources import column_values
from goose.task import source_id_for

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """NFC-normalise, unify line ends, remove control characters and trailing spaces.

    Leading indentation is kept (code needs it).

    >>> clean_text("a \\r\\n\\r\\n\\r\\n  b\\u200b")
    'a\\n\\n  b'
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _TRAILING_SPACE.sub("\n", text)
    return _MANY_BLANK_LINES.sub("\n\n", text).strip()


class PrepareText(Operator):
    """Validate, clean and identify input text; the usual first step of a pipeline."""

    produces: ClassVar[tuple[str, ...]] = ("source_id", "text", "domain")

    text_column: str = Field("text", min_length=1, description="Column holding the document text.")
    id_column: str = Field("id", description="Column with a stable document id; a content hash if absent.")
    domain_column: str = Field("domain", description="Column naming each row's domain, if any.")
    default_domain: str = Field("general", min_length=1, description="Domain of rows without one.")
    min_chars: int = Field(1, ge=1, description="Shorter cleaned texts are dropped as too_short.")
    max_chars: int = Field(200_000, ge=1, description="Longer raw texts are dropped as too_long.")

    def required_columns(self) -> tuple[str, ...]:
        return (self.text_column,)

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(batch, types={name: pa.string() for name in self.produces})
        if self.text_column not in batch.column_names:
            # JSONL rows name their own keys: a batch whose rows all lack the text key has no such column.
            for index in range(batch.num_rows):
                outcomes.drop(index, "missing_text", f"no column {self.text_column!r} in this row")
            return outcomes.result()
        texts = column_values(batch, self.text_column)
        ids = _optional_column(batch, self.id_column)
        domains = _optional_column(batch, self.domain_column)
        first_with_id: dict[str, int] = {}
        for index, raw in enumerate(texts):
            text = self._clean(index, raw, outcomes)
            if text is None:
                continue
            source_id = source_id_for(text, ids[index])
            if ids[index] is not None and str(ids[index]).strip():
                first = first_with_id.setdefault(source_id, index)
                if first != index:
                    outcomes.drop(index, "duplicate_id", f"{self.id_column} {source_id!r} is also the id of row "
                                  f"{first} of this batch; give every input row its own id")
                    continue
            domain = str(domains[index]) if domains[index] else self.default_domain
            outcomes.keep(index, source_id=source_id, text=text, domain=domain)
        return outcomes.result()

    def _clean(self, index: int, raw: object, outcomes: RowOutcomes) -> str | None:
        if raw is None:
            outcomes.drop(index, "missing_text", f"no value in column {self.text_column!r}")
            return None
        if isinstance(raw, (bytes, bytearray)):
            try:
                raw = bytes(raw).decode("utf-8")
            except UnicodeDecodeError as error:
                outcomes.drop(index, "invalid_utf8", str(error))
                return None
        if not isinstance(raw, str):
            outcomes.drop(index, "not_text", f"{self.text_column!r} holds a {type(raw).__name__}, not a string")
            return None
        if len(raw) > self.max_chars:
            outcomes.drop(index, "too_long", f"{len(raw)} characters, max_chars is {self.max_chars}")
            return None
        text = clean_text(raw)
        if not text:
            outcomes.drop(index, "empty_text", "nothing left after cleaning")
            return None
        if len(text) < self.min_chars:
            outcomes.drop(index, "too_short", f"{len(text)} characters, min_chars is {self.min_chars}")
            return None
        return text


def _optional_column(batch: pa.Table, name: str) -> list:
    if name and name in batch.column_names:
        return batch.column(name).to_pylist()
    return [None] * batch.num_rows
