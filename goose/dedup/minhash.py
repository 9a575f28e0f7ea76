"""MinHash near-duplicate detection: vectorised NumPy signatures, LSH banding, keep-first clusters.

How it works, and what the parameters mean:

* **Normalisation and shingles.** A text is NFKC-normalised and case-folded; its words are
  the runs of ASCII letters, digits, ``_`` and non-ASCII bytes of its UTF-8 form (so
  punctuation and white space only separate words). A document's shingles are its word
  ``shingle_size``-grams (``shingle_unit="word"``, default 5, the usual choice for web text)
  or its character ``shingle_size``-grams of the words joined by single spaces
  (``shingle_unit="char"``, counted in UTF-8 bytes). A text shorter than one shingle is one
  shingle; a text with no words has none and never matches anything. Small shingles make
  unrelated texts look alike; large ones make a one-word edit break many shingles.
* **Hashing.** Words are hashed with a polynomial rolling hash over their bytes (mod 2**64)
  and shingles by combining their words' hashes, then mixed (SplitMix64) to 32 bits: pure
  integer arithmetic, the same in every process (never Python's salted ``hash``).
* **Signatures.** One-permutation MinHash: each shingle hash goes through one universal
  hash ``h(x) = a*x + b`` (``a`` odd, seeded; the arithmetic wraps mod 2**32, a bijection,
  which suffices because the shingle hashes are already uniform), which picks one of
  ``num_perm`` bins and the value competing for that bin's minimum. Bins left empty (a text
  with fewer shingles than bins) borrow the minimum of another bin chosen by a seeded probe
  sequence that is the same for every text ("optimal densification", Shrivastava 2017), so
  two texts agree in a bin with probability ~ their Jaccard similarity, as with
  ``num_perm`` independent permutations. This costs one hash per shingle instead of
  ``num_perm``: the classic scheme (datasketch's) does ``shingles x num_perm`` work, which is
  what keeps it from being an order of magnitude faster even when vectorised. The share of
  equal positions estimates the Jaccard similarity, standard error about
  ``sqrt(J(1-J)/num_perm)`` (a little more for texts much shorter than ``num_perm`` shingles).
* **Banding.** The signature is cut into ``bands`` bands of ``rows`` values; two documents
  are candidates when any band is equal, which happens with probability
  ``1 - (1 - J**rows)**bands``, an S-curve in J. ``bands``/``rows`` are derived once, from
  ``threshold``, by minimising ``fp_weight * (area under the curve below the threshold) +
  fn_weight * (area above it missed)`` over ``bands * rows <= num_perm``: datasketch's
  ``_optimal_param``. More permutations sharpen the S-curve and the estimate but cost
  memory and LSH time in proportion (shingling and hashing do not grow with them).
* **Clusters and the keep rule.** Rows sharing a band (optionally ``verify``-ed: estimated
  Jaccard >= threshold) are merged with union-find over ``k - 1`` edges per band bucket of
  ``k`` rows (never all ``k(k-1)/2`` pairs, so 4,000 copies of one boilerplate text cost
  what 4,000 distinct texts do); each cluster keeps its first row in input order and the
  others point to it, so the choice is stable.

>>> params = MinHashParams(threshold=0.7)
>>> (params.bands, params.rows)
(14, 9)
>>> text = "the quick brown fox jumps over the lazy dog near the river bank today"
>>> find_duplicates([text, text.replace("today", "again"), "an unrelated sentence entirely"], params).tolist()
[0, 0, 2]
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

_MASK64 = (1 << 64) - 1
_BYTE_MULTIPLIER = 0x100000001B3  # FNV-64 prime: odd, so invertible mod 2**64
_SHINGLE_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_BAND_MULTIPLIER = np.uint64(0xBF58476D1CE4E5B9)
_EMPTY = np.uint32(0xFFFFFFFF)
_TEXTS_PER_CHUNK = 1024  # texts hashed together: ~100-250k shingles, a few MB per array
_DENSIFY_ATTEMPTS = 64  # probes per empty bin before the fallback; almost all fill in a few

_WORD_BYTE = np.zeros(256, dtype=bool)
for _byte in b"0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _WORD_BYTE[_byte] = True
_WORD_BYTE[0x80:] = True


class MinHashParams(BaseModel):
    """MinHash/LSH settings; ``bands`` and ``rows`` are derived from ``threshold`` on construction.

    >>> MinHashParams(num_perm=64, threshold=0.5).bands_rows
    (14, 4)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_perm: int = Field(128, ge=2, le=1024, description="Hash functions per signature.")
    threshold: float = Field(0.7, gt=0.0, lt=1.0, description="Jaccard similarity counted as a near-duplicate.")
    shingle_size: int = Field(5, ge=1, le=64, description="Words (or characters) per shingle.")
    shingle_unit: Literal["word", "char"] = "word"
    seed: int = Field(1, ge=0, description="Seed of the hash functions; signatures are comparable only with equal seeds.")
    verify: bool = Field(False, description="Keep only candidate pairs whose estimated Jaccard reaches the threshold.")
    fp_weight: float = Field(0.5, ge=0.0, le=1.0, description="Weight of false positives when choosing bands/rows.")
    fn_weight: float = Field(0.5, ge=0.0, le=1.0, description="Weight of false negatives when choosing bands/rows.")

    def model_post_init(self, context: object, /) -> None:
        bands, rows = optimal_bands_rows(self.threshold, self.num_perm, self.fp_weight, self.fn_weight)
        object.__setattr__(self, "_bands_rows", (bands, rows))

    @property
    def bands_rows(self) -> tuple[int, int]:
        """``(bands, rows)`` chosen for ``threshold``."""
        return self._bands_rows  # type: ignore[attr-defined, no-any-return]

    @property
    def bands(self) -> int:
        """Number of LSH bands."""
        return self.bands_rows[0]

    @property
    def rows(self) -> int:
        """Signature values per band."""
        return self.bands_rows[1]


def optimal_bands_rows(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """The ``(bands, rows)`` minimising the weighted false positive and false negative areas.

    >>> optimal_bands_rows(0.9, 128)
    (5, 25)
    """
    grid_low = np.linspace(0.0, threshold, 2001)
    grid_high = np.linspace(threshold, 1.0, 2001)

    def area(values: np.ndarray, grid: np.ndarray) -> float:  # trapezoid rule on a uniform grid
        return float((values.sum() - (values[0] + values[-1]) / 2) * (grid[1] - grid[0]))

    best, best_error = (1, 1), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            false_positive = area(1 - (1 - grid_low**rows) ** bands, grid_low)
            false_negative = area((1 - grid_high**rows) ** bands, grid_high)
            error = fp_weight * false_positive + fn_weight * false_negative
            if error < best_error:
                best, best_error = (bands, rows), error
    return best


def normalize(text: str) -> str:
    """NFKC-normalised, case-folded text (words are found later, on its UTF-8 bytes).

    >>> normalize("Ｆｏｏ BAR")
    'foo bar'
    """
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str) -> list[bytes]:
    """The words of ``text`` as the fast path sees them (used by the reference path and tests).

    >>> words("Hello, World! x_1")
    [b'hello', b'world', b'x_1']
    """
    data = np.frombuffer(normalize(text).encode(), dtype=np.uint8)
    starts, ends = _word_spans(data)
    raw = data.tobytes()
    return [raw[s:e] for s, e in zip(starts.tolist(), ends.tolist())]


def shingles(text: str, params: MinHashParams) -> set[bytes]:
    """The shingle set of ``text`` as bytes: the reference path feeds these to datasketch.

    >>> sorted(shingles("a b c", MinHashParams(shingle_size=2)))
    [b'a b', b'b c']
    """
    tokens = words(text)
    n = params.shingle_size
    if params.shingle_unit == "char":
        joined = b" ".join(tokens)
        return {joined[i : i + n] for i in range(max(1, len(joined) - n + 1))} if joined else set()
    return {b" ".join(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1))} if tokens else set()


def _word_spans(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    is_word = np.concatenate(([False], _WORD_BYTE[data], [False]))
    edges = np.flatnonzero(is_word[1:] != is_word[:-1])  # alternate: word start, word end
    return edges[0::2], edges[1::2]


def _mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: spreads every input bit over the output (wrapping uint64)."""
    values = values ^ (values >> np.uint64(30))
    values = values * np.uint64(0xBF58476D1CE4E5B9)
    values = values ^ (values >> np.uint64(27))
    values = values * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def _span_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """64-bit hash of each byte span, eight bytes at a time (little-endian, so portable)."""
    padded = np.concatenate((data, np.zeros(8, dtype=np.uint8)))
    # Overlapping 8-byte windows, one per byte offset: windows[i] holds bytes i..i+7.
    windows = np.ndarray(shape=(data.size + 1,), dtype="<u8", buffer=padded, strides=(1,))
    length = ends - starts
    hashes = length.astype(np.uint64) * _SHINGLE_MULTIPLIER
    offset = 0
    active: np.ndarray | slice = slice(None)  # every span on the first pass, long spans after
    while True:
        left = length[active] - offset
        chunk = windows[starts[active] + offset]
        partial = left < 8
        chunk[partial] &= (np.uint64(1) << (left[partial] * 8).astype(np.uint64)) - np.uint64(1)
        hashes[active] = _mix64(hashes[active] ^ chunk)
        offset += 8
        active = np.flatnonzero(length > offset)
        if not active.size:
            return hashes


def shingle_hashes(texts: Sequence[str], params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of every shingle of every text, and the text index of each.

    >>> hashes, owner = shingle_hashes(["a b c d e f", ""], MinHashParams())
    >>> hashes.dtype.name, owner.tolist()
    ('uint32', [0, 0])
    """
    if params.shingle_unit == "char":
        encoded = [b" ".join(words(text)) for text in texts]
    else:
        encoded = [normalize(text).encode() for text in texts]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    doc_starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1])).astype(np.int64)
    data = np.frombuffer(b"\n".join(encoded), dtype=np.uint8)  # "\n" is never a word byte
    n = params.shingle_size
    if params.shingle_unit == "char":
        per_doc = np.maximum(lengths - n + 1, (lengths > 0).astype(np.int64))
        owner = np.repeat(np.arange(len(texts)), per_doc)
        first = np.cumsum(per_doc) - per_doc
        starts = np.arange(owner.size) - first[owner] + doc_starts[owner]
        ends = np.minimum(starts + n, (doc_starts + lengths)[owner])
        hashes = _mix64(_span_hashes(data, starts, ends))
    else:
        word_starts, word_ends = _word_spans(data)
        word_owner = np.searchsorted(doc_starts, word_starts, side="right") - 1
        word_hashes = _span_hashes(data, word_starts, word_ends)
        words_per_doc = np.bincount(word_owner, minlength=len(texts))
        first_word = np.cumsum(words_per_doc) - words_per_doc
        # Words left in the document from each word on (itself included).
        left_in_doc = (first_word + words_per_doc)[word_owner] - np.arange(word_owner.size)
        hashes = word_hashes.copy()
        for offset in range(1, n):
            following = np.concatenate((word_hashes[offset:], np.zeros(min(offset, word_hashes.size), np.uint64)))
            hashes = np.where(left_in_doc > offset, hashes * _SHINGLE_MULTIPLIER + following, hashes)
        is_first = left_in_doc == words_per_doc[word_owner]
        keep = (left_in_doc >= n) | (is_first & (words_per_doc[word_owner] < n))
        hashes, owner = _mix64(hashes[keep]), word_owner[keep]
    return (hashes >> np.uint64(32)).astype(np.uint32), owner.astype(np.int64)


def signatures(texts: Sequence[str], params: MinHashParams) -> np.ndarray:
    """MinHash signatures, shape ``(len(texts), num_perm)``, uint32; a text without shingles
    gets all ``0xFFFFFFFF``.

    >>> sig = signatures(["one two three four five six", "one two three four five six"], MinHashParams())
    >>> bool((sig[0] == sig[1]).all()), sig.shape
    (True, (2, 128))
    """
    parts = [np.zeros((0, params.num_perm), dtype=np.uint32)]
    for begin in range(0, len(texts), _TEXTS_PER_CHUNK):  # bounded memory, cache-sized arrays
        chunk = texts[begin : begin + _TEXTS_PER_CHUNK]
        hashes, owner = shingle_hashes(chunk, params)
        parts.append(signatures_from_hashes(hashes, owner, len(chunk), params))
    return np.concatenate(parts)


def signatures_from_hashes(hashes: np.ndarray, owner: np.ndarray, count: int, params: MinHashParams) -> np.ndarray:
    """One-permutation MinHash with optimal densification over ``(hash, owner)`` shingle rows.

    >>> signatures_from_hashes(np.array([7], dtype=np.uint32), np.array([0]), 2, MinHashParams(num_perm=4))[1].tolist()
    [4294967295, 4294967295, 4294967295, 4294967295]
    """
    k = params.num_perm
    rng = np.random.default_rng(params.seed)
    a = np.uint32(int(rng.integers(0, 1 << 32)) | 1)
    b = np.uint32(int(rng.integers(0, 1 << 32)))
    permuted = hashes * a + b  # a*x+b wraps mod 2**32: a bijection of already-uniform hashes
    bins = (permuted.astype(np.uint64) * np.uint64(k)) >> np.uint64(32)
    flat = np.full(count * k, _EMPTY, dtype=np.uint32)
    np.minimum.at(flat, owner * k + bins.astype(np.int64), permuted)
    signature = flat.reshape(count, k)
    filled = signature != _EMPTY
    has_any = filled.any(axis=1)
    result = signature.copy()
    row, column = np.nonzero(~filled & has_any[:, None])
    probes = rng.integers(0, k, size=(_DENSIFY_ATTEMPTS, k))
    for attempt in range(_DENSIFY_ATTEMPTS):
        if not row.size:
            break
        source = probes[attempt, column]
        found = filled[row, source]
        result[row[found], column[found]] = signature[row[found], source[found]]
        row, column = row[~found], column[~found]
    if row.size:  # texts with a handful of shingles: borrow the first filled bin
        result[row, column] = signature[row, np.argmax(filled[row], axis=1)]
    return result


def band_keys(signature: np.ndarray, params: MinHashParams) -> np.ndarray:
    """One 64-bit key per band, shape ``(rows_of_signature, bands)``; equal bands give equal keys.

    >>> band_keys(signatures(["a b c d e"], MinHashParams()), MinHashParams()).shape
    (1, 14)
    """
    bands, rows = params.bands_rows
    values = signature[:, : bands * rows].reshape(signature.shape[0], bands, rows).astype(np.uint64)
    keys = np.zeros(values.shape[:2], dtype=np.uint64)
    for row in range(rows):
        keys = (keys ^ values[:, :, row]) * _BAND_MULTIPLIER
    return _mix64(keys + np.arange(bands, dtype=np.uint64))


def group_firsts(keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Among ``rows`` (ascending indices into ``keys``), each row whose key an earlier row has,
    and that earlier row: the first of its group. One stable sort, linear in the group sizes.

    >>> [a.tolist() for a in group_firsts(np.array([7, 7, 3, 7], dtype=np.uint64), np.arange(4))]
    [[1, 3], [0, 0]]
    """
    order = rows[np.argsort(keys[rows], kind="stable")]  # members of a group ascend
    if order.size < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    sorted_keys = keys[order]
    is_first = np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1]))
    firsts = np.flatnonzero(is_first)
    first_of = np.repeat(order[firsts], np.diff(np.append(firsts, order.size)))
    return order[~is_first].astype(np.int64), first_of[~is_first].astype(np.int64)


def bucket_edges(keys: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """Edges that connect every group of rows sharing a band key: ``k - 1`` per group of ``k``
    (its first row to each other member), over all bands, deduplicated and sorted, ``i < j``.
    Union-find over them gives the same clusters as :func:`candidate_pairs`, in time linear
    in the group sizes instead of quadratic.

    >>> bucket_edges(np.array([[1, 5], [1, 6], [1, 6]], dtype=np.uint64)).tolist()
    [[0, 1], [0, 2], [1, 2]]
    """
    count = keys.shape[0]
    rows = np.flatnonzero(active) if active is not None else np.arange(count)
    found = [np.zeros(0, dtype=np.int64)]
    for band in range(keys.shape[1]):
        members, firsts = group_firsts(keys[:, band], rows)
        found.append(firsts * count + members)
    unique = np.unique(np.concatenate(found))
    return np.stack([unique // max(count, 1), unique % max(count, 1)], axis=1)


def candidate_pairs(keys: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """Every pair ``(i, j)``, ``i < j``, sharing at least one band key, sorted, shape ``(pairs, 2)``.

    Quadratic in the size of a group (``k`` copies of one text give ``k(k-1)/2`` pairs): for
    measuring pair recall and precision only; clustering uses :func:`bucket_edges`.

    >>> candidate_pairs(np.array([[1, 5], [1, 6], [2, 6]], dtype=np.uint64)).tolist()
    [[0, 1], [1, 2]]
    """
    rows = np.flatnonzero(active) if active is not None else np.arange(keys.shape[0])
    found = [np.zeros(0, dtype=np.int64)]
    for band in range(keys.shape[1]):
        order = rows[np.argsort(keys[rows, band], kind="stable")]
        sorted_keys = keys[order, band]
        group_start = np.flatnonzero(np.diff(sorted_keys, prepend=~sorted_keys[:1]) != 0) if order.size else order
        group_of = np.repeat(np.arange(group_start.size), np.diff(np.append(group_start, order.size)))
        earlier = np.arange(order.size) - group_start[group_of]  # members before each row in its group
        if not earlier.any():
            continue
        right = np.repeat(np.arange(order.size), earlier)
        left = np.arange(right.size) - np.repeat(np.cumsum(earlier) - earlier, earlier) + group_start[group_of[right]]
        i, j = order[left], order[right]
        found.append(np.minimum(i, j) * keys.shape[0] + np.maximum(i, j))
    unique = np.unique(np.concatenate(found))
    return np.stack([unique // max(keys.shape[0], 1), unique % max(keys.shape[0], 1)], axis=1)


def estimated_jaccard(signature: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Share of equal signature positions for each pair (the MinHash Jaccard estimate).

    >>> estimated_jaccard(np.array([[1, 2], [1, 3]], dtype=np.uint32), np.array([[0, 1]])).tolist()
    [0.5]
    """
    if not len(pairs):
        return np.zeros(0)
    return (signature[pairs[:, 0]] == signature[pairs[:, 1]]).mean(axis=1)


def cluster_first(count: int, pairs: np.ndarray) -> np.ndarray:
    """Union-find over ``pairs``: each row's cluster representative is its smallest member.

    >>> cluster_first(4, np.array([[2, 3], [1, 3]])).tolist()
    [0, 1, 1, 1]
    """
    labels = np.arange(count)
    if not len(pairs):
        return labels
    left, right = pairs[:, 0], pairs[:, 1]
    while True:  # min-label propagation with pointer jumping; converges in O(log(cluster size)) rounds
        previous = labels.copy()
        low = np.minimum(labels[left], labels[right])
        np.minimum.at(labels, left, low)
        np.minimum.at(labels, right, low)
        labels = labels[labels]
        if np.array_equal(labels, previous):
            return labels


def find_duplicates(texts: Sequence[str], params: MinHashParams | None = None) -> np.ndarray:
    """The fast path: for each text, the index of the row kept for its cluster (itself if kept).

    >>> find_duplicates(["a b c d e f g", "x", "A b, c d e f g!"]).tolist()
    [0, 1, 0]
    """
    params = params or MinHashParams()
    return duplicate_clusters(signatures(texts, params), params)


def duplicate_clusters(signature: np.ndarray, params: MinHashParams) -> np.ndarray:
    """Each row's cluster representative (its smallest member): rows are linked when they
    share a band (and, with ``verify``, their estimated Jaccard reaches the threshold).
    Texts without shingles stay alone. Linear in cluster size: see :func:`bucket_edges`.

    >>> duplicate_clusters(signatures(["a b c d e", "x y", "a b c d e"], MinHashParams()), MinHashParams()).tolist()
    [0, 1, 0]
    """
    active = signature[:, 0] != _EMPTY
    keys = band_keys(signature, params)
    if not params.verify:
        return cluster_first(signature.shape[0], bucket_edges(keys, active))
    return _verified_clusters(signature, keys, active, params.threshold)


def _verified_clusters(signature: np.ndarray, keys: np.ndarray, active: np.ndarray, threshold: float) -> np.ndarray:
    """Components of the graph "shares a band and estimated Jaccard >= threshold", without
    checking every pair: a row is checked against the groups of its band bucket it is not yet
    connected to, one member at a time until one passes. Copies of one text pass at the
    first check, so a bucket of ``k`` copies costs ``k - 1`` checks."""
    parent = list(range(signature.shape[0]))

    def find(row: int) -> int:
        while parent[row] != row:
            parent[row] = parent[parent[row]]  # path halving
            row = parent[row]
        return row

    rows = np.flatnonzero(active)
    for band in range(keys.shape[1]):
        order = rows[np.argsort(keys[rows, band], kind="stable")]
        sorted_keys = keys[order, band]
        starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1]))) if order.size else order
        ends = np.append(starts[1:], order.size)
        for start, end in zip(starts[ends - starts > 1].tolist(), ends[ends - starts > 1].tolist()):
            groups: dict[int, list[int]] = {}  # root -> members of this bucket seen so far
            for row in order[start:end].tolist():
                root = find(row)
                for other_root, members in groups.items():
                    if find(other_root) == root:
                        continue  # already connected: no edge to this group changes the clusters
                    for member in members:
                        if float((signature[row] == signature[member]).mean()) >= threshold:
                            low, high = sorted((root, find(member)))
                            parent[high] = low  # the smallest row stays the root
                            root = low
                            break
                regrouped: dict[int, list[int]] = {}
                for other_root, members in [*groups.items(), (root, [row])]:
                    other_root = find(other_root)
                    if other_root not in regrouped:
                        regrouped[other_root] = members
                    else:  # merge the shorter list into the longer: linear overall
                        short, long = sorted((regrouped[other_root], members), key=len)
                        long.extend(short)
                        regrouped[other_root] = long
                groups = regrouped
    return np.array([find(row) for row in range(len(parent))], dtype=np.int64)


def duplicate_pairs(signature: np.ndarray, params: MinHashParams) -> np.ndarray:
    """A spanning set of each cluster of :func:`duplicate_clusters`: ``(kept row, duplicate
    row)`` for every row that is not its cluster's first, sorted; ``k - 1`` pairs for ``k``
    members, so the result grows linearly with cluster size. The two rows of a pair need not
    share a band themselves (they are linked through the cluster); every pair sharing a band
    is :func:`all_duplicate_pairs`.

    >>> duplicate_pairs(signatures(["a b c d e", "a b c d e", "a b c d e"], MinHashParams()), MinHashParams()).tolist()
    [[0, 1], [0, 2]]
    """
    labels = duplicate_clusters(signature, params)
    duplicates = np.flatnonzero(labels != np.arange(labels.size))
    pairs = np.stack([labels[duplicates], duplicates], axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def all_duplicate_pairs(signature: np.ndarray, params: MinHashParams) -> np.ndarray:
    """Every candidate pair from shared band keys (texts without shingles excluded), verified
    if asked: quadratic in cluster size, for comparing pairs with datasketch's, never on a
    hot path.

    >>> all_duplicate_pairs(signatures(["a b c d e"] * 3, MinHashParams()), MinHashParams()).tolist()
    [[0, 1], [0, 2], [1, 2]]
    """
    pairs = candidate_pairs(band_keys(signature, params), active=signature[:, 0] != _EMPTY)
    if params.verify and len(pairs):
        pairs = pairs[estimated_jaccard(signature, pairs) >= params.threshold]
    return pairs


def reference_duplicate_pairs(texts: Sequence[str], params: MinHashParams | None = None) -> np.ndarray:
    """datasketch's ``MinHash`` + ``MinHashLSH`` on the same shingles and bands: the reference
    the fast path is checked against. Returns the sorted candidate pairs ``(i, j)``, ``i < j``.

    >>> reference_duplicate_pairs(["a b c d e f g", "x", "A b, c d e f g!"]).tolist()
    [[0, 2]]
    """
    from datasketch import MinHash, MinHashLSH

    params = params or MinHashParams()
    lsh = MinHashLSH(num_perm=params.num_perm, params=params.bands_rows)
    found: set[tuple[int, int]] = set()
    indexed: dict[int, MinHash] = {}
    for index, text in enumerate(texts):
        units = shingles(text, params)
        if not units:
            continue
        minhash = MinHash(num_perm=params.num_perm, seed=params.seed)
        minhash.update_batch(list(units))
        for other in lsh.query(minhash):
            if not params.verify or minhash.jaccard(indexed[other]) >= params.threshold:
                found.add((other, index))
        lsh.insert(index, minhash)
        indexed[index] = minhash
    return np.array(sorted(found), dtype=np.int64).reshape(-1, 2)
