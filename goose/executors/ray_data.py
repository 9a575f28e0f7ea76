"""Run a :class:`goose.Pipeline` on Ray Data: the same steps, batches and seed as the local
executor, so the same tasks, rejects and counters, spread over a Ray cluster.

How a run is laid out (:meth:`RayExecutor.plan` shows it without starting Ray; the
resources are set in :mod:`goose.executors.ray_config`, and what runs on the workers is in
:mod:`goose.executors.ray_actors`):

* Each input batch becomes one row of a Ray dataset, carrying the batch's kept rows, its
  rejects and per-step counters so far. Every step therefore sees exactly the batch the
  local executor would give it (``CorpusDistractors`` draws from the run so far), and nothing a
  step reports is lost between stages.
* Consecutive CPU steps are fused into one ``map_batches`` stage run by an autoscaling pool
  of actors. Actors rather than stateless tasks, because goose steps set themselves up on
  first use (``QualityFilter`` loads its language identifier, ``HeuristicMaskSpan`` a spaCy
  sentencizer, ``Decontaminate`` its benchmark index): a task would pay that for every
  batch, an actor once.
* Each LLM step (``uses_engine``) is its own stage: a pool of actors that each build their
  engine(s) once, from the factories given to :class:`RayExecutor`, with the GPUs and pool
  size of :class:`StageResources`. Engines hold models, sockets and SQLite connections, so
  they are built on the worker, never sent there.
* Each stateful step (``stateful``, e.g. ``MinHashDedup``, ``AssembleTasks``) runs in one
  actor given one batch at a time, so it sees them in input order (Ray Data's
  ``preserve_order`` keeps each stage's output in order; an actor with several batches
  queued may run them in any order). The actor checks the order on every batch, which
  also catches an actor restarted without its state, and returns its checkpoint with each
  batch, as the local executor does.
* A step that raises does not stop the other batches' work on the worker: the error travels
  with its batch, and the driver raises it (the original exception, with the worker's
  traceback in a note) when that batch's turn comes, after yielding every earlier batch.

vLLM: give the LLM stage ``num_gpus`` and an ``EngineConfig(backend="vllm", ...)`` factory;
each actor then holds one vLLM engine, which is what ``ray.data.llm``'s vLLM processor does
internally. The processor itself does not fit goose's step contract: it maps a dataset of
prompt rows to a dataset of answer rows, while a goose LLM step builds its requests, calls
``Engine.generate`` and parses the answers inside one ``process`` call (with the engine's
cache, retries and per-step accounting). Using it would need each LLM step split into
``prompt`` and ``parse`` stages; that is future work. A model served by Ray Serve LLM
(OpenAI-compatible) is used today with ``EngineConfig(backend="openai", base_url=...)``.

Input files are read on the workers (:meth:`RayExecutor.run_files`, what the runner uses
for paths, globs, folders and URLs): one Ray Data read task per file runs goose's own reader
there (:mod:`goose.executors.ray_files`), so the driver sends the file list and nothing
else; a one-actor stage numbers the batches in input order, drops those an earlier run
finished, and checks the pipeline on the first batch's columns. Other inputs (in-memory
tables and lists, a ``datasets`` dataset, ``--limit N``) are read in the driver
(:meth:`RayExecutor.run_batches`), a few batches ahead of the first stage
(``RayExecutorConfig.read_ahead``), and handed over through a bounded queue
(:mod:`goose.executors.ray_feed`). Either way neither the driver nor the object store holds
the whole input; outcomes stream back in input order as they finish, and each stateful
step sends its state back with the end-of-input mark that follows the last batch.
Every call starts its own actors (engines included).

>>> import goose
>>> [stage.describe() for stage in RayExecutor().plan(goose.offline_pipeline())]  # doctest: +NORMALIZE_WHITESPACE
['cpu[PrepareText, HtmlToText, QualityFilter, SplitPassages] actors 1..auto, 0.4 CPU each',
 'stateful[MinHashDedup] actors 1, 0.1 CPU each',
 'cpu[HeuristicMaskSpan] actors 1..auto, 0.4 CPU each',
 'stateful[CorpusDistractors] actors 1, 0.1 CPU each',
 'cpu[FilterDistractors, SelectDistractors] actors 1..auto, 0.4 CPU each',
 'stateful[AssembleTasks] actors 1, 0.1 CPU each',
 'cpu[ShortcutFilter, FirstSpanPerPassage] actors 1..auto, 0.4 CPU each']
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from goose.engines import EngineConfig, redact_options
from goose.executors.ray_actors import (
    BatchState,
    ColumnCheck,
    Numbering,
    StageActor,
    StageSpec,
    encode_read,
    fresh_copy,
    start_state,
    to_row,
)
from goose.executors.ray_config import (
    EngineFactory,
    RayExecutorConfig,
    RayExecutorError,
    StageResources,
    single_actor_resources,
)
from goose.pipeline import BatchOutcome, Pipeline, SourceBatch
from goose.pipeline.operator import Operator
from goose.pipeline.sources import FileReads

__all__ = ["EngineFactory", "RayExecutor", "RayExecutorConfig", "RayExecutorError", "RayStage", "StageResources"]


@dataclass(frozen=True)
class RayStage:
    """One ``map_batches`` stage: the pipeline steps it runs (by position and name), its
    kind (``cpu``, ``llm`` or ``stateful``), the engine roles its actors build, and its resources."""

    kind: Literal["cpu", "llm", "stateful"]
    positions: tuple[int, ...]
    names: tuple[str, ...]
    roles: tuple[str, ...]
    resources: StageResources

    def describe(self) -> str:
        """One line for logs, e.g. ``llm[MaskReasoningSpan] actors 2, 1 CPU each, 1 GPU each``."""
        pool = self.resources
        if pool.fixed:
            size = str(pool.actors)
        else:
            size = f"{pool.actors}..{pool.max_actors if pool.max_actors is not None else 'auto'}"
        text = f"{self.kind}[{', '.join(self.names)}] actors {size}, {pool.num_cpus:g} CPU each"
        if pool.num_gpus:
            text += f", {pool.num_gpus:g} GPU each"
        return text


class RayExecutor:
    """Runs a pipeline's batches on Ray Data; same output as :class:`~goose.executors.LocalExecutor`.

    ``engine_factories`` maps each engine role the pipeline's LLM steps call (``"main"``,
    ``"probe"``, ...) to an :class:`EngineConfig` or a picklable function building the
    :class:`Engine`: every actor of an LLM stage builds its own. The pipeline's own engine
    objects stay in the driver, unused. Call ``ray.init(...)`` first to choose the cluster;
    otherwise a local Ray instance is started. See the module docstring for the layout.

    Stateful steps run in Ray actors, and the driver's operator objects get their state back
    once the last batch is yielded, so a later call continues the run as with the local executor.

    >>> from goose.engines import EngineConfig
    >>> executor = RayExecutor(engine_factories={"main": EngineConfig(backend="vllm", model="Qwen/Qwen2.5-7B-Instruct")},
    ...                        config=RayExecutorConfig(llm=StageResources(actors=2, max_actors=2, num_gpus=1)))
    >>> sorted(executor.engine_factories)
    ['main']
    """

    def __init__(
        self,
        config: RayExecutorConfig | None = None,
        *,
        engine_factories: Mapping[str, EngineFactory] | None = None,
    ) -> None:
        self.config = config or RayExecutorConfig()
        self.engine_factories = dict(engine_factories or {})
        for role, factory in self.engine_factories.items():
            if not isinstance(factory, EngineConfig) and not callable(factory):
                raise TypeError(
                    f"engine factory for role {role!r} is a {type(factory).__name__}; pass an EngineConfig "
                    "or a function of no arguments that returns a goose Engine"
                )

    def plan(self, pipeline: Pipeline) -> list[RayStage]:
        """The stages a run of ``pipeline`` uses, in order; raises if ``config.steps`` names no step.

        >>> from goose.operators import PrepareText, QualityFilter
        >>> from goose import Pipeline
        >>> config = RayExecutorConfig(steps={"QualityFilter": StageResources(actors=2, max_actors=2)})
        >>> [s.describe() for s in RayExecutor(config).plan(Pipeline([PrepareText(), QualityFilter()]))]
        ['cpu[PrepareText] actors 1..auto, 0.4 CPU each', 'cpu[QualityFilter] actors 2, 1 CPU each']
        """
        unknown = sorted(set(self.config.steps) - set(pipeline.step_names))
        if unknown:
            raise RayExecutorError(
                f"RayExecutorConfig.steps names {unknown}, which are not steps of this pipeline; "
                f"use step names as in the run's stats: {pipeline.step_names}"
            )
        stages: list[RayStage] = []
        fusing: list[int] = []

        def close_fused() -> None:
            if fusing:
                names = tuple(pipeline.step_names[i] for i in fusing)
                stages.append(RayStage("cpu", tuple(fusing), names, (), self.config.cpu))
                fusing.clear()

        for position, (operator, name) in enumerate(zip(pipeline.operators, pipeline.step_names)):
            own = self.config.steps.get(name)
            roles = tuple(operator.engine_roles()) if operator.uses_engine else ()
            if operator.stateful:
                try:
                    resources = single_actor_resources(own or self.config.stateful, f"stateful steps such as {name}")
                except ValueError as error:
                    raise RayExecutorError(str(error)) from None
                kind: Literal["cpu", "llm", "stateful"] = "stateful"
            elif operator.uses_engine:
                resources, kind = own or self.config.llm, "llm"
            elif own is not None:
                resources, kind = own, "cpu"
            else:
                fusing.append(position)
                continue
            close_fused()
            stages.append(RayStage(kind, (position,), (name,), roles, resources))
        close_fused()
        return stages

    def engine_identities(self) -> dict[str, dict]:
        """The roles the actors build, with what identifies their answers (for the run's
        fingerprint): an ``EngineConfig``'s back end, model and settings (not its cache or
        retry policy), or a factory function's qualified name.

        >>> from goose.engines import EngineConfig
        >>> RayExecutor(engine_factories={"main": EngineConfig(backend="local")}).engine_identities()["main"]["backend"]
        'local'
        """
        identities: dict[str, dict] = {}
        for role, factory in self.engine_factories.items():
            if isinstance(factory, EngineConfig):
                identities[role] = {
                    "backend": factory.backend,
                    "model": factory.model,
                    # written into the run's manifest: secrets among the options become "***"
                    "settings": redact_options(factory.model_dump(mode="json", exclude={"cache", "retry", "api_key_env"})),
                }
            else:
                identities[role] = {"factory": f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', repr(factory))}"}
        return identities

    def run_batches(
        self, pipeline: Pipeline, batches: Iterable[tuple[int, SourceBatch]]
    ) -> Iterator[tuple[int, BatchOutcome]]:
        """Yield ``(index, outcome)`` for every given batch, in the order given.

        ``batches`` are read in the driver, as the stages need them: at most
        ``config.read_ahead`` batches wait in the object store for the first stage, never
        the whole input. Input files are better given to :meth:`run_files`."""
        ray = _import_ray()
        stages = self.plan(pipeline)
        factories = self._factories_for(pipeline, stages)
        source = iter(batches)
        first = next(source, None)
        if first is None:
            return
        _check_cluster_fits(ray, stages)
        from goose.executors.ray_feed import Feed

        seen: set[int] = set()

        def encode(item: tuple[int, SourceBatch] | None) -> pa.Table:
            if item is None:
                return to_row(BatchState(-1, pa.table({}), [], [], position=len(seen), end=True))
            index, batch = item
            if index in seen:
                raise RayExecutorError(f"batch index {index} repeats; give each input batch its own index (enumerate the batches)")
            seen.add(index)
            return to_row(start_state(index, batch, position=len(seen) - 1))

        feed = Feed(chain([first], source, [None]), encode, self.config.read_ahead)
        try:
            dataset = ray.data.read_datasource(feed.datasource(), override_num_blocks=1, num_cpus=0)
            feed.start()
            yield from self._stream(ray, pipeline, stages, factories, dataset, finish=feed.finish)
        finally:
            feed.close()

    def run_files(
        self, pipeline: Pipeline, reads: FileReads, *, skip: Collection[int] = (),
        engines_elsewhere: Collection[str] = (),
    ) -> Iterator[tuple[int, BatchOutcome]]:
        """Yield ``(index, outcome)`` for every batch of ``reads`` whose index is not in ``skip``,
        in input order, the input read on the workers.

        Each file is read by a Ray Data read task on a worker (:mod:`goose.executors.ray_files`),
        ``config.read_ahead`` files at a time; the driver sends only the file list and receives
        only outcomes. Remote files (``s3://``, ...) are read on any node, local ones on the
        driver's node (in a worker process there), since other nodes may not have them. The
        batches are numbered as :func:`~goose.pipeline.read_batches` numbers them, by a
        one-actor stage that sees them in input order; it drops the batches in ``skip``
        (finished by an earlier run) before any step runs, and checks the pipeline against the
        first batch's columns (``engines_elsewhere``: engine roles built elsewhere, as for
        :meth:`Pipeline.check`)."""
        ray = _import_ray()
        stages = self.plan(pipeline)
        factories = self._factories_for(pipeline, stages)
        _check_cluster_fits(ray, stages)
        from goose.executors.ray_files import FileDatasource

        roles = (*pipeline.all_engines(), *engines_elsewhere, *self.engine_factories)
        dataset = ray.data.read_datasource(FileDatasource(reads, encode_read), override_num_blocks=len(reads.files),
                                           num_cpus=0, concurrency=min(self.config.read_ahead, len(reads.files)))
        dataset.context.execution_options.preserve_order = True  # the numbering stage sees the files' batches in turn
        dataset = dataset.map_batches(
            Numbering,
            fn_constructor_kwargs={"skip": frozenset(skip), "check": ColumnCheck([fresh_copy(op) for op in pipeline.operators], roles)},
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=1, max_tasks_in_flight_per_actor=1),
            num_cpus=0,
            udf_modifying_row_count=True,
        )
        yield from self._stream(ray, pipeline, stages, factories, dataset, finish=lambda: None)

    def _stream(self, ray: Any, pipeline: Pipeline, stages: list[RayStage], factories: dict[str, EngineFactory],
                dataset: Any, finish: Callable[[], None]) -> Iterator[tuple[int, BatchOutcome]]:
        """Add the stages to ``dataset`` (rows of batch states, then an end mark), yield the
        outcomes in order, set the driver's stateful steps' state from the end mark; ``finish``
        raises what reading the input in the driver raised."""
        context = dataset.context  # this dataset's own copy: nothing global changes
        context.execution_options.preserve_order = True
        context.enable_progress_bars = self.config.progress_bars
        context.print_on_execution_start = self.config.progress_bars
        shipped = _operators_to_ship(pipeline)
        for stage in stages:
            spec = StageSpec(
                steps=[(pipeline.step_names[i], shipped[i]) for i in stage.positions],
                seed=pipeline.seed,
                labels=pipeline.context.operators,
                factories={role: factories[role] for role in stage.roles},
                stateful=stage.kind == "stateful",
            )
            pool = stage.resources
            dataset = dataset.map_batches(
                StageActor,
                fn_constructor_kwargs={"spec": spec},
                batch_size=1,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(
                    min_size=pool.actors,
                    max_size=pool.max_actors,
                    max_tasks_in_flight_per_actor=pool.max_tasks_in_flight_per_actor,
                ),
                num_cpus=pool.num_cpus,
                num_gpus=pool.num_gpus or None,
                udf_modifying_row_count=False,
            )
        operators_by_name = dict(zip(pipeline.step_names, pipeline.operators))
        position, ended = 0, False
        for block in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            for payload in block.column("payload").to_pylist():
                state: BatchState = pickle.loads(payload)
                if state.error is not None:
                    state.error.reraise()
                if ended or state.position != position:
                    raise RayExecutorError(f"Ray Data returned batch {state.index} (number {state.position}) where number "
                                           f"{position} was due; please report this as a goose bug")
                if state.end:
                    for name, private in state.final_states.items():
                        _set_private_state(operators_by_name[name], private)
                    ended = True
                    continue
                position += 1
                yield state.index, BatchOutcome(state.table, pa.concat_tables(state.rejects), state.stats, state.checkpoints)
        finish()
        if not ended:
            raise RayExecutorError(f"Ray Data ended the run without its end mark, after {position} batch(es); please "
                                   "report this as a goose bug")

    def _factories_for(self, pipeline: Pipeline, stages: list[RayStage]) -> dict[str, EngineFactory]:
        """The factory of every role some LLM stage calls, or a clear error for a missing one."""
        needed = {role: stage.names[0] for stage in stages for role in stage.roles}
        factories: dict[str, EngineFactory] = {}
        held = pipeline.all_engines()
        for role, step in needed.items():
            factory = self.engine_factories.get(role)
            if factory is None:
                example = f"{{{role!r}: EngineConfig(backend='openai', base_url=..., model=...)}}"
                if role in held:
                    raise RayExecutorError(
                        f"{step} calls the {role!r} engine; the pipeline's Engine object cannot be sent to Ray "
                        f"workers (it holds a model, connections and a cache), so give RayExecutor a way to build "
                        f"one there: RayExecutor(engine_factories={example}) or a function returning an Engine"
                    )
                raise RayExecutorError(
                    f"{step} calls the {role!r} engine but RayExecutor has no factory for it; pass "
                    f"RayExecutor(engine_factories={example}) or a function returning an Engine"
                )
            factories[role] = _resolved(factory)
            _check_picklable(role, factories[role])
        return factories


# -- helpers ----------------------------------------------------------------------------------


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise RayExecutorError(
            "RayExecutor needs Ray Data; install it with pip install 'goose-rlvr[ray]' (or 'ray[data]')"
        ) from error
    return ray


def _operators_to_ship(pipeline: Pipeline) -> list[Operator]:
    """Pure steps go as fresh copies built from their parameters (no caches such as a loaded
    language model, which can weigh tens of MB); stateful steps go with their state."""
    return [operator if operator.stateful else fresh_copy(operator) for operator in pipeline.operators]


def _set_private_state(operator: Operator, private: bytes) -> None:
    for key, value in pickle.loads(private).items():
        setattr(operator, key, value)


def _resolved(factory: EngineFactory) -> EngineFactory:
    """An EngineConfig whose relative cache path is made absolute here, where it was meant."""
    if isinstance(factory, EngineConfig) and factory.cache is not None and not Path(factory.cache).is_absolute():
        return factory.model_copy(update={"cache": str(Path(factory.cache).resolve())})
    return factory


def _check_picklable(role: str, factory: EngineFactory) -> None:
    from ray import cloudpickle

    try:
        cloudpickle.dumps(factory)
    except Exception as error:  # any pickling failure means the same thing here
        raise RayExecutorError(
            f"the engine factory for role {role!r} cannot be sent to Ray workers ({type(error).__name__}: {error}); "
            "pass an EngineConfig, or a module-level function that builds the Engine (not one that captures an "
            "Engine or an open connection)"
        ) from error


def _check_cluster_fits(ray: Any, stages: list[RayStage]) -> None:
    """Fail at once, not hang, when the stages' minimum actors cannot all start together."""
    if not ray.is_initialized():
        ray.init()
    available = ray.cluster_resources()
    for resource, key in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
        needed = sum(stage.resources.actors * getattr(stage.resources, resource) for stage in stages)
        have = float(available.get(key, 0.0))
        if needed > have + 1e-9:
            layout = "; ".join(stage.describe() for stage in stages)
            raise RayExecutorError(
                f"the pipeline's stages need {needed:g} {key} to start their actors but the Ray cluster has {have:g}: "
                f"{layout}. Lower num_cpus/num_gpus or actors in RayExecutorConfig, or add resources to the cluster"
            )
