"""The run report: its numbers add up (rows in = kept + dropped, overall and per stage), it works
for runs with and without LLM usage, probe, tasks, and it never lets task text inject HTML."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import goose
from goose.report import FIGURES_DIR, REPORT_FILE, report_metrics, write_report
from goose.runner import REJECTS_FILE, SUMMARY_FILE, TASKS_FILE, run_to_directory
from goose.schema import REJECT_SCHEMA, tasks_to_table
from goose.task import Task

HOSTILE = '<script>alert("x")</script>'


class _PageParser(HTMLParser):
    """Collects the tags, attributes and image sources of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")


def _parse(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _assert_adds_up(numbers: dict) -> None:
    run, stages = numbers["run"], numbers["stages"]
    assert run["rows_in"] + run["rows_added"] == run["tasks"] + run["rejects"]
    assert numbers["checks"]["ok"], numbers["checks"]["problems"]
    for stage in stages:
        assert stage["dropped"] == sum(stage["drops"].values())
        assert stage["rows_in"] + stage["rows_added"] == stage["rows_out"] + stage["dropped"]
        assert stage["rejects_in_file"] == stage["dropped"]
    for before, after in pairwise(stages):
        assert before["rows_out"] == after["rows_in"]
    if stages:
        assert stages[0]["rows_in"] == run["rows_in"]
        assert stages[-1]["rows_out"] == run["tasks"]
    assert sum(stage["dropped"] for stage in stages) == run["rejects"]
    assert sum(row["count"] for row in numbers["drop_reasons"]) == run["rejects"]


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline pipeline on part of the sample corpus plus rows that get dropped at three stages."""
    out = tmp_path_factory.mktemp("offline")
    rows = [json.loads(line) for line in goose.sample_corpus_path().read_text(encoding="utf-8").splitlines()
            if line.strip()][:12]
    rows += [{"id": "empty", "domain": "math", "text": ""}, dict(rows[0], id="copy-of-first"),
             {"id": "short", "domain": "math", "text": "Too short."}]
    run_to_directory(goose.offline_pipeline(), rows, out, progress=False)
    return out


def test_offline_run_report_adds_up(offline_run: Path) -> None:
    numbers = report_metrics(offline_run)
    _assert_adds_up(numbers)
    assert numbers["run"]["rows_in"] == 15 and numbers["run"]["rejects"] >= 3
    assert {("PrepareText", "empty_text"), ("MinHashDedup", "near_duplicate")} <= {
        (row["step"], row["reason"]) for row in numbers["drop_reasons"]}
    assert numbers["llm"] is None and numbers["probe"] is None
    letters = numbers["answer_letters"]
    assert sum(row["count"] for row in letters["letters"]) == numbers["run"]["tasks"]
    assert sum(row["expected"] for row in letters["letters"]) == pytest.approx(numbers["run"]["tasks"])
    lengths = numbers["option_length"]
    assert lengths["tasks_measured"] == numbers["run"]["tasks"] == sum(lengths["gold_rank_counts"].values())
    assert lengths["chance_share"] == pytest.approx(1 / 9)
    assert lengths["best_length_position_share"] >= lengths["longest_is_gold_share"]

    page = write_report(offline_run)
    assert page == offline_run / REPORT_FILE
    text = page.read_text(encoding="utf-8")
    assert "No LLM calls in this run" in text and "No probe in this run" in text
    assert "empty_text" in text and "Sample tasks" in text
    parsed = _parse(page)
    assert "script" not in parsed.tags
    assert {Path(src).name for src in parsed.images} >= {"stages.png", "drop_reasons.png", "option_length.png",
                                                          "answer_letters.png"}
    for src in parsed.images:
        assert not Path(src).is_absolute() and (offline_run / src).read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((offline_run / FIGURES_DIR / "metrics.json").read_text(encoding="utf-8"))
    assert saved["run"] == numbers["run"]


def test_report_leaves_matplotlib_state_alone(offline_run: Path) -> None:
    import sys

    import matplotlib

    rc_before = dict(matplotlib.rcParams)
    pyplot_before = "matplotlib.pyplot" in sys.modules
    write_report(offline_run)
    assert dict(matplotlib.rcParams) == rc_before
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_before


def test_same_run_gives_same_figures(offline_run: Path) -> None:
    write_report(offline_run)
    first = (offline_run / FIGURES_DIR / "stages.png").read_bytes()
    write_report(offline_run)
    assert (offline_run / FIGURES_DIR / "stages.png").read_bytes() == first


def test_embedded_figures_make_one_file(offline_run: Path, tmp_path: Path) -> None:
    for name in (TASKS_FILE, REJECTS_FILE, SUMMARY_FILE):
        (tmp_path / name).write_bytes((offline_run / name).read_bytes())
    page = write_report(tmp_path, embed_figures=True)
    assert not (tmp_path / FIGURES_DIR).exists()
    images = _parse(page).images
    assert images and all(src.startswith("data:image/png;base64,") for src in images)


def test_report_without_matplotlib_says_how_to_get_figures(offline_run: Path, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setattr("goose.report.figures.matplotlib_available", lambda: False)
    for name in (TASKS_FILE, REJECTS_FILE, SUMMARY_FILE):
        (tmp_path / name).write_bytes((offline_run / name).read_bytes())
    page = write_report(tmp_path)
    assert "pip install matplotlib" in page.read_text(encoding="utf-8")
    assert _parse(page).images == []


@pytest.mark.parametrize(("source", "rows_in"), [([], 0), ([{"id": "a", "text": ""}], 1)],
                         ids=["no-input-no-columns", "all-dropped"])
def test_empty_run(tmp_path: Path, source: list[dict], rows_in: int) -> None:
    run_to_directory(goose.offline_pipeline(), source, tmp_path, progress=False)
    assert pq.read_table(tmp_path / TASKS_FILE).num_rows == 0
    if not source:
        assert pq.read_table(tmp_path / TASKS_FILE).num_columns == 0
    numbers = report_metrics(tmp_path)
    _assert_adds_up(numbers)
    assert numbers["run"] == {**numbers["run"], "rows_in": rows_in, "tasks": 0, "rejects": rows_in}
    assert numbers["option_length"] is None and numbers["answer_letters"] is None and numbers["probe"] is None
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "No tasks in this run" in text and "No probe in this run" in text


def _hand_built_run(out: Path, *, hostile: str = "", lose_a_reject: bool = False) -> list[Task]:
    """A run folder as runner.py writes it: four tasks with probe pass rates, LLM usage, a repeated step."""
    tasks = []
    for index in range(4):
        passage = f"Step one of problem {index}. {hostile}The long gold span that fills the gap here. End."
        start = passage.index("The long gold")
        end = passage.index(" End.")
        letters = ["A", "B", "C", "D"]
        tasks.append(Task.build(
            domain="cyber" if index % 2 else "math", source_id=f"doc-{index}", passage=passage, span=(start, end),
            distractors=["Short one.", "Short two.", "Short three."], answer_index=index, seed=7,
            probe_model="tiny-probe", probe_letters=[letters[index] if k < index else "A" for k in range(4)]
            if index else ["B"] * 4, probe_pass_rate=index / 4,
        ))
    pq.write_table(tasks_to_table(tasks), out / TASKS_FILE)
    rejects = [
        {"source_id": "doc-9", "operator": "PrepareText", "reason": "empty_text", "detail": "no text",
         "record": "{}"},
        {"source_id": "doc-7", "operator": "ProbeDifficulty", "reason": "too_easy", "detail": f"{hostile}16/16",
         "record": json.dumps({"masked_text": f"{hostile}[MASK]"})},
        {"source_id": "doc-8", "operator": "ProbeDifficulty", "reason": "too_easy", "detail": "16/16",
         "record": "{}"},
    ]
    if lose_a_reject:
        rejects.pop()
    pq.write_table(pa.Table.from_pylist(rejects, schema=REJECT_SCHEMA), out / REJECTS_FILE)
    usage = {"requests": 10, "cache_hits": 2, "prompt_tokens": 5000, "completion_tokens": 300, "retries": 1,
             "failures": {"timeout": 1}, "seconds": 3.5}
    steps = [
        {"operator": "read", "rows_in": 7, "rows_out": 7, "dropped": {}, "seconds": 0.0},
        {"operator": "PrepareText", "rows_in": 7, "rows_out": 6, "dropped": {"empty_text": 1}, "seconds": 0.1},
        {"operator": "MinHashDedup", "rows_in": 6, "rows_out": 6, "dropped": {}, "seconds": 0.1},
        {"operator": "ProbeDifficulty", "rows_in": 6, "rows_out": 4, "dropped": {"too_easy": 2}, "seconds": 3.6,
         "engine": usage},
        {"operator": "MinHashDedup#2", "rows_in": 4, "rows_out": 4, "dropped": {}, "seconds": 0.1},
    ]
    summary = {"rows_in": 7, "tasks": 4, "rejects": len(rejects), "accounted": not lose_a_reject, "seed": 7,
               "batch_size": 64,
               "operators": ["PrepareText/1", "MinHashDedup/1", "ProbeDifficulty/1", "MinHashDedup/1"],
               "steps": steps,
               "engines": {"probe": {"backend": "openai-http", "model": "tiny-probe", **usage}}}
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return tasks


def test_hand_built_run_with_probe_and_llm_usage(tmp_path: Path) -> None:
    _hand_built_run(tmp_path)
    numbers = report_metrics(tmp_path)
    _assert_adds_up(numbers)
    assert [stage["step"] for stage in numbers["stages"]][-1] == "MinHashDedup#2"
    llm = numbers["llm"]
    assert [step["step"] for step in llm["steps"]] == ["ProbeDifficulty"]
    assert llm["total"]["calls"] == 12 and llm["total"]["cache_hit_rate"] == pytest.approx(2 / 12)
    assert llm["total"]["failures"] == {"timeout": 1}
    assert llm["engines"]["probe"]["model"] == "tiny-probe"
    probe = numbers["probe"]
    assert probe["probed_tasks"] == 4 and probe["mean_pass_rate"] == pytest.approx(0.375)
    assert probe["histogram"] == {"values": [0.0, 0.25, 0.5, 0.75], "counts": [1, 1, 1, 1]}
    assert probe["never_solved_share"] == 0.25 and probe["medium_share"] == 0.75
    assert probe["rollouts"] == {4: 4} and probe["models"] == {"tiny-probe": 4}
    letters = numbers["answer_letters"]
    assert [(row["letter"], row["count"], row["expected"]) for row in letters["letters"]] == [
        ("A", 1, 1.0), ("B", 1, 1.0), ("C", 1, 1.0), ("D", 1, 1.0)]
    lengths = numbers["option_length"]
    assert lengths["longest_is_gold_share"] == 1.0 and lengths["chance_share"] == 0.25
    assert lengths["gold_rank_counts"] == {1: 4} and lengths["ratio_median"] > 3
    assert lengths["best_length_position"] == 1 and lengths["best_length_position_share"] == 1.0
    assert numbers["domains"] == {"cyber": 2, "math": 2}

    page = write_report(tmp_path)
    text = page.read_text(encoding="utf-8")
    assert "No probe in this run" not in text and "tiny-probe" in text
    assert "Length gives the answer away" in text
    assert "5,000" in text  # prompt tokens
    assert {Path(src).name for src in _parse(page).images} == {
        "stages.png", "drop_reasons.png", "option_length.png", "answer_letters.png", "probe_pass_rate.png"}


def test_report_flags_numbers_that_do_not_add_up(tmp_path: Path) -> None:
    _hand_built_run(tmp_path, lose_a_reject=True)
    numbers = report_metrics(tmp_path)
    assert not numbers["checks"]["ok"]
    assert not numbers["checks"]["rows_accounted"] and not numbers["checks"]["rejects_match_stages"]
    assert numbers["checks"]["stages_accounted"]
    assert any("ProbeDifficulty" in problem for problem in numbers["checks"]["problems"])
    assert "The numbers do not add up" in write_report(tmp_path).read_text(encoding="utf-8")


def test_task_text_cannot_inject_html(tmp_path: Path) -> None:
    _hand_built_run(tmp_path, hostile=HOSTILE + '<img src=x onerror="alert(1)">')
    page = write_report(tmp_path)
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text.lower() and "<img src=x" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text  # shown, escaped, in tasks and rejects
    parsed = _parse(page)
    assert "script" not in parsed.tags
    assert not [name for name in parsed.attributes if name.startswith("on")]
    assert all(src.startswith(f"{FIGURES_DIR}/") for src in parsed.images)


def test_missing_run_folder_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="goose demo --out"):
        write_report(tmp_path)


def test_pipeline_that_stops_before_tasks(tmp_path: Path) -> None:
    from goose.operators import PrepareText
    from goose.pipeline import Pipeline

    run_to_directory(Pipeline([PrepareText()]), [{"id": "a", "text": "Some text."}, {"id": "b", "text": ""}],
                     tmp_path, progress=False)
    numbers = report_metrics(tmp_path)
    _assert_adds_up(numbers)
    assert numbers["option_length"] is None and numbers["answer_letters"] is None
    assert "they are no tasks" in write_report(tmp_path).read_text(encoding="utf-8")


def test_length_ties_share_the_credit(tmp_path: Path) -> None:
    # The gold ties with one distractor for longest: "pick the longest" is right half the time.
    task = Task.build(domain="math", source_id="d", passage="So x = 12. Done.", span=(0, 10),
                      distractors=["So x = 13.", "x = 9."], answer_index=0, seed=0)
    pq.write_table(tasks_to_table([task]), tmp_path / TASKS_FILE)
    pq.write_table(REJECT_SCHEMA.empty_table(), tmp_path / REJECTS_FILE)
    (tmp_path / SUMMARY_FILE).write_text(json.dumps({"rows_in": 1, "tasks": 1, "rejects": 0, "steps": [
        {"operator": "read", "rows_in": 1, "rows_out": 1, "dropped": {}}]}), encoding="utf-8")
    lengths = report_metrics(tmp_path)["option_length"]
    assert lengths["longest_is_gold_share"] == 0.5 and lengths["shortest_is_gold_share"] == 0.0
    assert lengths["gold_rank_counts"] == {1: 1}
    assert lengths["best_length_position"] == 1 and lengths["best_length_position_share"] == 0.5
