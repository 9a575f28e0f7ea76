"""MinHash dedup memory and clustering: today's code against the all-pairs / dict baseline.

The baseline is goose's own code at ``--baseline`` (a git commit; default the last one
before the change), read with ``git show`` into temporary modules of this process, so both
run on the same machine, inputs and parameters, in one command.

* ``clustering``: ``--docs`` distinct documents of which 1k / 2k / 4k (``--copies``) are
  copies of one boilerplate text. Time and peak memory (the process's peak RSS above its
  RSS before the step) of turning signatures into clusters: the baseline enumerates every pair inside
  each band group (``k(k-1)/2`` for ``k`` copies), today's code ``k - 1`` edges. Checks that
  both give the same clusters and prints the ratios, and how time grows with the copies.
* ``index``: MinHashDedup over 10k / 50k / 200k (``--rows``) synthetic documents (random
  word sequences, 10% near-copies of documents of the same or the previous batch), in
  batches of ``--batch-size``. Bytes per kept row of the run-wide index (RSS after the run
  minus RSS after ``start_run``; for today's code also the arrays' exact ``nbytes``), peak
  RSS growth, and the seconds spent in ``process``. Checks that both keep and drop the same
  rows with the same details (a digest of every drop).

Each measurement runs in a fresh Python process (``--worker``), so memory freed by one
cannot hide another's growth and no tracer slows the baseline's Python dicts.

Run: ``python bench/dedup_memory.py`` (``--part clustering`` or ``--part index`` for one
half; ``--help`` for sizes).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa

from goose.dedup import MinHashParams, duplicate_clusters, signatures
from goose.operators.minhash_dedup import MinHashDedup
from goose.pipeline import RunContext

REPO = Path(__file__).resolve().parents[1]
BASELINE = "5db2e0a42a1680d3d01094a34546ab99b075b6bf"  # all-pairs clustering, dict index
VOCABULARY = np.array([f"w{i}" for i in range(20_000)])


def baseline_modules(commit: str, folder: Path) -> tuple[ModuleType, ModuleType]:
    """The baseline's ``goose.dedup.minhash`` and ``goose.operators.minhash_dedup``, loaded
    from ``git show`` as stand-alone modules (the operator imports the baseline minhash)."""
    def load(name: str, path: str, replace: tuple[str, str] | None = None) -> ModuleType:
        source = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:{path}"], capture_output=True, text=True,
                                check=True).stdout
        if replace:
            source = source.replace(*replace)
        file = folder / f"{name}.py"
        file.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    minhash = load("baseline_minhash", "goose/dedup/minhash.py")
    operator = load("baseline_minhash_dedup", "goose/operators/minhash_dedup.py",
                    ("from goose.dedup.minhash import", "from baseline_minhash import"))
    return minhash, operator


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (``VmRSS``) or its peak so far (``VmHWM``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no /proc/self/status: this benchmark needs Linux")


def distinct_texts(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(VOCABULARY[rng.integers(0, VOCABULARY.size, int(rng.integers(100, 300)))]) for _ in range(count)]


def clustering_worker(old: ModuleType, impl: str, docs: int, copies: int, params: MinHashParams) -> dict:
    boilerplate = "Subscribe to our newsletter and accept the cookie policy of this site. " * 8
    texts = distinct_texts(docs - copies, 0) + [boilerplate] * copies
    order = np.random.default_rng(copies).permutation(docs)
    signature = signatures([texts[i] for i in order], params)
    del texts
    before = rss_mb()
    started = time.perf_counter()
    if impl == "old":
        labels = old.cluster_first(docs, old.duplicate_pairs(signature, params))
    else:
        labels = duplicate_clusters(signature, params)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mb": rss_mb("VmHWM") - before,
            "digest": hashlib.sha256(np.asarray(labels, dtype=np.int64).tobytes()).hexdigest()}


def clustering(docs: int, copies: list[int]) -> None:
    params = MinHashParams()
    print(f"## clustering: {docs} documents, k copies of one boilerplate text; num_perm {params.num_perm}, "
          f"bands x rows {params.bands} x {params.rows}")
    print(f"{'copies':>7}{'old s':>8}{'new s':>8}{'speed-up':>10}{'old MB':>9}{'new MB':>9}{'same':>6}")
    rows = []
    for k in copies:
        old, new = (worker("clustering", impl, docs=docs, copies=k) for impl in ("old", "new"))
        rows.append((k, old["seconds"], new["seconds"]))
        print(f"{k:>7}{old['seconds']:>8.2f}{new['seconds']:>8.3f}{old['seconds'] / new['seconds']:>9.0f}x"
              f"{old['peak_mb']:>9.0f}{new['peak_mb']:>9.1f}{'yes' if old['digest'] == new['digest'] else 'NO':>6}")
    (k0, old0, new0), (k1, old1, new1) = rows[0], rows[-1]
    print(f"time from {k0} to {k1} copies ({k1 / k0:.0f}x): old {old1 / old0:.1f}x, new {new1 / new0:.1f}x "
          "(linear: at most the copies' ratio)")


def synthetic_batches(rows: int, batch_size: int, seed: int = 1) -> Iterator[pa.Table]:
    """Random documents of 100-300 words, 10% near-copies (5 words changed) of a document
    of this batch or the previous one; only two batches are alive at a time."""
    rng = np.random.default_rng(seed)
    previous: list[str] = []
    for start in range(0, rows, batch_size):
        texts: list[str] = []
        for _ in range(min(batch_size, rows - start)):
            pool = previous + texts
            if pool and rng.random() < 0.1:
                words = pool[int(rng.integers(len(pool)))].split()
                for position in rng.choice(len(words), size=5, replace=False):
                    words[position] = f"edit{int(rng.integers(1000))}"
                texts.append(" ".join(words))
            else:
                texts.append(" ".join(VOCABULARY[rng.integers(0, VOCABULARY.size, int(rng.integers(100, 300)))]))
        yield pa.table({"source_id": [f"doc-{start + i}" for i in range(len(texts))], "text": texts})
        previous = texts


def index_worker(old: ModuleType, impl: str, rows: int, batch_size: int, params: MinHashParams) -> dict:
    operator = (old.MinHashDedup if impl == "old" else MinHashDedup)(minhash=params.model_dump())
    operator.start_run()
    digest = hashlib.sha256()
    kept, seconds = 0, 0.0
    batches = list(synthetic_batches(rows, batch_size))  # made before measuring: not the index's memory
    text_mb = rss_mb()
    for batch in batches:
        started = time.perf_counter()
        result = operator.process(batch, RunContext())
        seconds += time.perf_counter() - started
        kept += result.kept.num_rows
        digest.update(repr([(d.index, d.reason, d.detail) for d in result.drops]).encode())
    del result
    grown = (rss_mb() - text_mb) * 2**20
    exact = operator.index_nbytes if impl == "new" else None
    return {"kept": kept, "bytes_per_kept": grown / kept, "exact_per_kept": exact / kept if exact else None,
            "peak_mb": rss_mb("VmHWM") - text_mb, "seconds": seconds, "digest": digest.hexdigest()}


def index(sizes: list[int], batch_size: int) -> None:
    params = MinHashParams()
    print(f"## run-wide index: synthetic documents (10% near-copies), batches of {batch_size}, num_perm {params.num_perm}")
    print(f"{'rows':>8}{'kept':>8}{'old B/kept':>12}{'new B/kept':>12}{'(arrays)':>10}{'ratio':>7}{'old peak MB':>13}"
          f"{'new peak MB':>13}{'old s':>7}{'new s':>7}{'same':>6}")
    for rows in sizes:
        old, new = (worker("index", impl, rows=rows, batch_size=batch_size) for impl in ("old", "new"))
        same = old["kept"] == new["kept"] and old["digest"] == new["digest"]
        print(f"{rows:>8}{new['kept']:>8}{old['bytes_per_kept']:>12.0f}{new['bytes_per_kept']:>12.0f}"
              f"{new['exact_per_kept']:>10.0f}{old['bytes_per_kept'] / new['bytes_per_kept']:>6.1f}x"
              f"{old['peak_mb']:>13.0f}{new['peak_mb']:>13.0f}{old['seconds']:>7.1f}{new['seconds']:>7.1f}"
              f"{'yes' if same else 'NO':>6}")


def worker(part: str, impl: str, **sizes: int) -> dict:
    """Run one measurement in a fresh process and return what it printed (one JSON line)."""
    command = [sys.executable, __file__, "--worker", part, "--impl", impl, "--baseline", ARGS.baseline,
               *(f"--{name.replace('_', '-')}={value}" for name, value in sizes.items())]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["both", "clustering", "index"], default="both")
    parser.add_argument("--docs", type=int, default=20_000, help="Documents in the clustering test.")
    parser.add_argument("--copies", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--baseline", default=BASELINE, help="Git commit of the code to compare against.")
    parser.add_argument("--worker", choices=["clustering", "index"], help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=["old", "new"], help=argparse.SUPPRESS)
    global ARGS
    ARGS = parser.parse_args()
    if ARGS.worker:
        with tempfile.TemporaryDirectory() as folder:
            old_minhash, old_operator = baseline_modules(ARGS.baseline, Path(folder))
            if ARGS.worker == "clustering":
                result = clustering_worker(old_minhash, ARGS.impl, ARGS.docs, ARGS.copies[0], MinHashParams())
            else:
                result = index_worker(old_operator, ARGS.impl, ARGS.rows[0], ARGS.batch_size, MinHashParams())
        print(json.dumps(result))
        return
    if ARGS.part in ("both", "clustering"):
        clustering(ARGS.docs, ARGS.copies)
    if ARGS.part in ("both", "index"):
        index(ARGS.rows, ARGS.batch_size)


ARGS = argparse.Namespace(baseline=BASELINE)

if __name__ == "__main__":
    main()
