"""Hard mining's kNN: FAISS (``geosiam.ranking.knn``) against scikit-learn brute force, the
prototype's way (``NearestNeighbors(metric="cosine", algorithm="brute")``), on the same descriptors.

Both years of N places (128-d, the newer year a noisy copy of the older), side by side in one run:
seconds for one mining direction (N queries against N), the ratio sklearn / FAISS, whether both
find the same neighbours, and the whole :func:`geosiam.mining.miner.mine` pass (both directions
and the hard-negative tables) on FAISS.
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np

from benchmarks.common import best_of, print_table
from geosiam.mining.miner import mine
from geosiam.ranking import knn, l2_normalise


def sklearn_knn(queries: np.ndarray, database: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(database)
    return index.kneighbors(queries, return_distance=False)


def descriptors(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    older = l2_normalise(rng.normal(size=(n, 128)))
    newer = l2_normalise(older + 0.08 * rng.normal(size=older.shape))
    return older, newer


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 40000])
    args = parser.parse_args(argv)
    rows = []
    for n in args.sizes:
        older, newer = descriptors(n)
        faiss_s = best_of(partial(knn, newer, older, 5), repeat=2)
        sklearn_s = best_of(partial(sklearn_knn, newer, older, 5), repeat=2)
        same = float((knn(newer, older, 5)[1][:, 0] == sklearn_knn(newer, older, 5)[:, 0]).mean())
        mine_s = best_of(partial(mine, older, newer, 4), repeat=2)
        rows.append((n, faiss_s, sklearn_s, sklearn_s / faiss_s, same, mine_s))
    print_table(
        "hard mining kNN, one direction (N newer queries against N older)",
        rows,
        ("N places", "FAISS s", "sklearn s", "sklearn/FAISS", "same top-1", "mine() s"),
    )


if __name__ == "__main__":
    main()
