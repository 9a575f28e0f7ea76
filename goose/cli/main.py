"""``goose`` command line.

* ``goose demo --out DIR``: the offline pipeline on the shipped sample corpus;
  ``--engine local`` runs the LLM chain on a few of its passages with the local CPU model.
* ``goose run CONFIG.yaml --out DIR``: a pipeline described in YAML (see :mod:`goose.config`).
  Runs are resumable: the same command on the same folder after a crash finishes the job
  (see :mod:`goose.runner`); ``--overwrite`` starts over instead; ``--retry-failed`` also
  redoes the batches that lost rows to transient engine failures (server down, timeouts).
* ``goose show DIR``: print a few tasks of a run readably.
* ``goose report DIR``: (re)write ``DIR/report.html``; every run writes it too.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import click
import pyarrow.parquet as pq

from goose.config import ConfigError, load_config
from goose.engines import EngineConfig
from goose.executors import Executor
from goose.presets import golden_goose_pipeline, offline_pipeline, sample_corpus_path
from goose.report import write_report
from goose.runner import (
    REJECTS_FILE,
    TASKS_FILE,
    RunFolderError,
    run_to_directory,
    transient_engine_drops,
)


@click.group()
@click.version_option(package_name="goose-rlvr")
def main() -> None:
    """goose: turn reasoning text into verifiable multiple-choice tasks for RLVR."""


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
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
              help="Run again the finished batches that lost rows to transient engine failures (server down, "
                   "timeouts); with a response cache only the failed requests are sent again.")
def demo(out_dir: Path, num_options: int, seed: int, engine_name: str, limit: int, max_tokens: int,
         overwrite: bool, retry_failed: bool) -> None:
    """Run goose on the sample corpus shipped with it (no GPU, no API key, no download)."""
    if engine_name == "offline":
        _run_and_report(offline_pipeline(num_options=num_options, seed=seed), sample_corpus_path(), out_dir, overwrite,
                        retry_failed=retry_failed)
        return
    from goose.engines import EngineConfig
    from goose.engines.local_model import LocalModelNotFound

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
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--overwrite", is_flag=True,
              help="Start over in an --out folder that holds a run (without it, the same run resumes, another is refused).")
@click.option("--retry-failed", is_flag=True,
              help="Run again the finished batches that lost rows to transient engine failures (server down, "
                   "timeouts); with a response cache only the failed requests are sent again.")
@click.option("--executor", "executor_name", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process; ray: Ray Data (pip install 'goose-rlvr[ray]'), each LLM step in an actor "
                   "pool that builds its own engine from the config.")
@click.option("--ray-address", default=None, help="With --executor ray: the cluster to join (default: a local Ray).")
def run(config: Path, out_dir: Path, overwrite: bool, retry_failed: bool, executor_name: str,
        ray_address: str | None) -> None:
    """Run the pipeline described in CONFIG (YAML); the same command resumes a killed run."""
    try:
        settings = load_config(config)
        inputs = settings.input_paths(config.parent)
        missing = [str(path) for path in inputs if not path.exists()]
        if missing:
            raise ConfigError(f"{config}: input file(s) not found: {', '.join(missing)}")
        executor = _executor(executor_name, ray_address, settings.engine_configs(config.parent))
        pipeline = settings.build_pipeline(config.parent)  # last: it may start an engine
    except (ConfigError, ImportError, FileNotFoundError) as error:  # incl. a missing local model
        raise click.ClickException(str(error)) from error
    _run_and_report(pipeline, [str(path) for path in inputs], out_dir, overwrite, executor, retry_failed=retry_failed)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--embed-figures", is_flag=True, help="Put the figures inside report.html (one file to share).")
def report(run_dir: Path, embed_figures: bool) -> None:
    """Write RUN_DIR/report.html: rows per stage, drop reasons, LLM usage, balance checks, samples."""
    try:
        path = write_report(run_dir, embed_figures=embed_figures)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"wrote {path}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("-n", "count", default=3, show_default=True, help="How many tasks to print.")
@click.option("--rejects", is_flag=True, help="Print the drop reasons instead of tasks.")
def show(run_dir: Path, count: int, rejects: bool) -> None:
    """Print a few tasks (or the drop reasons) of the run in RUN_DIR."""
    if rejects:
        table = pq.read_table(run_dir / REJECTS_FILE, columns=["operator", "reason"])
        counts = table.group_by(["operator", "reason"]).aggregate([("reason", "count")]).sort_by(
            [("reason_count", "descending")]
        )
        for row in counts.to_pylist():
            click.echo(f"{row['reason_count']:>6}  {row['operator']:<20} {row['reason']}")
        return
    path = run_dir / TASKS_FILE
    if not path.exists():
        raise click.ClickException(f"{path} not found; run 'goose demo --out {run_dir}' first")
    tasks = pq.read_table(path).slice(0, count).to_pylist()
    for task in tasks:
        click.secho(f"── {task['id']}  [{task['domain']}]  source {task['source_id']}", bold=True)
        click.echo(textwrap.indent(task["question"], "  "))
        sources = task["lineage"]["option_sources"]
        click.secho(f"  answer: {task['answer']}   option sources: {', '.join(sources)}", fg="green")
        click.echo()
    if not tasks:
        click.echo("no tasks in this run; see 'goose show --rejects'")


def _executor(name: str, ray_address: str | None, engines: dict[str, EngineConfig]) -> Executor | None:
    if name == "local":
        return None
    try:
        import ray
    except ImportError as error:
        raise ImportError("--executor ray needs Ray: pip install 'goose-rlvr[ray]'") from error
    from goose.executors import RayExecutor

    if any(engine.backend == "vllm" for engine in engines.values()):
        raise ConfigError("--executor ray with 'backend: vllm' would also load the model in the driver; serve it "
                          "with 'vllm serve' and use 'backend: openai', or build RayExecutor(engine_factories=...) "
                          "in Python")
    if not ray.is_initialized():
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False)
    return RayExecutor(engine_factories=engines)


def _run_and_report(pipeline, source, out_dir: Path, overwrite: bool = False, executor: Executor | None = None, *,
                    retry_failed: bool = False) -> None:
    try:
        result = run_to_directory(pipeline, source, out_dir, progress=True, overwrite=overwrite, executor=executor,
                                  retry_failed=retry_failed)
    except RunFolderError as error:
        raise click.ClickException(str(error)) from error
    finally:
        for engine in pipeline.all_engines().values():
            engine.close()
    click.echo(result.summary())
    transient = transient_engine_drops(result.stats)
    if transient:
        click.echo(f"{transient} rows were dropped for transient engine failures (timeouts, connection or server "
                   "errors); once the engine is up, run the same command with --retry-failed to retry them")
    report = write_report(out_dir)  # before the accounting check: a mismatch is easier to study with the report
    click.echo(f"wrote {out_dir / TASKS_FILE} ({result.tasks.num_rows} tasks), {out_dir / REJECTS_FILE} "
               f"({result.rejects.num_rows} rejects) and {report}; see the tasks with 'goose show {out_dir}'")
    if not result.accounted:
        raise click.ClickException("rows in + rows added != tasks + rejects; this is a goose bug, please report it")


if __name__ == "__main__":  # pragma: no cover
    main()
