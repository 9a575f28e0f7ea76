"""The output of ``run_to_directory``: shards, the streamed merge, ``merge=False``, and the
lazy :class:`goose.runner.RunOutput` handle.

The merged files are checked against the shard files read back independently (one
``pyarrow.concat_tables`` of every shard), a run without the merge against a run with it,
and the handle's laziness by damaging the shard files after the run: counts still come from
the markers, reading the tasks then fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import goose
from goose.cli.main import main
from goose.export.run import export_run, load_run_tasks
from goose.report import report_metrics, write_report
from goose.runner import MERGE_ROW_GROUP_ROWS, REJECTS_FILE, SUMMARY_FILE, TASKS_FILE, RunOutput, run_to_directory
from goose.schema import REJECT_SCHEMA

BATCH = 8


def pipeline() -> goose.Pipeline:
    return goose.offline_pipeline(num_options=4, batch_size=BATCH)


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("merged")
    run_to_directory(pipeline(), goose.sample_corpus_path(), out, progress=False)
    return out


@pytest.fixture(scope="module")
def shards_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shards-only")
    run_to_directory(pipeline(), goose.sample_corpus_path(), out, progress=False, merge=False)
    return out


def shard_tables(out: Path, part: str) -> list[pa.Table]:
    return [pq.read_table(path) for path in sorted((out / "shards").glob(f"*.{part}.parquet"))]


def test_merged_files_hold_every_shard_in_batch_order(merged: Path) -> None:
    tasks = pq.read_table(merged / TASKS_FILE)
    by_hand = pa.concat_tables([t for t in shard_tables(merged, "tasks") if t.num_rows], promote_options="permissive")
    assert tasks.num_rows == by_hand.num_rows > 0
    assert tasks.equals(by_hand.select(tasks.column_names).cast(tasks.schema))
    rejects = pq.read_table(merged / REJECTS_FILE)
    assert rejects.equals(pa.concat_tables([t.cast(REJECT_SCHEMA) for t in shard_tables(merged, "rejects")]))
    summary = json.loads((merged / SUMMARY_FILE).read_text())
    assert (summary["tasks"], summary["rejects"], summary["merged"]) == (tasks.num_rows, rejects.num_rows, True)


def test_the_merged_file_has_few_row_groups(merged: Path) -> None:
    """Shards are gathered into row groups of MERGE_ROW_GROUP_ROWS rows, not one per batch."""
    metadata = pq.ParquetFile(merged / TASKS_FILE).metadata
    assert metadata.num_rows > 2 * BATCH
    assert metadata.num_row_groups == -(-metadata.num_rows // MERGE_ROW_GROUP_ROWS)


def test_no_merge_leaves_shards_only_with_the_same_tasks_and_summary(merged: Path, shards_only: Path) -> None:
    names = {path.name for path in shards_only.iterdir() if not path.name.startswith(".")}
    assert names == {"manifest.json", "shards", "summary.json"}
    output = RunOutput.open(shards_only)
    assert not output.merged and output.accounted
    assert output.tasks.equals(pq.read_table(merged / TASKS_FILE))
    assert output.rejects.equals(pq.read_table(merged / REJECTS_FILE))
    with_merge, without = (json.loads((folder / SUMMARY_FILE).read_text()) for folder in (merged, shards_only))
    steps = lambda summary: [{**step, "seconds": 0} for step in summary.pop("steps")]  # noqa: E731
    assert steps(with_merge) == steps(without)
    assert {**with_merge, "merged": False} == without  # the audit too, computed from the shards


def test_report_and_export_read_a_run_without_merge(merged: Path, shards_only: Path, tmp_path: Path) -> None:
    def timeless(folder: Path) -> dict:
        metrics = report_metrics(folder)
        return {**metrics, "stages": [{**stage, "seconds": 0} for stage in metrics.pop("stages")]}

    assert timeless(shards_only) == timeless(merged)
    assert "Shortcut audit" in write_report(shards_only).read_text(encoding="utf-8")
    assert load_run_tasks(shards_only).equals(load_run_tasks(merged))
    assert export_run(shards_only, tmp_path / "a").files == export_run(merged, tmp_path / "b").files


def test_a_run_without_merge_removes_the_files_of_an_earlier_merge(tmp_path: Path) -> None:
    run_to_directory(pipeline(), goose.sample_corpus_path(), tmp_path, progress=False)
    output = run_to_directory(pipeline(), goose.sample_corpus_path(), tmp_path, progress=False, merge=False)
    assert not (tmp_path / TASKS_FILE).exists() and not (tmp_path / REJECTS_FILE).exists()
    assert output.task_rows == output.tasks.num_rows > 0
    again = run_to_directory(pipeline(), goose.sample_corpus_path(), tmp_path, progress=False)  # merge once more
    assert again.merged and again.tasks.equals(output.tasks)


def test_the_handle_reads_nothing_until_asked(tmp_path: Path) -> None:
    output = run_to_directory(pipeline(), goose.sample_corpus_path(), tmp_path, progress=False, merge=False)
    expected = (output.task_rows, output.reject_rows, output.summary())
    for path in (tmp_path / "shards").glob("*.parquet"):
        path.write_bytes(b"not parquet")  # every shard file damaged: only reading them can fail
    reopened = RunOutput.open(tmp_path)
    assert (reopened.task_rows, reopened.reject_rows, reopened.summary()) == expected
    assert reopened.accounted
    with pytest.raises(pa.ArrowInvalid):
        reopened.tasks  # noqa: B018 - reading is what is tested


def test_iter_tasks_gives_bounded_batches_of_the_asked_columns(merged: Path, shards_only: Path) -> None:
    for folder in (merged, shards_only):
        batches = list(RunOutput.open(folder).iter_tasks(["id", "answer", "no_such_column"], batch_rows=5))
        assert all(batch.num_rows <= 5 for batch in batches)
        assert {tuple(sorted(batch.schema.names)) for batch in batches} == {("answer", "id")}  # in file order
        assert sum(batch.num_rows for batch in batches) == pq.read_metadata(merged / TASKS_FILE).num_rows


def test_cli_no_merge_flag(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(f"input: {goose.sample_corpus_path()}\nbatch_size: {BATCH}\noperators:\n  - PrepareText: {{}}\n",
                      encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "out"), "--no-merge"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out" / TASKS_FILE).exists() and (tmp_path / "out" / "report.html").exists()
    said = " ".join(result.output.split())
    assert f"wrote 48 tasks and 0 rejects to {tmp_path / 'out' / 'shards'} (not merged: --no-merge)" in said
    assert said.count(str(tmp_path / "out" / "shards")) == 1  # said once, not once for tasks and once for rejects
