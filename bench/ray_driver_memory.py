"""What the Ray executor's driver and object store hold while a large input runs through it.

The input is ``--docs`` distinct rows of about ``--chars`` characters written to a JSONL
file (or, with ``--shards N``, N files), run through a cheap pipeline (``PrepareText``
only), so the figures are about moving batches, not about the steps. ``--read driver``
reads it in the driver and feeds the batches through the bounded queue
(``RayExecutor.run_batches``: what in-memory and ``datasets`` inputs get); ``--read
workers`` hands the file list to ``RayExecutor.run_files``, whose read tasks read the files
on the workers (what ``goose run`` does with files). Without ``--read`` the script runs
both, each in a fresh process and Ray, and prints their ratio. A thread samples, every
0.2 s, the driver's resident memory (``VmRSS``; and its private part, ``RssAnon``, since
VmRSS also counts every object-store page the driver mapped to read an outcome) and the
object store's use (shared memory in ``/dev/shm``, less what was in use before Ray
started: other Ray instances on the machine count too); the script prints the input's
size, the peaks and their ratio to the input's size. Ray needs the ``ray`` extra.

Run: ``python bench/ray_driver_memory.py --docs 20000 --chars 2000 --batch-size 256 --shards 4``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import ray

from goose import Pipeline
from goose.executors.ray_data import RayExecutor, RayExecutorConfig, StageResources
from goose.operators import PrepareText
from goose.pipeline import read_batches
from goose.pipeline.sources import file_reads

MIB = 1024 * 1024


def driver_rss(field: str = "VmRSS") -> int:
    """This process's resident memory in bytes (``VmRSS``: object-store pages it has mapped
    included; ``RssAnon``: its private memory only)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def object_store_used() -> int:
    """Bytes of shared memory in use (``/dev/shm``, where a local Ray keeps its object store;
    the store's allocator keeps pages it has touched, so this is a high-water mark)."""
    stat = os.statvfs("/dev/shm")
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize


class Peaks(threading.Thread):
    """Samples driver RSS and object-store use until stopped; keeps the largest of each."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.rss = self.private = self.store = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.rss = max(self.rss, driver_rss())
            self.private = max(self.private, driver_rss("RssAnon"))
            self.store = max(self.store, object_store_used())
            self.stop.wait(0.2)


def write_corpus(folder: Path, docs: int, chars: int, shards: int) -> tuple[list[Path], int]:
    """``docs`` distinct rows over ``shards`` JSONL files; their paths and total bytes."""
    words = "river stone market lantern orbit copper harbor meadow signal archive".split()
    paths = [folder / f"corpus-{number:03d}.jsonl" for number in range(shards)]
    per_shard = -(-docs // shards)
    for number, path in enumerate(paths):
        with path.open("w", encoding="utf-8") as file:
            for i in range(number * per_shard, min(docs, (number + 1) * per_shard)):
                body = " ".join(words[(i * 7 + k * 3) % len(words)] + str(i + k) for k in range(chars // 9))
                file.write(json.dumps({"id": f"doc-{i}", "text": f"Document {i}. {body}"}) + "\n")
    return paths, sum(path.stat().st_size for path in paths)


def measure(args: argparse.Namespace) -> dict[str, float]:
    """One run, reading as ``args.read`` says; the figures in MiB and seconds."""
    with tempfile.TemporaryDirectory() as folder:
        paths, size = write_corpus(Path(folder), args.docs, args.chars, args.shards)
        shm_before = object_store_used()
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
        pipeline = Pipeline([PrepareText()], batch_size=args.batch_size)
        executor = RayExecutor(RayExecutorConfig(cpu=StageResources(num_cpus=0.5, max_actors=1)))
        if args.read == "workers":
            outcomes = executor.run_files(pipeline, file_reads([str(path) for path in paths], args.batch_size))
        else:
            outcomes = executor.run_batches(pipeline, enumerate(read_batches([str(path) for path in paths], args.batch_size)))
        baseline_rss, baseline_private = driver_rss(), driver_rss("RssAnon")
        peaks = Peaks()
        peaks.start()
        started = time.perf_counter()
        rows = batches = 0
        for _, outcome in outcomes:
            rows += outcome.kept.num_rows
            batches += 1
        seconds = time.perf_counter() - started
        peaks.stop.set()
        peaks.join()
        ray.shutdown()
    return {"docs": args.docs, "batches": batches, "input_mib": size / MIB, "rows_out": rows, "seconds": seconds,
            "rss_mib": baseline_rss / MIB, "rss_growth_mib": (peaks.rss - baseline_rss) / MIB,
            "private_growth_mib": (peaks.private - baseline_private) / MIB,
            "store_mib": max(0, peaks.store - shm_before) / MIB}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--shards", type=int, default=4, help="JSONL files the input is written as")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--read", choices=["driver", "workers"], help="one way only (default: both, each in a fresh process)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # how the both-ways run gets figures back
    args = parser.parse_args()
    if args.read is not None:
        figures = measure(args)
        if args.json:
            print(json.dumps(figures))
            return
        runs = {args.read: figures}
    else:
        runs = {}
        for way in ("driver", "workers"):
            command = [sys.executable, __file__, *sys.argv[1:], "--read", way, "--json"]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            runs[way] = json.loads(done.stdout.strip().splitlines()[-1])
    first = next(iter(runs.values()))
    print(f"input: {first['docs']} rows, {first['batches']} batches, {first['input_mib']:.1f} MiB JSONL in {args.shards} file(s)")
    for way, figures in runs.items():
        print(f"read in the {way}: {figures['rows_out']} rows out in {figures['seconds']:.1f} s; driver RSS "
              f"{figures['rss_mib']:.0f} MiB before, +{figures['rss_growth_mib']:.0f} MiB at peak "
              f"({figures['rss_growth_mib'] / figures['input_mib']:.2f}x the input), private (RssAnon) "
              f"+{figures['private_growth_mib']:.0f} MiB; object store peak "
              f"{figures['store_mib']:.0f} MiB ({figures['store_mib'] / figures['input_mib']:.2f}x the input)")
    if len(runs) == 2:
        driver, workers = runs["driver"], runs["workers"]
        print(f"workers / driver: driver RSS growth {workers['rss_growth_mib'] / max(driver['rss_growth_mib'], 1):.2f}x, "
              f"private {workers['private_growth_mib'] / max(driver['private_growth_mib'], 1):.2f}x, "
              f"object store {workers['store_mib'] / max(driver['store_mib'], 1):.2f}x, "
              f"time {workers['seconds'] / driver['seconds']:.2f}x")


if __name__ == "__main__":
    main()
