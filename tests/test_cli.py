"""The goose command: demo, run (YAML), show; the demo's promises."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import goose
from goose.cli.main import main
from goose.config import ConfigError, load_config


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_demo_writes_at_least_20_valid_tasks_and_accounts_for_every_row(demo_dir):
    tasks = pq.read_table(demo_dir / "tasks.parquet")
    rejects = pq.read_table(demo_dir / "rejects.parquet")
    assert tasks.num_rows >= 20
    validated = goose.table_to_tasks(tasks)
    assert all(len(task.options) == 9 for task in validated)
    summary = json.loads((demo_dir / "summary.json").read_text())
    corpus_rows = sum(1 for line in goose.sample_corpus_path().read_text().splitlines() if line.strip())
    assert summary["rows_in"] == corpus_rows  # rows added: the candidate spans of a passage, each a row
    assert summary["rows_in"] + summary["rows_added"] == tasks.num_rows + rejects.num_rows
    assert summary["accounted"] is True


def test_demo_output_starts_with_the_goosereason_columns(demo_dir):
    assert pq.read_schema(demo_dir / "tasks.parquet").names[:3] == ["question", "options", "answer"]


def test_demo_is_byte_identical_for_the_same_seed(demo_dir, tmp_path):
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tasks.parquet").read_bytes() == (demo_dir / "tasks.parquet").read_bytes()


def test_demo_with_another_seed_gives_other_tasks(demo_dir, tmp_path):
    CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--seed", "7"])
    assert (tmp_path / "tasks.parquet").read_bytes() != (demo_dir / "tasks.parquet").read_bytes()


def test_show_prints_tasks_and_rejects(demo_dir):
    shown = CliRunner().invoke(main, ["show", str(demo_dir), "-n", "2"])
    assert shown.exit_code == 0 and shown.output.count("answer:") == 2 and "[MASK]" in shown.output
    rejects = CliRunner().invoke(main, ["show", str(demo_dir), "--rejects"])
    assert rejects.exit_code == 0


def _write_config(tmp_path, body: str):
    corpus = tmp_path / "passages.jsonl"
    corpus.write_text(goose.sample_corpus_path().read_text(encoding="utf-8"), encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(body, encoding="utf-8")
    return config


def test_every_run_writes_a_report_and_goose_report_rewrites_it(demo_dir):
    page = (demo_dir / "report.html").read_text(encoding="utf-8")
    assert "48" in page and (demo_dir / "report" / "stages.png").exists()
    result = CliRunner().invoke(main, ["report", str(demo_dir), "--embed-figures"])
    assert result.exit_code == 0, result.output
    assert "data:image/png;base64," in (demo_dir / "report.html").read_text(encoding="utf-8")


def test_report_of_a_folder_without_a_run_says_what_to_do(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code != 0 and "goose" in result.output and "Traceback" not in result.output


def test_run_with_operators_from_yaml(tmp_path):
    config = _write_config(
        tmp_path,
        "input: passages.jsonl\nseed: 3\nbatch_size: 48\noperators:\n"
        "  - PrepareText: {}\n  - HeuristicMaskSpan: {max_units: 3}\n  - CorpusDistractors: {}\n"
        "  - FilterDistractors: {min_distractors: 4}\n  - AssembleTasks: {num_options: 5}\n",
    )
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    tasks = goose.table_to_tasks(pq.read_table(tmp_path / "out" / "tasks.parquet"))
    assert tasks and all(len(task.options) == 5 and task.lineage.seed == 3 for task in tasks)


def test_run_with_a_preset(tmp_path):
    config = _write_config(tmp_path, "input: passages.jsonl\npreset: offline\npreset_options: {num_options: 4}\n")
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "out" / "tasks.parquet").num_rows >= 20


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("input: passages.jsonl\npreset: offline\nbatchsize: 3\n", "batchsize"),
        ("input: passages.jsonl\noperators:\n  - PrepareTxt: {}\n", "unknown operator 'PrepareTxt'"),
        ("input: passages.jsonl\noperators:\n  - HeuristicMaskSpan: {max_unit: 3}\n", "max_unit"),
        ("input: passages.jsonl\noperators:\n  - AssembleTasks: {num_options: 40}\n", "num_options"),
        ("input: passages.jsonl\n", "either 'preset' or 'operators'"),
        ("input: passages.jsonl\npreset: nope\n", "unknown preset"),
        ("- just a list\n", "must hold a mapping"),
        ("input: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_problem(tmp_path, body, message):
    config = _write_config(tmp_path, body)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(config).build_pipeline()
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "Error" in result.output


def test_run_reports_a_missing_input_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("input: nowhere.jsonl\npreset: offline\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "nowhere.jsonl" in result.output


def test_demo_on_the_local_engine_runs_the_llm_chain_and_accounts_for_every_row(tmp_path):
    """The real local CPU model (SmolLM2-135M); its answers are weak, so rows may all be
    rejected: the test checks the path, the accounting and the LLM-call report."""
    args = ["demo", "--engine", "local", "--out", str(tmp_path), "--limit", "2", "--max-tokens", "24"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accounted"] and summary["rows_in"] == 2
    assert summary["engines"]["main"]["backend"] == "llama-cpp" and summary["engines"]["main"]["requests"] >= 2
    assert "MaskReasoningSpan" in result.output and "LLM calls" in result.output
    rerun = CliRunner().invoke(main, args)  # the response cache answers everything the first run asked
    assert rerun.exit_code == 0 and json.loads((tmp_path / "summary.json").read_text())["engines"]["main"]["requests"] == 0


def test_shipped_yaml_examples_are_valid():
    from pathlib import Path

    examples = sorted((Path(__file__).parents[1] / "examples").glob("*.yaml"))
    assert examples
    for path in examples:
        settings = load_config(path)
        assert all(p.exists() for p in settings.input_paths(path.parent)), path


def test_log_level_info_logs_each_finished_batch(tmp_path):
    result = CliRunner().invoke(main, ["--log-level", "info", "demo", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "INFO goose.runner: batch 0 written: 48 rows in" in result.output
    quiet = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "run")])  # resumes: nothing to run
    assert quiet.exit_code == 0 and "INFO" not in quiet.output


def test_show_reads_a_run_written_without_merge(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(f"input: {goose.sample_corpus_path()}\npreset: offline\n", encoding="utf-8")
    ran = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "run"), "--no-merge"])
    assert ran.exit_code == 0, ran.output
    assert not (tmp_path / "run" / "tasks.parquet").exists()
    shown = CliRunner().invoke(main, ["show", str(tmp_path / "run"), "-n", "1"])
    assert shown.exit_code == 0 and shown.output.startswith("── goose-"), shown.output
    rejects = CliRunner().invoke(main, ["show", str(tmp_path / "run"), "--rejects"])
    assert rejects.exit_code == 0 and "shortcut:" in rejects.output, rejects.output
