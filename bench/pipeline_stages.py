"""Offline pipeline throughput per stage, in documents per second per core.

Runs ``goose.offline_pipeline()`` over a synthetic corpus (sample passages recombined, see
``synthetic_corpus.py``) in this one process (one core) and prints, for every step, rows in,
seconds and rows/s, plus the whole run's documents/s. The same run is repeated and the
median step time counts.

Run: ``python bench/pipeline_stages.py`` (options: ``--help``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_corpus import synthetic_corpus  # noqa: E402

import goose  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rows = synthetic_corpus(args.docs)
    goose.offline_pipeline(batch_size=args.batch_size).run(rows[: args.batch_size])  # warm-up: spaCy, trafilatura imports
    runs = []
    walls = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        result = goose.offline_pipeline(batch_size=args.batch_size).run(rows)
        walls.append(time.perf_counter() - started)
        runs.append(result)
    wall = statistics.median(walls)
    print(f"{args.docs} documents, batch size {args.batch_size}, {args.repeats} runs (median), one process")
    print(f"{'step':<22}{'rows in':>9}{'sec':>9}{'rows/s':>10}{'share':>8}")
    for position, step in enumerate(runs[0].stats):
        seconds = statistics.median(run.stats[position].seconds for run in runs)
        rate = f"{step.rows_in / seconds:.0f}" if seconds > 0 else "-"  # the reader's time is not split out
        print(f"{step.name:<22}{step.rows_in:>9}{seconds:>9.3f}{rate:>10}{seconds / wall:>8.1%}")
    result = runs[0]
    print(f"whole run: {wall:.2f} s wall, {args.docs / wall:.0f} documents/s per core, "
          f"{result.tasks.num_rows} tasks, accounted: {result.accounted}")


if __name__ == "__main__":
    main()
