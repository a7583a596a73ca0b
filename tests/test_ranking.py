"""kNN and retrieval metrics on hand-made descriptors and rankings."""

import numpy as np
import pytest

from geosiam.ranking import (
    l2_normalise,
    map_at_k,
    match_ranks,
    rank_bands,
    recall_at_k,
    recall_curve,
    retrieve,
    summary,
)


def test_retrieve_ranks_each_query_against_its_aligned_match():
    database = np.eye(4, dtype=np.float32)
    queries = database[[0, 2, 1, 3]]  # query 1 looks like item 2, query 2 like item 1
    result = retrieve(queries, database, 10)
    assert result.ranks[0] == 1 and result.ranks[3] == 1
    assert result.ranks[1] > 1 and result.ranks[2] > 1
    assert result.neighbours[1, 0] == 2 and result.scores[0, 0] == pytest.approx(1)
    assert result.neighbours.shape == (4, 4)  # k is capped at the database size


def test_retrieve_uses_the_search_it_is_given_and_ranks_beyond_k_as_zero():
    def last_rows_first(queries, database, k):
        order = np.arange(len(database))[::-1][:k]
        return np.zeros((len(queries), k)), np.tile(order, (len(queries), 1))

    ranks = retrieve(np.eye(3), np.eye(3), 2, last_rows_first).ranks
    assert ranks.tolist() == [0, 2, 1]


def test_l2_normalise_gives_unit_rows_and_keeps_zero_rows():
    rows = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert rows.dtype == np.float32
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


@pytest.mark.parametrize(("rank", "expected"), [(1, 1.0), (2, 0.5), (3, 1 / 3), (5, 0.2), (6, 0.0), (0, 0.0)])
def test_map_at_5_is_reciprocal_rank_within_top_5(rank, expected):
    assert map_at_k(np.array([rank]), 5) == pytest.approx(expected)


def test_map_at_5_averages_queries_and_sits_between_recalls():
    ranks = np.array([1, 2, 6, 0])
    assert map_at_k(ranks, 5) == pytest.approx((1 + 0.5) / 4)
    assert recall_at_k(ranks, 1) <= map_at_k(ranks, 5) <= recall_at_k(ranks, 5)


def test_match_ranks_finds_the_true_item_or_zero():
    neighbours = np.array([[3, 0, 1], [1, 2, 0], [0, 1, 2]])
    truth = np.array([3, 0, 7])
    assert match_ranks(neighbours, truth).tolist() == [1, 3, 0]


def test_recall_at_k_counts_hits_within_k():
    ranks = np.array([1, 2, 6, 0, 10, 11])
    assert recall_at_k(ranks, 1) == pytest.approx(1 / 6)
    assert recall_at_k(ranks, 5) == pytest.approx(2 / 6)
    assert recall_at_k(ranks, 10) == pytest.approx(4 / 6)


def test_empty_rankings_give_nan_not_zero():
    assert np.isnan(map_at_k(np.array([]), 5)) and np.isnan(recall_at_k(np.array([]), 1))


def test_recall_curve_rises_to_recall_at_max_k():
    curve = recall_curve(np.array([1, 2, 6, 0]), 6)
    assert curve.tolist() == [0.25, 0.5, 0.5, 0.5, 0.5, 0.75]


def test_rank_bands_split_first_top5_top10_and_misses():
    assert rank_bands(np.array([1, 2, 5, 6, 10, 11, 0])).tolist() == [0, 1, 1, 2, 2, 3, 3]


def test_summary_has_the_reported_keys():
    figures = summary(np.array([1, 3]))
    assert figures == {
        "map_at_5": pytest.approx(2 / 3),
        "recall_at_1": 0.5,
        "recall_at_5": 1.0,
        "recall_at_10": 1.0,
        "n_queries": 2,
    }
