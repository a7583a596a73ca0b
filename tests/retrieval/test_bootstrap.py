"""Block-bootstrap intervals on hand-made per-place values."""

import numpy as np
import pytest

from geosiam.ranking import map_at_k, recall_at_k
from geosiam.retrieval.bootstrap import (
    block_counts,
    bootstrap_ci,
    hits,
    mean_ci,
    paired_bootstrap_ci,
    paired_mean_ci,
    reciprocal_ranks,
    verdict,
)


def test_per_place_values_average_to_the_reported_metrics():
    ranks = np.array([1, 2, 6, 0, 5, 3])
    assert reciprocal_ranks(ranks, 5).mean() == pytest.approx(map_at_k(ranks, 5))
    assert hits(ranks, 5).mean() == pytest.approx(recall_at_k(ranks, 5))


def test_each_resample_draws_whole_blocks_as_many_as_there_are():
    blocks = np.array(["a", "a", "b", "c", "c", "c"])
    counts, block_of_place = block_counts(blocks, resamples=1000, seed=1)
    assert counts.shape == (1000, 3)
    assert (counts.sum(axis=1) == 3).all()
    assert block_of_place.tolist() == [0, 0, 1, 2, 2, 2]
    assert (counts == 3).any() and (counts == 0).any()  # with replacement


def test_interval_contains_the_estimate_and_is_seeded():
    rng = np.random.default_rng(0)
    blocks = np.repeat(np.arange(20), 10)
    values = rng.random(200)
    low, high = mean_ci(values, blocks, seed=3)
    assert low < values.mean() < high
    assert mean_ci(values, blocks, seed=3) == (low, high)
    assert mean_ci(values, blocks, seed=4) != (low, high)


def test_blocks_not_places_are_the_unit():
    """Places alike within a block: the block interval is much wider than a place bootstrap's."""
    blocks = np.repeat(np.arange(10), 50)
    values = np.repeat(np.linspace(0, 1, 10), 50)  # every place of a block has the same value
    low, high = mean_ci(values, blocks)
    per_place = mean_ci(values, np.arange(values.size))
    assert (high - low) > 3 * (per_place[1] - per_place[0])


def test_constant_values_give_a_point_interval():
    assert mean_ci(np.full(30, 0.4), np.repeat(np.arange(6), 5)) == pytest.approx((0.4, 0.4))


def test_a_single_block_gives_an_unknown_interval():
    low, high = mean_ci(np.array([0.1, 0.9, 0.5]), np.array(["b0", "b0", "b0"]))
    assert np.isnan(low) and np.isnan(high)
    assert verdict((low, high)) == "unknown"


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="one per place"):
        mean_ci(np.ones(4), np.zeros(3))
    with pytest.raises(ValueError, match="same places"):
        paired_mean_ci(np.ones(4), np.ones(3), np.zeros(4))


def test_paired_interval_sees_a_small_consistent_gain_that_unpaired_intervals_miss():
    rng = np.random.default_rng(2)
    blocks = np.repeat(np.arange(15), 8)
    difficulty = np.repeat(rng.random(15), 8)  # blocks differ a lot
    a = difficulty + 0.03
    b = difficulty
    low_a, high_a = mean_ci(a, blocks)
    low_b, high_b = mean_ci(b, blocks)
    assert low_a < high_b  # the two separate intervals overlap
    difference = paired_mean_ci(a, b, blocks)
    assert difference == pytest.approx((0.03, 0.03))
    assert verdict(difference) == "above"
    assert verdict(paired_mean_ci(b, a, blocks)) == "below"


def test_noise_alone_is_indistinguishable():
    rng = np.random.default_rng(5)
    blocks = np.repeat(np.arange(12), 10)
    a = rng.random(120)
    assert verdict(paired_mean_ci(a, a + rng.normal(0, 0.01, 120), blocks)) == "indistinguishable"


def test_a_general_statistic_matches_the_fast_mean_path():
    rng = np.random.default_rng(7)
    blocks = np.repeat(np.arange(8), 6)
    values = rng.random(48)
    general = bootstrap_ci(lambda places: values[places].mean(), blocks, resamples=1000, seed=9)
    assert general == pytest.approx(mean_ci(values, blocks, resamples=1000, seed=9))
    other = rng.random(48)
    paired = paired_bootstrap_ci(lambda p: values[p].mean(), lambda p: other[p].mean(), blocks, seed=9)
    assert paired == pytest.approx(paired_mean_ci(values, other, blocks, seed=9))


def test_undefined_resamples_are_left_out():
    blocks = np.repeat(np.arange(6), 2)
    labels = np.array([0, 0, 1, 1] + [0] * 8)

    def share_of_positives_among_labelled(places):
        return np.nan if labels[places].sum() == 0 else labels[places].mean()

    low, high = bootstrap_ci(share_of_positives_among_labelled, blocks)
    assert 0 < low <= high <= 1
