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

**Candidate spans** (``span_choice="candidates"``, for weak models): instead of copying a
span, the model picks one by number. goose cuts the passage into sentences (code: lines;
:class:`goose.text.segment.Segmenter`), tiles the reasoning part (from ``solution_start``
when given, else after the first unit and after any question in the first half) into
non-overlapping runs of consecutive units of one kind that meet the span limits
(``min_units`` to ``max_units`` units, ``min_span_chars`` characters, at most
``max_span_fraction`` of the passage, occurring once), keeps at most ``max_candidates`` of
them spread over the passage (the best reasoning score of each stretch,
:func:`goose.text.segment.spread_pick`), and shows the passage with those spans numbered
``[1]``, ``[2]``, ... (prompt ``mask_candidates``). The answer is
``{"chosen_span": k, "distractors": [...]}``; the JSON schema sent with the request lists
the valid numbers (``enum``), so an engine that honours schemas (llama.cpp, vLLM) can only
pick a real span, and a number out of range (an engine that ignores the schema) is dropped.
The gold is always the exact source text of the chosen candidate. ``chosen_span`` comes
first in the schema (also alphabetically, the order llama.cpp's grammar follows), so an
answer cut off at ``max_tokens`` (a weak model repeating itself) is not lost: the number
and every distractor completed before the cut are kept (see :func:`generate_choices`).

**Top-up** (``top_up=True``): when fewer than ``min_distractors`` of the model's distractors
pass :class:`FilterDistractors`' rules (a weak model writes "1", "2", ... or copies the
passage), the rest is filled with the candidates :class:`CorpusDistractors` makes for the same
gold (perturbations of it, same-shape spans of the other passages of the batch that got a
gold, perturbations of the best such span), appended after the model's, in its order of
preference, without repeats; ``distractor_sources`` says where each came from (``llm``,
``perturb:<edits>``, ``corpus:<source_id>``, ``decoy:<source_id>:<edits>``), and that goes
into each option's lineage. All of them are appended (not just enough to reach
``min_distractors``), so :class:`FilterDistractors` can still remove weak ones. Without
``top_up`` a short list is dropped (``too_few_distractors_returned``).

**Solution start**: the optional column ``solution_start`` (character offset, set by the
question + solution adapters of :mod:`goose.adapters`) keeps the gold inside the solution:
when it is present and not null, candidates start at or after it, and a free-mode span
that starts before it is dropped (``span_outside_solution``).

Requests are greedy (``temperature`` 0) and seeded with the run seed, so a re-run gives the
same spans and is served from the response cache.

Input columns: ``source_id``, ``domain``, ``text``; optional ``solution_start``.
Output columns: ``gold``, ``span_start``, ``span_end`` (character offsets of the gold in
``text``), ``distractors`` (list of str, the model's order, then any top-up), ``distractor_sources``
(``"llm"`` per model distractor, the top-up's source per other), ``engine``, ``model``, ``prompt_version`` (lineage).
Drops: ``missing_text`` (no passage text), ``mask_token_in_text`` (the passage already holds ``[MASK]``; no request is sent),
``span_not_in_source`` (the removed span is not in the passage, even fuzzily),
``span_repeated`` (it occurs more than once, so the masked text would still hold it),
``span_too_short`` (under ``min_span_chars`` or ``min_units`` sentences/lines),
``span_too_long`` (over ``max_span_fraction`` of the passage),
``span_outside_solution`` (free mode: the span starts before ``solution_start``),
``no_candidate_spans`` (candidates mode: no run of units meets the limits; no request is sent),
``chosen_span_out_of_range`` (candidates mode: the model named no listed span),
``too_few_distractors_returned`` (under ``min_distractors`` usable distractors, after the
top-up when it is on), or the
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

In candidates mode the model names a span by its number:

>>> step = MaskReasoningSpan(span_choice="candidates", min_distractors=3, min_span_chars=10, max_span_fraction=0.7)
>>> [text[a:b] for a, b in step.candidates(text, "math")]
['Subtracting 3 gives 2x = 8. Dividing by 2, x = 4. Done.']
>>> answer = json.dumps({"chosen_span": 1, "distractors": ["Adding 3 gives 2x = 14. Dividing by 2, x = 7. Done.",
...                      "Subtracting 3 gives 2x = 8. Halving again, x = 2. Done.", "Dividing by 2 first, x = 5.5."]})
>>> row = Pipeline([step], engine=Engine(ScriptedBackend([answer]))).run([{"source_id": "d", "domain": "math", "text": text}]).tasks.to_pylist()[0]
>>> row["gold"], row["prompt_version"].startswith("mask_candidates@")
('Subtracting 3 gives 2x = 8. Dividing by 2, x = 4. Done.', True)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from rapidfuzz import fuzz

from goose.engines import (
    ChatRequest,
    Engine,
    Failure,
    Generation,
    SamplingParams,
    generate_json,
    parse_json_answer,
)
from goose.engines.structured import retry_request
from goose.operators.corpus_distractors import CorpusDistractors
from goose.operators.filter_distractors import FilterDistractors
from goose.options import normalize_for_comparison
from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext, column_or_nulls
from goose.prompts.untrusted import escape_delimiters
from goose.prompts import Prompt, load_prompt
from goose.question import MASK_TOKEN
from goose.text.segment import Segmenter, Unit, spread_pick, tile_windows

DEFAULT_PROMPTS: dict[str, str] = {"math": "mask_solution", "stem": "mask_solution", "code": "mask_code"}
"""Prompt per domain; other domains use ``MaskReasoningSpan.default_prompt``."""

CANDIDATE_PROMPT = "mask_candidates"
"""Prompt of the candidates mode (every domain unless ``candidate_prompts`` names another)."""

LINE_DOMAINS: frozenset[str] = frozenset({"code"})
"""Domains whose spans are counted in lines rather than sentences."""

SNAP_CHARS = 24
"""How far (characters) a fuzzily re-located span's ends may move to reach word boundaries."""

SPARE_DISTRACTORS = 2
"""Candidates mode: the schema lets the model write this many distractors beyond ``min_distractors``."""

_WORD = re.compile(r"\S+")


class MaskedSpan(BaseModel):
    """The model's answer: the removed span and the distractors."""

    model_config = ConfigDict(extra="ignore")

    removed_span: str = Field(description="The removed span, copied exactly from the passage.")
    distractors: list[str] = Field(description="Plausible but wrong alternatives to the removed span.")


class SpanChoice(BaseModel):
    """The model's answer in candidates mode: the number of the chosen span and the distractors.

    The schema sent with a request also lists the valid numbers (see :func:`choice_schema`).
    """

    model_config = ConfigDict(extra="ignore")

    chosen_span: int = Field(description="The number of the chosen span, as shown in the passage.")
    distractors: list[str] = Field(description="Plausible but wrong alternatives to the chosen span.")


def choice_schema(count: int, max_distractors: int) -> dict[str, Any]:
    """The JSON schema of a :class:`SpanChoice` whose ``chosen_span`` is one of ``1..count``.

    >>> schema = choice_schema(3, 5)
    >>> schema["properties"]["chosen_span"]["enum"], schema["properties"]["distractors"]["maxItems"]
    ([1, 2, 3], 5)
    """
    schema = SpanChoice.model_json_schema()
    schema["properties"]["chosen_span"]["enum"] = list(range(1, count + 1))
    schema["properties"]["distractors"]["maxItems"] = max_distractors
    return schema


@dataclass(frozen=True)
class _Pick:
    """A verified gold span of one row with the model's distractors, before cleaning."""

    index: int
    start: int
    end: int
    distractors: list[str]
    prompt_version: str


class MaskReasoningSpan(Operator):
    """Let an LLM choose the gold span and write distractors; verify both against the source."""

    requires: ClassVar[tuple[str, ...]] = ("source_id", "domain", "text")
    produces: ClassVar[tuple[str, ...]] = (
        "gold", "span_start", "span_end", "distractors", "distractor_sources", "engine", "model", "prompt_version",
    )
    uses_engine: ClassVar[bool] = True

    span_choice: Literal["free", "candidates"] = Field(
        "free",
        description="free: the model copies the span from the passage; candidates: it picks one of the numbered "
        "spans goose cut from the passage (for weak models).",
    )
    prompts: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_PROMPTS), description="Prompt name (goose/prompts/NAME.txt) per domain."
    )
    default_prompt: str = Field("mask_passage", min_length=1, description="Prompt for domains not in ``prompts``.")
    candidate_prompts: dict[str, str] = Field(
        default_factory=dict, description="Candidates mode: prompt name per domain (default: mask_candidates)."
    )
    min_distractors: int = Field(
        10, ge=1, description="Fewest usable distractors the model must return (with top_up: with the top-up's)."
    )
    min_span_chars: int = Field(40, ge=1, description="Shortest gold span in characters.")
    min_units: int = Field(2, ge=1, description="Fewest sentences (code: non-blank lines) in the gold span.")
    max_units: int = Field(4, ge=1, description="Candidates mode: most sentences/lines in a candidate span.")
    max_candidates: int = Field(12, ge=1, le=99, description="Candidates mode: most numbered spans shown to the model.")
    max_span_fraction: float = Field(0.5, gt=0, le=1, description="Largest share of the passage the span may take.")
    min_alignment: float = Field(
        90.0, ge=0, le=100,
        description="Lowest fuzz.ratio (0-100) between the model's span and the source text it is re-located to.",
    )
    top_up: bool = Field(
        False,
        description="Fill a short distractor list with CorpusDistractors' candidates (gold perturbations, spans of "
        "other passages of the batch); distractor_sources tells them apart.",
    )
    top_up_filter: FilterDistractors = Field(
        default_factory=lambda: FilterDistractors(min_distractors=1),
        description="The rules that decide whether the model's own distractors are enough; match the "
        "FilterDistractors step that follows (its min_distractors is ignored here).",
    )
    top_up_source: CorpusDistractors = Field(
        default_factory=CorpusDistractors,
        description="How the top-up's candidates are made (perturbations, corpus spans; see CorpusDistractors).",
    )
    max_tokens: int = Field(1024, ge=1, description="Most tokens the model may write (span and distractors).")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature; 0 (greedy) makes runs reproducible.")

    _segmenter: Segmenter | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _units_in_order(self) -> MaskReasoningSpan:
        if self.max_units < self.min_units:
            raise ValueError(f"max_units ({self.max_units}) must be at least min_units ({self.min_units})")
        return self

    def prompt_for(self, domain: str) -> Prompt:
        """The prompt used for passages of ``domain``.

        >>> MaskReasoningSpan().prompt_for("cyber").name
        'mask_passage'
        >>> MaskReasoningSpan(span_choice="candidates").prompt_for("math").name
        'mask_candidates'
        """
        if self.span_choice == "candidates":
            return load_prompt(self.candidate_prompts.get(domain, CANDIDATE_PROMPT))
        return load_prompt(self.prompts.get(domain, self.default_prompt))

    def candidates(self, text: str, domain: str, solution_start: int | None = None) -> list[tuple[int, int]]:
        """The ``(start, end)`` spans of ``text`` offered to the model in candidates mode, in
        passage order (at most ``max_candidates``; empty when none meets the limits).

        >>> text = ("Find the number. We know 2x + 3 = 11. Subtracting 3 gives 2x = 8. "
        ...         "Dividing by 2 gives x = 4. We check that 2 * 4 + 3 = 11. So x = 4 is right.")
        >>> step = MaskReasoningSpan(min_span_chars=20)
        >>> [text[a:b] for a, b in step.candidates(text, "math")]  # doctest: +NORMALIZE_WHITESPACE
        ['We know 2x + 3 = 11. Subtracting 3 gives 2x = 8.',
         'Dividing by 2 gives x = 4. We check that 2 * 4 + 3 = 11.']
        >>> [text[a:b] for a, b in step.candidates(text, "math", solution_start=text.index("Dividing"))]
        ['Dividing by 2 gives x = 4. We check that 2 * 4 + 3 = 11.']
        """
        if self._segmenter is None:
            self._segmenter = Segmenter()
        units = self._segmenter.units(text)
        if solution_start is not None:  # never before the solution
            first = next((i for i, unit in enumerate(units) if unit.start >= solution_start), len(units))
        else:  # never a question in the first half (the problem statement)
            asks = [i for i, unit in enumerate(units) if unit.end <= len(text) / 2 and unit.text(text).endswith("?")]
            first = asks[-1] + 1 if asks else 0
        first = max(first, 1)  # never the first unit (the question or topic sentence)
        windows = tile_windows(
            units, first=first, min_units=self.min_units, max_units=self.max_units,
            min_chars=self.min_span_chars, max_chars=int(self.max_span_fraction * len(text)),
        )
        usable = []
        for window in windows:
            start, end = window.start, window.end
            masked = normalize_for_comparison(text[:start] + MASK_TOKEN + text[end:])
            if (
                self._size_problem(text, start, end, domain, units) is None
                and normalize_for_comparison(text[start:end]) not in masked  # a gold said twice would leak
            ):
                usable.append(window)
        return [(w.start, w.end) for w in spread_pick(usable, self.max_candidates)]

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(
            batch,
            types={
                "gold": pa.string(), "span_start": pa.int64(), "span_end": pa.int64(),
                "distractors": pa.list_(pa.string()), "distractor_sources": pa.list_(pa.string()),
                "engine": pa.string(), "model": pa.string(), "prompt_version": pa.string(),
            },
        )
        rows = batch.select(["source_id", "domain", "text"]).to_pylist()
        solution_starts: list[int | None] = column_or_nulls(batch, "solution_start")
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
        if self.span_choice == "candidates":
            picked = self._ask_candidates(engine, rows, solution_starts, asked, sampling)
        else:
            picked = self._ask_free(engine, rows, solution_starts, asked, sampling)
        picks: list[_Pick] = []
        for index in asked:
            pick = picked[index]
            if isinstance(pick, _Pick):
                picks.append(pick)
            else:
                outcomes.drop(index, *pick)
        golds = [rows[p.index]["text"][p.start : p.end] for p in picks]
        llm = [usable_distractors(p.distractors, gold) for p, gold in zip(picks, golds)]
        extra = self._top_ups(rows, picks, golds, llm, context)
        for position, (pick, gold) in enumerate(zip(picks, golds)):
            added_texts, added_sources = extra[position]
            texts, sources = merge_distractors(
                gold, [(text, "llm") for text in llm[position]] + list(zip(added_texts, added_sources))
            )
            if len(texts) < self.min_distractors:
                added = len(texts) - len(llm[position])
                outcomes.drop(
                    pick.index, "too_few_distractors_returned",
                    f"{len(llm[position])} usable of {len(pick.distractors)} returned"
                    + (f", {added} from the top-up" if self.top_up else "")
                    + f", need {self.min_distractors}",
                )
                continue
            outcomes.keep(
                pick.index, gold=gold, span_start=pick.start, span_end=pick.end, distractors=texts,
                distractor_sources=sources, engine=engine.name, model=engine.model, prompt_version=pick.prompt_version,
            )
        return outcomes.result()

    def _ask_free(
        self, engine: Engine, rows: list[dict], solution_starts: list[int | None], asked: list[int],
        sampling: SamplingParams,
    ) -> dict[int, _Pick | tuple[str, str]]:
        """Free mode: the model copies the span; it is re-located in the source and checked."""
        prompts = {index: self.prompt_for(rows[index]["domain"]) for index in asked}
        requests = [
            ChatRequest.user(
                prompts[i].render(
                    domain=rows[i]["domain"], passage=escape_delimiters(rows[i]["text"]),
                    min_distractors=self.min_distractors,
                ),
                sampling,
            )
            for i in asked
        ]
        answers = generate_json(engine, requests, MaskedSpan, tag=self.name)
        picked: dict[int, _Pick | tuple[str, str]] = {}
        for index, answer in zip(asked, answers):
            if isinstance(answer, Failure):
                picked[index] = (answer.reason, answer.message)
                continue
            text, domain = rows[index]["text"], rows[index]["domain"]
            located = locate_span(text, answer.removed_span, self.min_alignment)
            if isinstance(located[0], str):
                picked[index] = located  # type: ignore[assignment]
                continue
            start, end = located
            solution_start = solution_starts[index]
            if solution_start is not None and start < solution_start:
                picked[index] = (
                    "span_outside_solution",
                    f"the span starts at character {start}, before the solution (character {solution_start})",
                )
                continue
            problem = self._size_problem(text, start, end, domain)
            if problem is not None:
                picked[index] = problem
                continue
            picked[index] = _Pick(index, start, end, answer.distractors, prompts[index].version)
        return picked

    def _ask_candidates(
        self, engine: Engine, rows: list[dict], solution_starts: list[int | None], asked: list[int],
        sampling: SamplingParams,
    ) -> dict[int, _Pick | tuple[str, str]]:
        """Candidates mode: the model picks one of the numbered spans by its number."""
        picked: dict[int, _Pick | tuple[str, str]] = {}
        offered: dict[int, list[tuple[int, int]]] = {}
        for index in asked:
            spans = self.candidates(rows[index]["text"], rows[index]["domain"], solution_starts[index])
            if spans:
                offered[index] = spans
            else:
                picked[index] = (
                    "no_candidate_spans",
                    f"no run of {self.min_units}-{self.max_units} sentences/lines of {self.min_span_chars}+ characters "
                    f"(at most {self.max_span_fraction:.0%} of the passage) after the first unit"
                    + (" and the solution start" if solution_starts[index] is not None else ""),
                )
        ordered = list(offered)
        prompts = {index: self.prompt_for(rows[index]["domain"]) for index in ordered}
        requests = [
            ChatRequest.user(
                prompts[i].render(
                    domain=rows[i]["domain"], passage=escape_delimiters(numbered_passage(rows[i]["text"], offered[i])),
                    count=len(offered[i]), min_distractors=self.min_distractors,
                ),
                sampling,
                response_schema=choice_schema(len(offered[i]), self.min_distractors + SPARE_DISTRACTORS),
            )
            for i in ordered
        ]
        answers = generate_choices(engine, requests, tag=self.name) if requests else []
        for index, answer in zip(ordered, answers):
            if isinstance(answer, Failure):
                picked[index] = (answer.reason, answer.message)
                continue
            spans = offered[index]
            if not 1 <= answer.chosen_span <= len(spans):
                picked[index] = (
                    "chosen_span_out_of_range", f"the model chose span {answer.chosen_span}; spans are 1-{len(spans)}"
                )
                continue
            start, end = spans[answer.chosen_span - 1]
            picked[index] = _Pick(index, start, end, answer.distractors, prompts[index].version)
        return picked

    def _top_ups(
        self, rows: list[dict], picks: list[_Pick], golds: list[str], llm: list[list[str]], context: RunContext
    ) -> list[tuple[list[str], list[str]]]:
        """Per pick, the top-up ``(texts, sources)``: CorpusDistractors' candidates when the
        top-up is on and fewer than ``min_distractors`` of the model's distractors pass
        FilterDistractors' rules (length, overlap, near-duplicates, copies of the passage),
        else nothing. The other picks of the batch are the corpus."""
        empty: list[tuple[list[str], list[str]]] = [([], []) for _ in picks]
        if not self.top_up or not picks:
            return empty
        table = pa.table({
            "source_id": pa.array([str(rows[p.index]["source_id"]) for p in picks], pa.string()),
            "domain": pa.array([rows[p.index]["domain"] for p in picks], pa.string()),
            "text": pa.array([rows[p.index]["text"] for p in picks], pa.string()),
            "gold": pa.array(golds, pa.string()),
            "span_start": pa.array([p.start for p in picks], pa.int64()),
            "span_end": pa.array([p.end for p in picks], pa.int64()),
        })
        checked = self.top_up_filter.model_copy(update={"min_distractors": 1}).process(
            table.append_column("distractors", pa.array(llm, pa.list_(pa.string())))
            .append_column("distractor_sources", pa.array([["llm"] * len(found) for found in llm], pa.list_(pa.string()))),
            context,
        )
        passing = _per_row(checked, len(picks), "distractors")
        short = [len(found or []) < self.min_distractors for found in passing]
        if not any(short):
            return empty
        made = self.top_up_source.process(table, context)
        texts = _per_row(made, len(picks), "distractors")
        sources = _per_row(made, len(picks), "distractor_sources")
        return [
            (texts[i] or [], sources[i] or []) if short[i] else ([], [])
            for i in range(len(picks))
        ]

    def _size_problem(
        self, text: str, start: int, end: int, domain: str, units: list[Unit] | None = None
    ) -> tuple[str, str] | None:
        """``(reason, detail)`` when the span is too short or too long, else None (``units``:
        the passage's, when already at hand)."""
        length = end - start
        if length < self.min_span_chars:
            return ("span_too_short", f"{length} characters, need {self.min_span_chars}")
        if domain in LINE_DOMAINS:
            count, unit_name = sum(bool(line.strip()) for line in text[start:end].splitlines()), "lines"
        else:
            if units is None:
                if self._segmenter is None:
                    self._segmenter = Segmenter()
                units = self._segmenter.units(text)
            count = sum(u.start < end and u.end > start for u in units)
            unit_name = "sentences/lines"
        if count < self.min_units:
            return ("span_too_short", f"{count} {unit_name}, need {self.min_units}")
        if length > self.max_span_fraction * len(text):
            return ("span_too_long", f"{length} of {len(text)} characters, most {self.max_span_fraction:.0%}")
        return None


def _per_row(result: BatchResult, rows: int, column: str) -> list[Any]:
    """``column`` of each input row of an operator's result, None for a dropped row."""
    dropped = {drop.index for drop in result.drops}
    kept = iter(result.kept.column(column).to_pylist())
    return [None if index in dropped else next(kept) for index in range(rows)]


def numbered_passage(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` as shown in the candidates prompt: each span on its own line(s) after its
    number ``[k]``, the text between spans in between. A span that starts a line keeps
    that line's indentation (code).

    >>> print(numbered_passage("Intro. First step. Second step. Outro.", [(7, 18), (19, 31)]))
    Intro.
    [1] First step.
    [2] Second step.
    Outro.
    """
    parts: list[str] = []
    position = 0
    for number, (start, end) in enumerate(spans, 1):
        line_start = text.rfind("\n", 0, start) + 1
        shown = line_start if not text[line_start:start].strip() else start
        gap = text[position:shown]
        if gap.strip():
            parts.append(gap.strip("\n").rstrip() if "\n" in gap[: len(gap) - len(gap.lstrip())] else gap.strip())
        block = text[shown:end]
        parts.append(f"[{number}]\n{block}" if "\n" in block else f"[{number}] {block.strip()}")
        position = end
    tail = text[position:]
    if tail.strip():
        parts.append(tail.strip("\n").rstrip() if "\n" in tail[: len(tail) - len(tail.lstrip())] else tail.strip())
    return "\n".join(parts)


def generate_choices(engine: Engine, requests: list[ChatRequest], *, tag: str = "default") -> list[SpanChoice | Failure]:
    """One :class:`SpanChoice` or :class:`Failure` per request (each carries its own schema).

    Like :func:`goose.engines.generate_json`, with one difference for weak models: an answer
    cut off at ``max_tokens`` keeps its span number and its completed distractors
    (:func:`salvage_choice`) instead of being retried. Other unusable answers get one retry
    (another seed, some temperature; twice the tokens when even the number was cut off),
    and the retry's failure is counted in the engine's usage under ``tag``.
    """
    generations = engine.generate(requests, tag=tag)
    answers = [g if isinstance(g, Failure) else _parse_choice(g) for g in generations]
    retry = [i for i, a in enumerate(answers) if isinstance(a, Failure) and isinstance(generations[i], Generation)]
    if retry:
        second = engine.generate([retry_request(requests[i], generations[i]) for i in retry], tag=tag)
        for index, generation in zip(retry, second):
            answers[index] = generation if isinstance(generation, Failure) else _parse_choice(generation)
            if isinstance(generation, Generation) and isinstance(answers[index], Failure):
                engine.record_failure(answers[index].kind, tag=tag)  # type: ignore[union-attr]
    return answers


def _parse_choice(generation: Generation) -> SpanChoice | Failure:
    answer = parse_json_answer(generation.text, SpanChoice)
    if isinstance(answer, Failure) and answer.kind == "malformed_json" and generation.finish_reasons[:1] == ["length"]:
        return salvage_choice(generation.text) or answer
    return answer


_CHOICE_HEAD = re.compile(r'\s*(?:```(?:json)?\s*)?\{\s*"chosen_span"\s*:\s*(-?\d+)\s*,\s*"distractors"\s*:\s*\[')
_JSON_STRING = re.compile(r'\s*("(?:[^"\\]|\\.)*")\s*([,\]])')


def salvage_choice(text: str) -> SpanChoice | None:
    """The span number and the completed distractors of an answer cut off mid-way, or None
    when the number itself was not completed.

    >>> salvage_choice('{"chosen_span": 3, "distractors": ["a b", "c d", "e f g h i j')
    SpanChoice(chosen_span=3, distractors=['a b', 'c d'])
    >>> salvage_choice('{"chosen_span": 1') is None
    True
    """
    head = _CHOICE_HEAD.match(text)
    if head is None:
        return None
    distractors: list[str] = []
    position = head.end()
    while (item := _JSON_STRING.match(text, position)) is not None:
        try:
            distractors.append(json.loads(item.group(1)))
        except json.JSONDecodeError:
            break
        position = item.end()
        if item.group(2) == "]":
            break
    return SpanChoice(chosen_span=int(head.group(1)), distractors=distractors)


def merge_distractors(gold: str, candidates: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """``(texts, sources)`` of ``(text, source)`` pairs stripped, without blanks, copies of the
    gold or repeats (case and spacing ignored), in order.

    >>> merge_distractors("x = 4", [("x = 5", "llm"), ("X = 5", "perturb:numbers"), ("x = 6", "corpus:d2")])
    (['x = 5', 'x = 6'], ['llm', 'corpus:d2'])
    """
    seen = {normalize_for_comparison(gold)}
    texts: list[str] = []
    sources: list[str] = []
    for text, source in candidates:
        cleaned = text.strip()
        key = normalize_for_comparison(cleaned)
        if key and key not in seen:
            seen.add(key)
            texts.append(cleaned)
            sources.append(source)
    return texts, sources


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
    return merge_distractors(gold, [(distractor, "llm") for distractor in distractors])[0]


def _word_starts(text: str) -> list[int]:
    return [m.start() for m in _WORD.finditer(text)]


def _word_ends(text: str) -> list[int]:
    return [m.end() for m in _WORD.finditer(text)]
