"""Read a run folder (``tasks.parquet``, ``rejects.parquet``, ``summary.json``) a few columns at a time.

Runs can hold hundreds of thousands of tasks, so nothing here loads a whole table: callers
name the columns they need and get bounded record batches. A run that did not merge its
shards (``--no-merge``) is read from ``shards/``; both through :class:`goose.runner.RunOutput`.

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

from goose.run_folder import open_folder
from goose.runner import REJECTS_FILE, SUMMARY_FILE, TASKS_FILE, RunOutput

BATCH_ROWS = 8_192
"""Rows per record batch read from the Parquet files: bounds memory on large runs (the
same for a run of 10k rows and one of 10M)."""


@dataclass(frozen=True)
class RunFiles:
    """The output of one run (:class:`goose.runner.RunOutput`: paths, row counts, tasks and
    rejects from the merged files or, for a ``--no-merge`` run, from ``shards/``) with its
    ``summary.json``; ``open`` checks that the files are there."""

    output: RunOutput
    summary: dict

    @classmethod
    def open(cls, out_dir: str | Path) -> RunFiles:
        """Open the run in ``out_dir`` (a local folder or a URL); raises ``FileNotFoundError``
        saying what is missing.

        >>> RunFiles.open("/nonexistent-goose-run")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        FileNotFoundError: /nonexistent-goose-run is not a finished goose run: ...
        """
        folder = open_folder(out_dir)
        summary = None
        if folder.is_file(SUMMARY_FILE):
            summary = json.loads(folder.read_text(SUMMARY_FILE))
            if not isinstance(summary, dict):
                raise ValueError(f"{folder.path(SUMMARY_FILE)} does not hold a JSON object; was it written by goose?")
        unmerged = summary is not None and summary.get("merged") is False
        wanted = (SUMMARY_FILE,) if unmerged else (TASKS_FILE, REJECTS_FILE, SUMMARY_FILE)
        missing = [name for name in wanted if not folder.is_file(name)]
        if missing:
            raise FileNotFoundError(
                f"{folder.url} is not a finished goose run: {', '.join(missing)} missing; "
                f"run 'goose run CONFIG --out {folder.url}' (or 'goose demo --out {folder.url}') first"
            )
        assert summary is not None
        return cls(RunOutput.open(folder, merged=not unmerged), summary)

    @property
    def out_dir(self) -> Path:
        """The run folder, where the report goes; a remote run has none (ValueError)."""
        if self.output.folder.remote:
            raise ValueError(f"{self.output.folder.url} is on remote storage and report.html is written into a local "
                             "run folder; copy the folder to this machine (e.g. 'aws s3 sync URL DIR') and run "
                             "'goose report DIR'")
        return Path(self.output.out_dir)

    @property
    def shards(self) -> RunOutput | None:
        """The output when the run left its tasks in ``shards/`` (``--no-merge``), else None."""
        return None if self.output.merged else self.output

    @property
    def tasks_path(self) -> Path | str:
        """Path of ``tasks.parquet``."""
        return self.output.tasks_path

    @property
    def rejects_path(self) -> Path | str:
        """Path of ``rejects.parquet``."""
        return self.output.rejects_path

    @property
    def task_rows(self) -> int:
        """Tasks of the run (from the shard markers, or the file footer of a folder without shards)."""
        return self.output.task_rows

    @property
    def reject_rows(self) -> int:
        """Rejects of the run (as :attr:`task_rows`)."""
        return self.output.reject_rows

    def task_columns(self) -> list[str]:
        """Top-level and nested (``lineage.probe_pass_rate``) column paths of the tasks."""
        schema = self.output.tasks_schema()
        return _column_paths(schema) if schema is not None else []

    def task_batches(self, columns: Sequence[str], batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Record batches of the ``columns`` of the tasks that exist (the others are left out);
        from shards, a nested path brings its whole struct column."""
        if self.output.merged:
            return _batches(self.output.folder.parquet(TASKS_FILE), columns, batch_rows)
        return self.output.iter_tasks(_heads(columns), batch_rows)

    def reject_batches(self, columns: Sequence[str], batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Record batches of the ``columns`` of the rejects that exist."""
        if self.output.merged:
            return _batches(self.output.folder.parquet(REJECTS_FILE), columns, batch_rows)
        return self.output.iter_rejects(_heads(columns), batch_rows)


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


def _batches(parquet: pq.ParquetFile, columns: Sequence[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
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
