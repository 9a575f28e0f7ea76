"""Columnar text features of a batch of tasks, shared by the shortcut solvers.

A batch is ``masked_texts`` (each holding the literal ``[MASK]``) and, per text, its
options. :class:`BatchFeatures` tokenises each text once and keeps bags of words as
sparse ``(document, term, count)`` triplets in NumPy arrays, so TF-IDF, BM25 and word
overlap over tens of thousands of tasks are a few sorted-array operations, not Python
loops over words. Tokens are found and hashed to integer ids by NumPy over the batch's
characters, :data:`CHUNK_CHARS` at a time (:func:`hashed_tokens`): no vocabulary dict, no
Python code per word, and memory that does not grow with the batch.
Features are computed on first use and cached on the instance, so the solvers of one
audit share one tokenisation.

Tokens are lower-cased ``\\w+`` runs minus a short list of English stop-words; the
passage a solver compares options with is the masked text with ``[MASK]`` removed.

>>> features = BatchFeatures(["Water boils at 100 C. [MASK] So it boils."], [["It is hot.", "Boils at 100."]])
>>> features.contexts
['Water boils at 100 C.   So it boils.']
>>> features.option_bag.n_docs, int(features.option_item.max())
(2, 0)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache, partial

import numpy as np

from goose.question import MASK_TOKEN

TOKEN = re.compile(r"\w+")
"""A token: a run of word characters (letters, digits, underscore), matched on lower-cased text."""

NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
"""A number as written in text: digits, thousands commas allowed, optional decimals."""

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves""".split()
)
"""English function words left out of bags of words: they match everywhere and say nothing about topic."""

WINDOW_CHARS = 600
"""Characters of context around ``[MASK]`` that window solvers compare options with (half before, half after)."""

AFTER_MASK_CHARS = 200
"""Characters right after ``[MASK]`` in which the ``numbers_after_mask`` solver looks for the option's numbers."""

TERM_BITS = 40
"""Bits of a hashed term id (a word, or a character 3-gram). Two words of one batch share an
id with a chance of about (distinct words)^2 / 2^41: harmless for a similarity score."""
GRAM_BITS = 24
"""Bits of a hashed character 3-gram id."""
CHUNK_CHARS = 1 << 19
"""Characters tokenised together (whole texts; a longer text is one chunk alone): the
per-character arrays of :func:`hashed_tokens` and :func:`char_trigrams` (about 50 bytes per
character) are this long at most, so an audit's memory does not grow with its batch."""
_DOC_BITS = 63 - TERM_BITS
_TERM_MASK = (1 << TERM_BITS) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BASE = np.uint64(0x100000001B3)


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` without stop-words.

    >>> tokens("The sum of 2 and 3 is 5, so x_1 = 5.")
    ['sum', '2', '3', '5', 'x_1', '5']
    """
    return [token for token in TOKEN.findall(text.lower()) if token not in STOP_WORDS]


def numbers(text: str) -> set[str]:
    """The distinct numbers written in ``text`` (thousands commas removed, trailing ``.0`` kept as written).

    >>> sorted(numbers("Pay 1,200 dollars in 3 parts of 400.5"))
    ['1200', '3', '400.5']
    """
    return {match.replace(",", "") for match in NUMBER.findall(text)}


@lru_cache(maxsize=1)
def _word_table() -> np.ndarray:
    """``True`` for the code points below 65,536 that ``\\w`` matches (letters, digits, ``_``)."""
    return np.array([chr(code).isalnum() or code == 95 for code in range(0x10000)], dtype=bool)


def _is_word(codes: np.ndarray) -> np.ndarray:
    table = _word_table()
    word = table[np.minimum(codes, 0xFFFF)]
    high = np.flatnonzero(codes > 0xFFFF)
    if high.size:
        word[high] = [chr(int(code)).isalnum() for code in codes[high]]
    return word


def chunk_ranges(sizes: Sequence[int], limit: int = CHUNK_CHARS) -> list[tuple[int, int]]:
    """``(start, end)`` ranges of consecutive items whose ``sizes`` add up to at most ``limit``
    (an item larger than ``limit`` is a range of its own), covering every item in order.

    >>> chunk_ranges([2, 2, 4, 0, 1], limit=4)
    [(0, 2), (2, 4), (4, 5)]
    >>> chunk_ranges([])
    []
    """
    ranges: list[tuple[int, int]] = []
    start, total = 0, 0
    for index, size in enumerate(sizes):
        if index > start and total + size > limit:
            ranges.append((start, index))
            start, total = index, 0
        total += size
    if start < len(sizes):
        ranges.append((start, len(sizes)))
    return ranges


def _chunked(
    texts: Sequence[str], find: Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """``find`` (text index and value arrays) over :data:`CHUNK_CHARS` characters of
    ``texts`` at a time, joined: the same arrays as ``find(texts)``, in a fraction of its memory."""
    ranges = chunk_ranges([len(text) for text in texts])
    if len(ranges) <= 1:
        return find(texts)
    found = [find(texts[start:end]) for start, end in ranges]
    return (np.concatenate([doc + start for (doc, _), (start, _) in zip(found, ranges)]),
            np.concatenate([values for _, values in found]))


def hashed_tokens(texts: Sequence[str], drop_stop_words: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every word token of ``texts`` as two arrays: the text's index and the token's hashed id
    (:data:`TERM_BITS` bits). Same tokens as :func:`tokens`, found and hashed with NumPy over
    :data:`CHUNK_CHARS` characters at a time, so no Python code runs per word.

    >>> doc, term = hashed_tokens(["The cat", "a CAT, the dog_2"])
    >>> doc.tolist(), bool(term[0] == term[1]), bool(term[1] == term[2])
    ([0, 1, 1], True, False)
    """
    return _chunked(texts, partial(_hashed_tokens, drop_stop_words=drop_stop_words))


def _hashed_tokens(texts: Sequence[str], drop_stop_words: bool) -> tuple[np.ndarray, np.ndarray]:
    joined = "\x00".join(text.replace("\x00", " ") for text in texts).lower()
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    word = _is_word(codes)
    starts = word & ~np.concatenate([[False], word[:-1]])
    start_positions = np.flatnonzero(starts)
    if start_positions.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    doc = np.cumsum(codes == 0)[start_positions].astype(np.int64)
    word_positions = np.flatnonzero(word)
    token_of_char = np.cumsum(starts)[word_positions] - 1
    offset = word_positions - start_positions[token_of_char]
    powers = np.cumprod(np.full(int(offset.max()) + 1, _BASE, dtype=np.uint64))
    with np.errstate(over="ignore"):
        contribution = (codes[word_positions].astype(np.uint64) + np.uint64(1)) * powers[offset]
        # word_positions of one token are consecutive, so each token is one reduceat segment
        first_char = np.flatnonzero(np.concatenate([[True], token_of_char[1:] != token_of_char[:-1]]))
        raw = np.add.reduceat(contribution, first_char)
        term = ((raw ^ (raw >> np.uint64(31))) * _GOLDEN >> np.uint64(64 - TERM_BITS)).astype(np.int64)
    if drop_stop_words:
        stop = _stop_word_terms()
        keep = stop[np.minimum(np.searchsorted(stop, term), stop.size - 1)] != term
        return doc[keep], term[keep]
    return doc, term


@lru_cache(maxsize=1)
def _stop_word_terms() -> np.ndarray:
    return np.sort(hashed_tokens([" ".join(sorted(STOP_WORDS))], drop_stop_words=False)[1])


def sorted_runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``keys`` in ascending order and how often each occurs (one
    sort; faster than ``np.unique`` on large integer arrays).

    >>> values, counts = sorted_runs(np.array([5, 2, 5, 5]))
    >>> values.tolist(), counts.tolist()
    ([2, 5], [1.0, 3.0])
    """
    ordered = np.sort(keys)
    if ordered.size == 0:
        return ordered, np.zeros(0)
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    return ordered[starts], np.diff(np.append(starts, ordered.size)).astype(np.float64)


@dataclass(frozen=True)
class SparseBag:
    """Bags of words of ``n_docs`` documents as triplets sorted by ``(doc, term)``; one triplet
    per distinct term of a document, ``count`` its number of occurrences.

    >>> bag = SparseBag.from_ids([[3, 1, 3], []])
    >>> bag.doc.tolist(), bag.term.tolist(), bag.count.tolist(), bag.n_docs
    ([0, 0], [1, 3], [1.0, 2.0], 2)
    """

    doc: np.ndarray
    term: np.ndarray
    count: np.ndarray
    n_docs: int

    @classmethod
    def from_ids(cls, ids: Sequence[Sequence[int]]) -> SparseBag:
        """Build the bags from one list of term ids per document."""
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter((term for row in ids for term in row), dtype=np.int64, count=int(lengths.sum()))
        doc = np.repeat(np.arange(len(ids), dtype=np.int64), lengths)
        keys, counts = sorted_runs((doc << TERM_BITS) | flat)
        return cls(keys >> TERM_BITS, keys & _TERM_MASK, counts, len(ids))

    @classmethod
    def from_tokens(cls, doc: np.ndarray, term: np.ndarray, n_docs: int) -> SparseBag:
        """Build the bags from one ``(doc, term)`` pair per token occurrence (:func:`hashed_tokens`)."""
        if n_docs >= 1 << _DOC_BITS:
            raise ValueError(f"{n_docs} documents in one batch; score at most {(1 << _DOC_BITS) - 1:,} at a time")
        keys, counts = sorted_runs((doc << TERM_BITS) | term)
        return cls(keys >> TERM_BITS, keys & _TERM_MASK, counts, n_docs)

    @property
    def keys(self) -> np.ndarray:
        """``doc << 32 | term`` per triplet, sorted ascending (for :func:`lookup`)."""
        return (self.doc << TERM_BITS) | self.term

    def doc_lengths(self) -> np.ndarray:
        """Number of tokens per document."""
        return np.bincount(self.doc, weights=self.count, minlength=self.n_docs)


def lookup(table_keys: np.ndarray, table_values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``table_values`` at the positions of ``keys`` in the sorted ``table_keys``; 0 where absent.

    >>> lookup(np.array([2, 5, 9]), np.array([1.0, 2.0, 3.0]), np.array([5, 6, 9])).tolist()
    [2.0, 0.0, 3.0]
    """
    if table_keys.size == 0:
        return np.zeros(keys.shape, dtype=np.float64)
    position = np.minimum(np.searchsorted(table_keys, keys), table_keys.size - 1)
    return np.where(table_keys[position] == keys, table_values[position], 0.0)


def document_frequencies(*bags: SparseBag) -> tuple[np.ndarray, np.ndarray]:
    """The distinct terms of ``bags`` (sorted) and in how many of their documents each occurs.

    >>> terms, df = document_frequencies(SparseBag.from_ids([[1, 1, 2], [2]]))
    >>> terms.tolist(), df.tolist()
    ([1, 2], [1.0, 2.0])
    """
    return sorted_runs(np.concatenate([bag.term for bag in bags]))


def per_item_keys(bag: SparseBag, item_of_doc: np.ndarray) -> np.ndarray:
    """Keys ``item << 32 | term`` of an option bag, to look terms up in the bag of the option's passage."""
    return (item_of_doc[bag.doc] << TERM_BITS) | bag.term


def char_trigrams(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every character 3-gram of the lower-cased, white-space-collapsed texts as two arrays:
    the text's index and the 3-gram's id (hashed into 2**24 buckets; a collision merges two
    rare 3-grams, harmless for a similarity score). Built with NumPy, :data:`CHUNK_CHARS`
    characters at a time, no Python loop over characters; a text shorter than 3 characters has none.

    >>> doc, gram = char_trigrams(["ababa", "ab"])
    >>> doc.tolist(), bool(gram[0] == gram[2]), bool(gram[0] == gram[1])
    ([0, 0, 0], True, False)
    """
    return _chunked(texts, _char_trigrams)


def _char_trigrams(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    cleaned = [" ".join(text.replace("\x00", " ").split()).lower() for text in texts]
    lengths = np.fromiter((len(text) for text in cleaned), dtype=np.int64, count=len(cleaned))
    codes = np.frombuffer("\x00".join(cleaned).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    if codes.size < 3:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    grams = ((codes[:-2] << 42) | (codes[1:-1] << 21) | codes[2:]).view(np.uint64)
    valid = (codes[:-2] != 0) & (codes[1:-1] != 0) & (codes[2:] != 0)
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), lengths + 1)[: codes.size - 2]
    with np.errstate(over="ignore"):
        gram_ids = ((grams[valid] * _GOLDEN) >> np.uint64(64 - GRAM_BITS)).astype(np.int64)
    return doc[valid], gram_ids


def _strip_mask(text: str) -> str:
    return text.replace(MASK_TOKEN, " ")


class BatchFeatures:
    """Lazily computed, cached features of one batch of masked texts and their options.

    ``option_item[j]`` is the index of the text that flat option ``j`` belongs to and
    ``offsets`` cut the flat option arrays back into per-text pieces.
    """

    def __init__(self, masked_texts: Sequence[str], options: Sequence[Sequence[str]]) -> None:
        if len(masked_texts) != len(options):
            raise ValueError(
                f"got {len(masked_texts)} masked texts but {len(options)} option lists; pass one option list per text"
            )
        self.masked_texts = [str(text) for text in masked_texts]
        self.options = [[str(option) for option in row] for row in options]

    @property
    def n_items(self) -> int:
        """Number of masked texts (tasks) in the batch."""
        return len(self.masked_texts)

    @cached_property
    def option_counts(self) -> np.ndarray:
        """Number of options per item."""
        return np.fromiter((len(row) for row in self.options), dtype=np.int64, count=self.n_items)

    @cached_property
    def offsets(self) -> np.ndarray:
        """Start of each item's options in the flat option arrays, plus the total at the end."""
        return np.concatenate([[0], np.cumsum(self.option_counts)]).astype(np.int64)

    @cached_property
    def option_item(self) -> np.ndarray:
        """Item index of every flat option."""
        return np.repeat(np.arange(self.n_items, dtype=np.int64), self.option_counts)

    @cached_property
    def flat_options(self) -> list[str]:
        """All options of the batch, item after item."""
        return [option for row in self.options for option in row]

    @cached_property
    def contexts(self) -> list[str]:
        """The masked texts with ``[MASK]`` removed (the passage as a reader sees it)."""
        return [_strip_mask(text) for text in self.masked_texts]

    @cached_property
    def windows(self) -> list[str]:
        """:data:`WINDOW_CHARS` characters around the first ``[MASK]``, the token removed."""
        half = WINDOW_CHARS // 2
        out = []
        for text in self.masked_texts:
            at = text.find(MASK_TOKEN)
            if at < 0:
                out.append(text)
                continue
            out.append(_strip_mask(text[max(0, at - half) : at + len(MASK_TOKEN) + half]))
        return out

    @cached_property
    def after_mask(self) -> list[str]:
        """The :data:`AFTER_MASK_CHARS` characters after the first ``[MASK]`` ('' without one)."""
        out = []
        for text in self.masked_texts:
            at = text.find(MASK_TOKEN)
            out.append("" if at < 0 else text[at + len(MASK_TOKEN) : at + len(MASK_TOKEN) + AFTER_MASK_CHARS])
        return out

    @cached_property
    def context_bag(self) -> SparseBag:
        """Bags of words of :attr:`contexts`, one document per item."""
        return SparseBag.from_tokens(*hashed_tokens(self.contexts), self.n_items)

    @cached_property
    def window_bag(self) -> SparseBag:
        """Bags of words of :attr:`windows`, one document per item."""
        return SparseBag.from_tokens(*hashed_tokens(self.windows), self.n_items)

    @cached_property
    def option_bag(self) -> SparseBag:
        """Bags of words of :attr:`flat_options`, one document per option."""
        return SparseBag.from_tokens(*hashed_tokens(self.flat_options), int(self.offsets[-1]))

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        """Cut a per-option array into one array per item.

        >>> BatchFeatures(["[MASK]", "[MASK]"], [["a", "b"], ["c"]]).split(np.arange(3.0))
        [array([0., 1.]), array([2.])]
        """
        return [flat[self.offsets[i] : self.offsets[i + 1]] for i in range(self.n_items)]
