"""Documents per second of the offline pipeline on the local executor and on Ray Data, in one run.

Both executors get the same input (``--docs`` rows of the synthetic corpus built from the
sample corpus: distinct ids and texts, so MinHash keeps them), the same pipeline
(``goose.offline_pipeline(batch_size=--batch-size)``) and seed. The script prints each
executor's wall time and docs/s, their ratio (Ray over local), and whether the outputs are
equal batch for batch (tasks, rejects, checkpoints, per-step counters without seconds).

The Ray time is one ``run_batches`` call consumed to the end: it includes starting the
stages' actors (each imports goose and sets up its steps), which a longer run spreads
over more batches; ``ray.init`` is timed apart. Ray needs the ``ray`` extra.

Run: ``python bench/ray_vs_local.py`` (options: ``--help``), e.g.
``python bench/ray_vs_local.py --docs 2000 --batch-size 64 --num-cpus 2``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ray
from synthetic_corpus import synthetic_corpus

import goose
from goose.executors import LocalExecutor
from goose.executors.ray_data import RayExecutor, RayExecutorConfig, StageResources
from goose.pipeline import read_batches


def comparable(outcomes: list) -> list:
    """Everything an outcome reports except wall-clock seconds."""
    view = []
    for index, outcome in outcomes:
        stats = [(s.name, s.rows_in, s.rows_out, dict(s.drops)) for s in outcome.stats]
        view.append((index, outcome.kept.to_pylist(), outcome.rejects.to_pylist(), outcome.checkpoints, stats))
    return view


def timed_run(executor, rows: list[dict], batch_size: int) -> tuple[list, float]:
    pipeline = goose.offline_pipeline(batch_size=batch_size)
    for operator in pipeline.operators:
        operator.start_run()
    started = time.perf_counter()
    outcomes = list(executor.run_batches(pipeline, enumerate(read_batches(rows, batch_size))))
    return outcomes, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000, help="input rows (default 2000)")
    parser.add_argument("--batch-size", type=int, default=64, help="pipeline batch size (default 64)")
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count(), help="CPUs of the local Ray (default: all)")
    parser.add_argument("--address", default=None, help="an existing Ray cluster to use instead of a local one")
    parser.add_argument("--cpu-per-actor", type=float, default=0.5, help="CPUs each CPU-stage actor reserves")
    args = parser.parse_args()

    rows = synthetic_corpus(args.docs)
    local, local_seconds = timed_run(LocalExecutor(), rows, args.batch_size)

    started = time.perf_counter()
    root = str(Path(goose.__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    if args.address:
        ray.init(address=args.address)
    else:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    init_seconds = time.perf_counter() - started
    config = RayExecutorConfig(cpu=StageResources(num_cpus=args.cpu_per_actor))
    remote, ray_seconds = timed_run(RayExecutor(config), rows, args.batch_size)
    cluster_cpus = ray.cluster_resources().get("CPU", 0)
    ray.shutdown()

    tasks = sum(outcome.kept.num_rows for _, outcome in local)
    print(f"input: {len(rows)} docs in {len(local)} batches of {args.batch_size}; {tasks} tasks; "
          f"machine: {os.cpu_count()} CPUs; Ray cluster: {cluster_cpus:g} CPUs")
    print(f"local executor : {local_seconds:8.2f} s  {len(rows) / local_seconds:8.1f} docs/s")
    print(f"Ray executor   : {ray_seconds:8.2f} s  {len(rows) / ray_seconds:8.1f} docs/s  (ray.init {init_seconds:.1f} s apart)")
    print(f"ratio Ray/local: {local_seconds / ray_seconds:.2f}x")
    print(f"outputs equal  : {comparable(remote) == comparable(local)}")


if __name__ == "__main__":
    main()
