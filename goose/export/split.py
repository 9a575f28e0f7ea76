"""A train/validation split that depends only on each task's id: the same every time.

A task goes to validation when the hash of its id, read as a number in [0, 1), is below
``val_fraction``. Nothing else enters the decision, so the split does not change with row
order, with batch size, with which other tasks are in the run, or between machines and
Python versions (SHA-256, not Python's salted ``hash``). A task kept in a later, larger run
stays on the side it was on, so validation tasks never leak into training across exports.
The validation share is ``val_fraction`` in expectation, not exactly.

>>> from goose.schema import tasks_to_table
>>> from goose.task import Task
>>> tasks = tasks_to_table([Task.build(domain="math", source_id=f"d{k}", passage=f"Take x = {k}. So y = {2 * k}. Done.",
...     span=(len(f"Take x = {k}. "), len(f"Take x = {k}. So y = {2 * k}.")), distractors=["So y = -1."],
...     answer_index=0, seed=0) for k in range(40)])
>>> train, validation = split_by_id(tasks, val_fraction=0.25)
>>> train.num_rows + validation.num_rows, 0 < validation.num_rows < 20
(40, True)
>>> again = split_by_id(tasks.take(list(reversed(range(40)))), val_fraction=0.25)[1]
>>> sorted(again.column("id").to_pylist()) == sorted(validation.column("id").to_pylist())
True
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_HASH_BYTES = 8
_SCALE = float(2 ** (8 * _HASH_BYTES))


def id_fraction(task_id: str) -> float:
    """The task id's place in [0, 1): the first 8 bytes of its SHA-256 as a fraction.

    >>> id_fraction("goose-60d619851eddf6") == id_fraction("goose-60d619851eddf6")
    True
    >>> 0.0 <= id_fraction("anything") < 1.0
    True
    """
    digest = hashlib.sha256(task_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:_HASH_BYTES], "big") / _SCALE


def is_validation(ids: pa.Array | pa.ChunkedArray | list[str], val_fraction: float) -> np.ndarray:
    """A boolean mask: True for the ids that go to validation at ``val_fraction``.

    >>> is_validation(["a", "b"], 0.0).tolist(), is_validation(["a", "b"], 1.0).tolist()
    ([False, False], [True, True])
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction is {val_fraction}; use a fraction from 0 to 1 (e.g. 0.05)")
    values = ids.to_pylist() if isinstance(ids, (pa.Array, pa.ChunkedArray)) else list(ids)
    return np.fromiter((id_fraction(str(v)) < val_fraction for v in values), dtype=bool, count=len(values))


def split_by_id(tasks: pa.Table, val_fraction: float) -> tuple[pa.Table, pa.Table]:
    """``(train, validation)``: the rows of ``tasks`` on each side of the id-hash split, each
    in the input's row order.

    >>> from goose.schema import tasks_to_table
    >>> [t.num_rows for t in split_by_id(tasks_to_table([]), 0.1)]
    [0, 0]
    """
    mask = pa.array(is_validation(tasks.column("id"), val_fraction), pa.bool_())
    return tasks.filter(pc.invert(mask)), tasks.filter(mask)
