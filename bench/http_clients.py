"""Client CPU per request and achieved rate: goose's HTTP engine beside raw aiohttp and the
``openai`` SDK, against one local server with a fixed latency.

The stub server (``tests/openai_stub_server.py``) runs in its own process and answers each
request after ``--latency`` seconds, so with ``k`` requests in flight the ideal rate is
``k / latency``. For each ``k`` in ``--in-flight`` and each client, in one command:

* ``aiohttp``: the baseline, one ``ClientSession`` posting pre-encoded JSON, ``k`` at a time;
* ``openai``: ``AsyncOpenAI(...).chat.completions.create`` (retries off), ``k`` at a time
  (skipped when the ``openai`` package is not installed);
* ``goose``: ``Engine(OpenAIHTTPBackend(...), retry=RetryPolicy(max_in_flight=k))`` with
  its whole policy (retries, timeouts, accounting), no cache.

Each client sends ``--waves * k`` short requests (a ``max_tokens=1`` probe with top
log-probs, the high-rate case) after a warm-up wave. Printed per client: the rate, its
ratio to the ideal, client CPU per request (``time.process_time`` of this process, all
threads, divided by requests) and, for goose and openai, the rate as a share of aiohttp's.
The client order rotates between repeats (``--repeats``) so no client always runs first.

Run: ``python bench/http_clients.py`` (options: ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from openai_stub_server import StubConfig, StubProcess  # noqa: E402

from goose.engines import ChatRequest, Engine, Generation, RetryPolicy, SamplingParams  # noqa: E402
from goose.engines.backends.openai_http import OpenAIHTTPBackend  # noqa: E402

Measure = tuple[float, float]
"""(wall seconds, client CPU seconds) of one measured run."""


def prompts(count: int, start: int) -> list[str]:
    return [f"row {start + i}: which option, A, B, C or D, fills the mask?" for i in range(count)]


def body_of(prompt: str) -> dict:
    return {"model": "stub", "messages": [{"role": "user", "content": prompt}], "n": 1, "temperature": 0.0,
            "max_tokens": 1, "logprobs": True, "top_logprobs": 5, "seed": 0}


async def _bounded(k: int, items: list[str], call: Callable) -> None:
    slots = asyncio.Semaphore(k)

    async def one(prompt: str) -> None:
        async with slots:
            await call(prompt)

    await asyncio.gather(*(one(p) for p in items))


def run_aiohttp(url: str, k: int, warm: list[str], measured: list[str]) -> Measure:
    import aiohttp

    async def main() -> Measure:
        connector = aiohttp.TCPConnector(limit=k)
        async with aiohttp.ClientSession(connector=connector) as session:
            async def call(prompt: str) -> None:
                async with session.post(url + "/chat/completions", data=json.dumps(body_of(prompt)).encode(),
                                        headers={"Content-Type": "application/json"}) as response:
                    answer = json.loads(await response.read())
                    assert answer["choices"], answer

            await _bounded(k, warm, call)
            return await timed(_bounded(k, measured, call))

    return asyncio.run(main())


def run_openai(url: str, k: int, warm: list[str], measured: list[str]) -> Measure:
    import httpx
    import openai

    async def main() -> Measure:
        http = httpx.AsyncClient(limits=httpx.Limits(max_connections=k, max_keepalive_connections=k))
        client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0, http_client=http)

        async def call(prompt: str) -> None:
            body = body_of(prompt)
            answer = await client.chat.completions.create(
                model=body["model"], messages=body["messages"], n=1, temperature=0.0, max_tokens=1,
                logprobs=True, top_logprobs=5, seed=0,
            )
            assert answer.choices

        await _bounded(k, warm, call)
        measure = await timed(_bounded(k, measured, call))
        await client.close()
        return measure

    return asyncio.run(main())


def run_goose(url: str, k: int, warm: list[str], measured: list[str]) -> Measure:
    sampling = SamplingParams(max_tokens=1, top_logprobs=5)
    with Engine(OpenAIHTTPBackend(url, "stub"), retry=RetryPolicy(max_in_flight=k, timeout=30)) as engine:
        engine.generate([ChatRequest.user(p, sampling) for p in warm])
        requests = [ChatRequest.user(p, sampling) for p in measured]  # built before the clock, as for the others
        wall, cpu = time.perf_counter(), time.process_time()
        results = engine.generate(requests)
        measure = time.perf_counter() - wall, time.process_time() - cpu
    assert all(isinstance(r, Generation) for r in results), [r for r in results if not isinstance(r, Generation)][:3]
    return measure


async def timed(work: asyncio.Future | object) -> Measure:
    wall, cpu = time.perf_counter(), time.process_time()
    await work  # type: ignore[misc]
    return time.perf_counter() - wall, time.process_time() - cpu


CLIENTS: dict[str, Callable[[str, int, list[str], list[str]], Measure]] = {
    "aiohttp": run_aiohttp, "openai": run_openai, "goose": run_goose,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in-flight", default="32,128,256", help="Comma-separated requests in flight.")
    parser.add_argument("--latency", type=float, default=0.2, help="Server seconds per request.")
    parser.add_argument("--waves", type=int, default=12, help="Measured requests = waves x in flight.")
    parser.add_argument("--repeats", type=int, default=1, help="Measure each client this many times (median kept).")
    parser.add_argument("--clients", default="aiohttp,openai,goose")
    args = parser.parse_args()
    clients = [c for c in args.clients.split(",") if c]
    try:
        import openai  # noqa: F401
    except ImportError:
        print("openai is not installed (pip install openai): its column is skipped")
        clients = [c for c in clients if c != "openai"]

    with StubProcess(StubConfig(latency=args.latency)) as stub:
        for k in (int(x) for x in args.in_flight.split(",")):
            ideal = k / args.latency
            runs: dict[str, list[Measure]] = {c: [] for c in clients}
            offset = 0
            for repeat in range(args.repeats):
                order = clients[repeat % len(clients):] + clients[: repeat % len(clients)]
                for client in order:
                    warm, measured = prompts(k, offset), prompts(args.waves * k, offset + k)
                    offset += (args.waves + 1) * k
                    runs[client].append(CLIENTS[client](stub.url, k, warm, measured))
            count = args.waves * k
            rates = {c: [count / wall for wall, _ in runs[c]] for c in clients}
            cpus = {c: [1000 * cpu / count for _, cpu in runs[c]] for c in clients}
            print(f"\n{k} in flight, {args.latency * 1000:.0f} ms latency, {count} requests x {args.repeats}: "
                  f"ideal {ideal:.0f} req/s")
            base = statistics.median(rates["aiohttp"]) if "aiohttp" in rates else None
            for client in clients:
                rate, cpu = statistics.median(rates[client]), statistics.median(cpus[client])
                spread = f" (runs: {', '.join(f'{r / ideal:.2f}' for r in rates[client])})" if args.repeats > 1 else ""
                versus = f"; {rate / base:.3f} of aiohttp's rate" if base and client != "aiohttp" else ""
                cpu_runs = f" (runs: {', '.join(f'{c:.3f}' for c in cpus[client])})" if args.repeats > 1 else ""
                print(f"  {client:8s} {rate:7.1f} req/s = {rate / ideal:.3f} of ideal{spread}; "
                      f"client CPU {cpu:.3f} ms/request{cpu_runs}{versus}")


if __name__ == "__main__":
    main()
