"""Read pipeline input in Arrow batches of bounded size from the shapes users have.

Accepted sources: a ``pyarrow.Table``, a ``datasets.Dataset``, a list of dicts, or one or
more paths to ``.parquet``, ``.jsonl``/``.json`` (one object per line) files. Rows that
cannot be read (a line that is not JSON, bytes that are not UTF-8) are not lost: they come
back as :class:`ReadDrop` records so the pipeline can account for them.

>>> [batch.table.num_rows for batch in read_batches([{"text": "a"}] * 5, batch_size=2)]
[2, 2, 1]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import pyarrow as pa
import pyarrow.parquet as pq

Source = Union[pa.Table, Sequence[dict], str, Path, Sequence[Union[str, Path]], Any]
"""Anything :func:`read_batches` accepts (``Any`` covers ``datasets.Dataset``)."""


@dataclass(frozen=True)
class ReadDrop:
    """An input row the reader could not turn into an Arrow row, with where it was.

    >>> ReadDrop("data.jsonl:3", "invalid_json", "Expecting value").reason
    'invalid_json'
    """

    source_id: str
    reason: str
    detail: str
    record: str = ""


@dataclass(frozen=True)
class SourceBatch:
    """One batch of readable rows plus the rows of the same stretch that could not be read."""

    table: pa.Table
    drops: list[ReadDrop] = field(default_factory=list)


def count_rows(source: Source) -> int | None:
    """Number of input rows when cheap to know (tables, datasets, lists, Parquet), else None.

    >>> count_rows([{}, {}])
    2
    """
    if isinstance(source, pa.Table):
        return source.num_rows
    paths = source_paths(source)
    if paths is not None:
        if all(path.suffix == ".parquet" for path in paths):
            return sum(pq.ParquetFile(path).metadata.num_rows for path in paths)
        return None
    try:
        return len(source)
    except TypeError:
        return None


def read_batches(source: Source, batch_size: int) -> Iterator[SourceBatch]:
    """Yield the source in batches of at most ``batch_size`` rows.

    >>> next(read_batches(pa.table({"text": ["x"]}), 8)).table.column_names
    ['text']
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if isinstance(source, pa.Table):
        yield from (SourceBatch(pa.Table.from_batches([b], source.schema)) for b in source.to_batches(batch_size))
        return
    paths = source_paths(source)
    if paths is not None:
        for path in paths:
            yield from _read_path(path, batch_size)
        return
    if _is_hf_dataset(source):
        for table in source.with_format("arrow").iter(batch_size=batch_size):
            yield SourceBatch(table)
        return
    if isinstance(source, Sequence):
        yield from _rows_to_batches(((f"row:{i}", row) for i, row in enumerate(source)), batch_size)
        return
    raise TypeError(
        f"cannot read a {type(source).__name__}; pass a pyarrow.Table, a datasets.Dataset, "
        "a list of dicts, or paths to .parquet/.jsonl files"
    )


def _is_hf_dataset(source: object) -> bool:
    return type(source).__module__.startswith("datasets.") and hasattr(source, "with_format")


def source_paths(source: object) -> list[Path] | None:
    """The file paths a source names (one path or a list of them), or None for other sources.

    >>> source_paths("a.jsonl"), source_paths([{"text": "x"}])
    ([PosixPath('a.jsonl')], None)
    """
    if isinstance(source, (str, Path)):
        return [Path(source)]
    if isinstance(source, Sequence) and source and all(isinstance(s, (str, Path)) for s in source):
        return [Path(s) for s in source]
    return None


def _read_path(path: Path, batch_size: int) -> Iterator[SourceBatch]:
    if not path.exists():
        raise FileNotFoundError(f"input file {path} does not exist; check the path in your command or config")
    if path.suffix == ".parquet":
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=batch_size):
            yield SourceBatch(pa.Table.from_batches([batch]))
    elif path.suffix in {".jsonl", ".json"}:
        yield from _rows_to_batches(_jsonl_rows(path), batch_size)
    else:
        raise ValueError(f"cannot read {path}: use a .parquet or .jsonl file (one JSON object per line)")


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict | ReadDrop]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path.name}:{number}"
            if not raw.strip():
                continue
            try:
                # A byte-order mark (Windows editors put one before the first line) is no content.
                line = raw.decode("utf-8").removeprefix("\ufeff")
            except UnicodeDecodeError as error:
                yield where, ReadDrop(where, "invalid_utf8", str(error), raw[:200].decode("utf-8", "replace"))
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                yield where, ReadDrop(where, "invalid_json", str(error), line[:200])
                continue
            except RecursionError:  # e.g. [[[[...]]]] thousands deep: Python's parser gives up
                yield where, ReadDrop(where, "invalid_json", "JSON nested too deeply to parse", line[:200])
                continue
            if not isinstance(row, dict):
                yield where, ReadDrop(where, "not_an_object", f"line holds a {type(row).__name__}", line[:200])
                continue
            yield where, row


def _rows_to_batches(rows: Iterable[tuple[str, Any]], batch_size: int) -> Iterator[SourceBatch]:
    # Unreadable rows ride along with the next batch of readable ones. Unreadable rows
    # after the last readable one join the last batch (one batch is held back for that),
    # so operators never get a batch without columns just because the input ends badly.
    pending: list[dict] = []
    drops: list[ReadDrop] = []
    held: SourceBatch | None = None
    for where, row in rows:
        checked = row if isinstance(row, ReadDrop) else _check_row(where, row)
        if isinstance(checked, ReadDrop):
            drops.append(checked)
        else:
            pending.append(checked)
        if len(pending) == batch_size:
            if held is not None:
                yield held
            held = SourceBatch(_rows_to_table(pending), drops)
            pending, drops = [], []
    if held is not None and not pending:
        yield SourceBatch(held.table, held.drops + drops)
        return
    if held is not None:
        yield held
    if pending or drops:
        yield SourceBatch(_rows_to_table(pending), drops)


def _check_row(where: str, row: Any) -> dict | ReadDrop:
    if not isinstance(row, dict):
        return ReadDrop(where, "not_an_object", f"row is a {type(row).__name__}, expected a dict", repr(row)[:200])
    decoded = {}
    for key, value in row.items():
        if isinstance(value, (bytes, bytearray)):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError as error:
                return ReadDrop(where, "invalid_utf8", f"column {key!r}: {error}", repr(value[:200]))
        unencodable = _unencodable_text(value)
        if unencodable is not None:
            # JSON may spell a lone surrogate ("\\ud800"); no UTF-8 text (nor Arrow) can hold it.
            return ReadDrop(where, "invalid_utf8", f"column {key!r}: {unencodable}", repr(value)[:200])
        decoded[str(key)] = value
    return decoded


def _unencodable_text(value: Any) -> str | None:
    """Why ``value`` (a string, or strings nested in lists and dicts) cannot be UTF-8 text, or None.

    >>> _unencodable_text(["ok", {"k": "a" + chr(0xD800)}])[-22:], _unencodable_text({"k": ["fine"]})
    ('surrogates not allowed', None)
    """
    stack = [value]  # a stack, not recursion: a row may nest thousands of levels deep
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                return str(error)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def _rows_to_table(rows: list[dict]) -> pa.Table:
    # pyarrow names columns after the first row only; take the union so no value is lost.
    names = list(dict.fromkeys(key for row in rows for key in row))
    columns = {name: [row.get(name) for row in rows] for name in names}
    arrays = {}
    for name, values in columns.items():
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            # Mixed value types (e.g. text that is a number in one row): keep every row
            # and let the operators judge the JSON text of the odd values.
            arrays[name] = pa.array([_as_text(value) for value in values], type=pa.string())
    return pa.table(arrays) if arrays else pa.table({"__empty__": pa.nulls(len(rows))}).drop_columns(["__empty__"])


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
