"""MinHash dedup memory and clustering: today's code against the all-pairs / dict baseline.

The baseline is goose's own code at ``--baseline`` (a git commit; default 5db2e0a, the
all-pairs clustering and dict index), read with ``git show`` into temporary modules of this
process (``goose/dedup/minhash.py``, ``goose/operators/minhash_dedup.py`` and, where the
commit has it, ``goose/dedup/run_index.py``), so both run on the same machine, inputs and
parameters, in one command.

* ``clustering``: ``--docs`` distinct documents of which 1k / 2k / 4k (``--copies``) are
  copies of one boilerplate text. Time and peak memory (the process's peak RSS above its
  RSS before the step) of turning signatures into clusters: the baseline enumerates every pair inside
  each band group (``k(k-1)/2`` for ``k`` copies), today's code ``k - 1`` edges. Checks that
  both give the same clusters and prints the ratios, and how time grows with the copies.
* ``index``: MinHashDedup over 10k / 50k / 200k (``--rows``) synthetic documents (random
  word sequences, 10% near-copies of documents of the same or the previous batch), in
  batches of ``--batch-size``. Bytes per kept row of the run-wide index (RSS after the run
  minus RSS after ``start_run``; where the code has ``index_nbytes``, also the arrays' exact
  bytes), peak RSS growth, the CPU time spent in ``process`` per row (CPU, not wall time:
  the machine is shared) and how it grows with the rows, and the time of a batch along
  the run (mean of each tenth of the batches): flat when the index costs the same at any
  size. Checks that both keep and drop the same rows with the same details (a digest of
  every drop).

* ``band-index``: the run-wide index alone (``BandIndex``: one lookup of every band key of
  a batch, then the batch's entries added, as MinHashDedup does), random 64-bit keys for
  10k / 50k / 200k rows of 14 bands, today's against ``--baseline``'s
  ``goose/dedup/run_index.py`` (a commit that has one, e.g. 86010a9), in this process,
  best of 3 interleaved repeats: the CPU time per row, and how it grows with the rows,
  without the signatures' constant cost around it. Checks that both find the same values.

Each ``clustering`` and ``index`` measurement runs in a fresh Python process (``--worker``), so memory freed by one
cannot hide another's growth and no tracer slows the baseline's Python dicts.

Run: ``python bench/dedup_memory.py`` (``--part clustering`` or ``--part index`` for one
half; ``--part index --baseline 855ab45`` against the kept rows' signatures in RAM, before
they moved to a temporary file; ``--part band-index --baseline 86010a9`` for the index
alone; ``--help`` for sizes).
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
    def load(name: str, path: str, source: str | None = None) -> ModuleType:
        file = folder / f"{name}.py"
        source = load_text(commit, path) if source is None else source
        file.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    minhash = load("baseline_minhash", "goose/dedup/minhash.py")
    operator_path = "goose/operators/minhash_dedup.py"
    has_run_index = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{commit}:goose/dedup/run_index.py"],
                                   check=False, capture_output=True).returncode == 0
    if has_run_index:  # the baseline operator must use the baseline index, not today's
        load("baseline_run_index", "goose/dedup/run_index.py")
        operator_source = load_text(commit, operator_path).replace(
            "from goose.dedup.run_index import", "from baseline_run_index import")
    else:
        operator_source = load_text(commit, operator_path)
    operator = load("baseline_minhash_dedup", operator_path, source=operator_source.replace(
        "from goose.dedup.minhash import", "from baseline_minhash import"))
    return minhash, operator


def load_text(commit: str, path: str) -> str:
    """The text of ``path`` at ``commit``."""
    return subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:{path}"], capture_output=True, text=True,
                          check=True).stdout


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
    kept, batch_seconds = 0, []
    batches = list(synthetic_batches(rows, batch_size))  # made before measuring: not the index's memory
    text_mb = rss_mb()
    for batch in batches:
        started = time.process_time()
        result = operator.process(batch, RunContext())
        batch_seconds.append(time.process_time() - started)
        kept += result.kept.num_rows
        digest.update(repr([(d.index, d.reason, d.detail) for d in result.drops]).encode())
    del result
    grown = (rss_mb() - text_mb) * 2**20
    exact = getattr(operator, "index_nbytes", None)
    tenths = np.array_split(np.array(batch_seconds), min(10, len(batch_seconds)))
    return {"kept": kept, "bytes_per_kept": grown / kept, "exact_per_kept": exact / kept if exact else None,
            "peak_mb": rss_mb("VmHWM") - text_mb, "seconds": sum(batch_seconds),
            "batch_ms_by_tenth": [float(part.mean()) * 1e3 for part in tenths], "digest": digest.hexdigest()}


def index(sizes: list[int], batch_size: int) -> None:
    params = MinHashParams()
    print(f"## run-wide index: synthetic documents (10% near-copies), batches of {batch_size}, "
          f"num_perm {params.num_perm}; baseline {ARGS.baseline}")
    print(f"{'rows':>8}{'kept':>8}{'old B/kept':>12}{'(arrays)':>10}{'new B/kept':>12}{'(arrays)':>10}{'ratio':>7}"
          f"{'old peak MB':>13}{'new peak MB':>13}{'old CPU s':>11}{'new CPU s':>11}{'old us/row':>12}"
          f"{'new us/row':>12}{'same':>6}")
    results = []
    for rows in sizes:
        old, new = (worker("index", impl, rows=rows, batch_size=batch_size) for impl in ("old", "new"))
        results.append((rows, old, new))
        same = old["kept"] == new["kept"] and old["digest"] == new["digest"]
        print(f"{rows:>8}{new['kept']:>8}{old['bytes_per_kept']:>12.0f}{old['exact_per_kept'] or float('nan'):>10.0f}"
              f"{new['bytes_per_kept']:>12.0f}{new['exact_per_kept']:>10.0f}"
              f"{old['bytes_per_kept'] / new['bytes_per_kept']:>6.1f}x{old['peak_mb']:>13.0f}{new['peak_mb']:>13.0f}"
              f"{old['seconds']:>11.2f}{new['seconds']:>11.2f}{old['seconds'] / rows * 1e6:>12.1f}"
              f"{new['seconds'] / rows * 1e6:>12.1f}{'yes' if same else 'NO':>6}")
    (rows0, old0, new0), (rows1, old1, new1) = results[0], results[-1]
    print(f"CPU per row from {rows0} to {rows1} rows: old {old1['seconds'] / rows1 / (old0['seconds'] / rows0):.2f}x, "
          f"new {new1['seconds'] / rows1 / (new0['seconds'] / rows0):.2f}x (linear: 1.00x)")
    for rows, old, new in results:
        for name, result in (("old", old), ("new", new)):
            curve = " ".join(f"{ms:.0f}" for ms in result["batch_ms_by_tenth"])
            print(f"{rows:>8} {name} CPU ms per batch, by tenth of the run: {curve}")


def band_index_seconds(module: ModuleType, rows: int, batch_size: int, bands: int) -> tuple[float, str]:
    """CPU seconds of ``module.BandIndex`` over ``rows`` rows of random keys (lookup each
    batch's keys, then add them), and a digest of everything the lookups found."""
    rng = np.random.default_rng(rows)
    batches = [rng.integers(0, 2**64, size=(min(batch_size, rows - start), bands), dtype=np.uint64)
               for start in range(0, rows, batch_size)]
    band_index = module.BandIndex(bands)
    digest = hashlib.sha256()
    seconds, start = 0.0, 0
    for keys in batches:
        started = time.process_time()
        found = band_index.lookup(keys)
        band_index.add(np.tile(np.arange(bands), keys.shape[0]), keys.ravel(),
                       np.repeat(np.arange(start, start + keys.shape[0]), bands))
        seconds += time.process_time() - started
        digest.update(found.tobytes())
        start += keys.shape[0]
    return seconds, digest.hexdigest()


def band_index(sizes: list[int], batch_size: int) -> None:
    import goose.dedup.run_index as today

    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "baseline_run_index.py"
        try:
            file.write_text(load_text(ARGS.baseline, "goose/dedup/run_index.py"), encoding="utf-8")
        except subprocess.CalledProcessError:
            raise SystemExit(f"{ARGS.baseline} has no goose/dedup/run_index.py; pass --baseline 86010a9 or later")
        spec = importlib.util.spec_from_file_location("baseline_run_index", file)
        assert spec and spec.loader
        old = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old)
    bands = MinHashParams().bands
    print(f"## BandIndex alone: random keys, {bands} bands, batches of {batch_size}, best of 3; "
          f"baseline {ARGS.baseline}")
    print(f"{'rows':>8}{'old us/row':>12}{'new us/row':>12}{'speed-up':>10}{'same':>6}")
    per_row = []
    for rows in sizes:
        best = {"old": float("inf"), "new": float("inf")}
        digests = set()
        for _ in range(3):
            for name, module in (("old", old), ("new", today)):
                seconds, digest = band_index_seconds(module, rows, batch_size, bands)
                best[name] = min(best[name], seconds / rows * 1e6)
                digests.add(digest)
        per_row.append(best)
        print(f"{rows:>8}{best['old']:>12.2f}{best['new']:>12.2f}{best['old'] / best['new']:>9.1f}x"
              f"{'yes' if len(digests) == 1 else 'NO':>6}")
    first, last = per_row[0], per_row[-1]
    print(f"per row from {sizes[0]} to {sizes[-1]} rows: old {last['old'] / first['old']:.2f}x, "
          f"new {last['new'] / first['new']:.2f}x (flat: 1.00x)")


def worker(part: str, impl: str, **sizes: int) -> dict:
    """Run one measurement in a fresh process and return what it printed (one JSON line)."""
    command = [sys.executable, __file__, "--worker", part, "--impl", impl, "--baseline", ARGS.baseline,
               *(f"--{name.replace('_', '-')}={value}" for name, value in sizes.items())]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["both", "clustering", "index", "band-index"], default="both")
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
    if ARGS.part == "band-index":
        band_index(ARGS.rows, ARGS.batch_size)


ARGS = argparse.Namespace(baseline=BASELINE)

if __name__ == "__main__":
    main()
