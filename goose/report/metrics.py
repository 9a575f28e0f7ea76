"""The numbers of a run report, as one JSON-ready dict: rows per stage, drop reasons, LLM usage,
option-length and answer-letter balance, the probe's pass rates, and the checks that they add up.

Every number comes from the run's files; the task table is read in bounded batches and only
the columns each section needs, so a report on a large run costs little memory.

>>> import tempfile, goose
>>> from goose.runner import run_to_directory
>>> out = tempfile.mkdtemp()
>>> _ = run_to_directory(goose.offline_pipeline(), goose.sample_corpus_path(), out, progress=False)
>>> numbers = compute_metrics(RunFiles.open(out))
>>> run = numbers["run"]
>>> numbers["checks"]["ok"], run["rows_in"] + run["rows_added"] == run["tasks"] + run["rejects"]
(True, True)
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from goose.options import LETTERS
from goose.report.run_files import RunFiles, nested
from goose.report.shortcuts import audit_metrics

RATIO_HISTOGRAM_EDGES = [round(0.1 * i, 1) for i in range(31)]
"""Bin edges of the gold / mean-distractor length histogram; ratios above 3 count in the last bin."""

EXACT_PASS_RATE_VALUES = 33
"""Up to this many distinct probe pass rates, the histogram has one bar per value (k rollouts
give k + 1 possible rates); above it, the rates fall into :data:`PASS_RATE_BINS` equal bins."""

PASS_RATE_BINS = 20

USAGE_FIELDS = ("requests", "cache_hits", "prompt_tokens", "completion_tokens", "retries")


def compute_metrics(run: RunFiles) -> dict:
    """All numbers of the report of ``run``; see the module docstring for an example.

    Keys: ``run``, ``stages``, ``drop_reasons``, ``checks``, ``llm`` (None without LLM calls),
    ``domains``, ``option_length``, ``answer_letters``, ``probe`` and ``audit`` (the shortcut
    audit, :mod:`goose.report.shortcuts`) (each None when the tasks lack the columns it needs,
    e.g. an empty run or a pipeline that stops before assembling).
    """
    summary = run.summary
    stages = stage_rows(summary)
    rejects_by_step = reject_counts(run)
    run_numbers: dict[str, Any] = {
        "rows_in": int(summary.get("rows_in", stages[0]["rows_in"] if stages else 0)),
        "tasks": run.task_rows,
        "rejects": run.reject_rows,
        "seed": summary.get("seed"),
        "batch_size": summary.get("batch_size"),
        "batches": summary.get("batches"),
        "resumed_batches": summary.get("resumed_batches"),
        "operators": list(summary.get("operators", [])),
        "rows_added": int(summary.get("rows_added", sum(stage["rows_added"] for stage in stages))),
    }
    run_numbers["accounted"] = (run_numbers["rows_in"] + run_numbers["rows_added"]
                                == run_numbers["tasks"] + run_numbers["rejects"])
    for stage in stages:
        stage["rejects_in_file"] = sum(rejects_by_step.get(stage["step"], {}).values())
    task_numbers = task_metrics(run)
    return {
        "run": run_numbers,
        "stages": stages,
        "drop_reasons": drop_reasons(stages),
        "checks": consistency_checks(summary, run_numbers, stages, rejects_by_step),
        "llm": llm_usage(summary),
        **task_numbers,
        "audit": audit_metrics(run),
    }


def stage_rows(summary: dict) -> list[dict]:
    """One row per step of ``summary["steps"]``: rows in, out, dropped (by reason), rows added
    (by an expanding step, e.g. a document's extra passages), seconds.

    ``kept_share`` is the step's rows out over the run's rows in.

    >>> row = stage_rows({"steps": [{"operator": "read", "rows_in": 4, "rows_out": 3, "dropped": {"bad_json": 1}}]})[0]
    >>> row["dropped"], row["accounted"], row["kept_share"]
    (1, True, 0.75)
    """
    steps = summary.get("steps", [])
    first_in = int(steps[0].get("rows_in", 0)) if steps else 0
    rows = []
    for step in steps:
        drops = {str(reason): int(count) for reason, count in dict(step.get("dropped", {})).items()}
        rows_in, rows_out = int(step.get("rows_in", 0)), int(step.get("rows_out", 0))
        rows_added = int(step.get("rows_added", 0))
        dropped = sum(drops.values())
        rows.append({
            "step": str(step.get("operator", "?")),
            "rows_in": rows_in,
            "rows_out": rows_out,
            "dropped": dropped,
            "rows_added": rows_added,
            "drops": dict(sorted(drops.items(), key=lambda item: (-item[1], item[0]))),
            "seconds": float(step.get("seconds", 0.0)),
            "accounted": rows_in + rows_added == rows_out + dropped,
            "kept_share": rows_out / first_in if first_in else 0.0,
        })
    return rows


def drop_reasons(stages: list[dict]) -> list[dict]:
    """Every (step, reason) with its count and share of the run's rows in, most frequent first.

    >>> drop_reasons([{"step": "QualityFilter", "rows_in": 10, "drops": {"too_short": 2}}])
    [{'step': 'QualityFilter', 'reason': 'too_short', 'count': 2, 'share_of_rows_in': 0.2}]
    """
    rows_in = stages[0]["rows_in"] if stages else 0
    reasons = [
        {"step": stage["step"], "reason": reason, "count": count,
         "share_of_rows_in": count / rows_in if rows_in else 0.0}
        for stage in stages
        for reason, count in stage["drops"].items()
    ]
    return sorted(reasons, key=lambda row: (-row["count"], row["step"], row["reason"]))


def reject_counts(run: RunFiles) -> dict[str, dict[str, int]]:
    """Rows of ``rejects.parquet`` by step (its ``operator`` column), then by reason."""
    counts: Counter[tuple[str, str]] = Counter()
    for batch in run.reject_batches(["operator", "reason"]):
        operators, reasons = nested(batch, "operator"), nested(batch, "reason")
        if operators is None or reasons is None:
            continue
        counts.update(zip(operators.to_pylist(), reasons.to_pylist()))
    by_step: dict[str, dict[str, int]] = {}
    for (step, reason), count in sorted(counts.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))):
        by_step.setdefault(str(step), {})[str(reason)] = count
    return by_step


def consistency_checks(
    summary: dict, run_numbers: dict, stages: list[dict], rejects_by_step: dict[str, dict[str, int]]
) -> dict:
    """Whether the run's numbers add up, each check by name, ``problems`` in words and ``ok``.

    * ``rows_accounted``: rows in + rows added = tasks + rejects (the files' row counts; rows
      added are the extra rows of expanding steps, e.g. a document's second passage);
    * ``stages_accounted``: per step, rows in + rows added = rows out + dropped;
    * ``stages_chained``: each step's rows in = the previous step's rows out;
    * ``tasks_match_last_stage``: the last step's rows out = rows in ``tasks.parquet``;
    * ``rejects_match_stages``: ``rejects.parquet`` holds, per step and reason, as many rows as
      the step counted;
    * ``summary_matches_files``: ``summary.json``'s tasks and rejects = the files' row counts.

    >>> consistency_checks({}, {"rows_in": 1, "tasks": 1, "rejects": 0}, [], {})["ok"]
    True
    """
    problems = []
    added = run_numbers.get("rows_added", 0)
    if run_numbers["rows_in"] + added != run_numbers["tasks"] + run_numbers["rejects"]:
        problems.append(f"rows in {run_numbers['rows_in']}" + (f" + added {added}" if added else "")
                        + f" != tasks {run_numbers['tasks']} + rejects {run_numbers['rejects']}")
    checks = {"rows_accounted": not problems}
    unaccounted = [s for s in stages if not s["accounted"]]
    problems += [f"{s['step']}: rows in {s['rows_in']}" + (f" + added {s['rows_added']}" if s.get("rows_added") else "")
                 + f" != out {s['rows_out']} + dropped {s['dropped']}" for s in unaccounted]
    checks["stages_accounted"] = not unaccounted
    broken_links = [(a, b) for a, b in pairwise(stages) if a["rows_out"] != b["rows_in"]]
    problems += [f"{b['step']} got {b['rows_in']} rows but {a['step']} passed on {a['rows_out']}"
                 for a, b in broken_links]
    checks["stages_chained"] = not broken_links
    last_out = stages[-1]["rows_out"] if stages else run_numbers["tasks"]
    checks["tasks_match_last_stage"] = last_out == run_numbers["tasks"]
    if not checks["tasks_match_last_stage"]:
        problems.append(f"the last step passed on {last_out} rows but tasks.parquet holds {run_numbers['tasks']}")
    stage_drops = {s["step"]: {r: c for r, c in s["drops"].items() if c} for s in stages if s["dropped"]}
    mismatched = sorted(set(stage_drops) | set(rejects_by_step))
    mismatched = [step for step in mismatched if stage_drops.get(step, {}) != rejects_by_step.get(step, {})]
    problems += [f"{step}: the summary counts drops {stage_drops.get(step, {})} but rejects.parquet holds "
                 f"{rejects_by_step.get(step, {})}" for step in mismatched]
    checks["rejects_match_stages"] = not mismatched
    summary_pairs = [(key, summary[key], run_numbers[key]) for key in ("tasks", "rejects") if key in summary]
    differing = [(key, said, found) for key, said, found in summary_pairs if said != found]
    problems += [f"summary.json says {said} {key} but the file holds {found}" for key, said, found in differing]
    checks["summary_matches_files"] = not differing
    return {**checks, "ok": not problems, "problems": problems}


def llm_usage(summary: dict) -> dict | None:
    """LLM calls per step that made any, their total, and usage per engine role; None without any.

    ``cache_hit_rate`` is cache hits over calls (requests sent + cache hits).

    >>> llm_usage({"steps": [{"operator": "read"}]}) is None
    True
    """
    steps = []
    for step in summary.get("steps", []):
        if step.get("engine"):
            steps.append({"step": str(step.get("operator", "?")), **_usage(step["engine"])})
    engines = {
        str(role): {"backend": engine.get("backend"), "model": engine.get("model"), **_usage(engine)}
        for role, engine in dict(summary.get("engines", {})).items()
    }
    if not steps and not engines:
        return None
    total: dict[str, Any] = {name: sum(step[name] for step in steps) for name in (*USAGE_FIELDS, "calls")}
    failures: Counter[str] = Counter()
    for step in steps:
        failures.update(step["failures"])
    total["failures"] = dict(sorted(failures.items()))
    total["cache_hit_rate"] = total["cache_hits"] / total["calls"] if total["calls"] else 0.0
    return {"steps": steps, "total": total, "engines": engines}


def _usage(raw: dict) -> dict:
    usage: dict[str, Any] = {name: int(raw.get(name, 0)) for name in USAGE_FIELDS}
    usage["calls"] = usage["requests"] + usage["cache_hits"]
    usage["cache_hit_rate"] = usage["cache_hits"] / usage["calls"] if usage["calls"] else 0.0
    usage["failures"] = {str(kind): int(count) for kind, count in dict(raw.get("failures", {})).items()}
    usage["seconds"] = float(raw.get("seconds", 0.0))
    return usage


def task_metrics(run: RunFiles) -> dict:
    """``domains``, ``option_length``, ``answer_letters`` and ``probe`` from ``tasks.parquet``, in one pass."""
    domains: Counter[str] = Counter()
    lengths = _OptionLengths()
    letters = _AnswerLetters()
    pass_rates: list[np.ndarray] = []
    rollouts: Counter[int] = Counter()
    probe_models: Counter[str] = Counter()
    columns = ["domain", "options", "answer", "lineage.probe_pass_rate", "lineage.probe_letters",
               "lineage.probe_model"]
    present = set(run.task_columns())
    for batch in run.task_batches(columns):
        domain = nested(batch, "domain")
        if domain is not None:
            domains.update(str(value) for value in domain.to_pylist())
        options, answer = nested(batch, "options"), nested(batch, "answer")
        if options is not None and answer is not None:
            option_counts, gold_index = _gold_positions(options, answer)
            lengths.add(options, option_counts, gold_index)
            letters.add(option_counts, gold_index)
        rate = nested(batch, "lineage.probe_pass_rate")
        if rate is not None:
            pass_rates.append(rate.drop_null().to_numpy(zero_copy_only=False).astype(np.float64))
            probe_letters = nested(batch, "lineage.probe_letters")
            if probe_letters is not None:
                counts = pc.list_value_length(probe_letters).drop_null().to_numpy(zero_copy_only=False)
                rollouts.update(int(count) for count in counts)
            models = nested(batch, "lineage.probe_model")
            if models is not None:
                probe_models.update(str(model) for model in models.drop_null().to_pylist())
    has_tasks = {"options", "answer"} <= present
    probed = np.concatenate(pass_rates) if pass_rates else np.zeros(0)
    return {
        "domains": dict(sorted(domains.items(), key=lambda item: (-item[1], item[0]))),
        "option_length": lengths.summary() if has_tasks else None,
        "answer_letters": letters.summary() if has_tasks else None,
        "probe": probe_summary(probed, run.task_rows, rollouts, probe_models) if probed.size else None,
    }


def _gold_positions(options: pa.Array, answer: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Per task: its number of options, and its gold's index (-1 where the answer is no valid letter)."""
    option_counts = pc.fill_null(pc.list_value_length(options), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    letters = [value.strip().upper() if isinstance(value, str) else "" for value in answer.to_pylist()]
    gold_index = np.array([LETTERS.index(v) if len(v) == 1 and v in LETTERS else -1 for v in letters], dtype=np.int64)
    gold_index[gold_index >= option_counts] = -1
    return option_counts, gold_index


class _OptionLengths:
    """Accumulates, per task, the gold's length rank and its length over the mean distractor length."""

    def __init__(self) -> None:
        self.ranks: list[np.ndarray] = []
        self.ratios: list[np.ndarray] = []
        self.longest_credit: list[np.ndarray] = []
        self.shortest_credit: list[np.ndarray] = []
        self.chance: list[np.ndarray] = []
        # position_credit[r - 1]: summed reward of "pick the r-th longest option, ties at random".
        self.position_credit = np.zeros(len(LETTERS), dtype=np.float64)

    def add(self, options: pa.Array, option_counts: np.ndarray, gold_index: np.ndarray) -> None:
        flat = options.flatten()  # respects the offsets of sliced batches
        lengths = pc.fill_null(pc.utf8_length(flat), 0).to_numpy(zero_copy_only=False).astype(np.float64)
        starts = np.concatenate([[0], np.cumsum(option_counts)[:-1]])
        for count in np.unique(option_counts):
            rows = np.nonzero((option_counts == count) & (gold_index >= 0))[0]
            if count < 2 or rows.size == 0:
                continue
            matrix = lengths[starts[rows, None] + np.arange(count)]  # tasks x options
            gold = matrix[np.arange(rows.size), gold_index[rows]]
            longest, shortest = matrix.max(axis=1), matrix.min(axis=1)
            # A "pick the longest option" policy breaks ties at random: its expected reward.
            self.longest_credit.append((gold == longest) / (matrix == longest[:, None]).sum(axis=1))
            self.shortest_credit.append((gold == shortest) / (matrix == shortest[:, None]).sum(axis=1))
            ranks = 1 + (matrix > gold[:, None]).sum(axis=1)
            ties = (matrix == gold[:, None]).sum(axis=1)  # the gold included
            self.ranks.append(ranks)
            positions = np.arange(1, count + 1)
            holds_gold = (positions >= ranks[:, None]) & (positions < (ranks + ties)[:, None])
            self.position_credit[:count] += (holds_gold / ties[:, None]).sum(axis=0)
            distractor_mean = (matrix.sum(axis=1) - gold) / (count - 1)
            self.ratios.append(np.divide(gold, distractor_mean, out=np.full(rows.size, np.inf),
                                         where=distractor_mean > 0))
            self.chance.append(np.full(rows.size, 1.0 / count))

    def summary(self) -> dict | None:
        if not self.ranks:
            return None
        ranks = np.concatenate(self.ranks)
        ratios = np.concatenate(self.ratios)
        finite = ratios[np.isfinite(ratios)]
        counts, _ = np.histogram(np.clip(finite, 0, RATIO_HISTOGRAM_EDGES[-1]), bins=RATIO_HISTOGRAM_EDGES)
        rank_values, rank_counts = np.unique(ranks, return_counts=True)
        return {
            "tasks_measured": int(ranks.size),
            "longest_is_gold_share": float(np.concatenate(self.longest_credit).mean()),
            "shortest_is_gold_share": float(np.concatenate(self.shortest_credit).mean()),
            "chance_share": float(np.concatenate(self.chance).mean()),
            "gold_rank_counts": {int(rank): int(count) for rank, count in zip(rank_values, rank_counts)},
            # "Pick the r-th longest option" (ties at random) for the best r: catches a gold that
            # sits in the middle of symmetric distractors as well as a gold that is the longest.
            "best_length_position": int(np.argmax(self.position_credit)) + 1,
            "best_length_position_share": float(self.position_credit.max() / ranks.size),
            "ratio_median": float(np.median(finite)) if finite.size else None,
            "ratio_mean": float(finite.mean()) if finite.size else None,
            "ratio_p10": float(np.percentile(finite, 10)) if finite.size else None,
            "ratio_p90": float(np.percentile(finite, 90)) if finite.size else None,
            "ratio_histogram": {"edges": RATIO_HISTOGRAM_EDGES, "counts": [int(c) for c in counts]},
        }


class _AnswerLetters:
    """Accumulates the count of each answer letter and the count a uniform shuffle would give."""

    def __init__(self) -> None:
        self.observed = np.zeros(len(LETTERS), dtype=np.int64)
        self.expected = np.zeros(len(LETTERS), dtype=np.float64)
        self.invalid = 0

    def add(self, option_counts: np.ndarray, gold_index: np.ndarray) -> None:
        valid = gold_index >= 0
        self.invalid += int((~valid).sum())
        self.observed += np.bincount(gold_index[valid], minlength=len(LETTERS))[: len(LETTERS)]
        for count in np.unique(option_counts[valid]):
            tasks = int(((option_counts == count) & valid).sum())
            self.expected[: min(int(count), len(LETTERS))] += tasks / count

    def summary(self) -> dict | None:
        used = int(np.max(np.nonzero(self.expected)[0], initial=-1)) + 1
        if used == 0:
            return None
        observed, expected = self.observed[:used], self.expected[:used]
        total = int(observed.sum())
        chi_square = float((((observed - expected) ** 2) / expected).sum())
        deviation = np.abs(observed - expected) / expected
        return {
            "tasks": total,
            "invalid_answers": self.invalid,
            "letters": [
                {"letter": LETTERS[i], "count": int(observed[i]), "expected": float(expected[i]),
                 "share": float(observed[i] / total) if total else 0.0}
                for i in range(used)
            ],
            "max_relative_deviation": float(deviation.max()),
            "chi_square": chi_square,
            "degrees_of_freedom": used - 1,
        }


def probe_summary(pass_rates: np.ndarray, task_rows: int, rollouts: Counter[int], models: Counter[str]) -> dict:
    """Pass-rate statistics of the probed tasks and their histogram.

    The histogram is ``{"values": [...], "counts": [...]}`` (one bar per distinct rate) for up to
    :data:`EXACT_PASS_RATE_VALUES` distinct rates, else ``{"edges": [...], "counts": [...]}``.

    >>> probe = probe_summary(np.array([0.0, 0.5, 0.5, 1.0]), 5, Counter({4: 4}), Counter())
    >>> probe["probed_tasks"], probe["medium_share"], probe["histogram"]["counts"]
    (4, 0.5, [1, 2, 1])
    """
    rounded = np.round(pass_rates, 6)
    values, counts = np.unique(rounded, return_counts=True)
    if values.size <= EXACT_PASS_RATE_VALUES:
        histogram = {"values": [float(v) for v in values], "counts": [int(c) for c in counts]}
    else:
        binned, edges = np.histogram(pass_rates, bins=PASS_RATE_BINS, range=(0.0, 1.0))
        histogram = {"edges": [float(e) for e in edges], "counts": [int(c) for c in binned]}
    return {
        "probed_tasks": int(pass_rates.size),
        "unprobed_tasks": int(task_rows - pass_rates.size),
        "mean_pass_rate": float(pass_rates.mean()),
        "median_pass_rate": float(np.median(pass_rates)),
        "never_solved_share": float((rounded == 0).mean()),
        "always_solved_share": float((rounded == 1).mean()),
        "medium_share": float(((rounded > 0) & (rounded < 1)).mean()),
        "rollouts": {int(k): int(v) for k, v in sorted(rollouts.items())},
        "models": dict(sorted(models.items())),
        "histogram": histogram,
    }
