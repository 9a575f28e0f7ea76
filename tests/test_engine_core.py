"""The engine's policy layer: cache, retries, timeouts, concurrency, accounting, JSON parsing."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from engine_conformance import check_engine
from goose.engines import (
    BackendError,
    ChatRequest,
    Engine,
    EngineAuthError,
    Failure,
    Generation,
    RequestBackend,
    ResponseCache,
    RetryPolicy,
    SamplingParams,
    generate_json,
    parse_json_answer,
    redact,
    redact_options,
)
from goose.engines.testing import ScriptedBackend

FAST = RetryPolicy(max_attempts=3, initial_backoff=0.0, max_backoff=0.0, timeout=0.5, max_in_flight=4)


class Pair(BaseModel):
    a: int
    b: str


def test_scripted_backend_passes_the_conformance_check(tmp_path):
    def answer(request: ChatRequest) -> str:
        return '{"letter": "B", "reason": "7 is prime"}' if "JSON" in request.messages[-1]["content"] else "B"

    backend = ScriptedBackend(answer)
    backend.supports_json_schema = True
    check_engine(Engine(backend, cache=tmp_path / "cache.sqlite"), expect_logprobs=False)


def test_cache_key_depends_on_everything_that_changes_the_response():
    base = ChatRequest.user("q", SamplingParams(seed=1))
    key = ResponseCache.key("b", "m", base)
    variants = [
        ResponseCache.key("other", "m", base),
        ResponseCache.key("b", "other", base),
        ResponseCache.key("b", "m", ChatRequest.user("q2", SamplingParams(seed=1))),
        ResponseCache.key("b", "m", ChatRequest.user("q", SamplingParams(seed=2))),
        ResponseCache.key("b", "m", ChatRequest.user("q", SamplingParams(seed=1, n=2))),
        ResponseCache.key("b", "m", ChatRequest.user("q", SamplingParams(seed=1, temperature=0.5))),
        ResponseCache.key("b", "m", base.model_copy(update={"response_schema": {"type": "object"}})),
    ]
    assert len({key, *variants}) == len(variants) + 1
    assert ResponseCache.key("b", "m", ChatRequest.user("q", SamplingParams(seed=1))) == key


def test_rerun_on_the_same_cache_sends_nothing(tmp_path):
    requests = [ChatRequest.user(f"q{i}") for i in range(5)]
    first = ScriptedBackend(["x"])
    with Engine(first, cache=tmp_path / "c.sqlite") as engine:
        engine.generate(requests)
    second = ScriptedBackend(["y"])
    with Engine(second, cache=tmp_path / "c.sqlite") as engine:
        results = engine.generate(requests + [ChatRequest.user("new")])
        assert [r.text for r in results] == ["x"] * 5 + ["y"]
        assert len(second.received) == 1
        assert engine.usage().cache_hits == 5 and engine.usage().requests == 1


def test_transient_failures_are_retried_and_permanent_ones_are_not():
    script = [BackendError("server_error", "boom"), BackendError("bad_request", "too long"), "ok"]
    backend = ScriptedBackend(lambda request: script.pop(0) if script else "ok")
    engine = Engine(backend, retry=FAST)
    results = engine.generate([ChatRequest.user("a"), ChatRequest.user("b")], tag="op")
    assert isinstance(results[0], Generation) and results[0].text == "ok"
    assert isinstance(results[1], Failure) and results[1].kind == "bad_request" and results[1].attempts == 1
    usage = engine.usage("op")
    assert usage.retries == 1 and usage.failures == {"bad_request": 1}


def test_transient_failure_gives_up_after_max_attempts():
    backend = ScriptedBackend([BackendError("rate_limited", "429")])
    results = Engine(backend, retry=FAST).generate([ChatRequest.user("a")])
    assert isinstance(results[0], Failure) and results[0].kind == "rate_limited" and results[0].attempts == 3
    assert len(backend.received) == 3


class SlowAsyncBackend(RequestBackend):
    """An async back end double: counts concurrency, fails the first try of some prompts."""

    name = "async-double"
    model = "double"

    def __init__(self, delay: float = 0.02, hang_on: str = "", flaky_on: str = "") -> None:
        self.delay, self.hang_on, self.flaky_on = delay, hang_on, flaky_on
        self.in_flight = 0
        self.peak = 0
        self.calls: list[str] = []

    async def send(self, request: ChatRequest, timeout: float) -> Generation:
        prompt = request.messages[-1]["content"]
        self.calls.append(prompt)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if prompt == self.hang_on:
                await asyncio.sleep(timeout * 4)
            await asyncio.sleep(self.delay)
            if prompt == self.flaky_on and self.calls.count(prompt) == 1:
                raise BackendError("rate_limited", "429")
            return Generation(texts=[prompt.upper()], prompt_tokens=1, completion_tokens=1)
        finally:
            self.in_flight -= 1


def test_request_backend_runs_concurrently_within_the_limit():
    backend = SlowAsyncBackend()
    engine = Engine(backend, retry=FAST)
    results = engine.generate([ChatRequest.user(f"p{i}") for i in range(12)])
    engine.close()
    assert [r.text for r in results] == [f"P{i}" for i in range(12)]
    assert 1 < backend.peak <= FAST.max_in_flight


def test_request_backend_timeouts_and_retries_are_counted(tmp_path):
    backend = SlowAsyncBackend(hang_on="hang", flaky_on="flaky")
    engine = Engine(backend, retry=FAST, cache=tmp_path / "c.sqlite")
    results = engine.generate([ChatRequest.user("hang"), ChatRequest.user("flaky"), ChatRequest.user("fine")], tag="t")
    assert isinstance(results[0], Failure) and results[0].kind == "timeout" and results[0].attempts == 3
    assert results[1].text == "FLAKY" and results[2].text == "FINE"
    usage = engine.usage("t")
    assert usage.requests == 3 and usage.failures == {"timeout": 1} and usage.retries == 3
    # Answers are cached as they arrive; the failed request is not cached.
    again = engine.generate([ChatRequest.user("flaky"), ChatRequest.user("fine")], tag="t2")
    assert all(r.cached for r in again) and engine.usage("t2").requests == 0
    engine.close()


def test_engine_works_when_the_caller_already_runs_an_event_loop():
    async def inside_a_loop() -> list:
        return Engine(SlowAsyncBackend(), retry=FAST).generate([ChatRequest.user("x")])

    assert asyncio.run(inside_a_loop())[0].text == "X"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "empty_response"),
        ("   ", "empty_response"),
        ('{"a": 1, "b": ', "malformed_json"),
        ("no json here", "malformed_json"),
        ('{"a": "x", "b": "y"}', "schema_mismatch"),
        ('{"a": 1}', "schema_mismatch"),
        ("[1, 2]", "schema_mismatch"),
    ],
)
def test_parse_json_answer_reports_precise_failures(text, kind):
    result = parse_json_answer(text, Pair)
    assert isinstance(result, Failure) and result.kind == kind


@pytest.mark.parametrize(
    "text", ['{"a": 1, "b": "x"}', '```json\n{"a": 1, "b": "x"}\n```', 'Sure! {"a": 1, "b": "x"} Hope it helps.']
)
def test_parse_json_answer_accepts_common_wrappings(text):
    assert parse_json_answer(text, Pair) == Pair(a=1, b="x")


def test_generate_json_retries_once_with_a_new_seed_after_malformed_output():
    answers = iter(['{"a": oops', '{"a": 2, "b": "ok"}'])
    backend = ScriptedBackend(lambda request: next(answers))
    result = generate_json(Engine(backend), [ChatRequest.user("give json", SamplingParams(temperature=0))], Pair)
    assert result == [Pair(a=2, b="ok")]
    first, retry = backend.received
    assert first.response_schema == Pair.model_json_schema()
    assert retry.sampling.seed == 1 and retry.sampling.temperature >= 0.7


def test_generate_json_counts_an_unusable_answer_as_a_failure_of_its_tag():
    engine = Engine(ScriptedBackend(['{"a": oops', '{"b": "no a"}', '{"a": 3, "b": "fine"}']))
    result = generate_json(engine, [ChatRequest.user("json")], Pair, tag="step")
    assert isinstance(result[0], Failure) and result[0].kind == "schema_mismatch"
    assert dict(engine.usage("step").failures) == {"schema_mismatch": 1}  # the retry's failure, counted once


def test_generate_json_retries_truncated_output_with_more_tokens():
    class Truncating(ScriptedBackend):
        def generate_batch(self, requests):
            out = super().generate_batch(requests)
            if len(self.received) == 1:
                out[0] = out[0].model_copy(update={"finish_reasons": ["length"]})
            return out

    answers = iter(['{"a": 1, "b": "cut', '{"a": 1, "b": "whole"}'])
    backend = Truncating(lambda request: next(answers))
    result = generate_json(Engine(backend), [ChatRequest.user("json", SamplingParams(max_tokens=10))], Pair)
    assert result == [Pair(a=1, b="whole")]
    assert backend.received[1].sampling.max_tokens == 20


def test_generate_json_gives_up_after_one_retry():
    backend = ScriptedBackend(["not json"])
    result = generate_json(Engine(backend), [ChatRequest.user("json")], Pair)
    assert isinstance(result[0], Failure) and result[0].kind == "malformed_json"
    assert len(backend.received) == 2


def test_changing_the_parser_never_pays_twice(tmp_path):
    class Other(BaseModel):
        a: int

    backend = ScriptedBackend(['{"a": 3, "b": "z"}'])
    request = ChatRequest.user("json")
    with Engine(backend, cache=tmp_path / "c.sqlite") as engine:
        assert generate_json(engine, [request], Pair) == [Pair(a=3, b="z")]
        parsed = [parse_json_answer(g.text, Other) for g in engine.generate([request.model_copy(update={"response_schema": Pair.model_json_schema()})])]
    assert parsed == [Other(a=3)] and len(backend.received) == 1


def test_identical_seeded_requests_in_one_call_are_sent_once():
    backend = ScriptedBackend(lambda request: request.messages[-1]["content"] * 2)
    engine = Engine(backend)
    unseeded = ChatRequest.user("u", SamplingParams(seed=None, temperature=1.0))
    batch = [ChatRequest.user("a"), ChatRequest.user("b"), ChatRequest.user("a"), unseeded, unseeded]
    results = engine.generate(batch, tag="t")
    assert [r.text for r in results] == ["aa", "bb", "aa", "uu", "uu"]
    assert [r.messages[-1]["content"] for r in backend.received] == ["a", "b", "u", "u"]  # unseeded: both sent
    assert results[2].cached and not results[0].cached
    assert engine.usage("t").requests == 4 and engine.usage("t").cache_hits == 1


def test_back_end_settings_that_change_answers_are_in_the_cache_key(tmp_path):
    from goose.engines.backends.openai_http import OpenAIHTTPBackend

    plain = OpenAIHTTPBackend("http://127.0.0.1:1/v1", "m")
    identities = {
        plain.cache_identity,
        OpenAIHTTPBackend("http://127.0.0.1:1/v1", "m", json_mode="json_object").cache_identity,
        OpenAIHTTPBackend("http://127.0.0.1:1/v1", "m", extra_body={"top_k": 0}).cache_identity,
    }
    assert len(identities) == 3
    assert OpenAIHTTPBackend("http://10.0.0.9:8000/v1", "m").cache_identity == plain.cache_identity  # host moves


def test_a_back_end_bug_fails_its_request_not_the_batch():
    class Buggy(SlowAsyncBackend):
        async def send(self, request, timeout):
            if request.messages[-1]["content"] == "boom":
                raise KeyError("choices")
            return await super().send(request, timeout)

    with Engine(Buggy(), retry=FAST) as engine:
        results = engine.generate([ChatRequest.user("ok"), ChatRequest.user("boom")])
    assert results[0].text == "OK"
    assert isinstance(results[1], Failure) and results[1].kind == "bad_response" and "KeyError" in results[1].message


def test_a_batch_back_end_that_raises_fails_its_requests_not_the_run():
    def explode(request):
        raise RuntimeError("CUDA error: device-side assert")

    engine = Engine(ScriptedBackend(explode))
    results = engine.generate([ChatRequest.user("a"), ChatRequest.user("b")])
    assert [r.kind for r in results] == ["bad_response", "bad_response"]
    assert "RuntimeError: CUDA error" in results[0].message and engine.usage().failures["bad_response"] == 2


def test_refused_credentials_on_a_batch_back_end_raise_at_once(tmp_path):
    refused = BackendError("auth", "HTTP 401 from http://h/v1: Incorrect API key provided: sk-abcdefgh12345678")
    backend = ScriptedBackend(["ok", refused])
    with Engine(backend, cache=tmp_path / "c.sqlite", retry=RetryPolicy(max_attempts=3, initial_backoff=0)) as engine:
        with pytest.raises(EngineAuthError, match=r"^check the API key \(HTTP 401 from http://h/v1") as raised:
            engine.generate([ChatRequest.user("a"), ChatRequest.user("b")])
        assert "sk-abcdefgh12345678" not in str(raised.value)
        assert len(backend.received) == 2  # the refusal was not retried
        assert len(engine.cache) == 1  # the answer that came is kept; the refusal is not


def test_failures_are_never_cached_so_a_rerun_resends_them(tmp_path):
    backend = ScriptedBackend([BackendError("bad_request", "HTTP 400"), "fixed"])
    with Engine(backend, cache=tmp_path / "c.sqlite", retry=RetryPolicy(max_attempts=1)) as engine:
        assert isinstance(engine.generate([ChatRequest.user("a")])[0], Failure)
        assert engine.generate([ChatRequest.user("a")])[0].text == "fixed"
    assert len(backend.received) == 2


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("Incorrect API key provided: sk-proj-AbC123xyz987654", (), "Incorrect API key provided: ***"),
        ("header Authorization: Bearer abc.def-ghi", (), "header Authorization: ***"),
        ("token hf_abcdefghijklmnop rejected", (), "token *** rejected"),
        ("key my-plain-key not valid", ("my-plain-key",), "key *** not valid"),
        ("max_tokens must be <= 4096", ("my-plain-key",), "max_tokens must be <= 4096"),
    ],
)
def test_redact_removes_keys_and_key_shaped_strings(text, secrets, expected):
    assert redact(text, secrets) == expected


def test_a_failure_message_never_holds_the_back_ends_secret():
    class Leaky(ScriptedBackend):
        secrets = ("plain-secret-value",)

    backend = Leaky([BackendError("bad_request", "HTTP 400: you sent plain-secret-value")])
    with Engine(backend, retry=RetryPolicy(max_attempts=1)) as engine:
        failure = engine.generate([ChatRequest.user("a")])[0]
    assert isinstance(failure, Failure) and failure.message == "HTTP 400: you sent ***"


def test_redact_options_hides_secret_named_values_only():
    options = {"api_key": "abc", "api_key_env": "OPENAI_API_KEY", "options": {"hf_token": "x", "max_tokens": 9},
               "extra_headers": "Bearer sk-abcdefghijkl"}
    assert redact_options(options) == {"api_key": "***", "api_key_env": "OPENAI_API_KEY",
                                       "options": {"hf_token": "***", "max_tokens": 9}, "extra_headers": "***"}


def test_retries_and_failures_are_logged(caplog):
    backend = SlowAsyncBackend(hang_on="hang", flaky_on="flaky")
    engine = Engine(backend, retry=FAST)
    with caplog.at_level("INFO", logger="goose.engines"):
        engine.generate([ChatRequest.user("hang"), ChatRequest.user("flaky")])
    engine.close()
    messages = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert any(level == "INFO" and "retried" in text for level, text in messages)
    assert any(level == "WARNING" and "failed after 3 attempt(s)" in text for level, text in messages)
