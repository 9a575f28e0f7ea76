"""``goose export RUN_DIR``: a run's tasks as train/validation files for verl, TRL or datasets.

    goose export out/run --format verl --val-fraction 0.05
    goose export out/run --format hf --by-domain --out data/goose-hf

The split is by task-id hash (the same every time); ``README.md`` beside the files is the
dataset card. See :mod:`goose.export.run` for the layout of each format and docs/training.md
for the training commands that read it.
"""

from __future__ import annotations

from pathlib import Path

import click

from goose.export.run import DEFAULT_VAL_FRACTION, FORMATS, ExportError, export_run


@click.command("export")
@click.argument("run_dir", type=click.Path())  # a str: a URL (s3://bucket/run) stays whole
@click.option("--format", "export_format", type=click.Choice(FORMATS), default="verl", show_default=True,
              help="verl: verl RL parquet files; trl: parquet files with a chat 'prompt' and 'answer' for "
                   "GRPOTrainer; hf: a datasets.DatasetDict (save_to_disk); jsonl: JSON Lines, GooseReason layout.")
@click.option("--val-fraction", default=DEFAULT_VAL_FRACTION, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="Share of tasks for validation, chosen by a hash of the task id (the same split every time).")
@click.option("--by-domain", is_flag=True, help="One subfolder per domain (math/train.parquet, ...).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Export folder [default: RUN_DIR/export]; an earlier goose export there is replaced.")
def export(run_dir: str, export_format: str, val_fraction: float, by_domain: bool, out_dir: Path | None) -> None:
    """Write the tasks of the run in RUN_DIR (a folder, or a URL with --out) as train/validation files with a dataset card."""
    try:
        result = export_run(run_dir, out_dir, format=export_format, val_fraction=val_fraction, by_domain=by_domain)
    except ExportError as error:
        raise click.ClickException(str(error)) from error
    for name, counts in result.files.items():
        click.echo(f"{result.out / name}: " + ", ".join(f"{split} {count}" for split, count in counts.items()))
    click.echo(f"wrote {result.card}")
