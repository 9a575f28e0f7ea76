"""Per-operator counters of a run: rows in and out, drops by reason, seconds, and the LLM
engine's requests, cache hits, tokens and failures for operators that use one.

>>> stats = OperatorStats("PrepareText", rows_in=3, rows_out=2, drops={"empty_text": 1})
>>> stats.accounted
True
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from goose.engines.usage import EngineUsage

READ_STEP = "read"
"""Operator name under which rows the reader could not parse are rejected."""


@dataclass
class OperatorStats:
    """Counters of one operator over a run; ``merge`` adds another batch's counters.

    ``engine`` is ``None`` for a step that made no LLM call. ``rows_added`` counts the rows an
    expanding step (``Operator.expands``) made beyond one per kept input row.

    >>> OperatorStats("SplitPassages", rows_in=3, rows_out=5, drops={"no_passage": 1}, rows_added=3).accounted
    True
    """

    name: str
    rows_in: int = 0
    rows_out: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    engine: EngineUsage | None = None
    rows_added: int = 0

    def __post_init__(self) -> None:
        self.drops = Counter(self.drops)

    @property
    def dropped(self) -> int:
        """Rows this operator dropped, all reasons together."""
        return sum(self.drops.values())

    @property
    def accounted(self) -> bool:
        """Whether rows in + rows added = rows out + rows dropped."""
        return self.rows_in + self.rows_added == self.rows_out + self.dropped

    def merge(self, other: OperatorStats) -> None:
        """Add ``other``'s counters (same operator, another batch) to these."""
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.rows_added += other.rows_added
        self.drops.update(other.drops)
        self.seconds += other.seconds
        if other.engine is not None:
            if self.engine is None:
                self.engine = EngineUsage()
            self.engine.merge(other.engine)

    def as_dict(self) -> dict:
        """Plain dict for JSON reports."""
        report = {
            "operator": self.name,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(sorted(self.drops.items())),
            "seconds": round(self.seconds, 4),
        }
        if self.rows_added:
            report["rows_added"] = self.rows_added
        if self.engine is not None:
            report["engine"] = self.engine.as_dict()
        return report


class RunAccounting:
    """Whether a run accounts for every row, from its step counters (``stats``, the reader
    first) and its numbers of tasks and rejects; shared by results held in memory and runs
    read back from disk. Subclasses give ``stats``, ``task_rows`` and ``reject_rows``.

    >>> class Run(RunAccounting):
    ...     stats, task_rows, reject_rows = [OperatorStats("read", 3, 3)], 2, 1
    >>> Run().rows_in, Run().accounted
    (3, True)
    """

    stats: list[OperatorStats]

    @property
    def task_rows(self) -> int:
        """Tasks of the run."""
        raise NotImplementedError

    @property
    def reject_rows(self) -> int:
        """Rejects of the run."""
        raise NotImplementedError

    @property
    def rows_in(self) -> int:
        """Rows the source held, readable or not."""
        return self.stats[0].rows_in if self.stats else 0

    @property
    def rows_added(self) -> int:
        """Rows that expanding steps added (e.g. a document's second and third passages)."""
        return sum(step.rows_added for step in self.stats)

    @property
    def accounted(self) -> bool:
        """Whether every input row, and every row an expanding step added, is a task or a reject."""
        return self.rows_in + self.rows_added == self.task_rows + self.reject_rows
