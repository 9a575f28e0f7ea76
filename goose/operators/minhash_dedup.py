"""MinHashDedup: drop rows whose text nearly duplicates an earlier row of the run.

Each row's text (``column``, or the ``fields`` joined by newlines, e.g. ``["masked_text",
"gold"]`` to dedup tasks) gets a MinHash signature; rows sharing an LSH band with an earlier
row, in this batch or any earlier batch of the run, are near-duplicates. ``minhash`` (a :class:`~goose.dedup.minhash.MinHashParams`, in YAML
``minhash: {threshold: 0.8}``) sets shingles, ``num_perm``, ``threshold`` and the bands x
rows it implies; :mod:`goose.dedup.minhash` explains the trade-offs. Rows are checked one
by one in input order against the run so far, so the first copy is kept and the result does
not depend on batch size. The operator keeps a run-wide index in NumPy arrays
(:mod:`goose.dedup.run_index`): each band key seen -> the kept row it leads to (12 bytes an
entry, ``bands`` entries per kept row plus the new keys of near-copies), and each kept
row's label and signature: about 0.3 KB of RAM per kept row at the defaults, cleared by
``start_run``. The signatures (``4 * num_perm`` bytes a row, for the Jaccard estimate in a
drop's detail and for ``verify``) go to an anonymous temporary file in
``tempfile.gettempdir()`` (``TMPDIR``; where ``/tmp`` is a tmpfs, that is RAM again: point
``TMPDIR`` at a disk), deleted with the index; where none can be made they stay in RAM (a
warning says so). A resumable run
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
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr

from goose.dedup.minhash import MinHashParams, band_keys, group_firsts, signatures
from goose.dedup.run_index import BandIndex, KeptRows
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
    _index: BandIndex | None = PrivateAttr(None)  # (band, key) -> ordinal of the kept row it leads to
    _kept: KeptRows | None = PrivateAttr(None)
    _rows_seen: int = PrivateAttr(0)
    # Index entries added since the last checkpoint, or None before the first checkpoint or
    # restore of the run: then the next checkpoint holds the whole index, and a run that
    # never checkpoints keeps no second copy of it.
    _unsaved: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = PrivateAttr(None)
    _kept_saved: int = PrivateAttr(0)  # kept rows already in a checkpoint

    @property
    def params(self) -> MinHashParams:
        """The MinHash settings, with ``bands`` and ``rows`` derived from ``threshold``."""
        return self.minhash

    def required_columns(self) -> tuple[str, ...]:
        return tuple(self.fields) if self.fields else (self.column,)

    def start_run(self) -> None:
        self._index = BandIndex(self.minhash.bands)
        self._kept = KeptRows(self.minhash.num_perm)
        self._rows_seen = 0
        self._unsaved = None
        self._kept_saved = 0

    @property
    def index_nbytes(self) -> int:
        """Bytes of the run-wide index (band keys and kept rows) so far.

        >>> dedup = MinHashDedup()
        >>> dedup.start_run()
        >>> _ = dedup.process(pa.table({"text": ["one two three four five six"]}), RunContext())
        >>> 0 < dedup.index_nbytes < 3_000_000  # blocks of run rows and label ends are allocated up front
        True
        """
        index, kept = self._state()
        return index.nbytes + kept.nbytes

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
        index, kept = self._state()
        if self._unsaved is None:
            band, key, ordinal = index.entries()
        elif self._unsaved:
            band, key, ordinal = (np.concatenate(column) for column in zip(*self._unsaved))
        else:
            band, key, ordinal = np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int64)
        kept_rows, kept_signatures, labels = kept.since(self._kept_saved)
        encoded = [label.encode("utf-8") for label in labels]
        arrays: dict[str, np.ndarray] = {
            "format": np.array(_CHECKPOINT_FORMAT, dtype=np.int64),
            "rows_seen": np.array(self._rows_seen, dtype=np.int64),
            "index_band": band.astype(np.int32),
            "index_key": key.astype(np.uint64),
            "index_row": kept.run_rows(ordinal),
            "kept_row": kept_rows,
            "kept_signature": kept_signatures,
            "kept_label_ends": np.cumsum([len(label) for label in encoded], dtype=np.int64),
            "kept_labels": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        }
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy stubs read ** as allow_pickle
        self._unsaved = []
        self._kept_saved = len(kept)
        return buffer.getvalue()

    def restore(self, checkpoints: Sequence[bytes]) -> None:
        """Replay ``checkpoints`` (from :meth:`checkpoint`, in batch order) after ``start_run``."""
        index, kept = self._state()
        entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for position, state in enumerate(checkpoints):
            arrays = _read_checkpoint(position, state)
            signature = arrays["kept_signature"]
            if signature.shape[1:] != (self.minhash.num_perm,):
                raise ValueError(f"checkpoint {position} holds signatures of {signature.shape[1:]} values, this "
                                 f"operator makes {self.minhash.num_perm}; resume with the same minhash settings")
            rows = arrays["kept_row"]
            last = kept.run_row(len(kept) - 1) if len(kept) else -1
            if rows.size and (rows[0] <= last or np.any(np.diff(rows) <= 0)):
                raise ValueError(f"checkpoint {position} repeats entries of an earlier one; restore each batch's "
                                 "checkpoint once, in batch order")
            labels = arrays["kept_labels"].tobytes()
            ends = arrays["kept_label_ends"].tolist()
            kept.append(rows, signature, [labels[start:end].decode("utf-8") for start, end in zip([0, *ends[:-1]], ends)])
            entries.append((arrays["index_band"].astype(np.int64), arrays["index_key"], arrays["index_row"]))
            self._rows_seen = int(arrays["rows_seen"])
        if entries:
            band, key, run_row = (np.concatenate(column) for column in zip(*entries))
            ordinal = kept.ordinals(run_row)
            order = np.lexsort((key, band))
            repeated = (band[order][1:] == band[order][:-1]) & (key[order][1:] == key[order][:-1])
            if repeated.any() or (index.lookup_entries(band, key) >= 0).any():
                raise ValueError("the checkpoints repeat index entries; restore each batch's checkpoint once, "
                                 "in batch order")
            if (ordinal < 0).any():
                raise ValueError("the checkpoints point to rows they do not keep; restore every finished batch's "
                                 "checkpoint, in batch order, or start the run over in a new output folder")
            index.add(band, key, ordinal)
        self._unsaved = []
        self._kept_saved = len(kept)

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        index, kept = self._state()
        outcomes = RowOutcomes(batch)
        texts = self._texts(batch)
        signature = signatures(texts, self.minhash)
        labels = self._labels(batch)
        active = np.flatnonzero(signature[:, 0] != _NO_SHINGLES)
        keys = band_keys(signature[active], self.minhash)
        earlier = index.lookup(keys)  # kept rows of earlier batches, by ordinal
        owner = _first_owner(keys, earlier < 0)  # the row of this batch that brought a key first
        # One sequential rule for rows of this batch and of earlier ones alike, so the
        # result does not depend on how the run was cut into batches: a row matches the
        # kept rows its band keys lead to, the earliest (verified) one wins.
        first_new = len(kept)
        kept_as: list[int] = []  # per active row: ordinal of the kept row it counts as
        new_kept: list[int] = []  # positions (in ``active``) of the rows kept in this batch
        position = 0
        for i, (found, owners) in enumerate(zip(earlier.tolist(), owner.tolist())):
            row = int(active[i])
            while position < row:  # rows without shingles: kept, never matched
                outcomes.keep(position)
                position += 1
            position += 1
            hits = {hit for hit in found if hit >= 0}
            hits.update(kept_as[first] for first in owners if first >= 0)
            match = self._first_match(sorted(hits), signature[row], kept, first_new, new_kept, active, signature)
            if match is None:
                outcomes.keep(row)
                kept_as.append(first_new + len(new_kept))
                new_kept.append(i)
                continue
            kept_as.append(match)
            if match >= first_new:
                at = int(active[new_kept[match - first_new]])
                label, kept_signature = labels[at], signature[at]
            else:
                label, kept_signature = kept.label(match), kept.signature(match)
            jaccard = float((kept_signature == signature[row]).mean())
            outcomes.drop(row, "near_duplicate", f"near-duplicate of {label} (estimated Jaccard {jaccard:.2f})")
        for row in range(position, len(texts)):
            outcomes.keep(row)
        kept_rows = active[np.array(new_kept, dtype=np.int64)]
        kept.append(self._rows_seen + kept_rows, signature[kept_rows], [labels[row] for row in kept_rows.tolist()])
        brought = (owner < 0) & (earlier < 0)  # keys new to the run, at the row that brought them
        row_of, band = np.nonzero(brought)
        new_entries = (band.astype(np.int64), keys[row_of, band], np.array(kept_as, dtype=np.int64)[row_of])
        index.add(*new_entries)
        if self._unsaved is not None:
            self._unsaved.append(new_entries)
        self._rows_seen += len(texts)
        return outcomes.result()

    def _first_match(self, hits: list[int], signature: np.ndarray, kept: KeptRows, first_new: int,
                     new_kept: list[int], active: np.ndarray, batch_signatures: np.ndarray) -> int | None:
        """The earliest kept row (ordinal) among ``hits`` that is, with ``verify``, similar
        enough, or ``None``."""
        for hit in hits:
            if not self.minhash.verify:
                return hit
            other = batch_signatures[active[new_kept[hit - first_new]]] if hit >= first_new else kept.signature(hit)
            if float((other == signature).mean()) >= self.minhash.threshold:
                return hit
        return None

    def _state(self) -> tuple[BandIndex, KeptRows]:
        if self._index is None or self._kept is None:
            self.start_run()
        assert self._index is not None and self._kept is not None
        return self._index, self._kept

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


def _first_owner(keys: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """For each ``keys[i, band]`` with ``candidates[i, band]``: the first row ``j < i`` of
    ``keys`` with the same key in that band, ``-1`` where ``i`` is the first (or not a
    candidate). Linear in group size: one sort per band."""
    owner = np.full(keys.shape, -1, dtype=np.int64)
    for band in range(keys.shape[1]):
        members, firsts = group_firsts(keys[:, band], np.flatnonzero(candidates[:, band]))
        owner[members, band] = firsts
    return owner


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
