"""Export a finished run folder for training: train/validation files, one format, and a card.

:func:`export_run` reads the run's ``tasks.parquet``, splits it by task-id hash
(:mod:`goose.export.split`), and writes into the export folder:

* ``verl``: ``train.parquet`` / ``validation.parquet`` in verl's RL layout
  (:func:`goose.export.to_verl`), for ``data.train_files`` / ``data.val_files``.
* ``trl``: ``train.parquet`` / ``validation.parquet`` with ``prompt`` (chat), ``answer``,
  ``id``, ``domain`` (:func:`goose.export.to_trl`), for ``datasets.load_dataset("parquet", ...)``.
* ``jsonl``: ``train.jsonl`` / ``validation.jsonl`` in the GooseReason layout.
* ``hf``: a :class:`datasets.DatasetDict` (``train``, ``validation``) saved with
  ``save_to_disk``, for ``datasets.load_from_disk``.

With ``by_domain`` the same files go to one subfolder per domain (``math/train.parquet``, ...).
A validation file is written only when the split puts tasks in it. ``README.md`` is the
dataset card (:mod:`goose.export.card`). The folder is marked as a goose export; exporting
into it again replaces it, and a folder holding anything else is refused.

>>> import tempfile, goose
>>> from goose.runner import run_to_directory
>>> run = tempfile.mkdtemp()
>>> _ = run_to_directory(goose.offline_pipeline(), goose.sample_corpus_path(), run, progress=False)
>>> result = export_run(run, format="verl", val_fraction=0.2)
>>> sorted(result.files), result.out.name
(['train.parquet', 'validation.parquet'], 'export')
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from goose.export.card import CardFacts, dataset_card
from goose.export.files import _as_task_schema, _write_table_parquet, export_order, read_tasks, write_jsonl
from goose.export.split import split_by_id
from goose.export.verl import to_verl
from goose.run_folder import is_url, open_folder

ExportFormat = Literal["verl", "trl", "hf", "jsonl"]
FORMATS: tuple[str, ...] = ("verl", "trl", "hf", "jsonl")

TASKS_FILE = "tasks.parquet"  # goose.runner.TASKS_FILE (not imported: the runner imports this package)
MARKER_FILE = ".goose-export.json"
"""Written into every export folder: what was exported; lets a later export replace the folder."""

DEFAULT_VAL_FRACTION = 0.05


class ExportError(ValueError):
    """A run folder or export folder that cannot be exported from or to; the message says what to do."""


class ExportResult(BaseModel):
    """What :func:`export_run` wrote."""

    out: Path
    files: dict[str, dict[str, int]]
    """Written file or folder (relative to ``out``) -> ``{split: tasks}``."""
    card: Path


def load_run_tasks(run_dir: str | Path) -> pa.Table:
    """The tasks of a finished run folder (:data:`goose.schema.TASK_SCHEMA`), or ExportError.
    ``run_dir`` may be a URL (``s3://bucket/run``, read through fsspec with its default configuration).

    >>> load_run_tasks("/no/such/run")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    goose.export.run.ExportError: run folder /no/such/run not found; ...
    """
    if is_url(run_dir):
        return _remote_tasks(str(run_dir))
    run = Path(run_dir)
    if not run.is_dir():
        raise ExportError(f"run folder {run} not found; pass the --out folder of a 'goose run' or 'goose demo'")
    path = run / TASKS_FILE
    if not path.is_file() and _unmerged(run):  # a run with --no-merge: its tasks are in shards/
        from goose.runner import RunOutput  # here: the runner imports this package

        output = RunOutput.open(run)
        if not output.task_rows:
            raise ExportError(f"{run} holds no tasks; see why with 'goose show {run} --rejects'")
        return _as_task_schema(output.tasks, str(run / "shards")).replace_schema_metadata(None)
    if not path.is_file():
        finished = len(list((run / "shards").glob("*.done.json"))) if (run / "shards").is_dir() else 0
        if finished:
            raise ExportError(f"{run} has no {TASKS_FILE}: the run has not finished ({finished} batch(es) done); "
                              "run the same goose command again to finish it, then export")
        raise ExportError(f"{run} has no {TASKS_FILE}; pass the --out folder of a finished 'goose run' or 'goose demo'")
    try:
        tasks = read_tasks(path)
    except (OSError, pa.ArrowException, ValueError) as error:
        raise ExportError(f"cannot read {path} ({_one_line(error)}); run goose again with --overwrite to rewrite it") from error
    if tasks.num_rows == 0:
        raise ExportError(f"{path} holds no tasks; see why with 'goose show {run} --rejects'")
    return tasks


def _remote_tasks(url: str) -> pa.Table:
    """:func:`load_run_tasks` of a run folder on object storage (merged or not)."""
    from goose.runner import RunOutput, SUMMARY_FILE  # here: the runner imports this package

    try:
        output = RunOutput.open(url)
    except FileNotFoundError as error:
        raise ExportError(f"run folder {url} not found ({_one_line(error)}); pass the --out folder of a 'goose run'") from error
    if not output.folder.is_file(SUMMARY_FILE):
        raise ExportError(f"{url} holds an unfinished run ({len(output.shard_counts)} batch(es) done); run the same "
                          "goose command again to finish it, then export")
    if not output.task_rows:
        raise ExportError(f"{url} holds no tasks; see why with 'goose show {url} --rejects'")
    return _as_task_schema(output.tasks, url).replace_schema_metadata(None)


def export_run(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    format: ExportFormat = "verl",
    val_fraction: float = DEFAULT_VAL_FRACTION,
    by_domain: bool = False,
) -> ExportResult:
    """Write the run's tasks in ``format``, split into train and validation by id hash, with a card.

    ``out`` defaults to ``run_dir/export``; a run on object storage (a URL) needs a local ``out``.
    Returns what was written.
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; use one of {', '.join(FORMATS)}")
    if not 0.0 <= val_fraction < 1.0:
        raise ExportError(f"val_fraction is {val_fraction}; use a fraction from 0 to below 1 (e.g. 0.05)")
    if is_url(run_dir) and out is None:
        raise ExportError(f"{run_dir} is on remote storage; give a local export folder with --out")
    run = str(run_dir) if is_url(run_dir) else Path(run_dir)
    tasks = load_run_tasks(run)
    target = Path(out) if out is not None else Path(run) / "export"
    _prepare(target)
    files: dict[str, dict[str, int]] = {}
    schema: pa.Schema | None = None
    groups = _by_domain(tasks) if by_domain else {"": tasks}
    for folder, group in groups.items():
        train, validation = split_by_id(group, val_fraction)
        written, schema = _write(format, target / folder if folder else target, train, validation)
        files.update({"/".join(p for p in (folder, name) if p) or ".": counts for name, counts in written.items()})
    train_all, validation_all = split_by_id(tasks, val_fraction)
    splits = {"train": train_all, "validation": validation_all}
    facts = CardFacts(
        title=f"goose tasks: {run.rstrip('/').rsplit('/', 1)[-1] if isinstance(run, str) else run.resolve().name}",
        format=format,
        val_fraction=val_fraction,
        splits=splits,
        files=files,
        columns=[(field.name, str(field.type)) for field in schema] if schema is not None else [],
        run=_run_facts(run),
    )
    card = target / "README.md"
    card.write_text(dataset_card(facts), encoding="utf-8")
    marker = {"format": format, "val_fraction": val_fraction, "by_domain": by_domain, "files": files}
    (target / MARKER_FILE).write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return ExportResult(out=target, files=files, card=card)


def _write(format: str, folder: Path, train: pa.Table, validation: pa.Table) -> tuple[dict[str, dict[str, int]], pa.Schema]:
    """Write one train/validation pair; returns ``{name: {split: tasks}}`` and the rows' schema."""
    splits = {"train": train, "validation": validation}
    if format == "hf":
        import datasets

        from goose.export.hf import to_dataset

        kept = {name: table for name, table in splits.items() if name == "train" or table.num_rows}
        dd = datasets.DatasetDict({name: to_dataset(table) for name, table in kept.items()})
        folder.mkdir(parents=True, exist_ok=True)
        bars_were_on = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            dd.save_to_disk(str(folder))
        finally:
            if bars_were_on:
                datasets.enable_progress_bars()
        schema = export_order(train).schema
        return {"": {name: table.num_rows for name, table in kept.items()}}, schema
    written: dict[str, dict[str, int]] = {}
    schema = None
    for name, table in splits.items():
        if name != "train" and table.num_rows == 0:
            continue
        if format == "verl":
            rows = to_verl(table, split=name)
            _write_table_parquet(rows, folder / f"{name}.parquet")
            written[f"{name}.parquet"] = {name: table.num_rows}
        elif format == "trl":
            from goose.export.trl import to_trl

            rows = to_trl(table).data.table
            _write_table_parquet(rows, folder / f"{name}.parquet")
            written[f"{name}.parquet"] = {name: table.num_rows}
        else:
            rows = export_order(table)
            write_jsonl(table, folder / f"{name}.jsonl")
            written[f"{name}.jsonl"] = {name: table.num_rows}
        schema = rows.schema
    return written, schema


def _by_domain(tasks: pa.Table) -> dict[str, pa.Table]:
    """Tasks per domain, keyed by a folder name made from the domain (sorted)."""
    groups: dict[str, pa.Table] = {}
    for domain in sorted(set(tasks.column("domain").to_pylist()), key=str):
        folder = _folder_name(domain)
        if folder in groups:
            raise ExportError(f"domains {domain!r} and another one map to the same folder {folder!r}; "
                              "export without --by-domain")
        groups[folder] = tasks.filter(pc.equal(tasks.column("domain"), domain)) if domain is not None else \
            tasks.filter(pc.is_null(tasks.column("domain")))
    return groups


def _folder_name(domain: str | None) -> str:
    """A safe folder name for a domain: letters, digits, ``.``, ``_`` and ``-`` only.

    >>> _folder_name("math"), _folder_name("cyber/cwe"), _folder_name(None), _folder_name("..")
    ('math', 'cyber_cwe', 'unknown', 'unknown')
    """
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", domain or "").strip("._")
    return name or "unknown"


def _prepare(target: Path) -> None:
    """Make ``target`` an empty folder: new, empty, or an earlier goose export (replaced)."""
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} is a file; choose a folder for --out")
    if target.is_dir() and any(target.iterdir()):
        if not (target / MARKER_FILE).is_file():
            raise ExportError(f"{target} is not empty and holds no goose export; choose a new or empty --out folder")
        shutil.rmtree(target)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"cannot create {target} ({_one_line(error)}); choose a writable --out folder") from error


def _run_facts(run: Path | str) -> dict[str, Any]:
    folder = open_folder(run)
    facts: dict[str, Any] = {}
    for key, name in (("summary", "summary.json"), ("manifest", "manifest.json")):
        try:
            facts[key] = json.loads(folder.read_text(name))
        except (OSError, ValueError):
            facts[key] = {}
    return facts


def _unmerged(run: Path) -> bool:
    """Whether ``run`` holds a finished run that left its tasks in ``shards/`` (``--no-merge``)."""
    return _run_facts(run)["summary"].get("merged") is False


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300]
