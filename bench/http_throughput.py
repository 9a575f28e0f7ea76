"""How close the engine gets to the ideal request rate of an OpenAI-compatible server.

A stub server (``tests/openai_stub_server.py``) runs in its own process and answers every
request after a fixed latency, so with ``k`` requests in flight the best possible rate is
``k / latency``. Two phases, measured in one run:

* clean: ``--requests`` requests through ``Engine(OpenAIHTTPBackend(...))`` with
  ``RetryPolicy(max_in_flight=k)``; prints the achieved rate, the ideal and their ratio
  (the goal is at least 0.90);
* faults: the same with ``--fault-rate`` of the attempts failing (429, 500, hangs past the
  timeout, malformed bodies); prints completion, retries, failures by kind and checks that
  every row came back as an answer or a failure, in order.

Run: ``python bench/http_throughput.py`` (options: ``--help``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from openai_stub_server import StubConfig, StubProcess  # noqa: E402

from goose.engines import ChatRequest, Engine, Failure, Generation, RetryPolicy, SamplingParams  # noqa: E402
from goose.engines.backends.openai_http import OpenAIHTTPBackend  # noqa: E402


def run(url: str, requests: list[ChatRequest], policy: RetryPolicy) -> tuple[list[Generation | Failure], float, Engine]:
    engine = Engine(OpenAIHTTPBackend(url, "stub"), retry=policy)
    started = time.perf_counter()
    results = engine.generate(requests, tag="bench")
    seconds = time.perf_counter() - started
    engine.close()
    return results, seconds, engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2, help="Server seconds per request.")
    parser.add_argument("--fault-rate", type=float, default=0.3, help="Share of attempts that fail in the second phase.")
    parser.add_argument("--timeout", type=float, default=2.0, help="Client timeout, seconds (hangs last 30 s).")
    parser.add_argument("--backoff", type=float, default=0.1, help="Initial retry backoff, seconds.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sampling = SamplingParams(max_tokens=16)
    requests = [ChatRequest.user(f"row {i}: summarise the argument.", sampling) for i in range(args.requests)]
    policy = RetryPolicy(
        max_in_flight=args.in_flight, timeout=args.timeout, initial_backoff=args.backoff, max_backoff=10 * args.backoff
    )
    faults = ("429", "500", "hang", "malformed")
    with StubProcess(StubConfig(latency=args.latency, faults=faults, seed=args.seed)) as stub:
        results, seconds, _ = run(stub.url, requests, policy)
        answered = sum(isinstance(r, Generation) for r in results)
        rate, ideal = len(results) / seconds, args.in_flight / args.latency
        print(f"clean: {answered}/{len(results)} answered in {seconds:.2f} s = {rate:.1f} req/s; "
              f"ideal {args.in_flight}/{args.latency} = {ideal:.1f} req/s; ratio {rate / ideal:.3f} (goal >= 0.90); "
              f"server peak in flight {stub.stats()['peak_in_flight']}")

        stub.reset(fault_rate=args.fault_rate)
        results, seconds, engine = run(stub.url, requests, policy)
        usage = engine.usage("bench")
        generations = [r for r in results if isinstance(r, Generation)]
        failures = [r for r in results if isinstance(r, Failure)]
        sent = stub.stats()
        in_order = all(g.text.startswith(f"echo: row {i}:") for i, g in enumerate(results) if isinstance(g, Generation))
        print(f"faults ({args.fault_rate:.0%} of attempts: {', '.join(faults)}): {len(generations)}/{len(results)} answered "
              f"({len(generations) / len(results):.1%}) in {seconds:.2f} s = {len(results) / seconds:.1f} req/s")
        print(f"  retries {usage.retries}; failures by kind {dict(sorted(usage.failures.items()))}; "
              f"server saw {sent['requests']} requests, injected {dict(sorted(sent['faults'].items()))}")
        accounted = len(results) == len(requests) and len(generations) + len(failures) == len(requests)
        accounted = accounted and sum(usage.failures.values()) == len(failures) and in_order
        print(f"  every row accounted for, in order: {accounted}")
        assert accounted, "rows were lost or reordered"


if __name__ == "__main__":
    main()
