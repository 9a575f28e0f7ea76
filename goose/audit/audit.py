"""How often cheap solvers solve a set of tasks: solve rates with Wilson intervals, per domain, vs chance.

A solver's credit on a task is 1 when its single best-scored option is the gold, ``1/t``
when the gold is one of ``t`` options tied at the best score (the expected result of
breaking the tie at random), else 0. So a solver that scores every option alike gets
exactly chance, ``1 / len(options)`` per task. A solver whose 95% Wilson interval lies
above chance finds the gold without reasoning: the tasks carry a shortcut.

>>> import pyarrow as pa
>>> tasks = pa.table({
...     "masked_text": ["Tides follow the moon. [MASK]", "Cells make ATP. [MASK]"],
...     "options": [["The moon pulls the tides.", "Stocks fell."], ["Tax law changed again.", "ATP powers cells."]],
...     "answer": ["A", "B"],
...     "domain": ["general", "stem"],
... })
>>> report = audit_tasks(tasks, [solver_by_name("tfidf_passage"), solver_by_name("longest")])
>>> report.overall["tfidf_passage"].solve_rate, report.chance, report.best
(1.0, 0.5, 'tfidf_passage')
>>> report.solved_by
[['tfidf_passage', 'longest'], ['tfidf_passage']]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from goose.audit.solvers import (
    FeatureSolver,
    ShortcutSolver,
    default_solvers,
    report_solvers,
    solver_by_name,
    tie_credits,
)
from goose.audit.text_features import BatchFeatures
from goose.options import LETTERS

WILSON_Z = 1.959963984540054
"""z of a two-sided 95% interval."""

AUDIT_BATCH_ROWS = 4096
"""Tasks scored together: bounds memory, and is the set that TF-IDF / BM25 fit their idf on."""

AUDIT_COLUMNS = ("masked_text", "options", "answer", "domain")
"""Task columns the audit reads (``domain`` is optional)."""


def wilson_interval(successes: float, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval of a proportion; ``successes`` may be fractional (tie credits).

    >>> [round(x, 4) for x in wilson_interval(5, 10)]
    [0.2366, 0.7634]
    >>> wilson_interval(0, 0)
    (0.0, 1.0)
    """
    if n <= 0:
        return (0.0, 1.0)
    p = min(max(successes / n, 0.0), 1.0)
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


class SolverStats(BaseModel):
    """One solver's result on a set of tasks."""

    n: int = Field(ge=0, description="Tasks scored.")
    solve_rate: float = Field(ge=0, le=1, description="Mean credit (ties give 1/t).")
    ci_low: float = Field(ge=0, le=1, description="Lower bound of the 95% Wilson interval.")
    ci_high: float = Field(ge=0, le=1, description="Upper bound of the 95% Wilson interval.")
    chance: float = Field(ge=0, le=1, description="Mean of 1 / number of options over the same tasks.")
    above_chance: bool = Field(description="The interval lies entirely above chance: the solver finds the gold.")
    below_chance: bool = Field(
        False, description="The interval lies entirely below chance: the solver's pick can be ruled out instead."
    )


class AuditReport(BaseModel):
    """Solve rates of each solver, overall and per domain, and which solvers solve each task."""

    n_tasks: int = Field(ge=0)
    chance: float = Field(ge=0, le=1, description="Mean of 1 / number of options over the tasks.")
    solvers: list[str] = Field(description="Solvers that ran, in order.")
    unavailable: dict[str, str] = Field(default_factory=dict, description="Skipped solvers and why.")
    overall: dict[str, SolverStats] = Field(default_factory=dict)
    best: str | None = Field(None, description="Solver with the highest solve rate overall.")
    by_domain: dict[str, dict[str, SolverStats]] = Field(default_factory=dict)
    domain_chance: dict[str, float] = Field(default_factory=dict)
    best_by_domain: dict[str, str] = Field(default_factory=dict)
    solved_by: list[list[str]] = Field(
        default_factory=list, description="Per task, the solvers whose single best option is the gold."
    )

    def as_dict(self, per_task: bool = False) -> dict[str, Any]:
        """JSON-ready numbers; ``per_task`` adds ``solved_by`` (one list per task)."""
        data = self.model_dump(exclude=None if per_task else {"solved_by"})
        return data


def _gold_indices(table: pa.Table | pa.RecordBatch, option_counts: np.ndarray) -> np.ndarray:
    """The gold's option index per task from ``answer`` letters (or the ``gold`` text); -1 if unknown."""
    if "answer" in table.schema.names:
        gold = []
        for value in table.column("answer").to_pylist():
            letter = value.strip().upper() if isinstance(value, str) else ""
            gold.append(LETTERS.index(letter) if len(letter) == 1 and letter in LETTERS else -1)
    elif "gold" in table.schema.names:
        gold = [
            row.index(text) if row and text in row else -1
            for row, text in zip(table.column("options").to_pylist(), table.column("gold").to_pylist())
        ]
    else:
        raise ValueError("the audit needs an 'answer' (option letter) or 'gold' column to know which option is right")
    index = np.asarray(gold, dtype=np.int64)
    index[index >= option_counts] = -1
    return index


def _flat_scores(solver: ShortcutSolver, features: BatchFeatures) -> list[np.ndarray]:
    if isinstance(solver, FeatureSolver):
        return features.split(solver.score_features(features))
    return [np.asarray(row, dtype=np.float64) for row in solver.score_batch(features.masked_texts, features.options)]


class AuditAccumulator:
    """Scores tasks batch by batch and sums credits, so a file of any size is audited in bounded memory."""

    def __init__(self, solvers: Sequence[ShortcutSolver] | None = None, keep_solved_by: bool = True) -> None:
        chosen = list(default_solvers() if solvers is None else solvers)
        self.unavailable: dict[str, str] = {}
        self.solvers: list[ShortcutSolver] = []
        for solver in chosen:
            reason = solver.unavailable_reason() if hasattr(solver, "unavailable_reason") else None
            if reason:
                self.unavailable[solver.name] = reason
            else:
                self.solvers.append(solver)
        self.keep_solved_by = keep_solved_by
        self.solved_by: list[list[str]] = []
        self._credits: dict[str, list[np.ndarray]] = {solver.name: [] for solver in self.solvers}
        self._chance: list[np.ndarray] = []
        self._domains: list[str] = []

    def add(self, table: pa.Table | pa.RecordBatch) -> None:
        """Score the tasks of ``table`` (columns ``masked_text``, ``options``, ``answer``, optional ``domain``)."""
        missing = [name for name in ("masked_text", "options") if name not in table.schema.names]
        if missing:
            raise ValueError(f"the audit needs task columns {missing}; run it on assembled tasks (after AssembleTasks)")
        masked = ["" if text is None else text for text in table.column("masked_text").to_pylist()]
        options = [row or [] for row in table.column("options").to_pylist()]
        counts = np.array([len(row) for row in options], dtype=np.int64)
        gold = _gold_indices(table, counts)
        domains = (
            ["unknown" if value is None else str(value) for value in table.column("domain").to_pylist()]
            if "domain" in table.schema.names
            else ["unknown"] * len(masked)
        )
        valid = (gold >= 0) & (counts > 0)
        solved_rows: list[list[str]] = [[] for _ in masked]
        features = BatchFeatures(masked, options)
        for solver in self.solvers:
            credit, solved = tie_credits(_flat_scores(solver, features), gold)
            self._credits[solver.name].append(credit[valid])
            for row in np.flatnonzero(solved & valid):
                solved_rows[row].append(solver.name)
        self._chance.append(1.0 / counts[valid])
        self._domains.extend(domain for domain, ok in zip(domains, valid.tolist()) if ok)
        if self.keep_solved_by:
            self.solved_by.extend(solved_rows)

    def report(self) -> AuditReport:
        """The solve rates of everything added so far."""
        chance = np.concatenate(self._chance) if self._chance else np.zeros(0)
        credits = {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in self._credits.items()}
        domains = np.asarray(self._domains, dtype=object)
        overall = {name: _stats(values, chance) for name, values in credits.items()}
        by_domain: dict[str, dict[str, SolverStats]] = {}
        domain_chance: dict[str, float] = {}
        for domain in sorted(set(self._domains)):
            rows = domains == domain
            by_domain[domain] = {name: _stats(values[rows], chance[rows]) for name, values in credits.items()}
            domain_chance[domain] = float(chance[rows].mean())
        return AuditReport(
            n_tasks=int(chance.size),
            chance=float(chance.mean()) if chance.size else 0.0,
            solvers=[solver.name for solver in self.solvers],
            unavailable=self.unavailable,
            overall=overall,
            best=_best(overall),
            by_domain=by_domain,
            domain_chance=domain_chance,
            best_by_domain={domain: best for domain, stats in by_domain.items() if (best := _best(stats))},
            solved_by=self.solved_by,
        )


def _stats(credit: np.ndarray, chance: np.ndarray) -> SolverStats:
    n = int(credit.size)
    rate = float(credit.mean()) if n else 0.0
    low, high = wilson_interval(float(credit.sum()), n)
    base = float(chance.mean()) if n else 0.0
    return SolverStats(
        n=n, solve_rate=rate, ci_low=low, ci_high=high, chance=base,
        above_chance=n > 0 and low > base, below_chance=n > 0 and high < base,
    )


def _best(stats: dict[str, SolverStats]) -> str | None:
    """The solver with the highest solve rate; the first in solver order on a tie."""
    scored = [(value.solve_rate, name) for name, value in stats.items() if value.n]
    if not scored:
        return None
    top = max(rate for rate, _ in scored)
    return next(name for rate, name in scored if rate == top)


def resolve_solvers(names: Iterable[str] | None) -> list[ShortcutSolver]:
    """Solvers by name (``None``: the cheap defaults).

    >>> [solver.name for solver in resolve_solvers(["longest", "centroid"])]
    ['longest', 'centroid']
    """
    return list(default_solvers()) if names is None else [solver_by_name(name) for name in names]


def audit_tasks(
    tasks: pa.Table,
    solvers: Sequence[ShortcutSolver] | None = None,
    batch_rows: int = AUDIT_BATCH_ROWS,
) -> AuditReport:
    """Audit a tasks table (see :data:`goose.schema.TASK_SCHEMA`) with ``solvers`` (default:
    :func:`goose.audit.default_solvers`); scored ``batch_rows`` tasks at a time."""
    accumulator = AuditAccumulator(solvers)
    for start in range(0, tasks.num_rows, max(1, batch_rows)):
        accumulator.add(tasks.slice(start, batch_rows))
    return accumulator.report()


def audit_batches(
    read: Callable[[list[str]], Iterable[pa.RecordBatch]],
    names: Collection[str],
    solvers: Sequence[ShortcutSolver] | None = None,
) -> AuditReport | None:
    """Audit tasks given as record batches: ``read(columns)`` yields the tasks' ``columns``
    (the :data:`AUDIT_COLUMNS` among ``names``, the task columns there are), about
    :data:`AUDIT_BATCH_ROWS` rows a batch; ``solved_by`` is left empty (a run can hold
    millions of tasks). ``None`` when ``names`` lack ``masked_text`` or ``options``.

    >>> tasks = pa.table({"masked_text": ["Cells make ATP. [MASK]"], "options": [["Tax law.", "ATP powers cells."]],
    ...                   "answer": ["B"]})
    >>> audit_batches(lambda columns: tasks.select(columns).to_batches(), tasks.column_names,
    ...               [solver_by_name("tfidf_passage")]).overall["tfidf_passage"].solve_rate
    1.0
    >>> audit_batches(lambda columns: [], ["text"]) is None
    True
    """
    if not {"masked_text", "options"} <= set(names):
        return None
    accumulator = AuditAccumulator(solvers, keep_solved_by=False)
    for batch in read([name for name in AUDIT_COLUMNS if name in names]):
        if batch.num_rows:
            accumulator.add(batch)
    return accumulator.report()


def audit_parquet(
    path: str | Path,
    solvers: Sequence[ShortcutSolver] | None = None,
    batch_rows: int = AUDIT_BATCH_ROWS,
) -> AuditReport:
    """Audit a ``tasks.parquet`` file reading only the audit's columns, ``batch_rows`` at a time;
    ``solved_by`` is left empty (a file can hold millions of tasks)."""
    parquet = pq.ParquetFile(path)
    report = audit_batches(partial(_parquet_batches, parquet, batch_rows), parquet.schema_arrow.names, solvers)
    return report if report is not None else AuditAccumulator(solvers, keep_solved_by=False).report()


def summary_audit(read: Callable[[list[str]], Iterable[pa.RecordBatch]], names: Collection[str]) -> dict[str, Any] | None:
    """The ``audit`` entry of a run's ``summary.json``: :func:`audit_batches` with
    :func:`goose.audit.solvers.report_solvers` (the embedding solver is listed under
    ``unavailable`` when it cannot load), or ``None`` when ``names`` hold no assembled tasks
    (a pipeline that stops before AssembleTasks)."""
    if not {"answer", "gold"} & set(names):
        return None
    report = audit_batches(read, names, report_solvers())
    return report.as_dict() if report is not None else None


def audit_summary(path: str | Path) -> dict[str, Any] | None:
    """:func:`summary_audit` of a ``tasks.parquet`` file, read :data:`AUDIT_BATCH_ROWS` rows at a time."""
    parquet = pq.ParquetFile(path)
    return summary_audit(partial(_parquet_batches, parquet, AUDIT_BATCH_ROWS), parquet.schema_arrow.names)


def _parquet_batches(parquet: pq.ParquetFile, batch_rows: int, columns: list[str]) -> Iterator[pa.RecordBatch]:
    return parquet.iter_batches(batch_size=batch_rows, columns=columns)
