"""Confidence intervals from a bootstrap over spatial blocks (pure numpy).

Neighbouring places are alike, so places are not independent draws: the splits are drawn in
spatial blocks, and so are the resamples here. Each resample draws as many blocks as there are,
with replacement, and takes every place of each drawn block; the 95% interval is the 2.5th and
97.5th percentiles of the statistic over the resamples (percentile bootstrap). A paired interval
resamples the same places for two methods, so what the two share (an easy block, a hard block)
cancels out of their difference.

Per-place figures are the mean of a per-place value: MAP@5 of the reciprocal rank within 5
(:func:`reciprocal_ranks`), recall@k of the hits (:func:`hits`). Those means are computed from
per-block sums, so 1000 resamples of thousands of places take milliseconds. Any other statistic
(an AUROC, say) goes through :func:`bootstrap_ci` with a function of the resampled place indices.

With fewer than two blocks there is nothing to resample between, and the interval is
``(nan, nan)``: unknown, rather than falsely exact.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95

Interval = tuple[float, float]


def reciprocal_ranks(ranks: np.ndarray, k: int = 5) -> np.ndarray:
    """Per place ``1/rank`` when its match is within k, else 0: their mean is MAP@k."""
    ranks = np.asarray(ranks)
    within = (ranks >= 1) & (ranks <= k)
    return np.where(within, 1.0 / np.maximum(ranks, 1), 0.0)


def hits(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per place 1.0 when its match is within k, else 0.0: their mean is recall@k."""
    ranks = np.asarray(ranks)
    return ((ranks >= 1) & (ranks <= k)).astype(float)


def block_counts(
    blocks: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """How many times each block is drawn in each resample, and each place's block number.

    Returns ``(counts, block_of_place)``: ``counts`` is (resamples, n_blocks), each row summing
    to n_blocks; ``block_of_place`` (n_places,) indexes its columns.
    """
    _, block_of_place = np.unique(np.asarray(blocks), return_inverse=True)
    n_blocks = int(block_of_place.max()) + 1 if block_of_place.size else 0
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, max(n_blocks, 1), size=(resamples, n_blocks))
    counts = np.zeros((resamples, n_blocks), dtype=np.int64)
    np.add.at(counts, (np.arange(resamples)[:, None], drawn), 1)
    return counts, block_of_place.reshape(-1)


def mean_ci(
    values: np.ndarray, blocks: np.ndarray, resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL
) -> Interval:
    """Interval of the mean of per-place ``values`` (e.g. :func:`hits`), resampling ``blocks``."""
    values = np.asarray(values, dtype=float)
    if values.shape != np.shape(blocks):
        raise ValueError(f"{values.shape[0]} values but {np.shape(blocks)[0]} block labels: one per place")
    counts, block_of_place = block_counts(blocks, resamples, seed)
    if counts.shape[1] < 2:
        return (float("nan"), float("nan"))
    sums = np.bincount(block_of_place, weights=values, minlength=counts.shape[1])
    sizes = np.bincount(block_of_place, minlength=counts.shape[1])
    means = (counts @ sums) / (counts @ sizes)
    return _percentiles(means, level)


def paired_mean_ci(
    values_a: np.ndarray,
    values_b: np.ndarray,
    blocks: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> Interval:
    """Interval of ``mean(a) - mean(b)`` for two methods' values on the same places."""
    values_a, values_b = np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float)
    if values_a.shape != values_b.shape:
        raise ValueError(f"paired values need the same places: {values_a.shape} vs {values_b.shape}")
    return mean_ci(values_a - values_b, blocks, resamples, seed, level)


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    blocks: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> Interval:
    """Interval of any ``statistic(place_indices)`` over block resamples.

    ``statistic`` receives the indices of the resampled places (with repeats) and returns a
    float; NaN results (a resample where the statistic is undefined) are left out.
    """
    counts, block_of_place = block_counts(blocks, resamples, seed)
    if counts.shape[1] < 2:
        return (float("nan"), float("nan"))
    members = [np.flatnonzero(block_of_place == b) for b in range(counts.shape[1])]
    values = np.array(
        [
            statistic(np.concatenate([np.tile(members[b], c) for b, c in enumerate(row) if c]))
            for row in counts
        ]
    )
    return _percentiles(values[~np.isnan(values)], level)


def paired_bootstrap_ci(
    statistic_a: Callable[[np.ndarray], float],
    statistic_b: Callable[[np.ndarray], float],
    blocks: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> Interval:
    """Interval of ``statistic_a - statistic_b`` computed on the same resampled places."""
    return bootstrap_ci(
        lambda places: statistic_a(places) - statistic_b(places), blocks, resamples, seed, level
    )


def verdict(difference: Interval) -> str:
    """Where a paired interval lies against 0: above, below, indistinguishable (or unknown: NaN)."""
    low, high = difference
    if np.isnan(low) or np.isnan(high):
        return "unknown"
    if low > 0:
        return "above"
    if high < 0:
        return "below"
    return "indistinguishable"


def _percentiles(values: np.ndarray, level: float) -> Interval:
    if values.size == 0:
        return (float("nan"), float("nan"))
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return (float(low), float(high))
