"""Server back end: any OpenAI-compatible ``/chat/completions`` endpoint over HTTP.

For ``vllm serve``, SGLang, llama.cpp's ``llama-server``, llama-cpp-python's
``python -m llama_cpp.server`` and hosted APIs. The back end only moves bytes: one request
in, one :class:`~goose.engines.types.Generation` or :class:`~goose.engines.backend.BackendError`
out. Retries, backoff, timeouts, the number of requests in flight and the cache belong to
the :class:`~goose.engines.engine.Engine`, so the back end never sleeps and never retries.

How HTTP outcomes map to failure kinds (transient ones are retried by the engine):

========================================  ================
HTTP 401, 403 (wrong or missing API key)  ``auth``: the engine stops
HTTP 429                                  ``rate_limited``
HTTP 5xx                                  ``server_error``
HTTP 408, client timeout                  ``timeout``
refused, reset or cut-off connection      ``connection``
any other non-2xx status                  ``bad_request``
a 2xx body that is not JSON (cut off)     ``garbled_response``
a 2xx JSON body that is no completion     ``bad_response``
========================================  ================

Servers differ in how they take a JSON schema; ``json_mode`` picks the wire format:

* ``json_schema`` (default): ``{"type": "json_schema", "json_schema": {"name", "schema",
  "strict": true}}``, the OpenAI format, which vLLM, SGLang and ``llama-server`` accept;
* ``json_object_schema``: ``{"type": "json_object", "schema": ...}``, the format of
  llama-cpp-python's server (which answers ``json_schema`` with an HTTP 500);
* ``json_object``: any JSON object, the schema is not enforced;
* ``none``: no ``response_format`` at all; the prompt alone asks for JSON.

Servers that ignore ``n`` (llama-cpp-python's, some proxies) return one choice; the
missing samples are then requested one at a time, with seeds ``seed + 1``, ``seed + 2``, ...
Greedy requests (``temperature=0``) with ``n > 1`` are sent with ``n=1`` (vLLM refuses
them otherwise: "n must be 1 when using greedy sampling") and the answer is repeated.

The transport is one :mod:`aiohttp` session with pre-encoded JSON: measured by
``bench/http_clients.py`` at a fraction of the client CPU per request of httpx or of the
``openai`` SDK, which matters at hundreds of requests in flight.

>>> from goose.engines import ChatRequest, Engine, SamplingParams
>>> backend = OpenAIHTTPBackend("http://127.0.0.1:8000/v1", "Qwen/Qwen2.5-7B-Instruct")
>>> backend.name, backend.supports_json_schema
('openai-http', True)
>>> engine = Engine(backend)
>>> engine.generate([ChatRequest.user("Say hi.", SamplingParams(max_tokens=8))])[0].text  # doctest: +SKIP
'Hi! How can I help?'
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

import aiohttp

from goose.engines.backend import BackendError, RequestBackend
from goose.engines.types import ChatRequest, Generation

JsonMode = Literal["json_schema", "json_object_schema", "json_object", "none"]
"""How a request's ``response_schema`` goes on the wire (see the module docstring)."""


class OpenAIHTTPBackend(RequestBackend):
    """An OpenAI-compatible chat-completions server as a :class:`RequestBackend`.

    ``base_url`` ends with the API version, e.g. ``http://127.0.0.1:8000/v1``; ``model`` is
    the served model name. ``api_key`` is sent as a bearer token when given.
    ``max_connections`` bounds the HTTP connection pool; keep it at least the engine's
    ``RetryPolicy.max_in_flight``, or requests queue for a connection inside the client.
    ``extra_body`` is merged into every request body, for server-specific sampling settings
    (e.g. ``{"top_k": 0, "min_p": 0}`` on llama.cpp, whose defaults cut the distribution).
    ``max_completion_tokens=True`` sends ``SamplingParams.max_tokens`` as
    ``max_completion_tokens`` instead of ``max_tokens``, as hosted reasoning models require.
    """

    name = "openai-http"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        json_mode: JsonMode = "json_schema",
        max_connections: int = 256,
        extra_body: Mapping[str, Any] | None = None,
        max_completion_tokens: bool = False,
    ) -> None:
        if json_mode not in ("json_schema", "json_object_schema", "json_object", "none"):
            raise ValueError(f"json_mode must be json_schema, json_object_schema, json_object or none, not {json_mode!r}")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if not isinstance(max_completion_tokens, bool):
            raise ValueError(
                f"max_completion_tokens is true or false (send the token limit under that key), not "
                f"{max_completion_tokens!r}; the limit itself is the operator's max_tokens"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.json_mode: JsonMode = json_mode
        self.supports_json_schema = json_mode in ("json_schema", "json_object_schema")
        self.max_connections = max_connections
        self.extra_body = dict(extra_body or {})
        self.max_completion_tokens = max_completion_tokens
        self.secrets = (api_key,) if api_key else ()
        self._url = f"{self.base_url}/chat/completions"
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._client: aiohttp.ClientSession | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    @property
    def cache_identity(self) -> str:
        """Model, JSON mode and extra body settings (they change answers); not the URL, so the
        same model moved to another host keeps its cache."""
        return json.dumps([self.model, self.json_mode, self.extra_body], sort_keys=True, default=str)

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body sent for ``request``.

        >>> backend = OpenAIHTTPBackend("http://h/v1", "m", json_mode="json_object")
        >>> body = backend.payload(ChatRequest.user("hi", response_schema={"type": "object"}))
        >>> body["model"], body["n"], body["response_format"]
        ('m', 1, {'type': 'json_object'})
        >>> from goose.engines import SamplingParams
        >>> greedy = backend.payload(ChatRequest.user("hi", SamplingParams(n=4, temperature=0)))
        >>> greedy["n"], greedy["max_tokens"]  # one greedy answer, repeated by send()
        (1, 512)
        """
        s = request.sampling
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "n": 1 if s.temperature == 0 else s.n,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_completion_tokens" if self.max_completion_tokens else "max_tokens": s.max_tokens,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if s.stop:
            body["stop"] = list(s.stop)
        if s.top_logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = s.top_logprobs
        schema = request.response_schema
        if schema is not None and self.json_mode != "none":
            if self.json_mode == "json_schema":
                name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "answer"))[:64]  # OpenAI's rule
                body["response_format"] = {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
            elif self.json_mode == "json_object_schema":
                body["response_format"] = {"type": "json_object", "schema": schema}
            else:
                body["response_format"] = {"type": "json_object"}
        body.update(self.extra_body)
        return body

    async def send(self, request: ChatRequest, timeout: float) -> Generation:
        """One chat completion; raises :class:`BackendError` with the failure's kind."""
        body = self.payload(request)
        first = await self._post(body, timeout)
        wanted = request.sampling.n
        if len(first.texts) >= wanted:
            return _first_n(first, wanted)
        return await self._complete_samples(request, body, first, timeout)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            await client.close()
        self._client_loop = None

    def close(self) -> None:
        """Forget the HTTP session (the engine awaits :meth:`aclose` first)."""
        self._client = None
        self._client_loop = None

    # -- transport ------------------------------------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        """The HTTP session of the running loop, made on first use: an aiohttp session must
        stay on the loop that created it (the engine runs one loop thread for its whole life)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=self.max_connections)
            self._client = aiohttp.ClientSession(connector=connector)
            self._client_loop = loop
        return self._client

    async def _post(self, body: dict[str, Any], timeout: float) -> Generation:
        session = self._session()
        try:
            async with session.post(
                self._url, data=_dumps(body).encode(), headers=self._headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                raw = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except asyncio.TimeoutError as error:
            raise BackendError("timeout", f"no answer in {timeout} s") from error
        except aiohttp.ClientPayloadError as error:  # body cut off, or its encoding broken on the way
            raise BackendError("connection", f"{type(error).__name__}: {error}") from error
        except aiohttp.ClientError as error:  # refused, reset, redirect loops, protocol errors
            raise BackendError("connection", f"{type(error).__name__}: {error}") from error
        if status >= 300:
            raise self._status_error(status, raw, retry_after)
        return _parse_completion(status, raw)

    def _status_error(self, status: int, raw: bytes, retry_after: str | None) -> BackendError:
        detail = _error_detail(raw)
        if status in (401, 403):
            return BackendError("auth", f"HTTP {status} from {self.base_url}: {detail}")
        if status == 429:
            hint = f" (retry-after {retry_after})" if retry_after else ""
            return BackendError("rate_limited", f"HTTP 429{hint}: {detail}")
        if status >= 500:
            return BackendError("server_error", f"HTTP {status}: {detail}")
        if status == 408:
            return BackendError("timeout", f"HTTP 408: {detail}")
        return BackendError("bad_request", f"HTTP {status}: {detail}")

    async def _complete_samples(
        self, request: ChatRequest, body: dict[str, Any], first: Generation, timeout: float
    ) -> Generation:
        """Fill up to ``n`` samples when the server returned fewer choices than asked for."""
        s = request.sampling
        if s.temperature == 0:  # greedy samples are identical: repeat rather than pay again
            return _first_n(_repeat(first, s.n), s.n)
        parts = [first]
        got = len(first.texts)
        while got < s.n:  # one call at a time: a request never holds more than one connection
            extra = dict(body, n=1)
            if s.seed is not None:
                extra["seed"] = s.seed + got
            part = await self._post(extra, timeout)
            if not part.texts:
                raise BackendError("bad_response", f"no choice in the answer to sample {got}")
            parts.append(part)
            got += len(part.texts)
        return _first_n(_join(parts), s.n)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _error_detail(raw: bytes) -> str:
    """The server's error message: ``error.message`` of an OpenAI error body, else the text."""
    try:
        error = json.loads(raw).get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
    except (ValueError, AttributeError):
        pass
    return raw[:300].decode("utf-8", "replace")


def _parse_completion(status: int, raw: bytes) -> Generation:
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise BackendError("garbled_response", f"HTTP {status} body is not JSON: {_text(raw)!r}") from error
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices:
        raise BackendError("bad_response", f"no choices in the answer: {_text(raw)!r}")
    try:
        ordered = sorted(choices, key=lambda choice: int(choice.get("index", 0)))
        texts = [(choice.get("message") or {}).get("content") or "" for choice in ordered]
        finish_reasons = [choice.get("finish_reason") or "" for choice in ordered]
        logprobs = [choice.get("logprobs") for choice in ordered]
        usage = body.get("usage") or {}
        return Generation(
            texts=texts,
            finish_reasons=finish_reasons,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            top_logprobs=[top_logprobs(block) for block in logprobs] if any(logprobs) else None,
        )
    except (AttributeError, TypeError, ValueError, KeyError) as error:
        problem = f"not a chat completion ({type(error).__name__}: {error}): {_text(raw)!r}"
        raise BackendError("bad_response", problem) from error


def _text(raw: bytes) -> str:
    return raw[:200].decode("utf-8", "replace")


def top_logprobs(logprobs: Mapping[str, Any] | None) -> list[dict[str, float]]:
    """An OpenAI chat ``logprobs`` block as one ``{token: logprob}`` dict per generated position.

    >>> top_logprobs({"content": [{"token": "B", "logprob": -0.1,
    ...     "top_logprobs": [{"token": "B", "logprob": -0.1}, {"token": "A", "logprob": -2.5}]}]})
    [{'B': -0.1, 'A': -2.5}]
    """
    positions: list[dict[str, float]] = []
    for position in (logprobs or {}).get("content") or []:
        tokens: dict[str, float] = {}
        for item in position.get("top_logprobs") or []:
            token, value = item["token"], float(item["logprob"])
            tokens[token] = max(value, tokens.get(token, value))
        positions.append(tokens)
    return positions


def _first_n(generation: Generation, n: int) -> Generation:
    if len(generation.texts) == n:
        return generation
    top = generation.top_logprobs[:n] if generation.top_logprobs is not None else None
    return generation.model_copy(
        update={"texts": generation.texts[:n], "finish_reasons": generation.finish_reasons[:n], "top_logprobs": top}
    )


def _repeat(generation: Generation, n: int) -> Generation:
    times = -(-n // len(generation.texts))
    top = generation.top_logprobs * times if generation.top_logprobs is not None else None
    return generation.model_copy(
        update={"texts": generation.texts * times, "finish_reasons": generation.finish_reasons * times, "top_logprobs": top}
    )


def _join(parts: list[Generation]) -> Generation:
    """Samples from several calls as one generation; token counts are what was paid for."""
    with_logprobs = all(part.top_logprobs is not None for part in parts)
    return Generation(
        texts=[text for part in parts for text in part.texts],
        finish_reasons=[reason for part in parts for reason in part.finish_reasons],
        prompt_tokens=sum(part.prompt_tokens for part in parts),
        completion_tokens=sum(part.completion_tokens for part in parts),
        top_logprobs=[top for part in parts for top in (part.top_logprobs or [])] if with_logprobs else None,
    )

