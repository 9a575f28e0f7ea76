"""What runs on the Ray workers for :class:`~goose.executors.RayExecutor`: the state that
travels with each batch from stage to stage (:class:`BatchState`, one pickled row of a Ray
dataset), the actor that runs a stage's steps on it (:class:`StageActor`), and the one-actor
stage that numbers the batches the workers read (:class:`Numbering`). Internal to the executor.

>>> import pyarrow as pa
>>> from goose.pipeline import SourceBatch
>>> state = start_state(7, SourceBatch(pa.table({"text": ["a", "b"]}), []))
>>> state.index, state.stats[0].rows_out, to_row(state).column_names
(7, 2, ['index', 'payload'])
"""

from __future__ import annotations

import pickle
import traceback
from dataclasses import dataclass, field, replace

import pyarrow as pa
from pydantic import ValidationError

from goose.engines import Engine, EngineConfig
from goose.executors.ray_config import EngineFactory, RayExecutorError
from goose.pipeline import Pipeline, SourceBatch
from goose.pipeline.operator import MAIN_ENGINE, Operator, RunContext
from goose.pipeline.pipeline import READ_STEP, read_rejects
from goose.pipeline.stats import OperatorStats

# -- what travels with each batch -------------------------------------------------------------


@dataclass
class RemoteError:
    """An exception raised on a worker, kept with its batch until the driver reaches it."""

    step: str
    index: int
    exception: bytes | None
    kind: str
    message: str
    trace: str
    engine_role: str | None = None

    @classmethod
    def capture(cls, step: str, index: int, error: BaseException, engine_role: str | None = None) -> RemoteError:
        blob: bytes | None
        try:
            blob = pickle.dumps(error)
            pickle.loads(blob)  # an exception class the driver cannot rebuild is described in text
        except Exception:  # noqa: BLE001 - an exception that does not pickle is described in text instead
            blob = None
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        return cls(step, index, blob, type(error).__name__, str(error), trace, engine_role)

    def reraise(self) -> None:
        original: BaseException | None = None if self.exception is None else pickle.loads(self.exception)
        if self.engine_role is not None:
            raise RayExecutorError(
                f"building the {self.engine_role!r} engine for {self.step} on a Ray worker failed: {self.kind}: "
                f"{self.message}; check RayExecutor(engine_factories={{{self.engine_role!r}: ...}})\n"
                f"worker traceback:\n{self.trace}"
            ) from original
        if original is None:
            raise RayExecutorError(f"{self.step} failed on batch {self.index}: {self.kind}: {self.message}\n"
                                   f"worker traceback:\n{self.trace}")
        original.add_note(f"raised by step {self.step} on batch {self.index} in a Ray worker; its traceback:\n{self.trace}")
        raise original


@dataclass
class BatchState:
    """One batch on its way through the stages: what ``Pipeline.process_batch`` keeps in locals."""

    index: int
    table: pa.Table
    rejects: list[pa.Table]
    stats: list[OperatorStats]
    checkpoints: dict[str, bytes] = field(default_factory=dict)
    final_states: dict[str, bytes] = field(default_factory=dict)
    error: RemoteError | None = None
    position: int = 0  # its place among this call's batches: 0, 1, 2, ...
    end: bool = False  # not a batch: the mark after the call's last one (position: how many there were);
    # stateful steps send their state back with it


def start_state(index: int, batch: SourceBatch, position: int = 0) -> BatchState:
    read = OperatorStats(READ_STEP, rows_in=batch.table.num_rows + len(batch.drops), rows_out=batch.table.num_rows)
    read.drops.update(drop.reason for drop in batch.drops)
    return BatchState(index, batch.table, [read_rejects(batch.drops)], [read], position=position)


def encode_read(item: SourceBatch | BaseException | None) -> pa.Table:
    """The block a worker's read task makes of a batch, a reader's error or the end of the
    input; the numbering stage gives each its index and position."""
    if item is None:
        return to_row(BatchState(-1, pa.table({}), [], [], end=True))
    if isinstance(item, BaseException):
        return to_row(BatchState(-1, pa.table({}), [], [], error=RemoteError.capture(READ_STEP, -1, item)))
    return to_row(start_state(-1, item))


def to_row(state: BatchState) -> pa.Table:
    payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    return pa.table({"index": pa.array([state.index], pa.int64()), "payload": pa.array([payload], pa.large_binary())})


# -- the stage actor --------------------------------------------------------------------------


@dataclass
class StageSpec:
    """Everything a stage actor needs, sent once to each actor."""

    steps: list[tuple[str, Operator]]
    seed: int
    labels: tuple[str, ...]
    factories: dict[str, EngineFactory]
    stateful: bool  # its one actor checks that the batches come in input order


class StageActor:
    """Runs one stage's steps over each batch row; built once per actor (engines included)."""

    def __init__(self, spec: StageSpec) -> None:
        # Own copies of the steps: Ray hands actor arguments over zero-copy from its object
        # store, so NumPy arrays in a stateful step's state arrive read-only; protocol 4
        # (not 5, which keeps a read-only buffer read-only) makes them writable copies.
        self.spec = spec = replace(spec, steps=pickle.loads(pickle.dumps(spec.steps, protocol=4)))
        self.engines: dict[str, Engine] = {}
        self.build_error: tuple[str, BaseException] | None = None
        for role, factory in spec.factories.items():
            try:
                engine = factory.build() if isinstance(factory, EngineConfig) else factory()
                if not isinstance(engine, Engine):
                    raise TypeError(f"the factory returned a {type(engine).__name__}, not a goose Engine")
            except Exception as error:  # noqa: BLE001 - reported with the first batch, in the driver
                self.build_error = (role, error)
                break
            self.engines[role] = engine
        self.context = RunContext(
            seed=spec.seed,
            operators=spec.labels,
            engine=self.engines.get(MAIN_ENGINE),
            engines={role: engine for role, engine in self.engines.items() if role != MAIN_ENGINE},
        )
        # One single-step pipeline per step, sharing the run's context (seed, operator labels
        # for task lineage, this actor's engines).
        self.single_steps = []
        for _, operator in spec.steps:
            single = Pipeline([operator], seed=spec.seed, engine=self.context.engine, engines=self.context.engines)
            single.context = self.context
            self.single_steps.append(single)
        self.position = 0

    def __call__(self, batch: pa.Table) -> pa.Table:
        out = []
        for payload in batch.column("payload").to_pylist():
            state: BatchState = pickle.loads(payload)
            self._advance(state)
            out.append(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
        return pa.table({"index": batch.column("index"), "payload": pa.array(out, pa.large_binary())})

    def _advance(self, state: BatchState) -> None:
        first = self.spec.steps[0][0]
        if state.end:
            if self.spec.stateful:
                for name, operator in self.spec.steps:
                    # protocol 4: the driver gets writable arrays
                    state.final_states[name] = pickle.dumps(dict(operator.__pydantic_private__ or {}), protocol=4)
            return
        if self.spec.stateful:
            expected = self.position
            self.position += 1
            if state.position != expected and state.error is None:
                state.error = RemoteError.capture(first, state.index, RayExecutorError(
                    f"stateful step {first} got batch {state.index} (number {state.position} of the run) where "
                    f"number {expected} was due; its actor may have restarted and lost its state. Run again (a "
                    "resumable run continues from its checkpoints)"
                ), None)
        if state.error is not None:
            return
        if self.build_error is not None:
            role, error = self.build_error
            state.error = RemoteError.capture(first, state.index, error, engine_role=role)
            return
        for (name, operator), single in zip(self.spec.steps, self.single_steps):
            try:
                self._run_step(state, name, single)
            except Exception as error:  # noqa: BLE001 - raised in the driver when this batch's turn comes
                state.error = RemoteError.capture(name, state.index, error)
                return
            if operator.stateful:
                checkpoint = operator.checkpoint()
                if checkpoint is not None:
                    state.checkpoints[name] = checkpoint

    def _run_step(self, state: BatchState, name: str, single: Pipeline) -> None:
        # Pipeline.process_batch itself runs the step, so counters, rejects and contract
        # checks are the local executor's by construction; only the step's name is the run's.
        outcome = single.process_batch(state.table)
        step = outcome.stats[-1]
        step.name = name
        rejects = outcome.rejects
        if rejects.num_rows and single.step_names[0] != name:
            position = rejects.schema.get_field_index("operator")
            rejects = rejects.set_column(position, "operator", pa.array([name] * rejects.num_rows, pa.string()))
        state.stats.append(step)
        state.rejects.append(rejects)
        state.table = outcome.kept

    def __del__(self) -> None:
        for engine in self.engines.values():
            try:
                engine.close()
            except Exception:  # noqa: BLE001, S110 - the actor is going away; nothing left to tell
                pass


class Numbering:
    """The one-actor stage after the workers' reads: it sees the batches in input order and
    gives each its index (as :func:`~goose.pipeline.read_batches` would number it) and its
    position among the batches run; it drops the batches in ``skip`` and checks the pipeline
    against the first batch with columns."""

    def __init__(self, skip: frozenset[int], check: ColumnCheck) -> None:
        self.skip = skip
        self.check: ColumnCheck | None = check
        self.index = 0
        self.position = 0
        self.check_error: RemoteError | None = None

    def __call__(self, batch: pa.Table) -> pa.Table:
        indices, out = [], []
        for payload in batch.column("payload").to_pylist():
            state: BatchState = pickle.loads(payload)
            state.index, state.position = self.index, self.position
            if state.error is not None:
                state.error.index = self.index  # a reader's error: its place is the next batch's
            elif not state.end:
                self.index += 1
                if state.index in self.skip:
                    continue
                self.position += 1
                self._check(state)
            indices.append(state.index)
            out.append(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
        return pa.table({"index": pa.array(indices, pa.int64()), "payload": pa.array(out, pa.large_binary())})

    def _check(self, state: BatchState) -> None:
        if self.check is not None and state.table.num_rows:
            check, self.check = self.check, None
            try:
                check(state.table.column_names)
            except Exception as error:  # noqa: BLE001 - raised in the driver at this batch's turn
                self.check_error = RemoteError.capture("check", state.index, error)
        if self.check_error is not None:
            state.error = self.check_error  # no step runs on a pipeline that cannot work


@dataclass
class ColumnCheck:
    """:meth:`Pipeline.check` of the run's steps (fresh copies: no state) on a worker."""

    steps: list[Operator]
    roles: tuple[str, ...]

    def __call__(self, columns: list[str]) -> None:
        Pipeline(self.steps).check(columns, engines_elsewhere=self.roles)


def fresh_copy(operator: Operator) -> Operator:
    """A copy built from the operator's parameters only (the operator itself if they do not rebuild it)."""
    try:
        return type(operator).model_validate(operator.model_dump())
    except ValidationError:
        return operator
