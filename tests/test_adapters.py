"""Input adapters: column mapping, source ids, solution offsets and every drop reason."""

from __future__ import annotations

import pyarrow as pa
import pytest

from goose import Pipeline
from goose.adapters import (
    ADAPTERS,
    FromCodeProblems,
    FromPassages,
    FromQAPairs,
    FromWebDocuments,
)
from goose.config import RunConfig
from goose.operators import OPERATORS
from goose.pipeline import PipelineError
from goose.presets import sample_data_path


def _run(step, rows):
    result = Pipeline([step]).run(rows)
    assert result.accounted
    return result.tasks.to_pylist(), dict(zip(result.rejects["source_id"].to_pylist(), result.rejects["reason"].to_pylist()))


def _reasons(step, rows):
    result = Pipeline([step]).run(rows)
    assert result.accounted and result.tasks.num_rows + result.rejects.num_rows == len(rows)
    return result.rejects["reason"].to_pylist()


# FromQAPairs


def test_qa_pairs_render_with_the_solution_offset_and_mapped_columns():
    step = FromQAPairs(question_column="prompt", solution_column="answer", id_column="uid", domain_column="area",
                       default_domain="math")
    rows = [
        {"uid": "q1", "area": "stem", "prompt": "  How fast?\r\n", "answer": "v = d / t.\r\nSo v = 3 m/s.  "},
        {"uid": None, "area": None, "prompt": "What is 3 x 4?", "answer": "3 x 4 = 12."},
    ]
    kept, _ = _run(step, rows)
    first, second = kept
    assert first["text"] == "Problem: How fast?\n\nSolution: v = d / t.\nSo v = 3 m/s."
    assert first["text"][first["solution_start"]:] == "v = d / t.\nSo v = 3 m/s."
    assert (first["source_id"], first["domain"]) == ("q1", "stem")
    assert second["source_id"].startswith("sha-") and second["domain"] == "math"
    assert second["text"][second["solution_start"]:] == "3 x 4 = 12."
    assert first["prompt"] == "  How fast?\r\n"  # input columns pass through


def test_qa_pairs_blank_labels_and_ignored_domain_column():
    step = FromQAPairs(question_label="", solution_label="", domain_column="", default_domain="stem")
    kept, _ = _run(step, [{"question": "Why?", "solution": "Because.", "domain": "cyber"}])
    assert kept[0]["text"] == "Why?\n\nBecause." and kept[0]["solution_start"] == len("Why?\n\n")
    assert kept[0]["domain"] == "stem"


def test_qa_pairs_source_ids_are_stable_content_hashes():
    rows = [{"question": "Q?", "solution": "S."}]
    ids = [_run(FromQAPairs(), rows)[0][0]["source_id"] for _ in range(2)]
    assert ids[0] == ids[1] and len(ids[0]) == len("sha-") + 16


def test_qa_pairs_drop_reasons():
    rows = [
        {"question": None, "solution": "S."},
        {"question": " \n ", "solution": "S."},
        {"question": "Q?", "solution": None},
        {"question": "Q?", "solution": "\u200b  "},
    ]
    assert _reasons(FromQAPairs(), rows) == ["missing_question", "missing_question", "missing_solution", "missing_solution"]
    assert _reasons(FromQAPairs(), pa.table({"question": [7], "solution": ["S."]})) == ["not_text"]
    binary = pa.table({"question": pa.array([b"\xff\xfe", b"Bytes are fine?"]), "solution": ["S.", "Yes."]})
    assert _reasons(FromQAPairs(), binary) == ["invalid_utf8"]
    assert _reasons(FromQAPairs(max_chars=100), [{"question": "Q?", "solution": "S" * 101}]) == ["too_long"]


def test_qa_pairs_missing_column_fails_before_the_run():
    with pytest.raises(PipelineError, match="FromQAPairs needs column"):
        Pipeline([FromQAPairs()]).run([{"problem": "Q?", "solution": "S."}])


# FromCodeProblems


def test_code_problems_keep_indentation_and_point_at_the_code():
    code = "\n    def add(a, b):\n        total = a + b\n        return total\n\n"
    kept, _ = _run(FromCodeProblems(problem_column="task", solution_column="code"),
                   [{"task": "Add.", "code": code, "language": "Python"}])
    row = kept[0]
    assert row["text"] == "Problem: Add.\n\nSolution (Python):\n```python\ndef add(a, b):\n    total = a + b\n    return total\n```"
    assert row["text"][row["solution_start"]:].startswith("def add(a, b):\n    total")
    assert (row["domain"], row["language"]) == ("code", "python")


def test_code_problems_default_and_unknown_languages():
    rows = [{"problem": "P.", "solution": "x = 1\ny = 2"}, {"problem": "P2.", "solution": "x := 1", "language": "Zig"}]
    kept, _ = _run(FromCodeProblems(default_language="go"), [rows[0]])
    assert "Solution (Go):\n```go\n" in kept[0]["text"]
    kept, _ = _run(FromCodeProblems(), [{**rows[0], "language": None}, rows[1]])
    assert "Solution:\n```\nx = 1" in kept[0]["text"] and kept[0]["language"] == ""
    assert "Solution (zig):\n```zig\n" in kept[1]["text"]
    for row in kept:
        assert row["text"][row["solution_start"]:].startswith("x ")


def test_code_problems_drop_reasons():
    rows = [
        {"problem": None, "solution": "x = 1"},
        {"problem": "P.", "solution": None},
        {"problem": "P.", "solution": "   \n\t\n"},
        {"problem": "  ", "solution": "x = 1"},
    ]
    assert _reasons(FromCodeProblems(), rows) == ["missing_problem", "missing_solution", "missing_solution", "missing_problem"]
    assert _reasons(FromCodeProblems(), pa.table({"problem": ["P."], "solution": [3]})) == ["not_text"]
    assert _reasons(FromCodeProblems(max_chars=5), [{"problem": "P.", "solution": "x = 12345"}]) == ["too_long"]


# FromWebDocuments

PAGE = "<html><body><nav>Home</nav><p>" + "Rotate keys often. " * 10 + "</p></body></html>"


def test_web_documents_ids_from_id_then_url_then_hash_and_html_is_not_carried():
    rows = [
        {"id": "doc-1", "url": "https://a.example/x", "html": PAGE},
        {"id": None, "url": "https://a.example/y", "html": PAGE + " "},
        {"id": None, "url": None, "html": PAGE + "  "},
    ]
    kept, _ = _run(FromWebDocuments(), rows)
    assert [row["source_id"] for row in kept][:2] == ["doc-1", "https://a.example/y"]
    assert kept[2]["source_id"].startswith("sha-")
    assert kept[0]["text"] == PAGE and kept[0]["url"] == "https://a.example/x"
    assert "html" not in kept[0] and {row["domain"] for row in kept} == {"general"}


def test_web_documents_mapped_columns_and_text_fallback():
    step = FromWebDocuments(html_column="raw", text_column="plain", url_column="link", default_domain="cyber")
    rows = [{"link": "u1", "raw": PAGE, "plain": "ignored"}, {"link": "u2", "raw": "  ", "plain": "Extracted text."}]
    kept, _ = _run(step, rows)
    assert [row["text"] for row in kept] == [PAGE, "Extracted text."]
    assert [row["source_id"] for row in kept] == ["u1", "u2"] and kept[0]["domain"] == "cyber"


def test_web_documents_drop_reasons():
    rows = [{"url": "u1", "html": None, "text": None}, {"url": "u2", "html": "\n", "text": " "}]
    assert _reasons(FromWebDocuments(), rows) == ["missing_document", "missing_document"]
    assert _reasons(FromWebDocuments(), [{"url": "u", "body": PAGE}]) == ["missing_document"]
    assert _reasons(FromWebDocuments(), pa.table({"html": [12]})) == ["not_text"]
    assert _reasons(FromWebDocuments(), pa.table({"html": pa.array([b"\xc3\x28"])})) == ["invalid_utf8"]
    assert _reasons(FromWebDocuments(max_chars=10), [{"html": PAGE}]) == ["too_long"]


def test_web_documents_sample_has_urls_and_html():
    kept, _ = _run(FromWebDocuments(), str(sample_data_path("web_pages")))
    assert len(kept) == 12 and all(row["source_id"].startswith("https://") for row in kept)


# FromPassages


def test_passages_with_titles_and_drop_reasons():
    step = FromPassages(text_column="body", title_column="title", default_domain="stem")
    rows = [{"title": "Heat", "body": "Heat flows from hot to cold."}, {"title": None, "body": "No title here."}]
    kept, _ = _run(step, rows)
    assert [row["text"] for row in kept] == ["Heat\n\nHeat flows from hot to cold.", "No title here."]
    assert _reasons(FromPassages(), [{"text": None}, {"text": "  "}]) == ["missing_text", "missing_text"]
    assert _reasons(FromPassages(), pa.table({"text": [1.5]})) == ["not_text"]
    assert _reasons(FromPassages(max_chars=3), [{"text": "long text"}]) == ["too_long"]


# registry


def test_adapters_are_registered_for_yaml_configs(tmp_path):
    assert all(OPERATORS[name] is cls for name, cls in ADAPTERS.items())
    config = RunConfig.model_validate({
        "input": "x.jsonl",
        "operators": [
            {"FromQAPairs": {"question_column": "prompt", "default_domain": "math"}},
            {"HeuristicMaskSpan": {}},
        ],
    })
    step = config.build_pipeline(tmp_path).operators[0]
    assert isinstance(step, FromQAPairs) and step.question_column == "prompt"
