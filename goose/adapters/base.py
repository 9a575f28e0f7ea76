"""What every input adapter shares: the id, domain and length settings, and field reading.

An adapter is the first step of a pipeline. It turns records of one shape (web pages,
question + solution pairs, code problems, plain passages) into the columns the rest of
goose reads: ``source_id``, ``text`` and ``domain``. **An adapter replaces**
:class:`~goose.operators.PrepareText`: it cleans each field with the same
:func:`~goose.operators.prepare_text.clean_text` before it renders ``text``, so offsets it
writes (``solution_start``) point into the final text. Do not put ``PrepareText`` after
an adapter (it would only clean clean text again).

The source id of a row is its ``id_column`` value when there is one, else an adapter's
natural key (a web page's URL), else ``sha-`` and 16 hex digits of the rendered text's
SHA-256: stable across runs, batch sizes and machines.

>>> read_field("  x\\r\\n ", "question", "missing_question", 100)
'x'
>>> read_field(None, "question", "missing_question", 100)
('missing_question', "no value in column 'question'")
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pydantic import Field

from goose.operators.prepare_text import clean_text
from goose.pipeline.operator import Operator
from goose.pipeline.sources import column_values
from goose.task import source_id_for

FieldProblem = tuple[str, str]
"""A reason code and a detail, for a field that cannot be used."""


def read_field(value: Any, column: str, missing_reason: str, max_chars: int) -> str | FieldProblem:
    """The cleaned text of one field, or why it cannot be used: ``missing_reason`` (no value,
    or nothing left after cleaning), ``invalid_utf8``, ``not_text`` or ``too_long``."""
    if value is None:
        return missing_reason, f"no value in column {column!r}"
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError as error:
            return "invalid_utf8", f"column {column!r}: {error}"
    if not isinstance(value, str):
        return "not_text", f"column {column!r} holds a {type(value).__name__}, not a string"
    if len(value) > max_chars:
        return "too_long", f"column {column!r} has {len(value)} characters, max_chars is {max_chars}"
    cleaned = clean_text(value)
    if not cleaned:
        return missing_reason, f"column {column!r} is blank"
    return cleaned


def optional_column(batch: pa.Table, name: str | None) -> list[Any]:
    """The values of column ``name``, or ``None`` per row when it is unset or absent."""
    if name and name in batch.column_names:
        return column_values(batch, name)
    return [None] * batch.num_rows


class Adapter(Operator):
    """Base class of input adapters: the id and domain columns, the default domain and the
    length limit; subclasses add their field names and ``process``."""

    id_column: str = Field("id", description="Column with a stable record id; '' or absent: see the module docstring.")
    domain_column: str = Field(
        "domain", description="Column naming each row's domain; '' ignores the input's domains (presets do that)."
    )
    default_domain: str = Field("general", min_length=1, description="Domain of rows without one.")
    max_chars: int = Field(200_000, ge=1, description="A longer field is dropped as too_long before any work.")

    def source_id(self, given: Any, key: Any, text: str) -> str:
        """The row's id: ``given`` (the id column), else ``key`` (e.g. the URL), else a content hash."""
        return source_id_for(text, given, key)

    def domain(self, given: Any) -> str:
        """The row's domain: ``given`` when it is a non-blank string, else ``default_domain``."""
        return given.strip() if isinstance(given, str) and given.strip() else self.default_domain
