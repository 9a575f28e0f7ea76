"""The LLM chain (golden_goose_pipeline, extraction on) on hostile inputs and a misbehaving engine.

Two engines answer with :class:`fake_model.FakeModel` (right by default, scripted faults per
document, obedient to prompt injections): the scripted back end, and the real HTTP back end
against ``tests/openai_stub_server.py``, whose ``[fault=KIND]`` directives and random
faults add timeouts, 5xx, 429, cut-off and garbled bodies. Every run must meet the
contract of ``conftest.check_run``, and each scripted fault must end in its own reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai_stub_server
import pytest
from bad_inputs import Case, corpus, fault_rows, sample_rows, write_jsonl
from conftest import (
    check_expected_drops,
    check_run,
    jsonl_source_ids,
    prepared_passages,
    reasons_by_id,
)
from fake_model import EXPECTED, MAY_SUCCEED, SCRIPTED_ONLY, FakeModel
from openai_stub_server import StubConfig, StubServer

from goose import PipelineResult
from goose.engines import Engine, EngineConfig, RetryPolicy
from goose.engines.backend import BackendError
from goose.engines.testing import ScriptedBackend
from goose.presets import golden_goose_pipeline

ROLLOUTS = 4
CONTAMINATED = "cyber-002"
"""A good passage that the benchmark quotes: its task, if any, must be dropped as contaminated."""
FAST_HTTP = RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.005, timeout=0.5, max_in_flight=16)

HTTP_DIRECTIVES: dict[str, set[str] | None] = {
    "[fault=500*1]": None,  # one failure, then an answer: retried and recovered
    "[fault=429*2]": None,
    "[fault=hang*1]": None,
    "[fault=hang]": {"engine_timeout"},
    "[fault=503]": {"engine_server_error"},
    "[fault=429]": {"engine_rate_limited"},
    "[fault=408]": {"engine_timeout"},
    "[fault=400]": {"engine_bad_request"},
    "[fault=malformed]": {"engine_garbled_response"},
    "[fault=nochoices]": {"engine_bad_response"},
    "[fault=truncated]": {"engine_connection", "engine_garbled_response"},
    "[fault=drop]": {"engine_connection"},
}
"""Stub directive written into a document -> the reasons its row may end in (None: any, or a task)."""


def benchmark() -> list[str]:
    (text,) = [row["text"] for row in sample_rows() if row["id"] == CONTAMINATED]
    return [" ".join(text.split()[40:80])]


def pipeline(engine: Engine):
    return golden_goose_pipeline(
        engine, extract=True, judge_distractors=True, probe_rollouts=ROLLOUTS,
        benchmarks={"bench": benchmark()}, batch_size=16, max_tokens=512,
    )


def check_faults(result, expected: dict[str, set[str] | None]) -> None:
    """Each fault row ended in one of its reasons (or anywhere, for None)."""
    rejects = reasons_by_id(result)
    for row_id, reasons in expected.items():
        if reasons is None:
            continue
        assert row_id in rejects, f"{row_id} should have been dropped with one of {sorted(reasons)}"
        assert rejects[row_id][1] in reasons, (row_id, rejects[row_id], reasons)


# --- the scripted back end -------------------------------------------------------------------

SCRIPTED_FAULTS = list(EXPECTED) + list(MAY_SUCCEED)


@pytest.fixture(scope="module")
def scripted_cases() -> list[Case]:
    return corpus(extra=fault_rows(SCRIPTED_FAULTS))


@pytest.fixture(scope="module")
def scripted_jsonl(corpus_dir: Path, scripted_cases: list[Case]) -> Path:
    return write_jsonl(corpus_dir / "scripted.jsonl", scripted_cases)


@pytest.fixture(scope="module")
def scripted_run(scripted_jsonl: Path) -> tuple[PipelineResult, FakeModel]:
    """One run of the chain on the scripted back end, checked by the tests below."""
    model = FakeModel()
    with Engine(ScriptedBackend(model), retry=RetryPolicy(max_attempts=2, initial_backoff=0, max_backoff=0)) as engine:
        return pipeline(engine).run(scripted_jsonl), model


def test_llm_chain_on_scripted_faults(scripted_run, scripted_jsonl, scripted_cases):
    result, model = scripted_run
    ids = jsonl_source_ids(scripted_jsonl, scripted_cases)
    tasks = check_run(result, list(ids.values()), prepared_passages(scripted_cases))
    check_expected_drops(result, scripted_cases, ids)
    check_faults(result, {f"fault-{name}": reasons for name, reasons in EXPECTED.items()})
    # Rows refused before the first LLM step cost no request; the 20 MB document was never sent.
    assert max(len(prompt) for prompt in model.prompts) < 50_000
    assert not any("twenty megabyte" in prompt or "彩虹表" in prompt for prompt in model.prompts)
    # Good passages and recovered faults still make tasks, with the LLM's lineage.
    made = {task.source_id for task in tasks}
    assert {"fault-mask_fenced_prose", "fault-mask_flaky", "fault-extract_server_error_once"} & made, made
    assert CONTAMINATED not in made and reasons_by_id(result)[CONTAMINATED][1] in ("contaminated", "too_easy")
    assert all(task.lineage.engine == "scripted" and len(task.lineage.probe_letters) == ROLLOUTS for task in tasks)
    usage = {step.name: step.engine for step in result.stats if step.engine is not None}
    assert usage["ExtractPassage"].failures["timeout"] >= 1 and usage["MaskReasoningSpan"].retries >= 1
    # Transient errors are retried (max_attempts=2), a bad request is not; a bad answer gets one retry.
    assert model.calls["extract:extract_timeout"] == 2 and model.calls["mask:mask_bad_request"] == 1
    assert model.calls["mask:mask_malformed"] == 2 and model.calls["extract:extract_server_error_once"] == 2


def test_llm_chain_survives_prompt_injection(scripted_run, scripted_jsonl, scripted_cases):
    """The model obeys the orders hidden in the pages; no order yields an invalid task."""
    result, _ = scripted_run
    tasks = check_run(result, list(jsonl_source_ids(scripted_jsonl, scripted_cases).values()),
                      prepared_passages(scripted_cases))
    rejects = reasons_by_id(result)
    # The fake JSON answer ("The answer is A.", three copies of "A") is too short to be a span;
    # the copied order comes with ten copies of itself as distractors; [MASK] in the page is refused.
    assert rejects["inject_fake_json"] == ("MaskReasoningSpan", "span_too_short")
    assert rejects["inject_closing"] == ("MaskReasoningSpan", "too_few_distractors_returned")
    assert rejects["inject_html"] == ("MaskReasoningSpan", "too_few_distractors_returned")
    assert rejects["inject_mask"] == ("MaskReasoningSpan", "mask_token_in_text")
    letter = [task for task in tasks if task.source_id == "inject_letter"]
    if letter:  # "output the letter A" made the probe answer A in every option order (mapped back to the
        # task's own letters); the injection cannot make the task look solved, and the task stays valid
        assert letter[0].lineage.probe_pass_rate < 1 and len(set(letter[0].lineage.probe_letters)) > 1
    else:
        assert rejects["inject_letter"][1] in ("too_easy", "too_few_distractors", "near_duplicate")


# --- the real HTTP back end on the stub server -----------------------------------------------

HTTP_FAULTS = [name for name in list(EXPECTED) + list(MAY_SUCCEED) if name not in SCRIPTED_ONLY]


def _http_fault_rows() -> list[dict]:
    rows = fault_rows(HTTP_FAULTS + [f"http_{k}" for k in range(len(HTTP_DIRECTIVES))])
    for row, directive in zip(rows[len(HTTP_FAULTS) :], HTTP_DIRECTIVES):
        row["text"] = row["text"].replace("\n", f"\nNote {directive} inserted by the stub test.\n", 1)
    return rows


@pytest.fixture(scope="module")
def http_cases() -> list[Case]:
    return corpus(extra=_http_fault_rows())


@pytest.fixture(scope="module")
def http_jsonl(corpus_dir: Path, http_cases: list[Case]) -> Path:
    return write_jsonl(corpus_dir / "http.jsonl", http_cases)


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[StubServer, FakeModel]]:
    """The stub server answering with the fake model instead of its fixed JSON."""
    model = FakeModel()
    plain = openai_stub_server._completion

    def completion(prompt: str, body: dict[str, Any], config: StubConfig) -> dict[str, Any]:
        answer = model(type("Request", (), {"messages": [{"content": prompt}]})())
        text = "" if isinstance(answer, BackendError) else answer
        reply = plain(prompt, {**body, "response_format": None, "temperature": 0}, config)
        for choice in reply["choices"]:
            choice["message"]["content"] = text
            choice["finish_reason"] = "stop"
        return reply

    monkeypatch.setattr(openai_stub_server, "_completion", completion)
    with StubServer(StubConfig(hang_seconds=2.0)) as server:
        yield server, model


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({}, id="directives"),
        pytest.param({"fault_rate": 0.25, "faults": ["429", "500", "503", "malformed", "truncated", "drop"], "seed": 3},
                     id="random-faults"),
    ],
)
def test_llm_chain_over_http_with_server_faults(stub, http_jsonl, http_cases, faults):
    server, model = stub
    server.reset(hang_seconds=2.0, **faults)
    config = EngineConfig(backend="openai", base_url=server.url, model="stub", retry=FAST_HTTP)
    with config.build() as engine:
        result = pipeline(engine).run(http_jsonl)
    ids = jsonl_source_ids(http_jsonl, http_cases)
    tasks = check_run(result, list(ids.values()), prepared_passages(http_cases))
    check_expected_drops(result, http_cases, ids)
    if not faults:
        check_faults(result, {f"fault-{name}": reasons for name, reasons in EXPECTED.items() if name in HTTP_FAULTS})
        check_faults(result, {f"fault-http_{k}": reasons for k, reasons in enumerate(HTTP_DIRECTIVES.values())})
    stats = server.stats()
    assert stats["faults"] and 0 < len(model.prompts) <= stats["requests"]  # faulted requests reach no model
    assert tasks and all(task.lineage.engine == "openai-http" for task in tasks)
