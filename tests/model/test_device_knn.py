import numpy as np

from geosiam.model.device_knn import knn_keras
from geosiam.ranking import knn, l2_normalise


def _places(n: int, seed: int) -> np.ndarray:
    return l2_normalise(np.random.default_rng(seed).normal(size=(n, 8)))


def test_keras_knn_matches_faiss():
    queries, database = _places(7, seed=2), _places(11, seed=3)
    faiss_scores, faiss_indices = knn(queries, database, 4)
    keras_scores, keras_indices = knn_keras(queries, database, 4, chunk=3)
    np.testing.assert_array_equal(keras_indices, faiss_indices)
    np.testing.assert_allclose(keras_scores, faiss_scores, atol=1e-5)


def test_keras_knn_of_no_queries_is_empty():
    scores, indices = knn_keras(np.zeros((0, 8), np.float32), _places(3, seed=1), 5)
    assert scores.shape == indices.shape == (0, 3)
