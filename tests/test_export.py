"""Tests of goose.export: files, Hugging Face datasets, verl and TRL layouts."""

from __future__ import annotations

import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from goose.export import (
    GOOSEREASON_COLUMNS,
    VERL_SCHEMA,
    compute_score,
    compute_score_batch,
    from_dataset,
    read_tasks,
    to_dataset,
    to_trl,
    to_verl,
    write_jsonl,
    write_parquet,
    write_verl_parquet,
)
from goose.reward import trl_reward
from goose.schema import TASK_SCHEMA, table_to_tasks, tasks_to_table
from goose.task import Task

CODE_PASSAGE = (
    "def area(r):\n"
    "    import math\n"
    "    return math.pi * r ** 2\n"
    "\n"
    "print(area(2))\n"
)
CODE_GOLD = "    import math\n    return math.pi * r ** 2\n"

UNICODE_PASSAGE = (
    "Archimedes bounded π from both sides. His polygons show 3.1408 < π. "
    "Then π ≤ 3.15 — naïve but true. Later bounds were tighter."
)
UNICODE_GOLD = "Then π ≤ 3.15 — naïve but true."


def _span(passage: str, gold: str) -> tuple[int, int]:
    start = passage.index(gold)
    return start, start + len(gold)


def _tasks() -> list[Task]:
    return [
        Task.build(
            domain="math",
            source_id="doc-1",
            passage="We have x = 2. So y = 4. Done.",
            span=(15, 24),
            distractors=["So y = 5.", "So y = 9.", "So y = -2."],
            answer_index=2,
            seed=7,
            operators=["heuristic_mask/1", "corpus_distractors/1"],
            probe_model="tiny",
            probe_letters=["A", "C", "C"],
            probe_pass_rate=2 / 3,
        ),
        Task.build(
            domain="code",
            source_id="doc-2",
            passage=CODE_PASSAGE,
            span=_span(CODE_PASSAGE, CODE_GOLD),
            distractors=[
                "    return 3.14 * r\n",
                "    from math import e\n    return e * r ** 2\n",
                "    import math\n    return 2 * math.pi * r\n",
                "    return r * r\n",
                "    import cmath\n    return cmath.sqrt(r)\n",
            ],
            answer_index=0,
            seed=7,
            distractor_sources=["corpus:doc-9", "llm", "llm", "perturb", "corpus:doc-3"],
            engine="vllm",
            model="m",
            prompt_version="v2",
        ),
        Task.build(
            domain="general",
            source_id="doc-3 ü",
            passage=UNICODE_PASSAGE,
            span=_span(UNICODE_PASSAGE, UNICODE_GOLD),
            distractors=[
                "Then π ≥ 3.2 — a bold guess.",
                "Thus π = 22/7 exactly, « proven ».",
                "So π < 3 — clearly wrong.",
                "Hence π ≈ 3.1416 by measuring.",
                "Then π is rational, naïvely.",
                "So τ ≤ 6.3 — the same bound doubled.",
                "Then 𝜋 ≤ 3.5 with emoji 🥧.",
                "Therefore π ≥ 4 — false.",
            ],
            answer_index=8,
            seed=7,
        ),
        Task.build(
            domain="stem",
            source_id="doc-4",
            passage="Water boils at 100 C at sea level. At altitude the pressure drops. So it boils cooler.",
            span=(35, 67),
            distractors=["At altitude the air gets hotter.", "At altitude gravity is stronger.", "At altitude water is denser."],
            answer_index=1,
            seed=7,
        ),
    ]


@pytest.fixture()
def table() -> pa.Table:
    return tasks_to_table(_tasks())


def test_fixture_tasks_cover_the_cases(table: pa.Table) -> None:
    option_counts = [len(options) for options in table.column("options").to_pylist()]
    assert min(option_counts) == 4 and max(option_counts) == 9
    assert len(set(table.column("domain").to_pylist())) == 4
    assert any("\n" in option for options in table.column("options").to_pylist() for option in options)
    assert "π ≤ 3.15 — naïve" in table.column("gold").to_pylist()[2]


@pytest.mark.parametrize("name", ["tasks.parquet", "tasks.jsonl"])
def test_round_trip_gives_the_same_valid_tasks(table: pa.Table, tmp_path, name: str) -> None:
    writer = write_parquet if name.endswith(".parquet") else write_jsonl
    path = writer(table, tmp_path / "deep" / "er" / name)
    assert path.exists()
    back = read_tasks(path)
    assert back.schema == TASK_SCHEMA
    assert back.column_names == TASK_SCHEMA.names
    assert back.equals(table)
    assert table_to_tasks(back) == _tasks()


def test_parquet_has_gooseReason_columns_first(table: pa.Table, tmp_path) -> None:
    path = write_parquet(table, tmp_path / "tasks.parquet")
    names = pq.read_schema(path).names
    assert names[:3] == list(GOOSEREASON_COLUMNS) == ["question", "options", "answer"]
    assert names == ["question", "options", "answer", "id", "domain", "source_id", "masked_text", "gold", "lineage"]
    assert pq.read_schema(path).field("lineage").type == TASK_SCHEMA.field("lineage").type


def test_jsonl_is_utf8_one_object_per_line_gooseReason_keys_first(table: pa.Table, tmp_path) -> None:
    path = write_jsonl(table, tmp_path / "tasks.jsonl")
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    assert "π ≤ 3.15 — naïve" in text  # not \u escapes
    lines = text.splitlines()
    assert len(lines) == table.num_rows and raw.endswith(b"\n")
    for line, expected in zip(lines, table.to_pylist()):
        row = json.loads(line)
        assert list(row)[:3] == ["question", "options", "answer"]
        assert isinstance(row["lineage"], dict) and row["lineage"] == expected["lineage"]
        assert row["options"] == expected["options"]
    assert "\n" in json.loads(lines[1])["options"][0]


@pytest.mark.parametrize("writer,name", [(write_parquet, "t.parquet"), (write_jsonl, "t.jsonl"), (write_verl_parquet, "v.parquet")])
def test_same_table_gives_byte_identical_files(table: pa.Table, tmp_path, writer, name: str) -> None:
    first = writer(table, tmp_path / "a" / name).read_bytes()
    # a different chunking and schema metadata of the same rows must not change the bytes
    rechunked = pa.concat_tables([table.slice(0, 1), table.slice(1)]).replace_schema_metadata({"x": "y"})
    second = writer(rechunked, tmp_path / "b" / name).read_bytes()
    third = writer(table, tmp_path / "a" / name).read_bytes()  # overwrite in place
    assert first == second == third


def test_extra_columns_and_order_do_not_matter(table: pa.Table, tmp_path) -> None:
    shuffled = table.select(list(reversed(table.column_names))).append_column("note", pa.array(["n"] * table.num_rows))
    path = write_parquet(shuffled, tmp_path / "tasks.parquet")
    assert read_tasks(path).equals(table)


def test_hf_dataset_round_trip(table: pa.Table) -> None:
    ds = to_dataset(table)
    assert isinstance(ds, datasets.Dataset)
    assert ds.column_names[:3] == ["question", "options", "answer"]
    assert ds.num_rows == table.num_rows
    assert ds[2]["gold"] == UNICODE_GOLD
    back = from_dataset(ds)
    assert back.schema == TASK_SCHEMA and back.equals(table)
    assert table_to_tasks(back) == _tasks()
    # selections are honoured
    picked = from_dataset(ds.select([3, 1]))
    assert picked.column("id").to_pylist() == [table.column("id")[3].as_py(), table.column("id")[1].as_py()]


def test_hf_dataset_from_parquet_file_round_trip(table: pa.Table, tmp_path) -> None:
    path = write_parquet(table, tmp_path / "tasks.parquet")
    ds = datasets.Dataset.from_parquet(str(path), cache_dir=str(tmp_path / "cache"))
    assert from_dataset(ds).equals(table)


def test_from_dataset_rejects_a_dataset_dict(table: pa.Table) -> None:
    with pytest.raises(TypeError, match="one split"):
        from_dataset(datasets.DatasetDict({"train": to_dataset(table)}))  # type: ignore[arg-type]


def test_to_verl_rows(table: pa.Table) -> None:
    verl = to_verl(table, split="test")
    assert verl.schema == VERL_SCHEMA
    assert verl.column_names == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    for index, (row, task) in enumerate(zip(verl.to_pylist(), _tasks())):
        assert row["data_source"] == f"goose/{task.domain}"
        assert row["prompt"] == [{"role": "user", "content": task.question}]
        assert row["ability"] == task.domain
        assert row["reward_model"] == {"style": "rule", "ground_truth": task.answer}
        assert row["extra_info"] == {
            "split": "test",
            "index": index,
            "id": task.id,
            "source_id": task.source_id,
            "options": task.options,
        }
    assert to_verl(table, data_source="gr").column("data_source")[0].as_py() == "gr/math"


def test_compute_score_delegates_to_goose_reward(table: pa.Table) -> None:
    for row in to_verl(table).to_pylist():
        truth = row["reward_model"]["ground_truth"]
        wrong = "A" if truth != "A" else "B"
        solution = f"Thinking about the options...\nThe answer is \\boxed{{{truth}}}"
        assert compute_score(row["data_source"], solution, truth, row["extra_info"]) == 1.0
        assert compute_score(row["data_source"], f"\\boxed{{{wrong}}}", truth, extra_info=row["extra_info"]) == 0.0
        assert isinstance(compute_score(row["data_source"], "no answer", truth), float)


def test_batch_compute_score_matches_the_per_item_scores(table: pa.Table) -> None:
    rows = to_verl(table).to_pylist()
    truths = [row["reward_model"]["ground_truth"] for row in rows]
    solutions = []
    for k, truth in enumerate(truths):  # right, wrong, hedged and unanswered completions in turn
        other = "A" if truth != "A" else "B"
        solutions.append([f"\\boxed{{{truth}}}", f"Answer: {other}", f"{truth} or {other}", "no idea"][k % 4])
    per_item = [compute_score(row["data_source"], s, t, row["extra_info"]) for row, s, t in zip(rows, solutions, truths)]
    batch = compute_score_batch(data_sources=[row["data_source"] for row in rows], solution_strs=solutions,
                                ground_truths=truths, extra_infos=[row["extra_info"] for row in rows])
    assert batch == per_item and 1.0 in batch and 0.0 in batch
    assert all(isinstance(value, float) for value in batch)
    with pytest.raises(ValueError, match="one of each per completion"):
        compute_score_batch(data_sources=["goose/math"], solution_strs=[], ground_truths=["A"])


def test_verl_parquet_is_readable_by_datasets(table: pa.Table, tmp_path) -> None:
    path = write_verl_parquet(table, tmp_path / "verl" / "train.parquet", split="train")
    ds = datasets.Dataset.from_parquet(str(path), cache_dir=str(tmp_path / "cache"))
    assert ds.num_rows == table.num_rows
    assert ds.column_names == VERL_SCHEMA.names
    first = ds[0]
    assert first["prompt"][0]["role"] == "user"
    assert first["reward_model"]["ground_truth"] == table.column("answer")[0].as_py()
    assert first["extra_info"]["index"] == 0 and first["extra_info"]["split"] == "train"
    assert pq.read_table(path).equals(to_verl(table))


def test_to_trl_columns_and_reward(table: pa.Table) -> None:
    ds = to_trl(table)
    assert isinstance(ds, datasets.Dataset)
    assert ds.column_names == ["prompt", "answer", "id", "domain"]
    assert ds[1]["prompt"] == [{"role": "user", "content": table.column("question")[1].as_py()}]
    answers = ds["answer"]
    assert list(answers) == table.column("answer").to_pylist()
    right = [f"So the answer is \\boxed{{{letter}}}" for letter in answers]
    wrong = ["\\boxed{A}" if letter != "A" else "\\boxed{B}" for letter in answers]
    assert trl_reward(completions=right, answer=answers) == [1.0] * len(answers)
    assert trl_reward(completions=wrong, answer=answers) == [0.0] * len(answers)
    # TRL also passes the other columns (and more) as keywords
    assert trl_reward(completions=right, answer=answers, id=ds["id"], domain=ds["domain"], trainer_state=None) == [1.0] * 4


def test_empty_table_exports_and_reads_back_empty(tmp_path) -> None:
    empty = tasks_to_table([])
    for path in (write_parquet(empty, tmp_path / "e.parquet"), write_jsonl(empty, tmp_path / "e.jsonl")):
        back = read_tasks(path)
        assert back.num_rows == 0 and back.schema == TASK_SCHEMA
        assert table_to_tasks(back) == []
    assert (tmp_path / "e.jsonl").read_bytes() == b""
    assert to_verl(empty).num_rows == 0 and to_verl(empty).schema == VERL_SCHEMA
    verl_path = write_verl_parquet(empty, tmp_path / "v.parquet")
    assert pq.read_table(verl_path).num_rows == 0
    assert to_trl(empty).num_rows == 0
    assert from_dataset(to_dataset(empty)).schema == TASK_SCHEMA


@pytest.mark.parametrize(
    "export",
    [
        lambda t, d: write_parquet(t, d / "x.parquet"),
        lambda t, d: write_jsonl(t, d / "x.jsonl"),
        lambda t, d: to_verl(t),
        lambda t, d: write_verl_parquet(t, d / "v.parquet"),
        lambda t, d: to_dataset(t),
        lambda t, d: to_trl(t),
    ],
)
def test_missing_column_raises_a_helpful_error(table: pa.Table, tmp_path, export) -> None:
    broken = table.drop_columns(["gold", "lineage"])
    with pytest.raises(ValueError) as caught:
        export(broken, tmp_path)
    message = str(caught.value)
    assert "gold" in message and "lineage" in message
    assert "goose.schema.tasks_to_table" in message
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_read_tasks_errors_say_what_to_do(table: pa.Table, tmp_path) -> None:
    pq.write_table(table.drop_columns(["answer"]), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="answer.*tasks_to_table"):
        read_tasks(tmp_path / "bad.parquet")
    row = json.loads(write_jsonl(table, tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()[0])
    del row["id"]
    (tmp_path / "bad.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1 .*id"):
        read_tasks(tmp_path / "bad.jsonl")
    (tmp_path / "broken.jsonl").write_text("{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.jsonl:1 is not valid JSON"):
        read_tasks(tmp_path / "broken.jsonl")
    with pytest.raises(ValueError, match=r"\*\.parquet"):
        read_tasks(tmp_path / "tasks.csv")


def test_wrong_column_type_raises_a_helpful_error(table: pa.Table, tmp_path) -> None:
    index = table.column_names.index("options")
    broken = table.set_column(index, "options", pa.array([1] * table.num_rows))
    with pytest.raises(ValueError, match="wrong type.*tasks_to_table"):
        write_parquet(broken, tmp_path / "x.parquet")
