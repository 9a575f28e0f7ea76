"""The engine: one policy layer (caching, concurrency, retries, timeouts, accounting) over
any back end. Operators talk only to an :class:`Engine`; they never import a back end.

>>> from goose.engines.testing import ScriptedBackend
>>> engine = Engine(ScriptedBackend(["4"]))
>>> [g.text for g in engine.generate([ChatRequest.user("2 + 2?")], tag="demo")]
['4']
>>> engine.usage("demo").requests
1
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from goose.engines.backend import Backend, BackendError, BatchBackend, EngineAuthError, RequestBackend
from goose.engines.cache import ResponseCache
from goose.engines.redact import redact
from goose.engines.types import TRANSIENT_FAILURES, ChatRequest, Failure, Generation
from goose.engines.usage import EngineUsage

T = TypeVar("T")

logger = logging.getLogger(__name__)


class RetryPolicy(BaseModel):
    """How hard to try: attempts, backoff with jitter, per-request timeout, requests in flight.

    >>> RetryPolicy(max_attempts=2).max_in_flight
    32
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(4, ge=1, description="Tries per request, the first included.")
    initial_backoff: float = Field(0.5, ge=0, description="Seconds; backoff grows exponentially with full jitter.")
    max_backoff: float = Field(20.0, ge=0, description="Longest wait between two tries, seconds.")
    timeout: float = Field(
        120.0, gt=0,
        description="Seconds one call to the back end may take before it counts as a timeout (a server that "
        "ignores n gets n calls for one request, so n times this for the request).",
    )
    max_in_flight: int = Field(32, ge=1, description="Requests in flight at once (server back ends).")


class Engine:
    """Runs batches of :class:`ChatRequest` on a back end with caching, retries and accounting.

    ``cache`` is a :class:`ResponseCache` or a path for one (``None``: no cache).
    ``generate`` returns one :class:`Generation` or :class:`Failure` per request, in order;
    it never raises for a failed request, except when the server refuses the credentials
    (HTTP 401/403): then it raises :class:`EngineAuthError` at once, because every other
    request would fail the same way. Failures are never cached, so a fixed key resends.
    Failure messages never hold the back end's ``secrets`` nor key-shaped strings.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        cache: ResponseCache | str | Path | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not isinstance(backend, (BatchBackend, RequestBackend)):
            raise TypeError(f"{type(backend).__name__} must subclass BatchBackend or RequestBackend")
        self.backend = backend
        self.cache = ResponseCache(cache) if isinstance(cache, (str, Path)) else cache
        self.retry = retry or RetryPolicy()
        self._usage: dict[str, EngineUsage] = defaultdict(EngineUsage)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._jitter = random.Random()  # backoff jitter only: answers never depend on it

    @property
    def name(self) -> str:
        """Back-end kind, recorded in task lineage."""
        return self.backend.name

    @property
    def model(self) -> str:
        """Model name, recorded in task lineage."""
        return self.backend.model

    def usage(self, tag: str | None = None) -> EngineUsage:
        """Counters for one tag, or all tags added up when ``tag`` is None."""
        if tag is not None:
            return self._usage[tag]
        total = EngineUsage()
        for usage in self._usage.values():
            total.merge(usage)
        return total

    def usage_by_tag(self) -> dict[str, EngineUsage]:
        """Counters per tag (usually per operator)."""
        return dict(self._usage)

    def record_failure(self, kind: str, *, tag: str = "default") -> None:
        """Count an answer the caller could not use (JSON that does not parse, a wrong
        schema) as a failure of ``kind``, so run summaries show it beside transport failures.

        >>> from goose.engines.testing import ScriptedBackend
        >>> engine = Engine(ScriptedBackend(["x"]))
        >>> engine.record_failure("malformed_json", tag="demo")
        >>> dict(engine.usage("demo").failures)
        {'malformed_json': 1}
        """
        self._usage[tag].failures[kind] += 1

    def generate(self, requests: Sequence[ChatRequest], *, tag: str = "default") -> list[Generation | Failure]:
        """Answer every request: from the cache where possible, else from the back end.

        Identical seeded requests in one call are sent once and share the answer (they
        would get the same answer anyway); such copies count as cache hits.
        """
        usage = self._usage[tag]
        started = time.perf_counter()
        keys = [ResponseCache.key(self.backend.name, self.backend.cache_identity, r) for r in requests]
        results: list[Generation | Failure | None] = [None] * len(requests)
        if self.cache is not None:
            for index, generation in _lookup(self.cache, keys).items():
                results[index] = generation
                usage.cache_hits += 1
        first_of: dict[str, int] = {}
        copies: list[tuple[int, int]] = []
        pending: list[int] = []
        for index, result in enumerate(results):
            if result is not None:
                continue
            if requests[index].sampling.seed is not None and keys[index] in first_of:
                copies.append((index, first_of[keys[index]]))
                continue
            first_of.setdefault(keys[index], index)
            pending.append(index)
        if pending:
            answered = self._send([requests[i] for i in pending], [keys[i] for i in pending], usage)
            for index, result in zip(pending, answered):
                results[index] = result
        for index, original in copies:
            result = results[original]
            results[index] = result.model_copy(update={"cached": True}) if isinstance(result, Generation) else result
            usage.cache_hits += isinstance(result, Generation)
        for result in results:
            if isinstance(result, Failure):
                usage.failures[result.kind] += 1
            elif result is not None and not result.cached:
                usage.prompt_tokens += result.prompt_tokens
                usage.completion_tokens += result.completion_tokens
        usage.seconds += time.perf_counter() - started
        return [result for result in results if result is not None]

    def close(self) -> None:
        """Close the back end, the event loop and the cache."""
        if isinstance(self.backend, RequestBackend) and self._loop is not None:
            self._run(self.backend.aclose())
        self.backend.close()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(timeout=5)
            self._loop = None
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- dispatch ---------------------------------------------------------------------------

    def _send(self, requests: list[ChatRequest], keys: list[str], usage: EngineUsage) -> list[Generation | Failure]:
        usage.requests += len(requests)
        if isinstance(self.backend, BatchBackend):
            return self._send_batches(requests, keys, usage)
        return self._run(self._send_concurrently(requests, keys, usage))

    def _send_batches(self, requests: list[ChatRequest], keys: list[str], usage: EngineUsage) -> list[Generation | Failure]:
        assert isinstance(self.backend, BatchBackend)
        results: list[Generation | Failure | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        for attempt in range(1, self.retry.max_attempts + 1):
            if attempt > 1:
                usage.retries += len(pending)
                logger.info("%s: %d request(s) retried (attempt %d)", self.name, len(pending), attempt)
                time.sleep(min(self.retry.max_backoff, self.retry.initial_backoff * 2 ** (attempt - 2)))
            try:
                answers = self.backend.generate_batch([requests[i] for i in pending])
            except BackendError as error:
                answers = [error] * len(pending)
            except Exception as error:  # noqa: BLE001 - a back-end bug fails these requests, never the run
                answers = [BackendError("bad_response", f"{type(error).__name__}: {error}"[:500])] * len(pending)
            if len(answers) != len(pending):
                raise RuntimeError(f"{type(self.backend).__name__} returned {len(answers)} results for {len(pending)} requests")
            retry_next: list[int] = []
            stored: list[tuple[str, Generation]] = []
            for index, answer in zip(pending, answers):
                if isinstance(answer, Generation):
                    results[index] = answer
                    stored.append((keys[index], answer))
                elif answer.kind in TRANSIENT_FAILURES and attempt < self.retry.max_attempts:
                    retry_next.append(index)
                else:
                    results[index] = answer.failure(attempts=attempt, secrets=self.backend.secrets)
                    logger.warning("%s request failed after %d attempt(s): %s", self.name,
                                   attempt, results[index].message)
            if self.cache is not None:
                self.cache.put_many(stored)  # paid for, even when a refusal stops the run below
            refused = next((a for a in answers if isinstance(a, BackendError) and a.kind == "auth"), None)
            if refused is not None:
                raise self._auth_error(refused)
            pending = retry_next
            if not pending:
                break
        return [r for r in results if r is not None]

    async def _send_concurrently(self, requests: list[ChatRequest], keys: list[str], usage: EngineUsage) -> list[Generation | Failure]:
        assert isinstance(self.backend, RequestBackend)
        backend = self.backend
        slots = asyncio.Semaphore(self.retry.max_in_flight)
        policy = self.retry
        refusals: list[EngineAuthError] = []  # the first refused credentials stop every request

        async def attempt(request: ChatRequest, limit: float) -> Generation:
            async with slots:
                if refusals:
                    raise refusals[0]
                try:
                    return await _within(limit, backend.send(request, policy.timeout))
                except asyncio.TimeoutError as error:
                    raise BackendError("timeout", f"no answer in {limit} s") from error

        async def one(index: int) -> Generation | Failure:
            # ``timeout`` bounds each call to the server; a server that ignores ``n`` is asked
            # up to ``n`` times for one request, so the whole request may take ``n`` times that.
            limit = policy.timeout * requests[index].sampling.n
            attempts = 0
            try:
                while True:
                    attempts += 1
                    try:
                        generation = await attempt(requests[index], limit)
                        break
                    except BackendError as error:
                        if error.kind not in TRANSIENT_FAILURES or attempts >= policy.max_attempts:
                            raise
                        failed_as = error.kind
                    usage.retries += 1
                    logger.info("%s request retried (attempt %d failed: %s)", self.name, attempts, failed_as)
                    # exponential backoff with full jitter: retries of many requests spread out
                    ceiling = min(policy.max_backoff, policy.initial_backoff * 2 ** (attempts - 1))
                    await asyncio.sleep(self._jitter.uniform(0, ceiling))
            except BackendError as error:
                if error.kind == "auth":
                    refusals.append(self._auth_error(error))
                    raise refusals[0] from None
                failure = error.failure(attempts=attempts, secrets=backend.secrets)
                logger.warning("%s request failed after %d attempt(s): %s", self.name, attempts, failure.message)
                return failure
            except EngineAuthError:
                raise
            except Exception as error:  # noqa: BLE001 - a back-end bug fails its request, never the batch
                message = redact(f"{type(error).__name__}: {error}", backend.secrets)[:500]
                return Failure(kind="bad_response", message=message, attempts=attempts)
            if self.cache is not None:
                self.cache.put(keys[index], generation)
            return generation

        tasks = [asyncio.ensure_future(one(i)) for i in range(len(requests))]
        try:
            return list(await asyncio.gather(*tasks))
        except EngineAuthError:
            for task in tasks:  # every other request would be refused too: send no more
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def _auth_error(self, error: BackendError) -> EngineAuthError:
        detail = " ".join(redact(error.message, self.backend.secrets).split())[:300]
        return EngineAuthError(f"check the API key ({detail})")

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on the engine's own event loop thread, so clients stay bound to one loop and
        this works from notebooks that already run a loop."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._loop_thread = threading.Thread(target=self._loop.run_forever, name="goose-engine", daemon=True)
            self._loop_thread.start()
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()


async def _within(seconds: float, work: Coroutine[Any, Any, T]) -> T:
    """``work`` or ``asyncio.TimeoutError`` after ``seconds``; ``asyncio.timeout`` where it
    exists (Python 3.11+), since ``wait_for`` there costs a task per call."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await work
    return await asyncio.wait_for(work, seconds)


def _lookup(cache: ResponseCache, keys: list[str]) -> dict[int, Generation]:
    found = cache.get_many(keys)
    return {index: found[key] for index, key in enumerate(keys) if key in found}
