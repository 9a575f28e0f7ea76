"""HtmlToText: extract the main text of rows that hold HTML, with trafilatura.

Input columns: ``text``. Output columns: ``text`` (rewritten for HTML rows only).
Rows whose text does not look like HTML pass unchanged. Drops: ``no_text_in_html`` (the
extractor found no main content, or less than ``min_chars``), ``html_parse_error``.

>>> page = "<html><body><nav>Home</nav><article><p>" + "Salted hashes slow attackers. " * 5 + "</p></article></body></html>"
>>> from goose import Pipeline
>>> Pipeline([HtmlToText(min_chars=20)]).run([{"text": page}]).tasks["text"][0].as_py()[:29]
'Salted hashes slow attackers.'
"""

from __future__ import annotations

import re
from typing import ClassVar

import pyarrow as pa
import trafilatura
from pydantic import Field

from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext

_HTML_TAG = re.compile(
    r"<\s*(?:!doctype|html|head|body|div|p|span|table|tr|td|script|style|a|br|li|ul|ol|h[1-6]|article|section|main|nav)\b",
    re.IGNORECASE,
)


def looks_like_html(text: str, min_tags: int = 3) -> bool:
    """Whether ``text`` holds at least ``min_tags`` common HTML tags.

    >>> looks_like_html("<p>a</p><p>b</p><br>"), looks_like_html("if a < b and b > c")
    (True, False)
    """
    return sum(1 for _ in zip(range(min_tags), _HTML_TAG.finditer(text))) >= min_tags


class HtmlToText(Operator):
    """Replace HTML pages by their main text (boilerplate, menus and scripts removed)."""

    requires: ClassVar[tuple[str, ...]] = ("text",)
    produces: ClassVar[tuple[str, ...]] = ("text",)

    min_chars: int = Field(100, ge=1, description="Extracted text shorter than this is dropped.")
    include_tables: bool = Field(True, description="Keep the text of HTML tables.")

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(batch, types={"text": pa.string()})
        for index, text in enumerate(batch.column("text").to_pylist()):
            if not looks_like_html(text):
                outcomes.keep(index, text=text)
                continue
            try:
                extracted = trafilatura.extract(
                    text, include_comments=False, include_tables=self.include_tables, deduplicate=False
                )
            except Exception as error:  # a hostile page must cost one row, never the run
                outcomes.drop(index, "html_parse_error", f"{type(error).__name__}: {error}"[:300])
                continue
            if not extracted or len(extracted.strip()) < self.min_chars:
                found = len(extracted.strip()) if extracted else 0
                outcomes.drop(index, "no_text_in_html", f"extracted {found} characters, min_chars is {self.min_chars}")
                continue
            outcomes.keep(index, text=extracted.strip())
        return outcomes.result()
