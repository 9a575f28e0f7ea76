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
answered LLM request is paid for twice. At the end the shards are merged (one batch in
memory at a time) into the three output files. A folder holding another run is refused
unless ``overwrite=True``, which clears goose's files there (not an engine cache kept there).
A lock file (``.goose.lock``) keeps two processes from writing one folder at once.

Batches may give their tasks tables different columns (a struct such as ``meta`` with
more fields in one batch, a column only some batches have, a custom step's extra column):
the merged ``tasks.parquet`` has every column of every batch (``pyarrow.unify_schemas``,
permissive promotion; a column a batch lacks is null there), the task columns first in the
export layout, other columns after them. Types that cannot be merged (``int64`` in one batch,
``string`` in another) stop the run at the first such batch, naming the column.

Rows dropped for a transient engine failure (``engine_timeout``, ``engine_connection``, ...:
the server was down or overloaded) are counted in ``summary.json``
(``transient_engine_drops``); a later run with ``retry_failed=True`` (``--retry-failed``)
runs the batches that hold such drops again (with stateful steps, also every batch after
the first of them), and with a response cache only the failed requests are sent again.

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

import contextlib
import hashlib
import json
import os
import shutil
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from goose.audit.audit import audit_summary
from goose.engines.types import TRANSIENT_FAILURES
from goose.engines.usage import EngineUsage
from goose.executors.base import Executor, LocalExecutor
from goose.export.files import GOOSEREASON_COLUMNS, export_order
from goose.pipeline import BatchOutcome, Pipeline, PipelineResult, SourceBatch
from goose.pipeline.pipeline import READ_STEP
from goose.pipeline.sources import Source, count_rows, read_batches, source_paths
from goose.pipeline.stats import OperatorStats
from goose.schema import REJECT_SCHEMA, TASK_SCHEMA

TASKS_FILE = "tasks.parquet"
REJECTS_FILE = "rejects.parquet"
SUMMARY_FILE = "summary.json"
MANIFEST_FILE = "manifest.json"
SHARDS_DIR = "shards"
RUN_FORMAT = 1
"""Version of the run folder layout; a folder of another version is never resumed."""

_PARTIAL = ".partial"
_LOCK_FILE = ".goose.lock"
_OUTPUT_FILES = (TASKS_FILE, REJECTS_FILE, SUMMARY_FILE, MANIFEST_FILE)
TRANSIENT_ENGINE_REASONS: frozenset[str] = frozenset(f"engine_{kind}" for kind in TRANSIENT_FAILURES)
"""Drop reasons of requests that may well succeed later (server down, overloaded, timed out):
``retry_failed`` runs the batches holding such drops again."""


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
) -> PipelineResult:
    """Run ``pipeline`` over ``source`` into ``out_dir`` (created if needed), resuming the
    run already there if it has the same fingerprint (see the module docstring).

    ``executor`` runs the batches (default: :class:`~goose.executors.LocalExecutor`, in
    this process). ``overwrite`` starts over in a folder that holds another or the same run.
    ``retry_failed`` counts a finished batch with rows dropped for a transient engine failure
    (:data:`TRANSIENT_ENGINE_REASONS`) as unfinished, so it runs again (with stateful steps,
    every later batch too); the response cache keeps the answers that did come back.
    Returns the :class:`PipelineResult` with the tasks and rejects read back from disk; its
    stats cover every batch, also those finished by an earlier, interrupted process.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    executor = executor or LocalExecutor()
    elsewhere = executor.engine_identities() if hasattr(executor, "engine_identities") else {}
    fingerprint = run_fingerprint(pipeline, source, elsewhere)
    with _exclusive(out):
        shards = _open_run(out, fingerprint, overwrite)
        stateful = any(operator.stateful for operator in pipeline.operators)
        finished = shards.finished(contiguous=stateful, redo=_transient_engine_drops if retry_failed else None)
        _start(pipeline, shards, finished)
        schema = _TasksSchema(shards, finished)
        done_rows = sum(marker["rows_in"] for marker in finished.values())
        with tqdm(total=count_rows(source), initial=done_rows, unit="rows", disable=not progress, desc="goose") as bar:
            given: deque[int] = deque()
            todo = _batches_to_run(pipeline, source, finished, given, elsewhere)
            for index, outcome in executor.run_batches(pipeline, todo):
                expected = given.popleft() if given else None
                if index != expected:
                    raise RuntimeError(f"{type(executor).__name__} yielded batch {index} where batch {expected} "
                                       "was due; an executor must yield outcomes in the order it was given batches")
                shards.write(index, outcome, schema)
                bar.update(outcome.stats[0].rows_in if outcome.stats else 0)
            unread = next(todo, None)  # an executor that stopped reading its batches early
            left_out = given[0] if given else (unread[0] if unread is not None else None)
            if left_out is not None:
                raise RuntimeError(f"{type(executor).__name__} stopped before batch {left_out}; an executor must "
                                   "yield an outcome for every batch it was given (run again to resume)")
        return _merge(pipeline, out, shards, resumed=len(finished))


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
    """What identifies ``source`` across processes: each file's absolute path, size and
    modification time; a Hugging Face dataset's own fingerprint; for rows in memory (a
    list of dicts, a ``pyarrow.Table``) a SHA-256 of their Arrow batches.

    >>> input_identity([{"text": "a"}], 8) == input_identity([{"text": "a"}], 8)
    True
    >>> input_identity([{"text": "a"}], 8) == input_identity([{"text": "b"}], 8)
    False
    """
    paths = source_paths(source)
    if paths is not None:
        files = []
        for path in paths:
            if not path.exists():
                raise FileNotFoundError(f"input file {path} does not exist; check the path in your command or config")
            status = path.stat()
            files.append({"path": str(path.resolve()), "bytes": status.st_size, "mtime_ns": status.st_mtime_ns})
        return {"kind": "files", "files": files}
    own = getattr(source, "_fingerprint", None)
    if type(source).__module__.startswith("datasets.") and isinstance(own, str):
        return {"kind": "datasets", "fingerprint": own, "rows": int(getattr(source, "num_rows", -1))}
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


class _Shards:
    """The ``shards/`` folder of a run: one set of files per finished batch."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, index: int, part: str) -> Path:
        return self.folder / f"{index:06d}.{part}"

    def finished(
        self, *, contiguous: bool, redo: Callable[[dict[str, Any]], int] | None = None
    ) -> dict[int, dict[str, Any]]:
        """Markers of finished batches by index. With ``contiguous`` (runs with stateful
        steps, whose state after batch k holds every batch before it) only the unbroken run
        from batch 0 counts. A batch whose marker ``redo`` answers truthy for does not
        count either. Files of batches that do not count are removed."""
        markers: dict[int, dict[str, Any]] = {}
        for path in self.folder.glob("*.done.json"):
            number = path.name.split(".")[0]
            if number.isdigit():
                marker = json.loads(path.read_text(encoding="utf-8"))
                if redo is None or not redo(marker):
                    markers[int(number)] = marker
        if contiguous:
            kept: dict[int, dict[str, Any]] = {}
            while len(kept) in markers:
                kept[len(kept)] = markers[len(kept)]
            markers = kept
        for path in self.folder.iterdir():
            number = path.name.split(".")[0]
            if path.name.endswith(_PARTIAL) or not number.isdigit() or int(number) not in markers:
                path.unlink()  # a half-written shard, or one after a gap: it will be run again
        return dict(sorted(markers.items()))

    def write(self, index: int, outcome: BatchOutcome, schema: _TasksSchema) -> None:
        """Write one batch's files, then its marker (the commit point); a batch whose tasks
        cannot be merged with the earlier ones' is refused before anything is written."""
        kept = _in_output_order(outcome.kept)
        if kept.num_rows:
            schema.add(index, kept.schema)
        _write_atomically(self.path(index, "tasks.parquet"), lambda path: pq.write_table(kept, path))
        _write_atomically(self.path(index, "rejects.parquet"), lambda path: pq.write_table(outcome.rejects, path))
        for step, state in outcome.checkpoints.items():
            _write_atomically(self.path(index, f"{step}.checkpoint"), partial(_write_bytes, state))
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
        _write_atomically(self.path(index, "done.json"), lambda path: path.write_text(text, encoding="utf-8"))
        _sync_folder(self.folder)


def _open_run(out: Path, fingerprint: dict[str, Any], overwrite: bool) -> _Shards:
    """Resume the run in ``out`` if it has ``fingerprint``, else start one (refusing a
    folder that holds another run unless ``overwrite``)."""
    manifest_path = out / MANIFEST_FILE
    if manifest_path.exists() and not overwrite:
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            earlier = manifest["fingerprint"]
        except (ValueError, KeyError, TypeError) as error:
            raise RunFolderError(f"{manifest_path} is unreadable ({error}); use a new output folder (--out) or "
                                 "overwrite it (--overwrite, overwrite=True)") from error
        if earlier == fingerprint:
            (out / SHARDS_DIR).mkdir(exist_ok=True)
            return _Shards(out / SHARDS_DIR)
        differing = [key for key in fingerprint if earlier.get(key) != fingerprint[key]] or ["format"]
        raise RunFolderError(
            f"{out} holds another run (different {', '.join(differing)}); "
            "use a new output folder (--out) or overwrite it (--overwrite, overwrite=True)"
        )
    _clear(out)
    (out / SHARDS_DIR).mkdir()
    manifest = {"format": RUN_FORMAT, "fingerprint": fingerprint}
    text = json.dumps(manifest, indent=2) + "\n"
    _write_atomically(manifest_path, lambda path: path.write_text(text, encoding="utf-8"))
    return _Shards(out / SHARDS_DIR)


def _clear(out: Path) -> None:
    """Remove goose's files from a run folder; other files (an engine cache) stay."""
    shutil.rmtree(out / SHARDS_DIR, ignore_errors=True)
    for name in _OUTPUT_FILES:
        for path in (out / name, out / (name + _PARTIAL)):
            path.unlink(missing_ok=True)


def _start(pipeline: Pipeline, shards: _Shards, finished: dict[int, dict[str, Any]]) -> None:
    """Start every operator's run, then replay the finished batches' checkpoints."""
    for operator in pipeline.operators:
        operator.start_run()
    if not finished:
        return
    for operator, step in zip(pipeline.operators, pipeline.step_names):
        if operator.stateful:
            operator.restore([shards.path(index, f"{step}.checkpoint").read_bytes()
                              for index, marker in finished.items() if step in marker["checkpoints"]])


def _batches_to_run(
    pipeline: Pipeline, source: Source, finished: dict[int, dict[str, Any]], given: deque[int],
    engines_elsewhere: Collection[str] = (),
) -> Iterator[tuple[int, SourceBatch]]:
    """The numbered batches not finished yet (the whole input is read, to number them),
    noting each index handed out in ``given``; checks the pipeline on the first rows."""
    checked = False
    for index, batch in enumerate(read_batches(source, pipeline.batch_size)):
        if not checked and batch.table.num_rows:
            pipeline.check(batch.table.column_names, engines_elsewhere=engines_elsewhere)
            checked = True
        if index not in finished:
            given.append(index)
            yield index, batch


def _merge(pipeline: Pipeline, out: Path, shards: _Shards, *, resumed: int) -> PipelineResult:
    """Merge every finished shard into the output files, one batch in memory at a time."""
    markers = shards.finished(contiguous=False)
    totals = [OperatorStats(READ_STEP)] + [OperatorStats(name) for name in pipeline.step_names]
    for marker in markers.values():
        for total, step in zip(totals, marker["stats"]):
            total.merge(_stats_from_json(step))
    schema = _TasksSchema(shards, markers).merged()

    def write_tasks(path: Path) -> None:
        if schema is None:
            pq.write_table(pa.table({}), path)
            return
        with pq.ParquetWriter(path, schema) as writer:
            for index, marker in markers.items():
                if marker["tasks"]:
                    writer.write_table(_conform_table(pq.read_table(shards.path(index, "tasks.parquet")), schema))

    def write_rejects(path: Path) -> None:
        with pq.ParquetWriter(path, REJECT_SCHEMA) as writer:
            for index, marker in markers.items():
                if marker["rejects"]:
                    writer.write_table(pq.read_table(shards.path(index, "rejects.parquet")).cast(REJECT_SCHEMA))

    _write_atomically(out / TASKS_FILE, write_tasks)
    _write_atomically(out / REJECTS_FILE, write_rejects)
    result = PipelineResult(pq.read_table(out / TASKS_FILE), pq.read_table(out / REJECTS_FILE), totals)
    summary: dict[str, Any] = {
        "rows_in": result.rows_in,
        "rows_added": result.rows_added,
        "tasks": result.tasks.num_rows,
        "rejects": result.rejects.num_rows,
        "accounted": result.accounted,
        "seed": pipeline.seed,
        "batch_size": pipeline.batch_size,
        "operators": [op.label for op in pipeline.operators],
        "batches": len(markers),
        "resumed_batches": resumed,
        "transient_engine_drops": transient_engine_drops(totals),
        "steps": [step.as_dict() for step in totals],
    }
    audit = audit_summary(out / TASKS_FILE)  # cheap solvers' solve rates: does the gold give itself away?
    if audit is not None:
        summary["audit"] = audit
    engines = pipeline.all_engines()
    if engines:  # what this process sent; the steps' engine counters cover the whole run
        summary["engines"] = {
            role: {"backend": engine.name, "model": engine.model, **engine.usage().as_dict()}
            for role, engine in engines.items()
        }
    text = json.dumps(summary, indent=2) + "\n"
    _write_atomically(out / SUMMARY_FILE, lambda path: path.write_text(text, encoding="utf-8"))
    return result


def transient_engine_drops(stats: Sequence[OperatorStats]) -> int:
    """Rows the steps in ``stats`` dropped for a transient engine failure (the server was down,
    overloaded or slow): a run with ``retry_failed=True`` (``--retry-failed``) tries them again.

    >>> step = OperatorStats("MaskReasoningSpan", drops=Counter(engine_connection=3, engine_bad_request=1))
    >>> transient_engine_drops([step])
    3
    """
    return sum(count for step in stats for reason, count in step.drops.items() if reason in TRANSIENT_ENGINE_REASONS)


def _transient_engine_drops(marker: dict[str, Any]) -> int:
    """Rows of a finished batch (its marker) dropped for a transient engine failure."""
    return transient_engine_drops([_stats_from_json(step) for step in marker["stats"]])


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
                self.add(index, pq.read_schema(shards.path(index, "tasks.parquet")))
        self._fallback: pa.Schema | None = None
        if self.unified is None:
            for index in markers:
                schema = pq.read_schema(shards.path(index, "tasks.parquet"))
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


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file, flushed to disk, renamed over ``path``: readers (and
    a resumed run) see the old file or the whole new one, never a part."""
    partial = path.with_name(path.name + _PARTIAL)
    write(partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, path)


def _write_bytes(data: bytes, path: Path) -> None:
    path.write_bytes(data)


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries (the renames) to disk, where the platform allows it."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold an advisory lock on ``out`` so two runs never write one folder at once (the
    lock dies with its process, also on ``kill -9``)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, as before
        yield
        return
    with open(out / _LOCK_FILE, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise RunFolderError(f"another goose run is writing to {out}; wait for it to end, or use "
                                 "another output folder (--out)") from error
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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
