"""A stand-in OpenAI-compatible server for tests and benchmarks: real HTTP, no model.

It answers ``POST /v1/chat/completions`` in the OpenAI wire format with a deterministic
answer derived from the prompt (``echo: <prompt>``; for a ``response_format`` with a
schema, a fixed JSON object valid for simple flat schemas), honours ``n``, ``max_tokens``
(counting words as tokens), ``logprobs``/``top_logprobs`` and reports ``usage``.

Latency and faults are configurable:

* ``fault_rate`` of the requests fail, each with a kind drawn from ``faults``; the draw
  is seeded by ``(seed, prompt, attempt number of that prompt)``, so it does not depend
  on the order in which concurrent requests arrive;
* a prompt containing ``[fault=KIND]`` fails every time, ``[fault=KIND*K]`` the first
  ``K`` times (then it is answered).

Fault kinds: ``429``, ``500``, ``503``, ``400``, ``401``, ``403``, ``408`` (that status with
an OpenAI error body), ``leak`` (a 400 whose message echoes the request's ``Authorization``
header, as careless servers do), ``hang`` (no answer for ``hang_seconds``), ``malformed`` (a 200 whose body is not
JSON), ``nochoices`` (a 200 JSON body without ``choices``), ``truncated`` (half the
announced body, then the connection closes), ``drop`` (the connection closes, no answer).

With ``api_key`` set, a request without that bearer token gets a 401 whose message echoes
the key it presented (as OpenAI's does) and counts in ``refused``, not in ``requests``.
With ``greedy_n_must_be_1``, a greedy request (``temperature`` 0) with ``n > 1`` gets vLLM's
400 "n must be 1 when using greedy sampling".

``GET /stats`` returns the counters (``requests``, ``refused``, ``per_prompt``, ``faults``,
``in_flight``, ``peak_in_flight``, ``last_request``); ``POST /reset`` zeroes them and
sets the config to the start config plus the changes in its optional JSON body. ``GET /v1/models`` lists the one model.
It only ever listens on 127.0.0.1.

Run it in a thread (tests) or as its own process (benchmarks, so that it gets its own CPU)::

    python tests/openai_stub_server.py --port 8000 --latency 0.2 --fault-rate 0.3

>>> with StubServer(StubConfig(latency=0.0)) as server:
...     import httpx
...     body = {"model": "stub", "messages": [{"role": "user", "content": "hi there"}], "n": 2}
...     answer = httpx.post(server.url + "/chat/completions", json=body).json()
...     [c["message"]["content"] for c in answer["choices"]], server.stats()["per_prompt"]
(['echo: hi there', 'echo: hi there'], {'hi there': 1})
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import httpx
from aiohttp import web

HOST = "127.0.0.1"
FAULT_KINDS = ("429", "500", "503", "400", "401", "403", "408", "leak", "hang", "malformed", "nochoices", "truncated", "drop")
_DIRECTIVE = re.compile(r"\[fault=(\w+)(?:\*(\d+))?\]")


@dataclass(frozen=True)
class StubConfig:
    """How the stub behaves; ``POST /reset`` can change any field at run time."""

    latency: float = 0.0
    """Seconds before each answer (and before each injected fault but ``hang``)."""
    fault_rate: float = 0.0
    """Share of requests that get a random fault from ``faults``."""
    faults: tuple[str, ...] = ("429", "500", "hang", "malformed")
    """Kinds drawn from for random faults."""
    seed: int = 0
    """Seed of the random fault draws."""
    hang_seconds: float = 30.0
    """How long a ``hang`` lasts (longer than the client's timeout)."""
    ignore_n: bool = False
    """Return one choice whatever ``n`` asks, as llama-cpp-python's server does."""
    api_key: str | None = None
    """When set, requests without ``Authorization: Bearer <api_key>`` get HTTP 401."""
    greedy_n_must_be_1: bool = False
    """Refuse greedy requests with ``n > 1`` with HTTP 400, as vLLM does."""
    model: str = "stub"

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if not 0 <= self.fault_rate <= 1:
            raise ValueError("fault_rate must be between 0 and 1")


@dataclass
class _State:
    config: StubConfig
    requests: int = 0
    refused: int = 0
    per_prompt: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    peak_in_flight: int = 0
    last_request: dict[str, Any] | None = None

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "refused": self.refused,
            "per_prompt": dict(self.per_prompt),
            "faults": dict(self.faults),
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "last_request": self.last_request,
        }


def make_app(config: StubConfig) -> web.Application:
    """The aiohttp application; its state lives in the app, not in module globals."""
    config_at_start = config
    state = _State(config)
    app = web.Application()

    async def chat_completions(request: web.Request) -> web.StreamResponse:
        counters = state  # a request still in flight at a reset counts in the old counters
        counters.in_flight += 1
        counters.peak_in_flight = max(counters.peak_in_flight, counters.in_flight)
        try:
            return await _answer(request, counters)
        finally:
            counters.in_flight -= 1

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(state.stats())

    async def reset(request: web.Request) -> web.Response:
        changes = await request.json() if request.can_read_body else {}
        if "faults" in changes:
            changes["faults"] = tuple(changes["faults"])
        nonlocal state
        state = _State(replace(config_at_start, **changes))
        return web.json_response(asdict(state.config))

    async def models(_request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": state.config.model, "object": "model"}]})

    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    return app


async def _answer(request: web.Request, state: _State) -> web.StreamResponse:
    config = state.config
    presented = request.headers.get("Authorization", "")
    if config.api_key and presented != f"Bearer {config.api_key}":
        state.refused += 1
        return _error(401, f"Incorrect API key provided: {presented.removeprefix('Bearer ')}")
    try:
        body = await request.json()
        prompt = str(body["messages"][-1]["content"])
    except (ValueError, KeyError, IndexError, TypeError):
        return _error(400, "expected a chat completion request")
    state.requests += 1
    state.per_prompt[prompt] += 1
    state.last_request = body
    fault = fault_for(prompt, state.per_prompt[prompt], config)
    if fault is not None:
        state.faults[fault] += 1
    await asyncio.sleep(config.hang_seconds if fault == "hang" else config.latency)
    if config.greedy_n_must_be_1 and int(body.get("n") or 1) > 1 and not float(body.get("temperature") or 0):
        return _error(400, "n must be 1 when using greedy sampling")
    if fault == "leak":
        return _error(400, f"malformed request with headers Authorization: {presented}")
    if fault is not None:
        faulty = await _inject(fault, request)
        if faulty is not None:
            return faulty
    return web.Response(text=json.dumps(_completion(prompt, body, config)), content_type="application/json")


def fault_for(prompt: str, attempt: int, config: StubConfig) -> str | None:
    """The fault injected into the ``attempt``-th request (from 1) for ``prompt``, if any."""
    directive = _DIRECTIVE.search(prompt)
    if directive:
        kind, times = directive.group(1), directive.group(2)
        return kind if times is None or attempt <= int(times) else None
    if config.fault_rate <= 0:
        return None
    draw = random.Random(f"{config.seed}:{prompt}:{attempt}")
    return draw.choice(config.faults) if draw.random() < config.fault_rate else None


async def _inject(fault: str, request: web.Request) -> web.StreamResponse | None:
    """The faulty answer, or None when the fault was a hang (then answer normally)."""
    if fault.isdigit():
        return _error(int(fault), f"injected HTTP {fault}")
    if fault == "malformed":
        return web.Response(text='{"choices": [{"message": {"content": "cut', content_type="application/json")
    if fault == "nochoices":
        return web.json_response({"object": "chat.completion", "choices": []})
    if fault in ("truncated", "drop"):
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        if fault == "truncated":
            full = json.dumps({"choices": [{"index": 0, "message": {"content": "x" * 200}}]}).encode()
            response.content_length = len(full)
            await response.prepare(request)
            await response.write(full[: len(full) // 2])
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # the connection is gone: end the handler without writing more
    return None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "stub_error", "code": status}}, status=status)


def _completion(prompt: str, body: dict[str, Any], config: StubConfig) -> dict[str, Any]:
    n = 1 if config.ignore_n else int(body.get("n") or 1)
    max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 16)
    temperature = float(body.get("temperature") or 0)
    seed = int(body.get("seed") or 0)
    schema = _schema_of(body.get("response_format"))
    top_k = int(body.get("top_logprobs") or 1) if body.get("logprobs") else 0
    choices = []
    completion_tokens = 0
    for index in range(n):
        if schema is not None:
            words = [json.dumps(_example(schema))]
        else:
            words = ["echo:", *prompt.split(), *([f"(sample {seed + index})"] if temperature > 0 else [])]
        kept = words[:max_tokens]
        completion_tokens += len(kept)
        choice: dict[str, Any] = {
            "index": index,
            "message": {"role": "assistant", "content": " ".join(kept)},
            "finish_reason": "stop" if len(kept) == len(words) else "length",
        }
        if top_k:
            choice["logprobs"] = {"content": [_token_logprobs(word, top_k) for word in kept]}
        choices.append(choice)
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "model": body.get("model", config.model),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _schema_of(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_schema":
        return dict(response_format.get("json_schema", {}).get("schema") or {})
    if response_format.get("type") == "json_object":
        return dict(response_format.get("schema") or {})
    return None


def _example(schema: dict[str, Any]) -> Any:
    """A value valid for a simple schema (flat types, enums, nested objects; no ``$ref``)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        return {name: _example(sub) for name, sub in schema.get("properties", {}).items()}
    return {"array": [], "integer": 0, "number": 0.0, "boolean": False, "null": None}.get(kind, "stub")


def _token_logprobs(token: str, k: int) -> dict[str, Any]:
    alternatives = [{"token": token, "logprob": -0.1}] + [{"token": f"alt{j}", "logprob": -1.0 - j} for j in range(1, k)]
    return {"token": token, "logprob": -0.1, "top_logprobs": alternatives}


# -- running it ------------------------------------------------------------------------------


class StubServer:
    """The stub on a free port of 127.0.0.1, in a background thread with its own event loop.

    ``url`` is the OpenAI base URL (``http://127.0.0.1:PORT/v1``).
    """

    def __init__(self, config: StubConfig | None = None) -> None:
        self.config = config or StubConfig()
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="openai-stub", daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> StubServer:
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        self.url = f"http://{HOST}:{port}/v1"
        return self

    async def _start(self) -> int:
        self._runner = web.AppRunner(make_app(self.config), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def stats(self) -> dict[str, Any]:
        return stats(self.url)

    def reset(self, **changes: Any) -> dict[str, Any]:
        return reset(self.url, **changes)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StubProcess:
    """The stub in its own process (its own CPU, as a real server would be); ``url`` as above."""

    def __init__(self, config: StubConfig | None = None) -> None:
        self.config = config or StubConfig()
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> StubProcess:
        args = [sys.executable, __file__, "--port", "0"]
        for item in fields(self.config):
            value = getattr(self.config, item.name)
            flag = "--" + item.name.replace("_", "-")
            if isinstance(value, bool):
                args += [flag] if value else []
            elif value is not None:
                args += [flag, ",".join(value) if isinstance(value, tuple) else str(value)]
        self._process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # "listening on <url>", printed once the port is bound
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"stub server did not start: {line!r}")
        self.url = line.split()[-1]
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def stats(self) -> dict[str, Any]:
        return stats(self.url)

    def reset(self, **changes: Any) -> dict[str, Any]:
        return reset(self.url, **changes)

    def __enter__(self) -> StubProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stats(url: str) -> dict[str, Any]:
    """The counters of the stub at OpenAI base URL ``url``."""
    return httpx.get(url.removesuffix("/v1") + "/stats", timeout=10).json()


def reset(url: str, **changes: Any) -> dict[str, Any]:
    """Zero the counters of the stub at ``url``, applying config ``changes``; returns the config."""
    return httpx.post(url.removesuffix("/v1") + "/reset", json=changes, timeout=10).json()


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    """Poll ``GET {url}/models`` until it answers (any OpenAI-compatible server)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no server answered at {url} within {timeout} s")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on the first line)")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--faults", default="429,500,hang,malformed", help=f"comma-separated, of {','.join(FAULT_KINDS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    parser.add_argument("--ignore-n", action="store_true")
    parser.add_argument("--greedy-n-must-be-1", action="store_true")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--model", default="stub")
    args = parser.parse_args(argv)
    config = StubConfig(
        latency=args.latency, fault_rate=args.fault_rate, faults=tuple(args.faults.split(",")), seed=args.seed,
        hang_seconds=args.hang_seconds, ignore_n=args.ignore_n,
        greedy_n_must_be_1=args.greedy_n_must_be_1, api_key=args.api_key, model=args.model,
    )

    async def serve() -> None:
        runner = web.AppRunner(make_app(config), access_log=None, handler_cancellation=True)
        await runner.setup()
        await web.TCPSite(runner, HOST, args.port).start()
        print(f"listening on http://{HOST}:{runner.addresses[0][1]}/v1", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
