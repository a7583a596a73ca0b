"""Exact kNN on the Keras backend's device (GPU/TPU), for mining while training.

The same answers as :func:`geosiam.ranking.knn` (FAISS on the CPU), without copying every
descriptor back to the host: a chunked matmul and ``top_k`` on the device.
"""

from __future__ import annotations

import numpy as np
from keras import ops


def knn_keras(
    queries: np.ndarray, database: np.ndarray, k: int, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar database rows of each query: (scores, indices), best first.

    The database stays on the device; queries go by chunks so that the score matrix of one chunk
    (chunk x database floats) bounds the memory.
    """
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
