"""``goose run CONFIG --executor ray`` with a vLLM engine config (SmolLM2-135M-Instruct on CPU via
vllm-cpu), on a real two-node Ray cluster started here (``ray.cluster_utils.Cluster``: a head
and a worker node, one CPU each).

The driver is a ``goose run`` subprocess joining the cluster, as a user would start it: the
model must load in the LLM stage's actor, never in the driver (which reports whether it ever
imported vllm), the run folder must account for every input row, and a run stopped before its
last batch must resume, keeping the batches already finished.

Needs the environment that ``bash scripts/vllm_cpu_env.sh`` builds (vllm-cpu and ray); run with

    .venv-vllm/bin/python -m pytest -q tests/engine_vllm -m vllm -p no:cacheprovider
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.vllm, pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")]

if importlib.util.find_spec("vllm") is None:  # not imported here: the driver must never need it
    pytest.skip("vllm is not installed in this Python: build .venv-vllm with `bash scripts/vllm_cpu_env.sh` and run "
                "these tests with .venv-vllm/bin/python", allow_module_level=True)
pytest.importorskip("ray.data", reason="Ray Data is not installed in this Python: rebuild .venv-vllm with "
                    "`bash scripts/vllm_cpu_env.sh`, which installs ray[data]")
from ray.cluster_utils import Cluster  # noqa: E402

import goose  # noqa: E402
from goose_child import LLM_CHAIN  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MODEL = Path(os.environ.get("GOOSE_VLLM_MODEL", ".venv-vllm/models/smollm2-135m"))
MODEL = MODEL if MODEL.is_absolute() else REPO / MODEL
if not (MODEL / "config.json").is_file():
    pytest.skip(f"no model folder at {MODEL}: run `bash scripts/vllm_cpu_env.sh` (or set GOOSE_VLLM_MODEL)",
                allow_module_level=True)

ENGINE = """  backend: vllm
  model: {model}
  options:
    max_model_len: 2048
    # An explicit KV cache (vLLM on CPU otherwise asks for 92% of the memory) and no
    # torch.compile warm-up (starts in ~20 s instead of ~70 s on 2 cores); as in test_engine_vllm.
    # Chunked prefill is left to goose's CPU default (off): with it, vllm-cpu 0.32.0 kills its
    # engine on ProbeDifficulty's seeded requests, so this run also checks that default.
    llm_kwargs: {{kv_cache_memory_bytes: 1073741824, enforce_eager: true}}
"""

DRIVER = """\
import sys
from goose.cli.main import main
try:
    main(sys.argv[1:], prog_name="goose")
finally:
    print(f"driver imported vllm: {'vllm' in sys.modules}", flush=True)
"""
"""``goose run`` as the console script runs it, then one line saying whether this process imported vllm."""

RUN_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def cluster(vllm_report) -> Iterator[Cluster]:
    """Two raylets on this machine, one CPU each; the test process itself does not join.

    The workers inherit this process's environment: ``VLLM_CPU_NUM_OF_RESERVED_CPU=0`` lets
    vLLM compute on every core (it keeps one free for its serving loop otherwise, which on a
    2-core machine halves its throughput; see test_engine_vllm.CPU_ENV)."""
    started = time.perf_counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLLM_CPU_NUM_OF_RESERVED_CPU", os.environ.get("VLLM_CPU_NUM_OF_RESERVED_CPU", "0"))
        cluster = Cluster(initialize_head=True, connect=False,
                          head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            vllm_report.append(f"two-node Ray cluster started in {time.perf_counter() - started:.1f} s")
            yield cluster
        finally:
            cluster.shutdown()


def goose_run(config: Path, out: Path, cluster: Cluster) -> str:
    """``goose run CONFIG --out OUT --executor ray`` in a driver process joining ``cluster``; its output."""
    command = [sys.executable, "-c", DRIVER, "run", str(config), "--out", str(out), "--executor", "ray",
               "--ray-address", cluster.address]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"goose run failed ({done.returncode}):\n{output[-4000:]}"
    return output


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_goose_run_on_ray_loads_vllm_in_the_stage_actor_and_resumes(cluster, tmp_path, vllm_report):
    config = tmp_path / "run.yaml"
    config.write_text(LLM_CHAIN.format(input=goose.sample_corpus_path(), batch=8, engine=ENGINE.format(model=MODEL)), encoding="utf-8")
    out = tmp_path / "run"

    started = time.perf_counter()
    output = goose_run(config, out, cluster)
    first_s = time.perf_counter() - started
    assert "driver imported vllm: False" in output, output[-4000:]  # the model loaded in the stage's actor
    first = summary(out)
    assert first["accounted"] and first["rows_in"] > 0, first
    assert first["tasks"] + first["rejects"] > 0 and first["batches"] > 1, first
    probe = next(step for step in first["steps"] if step["operator"] == "ProbeDifficulty")
    assert probe["rows_in"] > 0, probe  # some tasks reached the LLM step
    assert probe["engine"]["completion_tokens"] > 0, probe  # and vLLM answered them, in the actor
    assert not first["engine_failure_drops"], first["engine_failure_drops"]

    # Stop the run before its last batch, as a crash does (the marker is written last): the
    # same command finishes that batch only and keeps the others' shards as they are.
    markers = sorted((out / "shards").glob("*.done.json"))
    assert len(markers) == first["batches"], markers
    last = markers[-1].name.split(".")[0]  # "000005"
    kept = {path: path.stat().st_mtime_ns for path in (out / "shards").iterdir()
            if not path.name.startswith(f"{last}.")}
    markers[-1].unlink()
    (out / "summary.json").unlink()
    started = time.perf_counter()
    output = goose_run(config, out, cluster)
    resumed_s = time.perf_counter() - started
    assert "driver imported vllm: False" in output, output[-4000:]
    second = summary(out)
    assert second["resumed_batches"] == first["batches"] - 1, second
    assert second["accounted"] and (second["rows_in"], second["batches"]) == (first["rows_in"], first["batches"]), second
    assert {path: path.stat().st_mtime_ns for path in kept} == kept  # the finished batches were not run again
    vllm_report.append(f"goose run --executor ray (vLLM in a stage actor): {first['rows_in']} rows in "
                       f"{first['batches']} batches, {probe['rows_in']} tasks probed "
                       f"({probe['engine']['completion_tokens']} tokens), {first_s:.1f} s; "
                       f"resumed for the last batch in {resumed_s:.1f} s")
