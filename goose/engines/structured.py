"""Structured (JSON) answers that never crash a run.

:func:`parse_json_answer` turns a model's text into a pydantic object or a precise
:class:`Failure` (``empty_response``, ``malformed_json``, ``schema_mismatch``).
:func:`generate_json` asks an engine for JSON following a pydantic model's schema and
makes one bounded retry for a bad answer: with twice the token budget when the answer
was cut off, else with another seed and some temperature (a greedy retry would repeat
the same text). Both attempts go through the response cache, so a re-run pays for neither.

>>> from pydantic import BaseModel
>>> class Answer(BaseModel):
...     letter: str
>>> parse_json_answer('```json\\n{"letter": "C"}\\n```', Answer).letter
'C'
>>> parse_json_answer('{"letter": ', Answer).kind
'malformed_json'
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from goose.engines.engine import Engine
from goose.engines.types import ChatRequest, Failure, Generation

M = TypeVar("M", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)
RETRY_TEMPERATURE = 0.7
"""Temperature of the retry after a malformed answer (at least this much)."""


def parse_json_answer(text: str, model: type[M]) -> M | Failure:
    """Parse ``text`` (optionally fenced, optionally with prose around one JSON object) as ``model``."""
    stripped = _FENCE.sub("", (text or "").strip()).strip()
    if not stripped:
        return Failure(kind="empty_response", message="the model returned no text")
    try:
        data = json.loads(stripped)
    except RecursionError:  # [[[[...]]]] thousands deep: a degenerate answer, not a crash
        return Failure(kind="malformed_json", message=f"JSON nested too deeply to parse: {stripped[:120]!r}")
    except json.JSONDecodeError:
        start, end = stripped.find("{"), stripped.rfind("}")
        if start < 0 or end <= start:
            return Failure(kind="malformed_json", message=f"no JSON object in {stripped[:120]!r}")
        try:
            data = json.loads(stripped[start : end + 1])
        except json.JSONDecodeError as error:
            return Failure(kind="malformed_json", message=f"{error.msg} at {error.pos}: {stripped[:120]!r}")
        except RecursionError:
            return Failure(kind="malformed_json", message=f"JSON nested too deeply to parse: {stripped[:120]!r}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'root'}: {e['msg']}" for e in error.errors()[:3])
        return Failure(kind="schema_mismatch", message=problems)


def retry_request(request: ChatRequest, generation: Generation | Failure) -> ChatRequest:
    """The one retry after an unusable answer: twice the tokens if it was cut off, else
    another seed and some temperature (a greedy retry would repeat the same text)."""
    sampling = request.sampling
    if isinstance(generation, Generation) and generation.finish_reasons[:1] == ["length"]:
        update = {"max_tokens": sampling.max_tokens * 2}
    else:
        update = {"seed": (sampling.seed or 0) + 1, "temperature": max(sampling.temperature, RETRY_TEMPERATURE)}
    return request.model_copy(update={"sampling": sampling.model_copy(update=update)})


def generate_json(engine: Engine, requests: Sequence[ChatRequest], model: type[M], *, tag: str = "default") -> list[M | Failure]:
    """One ``model`` object or :class:`Failure` per request; the schema is attached to each request.

    Transport failures (after the engine's retries) are returned as they are; parse
    failures get one retry, and the retry's failure is the one reported (and counted in the
    engine's usage under ``tag``, like transport failures).
    """
    schema = model.model_json_schema()
    requests = [r if r.response_schema == schema else r.model_copy(update={"response_schema": schema}) for r in requests]
    generations = engine.generate(requests, tag=tag)
    parsed: list[M | Failure] = [
        g if isinstance(g, Failure) else parse_json_answer(g.text, model) for g in generations
    ]
    retry = [i for i, p in enumerate(parsed) if isinstance(p, Failure) and isinstance(generations[i], Generation)]
    if retry:
        second = engine.generate([retry_request(requests[i], generations[i]) for i in retry], tag=tag)
        for index, generation in zip(retry, second):
            if isinstance(generation, Failure):
                parsed[index] = generation
                continue
            parsed[index] = parse_json_answer(generation.text, model)
            if isinstance(parsed[index], Failure):
                engine.record_failure(parsed[index].kind, tag=tag)
    return parsed
