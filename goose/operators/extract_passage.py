"""ExtractPassage: ask an LLM for the educationally valuable passage of a noisy web document.

The paper's first step for noisy sources (cybersecurity web pages): an LLM extracts a
coherent passage of about 100-600 words that teaches something in the row's ``domain``,
or answers ``null`` when the document holds none. The model is not trusted: the
extraction's length is counted in code, and it must be *grounded* in the document, i.e.
most of its sentences must be found (fuzzily: ``rapidfuzz`` ``partial_ratio``) in the
source. A model that summarises freely or invents facts fails that check, so every kept
passage is text the document really holds.

One structured request per row, all rows of a batch in one engine call; sampling is greedy
(``temperature`` 0) and seeded with the run seed, so re-runs give the same passages (and
hit the response cache).

Input columns: ``source_id``, ``domain``, ``text``.
Output columns: ``text`` (the extracted passage), ``source_text`` (the original document).
Drops: ``missing_text`` (no document text), ``no_educational_passage`` (the model answered null), ``extraction_length`` (word
count outside ``[min_words, max_words]``), ``extraction_not_grounded`` (fewer than
``min_grounded`` of its sentences match the source), or the engine failure's reason
(``engine_malformed_json``, ``engine_schema_mismatch``, ``engine_timeout``, ...).

>>> import json
>>> from goose import Pipeline
>>> from goose.engines import Engine
>>> from goose.engines.testing import ScriptedBackend
>>> page = "Home | Login. Phishing mails imitate a bank. They link to a fake login page. Cookie banner."
>>> answer = json.dumps({"passage": "Phishing mails imitate a bank. They link to a fake login page."})
>>> engine = Engine(ScriptedBackend([answer]))
>>> step = ExtractPassage(min_words=5)
>>> Pipeline([step], engine=engine).run([{"source_id": "p", "domain": "cyber", "text": page}]).tasks["text"][0].as_py()
'Phishing mails imitate a bank. They link to a fake login page.'
"""

from __future__ import annotations

import re
from typing import ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rapidfuzz import fuzz

from goose.engines import ChatRequest, Failure, SamplingParams, generate_json
from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext
from goose.prompts.untrusted import escape_delimiters
from goose.prompts import load_prompt

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")
_WHITESPACE = re.compile(r"\s+")
MIN_CHECKED_WORDS = 3
"""Sentences (fragments) shorter than this many words are not checked for grounding: a
heading like "Summary:" matches anything, so it would only inflate the grounded share."""


class ExtractedPassage(BaseModel):
    """The model's answer: the passage, or ``None`` when the document has no passage worth keeping."""

    model_config = ConfigDict(extra="ignore")

    passage: str | None = Field(description="The extracted passage, copied from the document; null if there is none.")


class ExtractPassage(Operator):
    """Replace each noisy document by an LLM-extracted, length-checked, source-grounded passage."""

    requires: ClassVar[tuple[str, ...]] = ("source_id", "domain", "text")
    produces: ClassVar[tuple[str, ...]] = ("text", "source_text")
    uses_engine: ClassVar[bool] = True

    prompt: str = Field("extract_passage", min_length=1, description="Name of the packaged prompt (goose/prompts/NAME.txt).")
    min_words: int = Field(100, ge=1, description="Shortest passage kept, in words.")
    max_words: int = Field(600, ge=1, description="Longest passage kept, in words.")
    min_grounded: float = Field(
        0.8, ge=0, le=1,
        description="Share of the passage's sentences that must match the source; lower lets paraphrase through.",
    )
    sentence_match: float = Field(
        85.0, ge=0, le=100,
        description="Lowest rapidfuzz partial_ratio (0-100) for a sentence to count as found in the source.",
    )
    max_source_chars: int = Field(
        12_000, ge=1, description="The document is cut to this many characters before it is sent (context limits)."
    )
    max_tokens: int = Field(1024, ge=1, description="Most tokens the model may write.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature; 0 (greedy) makes runs reproducible.")

    @model_validator(mode="after")
    def _words_in_order(self) -> ExtractPassage:
        if self.max_words < self.min_words:
            raise ValueError(f"max_words ({self.max_words}) must be at least min_words ({self.min_words})")
        return self

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(batch, types={"text": pa.string(), "source_text": pa.string()})
        if batch.num_rows == 0:
            return outcomes.result()
        engine = context.require_engine(self.name)
        template = load_prompt(self.prompt)
        sampling = SamplingParams(temperature=self.temperature, max_tokens=self.max_tokens, seed=context.seed)
        rows = batch.select(["domain", "text"]).to_pylist()
        asked = [i for i, row in enumerate(rows) if isinstance(row["text"], str) and row["text"].strip()]
        for index in sorted(set(range(len(rows))) - set(asked)):
            outcomes.drop(index, "missing_text", "no document text to extract from")
        sources = {i: rows[i]["text"][: self.max_source_chars] for i in asked}
        requests = [
            ChatRequest.user(
                template.render(domain=rows[i]["domain"], document=escape_delimiters(sources[i]), min_words=self.min_words,
                                max_words=self.max_words),
                sampling,
            )
            for i in asked
        ]
        answers = generate_json(engine, requests, ExtractedPassage, tag=self.name) if requests else []
        for index, answer in zip(asked, answers):
            row, source = rows[index], sources[index]
            if isinstance(answer, Failure):
                outcomes.drop(index, answer.reason, answer.message)
                continue
            passage = (answer.passage or "").strip()
            if not passage:
                outcomes.drop(index, "no_educational_passage", "the model found no educational passage in the document")
                continue
            words = len(passage.split())
            if not self.min_words <= words <= self.max_words:
                outcomes.drop(index, "extraction_length", f"{words} words, need {self.min_words}-{self.max_words}")
                continue
            grounded, checked = grounded_sentences(passage, source, self.sentence_match)
            if checked == 0 or grounded / checked < self.min_grounded:
                outcomes.drop(
                    index, "extraction_not_grounded",
                    f"{grounded} of {checked} sentences found in the source, need {self.min_grounded:.0%}",
                )
                continue
            outcomes.keep(index, text=passage, source_text=row["text"])
        return outcomes.result()


def grounded_sentences(passage: str, source: str, threshold: float) -> tuple[int, int]:
    """``(found, checked)``: how many of the passage's sentences (of at least
    :data:`MIN_CHECKED_WORDS` words) occur in ``source`` with a ``partial_ratio`` of at
    least ``threshold``. White space and case are ignored (extraction reflows lines).

    >>> grounded_sentences("The cat sat. Dogs can fly to the moon.", "Intro. The cat sat on the mat.", 90)
    (1, 2)
    """
    haystack = _WHITESPACE.sub(" ", source).casefold()
    sentences = [_WHITESPACE.sub(" ", s).strip().casefold() for s in _SENTENCE_END.split(passage)]
    checked = [s for s in sentences if len(s.split()) >= MIN_CHECKED_WORDS]
    found = sum(fuzz.partial_ratio(s, haystack, score_cutoff=threshold) >= threshold for s in checked)
    return found, len(checked)
