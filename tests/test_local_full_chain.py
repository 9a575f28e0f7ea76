"""The full Golden Goose chain on the real local CPU engine (SmolLM2-135M-Instruct through
llama.cpp): clean -> extract -> dedup -> mask + distract -> QC -> assemble -> dedup ->
decontaminate -> probe, on a handful of sample passages, ending in valid tasks with
complete lineage (issue #4).

What SmolLM2-135M does here (greedy, llama.cpp 0.3.x): asked to extract the passage of a
web page it starts copying a real sentence and repeats it to the token limit, so the
extraction step drops the page (``engine_malformed_json``; the same with 700 tokens);
the clean passages skip extraction, as the preset does for non-web text. In candidates
mode it always names a listed span (the schema allows nothing else), but its distractors
are "1", "2", ... or "...", which FilterDistractors' rules would remove, so the top-up
fills the lists from perturbations of the gold and spans of the other passages; the
lineage says so, option by option.
"""

from __future__ import annotations

import hashlib
import json
import re
import time

import pytest

from goose import sample_corpus_path, table_to_tasks
from goose.engines import EngineConfig
from goose.presets import golden_goose_pipeline
from goose.prompts import load_prompt

pytest.importorskip("llama_cpp")

PASSAGES = ["math-001", "math-002", "stem-001", "stem-002", "cyber-001", "code-001"]
"""Four domains; math, STEM and cyber are prose, code-001 is code lines and prose."""

CONTAMINATED = "stem-001"
"""A passage the benchmark quotes: it must never end as a task."""

WEB_PAGE_BODY = "cyber-002"
"""The passage wrapped in site boilerplate for the extraction run."""

OPTION_SOURCE = re.compile(r"^(gold|llm|perturb:[a-z+>]+|(?:same_doc|near):[\w#-]+|decoy:[\w#-]+:[a-z+>]+)( \| .+)?$")
KNOWN_REASON = re.compile(
    r"^(engine_[a-z_]+|no_educational_passage|extraction_length|extraction_not_grounded|no_candidate_spans|"
    r"chosen_span_out_of_range|too_few_distractors_returned|too_few_distractors|gold_leak|duplicate_options|"
    r"near_duplicate|contaminated|too_easy|too_hard|low_quality|too_short)$"
)


def _samples() -> dict[str, dict]:
    with open(sample_corpus_path(), encoding="utf-8") as handle:
        return {row["id"]: row for row in map(json.loads, handle)}


def _web_page(body: str) -> str:
    paragraphs = "".join(f"<p>{line}</p>" for line in body.split("\n") if line.strip())
    return (
        "<!DOCTYPE html><html><head><title>Cross-site scripting explained | SecNotes</title>"
        "<script>window.analytics = [];</script></head><body>"
        "<nav><ul><li><a href='/'>Home</a></li><li><a href='/blog'>Blog</a></li><li><a href='/login'>Login</a></li></ul></nav>"
        "<div class='cookies'>We use cookies to improve your experience. <a href='#'>Accept all</a></div>"
        f"<article><h1>Cross-site scripting explained</h1>{paragraphs}</article>"
        "<footer><p>Share this post: Twitter | LinkedIn</p><p>(c) 2024 SecNotes. All rights reserved.</p></footer>"
        "</body></html>"
    )


@pytest.fixture(scope="module")
def engine():
    # One thread: on a small shared machine two llama.cpp threads wait on each other.
    # logits_all (the default) is kept for the probe's log-probabilities.
    with EngineConfig(backend="local", options={"n_ctx": 2048, "n_threads": 1}).build() as built:
        yield built


def _chain(engine, **options):
    samples = _samples()
    first_sentence = samples[CONTAMINATED]["text"].split(". ")[0]
    return golden_goose_pipeline(
        engine,
        num_options=9,
        span_choice="candidates",  # the model picks one of goose's numbered spans
        top_up=True,  # a short distractor list is filled from perturbations and other passages
        max_tokens=48,  # extraction: enough to see what the model does, not to let it loop long
        mask_max_tokens=128,
        probe_rollouts=2,
        probe_mode="logprobs",  # one pass per task: the gold letter's probability
        benchmarks={"bench": [f"a benchmark question quoting {first_sentence}"]},
        batch_size=len(PASSAGES),
        # Six passages give the run-wide pool almost no on-topic wrong options, so ShortcutFilter would
        # drop nearly every task; this test is about the LLM path and its lineage (the filter has its own).
        shortcut_solvers=None,
        **options,
    )


def test_extraction_of_a_web_page_on_the_local_engine_accounts_for_the_row(engine):
    page = {"id": "web-1", "domain": "cyber", "text": _web_page(_samples()[WEB_PAGE_BODY]["text"])}
    pipeline = _chain(engine, extract=True)
    assert [op.name for op in pipeline.operators][:4] == ["PrepareText", "HtmlToText", "QualityFilter", "ExtractPassage"]
    result = pipeline.run([page])
    assert result.accounted and result.tasks.num_rows + result.rejects.num_rows == 1
    extract = next(stats for stats in result.stats if stats.name == "ExtractPassage")
    assert extract.rows_in == 1 and extract.engine is not None and extract.engine.requests >= 1  # the page got there
    for reject in result.rejects.to_pylist():
        assert KNOWN_REASON.match(reject["reason"]) and reject["detail"], reject
    print(f"web page: {result.tasks.num_rows} task(s), rejects {result.rejects.select(['operator', 'reason']).to_pylist()}")


def test_full_chain_on_the_local_engine_emits_valid_tasks_with_complete_lineage(engine):
    samples = _samples()
    rows = [samples[name] for name in PASSAGES]
    pipeline = _chain(engine)
    names = [op.name for op in pipeline.operators]
    assert names == ["PrepareText", "HtmlToText", "QualityFilter", "MinHashDedup", "MaskReasoningSpan",
                     "FilterDistractors", "SelectDistractors", "AssembleTasks", "MinHashDedup", "Decontaminate",
                     "ProbeDifficulty"]
    started = time.perf_counter()
    result = pipeline.run(rows)
    seconds = time.perf_counter() - started

    assert result.accounted and result.tasks.num_rows + result.rejects.num_rows == len(rows)
    tasks = table_to_tasks(result.tasks)  # every task passes goose's rules
    assert len(tasks) >= 1
    mask_prompt = load_prompt("mask_candidates").version
    for task in tasks:
        lineage = task.lineage
        assert lineage.engine == "llama-cpp" and lineage.model == engine.model
        assert lineage.prompt_version == mask_prompt
        assert len(lineage.option_sources) == len(task.options) == 9
        assert lineage.option_sources["ABCDEFGHI".index(task.answer)] == "gold"
        assert lineage.option_sources.count("gold") == 1
        assert all(OPTION_SOURCE.match(source) for source in lineage.option_sources), lineage.option_sources
        assert lineage.probe_model == engine.model
        assert lineage.probe_pass_rate is not None and 0 <= lineage.probe_pass_rate <= 1
        assert lineage.probe_letters and all(letter in "ABCDEFGHI" for letter in lineage.probe_letters)
        assert [label.split("/")[0] for label in lineage.operators][-2:] == ["Decontaminate", "ProbeDifficulty"]
        source = samples[task.source_id]["text"]
        assert task.gold == source[lineage.span_start : lineage.span_end]  # the gold is source text
        assert lineage.passage_sha256 == hashlib.sha256(source.encode("utf-8")).hexdigest()
    assert CONTAMINATED not in {task.source_id for task in tasks}
    rejects = result.rejects.to_pylist()
    for reject in rejects:
        assert KNOWN_REASON.match(reject["reason"]) and reject["detail"], reject
    reached = next(stats for stats in result.stats if stats.name == "Decontaminate")
    if any(reject["source_id"] == CONTAMINATED and reject["operator"] == "Decontaminate" for reject in rejects):
        assert reached.drops["contaminated"] == 1
    mask = next(stats for stats in result.stats if stats.name == "MaskReasoningSpan")
    assert mask.engine is not None and mask.engine.requests >= len(rows)  # the model really chose every span
    print(
        f"local chain: {len(tasks)} task(s) of {len(rows)} passages in {seconds:.0f} s "
        f"({', '.join(f'{stats.name} {stats.seconds:.0f} s' for stats in result.stats if stats.seconds >= 1)}); "
        f"rejects {[(r['source_id'], r['operator'], r['reason']) for r in rejects]}"
    )
