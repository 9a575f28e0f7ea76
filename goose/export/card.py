"""The dataset card (``README.md``) written beside an export: what is in it and how it was made.

The card says, in Markdown with a Hugging Face YAML header: the files and their task counts,
the schema of the written rows, the counts per domain and per source (the LLM that chose the
masked span, or goose's offline heuristics), how the tasks were made (goose version, seed,
operators, input file names, rows in and rejected, the split rule) and the verifier rule
that rewards a completion. Everything in it comes from the tasks and the run folder, so the
same export writes the same card.

>>> from goose.schema import tasks_to_table
>>> card = dataset_card(CardFacts(title="demo", format="jsonl", val_fraction=0.1, splits={"train": tasks_to_table([])},
...     files={}, columns=[("question", "string")]))
>>> card.splitlines()[0], "## Verifier" in card
('---', True)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

import goose

OFFLINE_SOURCE = "offline (goose heuristics, no LLM)"
"""The source named for tasks whose span no LLM chose."""

COLUMN_MEANINGS = {
    "question": "the full prompt: instructions, the passage with the span masked, and the lettered options",
    "options": "the option texts, in letter order (A first)",
    "answer": "the gold option letter",
    "id": "goose task id (stable: the split is decided by its hash)",
    "domain": "the task's domain (math, code, cyber, ...)",
    "source_id": "id of the input row (passage) the task was made from",
    "masked_text": "the passage with the gold span replaced by the mask marker",
    "gold": "the text of the gold option (the masked span)",
    "lineage": "how the task was made: passage hash, span offsets, seed, operators, option sources, engine, model, probe results",
    "data_source": "verl: 'goose/<domain>'; verl reports validation metrics per value",
    "prompt": "the chat prompt: one user message holding the question",
    "ability": "verl: the task's domain",
    "reward_model": "verl: {'style': 'rule', 'ground_truth': <gold letter>}",
    "extra_info": "verl: split, row index, task id, source_id, options",
}
"""What each exported column holds (the schema table of the card)."""


class CardFacts(BaseModel):
    """What the card reports; :func:`dataset_card` only formats it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    title: str
    format: str
    val_fraction: float
    splits: dict[str, pa.Table]
    """Tasks per split (``train``, ``validation``), as :data:`goose.schema.TASK_SCHEMA` tables."""
    files: dict[str, dict[str, int]]
    """Written file or folder (relative to the export folder) -> ``{split: tasks}``."""
    columns: list[tuple[str, str]]
    """(column, Arrow type) of the written rows."""
    run: dict[str, Any] = {}
    """What the run folder tells: ``summary`` (summary.json) and ``manifest`` (manifest.json)."""


def task_source(lineage: dict[str, Any] | None) -> str:
    """Who chose a task's masked span: ``engine/model`` from its lineage, or :data:`OFFLINE_SOURCE`.

    >>> task_source({"engine": "openai_http", "model": "Qwen/Qwen3-8B"}), task_source({"engine": None, "model": None})
    ('openai_http/Qwen/Qwen3-8B', 'offline (goose heuristics, no LLM)')
    """
    lineage = lineage or {}
    parts = [str(lineage[key]) for key in ("engine", "model") if lineage.get(key)]
    return "/".join(parts) if parts else OFFLINE_SOURCE


def _counts(splits: dict[str, pa.Table], key: str) -> dict[str, Counter]:
    if key == "source":
        return {name: Counter(task_source(row) for row in table.column("lineage").to_pylist()) for name, table in splits.items()}
    return {name: Counter(table.column(key).to_pylist()) for name, table in splits.items()}


def _count_table(title: str, splits: dict[str, pa.Table], key: str) -> list[str]:
    per_split = _counts(splits, key)
    values = sorted(set().union(*per_split.values())) if per_split else []
    names = list(splits)
    lines = [f"| {title} | " + " | ".join(names) + " | total |", "|---" * (len(names) + 2) + "|"]
    for value in values:
        counts = [per_split[name][value] for name in names]
        lines.append(f"| {_cell(value)} | " + " | ".join(str(c) for c in counts) + f" | {sum(counts)} |")
    totals = [splits[name].num_rows for name in names]
    lines.append("| **all** | " + " | ".join(str(c) for c in totals) + f" | {sum(totals)} |")
    return lines


def _cell(value: object) -> str:
    """A value safe inside a Markdown table cell (one line, no pipes)."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _yaml_header(facts: CardFacts) -> list[str]:
    lines = ["---", f"pretty_name: {_quote(facts.title)}", "task_categories:", "- question-answering",
             "tags:", "- goose", "- rlvr", "- multiple-choice"]
    data_files: dict[str, dict[str, str]] = {}
    for path, counts in facts.files.items():
        if facts.format in {"verl", "trl", "jsonl"}:
            config = path.rsplit("/", 1)[0] if "/" in path else "default"
            for split in counts:
                data_files.setdefault(config, {})[split] = path
    if data_files:
        lines.append("configs:")
        for config, splits in data_files.items():
            lines += [f"- config_name: {_quote(config)}", "  data_files:"]
            lines += [f"  - split: {split}\n    path: {_quote(path)}" for split, path in splits.items()]
    return [*lines, "---"]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _how_made(facts: CardFacts) -> list[str]:
    summary = facts.run.get("summary") or {}
    fingerprint = (facts.run.get("manifest") or {}).get("fingerprint") or {}
    lines = [f"* goose {goose.__version__}; seed {summary.get('seed', fingerprint.get('seed', 'unknown'))}."]
    operators = summary.get("operators") or [step.get("operator") for step in fingerprint.get("steps", [])]
    if operators:
        lines.append(f"* Operators, in order: {', '.join(_cell(op) for op in operators)}.")
    files = (fingerprint.get("input") or {}).get("files") or []
    if files:
        names = ", ".join(f"`{_cell(str(f.get('path', '')).replace(chr(92), '/').rsplit('/', 1)[-1])}`" for f in files)
        lines.append(f"* Input: {names}.")
    engines = fingerprint.get("engines") or {}
    if engines:
        lines.append(f"* Engines: {', '.join(_cell(name) for name in sorted(engines))}.")
    if "rows_in" in summary:
        lines.append(f"* Rows in: {summary['rows_in']}; tasks kept: {summary.get('tasks')}; rows rejected "
                     f"(each with a reason, in the run's `rejects.parquet`): {summary.get('rejects')}.")
    lines.append(f"* Split: a task is in `validation` when the first 8 bytes of the SHA-256 of its `id`, "
                 f"read as a fraction of 2^64, are below {facts.val_fraction:g}; otherwise in `train`. The "
                 "split depends on nothing else (not row order, not the other tasks).")
    return lines


VERIFIER_SECTION = """## Verifier

Each task has exactly one gold letter (`answer`). A completion earns 1.0 when the one option
letter it commits to is the gold letter, else 0.0: only the text after the last `</think>` is
read; `\\boxed{C}` wins over everything else; otherwise the last statement such as
`Answer: C`, `the correct option is C` or `I'd choose C` decides; otherwise a last line that
is just a letter (`C`, `(C)`, `C. text`) counts. A hedge (`A or C`, `A/B`, `either ...`) or no
commitment earns 0.0. The full rule is the docstring of `goose.reward`.

* TRL: `GRPOTrainer(..., reward_funcs=goose.reward.trl_reward)` (rows whose `answer` is not a
  letter get `None`, so other data sets can be mixed in).
* verl: `reward.custom_reward_function.path=pkg://goose.export.verl` and
  `reward.custom_reward_function.name=compute_score` (verl >= 0.7.1; up to 0.7.0 the keys are
  `custom_reward_function.path` / `.name`; with `reward_model.reward_manager=batch` use
  `name=compute_score_batch`).
* Anything else: `goose.reward.score(completion, answer)`.
"""


def dataset_card(facts: CardFacts) -> str:
    """The card's Markdown text (deterministic for the same facts)."""
    total = sum(table.num_rows for table in facts.splits.values())
    counts = ", ".join(f"{name} {table.num_rows}" for name, table in facts.splits.items())
    lines = [
        *_yaml_header(facts),
        f"# {facts.title}",
        "",
        f"{total} multiple-choice reasoning tasks ({counts}) made by goose (`goose-rlvr`), "
        f"exported as `{facts.format}`. Each task is a passage with one reasoning span "
        "masked out and a set of lettered options for it; exactly one option is the removed span.",
        "",
        "## Files",
        "",
        "| file | " + " | ".join(facts.splits) + " |",
        "|---" * (len(facts.splits) + 1) + "|",
        *[f"| `{_cell(path)}` | " + " | ".join(str(counts.get(name, 0)) for name in facts.splits) + " |"
          for path, counts in facts.files.items()],
        "",
        "## Schema",
        "",
        "| column | type | meaning |",
        "|---|---|---|",
        *[f"| `{name}` | `{_cell(kind)}` | {COLUMN_MEANINGS.get(name, '')} |" for name, kind in facts.columns],
        "",
        "## Counts per domain",
        "",
        *_count_table("domain", facts.splits, "domain"),
        "",
        "## Counts per source (who chose the masked span)",
        "",
        *_count_table("source", facts.splits, "source"),
        "",
        "## How it was made",
        "",
        *_how_made(facts),
        "",
        VERIFIER_SECTION,
    ]
    return "\n".join(lines)
