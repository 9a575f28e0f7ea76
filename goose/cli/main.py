"""``goose`` command line.

* ``goose demo --out DIR``: the offline pipeline on the shipped sample corpus.
* ``goose run CONFIG.yaml --out DIR``: a pipeline described in YAML (see :mod:`goose.config`).
* ``goose show DIR``: print a few tasks of a run readably.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import click
import pyarrow.parquet as pq

from goose.config import ConfigError, load_config
from goose.presets import offline_pipeline, sample_corpus_path
from goose.runner import REJECTS_FILE, TASKS_FILE, run_to_directory


@click.group()
@click.version_option(package_name="goose-rlvr")
def main() -> None:
    """goose: turn reasoning text into verifiable multiple-choice tasks for RLVR."""


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--num-options", default=9, show_default=True, type=click.IntRange(2, 26), help="Options per task.")
@click.option("--seed", default=0, show_default=True, help="Run seed.")
def demo(out_dir: Path, num_options: int, seed: int) -> None:
    """Run the offline pipeline (no GPU, no API key, no download) on the sample corpus."""
    pipeline = offline_pipeline(num_options=num_options, seed=seed)
    _run_and_report(pipeline, sample_corpus_path(), out_dir)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
def run(config: Path, out_dir: Path) -> None:
    """Run the pipeline described in CONFIG (YAML)."""
    try:
        settings = load_config(config)
        pipeline = settings.build_pipeline(config.parent)
        inputs = settings.input_paths(config.parent)
        missing = [str(path) for path in inputs if not path.exists()]
        if missing:
            raise ConfigError(f"{config}: input file(s) not found: {', '.join(missing)}")
    except ConfigError as error:
        raise click.ClickException(str(error)) from error
    _run_and_report(pipeline, [str(path) for path in inputs], out_dir)


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


def _run_and_report(pipeline, source, out_dir: Path) -> None:
    try:
        result = run_to_directory(pipeline, source, out_dir, progress=True)
    finally:
        if pipeline.engine is not None:
            pipeline.engine.close()
    click.echo(result.summary())
    click.echo(f"wrote {out_dir / TASKS_FILE} ({result.tasks.num_rows} tasks) and {out_dir / REJECTS_FILE} "
               f"({result.rejects.num_rows} rejects); see them with 'goose show {out_dir}'")
    if not result.accounted:
        raise click.ClickException("rows in != tasks + rejects; this is a goose bug, please report it")


if __name__ == "__main__":  # pragma: no cover
    main()
