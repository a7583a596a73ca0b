"""Exact k-nearest-neighbour search on L2-normalised descriptors (cosine = inner product).

FAISS ``IndexFlatIP`` is exact and right up to millions of vectors (see peers.md); it runs on
the CPU here. Descriptors must be float32 and L2-normalised.
"""

from __future__ import annotations

import numpy as np


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def knn(queries: np.ndarray, database: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar database rows of each query: (scores, indices), best first."""
    import faiss

    database = np.ascontiguousarray(database, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, len(database))
    index = faiss.IndexFlatIP(database.shape[1])
    index.add(database)
    scores, indices = index.search(queries, k)
    return scores, indices
