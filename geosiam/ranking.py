"""Ranking: exact kNN of descriptors and the retrieval metrics of its answers (numpy and FAISS).

kNN: FAISS ``IndexFlatIP`` on L2-normalised float32 descriptors (cosine = inner product), exact
and right up to millions of vectors; it runs on the CPU here.

Metrics, with one relevant item per query, the reference definition (Khokhlova et al., ICIP
2020): queries are the newer year, the database the older year, each query has exactly one
relevant database item (its own place). AP@k is then ``1/rank`` when the match is within the top
k, else 0, so MAP@k equals MRR@k, and ``recall@1 <= MAP@5 <= recall@5``::

    >>> ranks = np.array([1, 2, 6])
    >>> map_at_k(ranks, 5)
    0.5
    >>> recall_at_k(ranks, 5)
    0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ADD_ROWS = 65_536  # vectors handed to FAISS at a time

KnnFunction = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def knn(queries: np.ndarray, database: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar database rows of each query: (scores, indices), best first."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    return flat_index(database).search(queries, min(k, len(database)))


def flat_index(database: np.ndarray):
    """An exact FAISS inner-product index (``IndexFlatIP``) holding ``database``."""
    import faiss  # lazy: FAISS loads its native library; prepare and --help never need it

    index = faiss.IndexFlatIP(np.shape(database)[1])
    add_rows(index, database)
    return index


def add_rows(index, vectors: np.ndarray, rows: int = ADD_ROWS) -> None:
    """Add ``vectors`` to a FAISS index ``rows`` at a time, so that a memory-mapped array is
    never copied whole into memory beside the index."""
    for start in range(0, len(vectors), rows):
        index.add(np.ascontiguousarray(vectors[start : start + rows], dtype=np.float32))


@dataclass(frozen=True)
class Retrieval:
    """The top-k answers to every query and the rank of each true match (0 = absent)."""

    ranks: np.ndarray  # (n_queries,) 1-based rank of each query's true match; 0 = beyond k
    neighbours: np.ndarray  # (n_queries, k) database indices, best first
    scores: np.ndarray  # (n_queries, k) cosine similarities, best first


def retrieve(queries: np.ndarray, database: np.ndarray, k: int, search: KnnFunction = knn) -> Retrieval:
    """kNN of aligned sets, where query ``i``'s true match is database row ``i``."""
    scores, neighbours = search(queries, database, k)
    return Retrieval(match_ranks(neighbours, np.arange(len(queries))), neighbours, scores)


def match_ranks(neighbours: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1-based rank of each query's true match in its neighbour list; 0 when absent.

    ``neighbours`` is (n_queries, k) database indices, best first; ``truth`` (n_queries,)
    the index of each query's relevant item.
    """
    hits = neighbours == np.asarray(truth)[:, None]
    found = hits.any(axis=1)
    return np.where(found, hits.argmax(axis=1) + 1, 0)


def map_at_k(ranks: np.ndarray, k: int = 5) -> float:
    """Mean average precision at k with one relevant item: mean of 1/rank within k."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return float("nan")
    within = (ranks >= 1) & (ranks <= k)
    return float(np.where(within, 1.0 / np.maximum(ranks, 1), 0.0).mean())


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of queries whose match is within the top k."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return float("nan")
    return float(((ranks >= 1) & (ranks <= k)).mean())


def summary(ranks: np.ndarray) -> dict[str, float]:
    """The figures geosiam reports for one model and direction."""
    return {
        "map_at_5": map_at_k(ranks, 5),
        "recall_at_1": recall_at_k(ranks, 1),
        "recall_at_5": recall_at_k(ranks, 5),
        "recall_at_10": recall_at_k(ranks, 10),
        "n_queries": int(np.asarray(ranks).size),
    }


def recall_curve(ranks: np.ndarray, max_k: int) -> np.ndarray:
    """recall@1 .. recall@max_k, for plotting (entry ``k - 1`` is recall@k)."""
    return np.array([recall_at_k(ranks, k) for k in range(1, max_k + 1)])


def rank_bands(ranks: np.ndarray, edges: tuple[int, ...] = (1, 5, 10)) -> np.ndarray:
    """Band index of each rank: 0 for rank 1, 1 for 2..5, 2 for 6..10, 3 beyond or absent.

    ``edges`` are the last ranks of each band; a rank of 0 (not found) falls in the last band.
    Used to colour failure maps.
    """
    ranks = np.asarray(ranks)
    bands = np.searchsorted(np.asarray(edges), ranks, side="left")
    return np.where(ranks >= 1, bands, len(edges))
