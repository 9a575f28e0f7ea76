"""A few sample tasks and a few sample rejects per top drop reason, read without loading whole tables.

>>> import tempfile, goose
>>> from goose.runner import run_to_directory
>>> out = tempfile.mkdtemp()
>>> _ = run_to_directory(goose.offline_pipeline(), goose.sample_corpus_path(), out, progress=False)
>>> [task["domain"] for task in sample_tasks(RunFiles.open(out), count=3)]
['math', 'stem', 'code']
"""

from __future__ import annotations

from goose.report.run_files import RunFiles

TASK_COLUMNS = ["id", "domain", "source_id", "masked_text", "options", "answer", "question",
                "lineage.option_sources", "lineage.probe_pass_rate", "lineage.probe_letters"]
REJECT_COLUMNS = ["source_id", "operator", "reason", "detail", "record"]
SCAN_ROWS = 4_096
"""Rows of ``tasks.parquet`` looked at when choosing sample tasks (one batch, from the start)."""


def sample_tasks(run: RunFiles, count: int = 3) -> list[dict]:
    """Up to ``count`` tasks from the start of ``tasks.parquet``, one per domain first, then the next ones.

    Each is the task's row as a dict (with ``lineage`` holding only the sampled fields). Rows
    that are no tasks (a pipeline that stops before assembling them has no ``options``) give [].
    """
    if count <= 0 or "options" not in run.task_columns():
        return []
    rows: list[dict] = []
    for batch in run.task_batches(TASK_COLUMNS, batch_rows=SCAN_ROWS):
        rows = batch.to_pylist()
        break
    chosen: list[int] = []
    seen_domains: set[object] = set()
    for index, row in enumerate(rows):
        if len(chosen) < count and row.get("domain") not in seen_domains:
            seen_domains.add(row.get("domain"))
            chosen.append(index)
    chosen += [index for index in range(len(rows)) if index not in chosen][: count - len(chosen)]
    return [rows[index] for index in sorted(chosen)]


def sample_rejects(
    run: RunFiles, keys: list[tuple[str, str]], per_reason: int = 2
) -> dict[tuple[str, str], list[dict]]:
    """Up to ``per_reason`` rows of ``rejects.parquet`` for each (step, reason) in ``keys``, in file order.

    Reading stops as soon as every key has its samples.

    >>> import tempfile, goose
    >>> from goose.runner import run_to_directory
    >>> out = tempfile.mkdtemp()
    >>> _ = run_to_directory(goose.offline_pipeline(), [{"id": "x", "text": ""}], out, progress=False)
    >>> [row["reason"] for row in sample_rejects(RunFiles.open(out), [("PrepareText", "empty_text")])[
    ...     ("PrepareText", "empty_text")]]
    ['empty_text']
    """
    wanted: dict[tuple[str, str], list[dict]] = {key: [] for key in keys}
    if not wanted or per_reason <= 0:
        return wanted
    pending = dict.fromkeys(wanted, per_reason)
    for batch in run.reject_batches(REJECT_COLUMNS):
        positions = []  # only the keys become Python objects; the rows taken are converted whole
        for position, key in enumerate(zip(batch.column("operator").to_pylist(), batch.column("reason").to_pylist())):
            if pending.get(key, 0) > 0:
                pending[key] -= 1
                positions.append(position)
        if positions:
            for row in batch.take(positions).to_pylist():
                wanted[(row["operator"], row["reason"])].append(row)
        if not any(pending.values()):
            break
    return wanted
