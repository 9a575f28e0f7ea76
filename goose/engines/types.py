"""What operators send to an engine and what comes back.

>>> request = ChatRequest.user("What is 2 + 2?", SamplingParams(max_tokens=8))
>>> request.messages[0]["role"], request.sampling.n
('user', 1)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FailureKind = Literal[
    "timeout",
    "rate_limited",
    "server_error",
    "connection",
    "bad_request",
    "auth",
    "bad_response",
    "garbled_response",
    "malformed_json",
    "schema_mismatch",
    "empty_response",
    "unsupported",
]
"""Why a request produced no usable answer; used in drop reasons and usage counters.
``auth`` (HTTP 401/403: a missing or wrong API key) never reaches a row: the engine raises
:class:`~goose.engines.backend.EngineAuthError` at the first one."""

TRANSIENT_FAILURES: frozenset[str] = frozenset(
    {"timeout", "rate_limited", "server_error", "connection", "garbled_response"}
)
"""Failures worth retrying with backoff: the same request may well succeed later.
``garbled_response`` (a success status whose body is not JSON, e.g. cut off by a proxy) is
one of them; ``bad_response`` (well-formed JSON that is not a chat completion) is not: the
same server would answer the same way again."""


class SamplingParams(BaseModel):
    """Sampling settings of one request; part of the response cache key.

    >>> SamplingParams(n=16, temperature=1.0).n
    16
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(1, ge=1, le=128, description="Samples per prompt (e.g. 16 probe rollouts).")
    temperature: float = Field(0.0, ge=0, le=2, description="0 is greedy.")
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(512, ge=1, description="Most tokens per sample.")
    seed: int | None = Field(0, description="Sampling seed, where the back end honours one.")
    stop: tuple[str, ...] = Field((), description="Stop strings.")
    top_logprobs: int | None = Field(
        None, ge=1, le=20, description="Return this many most likely tokens at each generated position."
    )


class ChatRequest(BaseModel):
    """One chat prompt with its sampling settings and, optionally, a JSON schema the answer must follow.

    >>> ChatRequest.user("hi").messages
    ({'role': 'user', 'content': 'hi'},)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: tuple[dict[str, str], ...] = Field(min_length=1, description="Chat messages: role and content.")
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    response_schema: dict[str, Any] | None = Field(None, description="JSON schema for constrained output.")

    @classmethod
    def user(cls, content: str, sampling: SamplingParams | None = None, *, system: str | None = None,
             response_schema: dict[str, Any] | None = None) -> ChatRequest:
        """A request with one user message (and an optional system message)."""
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
        return cls(messages=tuple(messages), sampling=sampling or SamplingParams(), response_schema=response_schema)


class Generation(BaseModel):
    """The answer to one request: ``n`` sampled texts plus token counts.

    ``top_logprobs`` (when asked for) holds, per sample, per generated position, the most
    likely tokens with their log-probabilities.

    >>> Generation(texts=["4"], prompt_tokens=9, completion_tokens=1).text
    '4'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    texts: list[str]
    finish_reasons: list[str] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    top_logprobs: list[list[dict[str, float]]] | None = None
    cached: bool = Field(False, description="Served from the response cache (no request was sent).")

    @property
    def text(self) -> str:
        """The first sample's text."""
        return self.texts[0] if self.texts else ""


class Failure(BaseModel):
    """A request that produced no usable answer, after the retries the policy allows.

    >>> Failure(kind="timeout", message="no answer in 30 s").reason
    'engine_timeout'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FailureKind
    message: str = ""
    attempts: int = 1

    @property
    def reason(self) -> str:
        """Drop-reason code for rejects tables, e.g. ``engine_timeout``."""
        return f"engine_{self.kind}"

    @property
    def transient(self) -> bool:
        """Whether retrying the same request may succeed."""
        return self.kind in TRANSIENT_FAILURES
