"""The example scripts run as a user would run them: as subprocesses, into fresh folders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from goose.export import VERL_SCHEMA, read_tasks

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_example(script: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


def test_compose_pipeline_writes_tasks_and_verl_files(tmp_path: Path) -> None:
    done = run_example("compose_pipeline.py", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("tasks.parquet", "tasks.jsonl", "verl_train.parquet"):
        assert (tmp_path / "out" / name).is_file(), f"{name} missing; output:\n{done.stdout}"
    assert read_tasks(tmp_path / "out" / "tasks.parquet").num_rows > 0


def test_preset_examples_write_valid_tasks_offline(tmp_path: Path) -> None:
    for script in ("cyber_from_html.py", "stem_from_qa.py"):
        out = tmp_path / script.removesuffix(".py")
        done = run_example(script, str(out))
        assert done.returncode == 0, done.stdout + done.stderr
        assert read_tasks(out / "tasks.parquet").num_rows > 0


def test_train_with_output_writes_verl_files_and_scores(tmp_path: Path) -> None:
    done = run_example("train_with_output.py", str(tmp_path / "train"))
    assert done.returncode == 0, done.stdout + done.stderr
    train = pq.read_table(tmp_path / "train" / "verl_train.parquet")
    val = pq.read_table(tmp_path / "train" / "verl_val.parquet")
    assert train.schema.equals(VERL_SCHEMA) and train.num_rows > 0 and val.num_rows > 0
    assert (tmp_path / "train" / "tasks.parquet").is_file()
    assert "TRL reward" in done.stdout and "1.0" in done.stdout and "0.0" in done.stdout


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_vllm_server_example_fails_cleanly_without_a_server(tmp_path: Path) -> None:
    base_url = f"http://127.0.0.1:{_closed_port()}/v1"
    done = run_example("vllm_server.py", "--base-url", base_url, "--model", "m", "--out", str(tmp_path / "v"),
                       timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert f"no OpenAI-compatible server answers at {base_url}" in done.stderr
    assert "vllm serve" in done.stderr
    assert not (tmp_path / "v" / "tasks.parquet").exists()
