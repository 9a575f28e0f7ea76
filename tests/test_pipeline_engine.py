"""Pipelines with an LLM engine: operators reach it through the run context, and the run's
stats count each step's requests, cache hits, tokens and failures."""

from __future__ import annotations

import json

import pytest
from llm_test_operator import Shout

from goose.config import RunConfig
from goose.engines import BackendError, ChatRequest, Engine, RetryPolicy
from goose.engines.testing import ScriptedBackend
from goose.pipeline import Pipeline
from goose.pipeline.pipeline import PipelineError
from goose.runner import SUMMARY_FILE, run_to_directory


def upper_or_fail(request: ChatRequest) -> str | BackendError:
    text = request.messages[-1]["content"]
    return BackendError("bad_request", "refused") if text == "bad" else text.upper()


ROWS = [{"text": "a"}, {"text": "b"}, {"text": "bad"}, {"text": "a"}]


def test_operator_calls_are_counted_per_step(tmp_path):
    backend = ScriptedBackend(upper_or_fail)
    with Engine(backend, cache=tmp_path / "cache.sqlite", retry=RetryPolicy(initial_backoff=0)) as engine:
        result = Pipeline([Shout()], batch_size=2, engine=engine).run(ROWS)
        assert result.accounted
        assert result.tasks.column("loud").to_pylist() == ["A", "B", "A"]
        assert result.rejects.column("reason").to_pylist() == ["engine_bad_request"]
        shout = result.stats[-1]
        assert shout.engine is not None
        assert shout.engine.requests == 3 and shout.engine.cache_hits == 1  # the second "a" hit the cache
        assert dict(shout.engine.failures) == {"bad_request": 1}
        assert result.stats[0].engine is None  # the reader made no LLM call
        assert "LLM calls" in result.summary() and "bad_request 1" in result.summary()

        again = Pipeline([Shout()], batch_size=2, engine=engine).run(ROWS)
        assert again.stats[-1].engine.requests == 1  # only the failed request is sent again
        assert again.stats[-1].engine.cache_hits == 3


def test_an_llm_step_without_an_engine_is_refused_before_any_work():
    with pytest.raises(PipelineError, match="no engine"):
        Pipeline([Shout()]).run(ROWS)


def test_summary_json_reports_engine_usage(tmp_path):
    with Engine(ScriptedBackend(upper_or_fail), retry=RetryPolicy(initial_backoff=0)) as engine:
        run_to_directory(Pipeline([Shout()], engine=engine), ROWS, tmp_path, progress=False)
    summary = json.loads((tmp_path / SUMMARY_FILE).read_text())
    assert summary["engines"]["main"]["backend"] == "scripted" and summary["engines"]["main"]["requests"] == 3  # the second "a" shares the first one's answer
    assert summary["steps"][-1]["engine"]["failures"] == {"bad_request": 1}


def test_yaml_engine_section_is_validated():
    config = {"input": "x.jsonl", "preset": "offline", "engine": {"backend": "openai", "model": "m"}}
    with pytest.raises(ValueError, match="base_url"):
        RunConfig.model_validate(config)
    config["engine"]["base_url"] = "http://127.0.0.1:1/v1"
    settings = RunConfig.model_validate(config)
    assert settings.build_pipeline().engine is None  # no step of the offline preset calls an LLM
