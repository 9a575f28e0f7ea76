"""CorpusDistractors: wrong options without an LLM, from the gold itself and from other passages.

Two sources, interleaved in order of preference:

* **perturbations** of the gold (changed numbers, swapped operators, flipped words,
  toggled negations; see :mod:`goose.text.perturb`): hard, because they share the gold's
  wording. Capped by ``max_perturbations``, because many edits of one text let a solver
  pick the gold as the "centre" the others were edited from.
* **corpus spans**: windows of the same kind (sentences or code lines) and about the same
  size from *other* passages of the batch, same domain first, ranked by how many of their
  words occur near the ``[MASK]`` (plausible in context) and how close their length is
  to the gold's. At most ``max_per_source`` spans come from any one passage.
* **decoy perturbations**: the best corpus span is perturbed as many times as the gold
  was. Without them the gold's near-identical variants form the only cluster of similar
  options, and "the answer is in the cluster" would be a shortcut.

The batch is the corpus: larger ``Pipeline(batch_size=...)`` gives a richer pool.

Input columns: ``source_id``, ``domain``, ``text``, ``gold``, ``span_start``, ``span_end``.
Output columns: ``distractors`` (list of str, preferred first), ``distractor_sources``
(``perturb:<edits>``, ``corpus:<source_id>`` or ``decoy:<source_id>:<edits>``). Drops: ``no_distractors`` (nothing at all
could be made; :class:`FilterDistractors` judges whether there are *enough*).

>>> op = CorpusDistractors()
>>> op.max_perturbations, op.max_per_source
(3, 2)
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr

from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext
from goose.text.perturb import perturbations
from goose.text.segment import Segmenter, Unit

_WORDS = re.compile(r"\w+")
CONTEXT_CHARS = 600
"""Characters on each side of the gold that count as its context when ranking corpus spans."""


@dataclass(frozen=True)
class _Candidate:
    text: str
    source_id: str
    domain: str
    units: int
    kind: str


class _Pool:
    """The batch's candidate spans as arrays, built once per batch, so that ranking them for
    each row is a few NumPy operations rather than a Python loop over every candidate.

    Word overlap with a row's context is a sparse product: one entry per (candidate, word)
    with the word's count; a row marks its context words and sums the marked counts.
    """

    def __init__(self, candidates: list[_Candidate]) -> None:
        self.candidates = candidates
        self.lengths = np.array([len(c.text) for c in candidates], dtype=np.float64)
        self.units = np.array([c.units for c in candidates], dtype=np.int64)
        self._codes: dict[str, int] = {}
        self.sources = self._encode([c.source_id for c in candidates])
        self.kinds = self._encode([c.kind for c in candidates])
        self.domains = self._encode([c.domain for c in candidates])
        self.vocabulary: dict[str, int] = {}
        entry_candidate, entry_word, entry_count = [], [], []
        for position, candidate in enumerate(candidates):
            for word, count in Counter(_WORDS.findall(candidate.text.lower())).items():
                entry_candidate.append(position)
                entry_word.append(self.vocabulary.setdefault(word, len(self.vocabulary)))
                entry_count.append(count)
        self.entry_candidate = np.array(entry_candidate, dtype=np.int64)
        self.entry_word = np.array(entry_word, dtype=np.int64)
        self.entry_count = np.array(entry_count, dtype=np.float64)
        self.word_totals = np.bincount(self.entry_candidate, weights=self.entry_count, minlength=len(candidates))

    def code(self, value: str) -> int:
        """The integer code of a source id, kind or domain (-1 if no candidate has it)."""
        return self._codes.get(value, -1)

    def _encode(self, values: list[str]) -> np.ndarray:
        return np.array([self._codes.setdefault(v, len(self._codes)) for v in values], dtype=np.int64)

    def word_overlap(self, context_words: set[str], positions: np.ndarray) -> np.ndarray:
        """Per candidate at ``positions``: the share of its words (with repeats) in ``context_words``."""
        marked = np.zeros(len(self.vocabulary), dtype=bool)
        ids = [self.vocabulary[word] for word in context_words if word in self.vocabulary]
        marked[ids] = True
        hits = np.bincount(
            self.entry_candidate, weights=self.entry_count * marked[self.entry_word], minlength=len(self.candidates)
        )
        totals = self.word_totals[positions]
        return np.divide(hits[positions], totals, out=np.zeros(len(positions)), where=totals > 0)


class CorpusDistractors(Operator):
    """Make distractor candidates from gold perturbations and same-kind spans of other passages."""

    requires: ClassVar[tuple[str, ...]] = ("source_id", "domain", "text", "gold", "span_start", "span_end")
    produces: ClassVar[tuple[str, ...]] = ("distractors", "distractor_sources")

    max_perturbations: int = Field(3, ge=0, description="Most gold perturbations per task.")
    max_corpus: int = Field(12, ge=0, description="Most corpus spans per task.")
    max_per_source: int = Field(2, ge=1, description="Most corpus spans taken from any one other passage.")
    min_length_ratio: float = Field(0.6, gt=0, description="Shortest corpus span, as a share of the gold's length.")
    max_length_ratio: float = Field(1.6, gt=0, description="Longest corpus span, as a share of the gold's length.")

    _segmenter: Segmenter | None = PrivateAttr(default=None)

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        if self._segmenter is None:
            self._segmenter = Segmenter()
        rows = batch.select(list(self.requires)).to_pylist()
        unit_lists = [self._segmenter.units(row["text"]) for row in rows]
        golds = [self._gold_shape(row, units) for row, units in zip(rows, unit_lists)]
        pool = [
            _Candidate(row["text"][a.start : b.end], row["source_id"], row["domain"], size, a.kind)
            for row, units in zip(rows, unit_lists)
            for size in sorted({shape[0] for shape in golds})
            for first in range(1, len(units) - size + 1)
            for a, b in [(units[first], units[first + size - 1])]
            if len({u.kind for u in units[first : first + size]}) == 1
        ]
        pool_index = _Pool(pool)
        outcomes = RowOutcomes(
            batch, types={"distractors": pa.list_(pa.string()), "distractor_sources": pa.list_(pa.string())}
        )
        for index, (row, (size, kind)) in enumerate(zip(rows, golds)):
            rng = context.rng(self.name, row["source_id"])
            perturbed = perturbations(row["gold"], rng, max_variants=self.max_perturbations)
            corpus = self._corpus_spans(row, size, kind, pool_index)
            decoys = perturbations(corpus[0].text, rng, max_variants=len(perturbed)) if corpus else []
            texts, sources = _interleave(
                [(text, f"perturb:{edits}") for text, edits in perturbed],
                [(c.text, f"corpus:{c.source_id}") for c in corpus[:1]]
                + [(text, f"decoy:{corpus[0].source_id}:{edits}") for text, edits in decoys]
                + [(c.text, f"corpus:{c.source_id}") for c in corpus[1:]],
            )
            if not texts:
                outcomes.drop(index, "no_distractors", "no perturbation applies and no other passage has a span of this kind")
                continue
            outcomes.keep(index, distractors=texts, distractor_sources=sources)
        return outcomes.result()

    @staticmethod
    def _gold_shape(row: dict, units: list[Unit]) -> tuple[int, str]:
        inside = [u for u in units if u.start >= row["span_start"] and u.end <= row["span_end"]]
        if not inside:
            return (max(1, row["gold"].count("\n") + 1), "sentence")
        return (len(inside), inside[0].kind)

    def _corpus_spans(self, row: dict, size: int, kind: str, pool: _Pool) -> list[_Candidate]:
        gold_length = len(row["gold"])
        ratio = pool.lengths / gold_length
        fitting = np.flatnonzero(
            (pool.sources != pool.code(row["source_id"]))
            & (pool.units == size)
            & (pool.kinds == pool.code(kind))
            & (ratio >= self.min_length_ratio)
            & (ratio <= self.max_length_ratio)
        )
        if not len(fitting):
            return []
        text = row["text"]
        around = text[max(0, row["span_start"] - CONTEXT_CHARS) : row["span_start"]]
        around += text[row["span_end"] : row["span_end"] + CONTEXT_CHARS]
        context_words = set(_WORDS.findall(around.lower()))
        scores = (
            pool.word_overlap(context_words, fitting)
            + 0.5 * (1 - np.abs(np.log(ratio[fitting])))
            + np.where(pool.domains[fitting] == pool.code(row["domain"]), 0.5, 0.0)
        )
        chosen: list[_Candidate] = []
        per_source: dict[str, int] = {}
        for position in fitting[np.argsort(-scores, kind="stable")]:
            candidate = pool.candidates[position]
            if per_source.get(candidate.source_id, 0) >= self.max_per_source:
                continue
            per_source[candidate.source_id] = per_source.get(candidate.source_id, 0) + 1
            chosen.append(candidate)
            if len(chosen) >= self.max_corpus:
                break
        return chosen


def _interleave(perturbed: list[tuple[str, str]], corpus: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """One perturbation, then two corpus spans, and so on, so that both kinds survive a cut."""
    merged: list[tuple[str, str]] = []
    p, c = list(perturbed), list(corpus)
    while p or c:
        if p:
            merged.append(p.pop(0))
        merged.extend(c[:2])
        c = c[2:]
    return [t for t, _ in merged], [s for _, s in merged]
