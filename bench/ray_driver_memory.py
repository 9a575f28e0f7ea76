"""What the Ray executor's driver and object store hold while a large input runs through it.

The input is ``--docs`` distinct rows of about ``--chars`` characters written to a JSONL
file, read by goose's reader in the driver (as ``goose run`` does) and run through a cheap
pipeline (``PrepareText`` only), so the figures are about moving batches, not about the
steps. A thread samples, every 0.2 s, the driver's resident memory (``VmRSS``) and the
object store's use (shared memory in ``/dev/shm``); the script prints the input's size, the peaks
and their ratio to the input's size. Ray needs the ``ray`` extra.

Run: ``python bench/ray_driver_memory.py --docs 20000 --chars 2000 --batch-size 256``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import ray

from goose import Pipeline
from goose.executors.ray_data import RayExecutor, RayExecutorConfig, StageResources
from goose.operators import PrepareText
from goose.pipeline import read_batches

MIB = 1024 * 1024


def driver_rss() -> int:
    """This process's resident memory in bytes, object-store pages it has mapped included."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
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
        self.rss = self.store = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.rss = max(self.rss, driver_rss())
            self.store = max(self.store, object_store_used())
            self.stop.wait(0.2)


def write_corpus(path: Path, docs: int, chars: int) -> int:
    words = "river stone market lantern orbit copper harbor meadow signal archive".split()
    with path.open("w", encoding="utf-8") as file:
        for i in range(docs):
            body = " ".join(words[(i * 7 + k * 3) % len(words)] + str(i + k) for k in range(chars // 9))
            file.write(json.dumps({"id": f"doc-{i}", "text": f"Document {i}. {body}"}) + "\n")
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--num-cpus", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus.jsonl"
        size = write_corpus(corpus, args.docs, args.chars)
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
        pipeline = Pipeline([PrepareText()], batch_size=args.batch_size)
        executor = RayExecutor(RayExecutorConfig(cpu=StageResources(num_cpus=0.5, max_actors=1)))
        baseline_rss = driver_rss()
        peaks = Peaks()
        peaks.start()
        started = time.perf_counter()
        rows = batches = 0
        for _, outcome in executor.run_batches(pipeline, enumerate(read_batches(corpus, args.batch_size))):
            rows += outcome.kept.num_rows
            batches += 1
        seconds = time.perf_counter() - started
        peaks.stop.set()
        peaks.join()
        ray.shutdown()
    print(f"input: {args.docs} rows, {batches} batches, {size / MIB:.1f} MiB JSONL; {rows} rows out in {seconds:.1f} s")
    print(f"driver RSS: {baseline_rss / MIB:.0f} MiB before the run, peak {peaks.rss / MIB:.0f} MiB "
          f"(+{(peaks.rss - baseline_rss) / MIB:.0f} MiB, {(peaks.rss - baseline_rss) / size:.2f}x the input)")
    print(f"object store: peak {peaks.store / MIB:.0f} MiB ({peaks.store / size:.2f}x the input)")


if __name__ == "__main__":
    main()
