"""MinHashDedup: drop rows whose text nearly duplicates an earlier row of the run.

Each row's text (``column``, or the ``fields`` joined by newlines, e.g. ``["masked_text",
"gold"]`` to dedup tasks) gets a MinHash signature; rows sharing an LSH band with an earlier
row, in this batch or any earlier batch of the run, are near-duplicates. ``minhash`` (a :class:`~goose.dedup.minhash.MinHashParams`, in YAML
``minhash: {threshold: 0.8}``) sets shingles, ``num_perm``, ``threshold`` and the bands x
rows it implies; :mod:`goose.dedup.minhash` explains the trade-offs. Rows are checked one
by one in input order against the run so far, so the first copy is kept and the result does
not depend on batch size. The operator keeps a run-wide index (band key -> kept row and
that row's signature, about 1.5 KB per kept row), cleared by ``start_run``. A resumable run
saves what each batch added to that index (:meth:`MinHashDedup.checkpoint`, NumPy arrays, no
pickle) and replays the saved parts on resume (:meth:`MinHashDedup.restore`), so a resumed
run drops exactly the rows an uninterrupted one would.

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

import io
from collections.abc import Sequence
from itertools import islice
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
_CHECKPOINT_FORMAT = 1


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
    # Sizes of ``_index`` and ``_kept`` at the last checkpoint: both dicts only grow, in
    # insertion order, so what came after is exactly what the next checkpoint must hold.
    _checkpointed: tuple[int, int] = PrivateAttr((0, 0))

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
        self._checkpointed = (0, 0)

    def checkpoint(self) -> bytes:
        """What the run-wide index learnt since the previous checkpoint (or ``start_run``):
        the new band entries, the newly kept rows (label, signature) and the rows seen, as
        an ``.npz`` archive of NumPy arrays.

        >>> dedup = MinHashDedup()
        >>> dedup.start_run()
        >>> _ = dedup.process(pa.table({"text": ["one two three four five six"]}), RunContext())
        >>> state = dedup.checkpoint()
        >>> copy = MinHashDedup()
        >>> copy.start_run(); copy.restore([state])
        >>> copy.process(pa.table({"text": ["One two three four five six!"]}), RunContext()).drops[0].reason
        'near_duplicate'
        """
        index_seen, kept_seen = self._checkpointed
        new_index = _last_items(self._index, len(self._index) - index_seen)
        new_kept = _last_items(self._kept, len(self._kept) - kept_seen)
        labels = [label.encode("utf-8") for _, (label, _) in new_kept]
        arrays: dict[str, np.ndarray] = {
            "format": np.array(_CHECKPOINT_FORMAT, dtype=np.int64),
            "rows_seen": np.array(self._rows_seen, dtype=np.int64),
            "index_band": np.fromiter((band for (band, _), _ in new_index), dtype=np.int32, count=len(new_index)),
            "index_key": np.fromiter((key for (_, key), _ in new_index), dtype=np.uint64, count=len(new_index)),
            "index_row": np.fromiter((row for _, row in new_index), dtype=np.int64, count=len(new_index)),
            "kept_row": np.fromiter((row for row, _ in new_kept), dtype=np.int64, count=len(new_kept)),
            "kept_signature": np.stack([signature for _, (_, signature) in new_kept])
            if new_kept else np.zeros((0, self.minhash.num_perm), dtype=np.uint32),
            "kept_label_ends": np.cumsum([len(label) for label in labels], dtype=np.int64),
            "kept_labels": np.frombuffer(b"".join(labels), dtype=np.uint8),
        }
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy stubs read ** as allow_pickle
        self._checkpointed = (len(self._index), len(self._kept))
        return buffer.getvalue()

    def restore(self, checkpoints: Sequence[bytes]) -> None:
        """Replay ``checkpoints`` (from :meth:`checkpoint`, in batch order) after ``start_run``."""
        for position, state in enumerate(checkpoints):
            arrays = _read_checkpoint(position, state)
            signature = arrays["kept_signature"]
            if signature.shape[1:] != (self.minhash.num_perm,):
                raise ValueError(f"checkpoint {position} holds signatures of {signature.shape[1:]} values, this "
                                 f"operator makes {self.minhash.num_perm}; resume with the same minhash settings")
            entries = dict(zip(zip(arrays["index_band"].tolist(), arrays["index_key"].tolist()),
                               arrays["index_row"].tolist()))
            if entries.keys() & self._index.keys():
                raise ValueError(f"checkpoint {position} repeats entries of an earlier one; restore each batch's "
                                 "checkpoint once, in batch order")
            self._index.update(entries)
            labels = arrays["kept_labels"].tobytes()
            ends = arrays["kept_label_ends"].tolist()
            starts = [0, *ends[:-1]]
            self._kept.update(
                (row, (labels[start:end].decode("utf-8"), values))
                for row, start, end, values in zip(arrays["kept_row"].tolist(), starts, ends, signature)
            )
            self._rows_seen = int(arrays["rows_seen"])
        self._checkpointed = (len(self._index), len(self._kept))

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


def _last_items(mapping: dict, count: int) -> list:
    """The last ``count`` items of an insertion-ordered dict, oldest first, in O(count)."""
    return list(islice(reversed(mapping.items()), count))[::-1]


def _read_checkpoint(position: int, state: bytes) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(state), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        version = int(arrays["format"])
    except (ValueError, KeyError, OSError, EOFError) as error:
        raise ValueError(f"checkpoint {position} is not a MinHashDedup checkpoint ({error}); "
                         "start the run over in a new output folder") from error
    if version != _CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {position} has format {version}, this goose reads {_CHECKPOINT_FORMAT}; "
                         "start the run over in a new output folder")
    return arrays
