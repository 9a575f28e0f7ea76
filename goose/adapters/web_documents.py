"""FromWebDocuments: raw web documents (WARC-like records with a URL and HTML, or text).

The document is the ``html_column`` value when the row has one, else the ``text_column``
value; it goes into ``text`` as it is (cleaned of control characters and odd line ends;
see :mod:`goose.adapters.base`), for :class:`~goose.operators.HtmlToText` to extract the
main content next. The raw ``html_column`` is not carried on (``text`` holds it), which
halves the memory of a batch of pages. The page's URL is the source id when the row has
no id. This adapter replaces ``PrepareText``.

Input columns: ``html_column`` and/or ``text_column``; optional ``url_column``,
``id_column``, ``domain_column``. Output columns: ``source_id``, ``text``, ``domain``
(other input columns, e.g. ``url``, pass through).
Drops: ``missing_document`` (neither column holds a non-blank value, or the input has
neither column), ``not_text`` (not a string), ``invalid_utf8`` (bytes that are not UTF-8),
``too_long`` (over ``max_chars``).

>>> from goose import Pipeline
>>> page = {"url": "https://example.org/a", "html": "<html><body><p>Rotate keys.</p></body></html>"}
>>> Pipeline([FromWebDocuments()]).run([page]).tasks.select(["source_id", "domain"]).to_pylist()
[{'source_id': 'https://example.org/a', 'domain': 'general'}]
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from pydantic import Field

from goose.adapters.base import Adapter, optional_column, read_field
from goose.pipeline.operator import BatchResult, RowOutcomes, RunContext


class FromWebDocuments(Adapter):
    """Turn web records (URL + HTML, or URL + text) into ``source_id``/``text``/``domain`` rows."""

    produces: ClassVar[tuple[str, ...]] = ("source_id", "text", "domain")

    html_column: str = Field("html", description="Column holding the page's HTML (preferred when present).")
    text_column: str = Field("text", description="Column holding already extracted text (used when there is no HTML).")
    url_column: str = Field("url", description="Column holding the page's URL; the source id of rows without an id.")
    max_chars: int = Field(1_000_000, ge=1, description="A longer document is dropped as too_long before any work.")

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(batch, types={"source_id": pa.string(), "text": pa.string(), "domain": pa.string()})
        htmls = optional_column(batch, self.html_column)
        texts = optional_column(batch, self.text_column)
        urls = optional_column(batch, self.url_column)
        ids = optional_column(batch, self.id_column)
        domains = optional_column(batch, self.domain_column)
        present = [name for name in (self.html_column, self.text_column) if name and name in batch.column_names]
        for index in range(batch.num_rows):
            if not present:
                outcomes.drop(index, "missing_document", f"the input has neither column {self.html_column!r} nor "
                              f"{self.text_column!r}; set html_column/text_column to your column names")
                continue
            html = htmls[index]
            use_html = html is not None and not (isinstance(html, str) and not html.strip())
            column, raw = (self.html_column, html) if use_html else (self.text_column, texts[index])
            if raw is None:
                outcomes.drop(index, "missing_document", f"no value in column(s) {present}")
                continue
            document = read_field(raw, column, "missing_document", self.max_chars)
            if isinstance(document, tuple):
                outcomes.drop(index, *document)
                continue
            outcomes.keep(
                index,
                source_id=self.source_id(ids[index], urls[index], document),
                text=document,
                domain=self.domain(domains[index]),
            )
        result = outcomes.result()
        if self.html_column != "text" and self.html_column in result.kept.column_names:
            return BatchResult(result.kept.drop_columns([self.html_column]), result.drops)
        return result
