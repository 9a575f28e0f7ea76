"""goose export: deterministic id-hash split, every format readable back, the card, one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import goose
from goose.cli.export import export
from goose.export import VERL_SCHEMA, read_tasks, split_by_id
from goose.runner import run_to_directory
from goose.schema import tasks_to_table


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    run_to_directory(goose.offline_pipeline(), goose.sample_corpus_path(), out, progress=False)
    return out


def _invoke(*args: str):
    return CliRunner().invoke(export, [str(a) for a in args])


def _ids(table: pa.Table) -> list[str]:
    return sorted(table.column("id").to_pylist())


def test_split_is_by_id_hash_whatever_the_row_order(run_dir) -> None:
    tasks = read_tasks(run_dir / "tasks.parquet")
    train, validation = split_by_id(tasks, 0.3)
    assert train.num_rows + validation.num_rows == tasks.num_rows and validation.num_rows > 0
    shuffled = tasks.take(pa.array(list(reversed(range(tasks.num_rows)))))
    train2, validation2 = split_by_id(shuffled, 0.3)
    assert _ids(validation2) == _ids(validation) and _ids(train2) == _ids(train)
    subset = split_by_id(tasks.slice(0, 10), 0.3)[1]  # other tasks do not move a task's side
    assert set(_ids(subset)) <= set(_ids(validation))
    assert split_by_id(tasks, 0.0)[1].num_rows == 0


def test_verl_export_is_deterministic_and_readable(run_dir, tmp_path) -> None:
    first = _invoke(run_dir, "--format", "verl", "--val-fraction", "0.3", "--out", tmp_path / "a")
    second = _invoke(run_dir, "--format", "verl", "--val-fraction", "0.3", "--out", tmp_path / "b")
    assert first.exit_code == second.exit_code == 0, first.output
    for name in ("train.parquet", "validation.parquet", "README.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    train = pq.read_table(tmp_path / "a" / "train.parquet")
    validation = pq.read_table(tmp_path / "a" / "validation.parquet")
    assert train.schema == VERL_SCHEMA
    assert {row["split"] for row in validation.column("extra_info").to_pylist()} == {"validation"}
    _, expected = split_by_id(read_tasks(run_dir / "tasks.parquet"), 0.3)
    assert sorted(row["id"] for row in validation.column("extra_info").to_pylist()) == _ids(expected)
    again = _invoke(run_dir, "--format", "verl", "--val-fraction", "0.3", "--out", tmp_path / "a")  # replaces its own export
    assert again.exit_code == 0, again.output


def test_trl_export_loads_with_datasets_from_the_folder(run_dir, tmp_path) -> None:
    assert _invoke(run_dir, "--format", "trl", "--val-fraction", "0.3", "--out", tmp_path / "trl").exit_code == 0
    loaded = datasets.load_dataset(str(tmp_path / "trl"), cache_dir=str(tmp_path / "cache"))
    tasks = read_tasks(run_dir / "tasks.parquet")
    assert loaded["train"].num_rows + loaded["validation"].num_rows == tasks.num_rows
    assert loaded["train"].column_names == ["prompt", "answer", "id", "domain"]
    assert loaded["train"][0]["prompt"][0]["role"] == "user"


def test_hf_export_is_a_dataset_dict_per_domain(run_dir, tmp_path) -> None:
    result = _invoke(run_dir, "--format", "hf", "--by-domain", "--val-fraction", "0.3", "--out", tmp_path / "hf")
    assert result.exit_code == 0, result.output
    tasks = read_tasks(run_dir / "tasks.parquet")
    domains = sorted(set(tasks.column("domain").to_pylist()))
    total = 0
    for domain in domains:
        loaded = datasets.load_from_disk(str(tmp_path / "hf" / domain))
        assert isinstance(loaded, datasets.DatasetDict) and "train" in loaded
        assert set().union(*(set(split["domain"]) for split in loaded.values())) == {domain}
        assert loaded["train"].column_names[:3] == ["question", "options", "answer"]
        total += sum(split.num_rows for split in loaded.values())
    assert total == tasks.num_rows


def test_jsonl_export_reads_back_as_tasks(run_dir, tmp_path) -> None:
    assert _invoke(run_dir, "--format", "jsonl", "--val-fraction", "0.3", "--out", tmp_path / "j").exit_code == 0
    train, validation = read_tasks(tmp_path / "j" / "train.jsonl"), read_tasks(tmp_path / "j" / "validation.jsonl")
    expected_train, expected_validation = split_by_id(read_tasks(run_dir / "tasks.parquet"), 0.3)
    assert train.equals(expected_train) and validation.equals(expected_validation)


def test_card_has_schema_counts_how_made_and_verifier(run_dir, tmp_path) -> None:
    assert _invoke(run_dir, "--format", "verl", "--val-fraction", "0.3", "--out", tmp_path / "v").exit_code == 0
    card = (tmp_path / "v" / "README.md").read_text(encoding="utf-8")
    tasks = read_tasks(run_dir / "tasks.parquet")
    train, validation = split_by_id(tasks, 0.3)
    for heading in ("## Schema", "## Counts per domain", "## Counts per source", "## How it was made", "## Verifier"):
        assert heading in card
    assert "| `reward_model` |" in card and "pkg://goose.export.verl" in card
    assert f"| **all** | {train.num_rows} | {validation.num_rows} | {tasks.num_rows} |" in card
    for domain in set(tasks.column("domain").to_pylist()):
        n_train = train.column("domain").to_pylist().count(domain)
        n_val = validation.column("domain").to_pylist().count(domain)
        assert f"| {domain} | {n_train} | {n_val} | {n_train + n_val} |" in card
    assert "offline (goose heuristics, no LLM)" in card and "`sample_corpus.jsonl`" in card
    assert "seed 0" in card and "below 0.3" in card
    assert card.startswith("---\n") and "config_name" in card


@pytest.mark.parametrize("case", ["missing", "no_tasks_file", "unfinished", "empty", "not_ours"])
def test_errors_are_one_line(run_dir, tmp_path, case) -> None:
    target = tmp_path / "run"
    out = tmp_path / "out"
    if case == "no_tasks_file":
        target.mkdir()
    elif case == "unfinished":
        (target / "shards").mkdir(parents=True)
        (target / "shards" / "000000.done.json").write_text("{}")
    elif case == "empty":
        target.mkdir()
        pq.write_table(tasks_to_table([]), target / "tasks.parquet")
    elif case == "not_ours":
        shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns("export"))
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    result = _invoke(target, "--out", out)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output, result.output
    expected = {"missing": "not found", "no_tasks_file": "has no tasks.parquet", "unfinished": "has not finished",
                "empty": "holds no tasks", "not_ours": "not empty"}[case]
    assert expected in lines[0]
    if case == "not_ours":
        assert (out / "notes.txt").read_text() == "mine"


def test_default_out_is_run_dir_export_and_marker_lists_files(run_dir) -> None:
    result = _invoke(run_dir, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    marker = json.loads((run_dir / "export" / ".goose-export.json").read_text())
    assert marker["format"] == "jsonl" and "train.jsonl" in marker["files"]
