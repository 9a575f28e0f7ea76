"""Peak memory of a whole run against input size: is it flat?

The offline pipeline (``goose.offline_pipeline()``) through ``run_to_directory`` and then
``write_report`` (what ``goose run`` does), on 10k / 50k / 200k distinct documents
(``--sizes``) of ``bench/synthetic_corpus.py``, read from a JSONL file. Each size runs in a
fresh Python process, which reports its own peak RSS (``ru_maxrss``), its RSS once goose and
the pipeline are loaded (the floor), the seconds of the run and the report, and the tasks
made. The corpus is written by another process, so its rows never count. Printed: one line
per size, then the ratio of each size's peak to the smallest size's peak (the goal: 1.0,
the bar: 1.3 at 200k/10k) and the peak's growth per document between sizes.

``--checkout DIR`` runs the same measurement on another copy of goose (e.g. a git worktree
of an earlier commit: ``git worktree add /tmp/mem_head HEAD``) for a before/after.

``--finish RUN_DIR --copies 1 10 50`` measures the end of a run alone (where the old code
read every task back): the shards of a finished run folder are copied ``k`` times into a
new folder (as a run ``k`` times as long), then a fresh process merges them, writes
``summary.json`` (the runner's last step) and the report; its peak RSS above its floor is
printed per ``k``. Fast: no pipeline runs.

Each size also reports the peak before the run's last step (the pipeline steps alone: read
from the runner's "every batch finished" log record) and what every step keeps from batch to
batch at the end of the run (``Operator.run_memory``, the dedup index's ``index_nbytes``),
in bytes per document and, for the dedup index, per row it kept. Results go to a JSON file
(``--json``, default ``memory.json`` in the scratch folder) after every size, so a long run
stopped half way still tells something; a size that fails is recorded and the next one runs.

Run: ``python bench/memory.py --sizes 10000 50000`` (add ``--merge off`` for runs that
leave the tasks in shards; ``--no-report`` to leave the report out).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_corpus(count: int, path: Path, sentences: int = 0) -> None:
    """``count`` distinct synthetic documents as JSONL (run in its own process); with
    ``sentences``, each cut to its first that many sentences (short documents: many more
    documents per minute, for the sizes a whole run of full documents can't reach here)."""
    sys.path.insert(0, str(HERE))
    from synthetic_corpus import synthetic_corpus

    with path.open("w", encoding="utf-8") as handle:
        for row in synthetic_corpus(count):
            if sentences:
                row["text"] = " ".join(re.split(r"(?<=[.!?])\s+(?=[A-Z])", row["text"])[:sentences])
            handle.write(json.dumps(row) + "\n")


def run_child(corpus: Path, out: Path, merge: bool, report: bool) -> dict:
    """One run in this (fresh) process; its own peak RSS and timings."""
    import inspect

    import goose
    from goose.report import write_report
    from goose.runner import run_to_directory

    pipeline = goose.offline_pipeline()
    floor = rss_mb()
    options = {"merge": merge} if "merge" in inspect.signature(run_to_directory).parameters else {}
    steps_peak = _PeakAtLastStep()
    start = time.perf_counter()
    try:
        result = run_to_directory(pipeline, corpus, out, progress=False, **options)
    finally:
        steps_peak.close()
    run_seconds = time.perf_counter() - start
    after_run = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if report:
        write_report(out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {
        "floor_mb": round(floor, 1),
        "peak_steps_mb": steps_peak.peak_mb,
        "peak_after_run_mb": round(after_run, 1),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "run_s": round(run_seconds, 1),
        "report_s": round(time.perf_counter() - start, 1),
        "tasks": summary["tasks"],
        "accounted": bool(result.accounted),
        "structures": run_structures(pipeline),
        "rows_out": {step["operator"]: step["rows_out"] for step in summary["steps"]},
    }


class _PeakAtLastStep:
    """Peak RSS when the runner logs that every batch finished (before the merge, summary
    and audit): the pipeline steps' own peak. ``peak_mb`` stays None with a runner that
    does not log it."""

    def __init__(self) -> None:
        import logging

        self.peak_mb: float | None = None
        self._logger = logging.getLogger("goose")
        self._level = self._logger.level
        self._handler = logging.Handler(logging.INFO)
        self._handler.emit = self._seen  # type: ignore[method-assign]
        self._logger.addHandler(self._handler)
        self._logger.setLevel(logging.INFO)

    def _seen(self, record) -> None:
        if self.peak_mb is None and "every batch finished" in record.getMessage():
            self.peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._level)


def run_structures(pipeline) -> dict[str, dict[str, int]]:
    """What each step keeps from batch to batch at the end of a run: ``run_memory()`` (bytes
    for names ending in ``_bytes``, else counts) and a dedup index's ``index_nbytes``."""
    found = {}
    for operator, name in zip(pipeline.operators, pipeline.step_names):
        memory = dict(operator.run_memory()) if hasattr(operator, "run_memory") else {}
        if hasattr(operator, "index_nbytes") and "index_bytes" not in memory:
            memory["index_bytes"] = int(operator.index_nbytes)
        if memory:
            found[name] = memory
    return found


def per_row(found: dict, documents: int) -> list[str]:
    """Lines of bytes per document (and per kept row of the step) of every run-wide structure."""
    lines = []
    for step, memory in found.get("structures", {}).items():
        kept = found.get("rows_out", {}).get(step)
        for name, value in memory.items():
            if name.endswith("_bytes"):
                line = f"  {step}.{name}: {value / 2**20:,.1f} MB, {value / documents:,.0f} bytes per document"
                items = memory.get(name.removesuffix("_bytes") + "_passages")
                if items:  # a bounded pool: its size per passage held
                    line += f", {value / items:,.0f} per passage held ({items:,})"
                elif kept:
                    line += f", {value / kept:,.0f} per row kept by {step} ({kept:,})"
            else:
                line = f"  {step}.{name}: {value:,}"
            lines.append(line)
    return lines


def copy_shards(run: Path, copies: int, target: Path) -> None:
    """A run folder whose shards are ``copies`` copies of ``run``'s, numbered on."""
    import shutil

    shards = target / "shards"
    shards.mkdir(parents=True)
    shutil.copy(run / "manifest.json", target / "manifest.json")
    markers = sorted((run / "shards").glob("*.done.json"))
    for copy in range(copies):
        for marker in markers:
            index = int(marker.name.split(".")[0])
            new = copy * len(markers) + index
            for part in ("tasks.parquet", "rejects.parquet"):
                shutil.copy(run / "shards" / f"{index:06d}.{part}", shards / f"{new:06d}.{part}")
            data = json.loads(marker.read_text(encoding="utf-8"))
            data.update(batch=new, checkpoints=[])
            (shards / f"{new:06d}.done.json").write_text(json.dumps(data), encoding="utf-8")


def finish_child(out: Path) -> dict:
    """The runner's last step (merge + summary) and the report on ``out``, in this process."""
    import goose
    import goose.runner as runner
    from goose.report import write_report

    pipeline = goose.offline_pipeline()
    folder = runner.open_folder(out) if hasattr(runner, "open_folder") else out  # before: a Path
    shards = runner._Shards(folder if hasattr(runner, "open_folder") else out / "shards")
    floor = rss_mb()
    start = time.perf_counter()
    if hasattr(runner, "_finish"):
        runner._finish(pipeline, folder, shards, resumed=0, merge=True)
    else:  # the code before RunOutput
        runner._merge(pipeline, out, shards, resumed=0)
    merge_s = time.perf_counter() - start
    after_merge = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_report(out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {"floor_mb": round(floor, 1), "merge_peak_mb": round(after_merge - floor, 1),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - floor, 1),
            "merge_s": round(merge_s, 1), "tasks": summary["tasks"],
            "tasks_mb": round((out / "tasks.parquet").stat().st_size / 2**20, 1)}


def finish(run: Path, copies: list[int], scratch: Path, checkout: Path | None) -> None:
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), env.get("PYTHONPATH")]))
    print(f"end of run (merge + summary, then report) on copies of {run}; goose from {checkout or 'this tree'}")
    print(f"{'copies':>7}{'tasks':>8}{'file MB':>9}{'floor MB':>10}{'merge +MB':>11}{'+report +MB':>13}{'merge s':>9}")
    for count in copies:
        target = scratch / f"finish-{count}-{'head' if checkout else 'tree'}"
        if target.exists():
            import shutil

            shutil.rmtree(target)
        copy_shards(run, count, target)
        done = subprocess.run([sys.executable, __file__, "--finish-child", str(target)], check=True, env=env,
                              capture_output=True, text=True)
        found = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{count:>7}{found['tasks']:>8}{found['tasks_mb']:>9}{found['floor_mb']:>10}{found['merge_peak_mb']:>11}"
              f"{found['peak_mb']:>13}{found['merge_s']:>9}", flush=True)


def measure(count: int, scratch: Path, checkout: Path | None, merge: bool, report: bool, sentences: int = 0) -> dict:
    cut = f"-s{sentences}" if sentences else ""
    corpus = scratch / f"corpus-{count}{cut}.jsonl"
    if not corpus.exists():
        subprocess.run([sys.executable, __file__, "--write-corpus", str(count), str(corpus), str(sentences)], check=True)
    out = scratch / f"run-{count}{cut}-{'head' if checkout else 'tree'}"
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), env.get("PYTHONPATH")]))
    command = [sys.executable, __file__, "--child", str(corpus), str(out), "on" if merge else "off",
               "on" if report else "off"]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:  # e.g. killed for memory: recorded, and the next size still runs
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-2000:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--write-corpus"]:
        write_corpus(int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0)
        return
    if sys.argv[1:2] == ["--finish-child"]:
        print(json.dumps(finish_child(Path(sys.argv[2]))))
        return
    if sys.argv[1:2] == ["--child"]:
        corpus, out, merge, report = sys.argv[2:6]
        print(json.dumps(run_child(Path(corpus), Path(out), merge == "on", report == "on")))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    parser.add_argument("--checkout", type=Path, default=None, help="another copy of goose to measure")
    parser.add_argument("--merge", choices=["on", "off"], default="on")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--scratch", type=Path, default=None, help="folder for corpora and runs (default: a temp)")
    parser.add_argument("--finish", type=Path, default=None, help="measure only the end of the run in this folder")
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--sentences", type=int, default=0,
                        help="cut each document to its first N sentences (0: whole documents)")
    parser.add_argument("--json", type=Path, default=None, help="results file, rewritten after every size "
                        "(default: memory.json in the scratch folder)")
    args = parser.parse_args()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="goose-memory-"))
    scratch.mkdir(parents=True, exist_ok=True)
    if args.finish is not None:
        finish(args.finish, args.copies, scratch, args.checkout)
        return
    results_path = args.json or scratch / "memory.json"
    print(f"goose from {args.checkout or 'this tree'}; merge {args.merge}; report {not args.no_report}; {scratch}; "
          f"results in {results_path}")
    print(f"{'docs':>8}{'tasks':>8}{'floor MB':>10}{'steps MB':>10}{'peak run MB':>13}{'peak MB':>9}{'run s':>8}"
          f"{'report s':>10}{'ms/doc':>8}")
    record = {"checkout": str(args.checkout or "this tree"), "merge": args.merge, "report": not args.no_report,
              "sentences": args.sentences, "sizes": {}}
    results = {}
    for count in args.sizes:
        found = measure(count, scratch, args.checkout, args.merge == "on", not args.no_report, args.sentences)
        record["sizes"][str(count)] = found
        results_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if "error" in found:
            print(f"{count:>8}  failed: {found['error'].splitlines()[-1] if found['error'] else ''}", flush=True)
            continue
        results[count] = found
        print(f"{count:>8}{found['tasks']:>8}{found['floor_mb']:>10}{found.get('peak_steps_mb') or '-':>10}"
              f"{found['peak_after_run_mb']:>13}{found['peak_mb']:>9}{found['run_s']:>8}{found['report_s']:>10}"
              f"{1000 * found['run_s'] / count:>8.2f}", flush=True)
        print("\n".join(per_row(found, count)), flush=True)
    if not results:
        return
    smallest = min(results)
    for count in sorted(results):
        if count == smallest:
            continue
        ratio = results[count]["peak_mb"] / results[smallest]["peak_mb"]
        growth = (results[count]["peak_mb"] - results[smallest]["peak_mb"]) * 2**20 / (count - smallest)
        print(f"peak {count}/{smallest}: {ratio:.2f}x; peak growth {growth:,.0f} bytes per document")


if __name__ == "__main__":
    main()
