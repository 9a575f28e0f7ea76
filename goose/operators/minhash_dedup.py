"""MinHashDedup: drop rows whose text nearly duplicates an earlier row of the run.

Each row's text (``column``, or the ``fields`` joined by newlines, e.g. ``["masked_text",
"gold"]`` to dedup tasks) gets a MinHash signature; rows sharing an LSH band with an earlier
row, in this batch or any earlier batch of the run, are near-duplicates. ``minhash`` (a :class:`~goose.dedup.minhash.MinHashParams`, in YAML
``minhash: {threshold: 0.8}``) sets shingles, ``num_perm``, ``threshold`` and the bands x
rows it implies; :mod:`goose.dedup.minhash` explains the trade-offs. Rows are checked one
by one in input order against the run so far, so the first copy is kept and the result does
not depend on batch size. The operator keeps a run-wide index (band key -> kept row and
that row's signature, about 1.5 KB per kept row), cleared by ``start_run``.

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

from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr

from goose.dedup.minhash import (
    MinHashParams,
    band_keys,
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
    minhash: MinHashParams = Field(
        default_factory=MinHashParams, description="Shingles, permutations, threshold (bands x rows derived from it)."
    )

    stateful: ClassVar[bool] = True
    _index: dict[tuple[int, int], int] = PrivateAttr(default_factory=dict)
    _kept: dict[int, tuple[str, np.ndarray]] = PrivateAttr(default_factory=dict)
    _rows_seen: int = PrivateAttr(0)

    @property
    def params(self) -> MinHashParams:
        """The MinHash settings, with ``bands`` and ``rows`` derived from ``threshold``."""
        return self.minhash

    def required_columns(self) -> tuple[str, ...]:
        return tuple(self.fields) if self.fields else (self.column,)

    def start_run(self) -> None:
        self._index.clear()
        self._kept.clear()
        self._rows_seen = 0

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(batch)
        texts = self._texts(batch)
        signature = signatures(texts, self.minhash)
        keys = band_keys(signature, self.minhash).tolist()
        labels = self._labels(batch)
        # One sequential rule for rows of this batch and of earlier ones alike, so the
        # result does not depend on how the run was cut into batches.
        for i in range(len(texts)):
            run_row = self._rows_seen + i
            if signature[i, 0] == _NO_SHINGLES:
                outcomes.keep(i)
                continue
            earlier = self._earlier_match(keys[i], signature[i])
            kept_row = run_row if earlier is None else earlier
            if earlier is None:
                outcomes.keep(i)
                self._kept[run_row] = (labels[i], signature[i].copy())
            else:
                label, kept_signature = self._kept[earlier]
                jaccard = float((kept_signature == signature[i]).mean())
                outcomes.drop(i, "near_duplicate", f"near-duplicate of {label} (estimated Jaccard {jaccard:.2f})")
            for band, key in enumerate(keys[i]):
                self._index.setdefault((band, key), kept_row)
        self._rows_seen += len(texts)
        return outcomes.result()

    def _earlier_match(self, keys: list[int], signature: np.ndarray) -> int | None:
        """The earliest kept row seen so far in the run sharing a band (and, with ``verify``,
        similar enough), or ``None``."""
        hits = sorted({self._index[(band, key)] for band, key in enumerate(keys) if (band, key) in self._index})
        for hit in hits:
            if not self.minhash.verify or float((self._kept[hit][1] == signature).mean()) >= self.minhash.threshold:
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
