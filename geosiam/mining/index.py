"""Exact k-nearest-neighbour search on L2-normalised descriptors (cosine = inner product).

FAISS ``IndexFlatIP`` is exact and right up to millions of vectors (see peers.md); it runs on
the CPU here. Descriptors must be float32 and L2-normalised.
"""

from __future__ import annotations

import numpy as np

ADD_ROWS = 65_536  # vectors handed to FAISS at a time


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
    import faiss

    index = faiss.IndexFlatIP(np.shape(database)[1])
    add_rows(index, database)
    return index


def add_rows(index, vectors: np.ndarray, rows: int = ADD_ROWS) -> None:
    """Add ``vectors`` to a FAISS index ``rows`` at a time, so that a memory-mapped array is
    never copied whole into memory beside the index."""
    for start in range(0, len(vectors), rows):
        index.add(np.ascontiguousarray(vectors[start : start + rows], dtype=np.float32))


def knn_keras(
    queries: np.ndarray, database: np.ndarray, k: int, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`knn` on the Keras backend's device (GPU/TPU): chunked matmul + top_k, exact.

    The database stays on the device; queries go by chunks so that the score matrix of one chunk
    (chunk x database floats) bounds the memory.
    """
    from keras import ops

    k = min(k, len(database))
    base = ops.convert_to_tensor(np.asarray(database, np.float32))
    scores, indices = [], []
    for start in range(0, len(queries), chunk):
        block = ops.convert_to_tensor(np.asarray(queries[start : start + chunk], np.float32))
        top_scores, top_indices = ops.top_k(ops.matmul(block, ops.transpose(base)), k)
        scores.append(ops.convert_to_numpy(top_scores))
        indices.append(ops.convert_to_numpy(top_indices).astype(np.int64))
    if not scores:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return np.concatenate(scores), np.concatenate(indices)
