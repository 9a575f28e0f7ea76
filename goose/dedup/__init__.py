"""Near-duplicate detection: MinHash signatures and LSH banding (see :mod:`goose.dedup.minhash`).

>>> find_duplicates(["same words in this one text", "same words in this one text"]).tolist()
[0, 0]
"""

from goose.dedup.minhash import (
    MinHashParams,
    all_duplicate_pairs,
    band_keys,
    bucket_edges,
    candidate_pairs,
    cluster_first,
    duplicate_clusters,
    duplicate_pairs,
    estimated_jaccard,
    find_duplicates,
    optimal_bands_rows,
    reference_duplicate_pairs,
    shingle_hashes,
    shingles,
    signatures,
)

__all__ = [
    "MinHashParams",
    "all_duplicate_pairs",
    "band_keys",
    "bucket_edges",
    "candidate_pairs",
    "cluster_first",
    "duplicate_clusters",
    "duplicate_pairs",
    "estimated_jaccard",
    "find_duplicates",
    "optimal_bands_rows",
    "reference_duplicate_pairs",
    "shingle_hashes",
    "shingles",
    "signatures",
]
