"""CorpusDistractors: on-topic wrong-option candidates without an LLM.

Candidates have the gold's role and kind (sentences for prose, code lines for code, the
same number of units, a length near the gold's) and come from text *about the same thing*,
so that "the option on the passage's topic" is no longer the answer:

* **same document**: spans of the document outside the shown passage (the
  ``outside_text`` column that :class:`SplitPassages` writes) and of the other passages of
  the same ``document_id`` in the pool;
* **nearest passages**: spans of the passages of the run most similar to this one (TF-IDF
  cosine over a run-wide pool of the last ``pool_passages`` passages, same domain first;
  see :mod:`goose.distractors.pool`); for question + solution rows only solution text, for
  code only code lines, never docstrings or ``def`` lines, headings or reference lists;
  Borrowed code lines take the passage's names (:func:`goose.distractors.names.adopt_names`),
  so an option is not given away by using names the passage never defines;
* **perturbations** of the gold (numbers, operators, words, negations; see
  :mod:`goose.text.perturb`), at most ``max_perturbations``, plus up to ``max_second_step``
  variants of the first one (two edits away, so the gold is not the medoid of its
  look-alikes, which the ``centroid`` solver would find), and as many **decoy**
  perturbations of the best borrowed span, so that the gold is not the centre of the only
  cluster of near-identical options.

The output is a candidate list, larger than a task needs; :class:`FilterDistractors`
removes the unusable ones and :class:`SelectDistractors` picks the final wrong options
against the shortcut solvers.

The pool makes this step stateful: the run's passages so far are remembered (bounded by
``pool_passages``), saved per batch in a resumable run and replayed on resume, so results
do not depend on where a run was interrupted. ``pool_passages=0`` uses the batch alone.

Input columns: ``source_id``, ``domain``, ``text``, ``gold``, ``span_start``, ``span_end``;
optional ``solution_start``, ``document_id``, ``outside_text``, ``units`` (the passage's units as
:class:`HeuristicMaskSpan` found them; without it the passage is segmented here). The ``units``
column is not passed on: no later step reads it.
Output columns: ``distractors`` (list of str, preferred first), ``distractor_sources``
(``perturb:<edits>``, ``perturb:<edits>><edits>`` for a variant of a variant, ``same_doc:<source_id>``, ``near:<source_id>`` or
``decoy:<source_id>:<edits>``). Drops: ``no_distractors`` (nothing at all could be made;
:class:`FilterDistractors` judges whether there are *enough*).

>>> op = CorpusDistractors()
>>> op.max_perturbations, op.max_per_source, op.pool_passages
(4, 2, 2000)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr

from goose.distractors.names import adopt_names, code_names
from goose.distractors.pool import PassagePool, PoolPassage
from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext
from goose.text.perturb import DocumentTerms, keep_words, perturbations
from goose.text.segment import Segmenter, Unit, units_from_records

_WORDS = re.compile(r"\w+")
CONTEXT_CHARS = 600
"""Characters on each side of the gold that count as its context when ranking spans."""


@dataclass(frozen=True)
class _Borrowed:
    text: str
    source_id: str
    origin: str  # "same_doc" or "near"


class CorpusDistractors(Operator):
    """Make on-topic distractor candidates: same-document and nearest-passage spans, gold perturbations."""

    requires: ClassVar[tuple[str, ...]] = ("source_id", "domain", "text", "gold", "span_start", "span_end")
    produces: ClassVar[tuple[str, ...]] = ("distractors", "distractor_sources")
    stateful: ClassVar[bool] = True
    version: ClassVar[str] = "2"

    max_perturbations: int = Field(4, ge=0, description="Most gold perturbations per task.")
    max_second_step: int = Field(
        2, ge=0, description="Most variants of the first perturbation (two edits from the gold) per task."
    )
    max_corpus: int = Field(16, ge=0, description="Most borrowed spans (same document and nearest passages) per task.")
    max_per_source: int = Field(2, ge=1, description="Most spans taken from any one other passage.")
    nearest_passages: int = Field(12, ge=1, description="How many of the most similar passages spans are borrowed from.")
    pool_passages: int = Field(
        2000, ge=0, description="Run-wide pool size in passages (the last ones seen); 0 borrows from the batch only."
    )
    min_length_ratio: float = Field(0.6, gt=0, description="Shortest borrowed span, as a share of the gold's length.")
    max_length_ratio: float = Field(1.6, gt=0, description="Longest borrowed span, as a share of the gold's length.")

    _segmenter: Segmenter | None = PrivateAttr(default=None)
    _pool: PassagePool | None = PrivateAttr(default=None)
    _added: list[PoolPassage] | None = PrivateAttr(default=None)  # None: no checkpoint asked for yet

    def start_run(self) -> None:
        self._pool = PassagePool(self.pool_passages) if self.pool_passages else None
        self._added = None

    def checkpoint(self) -> bytes | None:
        """The passages this step added to the run-wide pool since the previous checkpoint; the
        first checkpoint of a run holds the whole pool (the added passages are only noted once
        checkpoints are asked for, so a run that never asks, ``Pipeline.stream``, keeps none
        beyond the pool)."""
        if self._pool is None:
            return b""
        data = self._pool.state_bytes() if self._added is None else self._pool.checkpoint_bytes(self._added)
        self._added = []
        return data

    def run_memory(self) -> dict[str, int]:
        """The run-wide passage pool (its bytes and passages) and the segmenter's vocabulary (lexemes)."""
        memory = {"pool_bytes": self._pool.nbytes, "pool_passages": len(self._pool)} if self._pool is not None else {}
        return {**memory, "segmenter_lexemes": self._segmenter.lexemes if self._segmenter is not None else 0}

    def restore(self, checkpoints: Sequence[bytes]) -> None:
        if self._pool is None:
            return
        for data in checkpoints:
            self._pool.replay(data)
        self._added = []  # the next checkpoint holds what comes after these

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        if self._segmenter is None:
            self._segmenter = Segmenter()
        optional = [c for c in ("solution_start", "document_id", "outside_text") if c in batch.column_names]
        rows = batch.select([*self.requires, *optional]).to_pylist()
        given = batch.column("units") if "units" in batch.column_names else None
        segmented: dict[str, list[Unit]] = {}  # a passage with several candidate spans has several rows
        for index, row in enumerate(rows):
            if row["text"] not in segmented:
                records = given[index].as_py() if given is not None else None
                segmented[row["text"]] = (
                    units_from_records(records) if records is not None else self._segmenter.units(row["text"])
                )
        unit_lists = [segmented[row["text"]] for row in rows]
        pool = self._pool if self._pool is not None and self.pool_passages else PassagePool(max(1, len(rows)))
        pooled: set[str] = set()
        for row, units in zip(rows, unit_lists):
            if str(row["source_id"]) in pooled:
                continue
            pooled.add(str(row["source_id"]))
            passage = PoolPassage.build(
                str(row["source_id"]), str(row.get("document_id") or row["source_id"]), str(row["domain"]),
                row["text"], units=units, solution_start=row.get("solution_start"),
            )
            pool.add(passage)
            if pool is self._pool and self._added is not None:
                self._added.append(passage)
        outcomes = RowOutcomes(
            batch.drop_columns(["units"]) if given is not None else batch,
            types={"distractors": pa.list_(pa.string()), "distractor_sources": pa.list_(pa.string())},
        )
        # The passages of one document share their outside paragraphs, and a passage has a row per
        # candidate span: each distinct paragraph is segmented once per batch (SplitPassages puts
        # a document's passages in one batch).
        outside_parts: dict[str, PoolPassage] = {}
        terms_of = DocumentTerms()  # the same way, each outside paragraph's terms are found once per batch
        for index, (row, units) in enumerate(zip(rows, unit_lists)):
            size, kind = _gold_shape(row, units)
            rng = context.rng(self.name, row["source_id"], row["span_start"])
            # Term swaps draw on the document's own words, so variants stay on the passage's topic.
            around = row["text"][: row["span_start"]] + "\n" + row["text"][row["span_end"] :]
            vocabulary = terms_of([row["text"][: row["span_start"]], row["text"][row["span_end"] :],
                                   *(row.get("outside_text") or [])])
            keep = keep_words(around)  # the passage's givens stay as they are
            perturbed = perturbations(row["gold"], rng, max_variants=self.max_perturbations, vocabulary=vocabulary,
                                      kind=kind, keep=keep)
            if perturbed and self.max_second_step:
                # Variants of a variant: with them the gold is not the centre of its cluster of look-alikes.
                further = perturbations(perturbed[0][0], rng, max_variants=self.max_second_step, vocabulary=vocabulary,
                                        kind=kind, keep=keep)
                known = {row["gold"], *(text for text, _ in perturbed)}
                perturbed += [(text, f"{perturbed[0][1]}>{edits}") for text, edits in further if text not in known]
            borrowed = self._borrowed(row, units, size, kind, pool, outside_parts)
            decoys = (
                perturbations(borrowed[0].text, rng, max_variants=len(perturbed), vocabulary=vocabulary, kind=kind)
                if borrowed else []
            )
            texts, sources = _interleave(
                [(text, f"perturb:{edits}") for text, edits in perturbed],
                [(b.text, f"{b.origin}:{b.source_id}") for b in borrowed[:1]]
                + [(text, f"decoy:{borrowed[0].source_id}:{edits}") for text, edits in decoys]
                + [(b.text, f"{b.origin}:{b.source_id}") for b in borrowed[1:]],
            )
            if not texts:
                outcomes.drop(index, "no_distractors", "no perturbation applies and no passage has a span of this kind")
                continue
            outcomes.keep(index, distractors=texts, distractor_sources=sources)
        return outcomes.result()

    def _borrowed(
        self, row: dict, units: list[Unit], size: int, kind: str, pool: PassagePool, outside_parts: dict[str, PoolPassage]
    ) -> list[_Borrowed]:
        """Same-document spans first, then spans of the nearest passages, each source's spans
        ranked by words shared with the gold's context and by length closeness. ``outside_parts``
        holds the outside paragraphs segmented so far in this batch, by text."""
        text, start, end = row["text"], row["span_start"], row["span_end"]
        code = "\n".join(text[u.start : u.end] for u in units if u.kind == "line" and u.junk is None)
        python = _looks_python(code)
        own_names = code_names(code, python) if kind == "line" else []
        gold_length = max(len(row["gold"]), 1)
        low, high = int(self.min_length_ratio * gold_length), int(self.max_length_ratio * gold_length) + 1
        context_text = text[max(0, start - CONTEXT_CHARS) : start] + " " + text[end : end + CONTEXT_CHARS]
        context_words = set(_WORDS.findall(context_text.lower()))
        own_id, document = str(row["source_id"]), str(row.get("document_id") or row["source_id"])
        # (origin, source id, the passage whose windows are borrowed, or an outside paragraph's text).
        # A source's windows are made only when it is reached: once max_corpus spans are chosen, the
        # rest (most outside paragraphs of a long document) are never segmented.
        sources: list[tuple[str, str, PoolPassage | str]] = [
            ("same_doc", document, outside) for outside in row.get("outside_text") or []
        ]
        masked = text[:start] + " " + text[end:]
        nearest = pool.nearest(masked, self.nearest_passages, exclude=own_id, domain=str(row["domain"]))
        same_doc = [i for i in range(len(pool)) if pool.passages[i].document_id == document and pool.passages[i].source_id != own_id]
        for position in same_doc + [i for i in nearest if i not in same_doc]:
            passage = pool.passages[position]
            origin = "same_doc" if position in same_doc else "near"
            sources.append((origin, passage.source_id, passage))
        chosen: list[_Borrowed] = []
        seen: set[str] = {row["gold"].strip()}
        for origin, source_id, source in sources:
            if len(chosen) >= self.max_corpus:
                break
            if isinstance(source, str):
                part = outside_parts.get(source)
                if part is None:  # only its windows are read: the ids and domain do not matter
                    part = outside_parts[source] = PoolPassage.build(
                        document, document, str(row["domain"]), source, segmenter=self._segmenter, skip_first=False
                    )
                source = part
            windows = _windows(source, size, kind, low, high)
            ranked = sorted(windows, key=lambda w: -_fit(w, context_words, gold_length))
            taken = 0
            for window in ranked:
                if taken >= self.max_per_source or len(chosen) >= self.max_corpus:
                    break
                if kind == "line":  # another function's lines, in the names of this passage's code
                    window = adopt_names(window, code, python=python, own=own_names)
                if window.strip() in seen or window in text:
                    continue
                seen.add(window.strip())
                chosen.append(_Borrowed(window, source_id, origin))
                taken += 1
        return chosen


def _looks_python(text: str) -> bool:
    """Python unless the text's lines end like C, Java or JavaScript statements."""
    return bool(_PYTHON_LINE.search(text)) or not _C_LINE.search(text)


_PYTHON_LINE = re.compile(r"^\s*(?:def |elif |import |from \w+ import|print\()|:\s*$", re.M)
_C_LINE = re.compile(r"[;{}]\s*$", re.M)


def _windows(passage: PoolPassage, size: int, kind: str, low: int, high: int) -> list[str]:
    """Windows of the gold's size, else one unit more or fewer."""
    for candidate_size in (size, size + 1, size - 1):
        if candidate_size >= 1:
            found = passage.windows(candidate_size, kind, low, high)
            if found:
                return found
    return []


def _fit(window: str, context_words: set[str], gold_length: int) -> float:
    """How well a window fits the gap: share of its words in the gold's context, plus length closeness."""
    words = Counter(_WORDS.findall(window.lower()))
    total = sum(words.values())
    overlap = sum(count for word, count in words.items() if word in context_words) / total if total else 0.0
    return overlap + 0.5 * (1 - abs(float(np.log(len(window) / gold_length))))


def _gold_shape(row: dict, units: list[Unit]) -> tuple[int, str]:
    inside = [u for u in units if u.start >= row["span_start"] and u.end <= row["span_end"]]
    if not inside:
        return (max(1, row["gold"].count("\n") + 1), "sentence")
    return (len(inside), inside[0].kind)


def _interleave(perturbed: list[tuple[str, str]], corpus: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """One perturbation, then two borrowed spans, and so on, so that both kinds survive a cut."""
    merged: list[tuple[str, str]] = []
    p, c = list(perturbed), list(corpus)
    while p or c:
        if p:
            merged.append(p.pop(0))
        merged.extend(c[:2])
        c = c[2:]
    return [t for t, _ in merged], [s for _, s in merged]
