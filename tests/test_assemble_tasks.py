"""AssembleTasks: answer letters balanced over a run, independent of batching, resumable."""

from collections import Counter

import pyarrow as pa
import pytest

from goose import Pipeline, table_to_tasks
from goose.operators import AssembleTasks


def _rows(count: int) -> list[dict]:
    rows = []
    for k in range(count):
        gold = f"so the answer to case {k} is {k * 7}"
        text = f"Case {k}. We compute carefully, {gold}. That ends case {k}."
        start = text.index(gold)
        rows.append({
            "source_id": f"doc-{k}", "domain": "math", "text": text,
            "span_start": start, "span_end": start + len(gold),
            "distractors": [f"so the answer to case {k} is {k * 7 + d}" for d in range(1, 6)],
            "distractor_sources": ["llm"] * 5,
        })
    return rows


@pytest.mark.parametrize("batch_size", [1, 3, 50])
def test_letters_are_balanced_over_the_run_whatever_the_batch_size(batch_size):
    result = Pipeline([AssembleTasks(num_options=4)], seed=3, batch_size=batch_size).run(_rows(50))
    answers = result.tasks.column("answer").to_pylist()
    counts = Counter(answers)
    assert set(counts) == {"A", "B", "C", "D"} and max(counts.values()) - min(counts.values()) <= 1
    reference = Pipeline([AssembleTasks(num_options=4)], seed=3, batch_size=7).run(_rows(50))
    assert answers == reference.tasks.column("answer").to_pylist()
    assert all(task.options[ord(task.answer) - 65] == task.gold for task in table_to_tasks(result.tasks))


def test_a_restored_count_continues_the_letter_sequence():
    rows = _rows(20)
    whole = Pipeline([AssembleTasks(num_options=4)], seed=1, batch_size=10).run(rows).tasks.column("answer").to_pylist()
    first = AssembleTasks(num_options=4)
    first_half = Pipeline([first], seed=1, batch_size=10).run(rows[:10])
    saved = first.checkpoint()
    resumed = AssembleTasks(num_options=4)
    resumed.start_run()
    resumed.restore([saved])
    second_half = Pipeline([resumed], seed=1, batch_size=10).process_batch(pa.Table.from_pylist(rows[10:]))
    assert first_half.tasks.column("answer").to_pylist() + second_half.kept.column("answer").to_pylist() == whole
