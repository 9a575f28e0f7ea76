"""Progress of a run, one bar per step, fed from the per-batch counters every executor returns.

>>> from goose.pipeline.stats import OperatorStats
>>> with StepProgress(["PrepareText"], enabled=False) as bars:
...     bars.update([OperatorStats("read", rows_in=2, rows_out=2)])
...     bars.counts()
{'read': 2, 'PrepareText': 0}
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tqdm.auto import tqdm

from goose.pipeline.stats import READ_STEP, OperatorStats


class StepProgress:
    """Progress per step, fed from each batch's counters (:attr:`BatchOutcome.stats`), which
    every executor returns, local or Ray: ``read`` counts the input rows read, of ``total``
    when known (``initial`` of them done by an earlier process), and each step the rows it
    passed on. On a terminal each step has its own bar (``stacked``); elsewhere (a log file,
    CI) one bar carries the steps' counts after it, so no cursor movement is written. The
    bars appear after ``delay`` seconds, so a run that fails at once prints its error alone;
    ``enabled=False`` shows none.

    >>> from goose.pipeline.stats import OperatorStats
    >>> with StepProgress(["PrepareText"], total=3, enabled=False) as bars:
    ...     bars.update([OperatorStats("read", rows_in=3, rows_out=2), OperatorStats("PrepareText", rows_in=2, rows_out=1)])
    ...     bars.counts()
    {'read': 3, 'PrepareText': 1}
    """

    def __init__(self, step_names: Sequence[str], *, total: int | None = None, initial: int = 0,
                 enabled: bool = True, delay: float = 0.5, stacked: bool | None = None) -> None:
        names = [READ_STEP, *step_names]
        width = max(map(len, names))
        if stacked is None:
            stacked = bool(getattr(sys.stderr, "isatty", lambda: False)())
        shown = names if stacked else names[:1]
        self._bars = {
            name: tqdm(total=total if position == 0 else None, initial=initial if position == 0 else 0, unit="rows",
                       desc=name.ljust(width) if stacked else "goose", position=position, disable=not enabled,
                       delay=delay, dynamic_ncols=True)
            for position, name in enumerate(shown)
        }
        self._stacked = stacked
        self._counts = dict.fromkeys(names, 0)  # kept here too: a disabled bar counts nothing

    def update(self, stats: Sequence[OperatorStats]) -> None:
        """Count one batch: its rows read, and the rows each step kept."""
        added = {step.name: step.rows_in if step.name == READ_STEP else step.rows_out
                 for step in stats if step.name in self._counts}
        for name, rows in added.items():
            self._counts[name] += rows
        if not self._stacked:  # before the update, which draws the line
            steps = list(self._counts.items())[1:]
            self._bars[READ_STEP].set_postfix_str(", ".join(f"{name} {rows}" for name, rows in steps), refresh=False)
        for name, rows in added.items():
            if name in self._bars:
                self._bars[name].update(rows)

    def counts(self) -> dict[str, int]:
        """Rows counted so far by this process, by step (``read`` first)."""
        return dict(self._counts)

    def close(self) -> None:
        """Close the bars, in step order."""
        for bar in self._bars.values():
            bar.close()

    def __enter__(self) -> StepProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
