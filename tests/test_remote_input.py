"""Input from where corpora live: object storage, compressed shards, globs, folders and
``datasets`` datasets, read through fsspec, with every row accounted for.

The S3 tests talk to a real S3-compatible server (moto's server mode, on a free port of
127.0.0.1) through s3fs, as a run on AWS would; nothing of fsspec is replaced. Credentials
are the dummy ones moto takes, set as the usual AWS environment variables.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import goose
from goose.cli.main import main
from goose.operators import PrepareText
from goose.pipeline.sources import (
    DatasetInput,
    FileInput,
    InputError,
    Limited,
    check_input,
    count_rows,
    read_batches,
)
from goose.runner import RunFolderError, input_identity, run_to_directory
from s3_server import moto_s3

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

ROWS = [json.loads(line) for line in goose.sample_corpus_path().read_text(encoding="utf-8").splitlines() if line]
BATCH = 16
LIGHT = "operators:\n  - PrepareText: {}\n"
"""A quick pipeline for tests about reading, not about the tasks."""


@pytest.fixture(scope="module")
def s3():
    """(endpoint URL, s3fs filesystem) of a moto S3 server holding bucket ``corpus`` with
    ``parquet/`` (three Parquet shards of the sample corpus) and ``jsonl/`` (two .jsonl.gz shards)."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        with moto_s3() as url:
            fs = s3fs.S3FileSystem(endpoint_url=url, skip_instance_cache=True)
            fs.mkdir("corpus")
            for number, start in enumerate(range(0, len(ROWS), 20)):
                with fs.open(f"corpus/parquet/part-{number:05d}.parquet", "wb") as handle:
                    pq.write_table(pa.Table.from_pylist(ROWS[start:start + 20]), handle)
            for number, start in enumerate(range(0, len(ROWS), 30)):
                fs.pipe(f"corpus/jsonl/shard-{number}.jsonl.gz", gzip.compress(jsonl(ROWS[start:start + 30])))
            yield url, fs


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def goose_run(tmp_path: Path, input_yaml: str, body: str = "preset: offline\n", *args: str, out: str = "out"):
    config = tmp_path / "run.yaml"
    config.write_text(f"input: {input_yaml}\nbatch_size: {BATCH}\n{body}", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / out), *args])
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / out / "summary.json").read_text())


def tasks(folder: Path) -> list[dict]:
    return pq.read_table(folder / "tasks.parquet").to_pylist()


def local_parquet_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "parquet"
    folder.mkdir()
    for number, start in enumerate(range(0, len(ROWS), 20)):
        pq.write_table(pa.Table.from_pylist(ROWS[start:start + 20]), folder / f"part-{number:05d}.parquet")
    return folder


# -- S3 ------------------------------------------------------------------------------------


def test_goose_run_on_a_parquet_folder_in_s3_equals_the_same_files_read_locally(s3, tmp_path) -> None:
    url, _ = s3
    remote = goose_run(tmp_path, f"{{path: 's3://corpus/parquet/', storage_options: {{endpoint_url: '{url}'}}}}",
                       out="remote")
    local_parquet_folder(tmp_path)
    goose_run(tmp_path, "parquet", out="local")
    assert remote["rows_in"] == len(ROWS) and remote["accounted"]
    assert remote["rows_in"] + remote["rows_added"] == remote["tasks"] + remote["rejects"]
    assert remote["tasks"] > 0 and tasks(tmp_path / "remote") == tasks(tmp_path / "local")
    manifest = json.loads((tmp_path / "remote" / "manifest.json").read_text())
    files = manifest["fingerprint"]["input"]["files"]
    assert [file["path"] for file in files] == [f"s3://corpus/parquet/part-{n:05d}.parquet" for n in range(3)]
    assert all(file["version"] and file["bytes"] for file in files)  # ETags and sizes, not a read of the rows
    assert "storage_options" not in json.dumps(manifest)


def test_jsonl_gz_shards_in_s3_are_read_line_by_line(s3) -> None:
    url, _ = s3
    source = FileInput(path="s3://corpus/jsonl/*.jsonl.gz", storage_options={"endpoint_url": url})
    batches = list(read_batches(source, BATCH))
    assert sum(batch.table.num_rows for batch in batches) == len(ROWS)
    assert [row["id"] for batch in batches for row in batch.table.to_pylist()] == [row["id"] for row in ROWS]


def test_a_changed_object_in_s3_is_a_changed_input(s3, tmp_path) -> None:
    url, fs = s3
    fs.pipe("corpus/resume/a.jsonl", jsonl(ROWS[:20]))
    source = FileInput(path="s3://corpus/resume/", storage_options={"endpoint_url": url})
    pipeline = goose.Pipeline([PrepareText()], batch_size=BATCH)
    run_to_directory(pipeline, source, tmp_path, progress=False)
    run_to_directory(pipeline, source, tmp_path, progress=False)  # the same objects: resumed, not refused
    fs.pipe("corpus/resume/a.jsonl", jsonl(ROWS[:19]))
    with pytest.raises(RunFolderError, match=r"different input"):
        run_to_directory(pipeline, source, tmp_path, progress=False)


# -- local shards, compression, globs --------------------------------------------------------


def test_goose_run_on_a_glob_of_jsonl_gz_shards_with_a_bad_line(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl.gz").write_bytes(gzip.compress(jsonl(ROWS[:30])))
    (data / "b.jsonl.gz").write_bytes(gzip.compress(jsonl(ROWS[30:32]) + b"{not json\n" + jsonl(ROWS[32:])))
    (data / "notes.txt").write_text("not input", encoding="utf-8")
    summary = goose_run(tmp_path, "data/*.jsonl.gz", LIGHT)
    assert summary["rows_in"] == len(ROWS) + 1 and summary["accounted"]
    rejects = pq.read_table(tmp_path / "out" / "rejects.parquet").to_pylist()
    bad = [row for row in rejects if row["source_id"] == "b.jsonl.gz:3"]
    assert len(bad) == 1 and bad[0]["reason"] == "invalid_json"
    assert goose_run(tmp_path, "data", LIGHT, out="folder")["rows_in"] == len(ROWS) + 1  # the folder: its shards


def test_limit_reads_the_first_rows_and_is_part_of_the_fingerprint(tmp_path) -> None:
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(jsonl(ROWS[:10])))
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(b"[1]\n" + jsonl(ROWS[10:])))
    summary = goose_run(tmp_path, "'*.jsonl.gz'", LIGHT, "--limit", "11")
    assert summary["rows_in"] == 11 and summary["accounted"]  # ten rows of a, the unreadable first line of b
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["fingerprint"]["input"]["limit"] == 11
    config = tmp_path / "run.yaml"
    refused = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "out"), "--limit", "12"])
    assert refused.exit_code == 1 and "different input" in refused.output
    assert count_rows(Limited(pa.Table.from_pylist(ROWS), 5)) == 5
    assert [b.table.num_rows for b in read_batches(Limited(pa.Table.from_pylist(ROWS), 20), BATCH)] == [16, 4]


def test_a_zst_file_reads_like_the_plain_one(tmp_path) -> None:
    zstandard = pytest.importorskip("zstandard")
    (tmp_path / "a.jsonl").write_bytes(jsonl(ROWS))
    (tmp_path / "a.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(jsonl(ROWS)))
    plain = [batch.table for batch in read_batches(str(tmp_path / "a.jsonl"), BATCH)]
    packed = [batch.table for batch in read_batches(str(tmp_path / "a.jsonl.zst"), BATCH)]
    assert packed == plain


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda tmp: tmp / "*.jsonl", "matches no .parquet, .jsonl or .json file"),
        (lambda tmp: (tmp / "a.parquet.gz").write_bytes(b"x") and tmp / "a.parquet.gz", "Parquet compresses itself"),
        (lambda tmp: (tmp / "a.jsonl.gz").write_bytes(b"not gzip") and tmp / "a.jsonl.gz", "cannot be read after line"),
    ],
    ids=["empty-glob", "compressed-parquet", "corrupt-gzip"],
)
def test_inputs_that_cannot_be_read_are_one_line_errors(tmp_path, make, fragment) -> None:
    path = str(make(tmp_path))
    with pytest.raises(InputError, match=fragment):
        check_input(path)
        list(read_batches(path, BATCH))


# -- datasets datasets -------------------------------------------------------------------------


def test_goose_run_on_a_local_dataset_by_path_streamed_with_renamed_columns(tmp_path) -> None:
    corpus = tmp_path / "my_corpus"
    corpus.mkdir()
    renamed = [{"content": row["text"], "doc_id": row["id"], "domain": row["domain"]} for row in ROWS]
    (corpus / "train-0.jsonl").write_bytes(jsonl(renamed[:25]))
    (corpus / "train-1.jsonl").write_bytes(jsonl(renamed[25:]))
    body = "{dataset: my_corpus, split: train, streaming: true, columns: {text: content, id: doc_id}}"
    streamed = goose_run(tmp_path, body, LIGHT, out="streamed")
    assert streamed["rows_in"] == len(ROWS) and streamed["accounted"] and streamed["tasks"] > 0
    (tmp_path / "plain.jsonl").write_bytes(jsonl([{"id": r["id"], "text": r["text"], "domain": r["domain"]} for r in ROWS]))
    goose_run(tmp_path, "plain.jsonl", LIGHT, out="plain")
    assert tasks(tmp_path / "streamed") == tasks(tmp_path / "plain")
    identity = json.loads((tmp_path / "streamed" / "manifest.json").read_text())["fingerprint"]["input"]
    assert identity["kind"] == "dataset" and len(identity["files"]) == 2


def test_a_saved_dataset_and_a_stream_are_read_once(tmp_path) -> None:
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "saved"))
    source = DatasetInput(dataset=str(tmp_path / "saved"))
    assert [row["id"] for b in read_batches(source, BATCH) for row in b.table.to_pylist()] == [r["id"] for r in ROWS]
    with pytest.raises(InputError, match="save_to_disk"):
        check_input(str(tmp_path / "saved"))
    calls = []

    def generate():
        calls.append(1)
        yield from ROWS

    stream = datasets.IterableDataset.from_generator(generate)
    assert input_identity(stream, BATCH)["kind"] == "datasets-stream" and not calls  # no pass to fingerprint
    pipeline = goose.Pipeline([PrepareText()], batch_size=BATCH)
    result = run_to_directory(pipeline, stream, tmp_path / "out", progress=False)
    assert len(calls) == 1 and result.accounted


def test_a_dataset_that_cannot_be_loaded_is_a_one_line_error(tmp_path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.jsonl").write_bytes(jsonl(ROWS[:2]))
    with pytest.raises(InputError, match=r"cannot load dataset .* split 'nope'.*check the name"):
        check_input(DatasetInput(dataset=str(tmp_path / "c"), split="nope"))


def test_a_builder_with_data_files_relative_to_the_config_and_in_the_fingerprint(tmp_path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jsonl").write_bytes(jsonl(ROWS[:10]))
    body = "{dataset: json, data_files: {train: 'data/*.jsonl'}, streaming: true}"
    assert goose_run(tmp_path, body, LIGHT)["rows_in"] == 10
    identity = json.loads((tmp_path / "out" / "manifest.json").read_text())["fingerprint"]["input"]
    assert [Path(file["path"]).name for file in identity["files"]] == ["a.jsonl"]
    (tmp_path / "data" / "a.jsonl").write_bytes(jsonl(ROWS[:11]))
    refused = CliRunner().invoke(main, ["run", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "out")])
    assert refused.exit_code == 1 and "different input" in refused.output
