"""Exact kNN: FAISS (``geosiam.ranking.knn``, IndexFlatIP) against numpy brute force.

For 10^4 to 10^6 random 128-d unit descriptors and a fixed number of queries (1000 by default,
so that the 10^6 case stays bounded), side by side in one run: seconds per search, the ratio
numpy / FAISS, how time grows with the database (growth per 10x), and whether both return the
same neighbours. numpy = matrix product by chunks of queries + argpartition + sort of the top k.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import best_of, print_table

SCORE_BYTES = 256 * 2**20  # numpy: at most this much of the score matrix at once


def numpy_knn(queries: np.ndarray, database: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product: chunked matmul, argpartition, then sort the k."""
    chunk = max(1, SCORE_BYTES // (4 * len(database)))
    all_scores, all_indices = [], []
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ database.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1)
        all_indices.append(np.take_along_axis(top, order, axis=1))
        all_scores.append(np.take_along_axis(top_scores, order, axis=1))
    return np.concatenate(all_scores), np.concatenate(all_indices)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args(argv)

    from geosiam.ranking import knn, l2_normalise

    rng = np.random.default_rng(0)
    queries = l2_normalise(rng.standard_normal((args.queries, args.dim), dtype=np.float32))
    rows, previous = [], None
    for size in args.sizes:
        started = time.perf_counter()
        database = l2_normalise(rng.standard_normal((size, args.dim), dtype=np.float32))
        made = time.perf_counter() - started
        repeat = 3 if size <= 100_000 else 1
        faiss_s = best_of(lambda db=database: knn(queries, db, args.k), repeat)
        numpy_s = best_of(lambda db=database: numpy_knn(queries, db, args.k), repeat)
        _, by_faiss = knn(queries, database, args.k)
        _, by_numpy = numpy_knn(queries, database, args.k)
        same = np.mean([set(a) == set(b) for a, b in zip(by_faiss, by_numpy)])
        growth = "" if previous is None else faiss_s / previous[1] / (size / previous[0]) * 10
        rows.append((size, faiss_s, numpy_s, numpy_s / faiss_s, growth, args.queries / faiss_s, same))
        previous = (size, faiss_s)
        print(f"  {size:>9} descriptors: made in {made:.1f} s, searched", flush=True)
    print_table(
        f"exact kNN, {args.queries} queries, {args.dim}-d, k={args.k} (growth: FAISS time "
        "factor per 10x database; 10 = linear)",
        rows,
        (
            "database",
            "FAISS s",
            "numpy s",
            "numpy / FAISS",
            "growth per 10x",
            "FAISS queries/s",
            "same top-k",
        ),
    )


if __name__ == "__main__":
    main()
