"""FAISS indexes of descriptors: every kind finds the exact top 5, tuning, training limits."""

import numpy as np
import pytest

from geosiam.errors import SettingsError
from geosiam.mining import ann
from geosiam.ranking import knn, l2_normalise

DIM = 16


def clustered(rows: int, seed: int = 0) -> np.ndarray:
    """Unit descriptors in 40 Gaussian clusters, like places of a few kinds of landscape."""
    rng = np.random.default_rng(seed)
    centres = l2_normalise(rng.standard_normal((40, DIM)))
    labels = rng.integers(40, size=rows)
    return l2_normalise(centres[labels] + 0.15 * rng.standard_normal((rows, DIM)))


@pytest.fixture(scope="module")
def data():
    vectors = clustered(10_000)
    rng = np.random.default_rng(1)
    queries = l2_normalise(vectors[:300] + 0.02 * rng.standard_normal((300, DIM)))
    return vectors, queries, knn(queries, vectors, 5)[1]


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw", "ivfpq"])
def test_each_kind_finds_the_exact_top_five_once_tuned(data, kind):
    vectors, queries, exact = data
    index = ann.build_index(vectors, kind)
    assert ann.kind_of(index) == kind and index.ntotal == len(vectors)
    tuning = ann.self_tune(index, vectors)
    assert tuning.recall >= ann.TARGET_RECALL
    scores, found = ann.search(index, queries, 5, vectors)
    assert ann.recall_at_k(found, exact) >= 0.97
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    assert tuning.parameter == {"flat": "", "hnsw": "efSearch"}.get(kind, "nprobe")


def test_an_approximate_index_below_its_tuning_misses_neighbours(data):
    vectors, queries, exact = data
    index = ann.build_index(vectors, "ivf")
    ann.set_tuning(index, 1)
    one_list = ann.recall_at_k(ann.search(index, queries, 5)[1], exact)
    ann.set_tuning(index, ann.nlist_of(index))
    assert one_list < ann.recall_at_k(ann.search(index, queries, 5)[1], exact) == 1.0


def test_ivfpq_reranks_its_candidates_with_the_exact_vectors(data):
    vectors, queries, exact = data
    index = ann.build_index(vectors, "ivfpq")
    ann.set_tuning(index, ann.nlist_of(index))
    codes_only = ann.search(index, queries, 5)
    reranked = ann.search(index, queries, 5, vectors)
    assert ann.recall_at_k(reranked[1], exact) > ann.recall_at_k(codes_only[1], exact)
    picked = vectors[reranked[1][0]]
    assert np.allclose(reranked[0][0], picked @ queries[0], atol=1e-5)


@pytest.mark.parametrize("kind", ["ivf", "ivfpq"])
def test_too_few_descriptors_to_train_a_quantiser_is_a_one_line_error(kind):
    with pytest.raises(SettingsError, match=r"needs at least \d+ descriptors to train.*--kind flat"):
        ann.build_index(clustered(ann.minimum_rows(kind) - 1), kind)


def test_auto_is_exact_up_to_the_measured_size_and_ivf_above():
    assert ann.choose_kind("auto", ann.EXACT_UP_TO) == "flat"
    assert ann.choose_kind("auto", ann.EXACT_UP_TO + 1) == "ivf"
    assert ann.choose_kind("hnsw", 10) == "hnsw"
    with pytest.raises(SettingsError, match="unknown index kind 'lsh'"):
        ann.choose_kind("lsh", 10)


def test_fewer_results_than_asked_are_marked_missing():
    vectors = clustered(50)
    index = ann.build_index(vectors, "flat")
    scores, rows = ann.search(index, vectors[:2], 80)
    assert rows.shape == (2, 50) and (rows >= 0).all()
    candidates = np.array([[3, -1, 7]])
    best_scores, best = ann.rerank(vectors[:1], candidates, vectors, 3)
    assert list(best[0][:2]) in ([3, 7], [7, 3]) and best[0][2] == -1 and np.isneginf(best_scores[0][2])


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw", "ivfpq"])
def test_a_search_among_some_rows_finds_their_exact_top_five_at_the_tuned_setting(data, kind):
    vectors, queries, _ = data
    among = np.arange(0, len(vectors), 3)  # a third of the places, as a split of them
    index = ann.build_index(vectors, kind)
    ann.self_tune(index, vectors)
    scores, found = ann.search(index, queries, 5, vectors, among)
    assert np.isin(found, among).all() and np.all(np.diff(scores, axis=1) <= 1e-6)
    exact = among[knn(queries, vectors[among], 5)[1]]
    assert ann.recall_at_k(found, exact) >= 0.97
    if kind.startswith("ivf"):  # the tuned nprobe, not FAISS's default of 1 list, which misses some
        ann.set_tuning(index, 1)
        assert ann.recall_at_k(ann.search(index, queries, 5, vectors, among)[1], exact) < 0.97
