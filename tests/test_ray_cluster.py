"""The Ray executor on a real two-node Ray cluster started here (``ray.cluster_utils.Cluster``:
a head and a worker node, one CPU each, so the stages' actors spread over both): the same
outcomes as the local executor; ``goose run --executor ray`` with an engine the workers build
from the config (an OpenAI-compatible HTTP server); a driver killed with ``kill -9`` and
run again gives the local run's output. (goose on Ray with a vLLM engine: tests/engine_vllm/test_ray_vllm.py.)"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray", reason="the Ray executor needs the 'ray' extra: pip install 'goose-rlvr[ray]'")
pytest.importorskip("ray.data", reason="the Ray executor needs Ray Data: pip install 'ray[data]'")
from ray.cluster_utils import Cluster  # noqa: E402

import goose  # noqa: E402
from goose.cli.main import main  # noqa: E402
from goose.executors import LocalExecutor  # noqa: E402
from goose.executors.ray_data import RayExecutor  # noqa: E402
from goose.pipeline import read_batches  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from goose_child import LLM_CHAIN, goose_command, kill_when  # noqa: E402
from openai_stub_server import StubConfig, StubServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Two raylets on this machine, each a node of its own with one CPU; this process joins it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            yield cluster
        finally:
            ray.shutdown()
            cluster.shutdown()


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer(StubConfig(latency=0.0)) as server:
        yield server


def outcomes(executor, pipeline):
    for operator in pipeline.operators:
        operator.start_run()
    batches = enumerate(read_batches(goose.sample_corpus_path(), pipeline.batch_size))
    return [(index, outcome.kept.to_pylist(), outcome.rejects.to_pylist(), outcome.checkpoints,
             [(s.name, s.rows_in, s.rows_out, dict(s.drops)) for s in outcome.stats])
            for index, outcome in executor.run_batches(pipeline, batches)]


def test_two_nodes_give_the_local_executors_outcomes(cluster):
    assert len([node for node in ray.nodes() if node["Alive"]]) == 2
    local = outcomes(LocalExecutor(), goose.offline_pipeline(batch_size=8))
    remote = outcomes(RayExecutor(), goose.offline_pipeline(batch_size=8))
    assert len(remote) == len(local) == 6
    assert remote == local
    assert sum(len(kept) for _, kept, *_ in remote) > 0


def test_two_nodes_read_the_input_files_and_give_the_local_run(cluster, tmp_path, monkeypatch):
    """A folder of JSONL shards read by the workers (the driver only lists it): the local run's files."""
    from goose.pipeline import sources
    from goose.runner import run_to_directory

    lines = goose.sample_corpus_path().read_text(encoding="utf-8").splitlines()
    shards = tmp_path / "shards"
    shards.mkdir()
    for number, start in enumerate(range(0, len(lines), 20)):
        (shards / f"part-{number}.jsonl").write_text("\n".join(lines[start:start + 20]) + "\n{broken\n", encoding="utf-8")
    local = run_to_directory(goose.offline_pipeline(batch_size=8), str(shards), tmp_path / "local", progress=False)
    read_in_driver = []
    real = sources._read_file
    monkeypatch.setattr(sources, "_read_file", lambda *args: read_in_driver.append(args[0].name) or real(*args))
    remote = run_to_directory(goose.offline_pipeline(batch_size=8), str(shards), tmp_path / "ray", progress=False,
                              executor=RayExecutor())
    assert read_in_driver == []
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")
    assert remote.accounted and remote.reject_rows == local.reject_rows > 0


OPENAI = """  backend: openai
  base_url: {url}
  model: stub
  retry: {{max_in_flight: 2, timeout: 10}}"""


def write_config(folder: Path, engine: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "run.yaml"
    config.write_text(LLM_CHAIN.format(input=goose.sample_corpus_path(), batch=8, engine=engine), encoding="utf-8")
    return config


def goose_run(*args: str) -> None:
    result = CliRunner().invoke(main, ["run", *args])
    assert result.exit_code == 0, result.output


def outputs(out: Path) -> tuple[bytes, bytes]:
    return (out / "tasks.parquet").read_bytes(), (out / "rejects.parquet").read_bytes()


def test_goose_run_on_the_cluster_builds_the_engine_on_the_workers(cluster, stub, tmp_path):
    config = write_config(tmp_path, OPENAI.format(url=stub.url))
    goose_run(str(config), "--out", str(tmp_path / "local"))
    local_requests = stub.stats()["requests"]
    stub.reset()
    goose_run(str(config), "--out", str(tmp_path / "ray"), "--executor", "ray")
    assert stub.stats()["requests"] == local_requests > 0
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")


def test_a_driver_killed_mid_run_resumes_to_the_local_output(cluster, stub, tmp_path):
    config = write_config(tmp_path, OPENAI.format(url=stub.url))
    goose_run(str(config), "--out", str(tmp_path / "local"))
    out = tmp_path / "ray"
    stub.reset(latency=0.3)  # slow answers: the kill lands while batches are still in the stages
    command = goose_command("run", str(config), "--out", str(out), "--executor", "ray", "--ray-address", cluster.address)
    kill_when(command, lambda: bool(list((out / "shards").glob("*.done.json"))), what="its first finished batch")
    assert not (out / "summary.json").exists()
    stub.reset(latency=0.0)
    goose_run(str(config), "--out", str(out), "--executor", "ray")  # the same command, on the same cluster
    assert outputs(out) == outputs(tmp_path / "local")
