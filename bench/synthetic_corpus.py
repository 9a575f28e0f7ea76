"""A larger corpus for pipeline benchmarks, made from the sample corpus shipped with goose.

Each new document keeps a sample passage's domain and sentence order but swaps a third of
its sentences for sentences of other passages of the same domain and changes its numbers,
so documents are distinct (MinHash keeps them) and the heuristics see realistic text.
Deterministic for a given ``count`` and ``seed``.

    from synthetic_corpus import synthetic_corpus
    rows = synthetic_corpus(2000)   # list of {"id", "domain", "text"}
"""

from __future__ import annotations

import json
import re

import numpy as np

import goose

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_NUMBER = re.compile(r"\d+")


def synthetic_corpus(count: int, seed: int = 0) -> list[dict]:
    """``count`` rows with ids ``syn-<k>``, domains spread as in the sample corpus."""
    samples = [json.loads(line) for line in goose.sample_corpus_path().read_text(encoding="utf-8").splitlines() if line]
    pools: dict[str, list[str]] = {}
    for row in samples:
        pools.setdefault(row["domain"], []).extend(_SENTENCE_END.split(row["text"]))
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(count):
        base = samples[k % len(samples)]
        if base["domain"] == "code":  # keep code lines intact; vary only the numbers
            text = base["text"]
        else:
            sentences = _SENTENCE_END.split(base["text"])
            pool = pools[base["domain"]]
            for position in rng.choice(len(sentences), size=max(1, len(sentences) // 3), replace=False):
                sentences[position] = pool[int(rng.integers(len(pool)))]
            text = " ".join(sentences)
        text = _NUMBER.sub(lambda match: str(int(match.group()) + int(rng.integers(1, 9))), text)
        rows.append({"id": f"syn-{k}", "domain": base["domain"], "text": text})
    return rows
