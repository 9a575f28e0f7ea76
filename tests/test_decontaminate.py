"""Tests of goose.operators.decontaminate: planted benchmark overlaps are caught, clean tasks kept."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from goose import Pipeline
from goose.operators.decontaminate import Decontaminate, ngram_hashes
from goose.pipeline.operator import BatchResult, RunContext
from goose.schema import tasks_to_table
from goose.task import Task

# A GSM8K-like benchmark item; 19 words of its second sentence gets planted in tasks below.
BENCHMARK = (
    "Natalia sold clips to 48 of her friends in April. Then she sold half as many clips in May "
    "as she did in April, and she wants to know how many clips she sold altogether."
)
PLANTED = "Then she sold half as many clips in May as she did in April, and she wants to know"
OTHER_BENCHMARK = (
    "A train leaves the station at noon travelling at sixty miles per hour towards a city two hundred miles away."
)

PASSAGE = (
    "A community theatre sold 150 tickets and collected $1,450. Adult tickets cost $12 and child "
    "tickets cost $7. Let a be the number of adult tickets. From the first equation, c = 150 - a. "
    "Substituting gives 12a + 7(150 - a) = 1450, so 5a = 400 and a = 80. Then c = 70 child tickets."
)
GOLD = "Substituting gives 12a + 7(150 - a) = 1450, so 5a = 400 and a = 80."
DISTRACTORS = [
    "Substituting gives 12a + 7(150 - a) = 1450, so 5a = 300 and a = 60.",
    "Substituting gives 7a + 12(150 - a) = 1450, so 5a = 350 and a = 70.",
    "Dividing the revenue by the ticket count gives an average price of about $9.67.",
]


def _task(passage: str = PASSAGE, gold: str = GOLD, distractors: list[str] | None = None) -> Task:
    start = passage.index(gold)
    return Task.build(
        domain="math",
        source_id="doc",
        passage=passage,
        span=(start, start + len(gold)),
        distractors=distractors or DISTRACTORS,
        answer_index=1,
        seed=3,
    )


def _tasks(*tasks: Task) -> pa.Table:
    return tasks_to_table(list(tasks))


def _run(operator: Decontaminate, table: pa.Table) -> BatchResult:
    return operator.process(table, RunContext())


@pytest.fixture(scope="module")
def operator() -> Decontaminate:
    return Decontaminate(benchmarks={"gsm8k": [BENCHMARK], "trains": [OTHER_BENCHMARK]})


def test_clean_task_is_kept(operator: Decontaminate) -> None:
    result = _run(operator, _tasks(_task()))
    assert result.drops == [] and result.kept.num_rows == 1
    assert result.kept.schema == _tasks(_task()).schema


def test_planted_overlap_in_masked_text_is_caught(operator: Decontaminate) -> None:
    passage = PASSAGE + " " + PLANTED + "."
    result = _run(operator, _tasks(_task(), _task(passage=passage)))
    assert [(d.index, d.reason) for d in result.drops] == [(1, "contaminated")]
    detail = result.drops[0].detail
    assert detail.startswith("gsm8k: 7 shared 13-grams")  # 19 planted words hold 7 13-grams
    assert detail.endswith("first: 'then she sold half as many clips in may as she did in'")
    assert result.kept.num_rows == 1


def test_planted_overlap_in_an_option_is_caught(operator: Decontaminate) -> None:
    distractors = [*DISTRACTORS[:2], PLANTED.upper() + "!"]  # case and punctuation do not hide it
    result = _run(operator, _tasks(_task(distractors=distractors)))
    assert [d.reason for d in result.drops] == ["contaminated"]
    assert result.drops[0].detail.startswith("gsm8k: ")


def test_overlap_across_the_mask_edge_is_caught(operator: Decontaminate) -> None:
    # the benchmark sentence is split: its start ends the visible text, its end begins the gold
    head, tail = "Then she sold half as many clips in", "May as she did in April, and she wants to know."
    passage = f"{PASSAGE} {head} {tail}"
    result = _run(operator, _tasks(_task(passage=passage, gold=tail)))
    assert [d.reason for d in result.drops] == ["contaminated"]


def test_twelve_shared_words_are_not_a_13_gram(operator: Decontaminate) -> None:
    twelve = " ".join(PLANTED.split()[:12])
    result = _run(operator, _tasks(_task(passage=f"{PASSAGE} {twelve}.")))
    assert result.drops == []


def test_min_overlap_counts_distinct_ngrams() -> None:
    thirteen = " ".join(PLANTED.split()[:13])
    table = _tasks(_task(passage=f"{PASSAGE} {thirteen}. {thirteen}."), _task(passage=f"{PASSAGE} {PLANTED}."))
    result = _run(Decontaminate(benchmarks={"gsm8k": [BENCHMARK]}, min_overlap=2), table)
    assert [(d.index, d.reason) for d in result.drops] == [(1, "contaminated")]  # one 13-gram twice is one


def test_several_benchmarks_are_named() -> None:
    operator = Decontaminate(benchmarks={"gsm8k": [BENCHMARK], "trains": [OTHER_BENCHMARK]}, n=8)
    passage = f"{PASSAGE} {PLANTED}. {OTHER_BENCHMARK}"
    detail = _run(operator, _tasks(_task(passage=passage))).drops[0].detail
    assert detail.startswith("gsm8k: 12, trains: 13 shared 8-grams; first: 'then she sold")


def test_text_column_without_tasks() -> None:
    operator = Decontaminate(benchmarks={"gsm8k": [BENCHMARK]}, n=5)
    texts = ["Natalia sold 48 clips to friends", "Natalia sold clips to 48 of her friends"]
    result = _run(operator, pa.table({"text": texts}))
    assert [(d.index, d.reason) for d in result.drops] == [(1, "contaminated")]


def test_empty_and_odd_input_never_crashes(operator: Decontaminate) -> None:
    assert _run(operator, _tasks()).kept.num_rows == 0
    assert _run(operator, pa.table({"text": pa.array([], type=pa.string())})).drops == []
    odd = pa.table(
        {
            "masked_text": [None, "", "[MASK]", "short [MASK] text", "!!! ??? ..."],
            "gold": [None, "", None, "x", "[MASK]"],
            "options": [None, [], [None, "a"], ["x", "y"], ["!!!"]],
        }
    )
    result = _run(operator, odd)
    assert result.drops == [] and result.kept.num_rows == 5
    with pytest.raises(ValueError, match="neither 'masked_text' nor 'text'"):
        _run(operator, pa.table({"body": ["x"]}))


def test_mask_is_not_bridged_without_gold() -> None:
    words = "one two three four five six"
    operator = Decontaminate(benchmarks={"b": [words]}, n=4)
    bridged = pa.table({"masked_text": ["one two three [MASK] four five six"], "gold": [None]})
    assert _run(operator, bridged).drops == []
    assert len(_run(operator, pa.table({"text": ["one two three mask four five six"]})).drops) == 0


def test_benchmark_files(tmp_path: Path) -> None:
    jsonl = tmp_path / "gsm8k.jsonl"
    jsonl.write_text(json.dumps({"question": BENCHMARK, "answer": "72"}) + "\n\n", encoding="utf-8")
    txt = tmp_path / "trains.txt"
    txt.write_text("first line\n" + OTHER_BENCHMARK + "\n", encoding="utf-8")
    parquet = tmp_path / "mcq.parquet"
    greek = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu"
    pq.write_table(pa.table({"question": ["q"], "choices": [[greek]]}), parquet)
    operator = Decontaminate(
        benchmark_paths={"gsm8k": str(jsonl), "trains": str(txt), "mcq": str(parquet)},
        benchmark_text_columns=("question", "choices"),
    )
    texts = [
        f"Intro. {PLANTED}.",
        f"Note: {OTHER_BENCHMARK}",
        "Alpha, beta, gamma, delta, epsilon, zeta, eta, theta, iota, kappa, lambda, mu, nu!",
        "Nothing to see.",
    ]
    result = _run(operator, pa.table({"text": texts}))
    assert [d.detail.split(":")[0] for d in result.drops] == ["gsm8k", "trains", "mcq"]


def test_index_is_built_once(operator: Decontaminate) -> None:
    assert operator.index() is operator.index()
    assert len(operator.index().hashes) == (len(BENCHMARK.split()) - 12) + (len(OTHER_BENCHMARK.split()) - 12)


def test_invalid_configuration_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="benchmarks or benchmark_paths"):
        Decontaminate()
    with pytest.raises(ValidationError, match="is not one of"):
        Decontaminate(benchmark_paths={"b": str(tmp_path / "b.csv")})
    with pytest.raises(ValidationError, match="no file"):
        Decontaminate(benchmark_paths={"b": str(tmp_path / "missing.jsonl")})
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"other": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="none of the text column"):
        Decontaminate(benchmark_paths={"b": str(bad)}).index()


def test_ngram_hashes_are_stable_and_stay_inside_each_text() -> None:
    first = ngram_hashes(["a b c", "d e"], 2)
    again = ngram_hashes(["x y", "a b c"], 2)
    assert first.text_index.tolist() == [0, 0, 1]
    assert first.hashes[:2].tolist() == again.hashes[1:].tolist()


def test_in_a_pipeline_rejects_carry_the_reason() -> None:
    rows = [{"text": f"{PASSAGE} {PLANTED}."}, {"text": PASSAGE}]
    result = Pipeline([Decontaminate(benchmarks={"gsm8k": [BENCHMARK]})]).run(rows)
    assert result.tasks.num_rows == 1
    assert result.rejects.column("reason").to_pylist() == ["contaminated"]
