"""The executor protocol and the in-process executor.

An executor maps numbered input batches to numbered :class:`BatchOutcome` objects, yielded
in input order. It does not decide what to skip or where output goes: the runner
(:mod:`goose.runner`) hands it only the batches a run still needs, after calling
``start_run`` and ``restore`` on stateful operators, and writes each outcome as it comes.
Each outcome carries the checkpoint of every stateful step after that batch. The runner
stops with an error if an executor yields out of order or leaves a given batch out. An
executor that reads input files where it runs (:class:`FileExecutor`, e.g. Ray's workers)
is given the file list and the finished batches to skip instead, for file inputs that
:func:`~goose.pipeline.sources.file_reads` splits (not in-memory data, a ``datasets``
dataset or ``--limit N``: those are read in the driver).

>>> import goose
>>> from goose.pipeline import read_batches
>>> pipeline = goose.offline_pipeline()
>>> batches = enumerate(read_batches(goose.sample_corpus_path(), pipeline.batch_size))
>>> [(index, outcome.kept.num_rows) for index, outcome in LocalExecutor().run_batches(pipeline, batches)]
[(0, 30)]
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Protocol, runtime_checkable

from goose.pipeline import BatchOutcome, Pipeline, SourceBatch
from goose.pipeline.sources import FileReads


class Executor(Protocol):
    """Runs a pipeline's batches somewhere; see the module docstring for the contract."""

    def run_batches(
        self, pipeline: Pipeline, batches: Iterable[tuple[int, SourceBatch]]
    ) -> Iterator[tuple[int, BatchOutcome]]:
        """Yield ``(index, outcome)`` for every given batch, in the order given."""
        ...

    def engine_identities(self) -> dict[str, dict]:
        """Engine roles the executor's workers build themselves (so the driver's pipeline
        need not hold those engines), each with what identifies its answers (back end,
        model, settings) for the run's fingerprint; ``{}`` when it uses the pipeline's."""
        ...


@runtime_checkable
class FileExecutor(Executor, Protocol):
    """An executor that can also read input files itself, where it runs the batches (Ray's
    workers), so the runner hands it the file list instead of batches read in the driver.

    >>> from goose.executors import RayExecutor
    >>> isinstance(RayExecutor(), FileExecutor), isinstance(LocalExecutor(), FileExecutor)
    (True, False)
    """

    def run_files(
        self, pipeline: Pipeline, reads: FileReads, *, skip: Collection[int] = (), engines_elsewhere: Collection[str] = ()
    ) -> Iterator[tuple[int, BatchOutcome]]:
        """Yield ``(index, outcome)`` for every batch of ``reads`` (numbered as
        :func:`~goose.pipeline.read_batches` numbers them) whose index is not in ``skip``,
        in input order; check the pipeline on the first batch's columns, as
        :meth:`Pipeline.check` with ``engines_elsewhere``."""
        ...


class LocalExecutor:
    """Runs every batch in this process, one after the other, with the pipeline's engines."""

    def engine_identities(self) -> dict[str, dict]:
        """None: the local executor calls the pipeline's own engines."""
        return {}

    def run_batches(
        self, pipeline: Pipeline, batches: Iterable[tuple[int, SourceBatch]]
    ) -> Iterator[tuple[int, BatchOutcome]]:
        """Yield ``(index, outcome)`` for every given batch, in the order given."""
        for index, batch in batches:
            outcome = pipeline.process_batch(batch.table, batch.drops)
            for operator, name in zip(pipeline.operators, pipeline.step_names):
                if operator.stateful:
                    state = operator.checkpoint()
                    if state is not None:
                        outcome.checkpoints[name] = state
            yield index, outcome
