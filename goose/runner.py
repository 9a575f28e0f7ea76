"""Run a pipeline straight to a folder: ``tasks.parquet``, ``rejects.parquet``, ``summary.json``.

Batches are written as they finish, so memory stays bounded however large the input.

>>> import tempfile, goose
>>> out = tempfile.mkdtemp()
>>> result = run_to_directory(goose.offline_pipeline(), goose.sample_corpus_path(), out, progress=False)
>>> result.accounted
True
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from goose.export.files import export_order
from goose.pipeline import Pipeline, PipelineResult
from goose.pipeline.sources import Source
from goose.pipeline.stats import OperatorStats
from goose.schema import REJECT_SCHEMA, TASK_SCHEMA

TASKS_FILE = "tasks.parquet"
REJECTS_FILE = "rejects.parquet"
SUMMARY_FILE = "summary.json"


def run_to_directory(pipeline: Pipeline, source: Source, out_dir: str | Path, *, progress: bool = True) -> PipelineResult:
    """Run ``pipeline`` over ``source`` and write its outputs into ``out_dir`` (created if needed).

    Returns the :class:`PipelineResult` with the tasks and rejects read back from disk.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    totals = [OperatorStats("read")] + [OperatorStats(name) for name in pipeline.step_names]
    tasks_writer: pq.ParquetWriter | None = None
    with pq.ParquetWriter(out / REJECTS_FILE, REJECT_SCHEMA) as rejects_writer:
        try:
            for outcome in pipeline.stream(source, progress=progress):
                kept = _in_output_order(outcome.kept)
                if tasks_writer is None and kept.num_columns:
                    tasks_writer = pq.ParquetWriter(out / TASKS_FILE, kept.schema)
                if tasks_writer is not None and kept.num_rows:
                    tasks_writer.write_table(kept.cast(tasks_writer.schema))
                rejects_writer.write_table(outcome.rejects)
                for total, step in zip(totals, outcome.stats):
                    total.merge(step)
        finally:
            if tasks_writer is not None:
                tasks_writer.close()
    if tasks_writer is None:
        pq.write_table(pa.table({}), out / TASKS_FILE)
    result = PipelineResult(pq.read_table(out / TASKS_FILE), pq.read_table(out / REJECTS_FILE), totals)
    summary = {
        "rows_in": result.rows_in,
        "tasks": result.tasks.num_rows,
        "rejects": result.rejects.num_rows,
        "accounted": result.accounted,
        "seed": pipeline.seed,
        "batch_size": pipeline.batch_size,
        "operators": [op.label for op in pipeline.operators],
        "steps": [step.as_dict() for step in totals],
    }
    engines = pipeline.all_engines()
    if engines:
        summary["engines"] = {
            role: {"backend": engine.name, "model": engine.model, **engine.usage().as_dict()}
            for role, engine in engines.items()
        }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return result


def _in_output_order(kept: pa.Table) -> pa.Table:
    """Task tables in the export layout (GooseReason columns first); other tables as they are."""
    if all(name in kept.column_names for name in TASK_SCHEMA.names):
        return export_order(kept)
    return kept
