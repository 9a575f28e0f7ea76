"""How :class:`~goose.executors.RayExecutor` lays a run out on Ray: the resources of each kind
of stage (:class:`RayExecutorConfig`, :class:`StageResources`) and how a worker gets an engine
(:data:`EngineFactory`).

>>> RayExecutorConfig().cpu.num_cpus, RayExecutorConfig().stateful.max_actors
(0.4, 1)
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from goose.engines import Engine, EngineConfig

EngineFactory = EngineConfig | Callable[[], Engine]
"""How a Ray worker gets an engine: an :class:`EngineConfig` (built there with ``build()``)
or a function of no arguments returning an :class:`Engine` (it must be picklable)."""


class RayExecutorError(RuntimeError):
    """A run the Ray executor cannot start or finish as configured; the message says what to change."""


class StageResources(BaseModel):
    """Ray resources of one stage: its actor pool and what each actor reserves.

    ``actors`` is the pool's size at start (its minimum); ``max_actors`` lets Ray Data add
    actors while work queues up (``None``: as many as free resources allow). Reservations
    are Ray's logical resources: an LLM stage on a vLLM engine wants ``num_gpus=1`` (or the
    tensor-parallel size), one on a remote server wants none.

    >>> StageResources(actors=2, max_actors=4, num_gpus=1).num_gpus
    1.0
    >>> StageResources(actors=3, max_actors=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    pydantic_core._pydantic_core.ValidationError: 1 validation error for StageResources
      Value error, max_actors (2) is below actors (3); raise max_actors or lower actors ...
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    actors: int = Field(1, ge=1, description="Actors at start, the pool's minimum.")
    max_actors: int | None = Field(None, ge=1, description="Most actors the pool grows to; None: no bound but the cluster.")
    num_cpus: float = Field(1.0, ge=0, description="Logical CPUs each actor reserves.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs each actor reserves (vLLM: 1, or the tensor-parallel size).")
    max_tasks_in_flight_per_actor: int | None = Field(
        None, ge=1, description="Batches queued on one actor at once (None: Ray Data's default)."
    )

    @model_validator(mode="after")
    def _check_bounds(self) -> StageResources:
        if self.max_actors is not None and self.max_actors < self.actors:
            raise ValueError(f"max_actors ({self.max_actors}) is below actors ({self.actors}); raise max_actors or lower actors")
        return self

    @property
    def fixed(self) -> bool:
        """Whether the pool keeps ``actors`` actors throughout."""
        return self.max_actors == self.actors


def single_actor_resources(resources: StageResources, what: str) -> StageResources:
    """The resources of a stateful stage: one actor, one batch in flight. Ray Data lets an
    actor run its queued batches in whatever order their data arrives (it creates actors
    with ``allow_out_of_order_execution``, ray-project/ray#54504); with one batch at a time,
    the actor sees them in the order the stage receives them, the input order."""
    if resources.actors != 1 or resources.max_actors not in (None, 1):
        raise ValueError(
            f"{what} run in exactly one actor, so that it sees the batches in input order; "
            f"set actors=1 and max_actors=1 (got actors={resources.actors}, max_actors={resources.max_actors})"
        )
    if resources.max_tasks_in_flight_per_actor not in (None, 1):
        raise ValueError(f"{what} take one batch at a time, in input order; leave max_tasks_in_flight_per_actor unset")
    return resources.model_copy(update={"max_actors": 1, "max_tasks_in_flight_per_actor": 1})


class RayExecutorConfig(BaseModel):
    """Resources of each kind of stage, and per-step overrides by step name.

    The defaults fit the offline pipeline on a 2-CPU Ray (CI): 0.4 CPU per CPU-stage actor and
    a tenth for each stateful step (reservations, not caps): its four CPU stages and three
    stateful steps need 1.9 CPUs.
    On a real cluster give the CPU stages ``num_cpus=1`` and the LLM steps their GPUs.
    A CPU step named in ``steps`` runs as a stage of its own with those resources
    instead of being fused with its neighbours.

    >>> config = RayExecutorConfig(steps={"MaskReasoningSpan": StageResources(actors=2, num_gpus=1)})
    >>> config.steps["MaskReasoningSpan"].num_gpus, config.llm.actors
    (1.0, 1)
    >>> RayExecutorConfig(stateful=StageResources(actors=2))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    pydantic_core._pydantic_core.ValidationError: 1 validation error for RayExecutorConfig
      Value error, stateful steps run in exactly one actor, ...
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu: StageResources = Field(
        default_factory=lambda: StageResources(num_cpus=0.4),
        description="Each stage of fused CPU steps: an autoscaling actor pool.",
    )
    stateful: StageResources = Field(
        default_factory=lambda: StageResources(num_cpus=0.1, max_actors=1),
        description="Each stateful step (MinHashDedup, CorpusDistractors, AssembleTasks): one actor each.",
    )
    llm: StageResources = Field(
        default_factory=lambda: StageResources(num_cpus=0.1, max_actors=1),
        description="Each LLM step: a pool of actors holding one engine per role each (they mostly wait on "
        "a server or a GPU; give vLLM actors num_gpus).",
    )
    steps: dict[str, StageResources] = Field(
        default_factory=dict, description="Step name (as in stats: 'MaskReasoningSpan', 'MinHashDedup#2') -> resources."
    )
    progress_bars: bool = Field(False, description="Show Ray Data's progress bars.")
    read_ahead: int = Field(
        4, ge=1, description="How far input is read ahead of the first stage: files read at once by the workers, "
        "or batches the driver puts in the object store (inputs that are not files)."
    )

    @model_validator(mode="after")
    def _check_stateful(self) -> RayExecutorConfig:
        single_actor_resources(self.stateful, "stateful steps")
        return self
