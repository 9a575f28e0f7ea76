"""Read a run folder (``tasks.parquet``, ``rejects.parquet``, ``summary.json``) a few columns at a time.

Runs can hold hundreds of thousands of tasks, so nothing here loads a whole table: callers
name the columns they need and get bounded record batches. A run that did not merge its
shards (``--no-merge``) is read from ``shards/`` through :class:`goose.runner.RunOutput`.

>>> import tempfile, goose
>>> from goose.runner import run_to_directory
>>> out = tempfile.mkdtemp()
>>> _ = run_to_directory(goose.offline_pipeline(), goose.sample_corpus_path(), out, progress=False)
>>> run = RunFiles.open(out)
>>> run.summary["rows_in"], run.task_rows
(48, 30)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from goose.runner import REJECTS_FILE, SUMMARY_FILE, TASKS_FILE, RunOutput

BATCH_ROWS = 8_192
"""Rows per record batch read from the Parquet files: bounds memory on large runs (the
same for a run of 10k rows and one of 10M)."""


@dataclass(frozen=True)
class RunFiles:
    """The output files of one run; ``open`` checks that they are there. ``shards`` is set
    for a run that left its tasks in ``shards/`` (``--no-merge``)."""

    out_dir: Path
    summary: dict
    shards: RunOutput | None = None

    @classmethod
    def open(cls, out_dir: str | Path) -> RunFiles:
        """Open the run in ``out_dir``; raises ``FileNotFoundError`` saying what is missing.

        >>> RunFiles.open("/nonexistent-goose-run")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        FileNotFoundError: /nonexistent-goose-run is not a finished goose run: ...
        """
        folder = Path(out_dir)
        wanted = (SUMMARY_FILE,) if _unmerged(folder) else (TASKS_FILE, REJECTS_FILE, SUMMARY_FILE)
        missing = [name for name in wanted if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{folder} is not a finished goose run: {', '.join(missing)} missing; "
                f"run 'goose run CONFIG --out {folder}' (or 'goose demo --out {folder}') first"
            )
        summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
        if not isinstance(summary, dict):
            raise ValueError(f"{folder / SUMMARY_FILE} does not hold a JSON object; was it written by goose?")
        return cls(folder, summary, RunOutput.open(folder, merged=False) if summary.get("merged") is False else None)

    @property
    def tasks_path(self) -> Path:
        """Path of ``tasks.parquet``."""
        return self.out_dir / TASKS_FILE

    @property
    def rejects_path(self) -> Path:
        """Path of ``rejects.parquet``."""
        return self.out_dir / REJECTS_FILE

    @property
    def task_rows(self) -> int:
        """Rows in ``tasks.parquet`` (from the file footer or the shard markers, nothing is read)."""
        if self.shards is not None:
            return self.shards.task_rows
        return pq.ParquetFile(self.tasks_path).metadata.num_rows

    @property
    def reject_rows(self) -> int:
        """Rows in ``rejects.parquet`` (from the file footer or the shard markers, nothing is read)."""
        if self.shards is not None:
            return self.shards.reject_rows
        return pq.ParquetFile(self.rejects_path).metadata.num_rows

    def task_columns(self) -> list[str]:
        """Top-level and nested (``lineage.probe_pass_rate``) column paths of the tasks."""
        if self.shards is not None:
            schema = self.shards.tasks_schema()
            return _column_paths(schema) if schema is not None else []
        return _column_paths(pq.read_schema(self.tasks_path))

    def task_batches(self, columns: Sequence[str], batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Record batches of the ``columns`` of the tasks that exist (the others are left out);
        from shards, a nested path brings its whole struct column."""
        if self.shards is not None:
            yield from self.shards.iter_tasks(_heads(columns), batch_rows)
            return
        yield from _batches(self.tasks_path, columns, batch_rows)

    def reject_batches(self, columns: Sequence[str], batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Record batches of the ``columns`` of the rejects that exist."""
        if self.shards is not None:
            yield from self.shards.iter_rejects(_heads(columns), batch_rows)
            return
        yield from _batches(self.rejects_path, columns, batch_rows)


def _unmerged(folder: Path) -> bool:
    """Whether ``folder`` holds a run that left its tasks in ``shards/`` (``summary.json`` says so)."""
    try:
        return json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8")).get("merged") is False
    except (OSError, ValueError, AttributeError):
        return False


def _heads(columns: Sequence[str]) -> list[str]:
    """The top-level columns of column paths: ``lineage.probe_pass_rate`` -> ``lineage``."""
    return list(dict.fromkeys(name.partition(".")[0] for name in columns))


def _column_paths(schema: pa.Schema) -> list[str]:
    paths = []
    for schema_field in schema:
        paths.append(schema_field.name)
        if pa.types.is_struct(schema_field.type):
            paths.extend(f"{schema_field.name}.{child.name}" for child in schema_field.type)
    return paths


def _batches(path: Path, columns: Sequence[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(path)
    present = set(_column_paths(parquet.schema_arrow))
    wanted = [name for name in columns if name in present]
    if not wanted or parquet.metadata.num_rows == 0:
        return
    yield from parquet.iter_batches(batch_size=batch_rows, columns=wanted)


def nested(batch: pa.RecordBatch, path: str) -> pa.Array | None:
    """The column at ``path`` (``"answer"`` or ``"lineage.probe_pass_rate"``) of ``batch``, or None.

    >>> batch = pa.RecordBatch.from_pylist([{"lineage": {"probe_pass_rate": 0.5}}])
    >>> nested(batch, "lineage.probe_pass_rate").to_pylist(), nested(batch, "answer")
    ([0.5], None)
    """
    head, _, rest = path.partition(".")
    if head not in batch.schema.names:
        return None
    column = batch.column(head)
    if not rest:
        return column
    if not pa.types.is_struct(column.type) or column.type.get_field_index(rest) < 0:
        return None
    return pc.struct_field(column, rest)  # unlike .field(), a null lineage gives a null child
