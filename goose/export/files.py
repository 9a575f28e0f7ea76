"""Write a tasks table to Parquet or JSONL in the GooseReason shape, and read either back.

Exported files put the three columns an RL trainer needs first, as the GooseReason
data sets do (``question``, ``options``, ``answer`` as a letter), then goose's own
columns (``id``, ``domain``, ``source_id``, ``masked_text``, ``gold``, ``lineage``).
Writing the same table twice gives byte-identical files (no timestamps, no schema
metadata carried over from the input, fixed compression, fixed JSON key order) with
the same pyarrow version; Parquet files name that version in their footer.

>>> import tempfile
>>> from goose.schema import tasks_to_table
>>> from goose.task import Task
>>> task = Task.build(domain="math", source_id="d1", passage="We have x = 2. So y = 4. Done.",
...     span=(15, 24), distractors=["So y = 5.", "So y = 9."], answer_index=1, seed=0)
>>> path = write_jsonl(tasks_to_table([task]), tempfile.mkdtemp() + "/tasks.jsonl")
>>> read_tasks(path).column("answer").to_pylist()
['B']
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from goose.schema import TASK_SCHEMA

GOOSEREASON_COLUMNS = ("question", "options", "answer")
"""Columns that lead every exported file, in this order (the GooseReason layout)."""

_BATCH_ROWS = 1024
_ROW_GROUP_ROWS = 8192
_PARQUET_SUFFIXES = (".parquet", ".pq")
_JSONL_SUFFIXES = (".jsonl", ".ndjson")


def _missing_columns_error(missing: list[str], what: str) -> ValueError:
    return ValueError(
        f"{what} lacks the task column(s) {', '.join(missing)}; it needs every column of "
        f"goose.schema.TASK_SCHEMA ({', '.join(TASK_SCHEMA.names)}). Build tables of tasks with "
        "goose.schema.tasks_to_table(tasks), or read exported files with goose.export.read_tasks(path)."
    )


def _as_task_schema(table: pa.Table, what: str = "the tasks table") -> pa.Table:
    """``table`` with exactly the columns, order and types of TASK_SCHEMA (extra columns dropped)."""
    missing = [name for name in TASK_SCHEMA.names if name not in table.column_names]
    if missing:
        raise _missing_columns_error(missing, what)
    selected = table.select(TASK_SCHEMA.names)
    try:
        return selected.cast(TASK_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise ValueError(
            f"{what} has task columns of the wrong type ({error}); expected goose.schema.TASK_SCHEMA. "
            "Build tables of tasks with goose.schema.tasks_to_table(tasks)."
        ) from error


def export_order(tasks: pa.Table) -> pa.Table:
    """The tasks table checked against TASK_SCHEMA, with the GooseReason columns first."""
    table = _as_task_schema(tasks)
    rest = [name for name in TASK_SCHEMA.names if name not in GOOSEREASON_COLUMNS]
    return table.select([*GOOSEREASON_COLUMNS, *rest])


def _replace_atomically(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Create parent folders, call ``write(tmp_path)``, then move the result onto ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _write_table_parquet(table: pa.Table, path: str | Path) -> Path:
    """Write any table to Parquet reproducibly: no input schema metadata, fixed settings."""
    table = table.replace_schema_metadata(None)

    def write(tmp: Path) -> None:
        pq.write_table(table, tmp, compression="snappy", row_group_size=_ROW_GROUP_ROWS)

    return _replace_atomically(path, write)


def write_parquet(tasks: pa.Table, path: str | Path) -> Path:
    """Write a tasks table (:data:`goose.schema.TASK_SCHEMA`) to Parquet, GooseReason columns first.

    Parent folders are created. Returns the path written.

    >>> import tempfile
    >>> from goose.schema import tasks_to_table
    >>> path = write_parquet(tasks_to_table([]), tempfile.mkdtemp() + "/out/tasks.parquet")
    >>> import pyarrow.parquet as pq
    >>> pq.read_schema(path).names[:4]
    ['question', 'options', 'answer', 'id']
    """
    return _write_table_parquet(export_order(tasks), path)


def _jsonl_lines(table: pa.Table) -> Iterator[str]:
    """One chunk of JSON lines per record batch; key order is the column order."""
    for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
        yield "".join(
            json.dumps(row, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"
            for row in batch.to_pylist()
        )


def write_jsonl(tasks: pa.Table, path: str | Path) -> Path:
    """Write a tasks table to JSON Lines (UTF-8, one object per task, GooseReason keys first).

    ``lineage`` is a nested object. Keys follow the column order, so output is deterministic.
    Parent folders are created. Returns the path written.

    >>> import tempfile
    >>> from goose.schema import tasks_to_table
    >>> from goose.task import Task
    >>> task = Task.build(domain="general", source_id="d", passage="One. Two. Three.", span=(5, 9),
    ...     distractors=["Six."], answer_index=0, seed=1)
    >>> path = write_jsonl(tasks_to_table([task]), tempfile.mkdtemp() + "/tasks.jsonl")
    >>> path.read_text(encoding="utf-8")[:40]
    '{"question":"The following passage conta'
    """
    table = export_order(tasks)

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            for chunk in _jsonl_lines(table):
                out.write(chunk)

    return _replace_atomically(path, write)


def _read_jsonl(path: Path) -> pa.Table:
    batches: list[pa.RecordBatch] = []
    rows: list[dict] = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{path}:{number} is not valid JSON ({error}); a tasks JSONL file holds one "
                    "object per line, as written by goose.export.write_jsonl"
                ) from error
            missing = [name for name in TASK_SCHEMA.names if name not in row]
            if missing:
                raise _missing_columns_error(missing, f"line {number} of {path}")
            rows.append({name: row[name] for name in TASK_SCHEMA.names})
            if len(rows) >= _BATCH_ROWS:
                batches.append(pa.RecordBatch.from_pylist(rows, schema=TASK_SCHEMA))
                rows = []
    if rows:
        batches.append(pa.RecordBatch.from_pylist(rows, schema=TASK_SCHEMA))
    return pa.Table.from_batches(batches, schema=TASK_SCHEMA)


def read_tasks(path: str | Path) -> pa.Table:
    """Read a Parquet (``.parquet``) or JSONL (``.jsonl``) tasks file back to a TASK_SCHEMA table.

    The result has exactly the columns, order and types of :data:`goose.schema.TASK_SCHEMA`,
    ready for :func:`goose.schema.table_to_tasks`.

    >>> import tempfile
    >>> from goose.schema import TASK_SCHEMA, tasks_to_table
    >>> path = write_parquet(tasks_to_table([]), tempfile.mkdtemp() + "/tasks.parquet")
    >>> read_tasks(path).schema == TASK_SCHEMA
    True
    """
    source = Path(path)
    suffix = source.suffix.lower()
    if suffix in _PARQUET_SUFFIXES:
        table = pq.read_table(source)
    elif suffix in _JSONL_SUFFIXES:
        table = _read_jsonl(source)
    else:
        raise ValueError(
            f"cannot tell the format of {source} from its suffix {suffix!r}; name Parquet files "
            "'*.parquet' and JSON Lines files '*.jsonl'"
        )
    return _as_task_schema(table, str(source)).replace_schema_metadata(None)
