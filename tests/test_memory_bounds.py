"""Memory that must not grow with the input: the shortcut audit's features are computed a
bounded number of characters at a time, with the same results as in one pass; the
distractor pool keeps no passage beyond its capacity, and resumes the same."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pyarrow as pa
import pytest

from goose.audit.audit import AuditAccumulator
from goose.audit.solvers import CentroidOption, _centroid_scores, default_solvers
from goose.audit.text_features import (
    CHUNK_CHARS,
    BatchFeatures,
    _char_trigrams,
    _hashed_tokens,
    char_trigrams,
    chunk_ranges,
    hashed_tokens,
)
from goose.operators import CorpusDistractors
from goose.pipeline.operator import RunContext


def _batch(items: int, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """``items`` masked passages of ~1,000 characters, each with 9 options of ~300."""
    rng = np.random.default_rng(seed)
    words = [f"w{k}" for k in range(3000)] + ["Σοφία", "İstanbul", "straße", "x_1", "3,200.5"]
    def text(n: int) -> str:
        return " ".join(words[i] for i in rng.integers(len(words), size=n))
    masked = [f"{text(90)}. [MASK] {text(60)}" for _ in range(items)]
    options = [[text(45) for _ in range(9)] for _ in range(items)]
    return masked, options


@pytest.fixture(scope="module")
def big_batch() -> tuple[list[str], list[list[str]]]:
    masked, options = _batch(400)
    assert sum(len(option) for row in options for option in row) > CHUNK_CHARS  # two chunks or more
    return masked, options


def test_chunk_ranges_cover_every_item_once_within_the_limit() -> None:
    sizes = [5, 1, 7, 0, 3, 12, 2, 2]
    ranges = chunk_ranges(sizes, limit=6)
    assert [i for start, end in ranges for i in range(start, end)] == list(range(len(sizes)))
    assert all(sum(sizes[start:end]) <= 6 or end - start == 1 for start, end in ranges)


def test_chunked_tokens_and_trigrams_equal_one_pass(big_batch: tuple[list[str], list[list[str]]]) -> None:
    flat = [option for row in big_batch[1] for option in row] + ["", "a\x00b", "ΟΔΟΣ Σ"]
    for chunked, whole in ((hashed_tokens(flat), _hashed_tokens(flat, True)), (char_trigrams(flat), _char_trigrams(flat))):
        assert np.array_equal(chunked[0], whole[0]) and np.array_equal(chunked[1], whole[1])


def test_chunked_centroid_equals_one_pass(big_batch: tuple[list[str], list[list[str]]]) -> None:
    masked, options = big_batch
    features = BatchFeatures([*masked, "[MASK]", "[MASK] x"], [*options, [], ["only one"]])  # items of 0 and 1 options too
    whole = _centroid_scores(features.flat_options, features.option_counts)
    assert np.array_equal(CentroidOption().score_features(features), whole)


def _audit_peak(items: int) -> tuple[int, int]:
    """Peak traced bytes of scoring ``items`` tasks with every cheap solver, and their characters."""
    masked, options = _batch(items, seed=items)
    table = pa.table({"masked_text": masked, "options": options, "answer": ["A"] * len(masked)})
    chars = sum(map(len, masked)) + sum(len(option) for row in options for option in row)
    accumulator = AuditAccumulator(default_solvers(), keep_solved_by=False)
    tracemalloc.start()
    try:
        accumulator.add(table)
        return tracemalloc.get_traced_memory()[1], chars
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_audit_memory_grows_by_a_few_bytes_per_character() -> None:
    """A larger batch takes memory in proportion to its tokens, not several arrays of 8 bytes
    per character (one pass took 52 bytes more per character: 620 MB for 3,000 real tasks)."""
    small, large = _audit_peak(300), _audit_peak(1200)
    per_char = (large[0] - small[0]) / (large[1] - small[1])
    assert per_char < 20, f"{per_char:.1f} bytes more per character"


def _passage_rows(first: int, count: int) -> pa.Table:
    rows = []
    for k in range(first, first + count):
        gold = f"Step {k} adds {k} to the total."
        text = f"Passage {k} is about item {k}. {gold} Then item {k} is stored. The total grows by {k}."
        rows.append({"source_id": f"p{k}", "domain": "math", "text": text, "gold": gold,
                     "span_start": text.index(gold), "span_end": text.index(gold) + len(gold)})
    return pa.Table.from_pylist(rows)


def test_a_stream_without_checkpoints_keeps_no_passage_beyond_the_pool() -> None:
    """Pipeline.stream asks for no checkpoint: CorpusDistractors holds its pool and nothing more."""
    step = CorpusDistractors(max_perturbations=0, pool_passages=5)
    step.start_run()
    for first in range(0, 42, 3):
        step.process(_passage_rows(first, 3), RunContext())
    assert step.run_memory()["pool_passages"] == 5
    state = step.checkpoint().decode().splitlines()  # the first checkpoint: the pool, not the 42 passages seen
    assert len(state) == 1 + 5 and "ring_next" in state[0]


def test_a_pool_that_wrapped_before_its_first_checkpoint_resumes_the_same() -> None:
    """Restoring the first checkpoint (the whole pool, ring position included) and the later
    ones gives the same pool, so a resumed run borrows the same spans."""
    first = CorpusDistractors(max_perturbations=0, pool_passages=5)
    first.start_run()
    saved = []
    for start in (0, 7, 10):  # 7 passages before the first checkpoint: the ring has wrapped
        first.process(_passage_rows(start, 7 if start == 0 else 3), RunContext())
        saved.append(first.checkpoint())
    resumed = CorpusDistractors(max_perturbations=0, pool_passages=5)
    resumed.start_run()
    resumed.restore(saved)
    later = _passage_rows(13, 3)
    assert resumed.process(later, RunContext()).kept.to_pylist() == first.process(later, RunContext()).kept.to_pylist()
    assert resumed.checkpoint() == first.checkpoint()  # after a restore, checkpoints hold only what is new
