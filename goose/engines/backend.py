"""The transport a back end implements; all policy (retries, caching, accounting) lives in
:class:`goose.engines.engine.Engine`.

A back end implements exactly one of:

* :class:`BatchBackend` ``generate_batch(requests)``: one call for the whole batch, so an
  in-process engine (vLLM, llama.cpp) schedules it;
* :class:`RequestBackend` ``async send(request)``: one request, for servers; the engine
  keeps many in flight.

Either reports a failed request by returning (batch) or raising (request) a
:class:`BackendError` with a :data:`~goose.engines.types.FailureKind`. A back end with an
API key lists it in ``secrets`` so the engine removes it from failure messages.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from goose.engines.redact import redact
from goose.engines.types import ChatRequest, Failure, FailureKind, Generation


class BackendError(Exception):
    """A failed request: ``kind`` says whether a retry can help (see ``TRANSIENT_FAILURES``).

    >>> BackendError("rate_limited", "HTTP 429").failure().transient
    True
    """

    def __init__(self, kind: FailureKind, message: str = "") -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    def failure(self, attempts: int = 1, secrets: Sequence[str | None] = ()) -> Failure:
        """As a :class:`Failure` record, its message without ``secrets`` or key-shaped strings.

        >>> BackendError("bad_request", "HTTP 400: bad key sk-abcdefghijkl").failure().message
        'HTTP 400: bad key ***'
        """
        return Failure(kind=self.kind, message=redact(self.message, secrets)[:500], attempts=attempts)


class EngineAuthError(RuntimeError):
    """The server refused the credentials (HTTP 401/403): every further request would fail
    the same way, so the engine stops at the first one instead of dropping every row.

    Its message is one line that says what to do, e.g. ``check the API key (HTTP 401 from
    http://127.0.0.1:8000/v1): invalid api key``; it never contains the key.
    """


class Backend(ABC):
    """What every back end tells about itself."""

    name: str = "backend"
    """Back-end kind, e.g. ``openai-http``; part of the cache key and of task lineage."""

    model: str = ""
    """Model name as the back end knows it; part of the cache key and of task lineage."""

    secrets: tuple[str, ...] = ()
    """Strings never to write down (an API key): removed from failure messages."""

    supports_json_schema: bool = False
    """Whether ``response_schema`` constrains decoding (else it is only asked for in the prompt)."""

    @property
    def cache_identity(self) -> str:
        """What, besides the request, decides this back end's answers: part of the response
        cache key. The model name by default; back ends add settings that change answers."""
        return self.model

    def close(self) -> None:
        """Release connections, processes or GPU memory (default: nothing to release)."""


class BatchBackend(Backend):
    """A back end that takes a whole batch in one call."""

    @abstractmethod
    def generate_batch(self, requests: Sequence[ChatRequest]) -> list[Generation | BackendError]:
        """One result per request, in order; failures as :class:`BackendError` values."""


class RequestBackend(Backend):
    """A back end that answers one request at a time, asynchronously."""

    @abstractmethod
    async def send(self, request: ChatRequest, timeout: float) -> Generation:
        """Answer one request within ``timeout`` seconds or raise :class:`BackendError`."""

    async def aclose(self) -> None:
        """Close async resources (default: nothing)."""
