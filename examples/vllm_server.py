"""Run the Golden Goose chain against a `vllm serve` server (or any OpenAI-compatible one).

Needs: `pip install -e .` and a RUNNING server with an OpenAI-compatible API, e.g. on a
GPU machine:

    vllm serve Qwen/Qwen2.5-7B-Instruct --port 8000 --enable-prefix-caching
    python examples/vllm_server.py --base-url http://127.0.0.1:8000/v1 \
        --model Qwen/Qwen2.5-7B-Instruct --out /tmp/goose-vllm

No GPU is needed on the machine running this script; vLLM does the work. The engine
(`EngineConfig(backend="openai", ...)`) keeps many requests in flight, retries transient
failures with backoff and caches every answer in `<out>/responses.sqlite`, so running the
same command again after a crash resumes the run without paying twice for any request.
Set OPENAI_API_KEY when the server wants a key (a local `vllm serve` does not). When no
server answers at --base-url, the script says so and exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

import goose
from goose.engines import EngineConfig, RetryPolicy
from goose.presets import golden_goose_pipeline
from goose.runner import run_to_directory


def served_models(base_url: str, timeout: float) -> list[str]:
    """The model names the server lists at ``GET {base_url}/models``; raises SystemExit when none answers."""
    url = base_url.rstrip("/") + "/models"
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as error:
        raise SystemExit(
            f"error: no OpenAI-compatible server answers at {base_url} ({type(error).__name__}: {error}).\n"
            "Start one first, e.g. `vllm serve Qwen/Qwen2.5-7B-Instruct --port 8000`, and pass its /v1 root "
            "with --base-url http://HOST:8000/v1."
        ) from None
    if response.status_code != 200:
        raise SystemExit(
            f"error: {url} answered HTTP {response.status_code}, not a model list; is --base-url the server's "
            "/v1 root (e.g. http://127.0.0.1:8000/v1)?"
        )
    try:
        return [entry["id"] for entry in response.json().get("data", [])]
    except (ValueError, AttributeError, KeyError, TypeError):
        raise SystemExit(f"error: {url} did not answer with an OpenAI model list") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run goose's Golden Goose chain on a vllm serve server.")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="the server's /v1 root")
    parser.add_argument("--model", default=None, help="served model name (default: the only one the server lists)")
    parser.add_argument("--input", default=str(goose.sample_corpus_path()),
                        help="JSONL or Parquet with a 'text' column (default: goose's sample corpus)")
    parser.add_argument("--out", type=Path, default=Path("goose-vllm"), help="output folder")
    parser.add_argument("--probe-rollouts", type=int, default=16, help="difficulty probe rollouts per task (0: no probe)")
    parser.add_argument("--judge", action="store_true", help="also ask the model to remove distractors that fit too")
    parser.add_argument("--max-in-flight", type=int, default=64, help="requests in flight at once")
    parser.add_argument("--connect-timeout", type=float, default=5.0, help="seconds to wait for the model list")
    args = parser.parse_args(argv)

    models = served_models(args.base_url, args.connect_timeout)
    model = args.model or (models[0] if len(models) == 1 else None)
    if model is None:
        raise SystemExit(f"error: the server lists the models {models}; choose one with --model")
    if models and model not in models:
        raise SystemExit(f"error: the server does not serve {model!r}; it lists {models}")

    config = EngineConfig(
        backend="openai",
        base_url=args.base_url,
        model=model,
        cache=str(args.out / "responses.sqlite"),
        retry=RetryPolicy(max_in_flight=args.max_in_flight, timeout=300),
    )
    with config.build() as engine:
        pipeline = golden_goose_pipeline(
            engine,
            judge_distractors=args.judge,
            probe_rollouts=args.probe_rollouts or None,
            batch_size=256,  # a larger batch gives vLLM more requests to schedule at once
        )
        result = run_to_directory(pipeline, args.input, args.out)
    print(result.summary())
    print(f"\nwrote {args.out}/tasks.parquet, rejects.parquet and summary.json "
          f"(look at them with `goose show {args.out}` and `goose show {args.out} --rejects`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
