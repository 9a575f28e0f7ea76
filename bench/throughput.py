"""Offline throughput before and after, on real text, in one command: docs/s per core, import time, segmenter memory.

"Before" is a git revision (default ``HEAD``) checked out read-only into a temporary
``git worktree`` (removed at the end); "after" is this working tree. Each side runs in its
own child process with ``PYTHONPATH`` pointing at its checkout, so the two never share
imports, and the children take turns (before, after, before, after, ...) so that load
from other processes on the machine hits both alike.

* **docs/s per core**: every corpus of ``--corpora`` (``bench/quality/data``, written by
  ``bench/quality/corpora.py``) through its YAML config (``bench/quality/configs``: the
  offline domain presets and ``offline``), first ``--limit`` documents. The clock is the
  child's CPU time (``time.process_time``: all its threads, so it counts per core) over
  the pipeline runs only, after a warm-up run on a few documents (lazy imports, first
  spaCy pipeline). docs/s per core = documents / CPU seconds, all corpora together; the
  best of ``--repeats`` runs counts. The tasks of both sides are compared column by column
  and must be identical.
* **import**: wall seconds of ``import goose`` in a fresh interpreter (median of 5), its
  peak RSS, and whether spaCy got loaded.
* **segmenter vocabulary**: ``--passages`` paragraphs of the corpora (every distinct one, then
  numbered copies, which bring new words) through one ``Segmenter``: spaCy lexemes held and
  the child's peak RSS every tenth of the way.

    python bench/throughput.py
    python bench/throughput.py --before 5db2e0a --corpora html_manuals cyber_cwe --limit 100 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "quality" / "data"
CONFIGS = HERE / "quality" / "configs"
CORPORA = ("cyber_cwe", "math_champ", "code_stdlib", "html_manuals", "wiki_articles", "sci_docstrings")
WARM_UP_DOCS = 8


# ---------------------------------------------------------------- children (one checkout each)


def _rows(corpus: str, limit: int) -> list[dict[str, Any]]:
    path = DATA / f"{corpus}.jsonl"
    if not path.exists():
        raise SystemExit(f"{path} is missing; run `bash bench/quality/setup.sh && python bench/quality/corpora.py`")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:limit] if line.strip()]


def child_pipeline(corpora: list[str], limit: int, out: Path) -> dict[str, Any]:
    """Run every corpus through its config; CPU seconds of the runs, tasks written to ``out``."""
    import pyarrow.parquet as pq

    from goose.config import load_config

    inputs = {corpus: _rows(corpus, limit) for corpus in corpora}
    pipelines = {}
    for corpus in corpora:
        config = CONFIGS / f"{corpus}.yaml"
        pipelines[corpus] = load_config(config).build_pipeline(config.parent)
        pipelines[corpus].run(inputs[corpus][:WARM_UP_DOCS])  # lazy imports and first pipeline builds
    seconds, docs, tasks = {}, {}, {}
    for corpus in corpora:
        started = time.process_time()
        result = pipelines[corpus].run(inputs[corpus])
        seconds[corpus] = time.process_time() - started
        docs[corpus] = len(inputs[corpus])
        tasks[corpus] = result.tasks.num_rows
        pq.write_table(result.tasks, out / f"{corpus}.parquet")
    return {"seconds": seconds, "docs": docs, "tasks": tasks}


def child_import() -> dict[str, Any]:
    """Wall time and peak RSS of ``import goose`` in this fresh interpreter."""
    started = time.perf_counter()
    import goose  # noqa: F401

    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "spacy": "spacy" in sys.modules}


def child_vocabulary(passages: int) -> dict[str, Any]:
    """Lexemes and peak RSS after ``passages`` distinct paragraphs through one Segmenter."""
    from goose.text.segment import Segmenter

    texts: list[str] = []
    seen: set[str] = set()
    for corpus in sorted(path.stem for path in DATA.glob("*.jsonl")):
        if corpus.startswith("html"):
            continue  # raw HTML; its text comes out of HtmlToText in a run
        for row in _rows(corpus, 10**9):
            for value in row.values():
                if isinstance(value, str):
                    for paragraph in value.split("\n\n"):
                        if len(paragraph.strip()) >= 40 and paragraph not in seen:
                            seen.add(paragraph)
                            texts.append(paragraph)
    segmenter = Segmenter()
    segmenter.units("Warm up. The first call loads spaCy in the new Segmenter.")
    started = time.process_time()
    done = 0
    checkpoints = []  # (paragraphs, lexemes, peak RSS MB) every tenth of the way
    while done < passages:  # later passes over the corpora add variants: numbered copies
        for text in texts:
            segmenter.units(text if done < len(texts) else f"{text} (copy {done // len(texts)}, item {done})")
            done += 1
            if done % max(passages // 10, 1) == 0:
                # _nlp: the spaCy pipeline, in the old and the new Segmenter alike
                checkpoints.append((done, len(segmenter._nlp.vocab),
                                    round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
            if done >= passages:
                break
    return {"passages": done, "distinct_texts": len(texts), "checkpoints": checkpoints,
            "seconds": time.process_time() - started}


# ---------------------------------------------------------------- parent


def _run_child(checkout: Path, args: list[str]) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", *args], env=env, cwd=checkout,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"child on {checkout} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _same_tasks(before: Path, after: Path, corpora: list[str]) -> dict[str, bool]:
    import pyarrow.parquet as pq

    return {c: pq.read_table(before / f"{c}.parquet").to_pylist() == pq.read_table(after / f"{c}.parquet").to_pylist()
            for c in corpora}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="HEAD", help="git revision measured as 'before' (default HEAD)")
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA), help="corpora of bench/quality/data")
    parser.add_argument("--limit", type=int, default=150, help="documents per corpus (default 150)")
    parser.add_argument("--repeats", type=int, default=3, help="pipeline runs per side; the fastest counts")
    parser.add_argument("--passages", type=int, default=50_000, help="paragraphs through the segmenter (0: skip)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="pipeline", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        if args.mode == "import":
            result = child_import()
        elif args.mode == "vocabulary":
            result = child_vocabulary(args.passages)
        else:
            result = child_pipeline(args.corpora, args.limit, args.out)
        print(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory(prefix="goose-throughput-") as scratch:
        head = Path(scratch) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(head), args.before], cwd=REPO, check=True,
                       capture_output=True)
        try:
            return _compare(args, {"before": head, "after": REPO}, Path(scratch))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(head)], cwd=REPO, capture_output=True)


def _compare(args: argparse.Namespace, checkouts: dict[str, Path], scratch: Path) -> int:
    sides = list(checkouts)
    imports: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for _ in range(5):
        for side in sides:
            imports[side].append(_run_child(checkouts[side], ["--mode", "import"]))
    print(f"import goose (median of 5 fresh interpreters), revision {args.before} vs this tree:")
    for side in sides:
        seconds = statistics.median(r["seconds"] for r in imports[side])
        rss = statistics.median(r["rss_mb"] for r in imports[side])
        print(f"  {side:<7}{seconds:7.2f} s  peak RSS {rss:6.0f} MB  spaCy loaded: {imports[side][0]['spacy']}")

    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    child_args = ["--corpora", *args.corpora, "--limit", str(args.limit)]
    for repeat in range(args.repeats):
        for side in sides:
            out = scratch / f"{side}-{repeat}"
            out.mkdir()
            runs[side].append(_run_child(checkouts[side], [*child_args, "--out", str(out)]))
    same = _same_tasks(scratch / "before-0", scratch / "after-0", args.corpora)
    print(f"\noffline presets, first {args.limit} documents per corpus, CPU seconds of the runs (best of {args.repeats}):")
    print(f"  {'corpus':<16}{'docs':>6}{'tasks':>7}{'before s':>10}{'after s':>9}{'ratio':>7}  identical tasks")
    best = {side: {c: min(r["seconds"][c] for r in runs[side]) for c in args.corpora} for side in sides}
    for corpus in args.corpora:
        docs, tasks = runs["after"][0]["docs"][corpus], runs["after"][0]["tasks"][corpus]
        b, a = best["before"][corpus], best["after"][corpus]
        print(f"  {corpus:<16}{docs:>6}{tasks:>7}{b:>10.2f}{a:>9.2f}{b / a:>6.2f}x  {same[corpus]}")
    docs = sum(runs["after"][0]["docs"].values())
    rate = {side: docs / sum(best[side].values()) for side in sides}
    print(f"  all: {docs} docs, before {rate['before']:.1f} docs/s per core, after {rate['after']:.1f} docs/s per core: "
          f"**{rate['after'] / rate['before']:.2f}x**; tasks identical: {all(same.values())}")

    if args.passages:
        found = {side: _run_child(checkouts[side], ["--mode", "vocabulary", "--passages", str(args.passages)])
                 for side in sides}
        print(f"\none Segmenter over {args.passages:,} paragraphs ({found['after']['distinct_texts']:,} distinct "
              "texts of the corpora, then numbered copies): spaCy lexemes held / peak RSS MB")
        print(f"  {'paragraphs':>10}" + "".join(f"{side + ' lexemes':>18}{'RSS':>6}" for side in sides))
        for rows in zip(*(found[side]["checkpoints"] for side in sides)):
            print(f"  {rows[0][0]:>10,}" + "".join(f"{lexemes:>18,}{rss:>6}" for _, lexemes, rss in rows))
        for side in sides:
            print(f"  {side}: {found[side]['passages'] / found[side]['seconds']:.0f} paragraphs/s per core")
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
