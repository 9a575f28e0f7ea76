"""The pipeline's overhead over the bare engine calls for the same prompts.

A fast stub OpenAI-compatible server (``tests/openai_stub_server.py``, its own process, no
latency) answers the difficulty probe's requests. Two ways, same requests, no cache:

* bare: ``engine.generate`` on the exact requests ``ProbeDifficulty`` sends (each task's
  question, ``n`` rollouts), in the same batches;
* pipeline: ``Pipeline([ProbeDifficulty(...)], engine=...)`` run over the task table, which
  also builds prompts, reads the letters, computes pass rates and rewrites lineage.

Overhead = (pipeline - bare) / pipeline wall time (the target: under 5%). Runs alternate and
the median of each counts. On a busy machine the two medians wander by more than the
overhead, so the script also prints the steadier in-run figure: the share of the pipeline's
wall time spent outside ``engine.generate`` (from the engine's own clock).

Run: ``python bench/pipeline_overhead.py`` (options: ``--help``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from openai_stub_server import StubConfig, StubProcess  # noqa: E402
from synthetic_corpus import synthetic_corpus  # noqa: E402

import goose  # noqa: E402
from goose.engines import ChatRequest, Engine, RetryPolicy, SamplingParams  # noqa: E402
from goose.engines.backends.openai_http import OpenAIHTTPBackend  # noqa: E402
from goose.operators import ProbeDifficulty  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=600, help="Synthetic documents (about 80%% become tasks).")
    parser.add_argument("--rollouts", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    tasks = goose.offline_pipeline(batch_size=64).run(synthetic_corpus(args.docs)).tasks
    probe = ProbeDifficulty(rollouts=args.rollouts, max_tokens=64)
    sampling = SamplingParams(n=args.rollouts, temperature=probe.temperature, max_tokens=probe.max_tokens, seed=0)
    batches = [tasks.slice(start, args.batch_size) for start in range(0, tasks.num_rows, args.batch_size)]
    requests = [[ChatRequest.user(question, sampling) for question in batch.column("question").to_pylist()]
                for batch in batches]

    with StubProcess(StubConfig(latency=0.0)) as server:
        def engine() -> Engine:
            return Engine(OpenAIHTTPBackend(server.url, "stub"), retry=RetryPolicy(max_in_flight=args.in_flight))

        def bare() -> float:
            with engine() as bare_engine:
                started = time.perf_counter()
                for batch_requests in requests:
                    bare_engine.generate(batch_requests, tag="bare")
                return time.perf_counter() - started

        def pipeline() -> tuple[float, float]:
            with engine() as pipeline_engine:
                run = goose.Pipeline([probe], batch_size=args.batch_size, engine=pipeline_engine)
                started = time.perf_counter()
                result = run.run(tasks)
                seconds = time.perf_counter() - started
                assert result.accounted and pipeline_engine.usage().requests == tasks.num_rows
                return seconds, (seconds - pipeline_engine.usage().seconds) / seconds

        bare(), pipeline()  # warm-up: connections, imports
        bare_times, pipeline_times, outside_shares = [], [], []
        for _ in range(args.repeats):
            bare_times.append(bare())
            seconds, outside = pipeline()
            pipeline_times.append(seconds)
            outside_shares.append(outside)
    bare_time, pipeline_time = statistics.median(bare_times), statistics.median(pipeline_times)
    print(f"{tasks.num_rows} tasks x {args.rollouts} rollouts in batches of {args.batch_size}, "
          f"{args.in_flight} in flight, stub server without latency, {args.repeats} runs each (median)")
    print(f"bare engine calls: {bare_time:.3f} s   pipeline: {pipeline_time:.3f} s")
    print(f"pipeline overhead: {(pipeline_time - bare_time) / pipeline_time:.1%} of wall time (target < 5%)")
    print(f"in-run: {statistics.median(outside_shares):.1%} of the pipeline's wall time is spent outside engine calls")


if __name__ == "__main__":
    main()
