"""Run folders on object storage: ``--out s3://bucket/run`` writes shards, markers, manifest,
summary and the merged files there, resumes after ``kill -9``, refuses another run, and is
read back by :class:`goose.runner.RunOutput`, ``goose show`` and ``goose export``.

A real S3-compatible server (moto's server mode on a free port of 127.0.0.1) is reached
through s3fs, as a run on AWS would be; nothing of fsspec is replaced. The kill test runs
``goose run`` in a child process and SIGKILLs it once its first batch's marker is in the bucket.
"""

from __future__ import annotations

import json
import signal
import sys

import fsspec.config
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from goose_child import child_environment, kill_when
from s3_server import moto_s3
from test_remote_input import ROWS

import goose
from goose.cli.main import main
from goose.export.run import load_run_tasks
from goose.pipeline.sources import FileInput
from goose.runner import RunFolderError, RunOutput, run_to_directory

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

BATCH = 8
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3():
    """(endpoint URL, s3fs filesystem) of a moto S3 server with an empty bucket ``runs`` and
    the sample corpus as Parquet shards under ``corpus/parquet/``."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in CREDENTIALS.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        with moto_s3() as url:
            fs = s3fs.S3FileSystem(endpoint_url=url, skip_instance_cache=True)
            fs.mkdir("runs")
            fs.mkdir("corpus")
            for number, start in enumerate(range(0, len(ROWS), 20)):
                with fs.open(f"corpus/parquet/part-{number:05d}.parquet", "wb") as handle:
                    pq.write_table(pa.Table.from_pylist(ROWS[start:start + 20]), handle)
            yield url, fs


def pipeline(seed: int = 0) -> goose.Pipeline:
    return goose.offline_pipeline(num_options=4, batch_size=BATCH, seed=seed)


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """The tasks of the run of the rows in memory, written to a local folder."""
    out = tmp_path_factory.mktemp("local-reference")
    return run_to_directory(pipeline(), ROWS, out, progress=False).tasks


@pytest.fixture(scope="module")
def local_files_reference(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """The tasks of the run of the corpus's Parquet shards (as in the bucket), read and written locally."""
    folder = tmp_path_factory.mktemp("local-files")
    for number, start in enumerate(range(0, len(ROWS), 20)):
        pq.write_table(pa.Table.from_pylist(ROWS[start:start + 20]), folder / f"part-{number:05d}.parquet")
    return run_to_directory(pipeline(), FileInput(path=str(folder)), folder / "out", progress=False).tasks


def objects(fs, prefix: str) -> list[str]:
    fs.invalidate_cache()
    return sorted(path.removeprefix(prefix + "/") for path in fs.find(prefix))


def test_a_run_to_s3_writes_the_run_folder_there_and_equals_a_local_run(s3, local_reference) -> None:
    url, fs = s3
    output = run_to_directory(pipeline(), ROWS, "s3://runs/a", progress=False, storage_options={"endpoint_url": url})
    assert output.accounted and output.task_rows == local_reference.num_rows > 0
    assert output.tasks.equals(local_reference)
    stored = objects(fs, "runs/a")
    assert {"manifest.json", "summary.json", "tasks.parquet", "rejects.parquet", "shards/000000.done.json"} <= set(stored)
    assert not [name for name in stored if name.endswith(".partial") or name.startswith(".goose")]
    with fs.open("runs/a/tasks.parquet", "rb") as handle:
        assert pq.read_table(handle).equals(local_reference)
    assert url not in fs.cat_file("runs/a/manifest.json").decode()  # storage options stay out of the manifest
    again = RunOutput.open("s3://runs/a", storage_options={"endpoint_url": url})
    assert again.merged and again.task_rows == output.task_rows and again.tasks.equals(local_reference)


def test_a_remote_folder_holding_another_run_is_refused(s3) -> None:
    url, _ = s3
    options = {"endpoint_url": url}
    run_to_directory(pipeline(), ROWS[:BATCH], "s3://runs/c", progress=False, storage_options=options)
    with pytest.raises(RunFolderError, match=r"s3://runs/c holds another run \(different seed\); use a new output"):
        run_to_directory(pipeline(seed=1), ROWS[:BATCH], "s3://runs/c", progress=False, storage_options=options)
    redone = run_to_directory(pipeline(seed=1), ROWS[:BATCH], "s3://runs/c", progress=False, storage_options=options,
                              overwrite=True)
    assert redone.accounted and redone.task_rows > 0


def test_no_merge_to_s3_is_read_back_by_run_output_show_and_export(s3, local_files_reference, tmp_path,
                                                                    monkeypatch) -> None:
    url, fs = s3
    config = tmp_path / "run.yaml"
    # The input is on the same protocol: its storage_options (the endpoint) serve the output too.
    config.write_text(f"input: {{path: 's3://corpus/parquet/', storage_options: {{endpoint_url: '{url}'}}}}\n"
                      f"batch_size: {BATCH}\npreset: offline\npreset_options: {{num_options: 4}}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(config), "--out", "s3://runs/d", "--no-merge"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "to s3://runs/d/shards (not merged: --no-merge)" in said and "no report.html for a remote --out" in said
    assert not fs.exists("runs/d/tasks.parquet") and fs.exists("runs/d/summary.json")
    output = RunOutput.open("s3://runs/d", storage_options={"endpoint_url": url})
    assert not output.merged and output.tasks.equals(local_files_reference)
    assert sum(batch.num_rows for batch in output.iter_tasks(["id"])) == local_files_reference.num_rows

    # Readers without options take fsspec's own configuration (here the endpoint, as FSSPEC_S3_ENDPOINT_URL sets it).
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": url})
    shown = CliRunner().invoke(main, ["show", "s3://runs/d", "-n", "2"])
    assert shown.exit_code == 0 and shown.output.count("answer:") == 2, shown.output
    assert load_run_tasks("s3://runs/d").num_rows == local_files_reference.num_rows
    exported = CliRunner().invoke(main, ["export", "s3://runs/d", "--format", "jsonl", "--out", str(tmp_path / "x")])
    assert exported.exit_code == 0 and (tmp_path / "x" / "train.jsonl").exists(), exported.output
    report = CliRunner().invoke(main, ["report", "s3://runs/d"])
    assert report.exit_code == 1 and "copy it to this machine" in report.output


# The child is ``goose run``; each marker it writes is followed by a pause, so the test can
# kill it between two batches (as a crash would) and not only after the run.
DRIVER = """
import sys, time
from goose.run_folder import RemoteFolder
write = RemoteFolder.write
def slow_write(self, name, writer):
    write(self, name, writer)
    if name.endswith(".done.json"):
        time.sleep(0.5)
RemoteFolder.write = slow_write
from goose.cli.main import main
main(sys.argv[1:], prog_name="goose")
"""


def test_kill_9_during_a_run_to_s3_then_the_same_command_resumes(s3, local_files_reference, tmp_path) -> None:
    url, fs = s3
    config = tmp_path / "run.yaml"
    config.write_text(f"input: {{path: 's3://corpus/parquet/', storage_options: {{endpoint_url: '{url}'}}}}\n"
                      f"batch_size: {BATCH}\npreset: offline\npreset_options: {{num_options: 4}}\n", encoding="utf-8")
    command = ["run", str(config), "--out", "s3://runs/b"]
    child = kill_when([sys.executable, "-c", DRIVER, *command],
                      lambda: bool(fs.invalidate_cache("runs/b/shards") or fs.exists("runs/b/shards/000000.done.json")),
                      what="its first marker", environment=child_environment(CREDENTIALS))
    assert child.returncode == -signal.SIGKILL
    stored = objects(fs, "runs/b")
    finished = [name for name in stored if name.endswith(".done.json")]
    assert "summary.json" not in stored and 1 <= len(finished) < len(ROWS) // BATCH

    result = CliRunner().invoke(main, command)  # the same command again
    assert result.exit_code == 0, result.output
    fs.invalidate_cache()  # this test's listing of the folder is older than the run
    summary = json.loads(fs.cat_file("runs/b/summary.json"))
    assert summary["resumed_batches"] == len(finished) and summary["accounted"]
    assert summary["rows_in"] == len(ROWS)
    with fs.open("runs/b/tasks.parquet", "rb") as handle:
        assert pq.read_table(handle).equals(local_files_reference)


def test_yaml_output_storage_options_reach_a_remote_out_for_a_local_input(s3, tmp_path) -> None:
    """A local input gives no options to share: ``output: {storage_options}`` names the endpoint."""
    url, fs = s3
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in ROWS[:BATCH]), encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(f"input: corpus.jsonl\noutput: {{storage_options: {{endpoint_url: '{url}'}}}}\n"
                      f"batch_size: {BATCH}\npreset: offline\npreset_options: {{num_options: 4}}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(config), "--out", "s3://runs/e"])
    assert result.exit_code == 0, result.output
    assert fs.exists("runs/e/summary.json")
    manifest = fs.cat_file("runs/e/manifest.json").decode("utf-8")
    assert url not in manifest  # options stay out of the run folder
