"""A content-addressed, on-disk response cache (SQLite).

The key is what determines a response: back end, model, the rendered messages, the
sampling parameters (``n``, temperature, seed, ...) and the response schema. Parsing and
validation happen *after* the cache, so changing a parser or an operator's checks never
pays for the same LLM call twice, and a re-run after a crash sends only the requests whose
answers never arrived (each answer is committed as soon as it arrives).

>>> from goose.engines.types import ChatRequest, Generation
>>> cache = ResponseCache(":memory:")
>>> key = cache.key("openai-http", "m", ChatRequest.user("hi"))
>>> cache.put(key, Generation(texts=["hello"]))
>>> cache.get_many([key])[key].texts
['hello']
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from goose.engines.types import ChatRequest, Generation

CACHE_FORMAT = 1
"""Bumped when the stored value format changes; old entries are then ignored, not misread."""


class ResponseCache:
    """SQLite-backed map from request key to :class:`Generation`; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    @staticmethod
    def key(backend: str, model: str, request: ChatRequest) -> str:
        """The hex key of ``request`` sent to ``model`` on ``backend``."""
        payload = {
            "format": CACHE_FORMAT,
            "backend": backend,
            "model": model,
            "messages": list(request.messages),
            "sampling": request.sampling.model_dump(mode="json"),
            "schema": request.response_schema,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        """The cached generations among ``keys`` (missing keys are absent from the result)."""
        found: dict[str, Generation] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, value in self._db.execute(f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk):
                    found[key] = Generation.model_validate_json(value).model_copy(update={"cached": True})
        return found

    def put(self, key: str, generation: Generation) -> None:
        """Store one generation, committed at once."""
        self.put_many([(key, generation)])

    def put_many(self, items: Iterable[tuple[str, Generation]]) -> None:
        """Store several generations in one transaction."""
        rows = [(key, generation.model_copy(update={"cached": False}).model_dump_json()) for key, generation in items]
        if not rows:
            return
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", rows)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
