"""The operator contract: a pure function from an Arrow batch to kept rows plus dropped rows.

An operator is a pydantic model: its fields are its parameters (validated on construction,
so a YAML config with a bad key fails at once), and :meth:`Operator.process` maps one
batch. Operators hold no state between batches, which is what lets a local loop or a
distributed engine (Ray Data ``map_batches``) run them unchanged; the few that must
(a run-wide dedup index, the answer-letter counter) say so with ``stateful = True`` and
save their memory with :meth:`Operator.checkpoint`.

>>> class DropShort(Operator):
...     requires: ClassVar[tuple[str, ...]] = ("text",)
...     min_chars: int = 3
...     def process(self, batch, context):
...         outcomes = RowOutcomes(batch)
...         for i, text in enumerate(batch.column("text").to_pylist()):
...             outcomes.keep(i) if len(text) >= self.min_chars else outcomes.drop(i, "too_short")
...         return outcomes.result()
>>> DropShort().process(pa.table({"text": ["hi", "hello"]}), RunContext()).kept.num_rows
1
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from goose.engines import Engine


MAIN_ENGINE = "main"
"""The engine role of LLM operators unless they name another (``engine_role``)."""


@dataclass(frozen=True)
class Drop:
    """One dropped row: its index in the input batch, a stable reason code and a detail.

    >>> Drop(0, "empty_text").reason
    'empty_text'
    """

    index: int
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class BatchResult:
    """What an operator returns for one batch: the kept rows (with new columns) and the drops.

    ``parents`` is for expanding operators only (``expands = True``, e.g. one row per passage
    of a document): ``parents[i]`` is the input index that kept row ``i`` came from, in
    non-decreasing order. Every input index is then either dropped or the parent of one or
    more kept rows, never both. Other operators leave it ``None``: their kept rows are the
    input rows that were not dropped, in input order.

    >>> BatchResult(pa.table({"a": [1]}), []).kept.num_rows
    1
    >>> BatchResult(pa.table({"a": [1, 2, 3]}), [Drop(1, "empty")], parents=[0, 0, 2]).rows_added
    1
    """

    kept: pa.Table
    drops: list[Drop] = field(default_factory=list)
    parents: list[int] | None = None

    @property
    def rows_added(self) -> int:
        """Kept rows beyond one per kept input row: 0 unless the operator expands."""
        if self.parents is None:
            return 0
        return len(self.parents) - len(set(self.parents))


@dataclass(frozen=True)
class RunContext:
    """Run-wide facts an operator may read: the seed, the pipeline's operator labels, the
    main LLM engine (``None`` for a pipeline without one) and engines for other roles
    (e.g. ``{"probe": small_engine}``: a strong model writes tasks, a small one probes them).

    Randomness is drawn per row from ``rng(key, ...)``, so a row's result does not depend
    on which batch (or which worker) it landed in.

    >>> bool(RunContext(seed=1).rng("doc-1").integers(100) == RunContext(seed=1).rng("doc-1").integers(100))
    True
    """

    seed: int = 0
    operators: tuple[str, ...] = ()
    engine: Engine | None = None
    engines: Mapping[str, Engine] = field(default_factory=dict)

    def require_engine(self, operator: str, role: str = MAIN_ENGINE) -> Engine:
        """The engine of ``role`` (the main engine by default), or a clear error naming
        ``operator`` when the run has none.

        >>> RunContext().require_engine("MaskReasoningSpan")
        Traceback (most recent call last):
        ValueError: MaskReasoningSpan needs an engine for its LLM calls; run it in Pipeline(..., engine=...)
        >>> RunContext().require_engine("ProbeDifficulty", "probe")
        Traceback (most recent call last):
        ValueError: ProbeDifficulty needs the 'probe' engine; run it in Pipeline(..., engines={'probe': ...})
        """
        engine = self.engine if role == MAIN_ENGINE else self.engines.get(role)
        if engine is None:
            if role == MAIN_ENGINE:
                raise ValueError(f"{operator} needs an engine for its LLM calls; run it in Pipeline(..., engine=...)")
            raise ValueError(f"{operator} needs the {role!r} engine; run it in Pipeline(..., engines={{{role!r}: ...}})")
        return engine

    def rng(self, *keys: object) -> np.random.Generator:
        """A generator seeded by the run seed and ``keys`` (e.g. operator name, source id)."""
        digest = hashlib.sha256(json.dumps([self.seed, *map(str, keys)]).encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class Operator(BaseModel, ABC):
    """Base class of every goose operator; subclasses add pydantic fields and ``process``.

    ``requires`` names the input columns the operator reads, ``produces`` the columns it
    adds or rewrites; :class:`goose.Pipeline` checks them before the first batch runs.
    An operator with ``uses_engine = True`` sends its LLM requests through
    ``context.engine`` (one ``generate`` call per batch) and never imports a back end.
    Every row of the input batch must come back either in ``kept`` or as a :class:`Drop`;
    an operator with ``expands = True`` may return several kept rows for one input row and
    names each kept row's input row in :attr:`BatchResult.parents`.
    Operators must accept an empty batch.

    >>> from goose.operators import PrepareText
    >>> step = PrepareText(min_chars=5)
    >>> step.label, step.produced_columns()
    ('PrepareText/1', ('source_id', 'text', 'domain'))
    >>> [drop.reason for drop in step.process(pa.table({"text": ["hi", "hello world"]}), RunContext()).drops]
    ['too_short']
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    requires: ClassVar[tuple[str, ...]] = ()
    produces: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "1"
    uses_engine: ClassVar[bool] = False
    stateful: ClassVar[bool] = False
    """True for the rare operator that remembers earlier batches (a run-wide dedup index):
    executors run it in one process, in input order, and save its :meth:`checkpoint`."""
    expands: ClassVar[bool] = False
    """True for an operator that may turn one input row into several (e.g. a document into
    passages): it returns :attr:`BatchResult.parents`, and the counters record the rows it
    added (``rows_in + rows_added = rows_out + dropped``)."""
    keeps_solution_start: ClassVar[bool] = False
    """True for an operator that rewrites ``text`` only in rows without a ``solution_start``
    offset (question + solution rows pass unchanged), so the offset stays right after it."""

    @property
    def name(self) -> str:
        """The operator's class name, used in stats and rejects."""
        return type(self).__name__

    @property
    def label(self) -> str:
        """``Name/version``, recorded in task lineage."""
        return f"{self.name}/{self.version}"

    def required_columns(self) -> tuple[str, ...]:
        """Input columns this operator reads (``requires`` unless a parameter renames them)."""
        return self.requires

    def produced_columns(self) -> tuple[str, ...]:
        """Columns this operator adds or rewrites."""
        return self.produces

    def engine_roles(self) -> tuple[str, ...]:
        """Engine roles this operator calls: ``("main",)`` for LLM operators, ``()`` otherwise.
        Operators with an ``engine_role`` parameter (e.g. a small probe model) override it."""
        return (MAIN_ENGINE,) if self.uses_engine else ()

    @abstractmethod
    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        """Map one batch to kept rows and drops."""

    def start_run(self) -> None:
        """Called by the pipeline before a run's first batch. The rare operator that must
        remember earlier batches (a run-wide dedup index) clears that memory here; pure
        operators, the rule, do nothing."""

    def checkpoint(self) -> bytes | None:
        """Stateful operators: what they learnt since the previous checkpoint (or since
        :meth:`start_run`), as bytes; ``None`` for pure operators. A resumable run saves one
        checkpoint per finished batch next to that batch's output."""
        return None

    def run_memory(self) -> dict[str, int]:
        """What this operator keeps from one batch to the next, by name: bytes (names ending
        in ``_bytes``) or counts; ``{}`` for one that keeps nothing. For measuring that memory
        stays bounded however long the run (``bench/memory.py``).

        >>> from goose.operators import PrepareText
        >>> PrepareText().run_memory()
        {}
        """
        return {}

    def restore(self, checkpoints: Sequence[bytes]) -> None:
        """Stateful operators: rebuild the memory of a run from its checkpoints, in batch
        order, right after :meth:`start_run`, so a resumed run continues where it stopped."""
        if checkpoints:
            raise TypeError(f"{self.name} keeps no state between batches but was given checkpoints to restore")


def column_or_nulls(batch: pa.Table, name: str) -> list[Any]:
    """The values of column ``name`` of ``batch``, or ``None`` per row when it has no such
    column (an optional input, e.g. ``solution_start``).

    >>> column_or_nulls(pa.table({"a": [1, 2]}), "b")
    [None, None]
    """
    return batch.column(name).to_pylist() if name in batch.column_names else [None] * batch.num_rows


class RowOutcomes:
    """Collects per-row decisions of an operator and turns them into a :class:`BatchResult`.

    ``keep(i, column=value, ...)`` keeps row ``i`` with new or replaced column values;
    ``drop(i, reason, detail)`` drops it. Columns named in ``types`` get that Arrow type
    (needed when a batch is empty or a value is always None). An expanding operator
    (``expands = True``) may keep a row several times, once per row it makes from it; the
    result then names each kept row's input row in ``parents``.

    >>> outcomes = RowOutcomes(pa.table({"a": [1, 2]}), types={"b": pa.string()})
    >>> outcomes.keep(1, b="x"); outcomes.drop(0, "odd")
    >>> outcomes.result().kept.to_pylist()
    [{'a': 2, 'b': 'x'}]
    """

    def __init__(self, batch: pa.Table, types: dict[str, pa.DataType] | None = None) -> None:
        self._batch = batch
        self._types = dict(types or {})
        self._kept: list[int] = []
        self._values: dict[str, list[Any]] = {name: [] for name in self._types}
        self._drops: list[Drop] = []

    def keep(self, index: int, **values: Any) -> None:
        """Keep row ``index``; every kept row must set the same new columns."""
        if self._kept and set(values) != set(self._values):
            raise ValueError(f"row {index} sets columns {sorted(values)}, earlier rows set {sorted(self._values)}")
        for name in values:
            self._values.setdefault(name, [])
        for name, value in values.items():
            self._values[name].append(value)
        self._kept.append(index)

    def drop(self, index: int, reason: str, detail: str = "") -> None:
        """Drop row ``index`` with a stable ``reason`` code and a human ``detail``."""
        self._drops.append(Drop(index, reason, detail))

    def result(self) -> BatchResult:
        """The kept rows in input order with their new columns, and the drops (and the parents
        when a row was kept more than once)."""
        order = np.argsort(np.asarray(self._kept, dtype=np.int64), kind="stable")
        indices = np.asarray(self._kept, dtype=np.int64)[order]
        kept = self._batch.take(pa.array(indices, type=pa.int64()))
        for name, values in self._values.items():
            array = pa.array([values[i] for i in order], type=self._types.get(name))
            position = kept.schema.get_field_index(name)
            if position >= 0:
                kept = kept.set_column(position, name, array)
            else:
                kept = kept.append_column(name, array)
        parents = indices.tolist() if len(set(self._kept)) < len(self._kept) else None
        return BatchResult(kept, self._drops, parents)
