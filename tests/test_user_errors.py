"""User mistakes end in one line that names the problem and the fix, never in a traceback;
input that used to turn silently into wrong output becomes rejects with a reason.

Each mistake goes through the real ``goose`` command (click's runner; one child process
checks what a terminal sees, and that ``goose --debug`` does show the traceback). Engine
failures run against ``tests/openai_stub_server.py`` (a real HTTP server) or a closed port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from openai_stub_server import StubConfig, StubServer

import goose
import goose.engines
from goose.cli.main import main, safe

SAMPLE = [json.loads(line) for line in goose.sample_corpus_path().read_text(encoding="utf-8").splitlines() if line]
TEXT_STEPS = "operators:\n  - PrepareText: {}\n  - MinHashDedup: {}\n"
"""A quick pipeline (no task assembly) for mistakes that are about the input, not the steps."""


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def goose_run(tmp_path: Path, body: str, *args: str, out: Path | None = None):
    """``goose run`` on a config with ``body`` in ``tmp_path``, whose ``in.jsonl`` holds 4 sample rows."""
    if not (tmp_path / "in.jsonl").exists():
        write_jsonl(tmp_path / "in.jsonl", SAMPLE[:4])
    config = tmp_path / "run.yaml"
    config.write_text(body, encoding="utf-8")
    return CliRunner().invoke(main, ["run", str(config), "--out", str(out or tmp_path / "out"), *args])


def assert_one_line_error(result, *fragments: str) -> str:
    """Exit code 1, no traceback, and one ``Error:`` line holding every fragment."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, (KeyError, TypeError, AttributeError))
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


# -- mistakes in the input, the config and the command --------------------------------------


def _folder(tmp: Path) -> str:
    (tmp / "data").mkdir()
    return "data"


def _csv(tmp: Path) -> str:
    (tmp / "in.csv").write_text("id,text\n1,hello\n", encoding="utf-8")
    return "in.csv"


def _empty_parquet(tmp: Path) -> str:
    (tmp / "in.parquet").write_bytes(b"")
    return "in.parquet"


def _not_parquet(tmp: Path) -> str:
    (tmp / "in.parquet").write_text('{"text": "a JSON line in a .parquet file"}\n', encoding="utf-8")
    return "in.parquet"


@pytest.mark.parametrize(
    ("make_input", "fragments"),
    [
        (_folder, ["is a folder without .parquet, .jsonl or .json files", "put the files there"]),
        (_csv, ["cannot read", ".parquet, .jsonl or .json", "convert it"]),
        (_empty_parquet, ["is empty (0 bytes)"]),
        (_not_parquet, ["not a readable Parquet file", "use a .jsonl file"]),
    ],
    ids=["empty-folder", "csv", "empty-parquet", "not-parquet"],
)
def test_an_input_goose_cannot_read(tmp_path, make_input, fragments) -> None:
    name = make_input(tmp_path)
    assert_one_line_error(goose_run(tmp_path, f"input: {name}\n{TEXT_STEPS}"), *fragments)
    assert not (tmp_path / "out" / "manifest.json").exists()  # refused before the run started


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ("operators:\n  - PrepareText: {text_column: body}\n", ["PrepareText needs column(s) ['body']", "rename"]),
        ("operators:\n  - PrepareText: {}\n  - AssembleTasks: {}\n  - HeuristicMaskSpan: {}\n  - CorpusDistractors: {}\n",
         ["wrong order", "move HeuristicMaskSpan before AssembleTasks"]),
        ("preset: math\nengine: {backend: openai, base_url: 'http://127.0.0.1:9/v1', model: m, options: {max_tokenz: 9}}\n",
         ["takes no option 'max_tokenz'", "json_mode"]),
        ("preset: math\nengine: {backend: local, options: {n_ctx: 512, n_ctx: 1024}}\n",
         ["key 'n_ctx' is given twice", "keep one"]),
        ("preset: math\nengine: {backend: openai, base_url: 'http://127.0.0.1:9/v1', model: m, options: {api_key: k}}\n",
         ["'api_key' is not an option", "api_key_env"]),
        ("preset: offline\npreset_options: {num_options: 1}\n", ["num_options", "greater than or equal to 2"]),
        ("preset: offline\nbatch_size: true\n", ["batch_size", "valid integer"]),
        ("operators: []\n", ["the list is empty", "preset: offline"]),
    ],
    ids=["missing-text-column", "wrong-order", "unknown-engine-option", "duplicate-engine-option",
         "engine-option-set-elsewhere", "preset-num-options-1", "batch-size-true", "no-operators"],
)
def test_a_config_mistake(tmp_path, body, fragments) -> None:
    assert_one_line_error(goose_run(tmp_path, "input: in.jsonl\n" + body), *fragments)


def test_an_engine_option_the_backend_takes_is_accepted() -> None:
    config = goose.engines.EngineConfig(backend="openai", base_url="http://h/v1", model="m", options={"json_mode": "none"})
    assert config.options == {"json_mode": "none"}


def test_an_out_folder_that_cannot_be_written(tmp_path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    result = goose_run(tmp_path, f"input: in.jsonl\n{TEXT_STEPS}", out=tmp_path / "a-file" / "out")
    assert_one_line_error(result, "cannot write to the output folder", "--out")
    demo = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "a-file" / "demo")])
    assert_one_line_error(demo, "cannot write to the output folder")


def test_show_on_a_run_without_tasks_or_without_a_run(tmp_path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"text": "  "}])
    ran = goose_run(tmp_path, "input: in.jsonl\npreset: offline\n")
    assert ran.exit_code == 0, ran.output
    assert_one_line_error(CliRunner().invoke(main, ["show", str(tmp_path / "out")]), "holds no tasks", "--rejects")
    assert CliRunner().invoke(main, ["show", str(tmp_path / "out"), "--rejects"]).exit_code == 0
    assert_one_line_error(CliRunner().invoke(main, ["show", str(tmp_path)]), "not found", "goose run")
    assert_one_line_error(CliRunner().invoke(main, ["show", str(tmp_path), "--rejects"]), "not found")
    plain = tmp_path / "plain"  # a run whose steps made no tasks (no AssembleTasks): rows, not tasks
    plain.mkdir()
    pq.write_table(pa.table({"text": ["a"]}), plain / "tasks.parquet")
    assert_one_line_error(CliRunner().invoke(main, ["show", str(plain)]), "no goose tasks", "AssembleTasks")


def test_a_terminal_sees_one_line_and_debug_shows_the_traceback(tmp_path) -> None:
    (tmp_path / "data").mkdir()
    config = tmp_path / "run.yaml"
    config.write_text(f"input: data\n{TEXT_STEPS}", encoding="utf-8")
    command = [sys.executable, "-m", "goose.cli.main", "run", str(config), "--out", str(tmp_path / "out")]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and plain.stdout == ""
    assert plain.stderr.strip().splitlines() == [f"Error: input {tmp_path / 'data'} is a folder without .parquet, "
                                                 ".jsonl or .json files; put the files there or name them (a path, "
                                                 "a glob or a list of paths in YAML)"]
    debug = subprocess.run([sys.executable, "-m", "goose.cli.main", "--debug", *command[3:]],
                           capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "InputError" in debug.stderr


# -- input that used to become wrong output silently -----------------------------------------


def test_list_valued_text_among_strings_is_rejected_as_not_text(tmp_path) -> None:
    rows = [dict(row) for row in SAMPLE[:12]]
    rows[1]["text"] = [rows[1]["text"], "and a second part"]
    rows[4]["text"] = 7
    write_jsonl(tmp_path / "in.jsonl", rows)
    ran = goose_run(tmp_path, "input: in.jsonl\npreset: offline\npreset_options: {num_options: 4}\n")
    assert ran.exit_code == 0, ran.output
    rejects = pq.read_table(tmp_path / "out" / "rejects.parquet").to_pylist()
    not_text = {row["source_id"]: row["detail"] for row in rejects if row["reason"] == "not_text"}
    assert not_text == {rows[1]["id"]: "'text' holds a list, not a string", rows[4]["id"]: "'text' holds a int, not a string"}
    tasks = pq.read_table(tmp_path / "out" / "tasks.parquet")
    assert tasks.num_rows and not any('["' in question for question in tasks.column("question").to_pylist())


def test_a_shared_id_rejects_the_later_rows_and_the_first_still_makes_tasks(tmp_path) -> None:
    rows = [dict(row) for row in SAMPLE[:16]]
    first = "math-006"  # a passage that makes a task in this corpus
    rows += [{**SAMPLE[20], "id": first}, {**SAMPLE[21], "id": first}]
    write_jsonl(tmp_path / "in.jsonl", rows)
    ran = goose_run(tmp_path, "input: in.jsonl\npreset: offline\npreset_options: {num_options: 4}\n")
    assert ran.exit_code == 0, ran.output
    rejects = pq.read_table(tmp_path / "out" / "rejects.parquet").to_pylist()
    duplicates = [row for row in rejects if row["reason"] == "duplicate_id"]
    assert [row["source_id"] for row in duplicates] == [first, first]
    assert "give every input row its own id" in duplicates[0]["detail"]
    assert first in pq.read_table(tmp_path / "out" / "tasks.parquet").column("source_id").to_pylist()


def test_a_json_file_holding_an_array_is_read_as_records(tmp_path) -> None:
    (tmp_path / "in.json").write_text(json.dumps([*SAMPLE[:5], "not an object"], indent=1), encoding="utf-8")
    ran = goose_run(tmp_path, f"input: in.json\n{TEXT_STEPS}")
    assert ran.exit_code == 0, ran.output
    assert pq.read_table(tmp_path / "out" / "tasks.parquet").column("source_id").to_pylist() == [
        row["id"] for row in SAMPLE[:5]]
    assert pq.read_table(tmp_path / "out" / "rejects.parquet").column("reason").to_pylist() == ["not_an_object"]
    (tmp_path / "broken.json").write_text('[{"text": "a"}, ', encoding="utf-8")
    assert_one_line_error(goose_run(tmp_path, f"input: broken.json\n{TEXT_STEPS}", out=tmp_path / "o2"),
                          "cannot be parsed", ".jsonl")


# -- engine failures at the run level ------------------------------------------------------

LLM_STEPS = """
operators:
  - PrepareText: {{}}
  - MaskReasoningSpan: {{}}
engine:
  backend: openai
  base_url: {url}
  model: stub
  api_key_env: GOOSE_TEST_KEY
  retry: {{max_attempts: 1, timeout: 5}}
"""


def test_a_run_where_every_row_failed_on_the_engine_exits_non_zero(tmp_path) -> None:
    result = goose_run(tmp_path, "input: in.jsonl\n" + LLM_STEPS.format(url="http://127.0.0.1:9/v1"))
    assert_one_line_error(result, "no tasks: 4 rows failed on the engine (engine_connection 4)", "--retry-failed")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["engine_failure_drops"] == {
        "engine_connection": 4}
    assert (tmp_path / "out" / "report.html").exists()


@pytest.fixture(scope="module")
def stub():
    with StubServer(StubConfig(api_key="right-key")) as server:
        yield server


def test_a_refused_api_key_is_one_line_and_the_fixed_run_uses_the_same_folder(tmp_path, stub, monkeypatch) -> None:
    monkeypatch.setenv("GOOSE_TEST_KEY", "wrong-key")
    body = "input: in.jsonl\n" + LLM_STEPS.format(url=stub.url)
    line = assert_one_line_error(goose_run(tmp_path, body), "check the API key")
    assert "wrong-key" not in line
    # The refused run finished no batch: a changed config may take the same folder.
    monkeypatch.setenv("GOOSE_TEST_KEY", "right-key")
    fixed = goose_run(tmp_path, body.replace("max_attempts: 1", "max_attempts: 2"))
    assert "holds another run" not in fixed.output and "check the API key" not in fixed.output
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["rows_in"] == 4


def test_the_engine_auth_error_of_any_backend_is_one_line(tmp_path, monkeypatch) -> None:
    """A back end (here a test double of the server) refusing the key stops the run with the
    engine's one-line EngineAuthError, whichever back end raised it."""
    from goose.engines import BackendError, EngineConfig
    from goose.engines.testing import ScriptedBackend

    monkeypatch.setattr(EngineConfig, "build_backend",
                        lambda self: ScriptedBackend(lambda request: BackendError("auth", "HTTP 403: forbidden")))
    result = goose_run(tmp_path, "input: in.jsonl\n" + LLM_STEPS.format(url="http://unused/v1"))
    assert_one_line_error(result, "Error: check the API key (HTTP 403: forbidden)")


# -- data on the terminal ------------------------------------------------------------------


def test_show_escapes_control_characters_from_the_data(tmp_path) -> None:
    rows = [dict(row) for row in SAMPLE[:12]]
    for row in rows:
        row["id"] = row["id"] + "\x1b[2J\x1b]0;pwned\x07"
        row["domain"] = "math\u202e"
    write_jsonl(tmp_path / "in.jsonl", rows)
    ran = goose_run(tmp_path, "input: in.jsonl\npreset: offline\npreset_options: {num_options: 4}\n")
    assert ran.exit_code == 0, ran.output
    shown = CliRunner().invoke(main, ["show", str(tmp_path / "out"), "-n", "50"])
    assert shown.exit_code == 0 and shown.output.count("answer:") >= 1
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in shown.output and "math\\u202e" in shown.output
    assert not any(ch in shown.output for ch in "\x1b\x07\u202e")
    assert "\x1b" not in ran.output


def test_safe_keeps_text_and_escapes_controls() -> None:
    assert safe("x = 1\n\ty", multiline=True) == "x = 1\n\ty"
    assert safe("a\rb\x9bc\u2066") == "a\\rb\\x9bc\\u2066"
    assert os.linesep not in safe("one\nline")
