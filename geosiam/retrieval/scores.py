"""The figures of a ranking with their 95% block-bootstrap intervals, and paired differences.

Every MAP@5 and recall@k gets ``<name>_ci: [low, high]`` from a bootstrap over the spatial
blocks the splits are drawn in (:mod:`geosiam.retrieval.bootstrap`); the difference between two
models on the same places gets a paired interval and a verdict: ``above``, ``below`` or
``indistinguishable`` (the interval holds 0), ``unknown`` with fewer than two blocks. Intervals
that cannot be computed are ``[null, null]`` in JSON.
"""

from __future__ import annotations

import math

import numpy as np

from geosiam.ranking import summary
from geosiam.retrieval.bootstrap import RESAMPLES, hits, mean_ci, paired_mean_ci, reciprocal_ranks, verdict

# the figures with intervals, and the per-place values whose mean each one is
PER_PLACE = {
    "map_at_5": lambda ranks: reciprocal_ranks(ranks, 5),
    "recall_at_1": lambda ranks: hits(ranks, 1),
    "recall_at_5": lambda ranks: hits(ranks, 5),
    "recall_at_10": lambda ranks: hits(ranks, 10),
}
SEED = 0  # one seed for every model: all are resampled on the same blocks


def summary_with_intervals(ranks: np.ndarray, blocks: np.ndarray, resamples: int = RESAMPLES) -> dict:
    """:func:`~geosiam.ranking.summary` plus ``<figure>_ci`` for each figure."""
    figures = summary(ranks)
    for name, values in PER_PLACE.items():
        figures[f"{name}_ci"] = _json_interval(mean_ci(values(ranks), blocks, resamples, SEED))
    return figures


def difference(ranks: np.ndarray, other: np.ndarray, blocks: np.ndarray, resamples: int = RESAMPLES) -> dict:
    """``ranks``' figures minus ``other``'s on the same places, with paired intervals; the verdict
    is read on MAP@5."""
    out: dict = {}
    for name, values in PER_PLACE.items():
        ours, theirs = values(ranks), values(other)
        interval = paired_mean_ci(ours, theirs, blocks, resamples, SEED)
        out[name] = float(ours.mean() - theirs.mean()) if len(ours) else float("nan")
        out[f"{name}_ci"] = _json_interval(interval)
        if name == "map_at_5":
            out["verdict"] = verdict(interval)
    return out


def _json_interval(interval: tuple[float, float]) -> list[float | None]:
    return [None if math.isnan(v) else round(v, 6) for v in interval]
