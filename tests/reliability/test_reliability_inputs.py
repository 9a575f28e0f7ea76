"""Hostile inputs through the offline pipeline: the run completes and every row is accounted for.

Sources: the generated corpus as JSONL (unreadable lines included), as Parquet (with a
binary text column) and as Python rows; the same contract in every case (see
``conftest.check_run``), plus the fate of each case whose fate is known.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from bad_inputs import HUGE_BYTES, Case, sample_rows
from conftest import (
    check_expected_drops,
    check_run,
    jsonl_source_ids,
    prepared_passages,
    reasons_by_id,
)

import goose
from goose.operators import PrepareText, QualityFilter
from goose.pipeline.sources import read_batches
from goose.runner import REJECTS_FILE, SUMMARY_FILE, TASKS_FILE, run_to_directory

# Parquet holds undecodable text as bytes, so PrepareText (not the reader) refuses it.
PARQUET_MOVED = {
    "invalid-utf8": ("PrepareText", ("invalid_utf8",)),
    "binary-line": ("PrepareText", ("invalid_utf8",)),
}


@pytest.fixture(scope="module")
def passages(cases: list[Case]) -> dict[str, str]:
    return prepared_passages(cases)


@pytest.fixture(scope="module")
def offline_run(jsonl_corpus) -> goose.PipelineResult:
    return goose.offline_pipeline().run(jsonl_corpus)


@pytest.mark.parametrize("batch_size", [1, 64])
def test_offline_pipeline_on_bad_jsonl(jsonl_corpus, cases, passages, batch_size, offline_run):
    """Batches of one row: each case alone in its batch (a row without a text key used to crash PrepareText)."""
    result = offline_run if batch_size == 64 else goose.offline_pipeline(batch_size=batch_size).run(jsonl_corpus)
    ids = jsonl_source_ids(jsonl_corpus, cases)
    tasks = check_run(result, list(ids.values()), passages)
    check_expected_drops(result, cases, ids)
    if batch_size == 64:  # the batch is the pool of corpus distractors: one passage alone gets too few
        assert len(tasks) >= 5


def test_offline_pipeline_on_bad_parquet(parquet_corpus, cases, passages):
    assert pq.ParquetFile(parquet_corpus).metadata.num_row_groups > 1
    result = goose.offline_pipeline(batch_size=16).run(parquet_corpus)
    ids = {case.id: case.id for case in cases if case.row is not None or case.id in PARQUET_MOVED}
    check_run(result, list(ids.values()), passages)
    check_expected_drops(result, [c for c in cases if c.id in ids], ids, moved=PARQUET_MOVED)


def test_offline_pipeline_on_python_rows_with_bytes_and_surrogates(cases, passages):
    """A list of dicts may hold what no file can: raw bytes and lone surrogates."""
    rows = [case.row for case in cases if case.row is not None and case.id != "huge"]
    rows += [
        {"id": "raw-bytes", "text": b"caf\xe9 \xff\xfe"},
        {"id": "utf8-bytes", "text": b"Bytes that are fine UTF-8. " * 3},
        {"id": "surrogate", "text": "a lone \ud800 surrogate"},
        {"id": "surrogate-in-list", "text": "ok", "tags": ["fine", "bad \udfff"]},
        "not a dict",
    ]
    result = goose.offline_pipeline(batch_size=16).run(rows)
    unreadable = {i for i, row in enumerate(rows) if not isinstance(row, dict) or row["id"] in ("raw-bytes", "surrogate", "surrogate-in-list")}
    expected = [f"row:{i}" if i in unreadable else row["id"] for i, row in enumerate(rows)]
    check_run(result, expected, passages)
    rejects = reasons_by_id(result)
    assert [rejects[f"row:{i}"] for i in sorted(unreadable)] == [("read", "invalid_utf8")] * 3 + [("read", "not_an_object")]
    assert "utf8-bytes" not in rejects or rejects["utf8-bytes"][0] != "read"


def test_the_20_mb_document_is_refused_before_any_work(offline_run):
    """Size limits reject it first, and its reject record stays small."""
    result = offline_run
    (huge,) = [r for r in result.rejects.to_pylist() if r["source_id"] == "huge"]
    assert (huge["operator"], huge["reason"]) == ("PrepareText", "too_long")
    assert str(HUGE_BYTES) in huge["detail"] and len(huge["record"]) < 2_000
    prepare = next(step for step in result.stats if step.name == "PrepareText")
    assert prepare.seconds < 5  # refused by its length, not cleaned first


def test_binary_text_is_refused_but_a_stray_replacement_character_is_not():
    passage = sample_rows()[0]["text"]
    rows = [{"id": "one-bad-char", "text": passage.replace(" ", " \ufffd ", 1)},
            {"id": "latin1-binary", "text": bytes(range(256)).decode("latin-1") * 4 + passage}]
    result = goose.Pipeline([PrepareText(), QualityFilter()]).run(rows)
    assert result.tasks["source_id"].to_pylist() == ["one-bad-char"]
    assert reasons_by_id(result) == {"latin1-binary": ("QualityFilter", "binary_text")}


def test_run_to_directory_writes_every_row(tmp_path, jsonl_corpus, cases, passages):
    out = tmp_path / "run"
    result = run_to_directory(goose.offline_pipeline(batch_size=8), jsonl_corpus, out, progress=False)
    ids = jsonl_source_ids(jsonl_corpus, cases)
    check_run(result, list(ids.values()), passages)
    tasks, rejects = pq.read_table(out / TASKS_FILE), pq.read_table(out / REJECTS_FILE)
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert tasks.num_rows + rejects.num_rows == summary["rows_in"] + summary["rows_added"] and summary["rows_in"] == len(ids)
    assert summary["accounted"] and summary["tasks"] == tasks.num_rows and summary["rejects"] == rejects.num_rows
    goose.table_to_tasks(tasks)


# --- the reader alone ------------------------------------------------------------------------


def _jsonl(tmp_path, *lines: bytes):
    path = tmp_path / "input.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _row(i: int) -> bytes:
    return json.dumps({"id": f"r{i}", "text": f"Row {i} says hello."}).encode()


def test_a_byte_order_mark_does_not_cost_the_first_row(tmp_path):
    path = _jsonl(tmp_path, b"\xef\xbb\xbf" + _row(0), _row(1))
    (batch,) = read_batches(path, 8)
    assert batch.table["id"].to_pylist() == ["r0", "r1"] and not batch.drops


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_unreadable_lines_after_the_last_full_batch_join_it(tmp_path, batch_size):
    """Trailing bad lines used to come as a batch without columns, which crashed the first step."""
    path = _jsonl(tmp_path, _row(0), _row(1), _row(2), b"not json", b"\xff\xfe")
    batches = list(read_batches(path, batch_size))
    assert all(batch.table.num_rows for batch in batches)
    assert sum(batch.table.num_rows + len(batch.drops) for batch in batches) == 5
    result = goose.offline_pipeline(batch_size=batch_size).run(path)
    assert result.accounted and result.rows_in == 5
    assert sorted(reasons_by_id(result)) == ["input.jsonl:4", "input.jsonl:5", "r0", "r1", "r2"]


def test_deeply_nested_json_line_is_an_invalid_json_row(tmp_path):
    path = _jsonl(tmp_path, b"[" * 200_000 + b"]" * 200_000, _row(0))
    (batch,) = read_batches(path, 8)
    assert [(drop.source_id, drop.reason) for drop in batch.drops] == [("input.jsonl:1", "invalid_json")]


def test_a_file_with_no_readable_row_is_all_rejects(tmp_path):
    path = _jsonl(tmp_path, b"not json", b"\xff\xfe", b"[1, 2]")
    result = goose.offline_pipeline().run(path)
    assert result.accounted and result.rows_in == 3 and result.rejects.num_rows == 3


def test_a_file_with_no_readable_row_is_all_rejects_whatever_the_first_step(tmp_path):
    path = _jsonl(tmp_path, b"not json", b"\xff\xfe", b"[1, 2]")
    result = goose.Pipeline([QualityFilter()]).run(path)
    assert result.accounted and result.rows_in == 3 and result.rejects.num_rows == 3
