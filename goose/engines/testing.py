"""A scripted back end for tests and examples: answers come from a list or a function,
never from a model. Use it to test operators' handling of good and broken responses.

>>> backend = ScriptedBackend(["first", BackendError("server_error", "boom")])
>>> [type(r).__name__ for r in backend.generate_batch([ChatRequest.user("a"), ChatRequest.user("b")])]
['Generation', 'BackendError']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Union

from goose.engines.backend import BackendError, BatchBackend
from goose.engines.types import ChatRequest, Generation

Script = Union[str, BackendError, Callable[[ChatRequest], Union[str, BackendError]]]


class ScriptedBackend(BatchBackend):
    """Answers request ``i`` (counting across calls) with ``script[i % len(script)]``; a
    callable script item is called with the request. ``received`` lists every request sent."""

    name = "scripted"

    def __init__(self, script: Sequence[Script] | Callable[[ChatRequest], str | BackendError], model: str = "scripted") -> None:
        self.script = script
        self.model = model
        self.received: list[ChatRequest] = []

    def generate_batch(self, requests: Sequence[ChatRequest]) -> list[Generation | BackendError]:
        answers: list[Generation | BackendError] = []
        for request in requests:
            item = self.script(request) if callable(self.script) else self.script[len(self.received) % len(self.script)]
            self.received.append(request)
            if callable(item) and not isinstance(item, BackendError):
                item = item(request)
            if isinstance(item, BackendError):
                answers.append(item)
                continue
            texts = [item] * request.sampling.n
            answers.append(
                Generation(
                    texts=texts,
                    finish_reasons=["stop"] * request.sampling.n,
                    prompt_tokens=sum(len(m["content"].split()) for m in request.messages),
                    completion_tokens=len(item.split()) * request.sampling.n,
                )
            )
        return answers
