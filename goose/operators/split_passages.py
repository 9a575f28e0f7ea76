"""SplitPassages: cut long documents into passages of whole paragraphs, one row per passage.

The paper masks spans of passages of about 100-600 words. A web page or a manual is often
far longer (tens of thousands of characters) and full of furniture: references, "See also"
lists, navigation, licence text. This step windows each document with
:func:`goose.text.passages.split_document`: runs of whole paragraphs (an over-long paragraph
is cut at sentence ends) of ``min_words`` to ``max_words`` words, about ``target_words``,
boilerplate left out, the windows richest in reasoning first, at most
``max_passages_per_document`` of them, not overlapping. Before an LLM extractor
(:class:`~goose.operators.ExtractPassage`) it saves tokens; offline it replaces it.

It is an *expanding* step (``expands = True``): one input row becomes one row per passage,
each carrying the input row's other columns. A document of at most ``max_words`` words with
no boilerplate passes as one passage, unchanged. Question + solution rows (a
``solution_start`` offset is set) are never split: they pass unchanged.

Input columns: ``source_id``, ``text`` (others are carried along).
Output columns: ``text`` (the passage), ``source_id`` (the document's id when it gave one
passage, else ``<id>#p<k>`` with ``k`` = 0, 1, ... in document order: unique and the same in
every run), ``document_id`` (the input's ``source_id``), ``document_start`` and
``document_end`` (the passage's character offsets in the input text), ``outside_text``
(up to ``outside_paragraphs`` usable paragraphs of the same document that the passage does
not show, nearest first, at most ``outside_max_chars`` characters together: on-topic
material for wrong options).
Drops: ``no_passage`` (every paragraph is boilerplate or a heading, or no run of whole
paragraphs between boilerplate has ``min_words`` words; the detail says which).

>>> from goose import Pipeline
>>> doc = "\\n\\n".join(["Since x = 2, we get y = x + 2 = 4, so y is even."] * 6 + ["See also", "- Parity"])
>>> rows = Pipeline([SplitPassages(min_words=20, target_words=40, max_words=60)]).run(
...     [{"source_id": "d", "text": doc}]).tasks.to_pylist()
>>> [(row["source_id"], row["document_start"], len(row["outside_text"])) for row in rows]
[('d#p0', 0, 3), ('d#p1', 150, 3)]
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from pydantic import Field, model_validator

from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext, column_or_nulls
from goose.text.passages import split_document

PASSAGE_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "source_id": pa.string(),
    "document_id": pa.string(),
    "document_start": pa.int64(),
    "document_end": pa.int64(),
    "outside_text": pa.list_(pa.string()),
}
"""Arrow types of the columns :class:`SplitPassages` writes."""


class SplitPassages(Operator):
    """One row per passage of each document: whole paragraphs, boilerplate left out."""

    requires: ClassVar[tuple[str, ...]] = ("source_id", "text")
    produces: ClassVar[tuple[str, ...]] = tuple(PASSAGE_TYPES)
    expands: ClassVar[bool] = True
    keeps_solution_start: ClassVar[bool] = True

    min_words: int = Field(80, ge=1, description="Fewest words of a passage of a longer document.")
    target_words: int = Field(
        350, ge=1, description="Passages grow to about this many words; beyond it only denser text wins."
    )
    max_words: int = Field(600, ge=1, description="Most words of a passage; longer documents are windowed.")
    max_passages_per_document: int = Field(3, ge=1, description="Most passages taken from one document.")
    min_relative_score: float = Field(
        0.25, ge=0, le=1,
        description="A second or later passage must hold at least this share of the best one's reasoning per word.",
    )
    outside_paragraphs: int = Field(12, ge=0, description="Most paragraphs listed in outside_text.")
    outside_max_chars: int = Field(8000, ge=0, description="Most characters of outside_text, all paragraphs together.")

    @model_validator(mode="after")
    def _sizes_in_order(self) -> SplitPassages:
        if not self.min_words <= self.target_words <= self.max_words:
            raise ValueError(
                f"need min_words <= target_words <= max_words, got {self.min_words}, {self.target_words}, "
                f"{self.max_words}"
            )
        return self

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(batch, types=PASSAGE_TYPES)
        ids = batch.column("source_id").to_pylist()
        solution_starts = column_or_nulls(batch, "solution_start")
        for index, text in enumerate(batch.column("text").to_pylist()):
            text = text or ""
            document_id = str(ids[index])
            if solution_starts[index] is not None:  # question + solution: the offsets must stay right
                outcomes.keep(index, text=text, source_id=document_id, document_id=document_id,
                              document_start=0, document_end=len(text), outside_text=[])
                continue
            split = split_document(
                text,
                min_words=self.min_words,
                target_words=self.target_words,
                max_words=self.max_words,
                max_passages=self.max_passages_per_document,
                min_relative_score=self.min_relative_score,
            )
            if not split.passages:
                outcomes.drop(index, "no_passage", split.why_none)
                continue
            several = len(split.passages) > 1
            for k, passage in enumerate(split.passages):
                outside = split.outside_paragraphs(
                    text, passage, max_items=self.outside_paragraphs, max_chars=self.outside_max_chars
                )
                outcomes.keep(
                    index,
                    text=text[passage.start : passage.end],
                    source_id=f"{document_id}#p{k}" if several else document_id,
                    document_id=document_id,
                    document_start=passage.start,
                    document_end=passage.end,
                    outside_text=outside,
                )
        return outcomes.result()
