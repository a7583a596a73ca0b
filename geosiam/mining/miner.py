"""Hard pairs from the current descriptors (pure numpy around a kNN function).

Each year queries the other (both years are anchors). An anchor is *hard* when its true match
(the same place in the other year) is not its nearest neighbour; its hard negatives are its
nearest wrong neighbours, hardest first. The anchor's own place is never a negative. The
training-split MAP@5 is measured the reference way: queries the newer year, database the older.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geosiam.ranking import KnnFunction, knn, map_at_k, match_ranks

MAP_K = 5


@dataclass(frozen=True)
class Mining:
    """The outcome of one mining pass over N pairs."""

    hard_negatives: np.ndarray  # (2, N, K) other-side indices per anchor (side, pair); -1 = none
    hard_anchors: int  # anchors (of 2N) whose true match is not at rank 1
    map_at_5: float  # newer year -> older year


def mine(older: np.ndarray, newer: np.ndarray, negatives: int, search: KnnFunction = knn) -> Mining:
    """Hard negatives for every anchor of both years from descriptors of the same N places.

    ``older[i]`` and ``newer[i]`` describe pair i; ``negatives`` wrong neighbours are kept per
    hard anchor (the search looks at ``max(negatives + 1, 5)`` neighbours).
    """
    n = len(older)
    k = min(max(negatives + 1, MAP_K), n)
    hard = np.full((2, n, negatives), -1, np.int32)
    hard_anchors = 0
    map5 = float("nan")
    for side, (queries, database) in enumerate(((older, newer), (newer, older))):
        _, neighbours = search(queries, database, k)
        truth = np.arange(n)
        ranks = match_ranks(neighbours, truth)
        if side == 1:
            map5 = map_at_k(ranks, MAP_K)
        is_hard = ranks != 1
        hard_anchors += int(is_hard.sum())
        for anchor in np.flatnonzero(is_hard):
            wrong = neighbours[anchor][neighbours[anchor] != anchor][:negatives]
            hard[side, anchor, : len(wrong)] = wrong
    return Mining(hard, hard_anchors, map5)
