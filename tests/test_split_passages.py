"""Windowing documents into passages (goose.text.passages), the SplitPassages operator, and the
expanding-operator contract (one input row may become several kept rows) through the
pipeline, its counters, the run folder and the report checks."""

from __future__ import annotations

import json
import time
from typing import ClassVar

import pyarrow as pa
import pytest

from goose import Pipeline
from goose.adapters import FromQAPairs
from goose.operators import (
    AssembleTasks,
    CorpusDistractors,
    FilterDistractors,
    HeuristicMaskSpan,
    PrepareText,
    SplitPassages,
)
from goose.pipeline.operator import BatchResult, Drop, Operator, RowOutcomes, RunContext
from goose.pipeline.pipeline import PipelineError
from goose.runner import run_to_directory
from goose.text.passages import split_document

REASONING = (
    "Because the buffer holds {n} bytes and the copy writes {m} bytes, the write overflows by {d} bytes. "
    "Therefore the saved return address is overwritten, so the function returns into the payload. "
    "If the stack canary is checked first, the program aborts instead, which means the attack fails."
)
FILLER = "The project was started by a small group of volunteers and is maintained by them today."


def _paragraph(k: int) -> str:
    return REASONING.format(n=16 + k, m=32 + 2 * k, d=16 + k)


def _long_document(sections: int = 8) -> str:
    parts = ["Stack smashing explained"]
    for s in range(sections):
        parts.append(f"## Case {s + 1}")
        parts += [_paragraph(10 * s + p) for p in range(3)]
        parts.append(f"Note {s + 1}: " + " ".join([FILLER] * 3))
    parts += [
        "## See also",
        "- Heap overflow\n- Format string attack\n- Return-oriented programming",
        "## References",
        "[1] Aleph One (1996). Smashing the stack for fun and profit. Phrack 49. Retrieved 3 May 2020.",
        "[2] Cowan, C. et al. (1998). StackGuard. Proceedings of the 7th USENIX Security Symposium, pp. 63-78.",
    ]
    return "\n\n".join(parts)


def _words(text: str) -> int:
    return len(text.split())


# -- windowing --------------------------------------------------------------------------------


def test_long_document_gives_sized_non_overlapping_passages_without_boilerplate() -> None:
    text = _long_document()
    split = split_document(text, min_words=80, target_words=200, max_words=300, max_passages=3)
    assert 1 < len(split.passages) <= 3
    spans = [(p.start, p.end) for p in split.passages]
    assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    for passage in split.passages:
        shown = text[passage.start : passage.end]
        assert 80 <= _words(shown) <= 300
        assert shown == shown.strip() and passage.words == _words(shown)
        assert "See also" not in shown and "Heap overflow" not in shown and "Phrack" not in shown
        assert not shown.rstrip().endswith(tuple(f"Case {s}" for s in range(1, 9)))  # never ends on a heading
        # whole paragraphs: the passage starts and ends at a paragraph boundary of the document
        assert passage.start == 0 or text[passage.start - 2 : passage.start] == "\n\n"
        assert passage.end == len(text) or text[passage.end : passage.end + 2] == "\n\n"
    assert split.excluded["boilerplate_section"] >= 4


def test_windows_prefer_reasoning_over_filler() -> None:
    filler = "\n\n".join(" ".join([FILLER] * 4) for _ in range(6))
    reasoning = "\n\n".join(_paragraph(k) for k in range(4))
    text = filler + "\n\n" + reasoning + "\n\n" + filler
    split = split_document(text, min_words=60, target_words=150, max_words=250, max_passages=1)
    (passage,) = split.passages
    assert "overflows" in text[passage.start : passage.end]
    assert "volunteers" not in text[passage.start : passage.end]


def test_an_over_long_paragraph_is_cut_at_sentence_ends() -> None:
    sentences = [f"Step {k}: since 3! = 6 ways exist, we multiply by {k} and get {6 * k} cases." for k in range(120)]
    text = " ".join(sentences)  # one paragraph, about 1,800 words
    split = split_document(text, min_words=50, target_words=150, max_words=250, max_passages=3)
    assert split.passages
    for passage in split.passages:
        shown = text[passage.start : passage.end]
        assert shown.startswith("Step ") and shown.endswith("cases.")
        assert _words(shown) <= 250


def test_a_short_document_without_boilerplate_passes_whole() -> None:
    text = "  Since a = 3 and b = 4, the hypotenuse is 5.\n\nSo the triangle is right-angled.  "
    (passage,) = split_document(text).passages
    assert (passage.start, passage.end) == (0, len(text))


def test_a_document_of_boilerplate_only_has_no_passage() -> None:
    text = "## References\n\n[1] Smith, J. (2001). A book. Press.\n\n## External links\n\n- https://example.org"
    split = split_document(text)
    assert split.passages == [] and "boilerplate" in split.why_none


def test_outside_paragraphs_are_nearest_first_outside_the_passage_and_capped() -> None:
    text = _long_document()
    split = split_document(text, min_words=80, target_words=200, max_words=300, max_passages=1)
    (passage,) = split.passages
    outside = split.outside_paragraphs(text, passage, max_items=5, max_chars=1500)
    assert outside and len(outside) <= 5 and sum(map(len, outside)) <= 1500
    shown = text[passage.start : passage.end]
    for paragraph in outside:
        assert paragraph not in shown and paragraph in text
        assert "Phrack" not in paragraph and "Heap overflow" not in paragraph and not paragraph.startswith("##")
    positions = [text.index(p) for p in outside]
    distances = [passage.start - pos if pos < passage.start else pos - passage.end for pos in positions]
    assert distances == sorted(distances)


def test_windowing_a_200k_character_document_is_fast() -> None:
    text = _long_document(sections=175)
    assert len(text) > 200_000
    started = time.perf_counter()
    split = split_document(text)
    elapsed = time.perf_counter() - started
    assert len(split.passages) == 3
    assert elapsed < 3.0, f"windowing took {elapsed:.2f} s (about 0.3 s expected: linear in the paragraphs)"


# -- the operator -----------------------------------------------------------------------------


def test_split_passages_rows_ids_offsets_and_drops() -> None:
    long_doc = _long_document()
    rows = [
        {"source_id": "long", "text": long_doc, "domain": "cyber"},
        {"source_id": "short", "text": "If x = 2 then 2x = 4, so x is even.", "domain": "math"},
        {"source_id": "junk", "text": "## See also\n\n- Foo\n- Bar", "domain": "cyber"},
    ]
    step = SplitPassages(min_words=80, target_words=200, max_words=300)
    result = Pipeline([step]).run(rows)
    out = result.tasks.to_pylist()
    ids = [row["source_id"] for row in out]
    assert ids[:-1] == [f"long#p{k}" for k in range(len(ids) - 1)] and ids[-1] == "short"
    for row in out:
        document = next(r["text"] for r in rows if r["source_id"] == row["document_id"])
        assert document[row["document_start"] : row["document_end"]] == row["text"]
        assert row["domain"] == ("cyber" if row["document_id"] == "long" else "math")  # carried along
        assert all(paragraph not in row["text"] for paragraph in row["outside_text"])
    assert out[-1]["outside_text"] == [] and out[-1]["text"] == rows[1]["text"]
    assert result.rejects.column("reason").to_pylist() == ["no_passage"]
    step_stats = result.stats[1]
    assert step_stats.rows_added == len(out) - 2 and step_stats.accounted
    assert result.rows_added == len(out) - 2 and result.accounted
    again = Pipeline([SplitPassages(min_words=80, target_words=200, max_words=300)]).run(rows)
    assert again.tasks.equals(result.tasks)


def test_question_solution_rows_pass_unchanged() -> None:
    solution = " ".join([_paragraph(1)] * 40)
    records = [{"id": "q1", "question": "Why does the program crash?", "solution": solution}]
    result = Pipeline([FromQAPairs(), SplitPassages(min_words=20, target_words=40, max_words=60)]).run(records)
    (row,) = result.tasks.to_pylist()
    assert row["source_id"] == row["document_id"] == "q1" and row["document_start"] == 0
    assert row["text"].endswith(solution) and row["document_end"] == len(row["text"])
    assert row["text"][row["solution_start"] :].startswith(solution[:20])


def test_split_passages_checks_its_sizes() -> None:
    with pytest.raises(ValueError, match="min_words <= target_words <= max_words"):
        SplitPassages(min_words=500, target_words=300)


def test_tasks_trace_back_to_the_document_offsets(tmp_path) -> None:
    from goose.report import compute_metrics
    from goose.report.run_files import RunFiles

    rows = [{"text": _long_document(), "id": "doc"}, {"text": _long_document(4).replace("Case", "Part"), "id": "d2"}]
    pipeline = Pipeline(
        [
            PrepareText(),
            SplitPassages(min_words=80, target_words=200, max_words=300),
            HeuristicMaskSpan(),
            CorpusDistractors(),
            FilterDistractors(min_distractors=3),
            AssembleTasks(num_options=4),
        ]
    )
    result = run_to_directory(pipeline, rows, tmp_path / "run", progress=False)
    assert result.tasks.num_rows >= 3 and result.accounted
    documents = {"doc": rows[0]["text"], "d2": rows[1]["text"]}
    for task in result.tasks.to_pylist():
        lineage = task["lineage"]
        start = lineage["document_start"] + lineage["span_start"]
        assert documents[lineage["document_id"]][start : start + len(task["gold"])] == task["gold"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["rows_added"] > 0 and summary["accounted"]
    assert summary["rows_in"] + summary["rows_added"] == summary["tasks"] + summary["rejects"]
    split_step = next(step for step in summary["steps"] if step["operator"] == "SplitPassages")
    assert split_step["rows_added"] == summary["rows_added"]
    metrics = compute_metrics(RunFiles.open(tmp_path / "run"))
    assert metrics["checks"]["ok"], metrics["checks"]["problems"]
    assert metrics["run"]["rows_added"] == summary["rows_added"] and metrics["run"]["accounted"]
    resumed = run_to_directory(pipeline, rows, tmp_path / "run", progress=False)  # every shard already done
    assert resumed.tasks.equals(result.tasks) and resumed.rows_added == result.rows_added


def test_report_checks_catch_added_rows_that_do_not_add_up(tmp_path) -> None:
    from goose.report import compute_metrics
    from goose.report.run_files import RunFiles

    rows = [{"text": _long_document(), "id": "doc"}]
    pipeline = Pipeline([PrepareText(), SplitPassages(min_words=80, target_words=200, max_words=300)])
    run_to_directory(pipeline, rows, tmp_path / "run", progress=False)
    summary_path = tmp_path / "run" / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["rows_added"] = 0
    for step in summary["steps"]:
        step.pop("rows_added", None)
    summary_path.write_text(json.dumps(summary))
    checks = compute_metrics(RunFiles.open(tmp_path / "run"))["checks"]
    assert not checks["rows_accounted"] and not checks["stages_accounted"] and not checks["ok"]


# -- the contract -----------------------------------------------------------------------------


class _Duplicate(Operator):
    """Keeps every row twice; ``declared`` says whether it declares ``expands``."""

    requires: ClassVar[tuple[str, ...]] = ("text",)
    expands: ClassVar[bool] = True

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        outcomes = RowOutcomes(batch)
        for index in range(batch.num_rows):
            outcomes.keep(index)
            outcomes.keep(index)
        return outcomes.result()


class _UndeclaredDuplicate(_Duplicate):
    expands: ClassVar[bool] = False


class _Broken(Operator):
    """An expanding operator that returns whatever parents and drops it was built with."""

    requires: ClassVar[tuple[str, ...]] = ("text",)
    expands: ClassVar[bool] = True
    parents: list[int]
    dropped: list[int] = []

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        kept = pa.table({"text": ["x"] * len(self.parents)})
        return BatchResult(kept, [Drop(i, "x") for i in self.dropped], list(self.parents))


def test_an_expanding_operator_accounts_for_its_added_rows() -> None:
    result = Pipeline([_Duplicate()]).run([{"text": "a"}, {"text": "b"}, {"text": "c"}])
    assert result.tasks.column("text").to_pylist() == ["a", "a", "b", "b", "c", "c"]
    assert result.stats[1].rows_added == 3 and result.stats[1].accounted and result.accounted
    assert "added 3" in result.summary()


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (_UndeclaredDuplicate(), "does not declare expands"),
        (_Broken(parents=[0, 1, 1], dropped=[1]), "both kept and dropped"),
        (_Broken(parents=[0, 0]), "neither"),
        (_Broken(parents=[1, 0]), "out of input order"),
        (_Broken(parents=[0, 1, 5]), "outside the batch"),
    ],
)
def test_the_pipeline_refuses_broken_expansions(step: Operator, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        Pipeline([step]).run([{"text": "a"}, {"text": "b"}])
