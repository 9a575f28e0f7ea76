"""MinHashDedup: drop rows whose text nearly duplicates an earlier row of the run.

Each row's text (``column``, or the ``fields`` joined by newlines, e.g. ``["masked_text",
"gold"]`` to dedup tasks) gets a MinHash signature; rows sharing an LSH band with an earlier
row, in this batch or any earlier batch of the run, are near-duplicates (see
:mod:`goose.dedup.minhash` for shingles, ``num_perm``, ``threshold`` and the bands x rows
it implies). The first row in input order of each cluster is kept, so which copy survives
does not depend on batch size. The operator keeps a run-wide index (band key -> kept row
and that row's signature, about 1.5 KB per kept row), cleared by ``start_run``. A row that
only becomes linked to two earlier kept rows (a bridge) is dropped; the kept rows stay.

Input columns: ``column`` (default ``text``) or ``fields``; ``source_id``/``id`` name kept
rows in details when present. Output columns: unchanged. Drops: ``near_duplicate``, with
the kept row's id and the estimated Jaccard. Rows without any word (blank text) are kept
and never matched: drop blanks with ``PrepareText``.

>>> from goose import Pipeline
>>> rows = [{"text": "the cat sat on the warm mat today"}, {"text": "The cat sat on the warm mat today!"}]
>>> Pipeline([MinHashDedup()]).run(rows).rejects.column("detail").to_pylist()
['near-duplicate of run-row:0 (estimated Jaccard 1.00)']
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr

from goose.dedup.minhash import (
    MinHashParams,
    band_keys,
    cluster_first,
    duplicate_pairs,
    signatures,
)
from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext

_NO_SHINGLES = np.uint32(0xFFFFFFFF)


class MinHashDedup(Operator):
    """Drop near-duplicate rows across the whole run, keeping the first copy."""

    requires: ClassVar[tuple[str, ...]] = ("text",)

    column: str = Field("text", min_length=1, description="Column holding the text to compare.")
    fields: list[str] | None = Field(
        None, min_length=1, description="Columns joined by newlines instead of ``column`` (tasks: masked_text, gold)."
    )
    num_perm: int = Field(128, ge=2, le=1024, description="Hash functions per signature.")
    threshold: float = Field(0.7, gt=0.0, lt=1.0, description="Jaccard similarity counted as a near-duplicate.")
    shingle_size: int = Field(5, ge=1, le=64, description="Words (or characters) per shingle.")
    shingle_unit: Literal["word", "char"] = "word"
    seed: int = Field(1, ge=0, description="Seed of the MinHash hash functions.")
    verify: bool = Field(False, description="Require estimated Jaccard >= threshold, not only a shared band.")

    _params: MinHashParams = PrivateAttr()
    _index: dict[tuple[int, int], int] = PrivateAttr(default_factory=dict)
    _kept: dict[int, tuple[str, np.ndarray]] = PrivateAttr(default_factory=dict)
    _rows_seen: int = PrivateAttr(0)

    def model_post_init(self, context: object, /) -> None:
        self._params = MinHashParams(
            num_perm=self.num_perm, threshold=self.threshold, shingle_size=self.shingle_size,
            shingle_unit=self.shingle_unit, seed=self.seed, verify=self.verify,
        )

    @property
    def params(self) -> MinHashParams:
        """The MinHash settings, with ``bands`` and ``rows`` derived from ``threshold``."""
        return self._params

    def required_columns(self) -> tuple[str, ...]:
        return tuple(self.fields) if self.fields else (self.column,)

    def start_run(self) -> None:
        self._index.clear()
        self._kept.clear()
        self._rows_seen = 0

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(batch)
        texts = self._texts(batch)
        signature = signatures(texts, self._params)
        keys = band_keys(signature, self._params).tolist()
        local_first = cluster_first(len(texts), duplicate_pairs(signature, self._params)).tolist()
        labels = self._labels(batch)
        representative: dict[int, int] = {}  # batch row of a local cluster's first -> run row kept
        first_run_row = self._rows_seen
        for i in range(len(texts)):
            run_row = first_run_row + i
            if signature[i, 0] == _NO_SHINGLES:
                outcomes.keep(i)
                continue
            root = local_first[i]
            if root == i:
                earlier = self._earlier_match(keys[i], signature[i])
                representative[i] = run_row if earlier is None else earlier
            kept_row = representative[root]
            if kept_row == run_row:
                outcomes.keep(i)
                self._kept[run_row] = (labels[i], signature[i].copy())
            else:
                label, kept_signature = self._kept[kept_row]
                jaccard = float((kept_signature == signature[i]).mean())
                outcomes.drop(i, "near_duplicate", f"near-duplicate of {label} (estimated Jaccard {jaccard:.2f})")
            for band, key in enumerate(keys[i]):
                self._index.setdefault((band, key), kept_row)
        self._rows_seen += len(texts)
        return outcomes.result()

    def _earlier_match(self, keys: list[int], signature: np.ndarray) -> int | None:
        """The earliest kept row of an earlier batch sharing a band (and, with ``verify``,
        similar enough), or ``None``."""
        hits = sorted({self._index[(band, key)] for band, key in enumerate(keys) if (band, key) in self._index})
        for hit in hits:
            if not self.verify or float((self._kept[hit][1] == signature).mean()) >= self.threshold:
                return hit
        return None

    def _texts(self, batch: pa.Table) -> list[str]:
        columns = [batch.column(name).to_pylist() for name in self.required_columns()]
        return ["\n".join("" if value is None else str(value) for value in values) for values in zip(*columns)]

    def _labels(self, batch: pa.Table) -> list[str]:
        for name in ("source_id", "id"):
            if name in batch.column_names:
                values = batch.column(name).to_pylist()
                return [f"{name} {value}" if value is not None else f"run-row:{self._rows_seen + i}"
                        for i, value in enumerate(values)]
        return [f"run-row:{self._rows_seen + i}" for i in range(batch.num_rows)]
