"""One check that every back end must pass, run by each back end's test module.

It drives the engine the way goose operators do (a batch of chat requests, several
samples per prompt, JSON-schema answers, letter scoring), so "the same operator code runs
unchanged on each back end" is tested, not assumed.
"""

from __future__ import annotations

import json
import math

from pydantic import BaseModel

from goose.engines import ChatRequest, Engine, Failure, Generation, SamplingParams, generate_json
from goose.engines.scoring import score_letters


class Verdict(BaseModel):
    letter: str
    reason: str


QUESTION = (
    "Which option is a prime number?\nA. 4\nB. 7\nC. 9\n"
    "Reply with JSON: {\"letter\": <one of A, B, C>, \"reason\": <a short sentence>}."
)


def assert_verdict_json(result: Generation | Failure) -> None:
    """A schema-constrained answer parses as a Verdict, or (cut off by max_tokens) is a JSON prefix."""
    assert isinstance(result, Generation), result
    if result.finish_reasons[:1] == ["stop"]:
        Verdict.model_validate(json.loads(result.text))
    else:
        assert result.text.lstrip().startswith("{"), result.text


def check_engine(engine: Engine, *, expect_logprobs: bool = True) -> None:
    """Assert the behaviour every back end must show; raises AssertionError otherwise."""
    batch = [ChatRequest.user(f"Say the word {word}.", SamplingParams(max_tokens=8)) for word in ("apple", "pear", "plum")]
    results = engine.generate(batch, tag="conformance")
    assert len(results) == 3 and all(isinstance(r, Generation) for r in results), results
    assert all(r.texts and isinstance(r.texts[0], str) for r in results)
    assert all(r.prompt_tokens > 0 and r.completion_tokens > 0 for r in results)

    sampled = engine.generate([ChatRequest.user("Name a colour.", SamplingParams(n=4, temperature=1.0, max_tokens=6, seed=1))], tag="conformance")
    assert isinstance(sampled[0], Generation) and len(sampled[0].texts) == 4

    verdicts = generate_json(engine, [ChatRequest.user(QUESTION, SamplingParams(max_tokens=96))], Verdict, tag="conformance")
    verdict = verdicts[0]
    if engine.backend.supports_json_schema:
        assert isinstance(verdict, Verdict), verdict
    else:
        assert isinstance(verdict, (Verdict, Failure))

    scores = score_letters(engine, [ChatRequest.user(QUESTION + "\nAnswer with the letter only.")], "ABC", tag="conformance")
    assert isinstance(scores[0], dict) and set(scores[0]) == set("ABC")
    if expect_logprobs:
        assert any(math.isfinite(v) for v in scores[0].values()), scores[0]

    again = engine.generate(batch, tag="conformance-again")
    if engine.cache is not None:
        assert all(isinstance(r, Generation) and r.cached for r in again)
        assert engine.usage("conformance-again").requests == 0
    usage = engine.usage("conformance")
    assert usage.requests >= 6 and usage.prompt_tokens > 0
