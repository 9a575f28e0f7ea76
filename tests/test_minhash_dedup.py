"""Tests of goose.dedup.minhash and the MinHashDedup operator: drops, stability, agreement with datasketch."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from datasketch.lsh import _optimal_param

from goose import Pipeline
from goose.dedup import (
    MinHashParams,
    all_duplicate_pairs,
    band_keys,
    bucket_edges,
    candidate_pairs,
    cluster_first,
    duplicate_clusters,
    duplicate_pairs,
    find_duplicates,
    reference_duplicate_pairs,
    shingle_hashes,
    shingles,
    signatures,
)
from goose.operators.minhash_dedup import MinHashDedup
from goose.pipeline import RunContext

WORDS = np.array([f"w{i}" for i in range(3000)])


def random_text(rng: np.random.Generator, size: int = 120) -> str:
    return " ".join(WORDS[rng.integers(0, len(WORDS), size)])


def edit(text: str, rng: np.random.Generator, changes: int) -> str:
    words = text.split()
    for position in rng.choice(len(words), size=changes, replace=False):
        words[position] = "changed" + str(position)
    return " ".join(words)


@pytest.fixture
def corpus() -> list[str]:
    rng = np.random.default_rng(7)
    base = [random_text(rng) for _ in range(6)]
    # 0: original, 1: exact copy of 0, 2: different, 3: near copy of 0 (2 words of 120), 4: different
    return [base[0], base[0], base[1], edit(base[0], rng, 2), base[2]]


def dedup(rows: list[dict], batch_size: int = 64, **params) -> tuple[list[str], list[tuple[str, str]]]:
    result = Pipeline([MinHashDedup(**params)], batch_size=batch_size).run(rows)
    rejects = list(zip(result.rejects.column("source_id").to_pylist(), result.rejects.column("detail").to_pylist()))
    return result.tasks.column("source_id").to_pylist(), rejects


def test_exact_and_near_duplicates_dropped_different_kept(corpus: list[str]) -> None:
    rows = [{"source_id": f"d{i}", "text": text} for i, text in enumerate(corpus)]
    kept, rejects = dedup(rows)
    assert kept == ["d0", "d2", "d4"]
    assert [source for source, _ in rejects] == ["d1", "d3"]
    assert all(detail.startswith("near-duplicate of source_id d0 (estimated Jaccard") for _, detail in rejects)
    result = Pipeline([MinHashDedup()]).run(rows)
    assert set(result.rejects.column("reason").to_pylist()) == {"near_duplicate"} and result.accounted


@pytest.mark.parametrize("batch_size", [1, 2, 3, 64])
def test_same_result_for_any_batch_size(corpus: list[str], batch_size: int) -> None:
    rows = [{"source_id": f"d{i}", "text": text} for i, text in enumerate(corpus)]
    assert dedup(rows, batch_size=batch_size) == dedup(rows)


def test_first_copy_is_kept_whatever_the_order(corpus: list[str]) -> None:
    rows = [{"source_id": f"d{i}", "text": text} for i, text in enumerate(corpus)]
    reordered = [rows[3], rows[2], rows[0], rows[4], rows[1]]
    kept, rejects = dedup(reordered, batch_size=2)
    assert kept == ["d3", "d2", "d4"]
    assert [source for source, _ in rejects] == ["d0", "d1"]
    assert all("source_id d3" in detail for _, detail in rejects)


def test_start_run_clears_the_index(corpus: list[str]) -> None:
    operator = MinHashDedup()
    pipeline = Pipeline([operator], batch_size=2)
    rows = [{"text": text} for text in corpus]
    first, second = pipeline.run(rows), pipeline.run(rows)
    assert first.tasks.num_rows == second.tasks.num_rows == 3


def test_tasks_dedup_on_masked_text_and_gold() -> None:
    rng = np.random.default_rng(3)
    passage = random_text(rng, 80)
    rows = [
        {"id": "t0", "masked_text": passage, "gold": "we add both sides"},
        {"id": "t1", "masked_text": passage, "gold": "we add both sides"},
        {"id": "t2", "masked_text": passage, "gold": random_text(rng, 80)},
    ]
    result = Pipeline([MinHashDedup(fields=["masked_text", "gold"])]).run(rows)
    assert result.tasks.column("id").to_pylist() == ["t0", "t2"]
    assert "id t0" in result.rejects.column("detail")[0].as_py()


def test_blank_and_missing_text_kept_without_crash() -> None:
    rows = [{"text": ""}, {"text": "   \n "}, {"text": None}, {"text": "!!! ..."}, {"text": "short"}, {"text": "short"}]
    result = Pipeline([MinHashDedup()]).run(rows)
    assert result.tasks.column("text").to_pylist() == ["", "   \n ", None, "!!! ...", "short"]
    assert result.rejects.column("reason").to_pylist() == ["near_duplicate"]
    assert Pipeline([MinHashDedup()]).run([]).tasks.num_rows == 0


def test_signatures_deterministic_across_processes() -> None:
    texts = ["Über straße naïve café", "one two three four five six seven", "x"]
    here = signatures(texts, MinHashParams(seed=5))
    code = (
        "import sys, numpy as np; from goose.dedup import signatures, MinHashParams; "
        f"sys.stdout.write(signatures({texts!r}, MinHashParams(seed=5)).tobytes().hex())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert here.tobytes().hex() == other
    assert not np.array_equal(here, signatures(texts, MinHashParams(seed=6)))


def test_shingle_hashes_match_the_reference_shingle_sets() -> None:
    for params in (MinHashParams(), MinHashParams(shingle_unit="char", shingle_size=4), MinHashParams(shingle_size=3)):
        texts = ["The cat, the hat; and THE bat!", "tiny", "", "alpha beta gamma delta epsilon zeta eta theta"]
        hashes, owner = shingle_hashes(texts, params)
        for index, text in enumerate(texts):
            assert len(set(hashes[owner == index].tolist())) == len(shingles(text, params))


def test_bands_rows_match_datasketch() -> None:
    for threshold, num_perm in [(0.5, 64), (0.7, 128), (0.8, 256), (0.9, 128)]:
        assert MinHashParams(threshold=threshold, num_perm=num_perm).bands_rows == _optimal_param(threshold, num_perm, 0.5, 0.5)


def test_estimated_jaccard_is_close_to_true_jaccard() -> None:
    rng = np.random.default_rng(11)
    params = MinHashParams(num_perm=256, shingle_size=1)
    errors = []
    for _ in range(40):
        a = set(rng.choice(5000, size=300, replace=False).tolist())
        b = set(list(a)[: int(rng.integers(50, 300))]) | set(rng.choice(5000, size=100).tolist())
        sig = signatures([" ".join(f"t{x}" for x in a), " ".join(f"t{x}" for x in b)], params)
        errors.append(float((sig[0] == sig[1]).mean()) - len(a & b) / len(a | b))
    assert abs(np.mean(errors)) < 0.02 and np.std(errors) < 0.05


def test_fast_path_agrees_with_datasketch() -> None:
    rng = np.random.default_rng(5)
    originals = [random_text(rng, int(rng.integers(120, 200))) for _ in range(300)]
    copies = [edit(originals[i], rng, int(rng.integers(1, 3))) for i in range(60)]  # Jaccard ~0.8-0.95
    texts = originals + copies
    truth = {(i, 300 + i) for i in range(60)}
    params = MinHashParams()
    fast = set(map(tuple, all_duplicate_pairs(signatures(texts, params), params).tolist()))
    reference = set(map(tuple, reference_duplicate_pairs(texts, params).tolist()))
    for found in (fast, reference):
        assert len(found & truth) / len(truth) >= 0.9 and len(found & truth) / max(len(found), 1) >= 0.95
    assert abs(len(fast & truth) - len(reference & truth)) / len(truth) <= 0.05
    kept = find_duplicates(texts, params)
    assert (kept[300:] == np.arange(60)).mean() >= 0.9 and (kept[:300] == np.arange(300)).all()


def test_verify_removes_low_similarity_candidates() -> None:
    rng = np.random.default_rng(9)
    text = random_text(rng, 100)
    half = " ".join(text.split()[:50] + random_text(rng, 50).split())
    assert len(duplicate_pairs(signatures([text, half], MinHashParams(threshold=0.3, verify=True)),
                               MinHashParams(threshold=0.3, verify=True))) == 0


def test_signature_of_a_text_does_not_depend_on_its_batch() -> None:
    rng = np.random.default_rng(2)
    texts = [random_text(rng, int(rng.integers(1, 60))) for _ in range(1500)]  # more than one internal chunk
    together = signatures(texts, MinHashParams())
    for index in (0, 1023, 1024, 1499):
        assert np.array_equal(together[index], signatures([texts[index]], MinHashParams())[0])


def test_chained_near_duplicates_give_the_same_result_for_every_batch_size():
    import random

    from goose.dedup.minhash import MinHashParams

    rng = random.Random(1)
    vocabulary = [f"w{i}" for i in range(5000)]
    x = [rng.choice(vocabulary) for _ in range(60)]
    y = [rng.choice(vocabulary) for _ in range(60)]
    z = x[:40] + y[:20]  # like x in its head, like the row "y" below in its tail
    rows = [{"source_id": "x", "text": " ".join(x)}, {"source_id": "y", "text": " ".join(z[20:] + y[20:40])},
            {"source_id": "z", "text": " ".join(z)}]
    for threshold in (0.3, 0.4, 0.5):
        outputs = {
            tuple(Pipeline([MinHashDedup(minhash=MinHashParams(threshold=threshold))], batch_size=size)
                  .run(rows).tasks.column("source_id").to_pylist())
            for size in (1, 2, 3)
        }
        assert len(outputs) == 1, (threshold, outputs)


# -- checkpoint and restore: a resumed run drops what an uninterrupted one drops ---------------


def _near_duplicate_rows(count: int = 60) -> list[dict]:
    """Rows where later ones often copy or lightly edit earlier ones, some blank, ids in Unicode."""
    rng = np.random.default_rng(11)
    rows: list[dict] = []
    for i in range(count):
        written = [row["text"] for row in rows if row["text"].strip()]
        if written and rng.random() < 0.4:
            text = edit(written[int(rng.integers(0, len(written)))], rng, 2)
        elif rng.random() < 0.05:
            text = "  "
        else:
            text = random_text(rng, 80)
        rows.append({"source_id": f"doc-{i}-é", "text": text})
    return rows


def _outcomes(operator: MinHashDedup, batches: list[pa.Table]) -> list[tuple[list[str], list[tuple[int, str]]]]:
    results = [operator.process(batch, RunContext()) for batch in batches]
    return [(r.kept.column("source_id").to_pylist(), [(d.index, d.detail) for d in r.drops]) for r in results]


@pytest.mark.parametrize("params", [MinHashParams(), MinHashParams(threshold=0.5, verify=True, num_perm=64)])
def test_restore_from_checkpoints_continues_the_run_exactly(params: MinHashParams) -> None:
    table = pa.Table.from_pylist(_near_duplicate_rows())
    batches = [table.slice(start, 7) for start in range(0, table.num_rows, 7)]
    whole = MinHashDedup(minhash=params)
    whole.start_run()
    expected, checkpoints = [], []
    for batch in batches:
        expected += _outcomes(whole, [batch])
        checkpoints.append(whole.checkpoint())
    assert sum(len(drops) for _, drops in expected) >= 10  # the test exercises cross-batch drops
    for stop in range(len(batches) + 1):
        resumed = MinHashDedup(minhash=params)
        resumed.start_run()
        resumed.restore(checkpoints[:stop])
        assert _outcomes(resumed, batches[stop:]) == expected[stop:], stop
    # A checkpoint taken after a restore holds only what came after it.
    resumed = MinHashDedup(minhash=params)
    resumed.start_run()
    resumed.restore(checkpoints[:3])
    _outcomes(resumed, batches[3:5])
    again = MinHashDedup(minhash=params)
    again.start_run()
    again.restore([*checkpoints[:3], resumed.checkpoint()])
    assert _outcomes(again, batches[5:]) == expected[5:]


def test_checkpoints_are_plain_numpy_and_compact() -> None:
    operator = MinHashDedup()
    operator.start_run()
    rows = _near_duplicate_rows(200)
    operator.process(pa.Table.from_pylist(rows), RunContext())
    state = operator.checkpoint()
    with np.load(io.BytesIO(state), allow_pickle=False) as archive:  # no pickle anywhere
        kept = archive["kept_row"].size
    # num_perm uint32 values plus ~14 band entries per row: about 1 KB per row, never pickled dicts.
    assert kept > 50 and len(state) < 1200 * len(rows)
    empty = operator.checkpoint()  # nothing new since the previous checkpoint
    with np.load(io.BytesIO(empty), allow_pickle=False) as archive:
        assert archive["kept_row"].size == archive["index_key"].size == 0 and int(archive["rows_seen"]) == len(rows)


def test_restore_refuses_what_is_not_its_checkpoint() -> None:
    operator = MinHashDedup()
    operator.start_run()
    with pytest.raises(ValueError, match="not a MinHashDedup checkpoint.*new output folder"):
        operator.restore([b"garbage"])
    small = MinHashDedup(minhash=MinHashParams(num_perm=32))
    small.start_run()
    small.process(pa.table({"text": ["one two three four five six seven"]}), RunContext())
    state = small.checkpoint()
    with pytest.raises(ValueError, match="same minhash settings"):
        operator.restore([state])
    twice = MinHashDedup(minhash=MinHashParams(num_perm=32))
    twice.start_run()
    with pytest.raises(ValueError, match="repeats entries of an earlier one"):
        twice.restore([state, state])


# -- linear-time clustering and the compact run-wide index ------------------------------------


def _all_pairs_clusters(signature: np.ndarray, params: MinHashParams) -> np.ndarray:
    """The clusters the way they were made before: union-find over every candidate pair."""
    return cluster_first(signature.shape[0], all_duplicate_pairs(signature, params))


def _planted(rng: np.random.Generator, originals: int, copies: int, edits: int) -> list[str]:
    texts = [random_text(rng, int(rng.integers(40, 80))) for _ in range(originals)]
    for _ in range(copies):
        texts.append(edit(texts[int(rng.integers(len(texts)))], rng, int(rng.integers(0, edits + 1))))
    texts += ["", "  ", "x"]
    return [texts[i] for i in rng.permutation(len(texts))]


@pytest.mark.parametrize("params", [MinHashParams(), MinHashParams(threshold=0.4, num_perm=64),
                                    MinHashParams(verify=True), MinHashParams(threshold=0.5, verify=True, num_perm=64)])
def test_union_find_clusters_equal_all_pairs_clusters(params: MinHashParams) -> None:
    for seed in range(4):
        rng = np.random.default_rng(seed)
        signature = signatures(_planted(rng, 150, 250, 4), params)
        labels = duplicate_clusters(signature, params)
        assert np.array_equal(labels, _all_pairs_clusters(signature, params)), seed
        assert (labels != np.arange(labels.size)).sum() > 50  # the planted copies cluster
        pairs = duplicate_pairs(signature, params)
        assert len(pairs) == (labels != np.arange(labels.size)).sum()  # k - 1 pairs per cluster of k
        assert np.array_equal(cluster_first(labels.size, pairs), labels)


def test_bucket_edges_connect_what_all_pairs_connect() -> None:
    keys = np.random.default_rng(1).integers(0, 6, size=(300, 3)).astype(np.uint64)
    edges = bucket_edges(keys)
    assert len(edges) < len(candidate_pairs(keys)) / 5
    assert np.array_equal(cluster_first(300, edges), cluster_first(300, candidate_pairs(keys)))


@pytest.mark.parametrize("verify", [False, True])
def test_two_thousand_copies_are_one_cluster_with_few_edges(verify: bool) -> None:
    rng = np.random.default_rng(4)
    boilerplate = random_text(rng, 60)
    texts = [boilerplate] * 2000 + [random_text(rng, 60) for _ in range(200)]
    params = MinHashParams(verify=verify)
    signature = signatures(texts, params)
    labels = duplicate_clusters(signature, params)
    assert (labels[:2000] == 0).all() and (labels[2000:] == np.arange(2000, 2200)).all()
    assert len(duplicate_pairs(signature, params)) == 1999
    assert len(bucket_edges(band_keys(signature, params))) <= 1999 * params.bands  # never the 2M pairs


def test_operator_result_on_a_large_cluster_is_first_copy_kept() -> None:
    rng = np.random.default_rng(8)
    boilerplate = random_text(rng, 60)
    rows = [{"source_id": f"d{i}", "text": boilerplate if i % 3 == 0 else random_text(rng, 60)} for i in range(3000)]
    _, rejects = dedup(rows, batch_size=500)
    assert len(rejects) == 999 and all("source_id d0 " in detail for _, detail in rejects)


def test_cross_batch_duplicate_dropped_and_index_sized_by_kept_rows() -> None:
    rng = np.random.default_rng(6)
    texts = [random_text(rng, 80) for _ in range(300)]
    operator = MinHashDedup()
    operator.start_run()
    first = operator.process(pa.table({"text": texts}), RunContext())
    assert not first.drops
    entries, kept_rows = len(operator._index), len(operator._kept)
    assert entries == 300 * operator.minhash.bands and kept_rows == 300
    second = operator.process(pa.table({"text": ["unrelated words " * 20, texts[17] + " !"]}), RunContext())
    assert [(d.index, d.reason) for d in second.drops] == [(1, "near_duplicate")]
    assert "run-row:17 " in second.drops[0].detail
    # Exact copies add no index entry and no kept row; a distinct row adds one entry per band.
    operator.process(pa.table({"text": texts[:100]}), RunContext())
    assert len(operator._kept) == kept_rows + 1 and len(operator._index) == entries + operator.minhash.bands


def test_checkpoint_without_earlier_checkpoints_holds_the_whole_index() -> None:
    """A run that never checkpointed keeps no log; its first checkpoint dumps everything."""
    table = pa.Table.from_pylist(_near_duplicate_rows())
    batches = [table.slice(start, 9) for start in range(0, table.num_rows, 9)]
    whole = MinHashDedup()
    whole.start_run()
    _outcomes(whole, batches[:4])
    assert whole._unsaved is None
    state = whole.checkpoint()
    expected = _outcomes(whole, batches[4:])
    resumed = MinHashDedup()
    resumed.start_run()
    resumed.restore([state])
    assert _outcomes(resumed, batches[4:]) == expected


def test_the_index_survives_a_pickle_round_trip() -> None:
    """The Ray executor ships the operator's private state back to the driver as a pickle."""
    import pickle

    table = pa.Table.from_pylist(_near_duplicate_rows())
    operator = MinHashDedup()
    operator.start_run()
    _outcomes(operator, [table.slice(0, 30)])
    copy = MinHashDedup()
    for name, value in pickle.loads(pickle.dumps(dict(operator.__pydantic_private__ or {}))).items():
        setattr(copy, name, value)
    assert _outcomes(copy, [table.slice(30)]) == _outcomes(operator, [table.slice(30)])


# -- the run-wide index against plain Python dicts: many batches, many merges ----------------


def test_band_index_agrees_with_a_dict_over_many_merges() -> None:
    from goose.dedup.run_index import BandIndex

    rng = np.random.default_rng(12)
    bands = 5
    index, reference = BandIndex(bands), {}
    shared = rng.integers(0, 2**64, size=40, dtype=np.uint64)  # the same key in several bands
    for batch in range(120):
        size = int(rng.integers(1, 60))
        band = rng.integers(0, bands, size)
        key = np.where(rng.random(size) < 0.2, rng.choice(shared, size), rng.integers(0, 2**64, size, dtype=np.uint64))
        fresh = [(int(b), int(k)) not in reference for b, k in zip(band, key)]
        pairs = dict.fromkeys((int(b), int(k)) for (b, k), new in zip(zip(band, key), fresh) if new)
        values = np.arange(len(pairs)) + batch * 100
        index.add(np.array([b for b, _ in pairs], dtype=np.int64), np.array([k for _, k in pairs], dtype=np.uint64),
                  values)
        reference.update(zip(pairs, values.tolist()))
        wanted = np.concatenate((key, rng.integers(0, 2**64, 30, dtype=np.uint64)))
        wanted_band = rng.integers(0, bands, wanted.size)
        expected = [reference.get((int(b), int(k)), -1) for b, k in zip(wanted_band, wanted)]
        assert index.lookup_entries(wanted_band, wanted).tolist() == expected, batch
    table = rng.choice(np.array(list(reference), dtype=object), 200)
    keys = np.array([[k for _, k in table]] * bands, dtype=np.uint64).T
    assert index.lookup(keys).tolist() == [[reference.get((b, k), -1) for b in range(bands)] for _, k in table]
    band, key, value = index.entries()
    assert dict(zip(zip(band.tolist(), key.tolist()), value.tolist())) == reference and len(index) == len(reference)


def _sequential_reference(texts: list[str], labels: list[str], params: MinHashParams) -> tuple[list[int], list[str]]:
    """Brute force, one row at a time with a dict of every (band, key) seen: the rows kept and
    the drop details MinHashDedup must give whatever its index and batches."""
    signature = signatures(texts, params)
    keys = band_keys(signature, params).tolist()
    seen: dict[tuple[int, int], int] = {}  # (band, key) -> the kept row (position in ``kept``) it leads to
    kept: list[int] = []
    details: list[str] = []
    for row in range(len(texts)):
        if (signature[row] == 0xFFFFFFFF).all():
            kept.append(row)  # no shingles: kept, never matched, adds no key
            continue
        entries = [(band, key) for band, key in enumerate(keys[row])]
        match = None
        for hit in sorted({seen[entry] for entry in entries if entry in seen}):
            jaccard = float((signature[kept[hit]] == signature[row]).mean())
            if not params.verify or jaccard >= params.threshold:
                match = hit
                break
        if match is None:
            kept.append(row)
            match = len(kept) - 1
        else:
            details.append(f"near-duplicate of {labels[kept[match]]} (estimated Jaccard {jaccard:.2f})")
        for entry in entries:
            seen.setdefault(entry, match)
    return kept, details


@pytest.mark.parametrize("params", [MinHashParams(), MinHashParams(threshold=0.5, verify=True, num_perm=64)])
def test_operator_equals_a_brute_force_reference_on_thousands_of_near_duplicates(params: MinHashParams) -> None:
    rng = np.random.default_rng(13)
    texts: list[str] = []
    written: list[str] = []
    for _ in range(3000):  # half near-copies (0-4 of 40-80 words changed, copies of copies), a few blanks
        if written and rng.random() < 0.5:
            texts.append(edit(written[int(rng.integers(len(written)))], rng, int(rng.integers(0, 5))))
        else:
            texts.append(random_text(rng, int(rng.integers(40, 80))) if rng.random() > 0.01 else " ")
        written += [texts[-1]] if texts[-1].strip() else []
    labels = [f"source_id d{i}" for i in range(len(texts))]
    kept, details = _sequential_reference(texts, labels, params)
    table = pa.table({"source_id": [f"d{i}" for i in range(len(texts))], "text": texts})
    operator = MinHashDedup(minhash=params)
    operator.start_run()
    got_kept: list[int] = []
    got_details: list[str] = []
    for start in range(0, table.num_rows, 37):  # ~80 batches: the index merges its sorted runs many times
        result = operator.process(table.slice(start, 37), RunContext())
        got_kept += [int(source_id[1:]) for source_id in result.kept.column("source_id").to_pylist()]
        got_details += [drop.detail for drop in result.drops]
    assert 600 < len(details) < 2400  # many drops, many kept
    assert got_kept == kept and got_details == details


# -- kept rows' signatures on disk: same results, pickles carry the rows, RAM fallback -------


def test_signatures_live_on_disk_and_a_pickle_carries_them() -> None:
    """The signatures are in a temporary file, not in the arrays; a pickle holds their bytes
    (a path would mean nothing on another machine), so it unpickles after the file is gone."""
    import pickle

    from goose.dedup.run_index import _DiskRows

    table = pa.Table.from_pylist(_near_duplicate_rows(120))
    operator = MinHashDedup()
    operator.start_run()
    _outcomes(operator, [table.slice(0, 80)])
    kept = operator._kept
    assert isinstance(kept._signatures, _DiskRows) and kept._signatures.nbytes == 0
    rows, signature, labels = kept.since(0)
    assert signature.shape == (len(kept), 128)
    state = pickle.dumps(dict(operator.__pydantic_private__ or {}), protocol=4)
    assert len(state) > signature.nbytes
    kept._signatures.close()  # the original file is deleted before the copy is made
    copy = MinHashDedup()
    for name, value in pickle.loads(state).items():
        setattr(copy, name, value)
    assert copy._kept._signatures is not kept._signatures
    copy_rows, copy_signature, copy_labels = copy._kept.since(0)
    assert copy_rows.tolist() == rows.tolist() and copy_labels == labels
    assert np.array_equal(copy_signature, signature)
    assert all(np.array_equal(copy._kept.signature(i), signature[i]) for i in range(len(kept)))
    keys = band_keys(signature, copy.minhash)
    assert np.array_equal(copy._index.lookup(keys), operator._index.lookup(keys))
    reference = MinHashDedup()
    reference.start_run()
    _outcomes(reference, [table.slice(0, 80)])
    assert _outcomes(copy, [table.slice(80)]) == _outcomes(reference, [table.slice(80)])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts open files in /proc/self/fd")
def test_the_signature_file_is_closed_with_the_index() -> None:
    import gc
    import os

    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_files()
    operator = MinHashDedup()
    operator.start_run()
    operator.process(pa.table({"text": ["one two three four five six"]}), RunContext())
    assert open_files() == before + 1
    operator.start_run()  # a new run: the old index and its file go
    gc.collect()
    assert open_files() == before + 1
    del operator
    gc.collect()
    assert open_files() == before


def test_signatures_stay_in_ram_when_no_temporary_file_can_be_made(monkeypatch, tmp_path, caplog) -> None:
    import tempfile

    from goose.dedup.run_index import _Blocks

    table = pa.Table.from_pylist(_near_duplicate_rows())
    batches = [table.slice(start, 13) for start in range(0, table.num_rows, 13)]
    on_disk = MinHashDedup()
    on_disk.start_run()
    expected = _outcomes(on_disk, batches)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    in_ram = MinHashDedup()
    with caplog.at_level("WARNING", logger="goose.dedup.run_index"):
        in_ram.start_run()
    assert isinstance(in_ram._kept._signatures, _Blocks)
    assert [r.message.split(":")[0] for r in caplog.records] == ["MinHash signatures stay in RAM"]
    assert _outcomes(in_ram, batches) == expected
