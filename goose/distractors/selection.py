"""Adversarial choice of the final wrong options, against the shortcut solvers.

In the spirit of SWAG / HellaSwag adversarial filtering and AFLite: from a candidate list
larger than a task needs, keep the wrong options that the cheap solvers of
:mod:`goose.audit.solvers` (which never read the gold) cannot tell apart from the gold.

Every solver gives each option a score (higher: "looks like the gold"). For one task and
one solver, let ``above`` be the number of chosen wrong options that score higher than the
gold (ties count one half). The solver solves the task when ``above`` is 0; "pick the
option the solver likes *least*" solves it when ``above`` is ``k`` (all of them). So the
choice

* forbids ``above == 0`` for every solver when the candidates allow (a large penalty),
* avoids ``above == k`` (a smaller penalty, the inverted solver),
* pulls ``above`` toward a per-task target drawn uniformly from ``1 .. k - 1``, shared by
  the solvers of one family (topic: word overlap, TF-IDF, BM25, embeddings; length), so
  that over a run the gold's rank under each solver is spread out and "pick the median"
  wins nothing either,
* and, among equal choices, prefers candidates whose scores are closest to the gold's
  (plausible: same topic, length and form) and earlier in the candidate list.

It starts from the ``k`` closest candidates and improves by single swaps until no swap
lowers the cost (at most ``max_rounds`` rounds). Set-dependent solvers (``centroid``:
the option most similar to the others) are scored on the whole candidate list, then the
final set is checked by running every solver on it (:func:`solved_by`).

>>> from goose.audit.solvers import solver_by_name
>>> choice = choose_distractors(
...     "Water is heated. [MASK] Then the kettle whistles.", "The water boils at 100 C and turns to steam.",
...     ["The water boils at 90 C and turns to ice.", "Cats sleep all day.", "The kettle water turns to steam at 100 C.",
...      "Steam rises when the water boils in the kettle on the stove.", "Paint dries slowly."],
...     k=3, solvers=[solver_by_name("tfidf_passage"), solver_by_name("longest")], rng=np.random.default_rng(0))
>>> len(choice.indices), choice.solved_by
(3, [])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from goose.audit.solvers import tie_credits

FAMILIES: dict[str, str] = {
    "word_overlap": "topic", "tfidf_passage": "topic", "tfidf_window": "topic", "bm25_passage": "topic",
    "embedding": "topic", "longest": "length", "shortest": "length_inverse",
}
"""Solvers that measure the same thing share one rank target (``length_inverse`` is the
mirror of ``length``: "shortest" is "longest" upside down)."""

SOLVED_PENALTY = 8.0
INVERTED_PENALTY = 2.0
TARGET_WEIGHT = 4.0
CLOSENESS_WEIGHT = 0.25
ORDER_WEIGHT = 0.02


@dataclass
class Choice:
    """The chosen candidates (indices into the candidate list, in candidate order), per chosen
    candidate the solvers on whose score it is closest to the gold (``why``), and (from
    :func:`choose_distractors`) the solvers that still solve the final option set
    (``solved_by``; empty when none does)."""

    indices: list[int]
    why: list[str] = field(default_factory=list)
    solved_by: list[str] = field(default_factory=list)


def choose_distractors(
    masked_text: str,
    gold: str,
    candidates: Sequence[str],
    *,
    k: int,
    solvers: Sequence,
    rng: np.random.Generator,
    max_rounds: int = 30,
) -> Choice:
    """Choose ``k`` of ``candidates`` for one task; see the module docstring."""
    scores = [solver.score_batch([masked_text], [[gold, *candidates]])[0] for solver in solvers]
    choice = choose_from_scores(np.vstack(scores) if scores else np.zeros((0, len(candidates) + 1)),
                                [s.name for s in solvers], k=k, rng=rng, max_rounds=max_rounds)
    choice.solved_by = solved_by(solvers, masked_text, gold, [candidates[i] for i in choice.indices])
    return choice


def choose_from_scores(
    scores: np.ndarray,
    names: Sequence[str],
    *,
    k: int,
    rng: np.random.Generator,
    max_rounds: int = 30,
) -> Choice:
    """The choice from a precomputed ``scores`` matrix (solvers x options, the gold first).

    >>> scores = np.array([[0.5, 0.9, 0.1, 0.4, 0.6, 0.2]])   # one solver; gold scores 0.5
    >>> choice = choose_from_scores(scores, ["tfidf_passage"], k=3, rng=np.random.default_rng(1))
    >>> bool((scores[0, 1:][choice.indices] > 0.5).any())   # some wrong option outscores the gold
    True
    """
    n = scores.shape[1] - 1
    if n <= k:
        return Choice(list(range(n)), ["only candidate"] * n)
    gold_scores = scores[:, :1]
    above = (scores[:, 1:] > gold_scores) + 0.5 * (scores[:, 1:] == gold_scores)  # solvers x candidates
    spread = scores.max(axis=1, keepdims=True) - scores.min(axis=1, keepdims=True)
    distance = np.abs(scores[:, 1:] - gold_scores) / np.where(spread > 0, spread, 1.0)
    per_candidate = CLOSENESS_WEIGHT * distance.mean(axis=0) + ORDER_WEIGHT * np.arange(n) / max(n, 1)
    targets = _targets(names, k, rng)

    def costs(counts: np.ndarray) -> np.ndarray:
        """Cost of the solver-count part, for counts of shape (solvers, ...)."""
        solved = (counts == 0) * SOLVED_PENALTY
        inverted = (counts == k) * INVERTED_PENALTY
        aimed = TARGET_WEIGHT * np.abs(counts - np.nan_to_num(targets)[(...,) + (None,) * (counts.ndim - 1)]) / k
        aimed = np.where(np.isnan(targets)[(...,) + (None,) * (counts.ndim - 1)], 0.0, aimed)
        return (solved + inverted + aimed).sum(axis=0)

    selection = np.argsort(per_candidate, kind="stable")[:k]
    for _ in range(max_rounds):
        counts = above[:, selection].sum(axis=1)
        current = float(costs(counts)) + per_candidate[selection].sum()
        outside = np.setdiff1d(np.arange(n), selection)
        if not len(outside):
            break
        # Every single swap at once: slot s of the selection replaced by outside candidate c.
        swapped = counts[:, None, None] - above[:, selection][:, :, None] + above[:, outside][:, None, :]
        trial = costs(swapped) + (per_candidate[selection].sum() - per_candidate[selection][:, None]
                                  + per_candidate[outside][None, :])
        slot, candidate = np.unravel_index(int(np.argmin(trial)), trial.shape)
        if trial[slot, candidate] >= current - 1e-12:
            break
        selection = selection.copy()
        selection[slot] = outside[candidate]
    chosen = sorted(int(i) for i in selection)
    why = []
    for i in chosen:
        closest = [names[s] for s in np.argsort(distance[:, i], kind="stable")[:2]] if len(names) else []
        why.append("close to gold on " + ", ".join(closest) if closest else "in order")
    return Choice(chosen, why)


def _targets(names: Sequence[str], k: int, rng: np.random.Generator) -> np.ndarray:
    """Per solver, the wanted count of wrong options above the gold (NaN: no target)."""
    family_target: dict[str, float] = {}
    targets = []
    for name in names:
        family = FAMILIES.get(name)
        if family is None:
            targets.append(np.nan)
            continue
        base = "length" if family == "length_inverse" else family
        if base not in family_target:
            family_target[base] = float(rng.integers(1, k)) if k > 1 else 0.5
        value = family_target[base]
        targets.append(k - value if family == "length_inverse" else value)
    return np.array(targets, dtype=np.float64)


def solved_by(solvers: Sequence, masked_text: str, gold: str, wrong: Sequence[str]) -> list[str]:
    """Names of the solvers whose unique top option, among the gold and ``wrong``, is the gold.

    >>> from goose.audit.solvers import solver_by_name
    >>> solved_by([solver_by_name("longest")], "A [MASK] B", "a long golden answer", ["short", "tiny"])
    ['longest']
    """
    options = [gold, *wrong]
    return [solver.name for solver in solvers
            if tie_credits(solver.score_batch([masked_text], [options]), [0])[1][0]]
