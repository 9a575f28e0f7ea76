"""Dedup throughput of goose's MinHash fast path against datasketch's MinHash + MinHashLSH.

Builds ``--docs`` synthetic documents in-process (seeded): random word sequences of 100-300
words over a fixed vocabulary, of which ``--dup-share`` are planted near-duplicates, copies
of an earlier-drawn original with ``--min-edit``..``--max-edit`` of their words replaced,
deleted or inserted. Both paths get the same texts and the same parameters (shingles,
``num_perm``, bands x rows) and, in one run, report:

* throughput in documents per second (text in, clusters out for goose, candidate pairs
  out for datasketch), and the speed ratio
  (goal: goose at least 10x faster);
* recall and precision of duplicate pairs against the planted ground truth (all pairs
  within a planted group), and of goose's pairs against datasketch's (goal: goose within
  0.02 of datasketch on both).

Run: ``python bench/dedup_throughput.py`` (options: ``--help``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from goose.dedup import (
    MinHashParams,
    all_duplicate_pairs,
    duplicate_clusters,
    reference_duplicate_pairs,
    signatures,
)


def make_corpus(docs: int, dup_share: float, min_edit: float, max_edit: float, seed: int) -> tuple[list[str], set[tuple[int, int]]]:
    """Texts and the planted duplicate pairs ``(i, j)``, ``i < j``."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocabulary = ["".join(rng.choice(letters, size=rng.integers(2, 10))) for _ in range(20_000)]
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)  # Zipf-like: common words recur, as in text
    weights /= weights.sum()
    duplicates = int(docs * dup_share)
    texts: list[list[str]] = []
    group_of: list[int] = []
    for _ in range(docs - duplicates):
        texts.append([vocabulary[i] for i in rng.choice(len(vocabulary), size=rng.integers(100, 301), p=weights)])
        group_of.append(len(group_of))
    for _ in range(duplicates):
        original = int(rng.integers(0, docs - duplicates))
        words = list(texts[original])
        for position in sorted(rng.choice(len(words), size=max(1, round(len(words) * rng.uniform(min_edit, max_edit))), replace=False), reverse=True):
            action = rng.integers(3)
            if action == 0:
                words[position] = vocabulary[int(rng.integers(len(vocabulary)))]
            elif action == 1:
                del words[position]
            else:
                words.insert(position, vocabulary[int(rng.integers(len(vocabulary)))])
        texts.append(words)
        group_of.append(original)
    order = rng.permutation(docs)  # copies land before or after their originals
    shuffled = [" ".join(texts[i]).capitalize() + "." for i in order]
    groups: dict[int, list[int]] = {}
    for new_position, old in enumerate(order):
        groups.setdefault(group_of[old], []).append(new_position)
    truth = {(a, b) for members in groups.values() for a in members for b in members if a < b}
    return shuffled, truth


def recall_precision(found: set[tuple[int, int]], truth: set[tuple[int, int]]) -> tuple[float, float]:
    hits = len(found & truth)
    return hits / max(len(truth), 1), hits / max(len(found), 1)


def goose_clusters(texts: list[str], params: MinHashParams) -> tuple[np.ndarray, int]:
    """The hot path (signatures, then clusters), timed; pairs are compared afterwards."""
    signature = signatures(texts, params)
    kept = int((duplicate_clusters(signature, params) == np.arange(len(texts))).sum())
    return signature, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--dup-share", type=float, default=0.1, help="Share of documents that are planted near-duplicates.")
    parser.add_argument("--min-edit", type=float, default=0.01, help="Fewest edited words of a copy, as a share.")
    parser.add_argument("--max-edit", type=float, default=0.03, help="Most edited words of a copy, as a share.")
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="Timed runs of the fast path (the median counts).")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    texts, truth = make_corpus(args.docs, args.dup_share, args.min_edit, args.max_edit, args.seed)
    params = MinHashParams(num_perm=args.num_perm, threshold=args.threshold)
    print(f"{len(texts)} documents, {len(truth)} planted duplicate pairs; num_perm {params.num_perm}, "
          f"threshold {params.threshold}, bands x rows {params.bands} x {params.rows}, word {params.shingle_size}-grams")

    goose_clusters(texts[:200], params)  # warm-up: first-call costs of NumPy are not dedup work
    goose_seconds = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        signature, goose_kept = goose_clusters(texts, params)
        goose_seconds.append(time.perf_counter() - started)
    goose_time = statistics.median(goose_seconds)
    # Every pair sharing a band, as datasketch reports them (clustering itself uses k - 1 edges).
    goose_found = set(map(tuple, all_duplicate_pairs(signature, params).tolist()))

    started = time.perf_counter()
    reference = set(map(tuple, reference_duplicate_pairs(texts, params).tolist()))
    datasketch_time = time.perf_counter() - started

    goose_recall, goose_precision = recall_precision(goose_found, truth)
    ds_recall, ds_precision = recall_precision(reference, truth)
    agree_recall, agree_precision = recall_precision(goose_found, reference)
    ratio = datasketch_time / goose_time
    print(f"{'path':<28}{'seconds':>9}{'docs/s':>10}{'pairs':>8}{'recall':>8}{'precision':>10}")
    print(f"{'datasketch MinHash+LSH':<28}{datasketch_time:>9.2f}{len(texts) / datasketch_time:>10.0f}"
          f"{len(reference):>8}{ds_recall:>8.3f}{ds_precision:>10.3f}")
    print(f"{'goose fast path (median)':<28}{goose_time:>9.2f}{len(texts) / goose_time:>10.0f}"
          f"{len(goose_found):>8}{goose_recall:>8.3f}{goose_precision:>10.3f}")
    print(f"goose runs: {', '.join(f'{s:.2f}s' for s in goose_seconds)}; kept {goose_kept} of {len(texts)}")
    print(f"goose vs datasketch pairs: recall {agree_recall:.3f}, precision {agree_precision:.3f}")
    speed_ok = ratio >= 10
    quality_ok = abs(goose_recall - ds_recall) <= 0.02 and abs(goose_precision - ds_precision) <= 0.02
    print(f"speed ratio {ratio:.1f}x (goal >= 10x: {'PASS' if speed_ok else 'FAIL'}); "
          f"recall/precision within 0.02 of datasketch: {'PASS' if quality_ok else 'FAIL'}")


if __name__ == "__main__":
    main()
