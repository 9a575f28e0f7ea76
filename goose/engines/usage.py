"""Token and request accounting of an engine, per tag (usually the operator's name).

>>> usage = EngineUsage()
>>> usage.requests += 2; usage.failures["timeout"] += 1
>>> usage.as_dict()["failures"]
{'timeout': 1}
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class EngineUsage:
    """Counters: requests sent, cache hits, tokens, retries, failures by kind, seconds waited."""

    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def merge(self, other: EngineUsage) -> None:
        """Add another usage record's counters to this one."""
        self.requests += other.requests
        self.cache_hits += other.cache_hits
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.retries += other.retries
        self.failures.update(other.failures)
        self.seconds += other.seconds

    def copy(self) -> EngineUsage:
        """An independent snapshot of these counters."""
        snapshot = EngineUsage()
        snapshot.merge(self)
        return snapshot

    def since(self, earlier: EngineUsage) -> EngineUsage:
        """The counters accrued after the snapshot ``earlier`` (e.g. during one operator call).

        >>> before = EngineUsage(requests=2)
        >>> EngineUsage(requests=5, cache_hits=1).since(before).requests
        3
        """
        delta = EngineUsage(
            requests=self.requests - earlier.requests,
            cache_hits=self.cache_hits - earlier.cache_hits,
            prompt_tokens=self.prompt_tokens - earlier.prompt_tokens,
            completion_tokens=self.completion_tokens - earlier.completion_tokens,
            retries=self.retries - earlier.retries,
            seconds=self.seconds - earlier.seconds,
        )
        delta.failures = +(self.failures - earlier.failures)
        return delta

    @property
    def calls(self) -> int:
        """Requests answered either way: sent to the back end or served from the cache."""
        return self.requests + self.cache_hits

    def as_dict(self) -> dict:
        """Plain dict for summaries and JSON reports."""
        return {
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "retries": self.retries,
            "failures": dict(sorted(self.failures.items())),
            "seconds": round(self.seconds, 3),
        }
