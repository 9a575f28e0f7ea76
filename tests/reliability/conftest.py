"""Shared fixtures and checks of the reliability suite.

The corpus files are generated once per session in a temporary folder (the 20 MB document
included), never committed. :func:`check_run` is the contract every run must meet: it
completed, every input row is a task or a reject (by count, per step, and by id), every
reject says why, and every task is valid.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
if str(TESTS) not in sys.path:  # openai_stub_server lives in tests/
    sys.path.insert(0, str(TESTS))

from bad_inputs import Case, corpus, write_jsonl, write_parquet

from goose import PipelineResult, table_to_tasks
from goose.operators import HtmlToText, PrepareText, QualityFilter
from goose.options import index_for
from goose.pipeline import Pipeline
from goose.question import MASK_TOKEN, render_question

_SPACE = re.compile(r"\s+")


@pytest.fixture(scope="session")
def cases() -> list[Case]:
    return corpus()


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reliability-corpus")


@pytest.fixture(scope="session")
def jsonl_corpus(corpus_dir: Path, cases: list[Case]) -> Path:
    return write_jsonl(corpus_dir / "bad.jsonl", cases)


@pytest.fixture(scope="session")
def parquet_corpus(corpus_dir: Path, cases: list[Case]) -> Path:
    return write_parquet(corpus_dir / "bad.parquet", cases)


def jsonl_source_ids(path: Path, cases: list[Case]) -> dict[str, str]:
    """Case id -> the source id its row must end under: its own id when the reader can
    parse it, else ``file:line`` (blank lines count in line numbers but are no rows)."""
    ids: dict[str, str] = {}
    numbers = iter(n for n, line in enumerate(path.read_bytes().split(b"\n"), start=1) if line.strip())
    for case in cases:
        number = next(numbers)
        ids[case.id] = case.id if case.row is not None else f"{path.name}:{number}"
    return ids


def normalized(text: str) -> str:
    """NFKC, white space collapsed: how the pipeline's cleaning may reflow a passage."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def prepared_passages(cases: list[Case]) -> dict[str, str]:
    """Case id -> the passage the cleaning steps make of it (what spans are cut from)."""
    rows = [case.row for case in cases if case.row is not None and isinstance(case.row.get("text"), str)]
    rows = [row for row in rows if len(row["text"]) < 1_000_000]
    result = Pipeline([PrepareText(), HtmlToText(), QualityFilter()]).run(rows)
    return dict(zip(result.tasks["source_id"].to_pylist(), result.tasks["text"].to_pylist()))


def check_run(result: PipelineResult, expected_ids: list[str], passages: dict[str, str]) -> list:
    """Assert the reliability contract for one finished run; return its validated tasks."""
    # Every input row is accounted for, in total and per step.
    assert result.rows_in == len(expected_ids), result.summary()
    assert result.accounted, result.summary()
    for step in result.stats:
        assert step.accounted, f"{step.name}: {step.as_dict()}"
    for before, after in zip(result.stats, result.stats[1:]):
        assert after.rows_in == before.rows_out, f"{before.name} -> {after.name}"
    # ... and by id: each row ends as a task or a reject, once, or once per row a step made
    # of it (HeuristicMaskSpan's candidate spans of one passage).
    ended = result.tasks["source_id"].to_pylist() if result.tasks.num_rows else []
    ended += result.rejects["source_id"].to_pylist()
    assert set(ended) == set(expected_ids), (set(ended) - set(expected_ids), set(expected_ids) - set(ended))
    assert not Counter(expected_ids) - Counter(ended) and len(ended) == len(expected_ids) + result.rows_added
    # Every reject says which step dropped it and why; the counters agree with the table.
    steps = [step.name for step in result.stats]
    drops_by_step = Counter()
    for reject in result.rejects.to_pylist():
        assert reject["operator"] in steps, reject
        assert reject["reason"] and re.fullmatch(r"[a-z0-9_]+(:[a-z0-9_]+)?", reject["reason"]), reject
        assert reject["detail"], f"a reject without a detail: {reject}"
        drops_by_step[(reject["operator"], reject["reason"])] += 1
    assert drops_by_step == Counter({(s.name, r): n for s in result.stats for r, n in s.drops.items() if n})
    # Every task validates and is what it claims to be.
    if result.tasks.num_rows == 0:
        return []
    tasks = table_to_tasks(result.tasks)
    for task in tasks:
        assert task.masked_text.count(MASK_TOKEN) == 1, task.id
        assert task.question == render_question(task.masked_text, task.options, task.domain), task.id
        assert task.options[index_for(task.answer)] == task.gold and task.options.count(task.gold) == 1, task.id
        assert not any(MASK_TOKEN in option for option in task.options), task.id
        assert task.source_id in passages, f"a task from {task.source_id}, which no step should have kept"
        assert normalized(task.gold) in normalized(passages[task.source_id]), (task.source_id, task.gold)
    return tasks


def reasons_by_id(result: PipelineResult) -> dict[str, tuple[str, str]]:
    """Source id -> (operator, reason) of its reject."""
    return {r["source_id"]: (r["operator"], r["reason"]) for r in result.rejects.to_pylist()}


def check_expected_drops(result: PipelineResult, cases: list[Case], source_ids: dict[str, str],
                         moved: dict[str, tuple[str, tuple[str, ...]]] | None = None) -> None:
    """Cases with a known fate were dropped by that step for one of their reasons.
    ``moved`` overrides a case's (step, reasons), e.g. for a source that reads it differently."""
    rejects = reasons_by_id(result)
    for case in cases:
        step, reasons = (moved or {}).get(case.id, (case.dropped_by, case.reasons))
        if step in (None, "any"):
            continue
        got = rejects.get(source_ids[case.id])
        assert got is not None, f"{case.id} should have been dropped by {step}"
        assert got[0] == step and got[1] in reasons, (case.id, got, step, reasons)

