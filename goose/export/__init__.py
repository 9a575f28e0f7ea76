"""Export goose tasks for training: files (Parquet, JSONL), verl, Hugging Face datasets, TRL;
:func:`export_run` writes a run folder's tasks as train/validation files with a dataset card.

>>> import tempfile
>>> from goose.schema import tasks_to_table
>>> path = write_parquet(tasks_to_table([]), tempfile.mkdtemp() + "/tasks.parquet")
>>> read_tasks(path).num_rows
0
"""

from goose.export.files import GOOSEREASON_COLUMNS, read_tasks, write_jsonl, write_parquet
from goose.export.hf import from_dataset, to_dataset
from goose.export.run import FORMATS, ExportError, ExportResult, export_run, load_run_tasks
from goose.export.split import split_by_id
from goose.export.trl import to_trl
from goose.export.verl import VERL_SCHEMA, compute_score, compute_score_batch, to_verl, write_verl_parquet

__all__ = [
    "FORMATS",
    "GOOSEREASON_COLUMNS",
    "VERL_SCHEMA",
    "ExportError",
    "ExportResult",
    "compute_score",
    "compute_score_batch",
    "export_run",
    "from_dataset",
    "load_run_tasks",
    "read_tasks",
    "split_by_id",
    "to_dataset",
    "to_trl",
    "to_verl",
    "write_jsonl",
    "write_parquet",
    "write_verl_parquet",
]
