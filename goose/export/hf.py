"""Tasks as a Hugging Face :class:`datasets.Dataset` in the GooseReason layout, and back.

>>> from goose.schema import TASK_SCHEMA, tasks_to_table
>>> from_dataset(to_dataset(tasks_to_table([]))).schema == TASK_SCHEMA
True
"""

from __future__ import annotations

import datasets
import pyarrow as pa
from datasets.table import InMemoryTable

from goose.export.files import _as_task_schema, export_order


def to_dataset(tasks: pa.Table) -> datasets.Dataset:
    """An in-memory dataset of the tasks, columns as in the exported files (GooseReason first).

    Push it with ``to_dataset(tasks).push_to_hub("org/name")``.

    >>> from goose.schema import tasks_to_table
    >>> from goose.task import Task
    >>> task = Task.build(domain="math", source_id="d1", passage="We have x = 2. So y = 4. Done.",
    ...     span=(15, 24), distractors=["So y = 5.", "So y = 9."], answer_index=1, seed=0)
    >>> ds = to_dataset(tasks_to_table([task]))
    >>> ds.column_names[:3], ds[0]["answer"]
    (['question', 'options', 'answer'], 'B')
    """
    return datasets.Dataset(InMemoryTable(export_order(tasks).replace_schema_metadata(None)))


def from_dataset(ds: datasets.Dataset) -> pa.Table:
    """The tasks of a dataset (e.g. from :func:`to_dataset` or ``datasets.load_dataset``) as a
    table with exactly :data:`goose.schema.TASK_SCHEMA`; selections and shuffles are honoured.

    >>> from goose.schema import tasks_to_table
    >>> from goose.task import Task
    >>> task = Task.build(domain="general", source_id="d", passage="One. Two. Three.", span=(5, 9),
    ...     distractors=["Six."], answer_index=0, seed=1)
    >>> table = tasks_to_table([task])
    >>> from_dataset(to_dataset(table)).equals(table)
    True
    """
    if not isinstance(ds, datasets.Dataset):
        raise TypeError(
            f"from_dataset takes a datasets.Dataset, got {type(ds).__name__}; for a DatasetDict "
            "pass one split, e.g. from_dataset(dd['train'])"
        )
    table = ds.with_format("arrow")[:]
    return _as_task_schema(table, "the dataset").replace_schema_metadata(None)
