"""MaskReasoningSpan: one LLM call per passage picks the gold span and writes the distractors.

One structured request per passage returns JSON with the removed span and at least ten
distractors. Unlike the paper, the model is not asked to copy the masked passage: goose
rebuilds it from the source and the span's offsets, so copying it would only roughly double
the tokens the model writes (and the chance of running out of them). The prompt depends on the row's domain:
``mask_solution`` (math, STEM: several consecutive solution steps), ``mask_code`` (several
consecutive lines of code) and ``mask_passage`` (any other domain, e.g. cyber: a
multi-sentence span); ``prompts`` maps domains to prompt names.

Nothing the model says is trusted. The source passage and character offsets are the truth:

* the removed span must occur verbatim in ``text``; if it does not (models drop a space,
  change a quote, fix a typo), it is re-located by fuzzy alignment
  (``rapidfuzz.fuzz.partial_ratio_alignment``), snapped to word boundaries, and if the aligned
  source text scores at least ``min_alignment`` against the model's span the *source
  substring* becomes the gold; otherwise the row is dropped;
* a span that occurs more than once is refused: masking one copy would leave the answer
  in the passage;
* the span's size is checked (characters, sentences or code lines, share of the passage);
* distractors are stripped and de-duplicated (case and spacing ignored), copies of the
  gold removed, and at least ``min_distractors`` must remain. Their quality is judged by
  :class:`FilterDistractors`, which runs after this step unchanged.

Requests are greedy (``temperature`` 0) and seeded with the run seed, so a re-run gives the
same spans and is served from the response cache.

Input columns: ``source_id``, ``domain``, ``text``.
Output columns: ``gold``, ``span_start``, ``span_end`` (character offsets of the gold in
``text``), ``distractors`` (list of str, the model's order), ``distractor_sources``
(``"llm"`` per distractor), ``engine``, ``model``, ``prompt_version`` (lineage).
Drops: ``missing_text`` (no passage text), ``mask_token_in_text`` (the passage already holds ``[MASK]``; no request is sent),
``span_not_in_source`` (the removed span is not in the passage, even fuzzily),
``span_repeated`` (it occurs more than once, so the masked text would still hold it),
``span_too_short`` (under ``min_span_chars`` or ``min_units`` sentences/lines),
``span_too_long`` (over ``max_span_fraction`` of the passage),
``too_few_distractors_returned`` (under ``min_distractors`` usable distractors), or the
engine failure's reason (``engine_malformed_json``, ``engine_schema_mismatch``, ...).

>>> import json
>>> from goose import Pipeline
>>> from goose.engines import Engine
>>> from goose.engines.testing import ScriptedBackend
>>> text = "Find x. We know 2x + 3 = 11. Subtracting 3 gives 2x = 8. Dividing by 2, x = 4. Done."
>>> span = "Subtracting 3 gives 2x = 8. Dividing by 2, x = 4."
>>> answer = json.dumps({"removed_span": span,
...                      "distractors": [f"Subtracting {k} gives 2x = {11 - k}. Dividing by 2, x = {(11 - k) / 2}." for k in range(1, 4)]})
>>> step = MaskReasoningSpan(min_distractors=3, min_span_chars=10, max_span_fraction=0.7)
>>> row = Pipeline([step], engine=Engine(ScriptedBackend([answer]))).run([{"source_id": "d", "domain": "math", "text": text}]).tasks.to_pylist()[0]
>>> row["gold"] == span, row["distractor_sources"], row["prompt_version"].startswith("mask_solution@")
(True, ['llm', 'llm', 'llm'], True)
"""

from __future__ import annotations

import re
from typing import ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from rapidfuzz import fuzz

from goose.engines import ChatRequest, Failure, SamplingParams, generate_json
from goose.options import normalize_for_comparison
from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext
from goose.prompts import Prompt, load_prompt
from goose.question import MASK_TOKEN
from goose.text.segment import Segmenter

DEFAULT_PROMPTS: dict[str, str] = {"math": "mask_solution", "stem": "mask_solution", "code": "mask_code"}
"""Prompt per domain; other domains use ``MaskReasoningSpan.default_prompt``."""

LINE_DOMAINS: frozenset[str] = frozenset({"code"})
"""Domains whose spans are counted in lines rather than sentences."""

SNAP_CHARS = 24
"""How far (characters) a fuzzily re-located span's ends may move to reach word boundaries."""

_WORD = re.compile(r"\S+")


class MaskedSpan(BaseModel):
    """The model's answer: the removed span and the distractors."""

    model_config = ConfigDict(extra="ignore")

    removed_span: str = Field(description="The removed span, copied exactly from the passage.")
    distractors: list[str] = Field(description="Plausible but wrong alternatives to the removed span.")


class MaskReasoningSpan(Operator):
    """Let an LLM choose the gold span and write distractors; verify both against the source."""

    requires: ClassVar[tuple[str, ...]] = ("source_id", "domain", "text")
    produces: ClassVar[tuple[str, ...]] = (
        "gold", "span_start", "span_end", "distractors", "distractor_sources", "engine", "model", "prompt_version",
    )
    uses_engine: ClassVar[bool] = True

    prompts: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_PROMPTS), description="Prompt name (goose/prompts/NAME.txt) per domain."
    )
    default_prompt: str = Field("mask_passage", min_length=1, description="Prompt for domains not in ``prompts``.")
    min_distractors: int = Field(10, ge=1, description="Fewest usable distractors the model must return.")
    min_span_chars: int = Field(40, ge=1, description="Shortest gold span in characters.")
    min_units: int = Field(2, ge=1, description="Fewest sentences (code: non-blank lines) in the gold span.")
    max_span_fraction: float = Field(0.5, gt=0, le=1, description="Largest share of the passage the span may take.")
    min_alignment: float = Field(
        90.0, ge=0, le=100,
        description="Lowest fuzz.ratio (0-100) between the model's span and the source text it is re-located to.",
    )
    max_tokens: int = Field(1024, ge=1, description="Most tokens the model may write (span and distractors).")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature; 0 (greedy) makes runs reproducible.")

    _segmenter: Segmenter | None = PrivateAttr(default=None)

    def prompt_for(self, domain: str) -> Prompt:
        """The prompt used for passages of ``domain``.

        >>> MaskReasoningSpan().prompt_for("cyber").name
        'mask_passage'
        """
        return load_prompt(self.prompts.get(domain, self.default_prompt))

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(
            batch,
            types={
                "gold": pa.string(), "span_start": pa.int64(), "span_end": pa.int64(),
                "distractors": pa.list_(pa.string()), "distractor_sources": pa.list_(pa.string()),
                "engine": pa.string(), "model": pa.string(), "prompt_version": pa.string(),
            },
        )
        rows = batch.select(["domain", "text"]).to_pylist()
        asked: list[int] = []
        for index, row in enumerate(rows):
            if not isinstance(row["text"], str) or not row["text"].strip():
                outcomes.drop(index, "missing_text", "no passage text to mask")
            elif MASK_TOKEN in row["text"]:
                outcomes.drop(index, "mask_token_in_text", f"the passage already contains {MASK_TOKEN}")
            else:
                asked.append(index)
        if not asked:
            return outcomes.result()
        engine = context.require_engine(self.name)
        if self._segmenter is None:
            self._segmenter = Segmenter()
        sampling = SamplingParams(temperature=self.temperature, max_tokens=self.max_tokens, seed=context.seed)
        prompts = {index: self.prompt_for(rows[index]["domain"]) for index in asked}
        requests = [
            ChatRequest.user(
                prompts[i].render(domain=rows[i]["domain"], passage=rows[i]["text"], min_distractors=self.min_distractors),
                sampling,
            )
            for i in asked
        ]
        answers = generate_json(engine, requests, MaskedSpan, tag=self.name)
        for index, answer in zip(asked, answers):
            if isinstance(answer, Failure):
                outcomes.drop(index, answer.reason, answer.message)
                continue
            text, domain = rows[index]["text"], rows[index]["domain"]
            located = locate_span(text, answer.removed_span, self.min_alignment)
            if isinstance(located[0], str):
                outcomes.drop(index, *located)
                continue
            start, end = located
            problem = self._size_problem(text, start, end, domain)
            if problem is not None:
                outcomes.drop(index, *problem)
                continue
            gold = text[start:end]
            distractors = usable_distractors(answer.distractors, gold)
            if len(distractors) < self.min_distractors:
                outcomes.drop(
                    index, "too_few_distractors_returned",
                    f"{len(distractors)} usable of {len(answer.distractors)} returned, need {self.min_distractors}",
                )
                continue
            outcomes.keep(
                index, gold=gold, span_start=start, span_end=end, distractors=distractors,
                distractor_sources=["llm"] * len(distractors), engine=engine.name, model=engine.model,
                prompt_version=prompts[index].version,
            )
        return outcomes.result()

    def _size_problem(self, text: str, start: int, end: int, domain: str) -> tuple[str, str] | None:
        """``(reason, detail)`` when the span is too short or too long, else None."""
        length = end - start
        if length < self.min_span_chars:
            return ("span_too_short", f"{length} characters, need {self.min_span_chars}")
        if domain in LINE_DOMAINS:
            units, unit_name = sum(bool(line.strip()) for line in text[start:end].splitlines()), "lines"
        else:
            assert self._segmenter is not None
            units = sum(u.start < end and u.end > start for u in self._segmenter.units(text))
            unit_name = "sentences/lines"
        if units < self.min_units:
            return ("span_too_short", f"{units} {unit_name}, need {self.min_units}")
        if length > self.max_span_fraction * len(text):
            return ("span_too_long", f"{length} of {len(text)} characters, most {self.max_span_fraction:.0%}")
        return None


def locate_span(text: str, span: str, min_alignment: float) -> tuple[int, int] | tuple[str, str]:
    """``(start, end)`` of ``span`` in ``text``, or ``(reason, detail)`` when it cannot be used.

    A single exact occurrence wins; several are refused (``span_repeated``); else the best
    fuzzy alignment, snapped to word boundaries, counts when its
    source text scores at least ``min_alignment`` (``fuzz.ratio``) against ``span``.

    >>> text = "We know 2x + 3 = 11. Subtracting 3 gives 2x = 8. Dividing by 2, x = 4."
    >>> locate_span(text, "Subtracting 3 gives 2x = 8.", 90)
    (21, 48)
    >>> start, end = locate_span(text, "Subtracting 3 gives 2x=8. Dividing by 2, x = 4.", 90)
    >>> text[start:end]
    'Subtracting 3 gives 2x = 8. Dividing by 2, x = 4.'
    >>> locate_span(text, "The sky is green and made of cheese.", 90)
    ('span_not_in_source', 'no source text matches the removed span (best alignment 32/100, need 90)')
    """
    span = span.strip()
    if not span:
        return ("span_not_in_source", "the model returned an empty removed span")
    starts = [m.start() for m in re.finditer(re.escape(span), text)]
    if len(starts) > 1:
        return ("span_repeated", f"the removed span occurs {len(starts)} times; the masked text would still hold it")
    if starts:
        return (starts[0], starts[0] + len(span))
    if len(span) > len(text):
        return ("span_not_in_source", f"the removed span ({len(span)} characters) is longer than the passage ({len(text)})")
    alignment = fuzz.partial_ratio_alignment(span, text)
    if alignment is None:  # only with a score cut-off, which is not used; kept for the type checker
        return ("span_not_in_source", "no source text matches the removed span")
    # The alignment window has the span's length and may cut words; the gold is the
    # whole-word stretch of source text near it that matches the span best.
    starts = [i for i in _word_starts(text) if abs(i - alignment.dest_start) <= SNAP_CHARS]
    ends = [j for j in _word_ends(text) if abs(j - alignment.dest_end) <= SNAP_CHARS]
    best, score = None, 0.0
    for start in starts:
        for end in ends:
            if end > start:
                ratio = fuzz.ratio(span, text[start:end])
                if ratio > score:
                    best, score = (start, end), ratio
    if best is None or score < min_alignment:
        return ("span_not_in_source", f"no source text matches the removed span (best alignment {score:.0f}/100, need {min_alignment:.0f})")
    copies = text.count(text[best[0] : best[1]])
    if copies > 1:
        return ("span_repeated", f"the re-located span occurs {copies} times; the masked text would still hold it")
    return best


def usable_distractors(distractors: list[str], gold: str) -> list[str]:
    """The distractors stripped, without blanks, copies of the gold or repeats (case and
    spacing ignored), in the model's order.

    >>> usable_distractors([" x = 5 ", "X  = 5", "", "x = 4", "x = 6"], "x = 4")
    ['x = 5', 'x = 6']
    """
    seen = {normalize_for_comparison(gold)}
    kept: list[str] = []
    for distractor in distractors:
        cleaned = distractor.strip()
        key = normalize_for_comparison(cleaned)
        if key and key not in seen:
            seen.add(key)
            kept.append(cleaned)
    return kept


def _word_starts(text: str) -> list[int]:
    return [m.start() for m in _WORD.finditer(text)]


def _word_ends(text: str) -> list[int]:
    return [m.end() for m in _WORD.finditer(text)]
