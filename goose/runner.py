"""Run a pipeline straight to a folder: ``tasks.parquet``, ``rejects.parquet``, ``summary.json``.

The run is resumable. Each finished input batch is written as a shard under ``shards/``
(its tasks, its rejects, the checkpoints of stateful steps such as ``MinHashDedup``, and
last a ``NNNNNN.done.json`` marker holding its counters); every file is written to a
temporary name and renamed into place, and the marker is written last, so a half-written
shard never counts. ``manifest.json`` holds the run's fingerprint: operators and their
parameters, seed, batch size, input identity (paths, sizes, modification times; a content
hash for in-memory inputs) and engines. Running the same command on the same folder again,
after a crash or ``kill -9`` at any point, restores the stateful steps from the finished
shards, skips those batches and runs only the rest; with an engine response cache no
answered LLM request is paid for twice. At the end the shards are streamed (a few thousand
rows in memory at a time) into ``tasks.parquet`` and ``rejects.parquet``, unless
``merge=False`` (``--no-merge``) leaves the tasks in the shards only, and ``summary.json``
is written from the shards' counters. Memory does not grow with the run: what comes back is
a :class:`RunOutput`, a handle that reads tasks and rejects only when asked. A folder
holding another run is refused
unless ``overwrite=True``, which clears goose's files there (not an engine cache kept there).
A lock file (``.goose.lock``) keeps two processes from writing one folder at once.

The folder may be on object storage (``s3://bucket/run``, ``gs://...``: any fsspec URL, with
``storage_options`` for credentials or an endpoint, never written to ``manifest.json``). The
layout and the resume are the same; each file is uploaded whole in one request (an object
appears whole or not at all), the marker last, so it commits its batch as the rename does
locally. Object stores have no lock: two processes must not write one remote folder at once.
See :mod:`goose.run_folder`.

Batches may give their tasks tables different columns (a struct such as ``meta`` with
more fields in one batch, a column only some batches have, a custom step's extra column):
the merged ``tasks.parquet`` has every column of every batch (``pyarrow.unify_schemas``,
permissive promotion; a column a batch lacks is null there), the task columns first in the
export layout, other columns after them. Types that cannot be merged (``int64`` in one batch,
``string`` in another) stop the run at the first such batch, naming the column.

Rows dropped for an engine failure are counted in ``summary.json``: ``engine_failure_drops``
(every ``engine_*`` reason) and, of them, ``transient_engine_drops`` (``engine_timeout``,
``engine_connection``, ...: the server was down or overloaded). A later run with
``retry_failed=True`` (``--retry-failed``) runs the batches that hold any such drop again
(with stateful steps, also every batch after the first of them): a transient failure once
the server is up, a lasting one (``engine_bad_request``) after a fix of the engine's
settings that leaves the run's fingerprint alone (a server option, the API key). With a
response cache only the failed requests are sent again.

A folder whose run finished no batch (it failed on its first batch: a wrong column, an
engine that refused) holds nothing worth keeping: a run with another fingerprint starts
over there, as it would in an empty folder.

>>> import tempfile, goose
>>> out = tempfile.mkdtemp()
>>> result = run_to_directory(goose.offline_pipeline(), goose.sample_corpus_path(), out, progress=False)
>>> result.accounted, sorted(p.name for p in Path(out).iterdir() if not p.name.startswith("."))
(True, ['manifest.json', 'rejects.parquet', 'shards', 'summary.json', 'tasks.parquet'])
>>> again = run_to_directory(goose.offline_pipeline(), goose.sample_corpus_path(), out, progress=False)
>>> again.tasks.equals(result.tasks)  # nothing left to run: the finished shards are merged again
True
>>> run_to_directory(goose.offline_pipeline(seed=1), goose.sample_corpus_path(), out, progress=False)  # doctest: +ELLIPSIS
Traceback (most recent call last):
goose.runner.RunFolderError: ... holds another run (different seed); use a new output folder (--out) or overwrite it (--overwrite, overwrite=True)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, get_args

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from goose.audit.audit import AUDIT_BATCH_ROWS, summary_audit
from goose.engines.types import TRANSIENT_FAILURES, FailureKind
from goose.engines.usage import EngineUsage
from goose.executors.base import Executor, LocalExecutor
from goose.export.files import GOOSEREASON_COLUMNS, export_order
from goose.pipeline import BatchOutcome, Pipeline, SourceBatch
from goose.pipeline.pipeline import READ_STEP, summary_text
from goose.pipeline.progress import StepProgress
from goose.pipeline.sources import (
    DatasetInput,
    FileInput,
    InputFile,
    Limited,
    Source,
    count_rows,
    input_file,
    read_batches,
    source_files,
)
from goose.pipeline.stats import OperatorStats, RunAccounting
from goose.run_folder import PARTIAL, RunFolder, open_folder
from goose.schema import REJECT_SCHEMA, TASK_SCHEMA

TASKS_FILE = "tasks.parquet"
REJECTS_FILE = "rejects.parquet"
SUMMARY_FILE = "summary.json"
MANIFEST_FILE = "manifest.json"
SHARDS_DIR = "shards"
RUN_FORMAT = 1
"""Version of the run folder layout; a folder of another version is never resumed."""

logger = logging.getLogger(__name__)

_OUTPUT_FILES = (TASKS_FILE, REJECTS_FILE, SUMMARY_FILE, MANIFEST_FILE)
TRANSIENT_ENGINE_REASONS: frozenset[str] = frozenset(f"engine_{kind}" for kind in TRANSIENT_FAILURES)
"""Drop reasons of requests that may well succeed later (server down, overloaded, timed out)."""
ENGINE_FAILURE_REASONS: frozenset[str] = frozenset(f"engine_{kind}" for kind in get_args(FailureKind))
"""Drop reasons of every engine failure, transient or not: ``retry_failed`` runs the batches
holding such drops again."""


class RunFolderError(ValueError):
    """An output folder that cannot take this run: it holds another run, or another
    process is writing to it. The message says what to do."""


class TaskSchemaConflict(RunFolderError):
    """Batches of one run whose tasks tables give a column types that cannot be merged
    (``int64`` in one, ``string`` in another). The message names the column, the types and
    the batches, and says what to do."""


def run_to_directory(
    pipeline: Pipeline,
    source: Source,
    out_dir: str | Path,
    *,
    progress: bool = True,
    executor: Executor | None = None,
    overwrite: bool = False,
    retry_failed: bool = False,
    merge: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> RunOutput:
    """Run ``pipeline`` over ``source`` into ``out_dir`` (created if needed; a local path or
    an fsspec URL such as ``s3://bucket/run``, opened with ``storage_options``), resuming the
    run already there if it has the same fingerprint (see the module docstring).

    ``executor`` runs the batches (default: :class:`~goose.executors.LocalExecutor`, in
    this process). ``overwrite`` starts over in a folder that holds another or the same run.
    ``retry_failed`` counts a finished batch with rows dropped for an engine failure
    (:data:`ENGINE_FAILURE_REASONS`, transient or not) as unfinished, so it runs again (with
    stateful steps, every later batch too); the response cache keeps the answers that did come back.
    ``merge`` (default) streams the shards into ``tasks.parquet`` and ``rejects.parquet``;
    without it the run leaves its tasks in the shards only (no second copy on disk), and
    readers (:class:`RunOutput`, the report, ``goose export``) read them from there.
    Returns a :class:`RunOutput`: counts and step counters at once, tasks and rejects read
    from disk only when asked for. Its stats cover every batch, also those finished by an
    earlier, interrupted process.
    """
    out = open_folder(out_dir, storage_options)
    out.make_dir("")
    executor = executor or LocalExecutor()
    elsewhere = executor.engine_identities() if hasattr(executor, "engine_identities") else {}
    fingerprint = run_fingerprint(pipeline, source, elsewhere)
    with out.lock():
        shards = _open_run(out, fingerprint, overwrite)
        stateful = any(operator.stateful for operator in pipeline.operators)
        finished = shards.finished(contiguous=stateful, redo=_engine_failure_drops if retry_failed else None)
        _start(pipeline, shards, finished)
        logger.info("run in %s: %d batch(es) finished earlier are kept", out.url, len(finished))
        schema = _TasksSchema(shards, finished)
        done_rows = sum(marker["rows_in"] for marker in finished.values())
        with StepProgress(pipeline.step_names, total=count_rows(source), initial=done_rows, enabled=progress) as bars:
            for index, outcome in _batches_to_run(executor, pipeline, source, finished, elsewhere):
                shards.write(index, outcome, schema)
                logger.info("batch %d written: %d rows in, %d tasks, %d rejects", index,
                            outcome.stats[0].rows_in if outcome.stats else 0, outcome.kept.num_rows,
                            outcome.rejects.num_rows)
                bars.update(outcome.stats)
        return _finish(pipeline, out, shards, resumed=len(finished), merge=merge)


def run_fingerprint(
    pipeline: Pipeline, source: Source, engines_elsewhere: dict[str, dict] | None = None
) -> dict[str, Any]:
    """What decides a run's output, as JSON data: a folder is resumed only by a run with an
    equal fingerprint. Operator parameters are hashed (they may hold whole benchmark sets).
    ``engines_elsewhere`` (from ``executor.engine_identities()``) names the engines an
    executor's workers build; they take the place of the driver's engines of the same role.

    >>> import goose
    >>> fingerprint = run_fingerprint(goose.offline_pipeline(), [{"text": "a"}])
    >>> sorted(fingerprint), fingerprint["input"]["kind"]
    (['batch_size', 'engines', 'format', 'input', 'seed', 'steps'], 'rows')
    """
    return {
        "format": RUN_FORMAT,
        "seed": pipeline.seed,
        "batch_size": pipeline.batch_size,
        "steps": [
            {"step": name, "operator": operator.label, "params_sha256": _sha256_json(_parameters(operator))}
            for operator, name in zip(pipeline.operators, pipeline.step_names)
        ],
        "input": input_identity(source, pipeline.batch_size),
        "engines": {
            **{
                role: {"backend": engine.name, "model": engine.model, "settings": _engine_settings(engine)}
                for role, engine in pipeline.all_engines().items()
            },
            **(engines_elsewhere or {}),
        },
    }


def input_identity(source: Source, batch_size: int) -> dict[str, Any]:
    """What identifies ``source`` across processes, found without reading its rows: each
    file's absolute path (a remote one's URL), size and modification time (or ETag; globs
    and folders expanded); a ``DatasetInput``'s settings plus, for a local folder, its
    files; a ``datasets.Dataset``'s own fingerprint; a streamed ``IterableDataset``'s
    description and data files; a :class:`~goose.pipeline.sources.Limited` source's limit.
    Only rows in memory (a list of dicts, a ``pyarrow.Table``) are hashed: a SHA-256 of
    their Arrow batches.

    >>> input_identity([{"text": "a"}], 8) == input_identity([{"text": "a"}], 8)
    True
    >>> input_identity([{"text": "a"}], 8) == input_identity([{"text": "b"}], 8)
    False
    >>> input_identity(Limited([{"text": "a"}], 5), 8)["limit"]
    5
    """
    if isinstance(source, Limited):
        return {**input_identity(source.source, batch_size), "limit": source.rows}
    if isinstance(source, DatasetInput):
        folder = Path(source.dataset)
        files = _files_under(folder) if folder.is_dir() else []
        for pattern in source.data_file_patterns():
            fs, path = fsspec.core.url_to_fs(pattern, **source.storage_options)
            files += [input_file(fs.unstrip_protocol(found), source.storage_options) for found in sorted(fs.glob(path))]
        return {"kind": "dataset", "dataset": source.description(), "files": [file.identity() for file in files]}
    files = source_files(source)
    if files is not None:
        found = {"kind": "files", "files": [file.identity() for file in files]}
        return {**found, "columns": source.columns} if isinstance(source, FileInput) and source.columns else found
    own = getattr(source, "_fingerprint", None)
    if type(source).__module__.startswith("datasets.") and isinstance(own, str):
        return {"kind": "datasets", "fingerprint": own, "rows": int(getattr(source, "num_rows", -1))}
    if type(source).__name__ == "IterableDataset" and type(source).__module__.startswith("datasets."):
        return _stream_identity(source)
    digest = hashlib.sha256()
    rows = 0
    for batch in read_batches(source, batch_size):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.table.schema) as writer:
            writer.write_table(batch.table)
        digest.update(sink.getvalue().to_pybytes())
        digest.update(json.dumps([drop.__dict__ for drop in batch.drops], sort_keys=True).encode())
        rows += batch.table.num_rows + len(batch.drops)
    return {"kind": "rows", "rows": rows, "sha256": digest.hexdigest()}


def _files_under(folder: Path) -> list[InputFile]:
    """Every file under a local folder (a dataset's data files or Arrow files), sorted."""
    return [input_file(path) for path in sorted(folder.rglob("*")) if path.is_file()]


def _stream_identity(stream: Any) -> dict[str, Any]:
    """A streamed dataset described without iterating it: name, config, split, features,
    the processing steps on it, and its data files' identities where ``datasets`` says
    which files they are (a stream made from a generator has none: its description only)."""
    steps, files, node = [], [], getattr(stream, "_ex_iterable", None)
    while node is not None:
        steps.append(type(node).__name__)
        files = files or list((getattr(node, "kwargs", None) or {}).get("base_files") or [])
        node = getattr(node, "ex_iterable", None)
    info = stream.info
    return {
        "kind": "datasets-stream",
        "name": info.dataset_name,
        "config": info.config_name,
        "split": str(stream.split) if stream.split is not None else None,
        "features": str(stream.features),
        "steps": steps,
        "files": [input_file(path).identity() for path in files],
    }


class _Shards:
    """The ``shards/`` folder of a run: one set of files per finished batch."""

    def __init__(self, run: RunFolder) -> None:
        self.run = run

    @staticmethod
    def name(index: int, part: str) -> str:
        """The file ``part`` of batch ``index`` relative to the run folder."""
        return f"{SHARDS_DIR}/{index:06d}.{part}"

    def path(self, index: int, part: str) -> Path | str:
        return self.run.path(self.name(index, part))

    def finished(
        self, *, contiguous: bool, redo: Callable[[dict[str, Any]], int] | None = None
    ) -> dict[int, dict[str, Any]]:
        """Markers of finished batches by index. With ``contiguous`` (runs with stateful
        steps, whose state after batch k holds every batch before it) only the unbroken run
        from batch 0 counts. A batch whose marker ``redo`` answers truthy for does not
        count either. Files of batches that do not count are removed. The markers come
        without their ``stats`` (see :func:`_read_markers`)."""
        markers: dict[int, dict[str, Any]] = {}
        names = self.run.names(SHARDS_DIR)
        for index in _marker_indices(names):
            marker = json.loads(self.run.read_text(self.name(index, "done.json")))
            if redo is None or not redo(marker):
                marker.pop("stats", None)  # read again one at a time at the end: kept, they grow with the run
                markers[index] = marker
        if contiguous:
            kept: dict[int, dict[str, Any]] = {}
            while len(kept) in markers:
                kept[len(kept)] = markers[len(kept)]
            markers = kept
        self.run.remove(  # a half-written shard, or one after a gap: it will be run again
            f"{SHARDS_DIR}/{name}" for name in names if name.endswith(PARTIAL) or _batch_of(name) not in markers
        )
        return dict(sorted(markers.items()))

    def write(self, index: int, outcome: BatchOutcome, schema: _TasksSchema) -> None:
        """Write one batch's files, then its marker (the commit point); a batch whose tasks
        cannot be merged with the earlier ones' is refused before anything is written."""
        kept = _in_output_order(outcome.kept)
        if kept.num_rows:
            schema.add(index, kept.schema)
        self.run.write(self.name(index, "tasks.parquet"), lambda path: pq.write_table(kept, path))
        self.run.write(self.name(index, "rejects.parquet"), lambda path: pq.write_table(outcome.rejects, path))
        for step, state in outcome.checkpoints.items():
            self.run.write(self.name(index, f"{step}.checkpoint"), partial(_write_bytes, state))
        marker = {
            "batch": index,
            "rows_in": outcome.stats[0].rows_in if outcome.stats else 0,
            "rows_added": sum(step.rows_added for step in outcome.stats),
            "tasks": kept.num_rows,
            "rejects": outcome.rejects.num_rows,
            "checkpoints": sorted(outcome.checkpoints),
            "stats": [_stats_to_json(step) for step in outcome.stats],
        }
        text = json.dumps(marker, indent=1) + "\n"
        self.run.write(self.name(index, "done.json"), lambda path: path.write_text(text, encoding="utf-8"))
        self.run.sync(SHARDS_DIR)


def _open_run(out: RunFolder, fingerprint: dict[str, Any], overwrite: bool) -> _Shards:
    """Resume the run in ``out`` if it has ``fingerprint``, else start one (refusing a
    folder that holds another run unless ``overwrite``)."""
    if out.is_file(MANIFEST_FILE) and not overwrite:
        try:
            manifest = json.loads(out.read_text(MANIFEST_FILE))
            earlier = manifest["fingerprint"]
        except (ValueError, KeyError, TypeError) as error:
            raise RunFolderError(f"{out.path(MANIFEST_FILE)} is unreadable ({error}); use a new output folder "
                                 "(--out) or overwrite it (--overwrite, overwrite=True)") from error
        if earlier == fingerprint:
            out.make_dir(SHARDS_DIR)
            return _Shards(out)
        if not _marker_indices(out.names(SHARDS_DIR)):
            return _open_run(out, fingerprint, overwrite=True)  # no batch finished: nothing to keep
        differing = [key for key in fingerprint if earlier.get(key) != fingerprint[key]] or ["format"]
        raise RunFolderError(
            f"{out.url} holds another run (different {', '.join(differing)}); "
            "use a new output folder (--out) or overwrite it (--overwrite, overwrite=True)"
        )
    _clear(out)
    out.make_dir(SHARDS_DIR)
    manifest = {"format": RUN_FORMAT, "fingerprint": fingerprint}
    text = json.dumps(manifest, indent=2) + "\n"
    out.write(MANIFEST_FILE, lambda path: path.write_text(text, encoding="utf-8"))
    return _Shards(out)


def _clear(out: RunFolder) -> None:
    """Remove goose's files from a run folder; other files (an engine cache) stay."""
    out.remove_tree(SHARDS_DIR)
    out.remove(name + suffix for name in _OUTPUT_FILES for suffix in ("", PARTIAL))


def _start(pipeline: Pipeline, shards: _Shards, finished: dict[int, dict[str, Any]]) -> None:
    """Start every operator's run, then replay the finished batches' checkpoints."""
    for operator in pipeline.operators:
        operator.start_run()
    if not finished:
        return
    for operator, step in zip(pipeline.operators, pipeline.step_names):
        if operator.stateful:
            operator.restore([shards.run.read_bytes(shards.name(index, f"{step}.checkpoint"))
                              for index, marker in finished.items() if step in marker["checkpoints"]])


def _batches_to_run(
    executor: Executor, pipeline: Pipeline, source: Source, finished: dict[int, dict[str, Any]],
    engines_elsewhere: Collection[str] = (),
) -> Iterator[tuple[int, BatchOutcome]]:
    """The outcomes of the batches not finished yet, in input order, from ``executor``; the
    pipeline is checked on the first rows. An executor that reads files where it runs (Ray's
    workers) gets the file list and the finished batches to skip; otherwise the driver reads
    the whole input (to number the batches) and hands the executor the unfinished ones. Stops
    with an error if the executor yields out of order or leaves a batch out."""
    from goose.executors.base import FileExecutor
    from goose.pipeline.sources import file_reads

    name = type(executor).__name__
    reads = file_reads(source, pipeline.batch_size) if isinstance(executor, FileExecutor) else None
    if reads is not None:
        previous = -1
        for index, outcome in executor.run_files(pipeline, reads, skip=finished, engines_elsewhere=engines_elsewhere):
            due = next((i for i in range(previous + 1, index + 1) if i not in finished), None)
            if index != due:
                raise RuntimeError(f"{name} yielded batch {index} where batch {due} was due; an executor must yield "
                                   "the outcome of every unfinished batch, in input order")
            previous = index
            yield index, outcome
        return
    given: deque[int] = deque()

    def unfinished() -> Iterator[tuple[int, SourceBatch]]:
        for index, batch in enumerate(pipeline.read_checked(source, engines_elsewhere=engines_elsewhere)):
            if index not in finished:
                given.append(index)
                yield index, batch

    todo = unfinished()
    for index, outcome in executor.run_batches(pipeline, todo):
        expected = given.popleft() if given else None
        if index != expected:
            raise RuntimeError(f"{name} yielded batch {index} where batch {expected} was due; an executor must yield "
                               "outcomes in the order it was given batches")
        yield index, outcome
    unread = next(todo, None)  # an executor that stopped reading its batches early
    left_out = given[0] if given else (unread[0] if unread is not None else None)
    if left_out is not None:
        raise RuntimeError(f"{name} stopped before batch {left_out}; an executor must yield an outcome for every "
                           "batch it was given (run again to resume)")


def _finish(pipeline: Pipeline, out: RunFolder, shards: _Shards, *, resumed: int, merge: bool) -> RunOutput:
    """Merge the finished shards into the output files (when ``merge``; a few thousand rows
    in memory at a time), write ``summary.json`` and return the handle to the output."""
    shards.finished(contiguous=False)  # clears what an interrupted earlier process left half-written
    logger.info("run in %s: every batch finished; %s the output", out.url, "merging" if merge else "summarising")
    output = RunOutput.open(out, merged=False, steps=[READ_STEP, *pipeline.step_names])
    if merge:  # remote: through a local temporary file, uploaded in parts (memory stays bounded)
        out.write(TASKS_FILE, partial(_write_batches, output.iter_tasks(), output.tasks_schema()))
        out.write(REJECTS_FILE, partial(_write_batches, output.iter_rejects(), REJECT_SCHEMA))
        output = RunOutput(out, output.stats, output.shard_counts, merged=True)
    else:  # an earlier run of this folder merged: those files would not hold this run's later batches
        out.remove([TASKS_FILE, REJECTS_FILE])
    summary: dict[str, Any] = {
        "rows_in": output.rows_in,
        "rows_added": output.rows_added,
        "tasks": output.task_rows,
        "rejects": output.reject_rows,
        "accounted": output.accounted,
        "seed": pipeline.seed,
        "batch_size": pipeline.batch_size,
        "operators": [op.label for op in pipeline.operators],
        "batches": len(output.shard_counts),
        "resumed_batches": resumed,
        "merged": merge,
        "transient_engine_drops": transient_engine_drops(output.stats),
        "engine_failure_drops": engine_failure_drops(output.stats),
        "steps": [step.as_dict() for step in output.stats],
    }
    audit = audit_output(output)  # cheap solvers' solve rates: does the gold give itself away?
    if audit is not None:
        summary["audit"] = audit
    engines = pipeline.all_engines()
    if engines:  # what this process sent; the steps' engine counters cover the whole run
        summary["engines"] = {
            role: {"backend": engine.name, "model": engine.model, **engine.usage().as_dict()}
            for role, engine in engines.items()
        }
    text = json.dumps(summary, indent=2) + "\n"
    out.write(SUMMARY_FILE, lambda path: path.write_text(text, encoding="utf-8"))
    return output


MERGE_ROW_GROUP_ROWS = 1_024
"""Rows per row group of the merged files: batches are gathered up to this many before they
are written, so a long run's file has few row groups (a small footer) and readers hold one
row group at a time."""


def _write_batches(batches: Iterator[pa.RecordBatch], schema: pa.Schema | None, path: Path) -> None:
    """Write ``batches`` (all of ``schema``) to one Parquet file, a row group each; an empty
    table when ``schema`` is None."""
    if schema is None:
        pq.write_table(pa.table({}), path)
        return
    with pq.ParquetWriter(path, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)


def _rebatched(batches: Iterator[pa.RecordBatch], schema: pa.Schema, rows: int) -> Iterator[pa.RecordBatch]:
    """``batches`` cut and joined into batches of exactly ``rows`` rows (the last one fewer),
    as ``ParquetFile.iter_batches`` cuts a merged file: readers that sum per batch (the
    audit) see the same batches in a run with and without the merge."""
    waiting: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        waiting.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(waiting, schema=schema)
            yield table.slice(0, rows).combine_chunks().to_batches()[0]
            waiting = table.slice(rows).combine_chunks().to_batches() if held > rows else []
            held -= rows
    if held:
        yield pa.Table.from_batches(waiting, schema=schema).combine_chunks().to_batches()[0]


def audit_output(output: RunOutput) -> dict[str, Any] | None:
    """The ``audit`` entry of ``summary.json`` (see :func:`goose.audit.summary_audit`) for a
    run's tasks, merged or in shards, local or remote, read a few thousand rows at a time;
    ``None`` when they are no assembled tasks (a pipeline that stops before AssembleTasks)."""
    schema = output.tasks_schema()
    return summary_audit(partial(output.iter_tasks, batch_rows=AUDIT_BATCH_ROWS),
                         schema.names if schema is not None else [])


class RunOutput(RunAccounting):
    """The output of a finished run in ``out_dir`` (a local folder or a URL, see
    :mod:`goose.run_folder`), read lazily: the counts and step counters come from the shard
    markers; tasks and rejects are read only when asked for, from ``tasks.parquet`` /
    ``rejects.parquet`` when the run merged them (``merged``), else from its shards.
    :meth:`iter_tasks` / :meth:`iter_rejects` give record batches (bounded memory);
    :attr:`tasks` / :attr:`rejects` read a whole table, each time they are used.

    >>> import tempfile, goose
    >>> out = tempfile.mkdtemp()
    >>> output = run_to_directory(goose.offline_pipeline(), goose.sample_corpus_path(), out, progress=False,
    ...                           merge=False)
    >>> output.task_rows, output.merged, (Path(out) / TASKS_FILE).exists()
    (30, False, False)
    >>> sum(batch.num_rows for batch in output.iter_tasks(["id", "answer"])), output.tasks.num_rows
    (30, 30)
    >>> RunOutput.open(out).accounted
    True
    """

    def __init__(self, out_dir: str | Path | RunFolder, stats: list[OperatorStats],
                 shard_counts: Sequence[tuple[int, int, int]], *, merged: bool) -> None:
        self.folder = open_folder(out_dir)
        """Where the run's files are (:class:`goose.run_folder.RunFolder`)."""
        self.stats = stats
        """One entry per step, the reader first, summed over every finished batch."""
        self.shard_counts = tuple(shard_counts)
        """``(batch, tasks, rejects)`` of each finished batch, in batch order."""
        self.merged = merged
        self._schema: tuple[pa.Schema | None] | None = None

    @classmethod
    def open(cls, out_dir: str | Path | RunFolder, *, merged: bool | None = None, steps: Sequence[str] = (),
             storage_options: dict[str, Any] | None = None) -> RunOutput:
        """The output of the run in ``out_dir`` (a remote one opened with ``storage_options``)
        from its shard markers (nothing else is read); ``merged`` defaults to whether
        ``tasks.parquet`` and ``rejects.parquet`` are there; ``steps`` names the steps (reader
        first) to count even where no batch ran them. A folder holding only the merged files
        (copied without ``shards/``) counts from their footers. Raises ``FileNotFoundError``
        for a folder that holds no run."""
        folder = open_folder(out_dir, storage_options)
        totals = [OperatorStats(name) for name in steps]
        counts = []
        for index, marker in _read_markers(folder):
            for position, step in enumerate(marker["stats"]):
                if position == len(totals):
                    totals.append(OperatorStats(step["name"]))
                totals[position].merge(_stats_from_json(step))
            counts.append((index, marker["tasks"], marker["rejects"]))
        both = folder.is_file(TASKS_FILE) and folder.is_file(REJECTS_FILE)
        if not counts and not folder.is_dir(SHARDS_DIR) and not folder.is_file(MANIFEST_FILE):
            if not both:
                raise FileNotFoundError(f"{folder.url} holds no goose run (no {SHARDS_DIR}/ folder); pass the --out "
                                        "folder of a 'goose run' or 'goose demo'")
            counts = [(0, folder.parquet(TASKS_FILE).metadata.num_rows, folder.parquet(REJECTS_FILE).metadata.num_rows)]
        return cls(folder, totals, counts, merged=both if merged is None else merged)

    @property
    def out_dir(self) -> Path | str:
        """The run folder: a local path, or the URL of a remote one."""
        return self.folder.url if self.folder.remote else Path(self.folder.url)

    @property
    def tasks_path(self) -> Path | str:
        """``tasks.parquet`` (there only when ``merged``); a URL for a remote run."""
        return self.folder.path(TASKS_FILE)

    @property
    def rejects_path(self) -> Path | str:
        """``rejects.parquet`` (there only when ``merged``); a URL for a remote run."""
        return self.folder.path(REJECTS_FILE)

    @property
    def task_rows(self) -> int:
        """Tasks of the run (nothing is read)."""
        return sum(tasks for _, tasks, _ in self.shard_counts)

    @property
    def reject_rows(self) -> int:
        """Rejects of the run (nothing is read)."""
        return sum(rejects for _, _, rejects in self.shard_counts)

    def summary(self) -> str:
        """The table of rows in/out and drops per step (as :meth:`PipelineResult.summary`)."""
        return summary_text(self.stats, self.task_rows, self.reject_rows)

    def shard_path(self, index: int, part: str) -> Path | str:
        """The file ``part`` (``tasks.parquet``, ``rejects.parquet``) of batch ``index``'s shard."""
        return _Shards(self.folder).path(index, part)

    def tasks_schema(self) -> pa.Schema | None:
        """The schema of the run's tasks (every batch's columns, see the module docstring),
        from the files' footers; None when no batch has columns."""
        if self._schema is None:
            if self.merged:
                self._schema = (self.folder.parquet(TASKS_FILE).schema_arrow.remove_metadata(),)
            else:
                markers = {index: {"tasks": tasks} for index, tasks, _ in self.shard_counts}
                self._schema = (_TasksSchema(_Shards(self.folder), markers).merged(),)
        return self._schema[0]

    def iter_tasks(self, columns: Sequence[str] | None = None,
                   batch_rows: int = MERGE_ROW_GROUP_ROWS) -> Iterator[pa.RecordBatch]:
        """The tasks as record batches of at most ``batch_rows`` rows, with the top-level
        ``columns`` of the tasks schema that exist (default: all; in the schema's order), in batch order."""
        schema = self.tasks_schema()
        if schema is None or not self.task_rows:
            return iter(())
        return self._iter("tasks", schema, 1, columns, batch_rows)

    def iter_rejects(self, columns: Sequence[str] | None = None,
                     batch_rows: int = MERGE_ROW_GROUP_ROWS) -> Iterator[pa.RecordBatch]:
        """The rejects (:data:`goose.schema.REJECT_SCHEMA`) as record batches of at most
        ``batch_rows`` rows, with the ``columns`` that exist (default: all)."""
        if not self.reject_rows:
            return iter(())
        return self._iter("rejects", REJECT_SCHEMA, 2, columns, batch_rows)

    def _iter(self, part: str, schema: pa.Schema, count: int, columns: Sequence[str] | None,
              batch_rows: int) -> Iterator[pa.RecordBatch]:
        """:meth:`iter_tasks` / :meth:`iter_rejects`: ``part`` names the files, ``count`` the
        position of its row count in :attr:`shard_counts`."""
        if columns is not None:
            schema = pa.schema([field for field in schema if field.name in set(columns)])
            if not len(schema):
                return
        if self.merged:
            yield from self.folder.parquet(f"{part}.parquet").iter_batches(batch_size=batch_rows, columns=schema.names)
            return
        shards = (_conformed(self.folder.parquet(_Shards.name(counts[0], f"{part}.parquet")), schema)
                  for counts in self.shard_counts if counts[count])
        yield from _rebatched(itertools.chain.from_iterable(shards), schema, batch_rows)

    @property
    def tasks(self) -> pa.Table:
        """Every task in one table, read now (use :meth:`iter_tasks` for large runs)."""
        if self.merged:
            return self.folder.read_table(TASKS_FILE)
        schema = self.tasks_schema()
        if schema is None:
            return pa.table({})
        return pa.Table.from_batches(list(self.iter_tasks()), schema=schema)

    @property
    def rejects(self) -> pa.Table:
        """Every reject in one table, read now (use :meth:`iter_rejects` for large runs)."""
        if self.merged:
            return self.folder.read_table(REJECTS_FILE)
        return pa.Table.from_batches(list(self.iter_rejects()), schema=REJECT_SCHEMA)

    def __repr__(self) -> str:
        return (f"RunOutput({str(self.out_dir)!r}, tasks={self.task_rows}, rejects={self.reject_rows}, "
                f"merged={self.merged})")


def _conformed(parquet: pq.ParquetFile, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The batches of one shard file, conformed to ``schema`` (a column it lacks is null)."""
    present = [name for name in schema.names if name in parquet.schema_arrow.names]
    for batch in parquet.iter_batches(columns=present):
        yield from _conform_table(pa.Table.from_batches([batch]), schema).to_batches()


def _read_markers(folder: RunFolder) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(batch, marker)`` of every finished batch in ``folder``, in batch order, one marker
    in memory at a time; nothing is removed (another process may be writing there)."""
    for index in _marker_indices(folder.names(SHARDS_DIR)):
        yield index, json.loads(folder.read_text(_Shards.name(index, "done.json")))


def _batch_of(name: str) -> int | None:
    """The batch a shard file belongs to (``000003.tasks.parquet`` -> 3), or None.

    >>> _batch_of("000003.done.json"), _batch_of("notes.txt")
    (3, None)
    """
    number = name.split(".")[0]
    return int(number) if number.isdigit() else None


def _marker_indices(names: Iterable[str]) -> list[int]:
    """The batches whose ``NNNNNN.done.json`` marker is among ``names``, in order."""
    return sorted(index for name in names if name.endswith(".done.json") and (index := _batch_of(name)) is not None)


def transient_engine_drops(stats: Sequence[OperatorStats]) -> int:
    """Rows the steps in ``stats`` dropped for a transient engine failure (the server was down,
    overloaded or slow): a run with ``retry_failed=True`` (``--retry-failed``) tries them again.

    >>> step = OperatorStats("MaskReasoningSpan", drops=Counter(engine_connection=3, engine_bad_request=1))
    >>> transient_engine_drops([step])
    3
    """
    return sum(count for step in stats for reason, count in step.drops.items() if reason in TRANSIENT_ENGINE_REASONS)


def engine_failure_drops(stats: Sequence[OperatorStats]) -> Counter[str]:
    """Rows the steps in ``stats`` dropped for any engine failure, by reason.

    >>> step = OperatorStats("MaskReasoningSpan", drops=Counter(engine_bad_request=2, too_short=1))
    >>> engine_failure_drops([step])
    Counter({'engine_bad_request': 2})
    """
    found: Counter[str] = Counter()
    for step in stats:
        found.update({reason: count for reason, count in step.drops.items() if reason in ENGINE_FAILURE_REASONS})
    return found


def _engine_failure_drops(marker: dict[str, Any]) -> int:
    """Rows of a finished batch (its marker) dropped for an engine failure."""
    return sum(engine_failure_drops([_stats_from_json(step) for step in marker["stats"]]).values())


class _TasksSchema:
    """The schema of a run's merged tasks: every shard's columns (``pa.unify_schemas`` with
    permissive promotion, so a struct gains the fields any batch has and ``int32`` meets
    ``int64`` as ``int64``), task columns first in the export layout. Shards without tasks
    do not count (their table stops at the step that dropped every row), unless no shard
    has tasks."""

    def __init__(self, shards: _Shards, markers: dict[int, dict[str, Any]]) -> None:
        self.unified: pa.Schema | None = None
        self._first_batch: dict[str, int] = {}  # column -> first batch holding it, for errors
        for index, marker in markers.items():
            if marker["tasks"]:
                self.add(index, shards.run.parquet(shards.name(index, "tasks.parquet")).schema_arrow)
        self._fallback: pa.Schema | None = None
        if self.unified is None:
            for index in markers:
                schema = shards.run.parquet(shards.name(index, "tasks.parquet")).schema_arrow
                if len(schema):
                    self._fallback = schema
                    break

    def add(self, index: int, schema: pa.Schema) -> None:
        """Take in batch ``index``'s tasks schema, or raise :class:`TaskSchemaConflict`."""
        schema = schema.remove_metadata()
        if self.unified is None:
            self.unified = schema
        else:
            try:
                self.unified = pa.unify_schemas([self.unified, schema], promote_options="permissive")
            except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise self._conflict(index, schema, error) from error
        for name in schema.names:
            self._first_batch.setdefault(name, index)

    def _conflict(self, index: int, schema: pa.Schema, error: Exception) -> TaskSchemaConflict:
        assert self.unified is not None
        for field in schema:
            if field.name not in self.unified.names:
                continue
            earlier = self.unified.field(field.name)
            try:
                pa.unify_schemas([pa.schema([earlier]), pa.schema([field])], promote_options="permissive")
            except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return TaskSchemaConflict(
                    f"column '{field.name}' of the tasks is {earlier.type} in batch {self._first_batch[field.name]} "
                    f"but {field.type} in batch {index}, and the two cannot be merged into one tasks.parquet; make "
                    f"the step that writes '{field.name}' give it one type in every batch (e.g. cast it), then run "
                    "again with --overwrite (overwrite=True): the finished batches keep the old type"
                )
        return TaskSchemaConflict(f"the tasks of batch {index} cannot be merged with the earlier batches' ({error}); "
                                  "give every column one type in every batch, then run again with --overwrite")

    def merged(self) -> pa.Schema | None:
        """The schema to write, in output order; None when no shard has columns."""
        if self.unified is None:
            return self._fallback
        return pa.schema([self.unified.field(name) for name in _output_order(self.unified.names)])


def _output_order(names: Sequence[str]) -> list[str]:
    """Column names in the export layout when they hold every task column (GooseReason
    columns, the other task columns, then the rest as they come); else as they are."""
    if not all(name in names for name in TASK_SCHEMA.names):
        return list(names)
    leading = [*GOOSEREASON_COLUMNS, *(name for name in TASK_SCHEMA.names if name not in GOOSEREASON_COLUMNS)]
    return leading + [name for name in names if name not in leading]


def _in_output_order(kept: pa.Table) -> pa.Table:
    """Task tables in the export layout (GooseReason columns first, task columns checked and
    cast to TASK_SCHEMA), with any other columns (a custom step's) kept after them; other
    tables as they are."""
    if not all(name in kept.column_names for name in TASK_SCHEMA.names):
        return kept
    ordered = export_order(kept)
    for name in kept.column_names:
        if name not in ordered.column_names:
            ordered = ordered.append_column(kept.schema.field(name), kept.column(name))
    return ordered.select(_output_order(ordered.column_names))


def _conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, order and types; a column it lacks is null."""
    columns = [
        _conform(table.column(field.name), field.type) if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _conform(column: pa.ChunkedArray | pa.Array, target: pa.DataType) -> Any:
    """One column cast to ``target``; structs field by field (a field it lacks is null), so
    this works on pyarrow versions whose cast cannot add struct fields."""
    if column.type == target:
        return column
    if isinstance(column, pa.ChunkedArray):
        return pa.chunked_array([_conform(chunk, target) for chunk in column.chunks], type=target)
    if pa.types.is_struct(target) and pa.types.is_struct(column.type):
        names = [column.type.field(i).name for i in range(column.type.num_fields)]
        children = [
            _conform(column.field(field.name), field.type) if field.name in names else pa.nulls(len(column), field.type)
            for field in target
        ]
        return pa.StructArray.from_arrays(children, fields=list(target), mask=column.is_null())
    return column.cast(target)


def _stats_to_json(stats: OperatorStats) -> dict[str, Any]:
    engine = None
    if stats.engine is not None:
        engine = {**stats.engine.__dict__, "failures": dict(stats.engine.failures)}
    return {"name": stats.name, "rows_in": stats.rows_in, "rows_out": stats.rows_out,
            "drops": dict(stats.drops), "seconds": stats.seconds, "engine": engine, "rows_added": stats.rows_added}


def _stats_from_json(data: dict[str, Any]) -> OperatorStats:
    engine = None
    if data["engine"] is not None:
        engine = EngineUsage(**{**data["engine"], "failures": Counter(data["engine"]["failures"])})
    return OperatorStats(data["name"], data["rows_in"], data["rows_out"], Counter(data["drops"]),
                         data["seconds"], engine, data.get("rows_added", 0))


def _write_bytes(data: bytes, path: Path) -> None:
    path.write_bytes(data)


def _parameters(operator: Any) -> Any:
    try:
        return operator.model_dump(mode="json")
    except Exception:  # noqa: BLE001 - a parameter type pydantic cannot write as JSON
        return json.loads(json.dumps(operator.model_dump(), sort_keys=True, default=repr))


def _engine_settings(engine: Any) -> str:
    """What, besides the model, decides an engine's answers (its back end's cache identity)."""
    backend = getattr(engine, "backend", None)
    return str(getattr(backend, "cache_identity", engine.model))


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr).encode()).hexdigest()
