"""Compact run-wide memory of near-duplicate detection: band keys and kept rows in NumPy arrays.

:class:`BandIndex` maps ``(band, 64-bit band key)`` to a small integer (the kept row a key
leads to) in 12 bytes per entry: a few sorted runs of ``uint64`` keys with ``int32``
values, merged like a log-structured tree (a new run per batch; two runs merge when the
older is at most twice the newer, so there are a handful of runs and an entry is copied
``O(log(entries / batch))`` times). Merging two runs costs one binary search per newer key
and one scatter of both (never a re-sort of the whole index), and a lookup sorts its keys
once and searches each run with them in order, so a batch's cost grows only with the
logarithm of the index, not with its size. A Python dict of tuples costs ~200 bytes per entry.

:class:`KeptRows` holds what is kept about each kept row, by ordinal: its run row, its
signature (for the Jaccard estimate of a drop and for ``verify``) and its label. Run rows
and labels live in RAM, in blocks of fixed size, so the arrays never over-allocate by more
than one block; signatures (``4 * num_perm`` bytes a row, two thirds of what a kept row
costs) go to an anonymous temporary file (:class:`_DiskRows`) and come back by positioned
reads, a few rows a batch, so the index's RAM grows by ~0.3 KB per kept row, not ~0.8 KB.

>>> index = BandIndex(bands=2)
>>> index.add(np.array([0, 1]), np.array([7, 7], dtype=np.uint64), np.array([0, 1]))
>>> index.lookup(np.array([[7, 8], [9, 7]], dtype=np.uint64)).tolist()
[[0, -1], [-1, 1]]
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any, NamedTuple

import numpy as np

_LOG = logging.getLogger(__name__)
_BLOCK_ROWS = 4096  # kept rows per block: 32 KB of run rows (2 MB of signatures where they stay in RAM)


class _SortedRun(NamedTuple):
    keys: np.ndarray  # uint64, sorted within each band's slice
    values: np.ndarray  # int32
    offsets: np.ndarray  # int64, bands + 1: band b's entries are keys[offsets[b]:offsets[b + 1]]


class BandIndex:
    """``(band, key) -> value`` for keys added once each, in sorted NumPy runs (12 bytes per entry).

    >>> index = BandIndex(bands=1)
    >>> for value in range(3):
    ...     index.add(np.array([0]), np.array([10 + value], dtype=np.uint64), np.array([value]))
    >>> len(index), index.lookup(np.array([[12], [13]], dtype=np.uint64)).ravel().tolist()
    (3, [2, -1])
    """

    def __init__(self, bands: int) -> None:
        self.bands = bands
        self._runs: list[_SortedRun] = []

    def __len__(self) -> int:
        return sum(run.keys.size for run in self._runs)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return sum(run.keys.nbytes + run.values.nbytes + run.offsets.nbytes for run in self._runs)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The value of each ``keys[i, band]``, ``-1`` where absent; shape of ``keys``, int64."""
        found = np.full(keys.shape, -1, dtype=np.int64)
        for band in range(self.bands):
            found[:, band] = self._lookup_band(keys[:, band], band)
        return found

    def _lookup_band(self, wanted: np.ndarray, band: int) -> np.ndarray:
        # Searching with sorted keys walks each run front to back (NumPy narrows each binary
        # search from the previous one), which keeps a large run's cache misses down.
        order = np.argsort(wanted)
        wanted = wanted[order]
        found_sorted = np.full(wanted.shape, -1, dtype=np.int64)
        for run in self._runs:
            start, end = int(run.offsets[band]), int(run.offsets[band + 1])
            if start == end:
                continue
            position = np.minimum(np.searchsorted(run.keys[start:end], wanted), end - start - 1) + start
            hit = run.keys[position] == wanted
            found_sorted[hit] = run.values[position[hit]]
        found = np.empty_like(found_sorted)
        found[order] = found_sorted
        return found

    def lookup_entries(self, band: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """The value of each ``(band[i], keys[i])``, ``-1`` where absent.

        >>> index = BandIndex(bands=2)
        >>> index.add(np.array([1]), np.array([5], dtype=np.uint64), np.array([3]))
        >>> index.lookup_entries(np.array([0, 1]), np.array([5, 5], dtype=np.uint64)).tolist()
        [-1, 3]
        """
        found = np.full(keys.shape, -1, dtype=np.int64)
        for each in range(self.bands):
            inside = np.flatnonzero(band == each)
            if inside.size:
                found[inside] = self._lookup_band(keys[inside], each)
        return found

    def add(self, band: np.ndarray, keys: np.ndarray, values: np.ndarray) -> None:
        """Add entries that are absent and distinct (callers check with :meth:`lookup`)."""
        if not keys.size:
            return
        if int(values.max()) > np.iinfo(np.int32).max:
            raise ValueError("BandIndex values must fit in int32 (2**31 kept rows); split the run into several")
        self._runs.append(_sort(np.asarray(band, dtype=np.int64), keys.astype(np.uint64), values.astype(np.int32),
                                self.bands))
        while len(self._runs) > 1 and self._runs[-2].keys.size <= 2 * self._runs[-1].keys.size:
            newer, older = self._runs.pop(), self._runs.pop()
            self._runs.append(_merge(older, newer))

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every entry as ``(band, key, value)`` arrays (sorted by band and key within each run)."""
        parts = [_entries(run) for run in self._runs]
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int32)
        band, keys, values = (np.concatenate(column) for column in zip(*parts))
        return band, keys, values


def _sort(band: np.ndarray, keys: np.ndarray, values: np.ndarray, bands: int) -> _SortedRun:
    order = np.lexsort((keys, band))
    offsets = np.searchsorted(band[order], np.arange(bands + 1)).astype(np.int64)
    return _SortedRun(keys[order], values[order], offsets)


def _merge(older: _SortedRun, newer: _SortedRun) -> _SortedRun:
    """One sorted run holding the entries of both (their keys are disjoint within a band), in
    time linear in their sizes: the older run's entries keep their order and move up by the
    number of newer keys below them."""
    offsets = older.offsets + newer.offsets
    destination = np.empty(newer.keys.size, dtype=np.int64)
    for band in range(offsets.size - 1):
        start, end = int(newer.offsets[band]), int(newer.offsets[band + 1])
        if start == end:
            continue
        below = np.searchsorted(older.keys[older.offsets[band] : older.offsets[band + 1]], newer.keys[start:end])
        destination[start:end] = offsets[band] + below + np.arange(end - start)
    from_older = np.ones(int(offsets[-1]), dtype=bool)
    from_older[destination] = False
    keys = np.empty(from_older.size, dtype=np.uint64)
    values = np.empty(from_older.size, dtype=np.int32)
    keys[destination], values[destination] = newer.keys, newer.values
    keys[from_older], values[from_older] = older.keys, older.values
    return _SortedRun(keys, values, offsets)


def _entries(run: _SortedRun) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    band = np.repeat(np.arange(run.offsets.size - 1), np.diff(run.offsets))
    return band, run.keys, run.values


class _Blocks:
    """A growing array of rows in fixed-size blocks (no copy on growth, at most one block spare)."""

    def __init__(self, width: int, dtype: type) -> None:
        self.width, self.dtype = width, dtype
        self.blocks: list[np.ndarray] = []
        self.size = 0

    def append(self, rows: np.ndarray) -> None:
        rows = rows.reshape(-1, self.width)
        done = 0
        while done < rows.shape[0]:
            if self.size == len(self.blocks) * _BLOCK_ROWS:
                self.blocks.append(np.empty((_BLOCK_ROWS, self.width), dtype=self.dtype))
            if not self.blocks[-1].flags.writeable:
                # a restored index may come as read-only views (Ray hands pickled arrays over zero-copy)
                self.blocks[-1] = self.blocks[-1].copy()
            at = self.size % _BLOCK_ROWS
            count = min(_BLOCK_ROWS - at, rows.shape[0] - done)
            self.blocks[-1][at : at + count] = rows[done : done + count]
            done += count
            self.size += count

    def take(self, positions: np.ndarray) -> np.ndarray:
        out = np.empty((positions.size, self.width), dtype=self.dtype)
        for block in np.unique(positions // _BLOCK_ROWS).tolist():
            inside = positions // _BLOCK_ROWS == block
            out[inside] = self.blocks[block][positions[inside] % _BLOCK_ROWS]
        return out

    def row(self, position: int) -> np.ndarray:
        return self.blocks[position // _BLOCK_ROWS][position % _BLOCK_ROWS]

    def since(self, start: int) -> np.ndarray:
        return self.take(np.arange(start, self.size))

    @property
    def nbytes(self) -> int:
        return sum(block.nbytes for block in self.blocks)


class _DiskRows:
    """A growing array of rows in an anonymous temporary file (in ``tempfile.gettempdir()``,
    unlinked at once, so the system frees it when this object is closed or collected, or
    the process ends), with :class:`_Blocks`' interface: appends and reads are positioned
    (``os.pwrite``/``os.pread``), never memory-mapped, because mapped pages count in the
    process's RSS (the page cache may hold the bytes, but the kernel drops those under
    memory pressure). Pickling carries the rows themselves (a path means nothing on another
    machine); unpickling writes them to a new file.

    >>> rows = _DiskRows(2, np.uint32)
    >>> rows.append(np.array([[1, 2], [3, 4]], dtype=np.uint32))
    >>> rows.size, rows.row(1).tolist(), rows.take(np.array([1, 0])).tolist(), rows.nbytes
    (2, [3, 4], [[3, 4], [1, 2]], 0)
    """

    def __init__(self, width: int, dtype: type) -> None:
        self.width, self.dtype = width, np.dtype(dtype)
        self._row_bytes = width * self.dtype.itemsize
        self._file = tempfile.TemporaryFile(prefix="goose-minhash-")  # noqa: SIM115  # lives as long as the rows
        self.size = 0

    def append(self, rows: np.ndarray) -> None:
        data = np.ascontiguousarray(rows, dtype=self.dtype).reshape(-1, self.width)
        if data.size:
            written = os.pwrite(self._file.fileno(), data, self.size * self._row_bytes)
            if written != data.nbytes:
                raise OSError(f"wrote {written} of {data.nbytes} bytes of MinHash signatures in "
                              f"{tempfile.gettempdir()}; free disk space there or set TMPDIR to another folder")
        self.size += data.shape[0]

    def row(self, position: int) -> np.ndarray:
        return self._read(position, 1)[0]

    def take(self, positions: np.ndarray) -> np.ndarray:
        out = np.empty((positions.size, self.width), dtype=self.dtype)
        for at, position in enumerate(positions.tolist()):
            out[at] = self.row(position)
        return out

    def since(self, start: int) -> np.ndarray:
        return self._read(start, self.size - start)

    @property
    def nbytes(self) -> int:
        """Bytes held in RAM: none, the rows are on disk."""
        return 0

    def close(self) -> None:
        """Delete the file now; the rows cannot be read afterwards."""
        self._file.close()

    def _read(self, start: int, count: int) -> np.ndarray:
        data = os.pread(self._file.fileno(), count * self._row_bytes, start * self._row_bytes)
        return np.frombuffer(bytearray(data), dtype=self.dtype).reshape(count, self.width)

    def __reduce__(self) -> tuple[Any, tuple[int, str, np.ndarray]]:
        return _rows_on_disk, (self.width, self.dtype.str, self.since(0))


def _rows_on_disk(width: int, dtype: str, rows: np.ndarray | None = None) -> _DiskRows | _Blocks:
    """A :class:`_DiskRows` holding ``rows``, or :class:`_Blocks` in RAM where no temporary file
    can be made (logged once per call)."""
    made: _DiskRows | _Blocks
    try:
        made = _DiskRows(width, np.dtype(dtype).type)
    except OSError as error:
        _LOG.warning("MinHash signatures stay in RAM: no temporary file in %s (%s); set TMPDIR to a writable "
                     "folder to keep them on disk", tempfile.gettempdir(), error)
        made = _Blocks(width, np.dtype(dtype).type)
    if rows is not None:
        made.append(rows)
    return made


class KeptRows:
    """Kept rows by ordinal (0, 1, ... in run order): run row, signature and label.

    >>> kept = KeptRows(num_perm=2)
    >>> kept.append(np.array([4]), np.array([[1, 2]], dtype=np.uint32), ["id a"])
    >>> len(kept), kept.run_row(0), kept.signature(0).tolist(), kept.label(0)
    (1, 4, [1, 2], 'id a')
    """

    def __init__(self, num_perm: int) -> None:
        self.num_perm = num_perm
        self._run_rows = _Blocks(1, np.int64)
        self._signatures = _rows_on_disk(num_perm, "<u4")
        self._label_ends = _Blocks(1, np.int64)
        self._labels = bytearray()

    def __len__(self) -> int:
        return self._run_rows.size

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays and the label buffer."""
        return self._run_rows.nbytes + self._signatures.nbytes + self._label_ends.nbytes + len(self._labels)

    def append(self, run_rows: np.ndarray, signatures: np.ndarray, labels: list[str]) -> None:
        """Add kept rows, in run order, after every row added so far."""
        encoded = [label.encode("utf-8") for label in labels]
        self._run_rows.append(np.asarray(run_rows, dtype=np.int64))
        self._signatures.append(signatures)
        self._label_ends.append(len(self._labels) + np.cumsum([len(label) for label in encoded], dtype=np.int64))
        self._labels += b"".join(encoded)

    def run_row(self, ordinal: int) -> int:
        return int(self._run_rows.row(ordinal)[0])

    def run_rows(self, ordinals: np.ndarray) -> np.ndarray:
        return self._run_rows.take(np.asarray(ordinals, dtype=np.int64)).ravel()

    def signature(self, ordinal: int) -> np.ndarray:
        return self._signatures.row(ordinal)

    def label(self, ordinal: int) -> str:
        start = int(self._label_ends.row(ordinal - 1)[0]) if ordinal else 0
        return bytes(self._labels[start : int(self._label_ends.row(ordinal)[0])]).decode("utf-8")

    def since(self, start: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Run rows, signatures and labels of the rows from ordinal ``start`` on."""
        labels = [self.label(ordinal) for ordinal in range(start, len(self))]
        return self._run_rows.since(start).ravel(), self._signatures.since(start), labels

    def ordinals(self, run_rows: np.ndarray) -> np.ndarray:
        """The ordinal of each kept row in ``run_rows``; ``-1`` for rows that were not kept."""
        kept = self._run_rows.since(0).ravel()
        run_rows = np.asarray(run_rows, dtype=np.int64)
        if not kept.size:
            return np.full(run_rows.shape, -1, dtype=np.int64)
        position = np.minimum(np.searchsorted(kept, run_rows), kept.size - 1)
        return np.where(kept[position] == run_rows, position, -1)
