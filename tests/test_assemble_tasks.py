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


def test_no_prompt_budget_by_default_keeps_every_task():
    assert AssembleTasks().max_prompt_tokens is None
    plain = Pipeline([AssembleTasks(num_options=4)], seed=2).run(_rows(12))
    budget = Pipeline([AssembleTasks(num_options=4, max_prompt_tokens=100_000)], seed=2).run(_rows(12))
    assert budget.tasks.equals(plain.tasks) and plain.tasks.num_rows == 12


def test_tasks_over_the_prompt_budget_are_dropped_with_a_reason():
    from goose.operators.assemble_tasks import proxy_token_count

    rows = _rows(12)
    for k in range(0, 12, 3):  # every third passage gets a long tail, so its prompt is long
        rows[k]["text"] += " And more words follow here." * 60
    plain = Pipeline([AssembleTasks(num_options=4)], seed=2).run(rows)
    lengths = [proxy_token_count(q) for q in plain.tasks.column("question").to_pylist()]
    budget = sorted(lengths)[7]  # between the short prompts and the long ones
    assert max(lengths) > budget >= sorted(lengths)[0]
    result = Pipeline([AssembleTasks(num_options=4, max_prompt_tokens=budget)], seed=2).run(rows)
    kept = result.tasks.column("question").to_pylist()
    assert result.tasks.num_rows == sum(n <= budget for n in lengths) == 8
    assert all(proxy_token_count(q) <= budget for q in kept)
    reasons = result.rejects.column("reason").to_pylist()
    assert reasons == ["prompt_too_long"] * 4
    assert all("word proxy" in d and f"> max_prompt_tokens {budget}" in d for d in result.rejects.column("detail").to_pylist())
    counts = Counter(result.tasks.column("answer").to_pylist())  # dropped tasks use up no letter
    assert max(counts.values()) - min(counts.values()) <= 1


def test_an_unloadable_prompt_tokenizer_fails_before_the_first_batch(tmp_path):
    step = AssembleTasks(num_options=4, max_prompt_tokens=512, prompt_tokenizer=str(tmp_path / "no-tokenizer"))
    with pytest.raises(ValueError, match="prompt_tokenizer|tokenizer"):
        step.start_run()
