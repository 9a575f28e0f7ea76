"""Chain operators and run them over a source in bounded batches, accounting for every row.

>>> from goose.operators import PrepareText
>>> result = Pipeline([PrepareText()]).run([{"text": "Some text."}, {"text": "  "}])
>>> result.tasks.num_rows, result.rejects.column("reason").to_pylist()
(1, ['empty_text'])
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from goose.engines import Engine
from goose.engines.usage import EngineUsage
from goose.pipeline.operator import MAIN_ENGINE, BatchResult, Operator, RunContext
from goose.pipeline.progress import StepProgress
from goose.pipeline.sources import ReadDrop, Source, SourceBatch, count_rows, read_batches, without_read_marks
from goose.pipeline.stats import READ_STEP, OperatorStats, RunAccounting
from goose.schema import REJECT_SCHEMA


RECORD_TEXT_LIMIT = 500
"""Strings in a reject's ``record`` are cut to this many characters (the source keeps them whole)."""


class PipelineError(ValueError):
    """A pipeline that cannot run as configured (missing column, operator breaking its contract)."""


@dataclass
class BatchOutcome:
    """One batch through the whole pipeline: the kept rows, the rejects, the counters and the
    checkpoints of stateful steps after this batch (step name -> bytes)."""

    kept: pa.Table
    rejects: pa.Table
    stats: list[OperatorStats]
    checkpoints: dict[str, bytes] = field(default_factory=dict)


@dataclass
class PipelineResult(RunAccounting):
    """A finished run: ``tasks`` (kept rows), ``rejects`` (every dropped row with operator and
    reason) and ``stats`` (one entry per step, the reader first).

    >>> PipelineResult(pa.table({}), REJECT_SCHEMA.empty_table(), []).rows_in
    0
    """

    tasks: pa.Table
    rejects: pa.Table
    stats: list[OperatorStats] = field(default_factory=list)

    @property
    def task_rows(self) -> int:
        """Rows of ``tasks``."""
        return self.tasks.num_rows

    @property
    def reject_rows(self) -> int:
        """Rows of ``rejects``."""
        return self.rejects.num_rows

    def summary(self) -> str:
        """A short table of rows in/out and drops per step, then the LLM calls of the steps
        that made any, for terminals and logs."""
        return summary_text(self.stats, self.tasks.num_rows, self.rejects.num_rows)


def summary_text(stats: Sequence[OperatorStats], tasks: int, rejects: int) -> str:
    """The table of :meth:`PipelineResult.summary` from the step counters and the numbers of
    tasks and rejects (a run read back from disk gives them without loading any table).

    >>> print(summary_text([OperatorStats("read", 2, 2)], tasks=1, rejects=1).splitlines()[-1])
    rows in 2 = kept 1 + rejected 1
    """
    rows_in = stats[0].rows_in if stats else 0
    rows_added = sum(step.rows_added for step in stats)
    lines = [f"{'step':<22}{'in':>8}{'out':>8}{'dropped':>9}{'sec':>8}  top drop reasons"]
    for step in stats:
        reasons = ", ".join(f"{reason} {count}" for reason, count in step.drops.most_common(3))
        added = f"  (+{step.rows_added} rows added)" if step.rows_added else ""
        lines.append(f"{step.name:<22}{step.rows_in:>8}{step.rows_out:>8}{step.dropped:>9}"
                     f"{step.seconds:>8.2f}  {reasons}{added}")
    llm_steps = [step for step in stats if step.engine is not None]
    if llm_steps:
        lines.append(f"{'LLM calls':<22}{'sent':>8}{'cached':>8}{'prompt tok':>12}{'compl tok':>11}"
                     f"{'retries':>9}  failures")
        for step in llm_steps:
            usage = step.engine
            assert usage is not None
            failures = ", ".join(f"{kind} {count}" for kind, count in usage.failures.most_common()) or "-"
            lines.append(f"{step.name:<22}{usage.requests:>8}{usage.cache_hits:>8}{usage.prompt_tokens:>12}"
                         f"{usage.completion_tokens:>11}{usage.retries:>9}  {failures}")
    added = f" + added {rows_added}" if rows_added else ""
    lines.append(
        f"rows in {rows_in}{added} = kept {tasks} + rejected {rejects}"
        + ("" if rows_in + rows_added == tasks + rejects else "  (MISMATCH: please report this as a goose bug)")
    )
    return "\n".join(lines)


class Pipeline:
    """An ordered chain of operators, run batch by batch.

    ``seed`` makes runs reproducible: the same input, operators and seed give the same output.
    ``batch_size`` bounds memory and is the unit handed to each operator (and to LLM engines).
    ``engine`` answers the LLM requests of operators that make any (``uses_engine``);
    ``engines`` adds engines for other roles, e.g. ``{"probe": small}`` for
    ``ProbeDifficulty(engine_role="probe")``. The pipeline does not own them: close them
    when done (``with engine: ...``). Requests, cache hits and tokens are counted per step.

    Steps are named after their operator; a name that occurs twice gets its position
    (``MinHashDedup``, ``MinHashDedup#2``) so stats and rejects tell the steps apart.

    >>> Pipeline([], batch_size=0)
    Traceback (most recent call last):
    ValueError: batch_size must be at least 1, got 0
    """

    def __init__(
        self,
        operators: Sequence[Operator],
        *,
        seed: int = 0,
        batch_size: int = 64,
        engine: Engine | None = None,
        engines: Mapping[str, Engine] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        for operator in operators:
            if not isinstance(operator, Operator):
                raise TypeError(f"{operator!r} is not a goose Operator; build steps from goose.operators")
        self.operators = list(operators)
        stateful = [op for op in self.operators if op.stateful]
        if len({id(op) for op in stateful}) != len(stateful):
            raise ValueError(
                "the same stateful operator object (e.g. one MinHashDedup) is used twice; its run-wide memory "
                "would be shared by both steps: build a new one for each step"
            )
        self.seed = seed
        self.batch_size = batch_size
        self.engine = engine
        self.engines = dict(engines or {})
        if MAIN_ENGINE in self.engines:
            raise ValueError(f"pass the main engine as engine=..., not engines={{{MAIN_ENGINE!r}: ...}}")
        self.step_names = step_names(self.operators)
        self.context = RunContext(
            seed=seed, operators=tuple(op.label for op in self.operators), engine=engine, engines=self.engines
        )

    def all_engines(self) -> dict[str, Engine]:
        """Every engine of the run by role (``"main"`` first), each listed once."""
        found = {MAIN_ENGINE: self.engine} if self.engine is not None else {}
        found.update(self.engines)
        return found

    def __repr__(self) -> str:
        steps = ", ".join(repr(op) for op in self.operators)
        return f"Pipeline([{steps}], seed={self.seed}, batch_size={self.batch_size})"

    def check(self, input_columns: Sequence[str], *, engines_elsewhere: Collection[str] = ()) -> None:
        """Raise :class:`PipelineError` if an operator needs a column nothing provides.

        >>> from goose.operators import HeuristicMaskSpan
        >>> Pipeline([HeuristicMaskSpan()]).check(["body"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        goose.pipeline.pipeline.PipelineError: HeuristicMaskSpan needs column(s) ...
        """
        available = set(input_columns)
        engines = {**dict.fromkeys(engines_elsewhere), **self.all_engines()}  # elsewhere: e.g. built by Ray workers
        for position, operator in enumerate(self.operators):
            for role in operator.engine_roles():
                if role not in engines and role == MAIN_ENGINE:
                    raise PipelineError(
                        f"{operator.name} makes LLM calls but the pipeline has no engine; pass one, e.g. "
                        "Pipeline(steps, engine=EngineConfig(backend='local').build()), or 'engine:' in a YAML run"
                    )
                if role not in engines:
                    raise PipelineError(
                        f"{operator.name} calls the {role!r} engine but the pipeline has none; pass "
                        f"Pipeline(steps, engine=..., engines={{{role!r}: ...}}), or 'engines: {{{role}: ...}}' in YAML"
                    )
            missing = [name for name in operator.required_columns() if name not in available]
            later = [step.name for step in self.operators[position + 1:] if set(missing) & set(step.produced_columns())]
            if later:
                raise PipelineError(
                    f"{operator.name} needs column(s) {missing}, which a later step ({', '.join(dict.fromkeys(later))}) "
                    f"makes: the steps are in the wrong order; move {later[0]} before {operator.name}"
                )
            if missing:
                raise PipelineError(
                    f"{operator.name} needs column(s) {missing}, which neither the input "
                    f"(columns {sorted(input_columns)}) nor an earlier step provides; put the "
                    "step that makes them (e.g. PrepareText for 'text') before it, or rename your input columns"
                )
            produced = operator.produced_columns()
            if ("text" in produced and "solution_start" in available and "solution_start" not in produced
                    and not operator.keeps_solution_start):
                raise PipelineError(
                    f"{operator.name} rewrites 'text' after 'solution_start' (the offset where the solution "
                    "begins) was set, so that offset would point elsewhere; put the cleaning steps before the "
                    "adapter that sets it (e.g. FromQAPairs), or drop the column"
                )
            available.update(produced)

    def process_batch(self, table: pa.Table, read_drops: Sequence[ReadDrop] = ()) -> BatchOutcome:
        """Run one batch through every operator: a function of the batch, the config and the
        memory of stateful steps (what they saw in earlier batches of the run)."""
        read_stats = OperatorStats(READ_STEP, rows_in=table.num_rows + len(read_drops), rows_out=table.num_rows)
        read_stats.drops.update(drop.reason for drop in read_drops)
        stats = [read_stats]
        rejects = [read_rejects(read_drops)]
        engines = list({id(engine): engine for engine in self.all_engines().values()}.values())
        for operator, name in zip(self.operators, self.step_names):
            if table.num_rows == 0:  # e.g. a stretch of unreadable lines: no columns for the steps to read
                stats.append(OperatorStats(name))
                continue
            usage_before = [engine.usage().copy() for engine in engines] if operator.uses_engine else []
            started = time.perf_counter()
            result = operator.process(table, self.context)
            seconds = time.perf_counter() - started
            _check_contract(operator, table, result)
            step = OperatorStats(name, table.num_rows, result.kept.num_rows, seconds=seconds,
                                 rows_added=result.rows_added)
            if usage_before:
                used = EngineUsage()
                for engine, before in zip(engines, usage_before):
                    used.merge(engine.usage().since(before))
                step.engine = used if used.calls or used.failures else None
            step.drops.update(drop.reason for drop in result.drops)
            stats.append(step)
            rejects.append(_operator_rejects(name, table, result))
            table = without_read_marks(result.kept)  # the reader's row numbers are stale once rows go
        return BatchOutcome(table, pa.concat_tables(rejects), stats)

    def read_checked(self, source: Source, *, engines_elsewhere: Collection[str] = ()) -> Iterator[SourceBatch]:
        """:func:`~goose.pipeline.read_batches` of ``source`` in this pipeline's batch size,
        with :meth:`check` run on the columns of the first batch that has rows.

        >>> from goose.operators import HeuristicMaskSpan
        >>> next(Pipeline([HeuristicMaskSpan()]).read_checked([{"body": "x"}]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        goose.pipeline.pipeline.PipelineError: HeuristicMaskSpan needs column(s) ...
        """
        checked = False
        for batch in read_batches(source, self.batch_size):
            if not checked and batch.table.num_rows:
                self.check(batch.table.column_names, engines_elsewhere=engines_elsewhere)
                checked = True
            yield batch

    def stream(self, source: Source, *, progress: bool = False) -> Iterator[BatchOutcome]:
        """Yield one :class:`BatchOutcome` per input batch (bounded memory for big inputs)."""
        for operator in self.operators:
            operator.start_run()
        with StepProgress(self.step_names, total=count_rows(source), enabled=progress) as bars:
            for batch in self.read_checked(source):
                outcome = self.process_batch(batch.table, batch.drops)
                bars.update(outcome.stats)
                yield outcome

    def run(self, source: Source, *, progress: bool = False) -> PipelineResult:
        """Run over the whole source and collect tasks, rejects and per-step stats."""
        kept: list[pa.Table] = []
        rejects: list[pa.Table] = [REJECT_SCHEMA.empty_table()]
        totals: list[OperatorStats] = [OperatorStats(READ_STEP)] + [OperatorStats(name) for name in self.step_names]
        for outcome in self.stream(source, progress=progress):
            kept.append(outcome.kept)
            rejects.append(outcome.rejects)
            for total, step in zip(totals, outcome.stats):
                total.merge(step)
        tasks = pa.concat_tables(kept, promote_options="permissive") if kept else pa.table({})
        return PipelineResult(tasks, pa.concat_tables(rejects), totals)


def step_names(operators: Sequence[Operator]) -> list[str]:
    """Each step's name in stats and rejects: the operator's name, with ``#k`` for its k-th use.

    >>> from goose.operators import MinHashDedup, PrepareText
    >>> step_names([PrepareText(), MinHashDedup(), MinHashDedup(fields=["masked_text", "gold"])])
    ['PrepareText', 'MinHashDedup', 'MinHashDedup#2']
    """
    seen: dict[str, int] = {}
    names = []
    for operator in operators:
        seen[operator.name] = seen.get(operator.name, 0) + 1
        names.append(operator.name if seen[operator.name] == 1 else f"{operator.name}#{seen[operator.name]}")
    return names


def _check_contract(operator: Operator, batch: pa.Table, result: BatchResult) -> None:
    """Every input row kept or dropped exactly once; for an expanding operator, every input row
    dropped or the parent of at least one kept row (never both), parents in input order."""
    indices = [drop.index for drop in result.drops]
    if len(set(indices)) != len(indices) or any(not 0 <= i < batch.num_rows for i in indices):
        raise PipelineError(f"{operator.name} returned drop indices that are repeated or outside the batch")
    if result.parents is not None:
        if not operator.expands:
            raise PipelineError(f"{operator.name} returned parents (rows made from one input row) but does not "
                                "declare expands = True; declare it, or return one kept row per input row")
        _check_parents(operator, batch, result, set(indices))
        return
    if result.kept.num_rows + len(indices) != batch.num_rows:
        raise PipelineError(
            f"{operator.name} got {batch.num_rows} rows but kept {result.kept.num_rows} and dropped "
            f"{len(indices)}; an operator must keep or drop every row exactly once"
        )


def _check_parents(operator: Operator, batch: pa.Table, result: BatchResult, dropped: set[int]) -> None:
    parents = result.parents or []
    if len(parents) != result.kept.num_rows:
        raise PipelineError(f"{operator.name} kept {result.kept.num_rows} rows but named {len(parents)} parents; "
                            "an expanding operator names the input row of every kept row")
    if any(not 0 <= p < batch.num_rows for p in parents) or any(a > b for a, b in zip(parents, parents[1:])):
        raise PipelineError(f"{operator.name} named parents outside the batch or out of input order")
    both = dropped & set(parents)
    lost = set(range(batch.num_rows)) - dropped - set(parents)
    if both or lost:
        raise PipelineError(
            f"{operator.name} got {batch.num_rows} rows; rows {sorted(both)[:5]} were both kept and dropped, rows "
            f"{sorted(lost)[:5]} neither; an expanding operator must drop every row or keep it at least once"
        )


def read_rejects(drops: Sequence[ReadDrop]) -> pa.Table:
    """The reject rows of input rows the reader could not parse (operator ``read``).

    >>> read_rejects([ReadDrop("in.jsonl:3", "invalid_json", "Expecting value")]).column("operator").to_pylist()
    ['read']
    """
    return pa.Table.from_pylist(
        [
            {"source_id": d.source_id, "operator": READ_STEP, "reason": d.reason, "detail": d.detail, "record": d.record}
            for d in drops
        ],
        schema=REJECT_SCHEMA,
    )


def _operator_rejects(name: str, batch: pa.Table, result: BatchResult) -> pa.Table:
    if not result.drops:
        return REJECT_SCHEMA.empty_table()
    dropped = batch.take(pa.array([drop.index for drop in result.drops], type=pa.int64())).to_pylist()
    rows = [
        {
            "source_id": _source_id(row, drop.index),
            "operator": name,
            "reason": drop.reason,
            "detail": drop.detail,
            "record": json.dumps({k: _shorten(v) for k, v in row.items()}, ensure_ascii=False, default=str),
        }
        for drop, row in zip(result.drops, dropped)
    ]
    return pa.Table.from_pylist(rows, schema=REJECT_SCHEMA)


def _source_id(row: dict, index: int) -> str:
    for key in ("source_id", "id"):
        if row.get(key) is not None:
            return str(row[key])
    return f"batch-row:{index}"


def _shorten(value: object) -> object:
    if isinstance(value, str) and len(value) > RECORD_TEXT_LIMIT:
        return value[:RECORD_TEXT_LIMIT] + f"...[+{len(value) - RECORD_TEXT_LIMIT} chars]"
    if isinstance(value, (bytes, bytearray)):
        return _shorten(bytes(value).decode("utf-8", "replace"))
    return value
