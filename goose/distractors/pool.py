"""A run-wide pool of passages to borrow wrong options from, with a nearest-passage index.

Wrong options taken from *unrelated* documents are off topic, and a cheap solver finds the
gold as "the option about the same thing as the passage". Borrowed options must come from
passages *about the same thing*: this pool keeps the last ``capacity`` passages of the run
(a ring, so memory stays flat however long the run) with their reasoning units, and finds
the nearest ones to a query by TF-IDF cosine over hashed terms (document frequencies are
run-wide too).

Only the parts a wrong option may come from enter the pool (see :func:`borrowable_units`):
the solution of a question + solution row, never its question; code lines of code rows,
never docstrings or ``def``/``class`` lines; no headings, link lists or citations.

>>> pool = PassagePool(capacity=3)
>>> pool.add(PoolPassage.build("a", "a", "cyber", "An attacker sends a forged token. The server accepts it."))
>>> pool.add(PoolPassage.build("b", "b", "cyber", "Bake the cake for an hour. Let it cool on a rack."))
>>> pool.add(PoolPassage.build("c", "c", "cyber", "The token is forged by the attacker. Its signature is not checked."))
>>> [pool.passages[i].source_id for i in pool.nearest("a forged token from an attacker", k=2, exclude="a")]
['c', 'b']
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import xxhash

from goose.text.segment import Segmenter, Unit

HASH_BITS = 18
"""Terms are hashed into ``2**HASH_BITS`` buckets (collisions are rare at passage scale)."""

_TERM = re.compile(r"[^\W\d_]{2,}|\d+", re.UNICODE)
STOP_WORDS = frozenset(
    "a an and are as at be been but by can could did do does for from had has have he her his how i if in into "
    "is it its may might more most no not of on or our she should so some such than that the their them then "
    "there these they this those to too under up upon us was we were what when where which while who why will "
    "with would you your also each other any all both only over out one two".split()
)
"""Words too common to say what a passage is about."""

_DEF_LINE = re.compile(r"^\s*(?:async\s+def|def|class|@\w)")
_DOCSTRING_LINE = re.compile(r"""^\s*(?:[rRbBuU]?(?:\"\"\"|'''|"|'))""")


def terms(text: str) -> list[int]:
    """Hashed content terms of ``text`` (lower-cased words of 2+ letters and numbers, no stop words).

    >>> len(terms("The attacker and the server")), terms("x") == []
    (2, True)
    """
    mask = (1 << HASH_BITS) - 1
    return [
        xxhash.xxh3_64_intdigest(word.encode()) & mask
        for word in _TERM.findall(text.lower())
        if word not in STOP_WORDS
    ]


@dataclass(frozen=True)
class PoolPassage:
    """One passage of the pool: where it came from, its text, the units a wrong option may
    be made of (``units``, offsets into ``text``) and the hashed term counts of the whole
    text (what the passage is about)."""

    source_id: str
    document_id: str
    domain: str
    text: str
    units: tuple[Unit, ...]
    term_ids: np.ndarray
    term_counts: np.ndarray

    @classmethod
    def build(
        cls,
        source_id: str,
        document_id: str,
        domain: str,
        text: str,
        *,
        units: Sequence[Unit] | None = None,
        solution_start: int | None = None,
        segmenter: Segmenter | None = None,
        skip_first: bool = True,
    ) -> PoolPassage:
        """A pool passage of ``text``; ``units`` default to the segmenter's, filtered by
        :func:`borrowable_units`. With ``skip_first`` the passage's first unit is never
        borrowed (it is the title or question of most passages, as it is never the gold).

        >>> PoolPassage.build("d", "d", "math", "Question: 2+2? Solution: Add them. So it is 4.", solution_start=15).units[0].kind
        'sentence'
        """
        if units is None:
            units = (segmenter or Segmenter()).units(text)
        kept = tuple(borrowable_units(text, list(units)[1:] if skip_first else units, solution_start))
        ids, counts = np.unique(np.asarray(terms(text), dtype=np.int64), return_counts=True)  # the topic: all of it
        return cls(source_id, document_id, domain, text, kept, ids, counts.astype(np.float64))

    def windows(self, size: int, kind: str, min_chars: int, max_chars: int) -> list[str]:
        """Texts of every run of ``size`` consecutive units of ``kind`` with a length in
        ``[min_chars, max_chars]``; runs never bridge a unit that was left out of the pool.

        >>> PoolPassage.build("d", "d", "x", "One. Two is here. Three too.", skip_first=False).windows(2, "sentence", 1, 100)
        ['One. Two is here.', 'Two is here. Three too.']
        """
        found = []
        units = self.units
        for first in range(len(units) - size + 1):
            run = units[first : first + size]
            if any(u.kind != kind for u in run):
                continue
            if any(self.text[a.end : b.start].strip() for a, b in zip(run, run[1:])):
                continue
            start, end = run[0].start, run[-1].end
            if min_chars <= end - start <= max_chars:
                found.append(self.text[start:end])
        return found

    def to_json(self) -> dict:
        """A JSON-ready record (for checkpoints); :meth:`from_json` rebuilds it."""
        return {
            "source_id": self.source_id, "document_id": self.document_id, "domain": self.domain, "text": self.text,
            "units": [[u.start, u.end, u.kind, u.score] for u in self.units],
        }

    @classmethod
    def from_json(cls, record: dict) -> PoolPassage:
        """Inverse of :meth:`to_json`."""
        units = [Unit(int(s), int(e), k, float(score)) for s, e, k, score in record["units"]]
        return cls.build(record["source_id"], record["document_id"], record["domain"], record["text"], units=units,
                         skip_first=False)


def borrowable_units(text: str, units: Iterable[Unit], solution_start: int | None = None) -> list[Unit]:
    """The units of a passage that a wrong option may be made of: only the solution part of
    a question + solution row (units from ``solution_start`` on), no unit the segmenter
    marked as junk (:attr:`goose.text.segment.Unit.junk`: headings, link lists, citations,
    code fences, docstrings, ``def`` lines..., and every sentence that
    :func:`goose.text.hygiene.junk_reason` rejects: the segmenter asks it of each one), and no
    code line that opens a function or class or belongs to a docstring.

    >>> text = "def f(n):\\n    '''Return n.'''\\n    if n == 0:\\n        return 1"
    >>> [text[u.start:u.end] for u in borrowable_units(text, Segmenter().units(text))]
    ['if n == 0:', 'return 1']
    """
    kept = []
    in_docstring = False
    for unit in units:
        if solution_start is not None and unit.start < solution_start or unit.junk is not None:
            continue
        body = text[unit.start : unit.end]
        if unit.kind == "line":
            quotes = body.count('"""') + body.count("'''")
            if in_docstring or quotes:
                in_docstring = in_docstring != (quotes % 2 == 1)
                continue
            if _DEF_LINE.match(body) or _DOCSTRING_LINE.match(body):
                continue
        kept.append(unit)
    return kept


def _unit_bytes(unit: Unit) -> int:
    """Bytes of one unit object and its fields (the kind and junk strings are shared constants)."""
    return sys.getsizeof(unit) + sys.getsizeof(unit.start) + sys.getsizeof(unit.end) + sys.getsizeof(unit.score)


class PassagePool:
    """The last ``capacity`` passages added, with run-wide term document frequencies and a
    nearest-passage search (TF-IDF cosine over hashed terms, one NumPy pass per query).

    Memory is bounded by ``capacity`` passages (their text, units and term counts) plus one
    ``2**HASH_BITS`` integer array of document frequencies (1 MiB).
    """

    def __init__(self, capacity: int = 2000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.passages: list[PoolPassage] = []
        self._next = 0  # ring position of the next add once full
        self._document_frequency = np.zeros(1 << HASH_BITS, dtype=np.int32)
        self._index: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.passages)

    @property
    def nbytes(self) -> int:
        """Bytes the pool holds, as Python and NumPy report them: each passage's text, units
        and term arrays, the document frequencies and the search index when built.

        >>> pool = PassagePool(capacity=2)
        >>> empty = pool.nbytes
        >>> pool.add(PoolPassage.build("a", "a", "x", "One thing here. Another thing there."))
        >>> 0 < pool.nbytes - empty < 10_000
        True
        """
        total = self._document_frequency.nbytes + sum(array.nbytes for array in self._index or ())
        for passage in self.passages:
            total += sys.getsizeof(passage.text) + passage.term_ids.nbytes + passage.term_counts.nbytes
            total += sys.getsizeof(passage.units) + sum(_unit_bytes(unit) for unit in passage.units)
        return total

    def add(self, passage: PoolPassage) -> None:
        """Add ``passage``, evicting the oldest one when the pool is full."""
        if len(self.passages) < self.capacity:
            self.passages.append(passage)
        else:
            old = self.passages[self._next]
            np.subtract.at(self._document_frequency, old.term_ids, 1)
            self.passages[self._next] = passage
            self._next = (self._next + 1) % self.capacity
        np.add.at(self._document_frequency, passage.term_ids, 1)
        self._index = None

    def idf(self, term_ids: np.ndarray) -> np.ndarray:
        """Smoothed inverse document frequency of hashed terms over the pool."""
        return np.log((1 + len(self.passages)) / (1 + self._document_frequency[term_ids])) + 1.0

    def _built_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Flat arrays of every (passage, term, tf-idf weight) entry and each passage's norm."""
        if self._index is None:
            owners = np.concatenate(
                [np.full(len(p.term_ids), i, dtype=np.int64) for i, p in enumerate(self.passages)] or [np.zeros(0, np.int64)]
            )
            ids = np.concatenate([p.term_ids for p in self.passages] or [np.zeros(0, np.int64)])
            counts = np.concatenate([p.term_counts for p in self.passages] or [np.zeros(0)])
            weights = (1 + np.log(np.maximum(counts, 1))) * self.idf(ids) if len(ids) else counts
            norms = np.sqrt(np.bincount(owners, weights=weights**2, minlength=len(self.passages)))
            self._index = (owners, ids, weights, norms)
        return self._index

    def similarities(self, query: str) -> np.ndarray:
        """TF-IDF cosine of ``query`` to every pool passage, in pool order."""
        owners, ids, weights, norms = self._built_index()
        query_ids, query_counts = np.unique(np.asarray(terms(query), dtype=np.int64), return_counts=True)
        if not len(query_ids) or not len(ids):
            return np.zeros(len(self.passages))
        query_weights = (1 + np.log(query_counts)) * self.idf(query_ids)
        lookup = np.zeros(1 << HASH_BITS)
        lookup[query_ids] = query_weights
        dots = np.bincount(owners, weights=weights * lookup[ids], minlength=len(self.passages))
        denominator = norms * np.sqrt((query_weights**2).sum())
        return np.divide(dots, denominator, out=np.zeros(len(self.passages)), where=denominator > 0)

    def nearest(self, query: str, k: int, *, exclude: str | None = None, domain: str | None = None) -> list[int]:
        """Pool positions of the ``k`` passages most similar to ``query``, best first; never the
        passage whose source id is ``exclude``. With ``domain``, passages of that domain come
        first; when there are fewer than ``k`` of them, the ``k`` best of any domain that are not
        among them follow."""
        scores = self.similarities(query)
        other = np.array([p.source_id != exclude for p in self.passages], dtype=bool)
        if domain is None:
            return self._best(scores, other, k)
        found = self._best(scores, other & np.array([p.domain == domain for p in self.passages], dtype=bool), k)
        if len(found) < k:
            found += [i for i in self._best(scores, other, k) if i not in found]
        return found

    @staticmethod
    def _best(scores: np.ndarray, allowed: np.ndarray, k: int) -> list[int]:
        order = np.argsort(-np.where(allowed, scores, -np.inf), kind="stable")
        return [int(i) for i in order[: min(k, int(allowed.sum()))]]

    def checkpoint_bytes(self, passages: Sequence[PoolPassage]) -> bytes:
        """``passages`` (those a batch added) as JSON lines, for a resumable run's checkpoint."""
        return "\n".join(json.dumps(p.to_json(), ensure_ascii=False) for p in passages).encode()

    def state_bytes(self) -> bytes:
        """The whole pool as :meth:`checkpoint_bytes` of its passages in ring order, after a
        line with the ring position when it is not at the start: :meth:`replay` into an empty
        pool of the same capacity makes this pool again.

        >>> pool = PassagePool(capacity=2)
        >>> for name in "abc":
        ...     pool.add(PoolPassage.build(name, name, "x", f"Passage {name} here. It says {name}."))
        >>> again = PassagePool(capacity=2)
        >>> again.replay(pool.state_bytes())
        >>> [p.source_id for p in again.passages], again._next == pool._next
        (['c', 'b'], True)
        """
        ring = [json.dumps({"ring_next": self._next})] if self._next else []
        return "\n".join([*ring, self.checkpoint_bytes(self.passages).decode()]).encode()

    def replay(self, data: bytes) -> None:
        """Add the passages of one checkpoint made by :meth:`checkpoint_bytes` (or
        :meth:`state_bytes`, into an empty pool), in order."""
        ring_next = None
        for line in data.decode().splitlines():
            if line.strip():
                record = json.loads(line)
                if "ring_next" in record:
                    ring_next = int(record["ring_next"])
                else:
                    self.add(PoolPassage.from_json(record))
        if ring_next is not None:
            self._next = ring_next
