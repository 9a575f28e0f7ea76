"""Export goose tasks for training: files (Parquet, JSONL), verl, Hugging Face datasets, TRL.

>>> import tempfile
>>> from goose.schema import tasks_to_table
>>> path = write_parquet(tasks_to_table([]), tempfile.mkdtemp() + "/tasks.parquet")
>>> read_tasks(path).num_rows
0
"""

from goose.export.files import GOOSEREASON_COLUMNS, read_tasks, write_jsonl, write_parquet
from goose.export.hf import from_dataset, to_dataset
from goose.export.trl import to_trl
from goose.export.verl import VERL_SCHEMA, compute_score, to_verl, write_verl_parquet

__all__ = [
    "GOOSEREASON_COLUMNS",
    "VERL_SCHEMA",
    "compute_score",
    "from_dataset",
    "read_tasks",
    "to_dataset",
    "to_trl",
    "to_verl",
    "write_jsonl",
    "write_parquet",
    "write_verl_parquet",
]
