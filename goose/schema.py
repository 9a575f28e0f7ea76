"""Arrow schemas of goose's outputs, and the one place tasks convert between records and tables.

>>> TASK_SCHEMA.names[:4]
['id', 'domain', 'source_id', 'masked_text']
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from goose.task import Task

LINEAGE_TYPE = pa.struct(
    [
        ("passage_sha256", pa.string()),
        ("span_start", pa.int64()),
        ("span_end", pa.int64()),
        ("document_id", pa.string()),
        ("document_start", pa.int64()),
        ("seed", pa.int64()),
        ("operators", pa.list_(pa.string())),
        ("option_sources", pa.list_(pa.string())),
        ("engine", pa.string()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("probe_model", pa.string()),
        ("probe_letters", pa.list_(pa.string())),
        ("probe_pass_rate", pa.float64()),
    ]
)
"""Arrow type of :class:`goose.task.Lineage`."""

TASK_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("domain", pa.string()),
        ("source_id", pa.string()),
        ("masked_text", pa.string()),
        ("gold", pa.string()),
        ("options", pa.list_(pa.string())),
        ("answer", pa.string()),
        ("question", pa.string()),
        ("lineage", LINEAGE_TYPE),
    ]
)
"""Arrow schema of a tasks table; field for field the same as :class:`goose.task.Task`.

>>> str(TASK_SCHEMA.field("options").type), TASK_SCHEMA.field("lineage").type.num_fields
('list<item: string>', 14)
"""

REJECT_SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("operator", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("record", pa.string()),
    ]
)
"""Arrow schema of a rejects table: which row, dropped by which operator, why.

``record`` is the row as the operator saw it, as JSON, with long strings shortened.

>>> REJECT_SCHEMA.names
['source_id', 'operator', 'reason', 'detail', 'record']
"""


def tasks_to_table(tasks: Iterable[Task]) -> pa.Table:
    """Convert validated tasks to an Arrow table with :data:`TASK_SCHEMA`.

    >>> tasks_to_table([]).num_rows
    0
    """
    return pa.Table.from_pylist([task.model_dump() for task in tasks], schema=TASK_SCHEMA)


def table_to_tasks(table: pa.Table) -> list[Task]:
    """Validate every row of a tasks table; raises ``pydantic.ValidationError`` on the first bad row.

    >>> table_to_tasks(tasks_to_table([]))
    []
    """
    return [Task.model_validate(row) for row in table.select(TASK_SCHEMA.names).to_pylist()]
