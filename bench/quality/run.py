"""Quality of goose's tasks on real text: each corpus through its preset, then the shortcut audit.

For every corpus of ``bench/quality/data/`` (written by ``corpora.py``) this runs the
YAML config ``bench/quality/configs/<corpus>.yaml`` as ``goose run`` would (offline: no
engine), on the first ``--limit`` documents, into ``OUT/<corpus>/``, and measures:

* documents in, passages (rows that reached the masking step), tasks, yield (tasks per
  document and per passage), share of valid tasks;
* masked text length (median, p90, max characters);
* where the wrong options came from: the share of each ``lineage.option_sources`` kind
  (``perturb``, ``corpus``, ``same_doc``, ``near``, ``decoy``, ...);
* the shortcut audit (:func:`goose.audit.audit_tasks`): each cheap solver's solve rate with
  its 95% Wilson interval, chance, and the best solver.

The pipeline runs with whatever ``goose`` Python imports (so ``PYTHONPATH=/tmp/goose-base``
measures an older checkout); the audit and the validity check always run in a child
process on *this* checkout's goose, so before and after are judged by the same code.

Writes ``OUT/quality.md`` (one table row per corpus), ``OUT/quality.json`` and
``OUT/samples.md`` (10 seeded random tasks per corpus, gold marked, for people to read).

    python bench/quality/run.py --out /tmp/goose-quality
    python bench/quality/run.py --out /tmp/q --corpora math_champ code_stdlib --limit 100
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CONFIG_DIR = HERE / "configs"
DATA_DIR = HERE / "data"
CORPORA = (
    "cyber_cwe", "cyber_harden", "math_champ", "code_stdlib",
    "wiki_articles", "wiki_leads", "html_manuals", "sci_docstrings",
)
DEFAULT_LIMIT = 150
SAMPLE_WINDOW = 1500


# ---------------------------------------------------------------- generation (any goose)


def generate(corpus: str, out: Path, limit: int) -> dict[str, Any]:
    """Run ``corpus``'s config on its first ``limit`` documents into ``out/<corpus>/run``."""
    import goose
    from goose.config import load_config
    from goose.runner import run_to_directory

    folder = out / corpus
    folder.mkdir(parents=True, exist_ok=True)
    source = DATA_DIR / f"{corpus}.jsonl"
    if not source.exists():
        raise SystemExit(f"{source} is missing; run `bash bench/quality/setup.sh && python bench/quality/corpora.py`")
    lines = source.read_text(encoding="utf-8").splitlines()[:limit]
    capped = folder / "input.jsonl"
    capped.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config_path = CONFIG_DIR / f"{corpus}.yaml"
    settings = load_config(config_path)
    pipeline = settings.build_pipeline(config_path.parent)
    started = time.perf_counter()
    result = run_to_directory(pipeline, [str(capped)], folder / "run", progress=False, overwrite=True)
    seconds = time.perf_counter() - started
    summary = json.loads((folder / "run" / "summary.json").read_text())
    return {
        "corpus": corpus,
        "goose": str(Path(goose.__file__).parent),
        "preset": settings.preset,
        "docs": len(lines),
        "tasks": result.tasks.num_rows,
        "passages": _passages(summary),
        "seconds": round(seconds, 1),
        "drops": _drops(folder / "run"),
    }


def _passages(summary: dict[str, Any]) -> int | None:
    """Rows that reached the masking step (one per passage; windowing may make several per document)."""
    for step in summary.get("steps") or []:
        if "Mask" in str(step.get("operator") or ""):
            return step.get("rows_in")
    return None


def _drops(run: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    table = pq.read_table(run / "rejects.parquet", columns=["operator", "reason"])
    counts = Counter(f"{op}:{reason}" for op, reason in zip(table["operator"].to_pylist(), table["reason"].to_pylist()))
    return dict(counts.most_common(8))


# ---------------------------------------------------------------- measurement (this checkout's goose)


def measure(run: Path, seed: int, samples: int) -> dict[str, Any]:
    """Lengths, option sources, validity, audit and samples of one run folder's tasks."""
    import pyarrow.parquet as pq

    from goose.audit import audit_tasks, report_solvers
    from goose.task import Lineage, find_task_problem

    table = pq.read_table(run / "tasks.parquet")
    rows = table.to_pylist()
    lengths = sorted(len(row["masked_text"]) for row in rows)
    sources = Counter()
    for row in rows:
        for origin in row["lineage"]["option_sources"]:
            if origin != "gold":
                sources[origin.split(":", 1)[0]] += 1
    wrong = sum(sources.values())
    problems = Counter()
    for row in rows:
        lineage = Lineage.model_validate({k: v for k, v in row["lineage"].items() if v is not None})
        problem = find_task_problem(masked_text=row["masked_text"], gold=row["gold"], options=row["options"],
                                    answer=row["answer"], question=row["question"], lineage=lineage)
        if problem is not None:
            problems[problem.reason] += 1
    audit = audit_tasks(table, report_solvers()) if rows else None
    solvers = {}
    if audit is not None:
        for name, stats in audit.overall.items():
            solvers[name] = {"rate": round(stats.solve_rate, 4), "ci": [round(stats.ci_low, 4), round(stats.ci_high, 4)]}
    return {
        "median_chars": int(statistics.median(lengths)) if lengths else 0,
        "p90_chars": lengths[int(0.9 * (len(lengths) - 1))] if lengths else 0,
        "max_chars": lengths[-1] if lengths else 0,
        "valid": len(rows) - sum(problems.values()),
        "problems": dict(problems),
        "option_sources": {kind: round(count / wrong, 4) for kind, count in sources.most_common()} if wrong else {},
        "chance": round(audit.chance, 4) if audit else None,
        "solvers": solvers,
        "best": audit.best if audit else None,
        "unavailable": audit.unavailable if audit else {},
        "samples": _samples(rows, seed, samples),
    }


def _samples(rows: list[dict[str, Any]], seed: int, count: int) -> list[dict[str, Any]]:
    picked = random.Random(seed).sample(rows, min(count, len(rows)))
    out = []
    for row in picked:
        text = row["masked_text"]
        at = text.index("[MASK]") if "[MASK]" in text else 0
        start = max(0, at - SAMPLE_WINDOW // 2)
        end = min(len(text), at + len("[MASK]") + SAMPLE_WINDOW // 2)
        shown = ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")
        out.append({"id": row["id"], "source_id": row["source_id"], "masked_text": shown, "chars": len(text),
                    "options": row["options"], "answer": row["answer"],
                    "sources": row["lineage"]["option_sources"]})
    return out


def measure_child(runs: dict[str, Path], seed: int, samples: int) -> dict[str, Any]:
    """:func:`measure` each run in a child Python whose ``goose`` is this checkout's."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, str(Path(__file__).resolve()), "--measure-json",
               json.dumps({name: str(path) for name, path in runs.items()}), "--seed", str(seed),
               "--samples", str(samples)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"measuring with {REPO}/goose failed (the run folders are kept):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


# ---------------------------------------------------------------- output

SOURCE_KINDS = ("perturb", "corpus", "same_doc", "near", "decoy")


def table_markdown(results: list[dict[str, Any]]) -> str:
    solver_names: list[str] = []
    for result in results:
        solver_names += [name for name in result.get("solvers", {}) if name not in solver_names]
    kinds = list(SOURCE_KINDS) + sorted({k for r in results for k in r.get("option_sources", {})} - set(SOURCE_KINDS))
    lines = [
        "| corpus | preset | docs | passages | tasks | tasks/doc | tasks/passage | valid | median chars | p90 chars | wrong options by source | chance | best solver | best rate (95% CI) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        best = r.get("best")
        rate = r["solvers"][best] if best else None
        shares = ", ".join(f"{k} {r['option_sources'][k]:.0%}" for k in kinds if k in r.get("option_sources", {}))
        lines.append(
            f"| {r['corpus']} | {r['preset']} | {r['docs']} | {r['passages'] if r['passages'] is not None else '-'} "
            f"| {r['tasks']} | {r['tasks'] / r['docs']:.2f} | {_ratio(r['tasks'], r['passages'])} | {r['valid']}/{r['tasks']} | {r['median_chars']:,} "
            f"| {r['p90_chars']:,} | {shares or '-'} | {_percent(r['chance'])} "
            f"| {best or '-'} | {_rate(rate)} |"
        )
    lines += ["", "Solve rate of every solver (95% Wilson interval):", "",
              "| corpus | " + " | ".join(solver_names) + " |", "|---|" + "---|" * len(solver_names)]
    for r in results:
        cells = []
        for name in solver_names:
            value = r.get("solvers", {}).get(name)
            cells.append(f"{value['rate']:.1%} ({value['ci'][0]:.0%}-{value['ci'][1]:.0%})" if value else "-")
        lines.append(f"| {r['corpus']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _ratio(numerator: int, denominator: int | None) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "-"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _rate(value: dict[str, Any] | None) -> str:
    if not value:
        return "-"
    return f"{value['rate']:.1%} ({value['ci'][0]:.1%}-{value['ci'][1]:.1%})"


def samples_markdown(results: list[dict[str, Any]]) -> str:
    parts = ["# Random tasks per corpus\n", "Gold marked with **(gold)**; option source after each option.\n"]
    for r in results:
        parts.append(f"\n## {r['corpus']}\n")
        for number, sample in enumerate(r.get("samples", []), 1):
            parts.append(f"\n### {r['corpus']} {number}: {sample['source_id']} ({sample['chars']:,} chars)\n")
            parts.append("```text\n" + sample["masked_text"].replace("```", "'''") + "\n```\n")
            letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            for index, (option, origin) in enumerate(zip(sample["options"], sample["sources"])):
                mark = " **(gold)**" if letters[index] == sample["answer"] else ""
                body = option.replace("\n", " \u23ce ")
                parts.append(f"- {letters[index]}{mark} `{origin}`: {body}\n")
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/goose-quality"), help="output folder")
    parser.add_argument("--corpora", nargs="+", choices=CORPORA, default=list(CORPORA), help="subset of corpora")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"documents per corpus (default {DEFAULT_LIMIT})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled tasks")
    parser.add_argument("--samples", type=int, default=10, help="random tasks per corpus in samples.md")
    parser.add_argument("--measure-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure_json:  # the child process: measure with this checkout's goose
        runs = json.loads(args.measure_json)
        print(json.dumps({name: measure(Path(path), args.seed, args.samples) for name, path in runs.items()}))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    generated = []
    for corpus in args.corpora:
        info = generate(corpus, args.out, args.limit)
        print(f"{corpus}: {info['docs']} docs -> {info['tasks']} tasks in {info['seconds']} s", flush=True)
        generated.append(info)
    measured = measure_child({g["corpus"]: args.out / g["corpus"] / "run" for g in generated}, args.seed, args.samples)
    results = [{**info, **measured[info["corpus"]]} for info in generated]
    (args.out / "quality.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    table = table_markdown(results)
    (args.out / "quality.md").write_text(f"goose: {generated[0]['goose']}; {args.limit} documents per corpus\n\n{table}")
    (args.out / "samples.md").write_text(samples_markdown(results))
    print(table)
    print(f"wrote {args.out / 'quality.md'}, quality.json and samples.md in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
