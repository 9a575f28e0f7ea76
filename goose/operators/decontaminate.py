"""Decontaminate: drop tasks that share word n-grams with evaluation benchmarks.

Input columns: by default ``masked_text``, ``gold`` and ``options`` when the batch has
``masked_text`` (a tasks table), else ``text``; ``text_columns`` names others. String and
list-of-string columns both work. The gold is put back into ``[MASK]`` before checking, so an
overlap that straddles the mask's edge is found too; each option is checked on its own.
Output columns: none added. Drops: ``contaminated`` (at least ``min_overlap`` distinct
``n``-grams shared with one or more benchmarks; the detail names the benchmarks and the first
shared n-gram).

Texts are lowercased, every run of characters that are not letters or digits becomes a space,
and the words are hashed with xxHash64 and rolled into 64-bit n-gram hashes (stable across
runs and machines). The benchmark index is built once per operator, on first use, and lookups
are NumPy ``searchsorted`` over the sorted index. Benchmark texts shorter than ``n`` words can
never match: lower ``n`` for benchmarks of short questions.

>>> benchmark = "natalia sold clips to 48 of her friends in april and then she sold half as many in may"
>>> step = Decontaminate(benchmarks={"gsm8k": [benchmark]}, n=8)
>>> task = pa.table({"text": ["So Natalia sold clips to 48 of her friends in April."]})
>>> step.process(task, RunContext()).drops[0].detail
"gsm8k: 3 shared 8-grams; first: 'natalia sold clips to 48 of her friends'"
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash
from pydantic import Field, PrivateAttr, field_validator, model_validator

from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext
from goose.question import MASK_TOKEN

_BENCHMARK_SUFFIXES = (".jsonl", ".txt", ".parquet")
_ROLL = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier of the rolling n-gram hash
_INDEX_CHUNK = 20_000  # benchmark texts hashed per Arrow call, bounding peak memory


@dataclass(frozen=True)
class NgramHashes:
    """The n-grams of a list of texts: ``hashes[k]`` is the n-gram starting at word
    ``starts[k]`` of the flat ``words`` array, inside text ``text_index[k]``."""

    hashes: np.ndarray
    text_index: np.ndarray
    starts: np.ndarray
    words: pa.Array

    def text_of(self, k: int, n: int) -> str:
        """The words of n-gram ``k``, joined by spaces."""
        return " ".join(self.words.slice(int(self.starts[k]), n).to_pylist())


def ngram_hashes(texts: list[str], n: int) -> NgramHashes:
    """Hash every word ``n``-gram of each text (lowercased, punctuation dropped) to a uint64.

    N-grams never cross from one text into the next.

    >>> grams = ngram_hashes(["The cat, the CAT!", "a b"], 2)
    >>> grams.hashes.dtype.name, grams.text_index.tolist(), grams.text_of(2, 2)
    ('uint64', [0, 0, 0, 1], 'the cat')
    """
    array = pa.array(texts, type=pa.string())
    cleaned = pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.utf8_lower(array), r"[^\p{L}\p{N}]+", " "))
    split = pc.utf8_split_whitespace(cleaned)
    lengths = np.asarray(pc.fill_null(pc.list_value_length(split), 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    flat = pc.list_flatten(split)
    keep = pc.greater(pc.utf8_length(flat), 0)  # an empty text splits into one empty word
    words = flat.filter(keep)
    lengths = lengths - np.bincount(
        pc.list_parent_indices(split).filter(pc.invert(keep)).to_numpy(), minlength=len(texts)
    )[: len(texts)]
    empty = np.array([], dtype=np.uint64)
    if len(words) < n:
        return NgramHashes(empty, np.array([], dtype=np.int64), np.array([], dtype=np.int64), words)
    encoded = pc.dictionary_encode(words)
    vocabulary = np.fromiter(
        (xxhash.xxh64_intdigest(word) for word in encoded.dictionary.cast(pa.binary()).to_pylist()),
        dtype=np.uint64,
        count=len(encoded.dictionary),
    )
    word_hashes = vocabulary[encoded.indices.to_numpy()]
    windows = len(word_hashes) - n + 1
    hashes = np.zeros(windows, dtype=np.uint64)
    for offset in range(n):  # uint64 arithmetic wraps modulo 2**64, which the hash relies on
        hashes = hashes * _ROLL + word_hashes[offset : offset + windows]
    hashes ^= hashes >> np.uint64(31)
    ends = np.cumsum(lengths)
    text_of_word = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    starts = np.arange(windows, dtype=np.int64)
    valid = starts + n <= ends[text_of_word[:windows]]
    return NgramHashes(hashes[valid], text_of_word[:windows][valid], starts[valid], words)


@dataclass(frozen=True)
class BenchmarkIndex:
    """Sorted unique n-gram hashes of all benchmarks, with the benchmark each came from first."""

    hashes: np.ndarray
    benchmark: np.ndarray
    names: tuple[str, ...]

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """Index into ``names`` for each hash, -1 where no benchmark has it."""
        if len(self.hashes) == 0 or len(hashes) == 0:
            return np.full(len(hashes), -1, dtype=np.int64)
        position = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
        return np.where(self.hashes[position] == hashes, self.benchmark[position], -1)


def build_index(benchmarks: dict[str, list[str]], n: int) -> BenchmarkIndex:
    """Hash every benchmark text's n-grams into one :class:`BenchmarkIndex`.

    >>> index = build_index({"a": ["one two three"], "b": ["two three four"]}, 2)
    >>> len(index.hashes), index.names
    (3, ('a', 'b'))
    """
    names = tuple(benchmarks)
    parts: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    for number, name in enumerate(names):
        texts = [text for text in benchmarks[name] if isinstance(text, str)]
        for start in range(0, len(texts), _INDEX_CHUNK):
            grams = ngram_hashes(texts[start : start + _INDEX_CHUNK], n)
            parts.append(grams.hashes)
            owners.append(np.full(len(grams.hashes), number, dtype=np.int64))
    if not parts:
        return BenchmarkIndex(np.array([], dtype=np.uint64), np.array([], dtype=np.int64), names)
    hashes, first = np.unique(np.concatenate(parts), return_index=True)
    return BenchmarkIndex(hashes, np.concatenate(owners)[first], names)


def read_benchmark_texts(path: str | Path, columns: tuple[str, ...]) -> list[str]:
    """Texts of a benchmark file: one per line of a ``.txt``; the named columns of a ``.jsonl``
    or ``.parquet`` file (a list value, such as answer choices, gives one text per item).

    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "b.jsonl")
    ...     _ = open(path, "w").write('{"question": "q1", "choices": ["a", "b"]}\\n')
    ...     read_benchmark_texts(path, ("question", "choices"))
    ['q1', 'a', 'b']
    """
    path = Path(path)
    if path.suffix == ".txt":
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix == ".parquet":
        present = [name for name in columns if name in pq.read_schema(path).names]
        records = pq.read_table(path, columns=present).to_pylist() if present else []
    else:
        present = []
        records = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                records.append(record)
                present.extend(name for name in columns if name in record and name not in present)
    if not present:
        raise ValueError(f"benchmark file {path} has none of the text column(s) {list(columns)}")
    texts: list[str] = []
    for record in records:
        for name in columns:
            texts.extend(_strings(record.get(name)))
    return texts


class Decontaminate(Operator):
    """Drop tasks whose passage or options share ``n``-word sequences with benchmark texts."""

    benchmarks: dict[str, list[str]] = Field(default_factory=dict, description="Benchmark name -> its texts.")
    benchmark_paths: dict[str, str] = Field(
        default_factory=dict, description="Benchmark name -> a .jsonl, .txt or .parquet file of its texts."
    )
    benchmark_text_columns: tuple[str, ...] = Field(
        ("text",), min_length=1, description="Columns read from .jsonl/.parquet benchmark files."
    )
    n: int = Field(13, ge=1, description="Words per n-gram; 13 is the usual choice (GPT-3, lm-eval-harness).")
    min_overlap: int = Field(1, ge=1, description="Distinct shared n-grams that make a task contaminated.")
    text_columns: tuple[str, ...] | None = Field(
        None, description="Columns to check; None: masked_text, gold and options if present, else text."
    )

    _index: Any = PrivateAttr(default=None)

    @field_validator("benchmark_paths")
    @classmethod
    def _check_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for name, path in value.items():
            if Path(path).suffix not in _BENCHMARK_SUFFIXES:
                raise ValueError(f"benchmark {name!r}: {path} is not one of {', '.join(_BENCHMARK_SUFFIXES)}")
            if not Path(path).is_file():
                raise ValueError(f"benchmark {name!r}: no file at {path}")
        return value

    @model_validator(mode="after")
    def _check_some_benchmark(self) -> Decontaminate:
        if not self.benchmarks and not self.benchmark_paths:
            raise ValueError("give benchmarks or benchmark_paths: with neither, nothing can be contaminated")
        return self

    def required_columns(self) -> tuple[str, ...]:
        return self.text_columns or ()

    def index(self) -> BenchmarkIndex:
        """The benchmark n-gram index, built on first use and kept for the operator's life."""
        if self._index is None:
            texts: dict[str, list[str]] = {name: list(values) for name, values in self.benchmarks.items()}
            for name, path in self.benchmark_paths.items():
                texts.setdefault(name, []).extend(read_benchmark_texts(path, self.benchmark_text_columns))
            self._index = build_index(texts, self.n)
        return self._index

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(batch)
        if batch.num_rows == 0:
            return outcomes.result()
        segments, owner = self._segments(batch)
        grams = ngram_hashes(segments, self.n)
        found = self.index().lookup(grams.hashes)
        hit = np.flatnonzero(found >= 0)
        rows = np.asarray(owner, dtype=np.int64)[grams.text_index[hit]]
        # Distinct shared n-grams per row: a phrase repeated in the passage and an option counts once.
        pairs = np.unique(np.stack([rows, grams.hashes[hit].astype(np.int64)]), axis=1)
        shared = np.bincount(pairs[0], minlength=batch.num_rows)
        for index in range(batch.num_rows):
            if shared[index] < self.min_overlap:
                outcomes.keep(index)
                continue
            mine = hit[rows == index]
            outcomes.drop(index, "contaminated", self._detail(grams, mine, found[mine]))
        return outcomes.result()

    def _detail(self, grams: NgramHashes, hits: np.ndarray, benchmark: np.ndarray) -> str:
        names = self.index().names
        per_benchmark: dict[str, set[int]] = {}
        for k, number in zip(hits.tolist(), benchmark.tolist()):
            per_benchmark.setdefault(names[number], set()).add(int(grams.hashes[k]))
        counts = ", ".join(f"{name}: {len(found)}" for name, found in per_benchmark.items())
        return f"{counts} shared {self.n}-grams; first: {grams.text_of(int(hits[0]), self.n)!r}"

    def _segments(self, batch: pa.Table) -> tuple[list[str], list[int]]:
        """Texts to check and the row each came from; the gold fills the mask of masked_text."""
        columns = self.text_columns
        if columns is None:
            if "masked_text" in batch.column_names:
                columns = tuple(name for name in ("masked_text", "gold", "options") if name in batch.column_names)
            elif "text" in batch.column_names:
                columns = ("text",)
            else:
                found = batch.column_names
                raise ValueError(f"Decontaminate found neither 'masked_text' nor 'text' in columns {found}")
        values = {name: batch.column(name).to_pylist() for name in columns}
        segments: list[str] = []
        owner: list[int] = []
        for index in range(batch.num_rows):
            gold = values["gold"][index] if "gold" in values else None
            for name in columns:
                value = values[name][index]
                if name == "masked_text" and isinstance(value, str) and isinstance(gold, str) and MASK_TOKEN in value:
                    value = value.replace(MASK_TOKEN, gold, 1)
                elif isinstance(value, str) and MASK_TOKEN in value:
                    value = value.split(MASK_TOKEN)  # without a gold, n-grams must not bridge the mask
                for text in _strings(value):
                    segments.append(text)
                    owner.append(index)
        return segments, owner


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return []
