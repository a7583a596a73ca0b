"""FAISS indexes of descriptors for search at scale: exact below a measured size, approximate above.

Every kind ranks by inner product on L2-normalised float32 descriptors (cosine):

- ``flat``: exact (``IndexFlatIP``, the same index as :func:`geosiam.ranking.knn`);
- ``ivf``: inverted lists over a k-means coarse quantiser (``IndexIVFFlat``), ``nprobe`` lists
  searched per query;
- ``hnsw``: a navigable small-world graph (``IndexHNSWFlat``), ``efSearch`` candidates per query;
- ``ivfpq``: inverted lists of 8-bit product-quantised codes (``IndexIVFPQ``, one byte per 8
  dimensions: 32x smaller than the descriptors), whose candidates are re-ranked exactly from
  the descriptors (a memory map is enough).

``auto`` is exact up to :data:`EXACT_UP_TO` descriptors and ``ivf`` above. Measured by
``benchmarks/ann_index.py`` (``benchmarks/results/ann_index.md``, clustered 128-d descriptors,
1 FAISS thread, 2-core CPU): at 10^5 exact search answers 1,000 queries in 0.31 s (one in 2.7 ms)
with nothing to train or tune and nothing missed; at 10^6 it takes 6.2 s, and IVF 56 ms (110x) at
recall@5 1.0; at 10^7 exact takes 30 s, IVF 1.0 s (29x) at recall@5 0.997. An approximate
index is tuned when it is built: its ``nprobe`` or ``efSearch`` is the smallest that finds
:data:`TARGET_RECALL` of the exact top :data:`TUNE_K` for a seeded sample of its own vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from geosiam.config import INDEX_KINDS as KINDS
from geosiam.errors import SettingsError
from geosiam.ranking import add_rows, flat_index, knn

EXACT_UP_TO = 100_000  # descriptors; measured, see the module docstring
TRAIN_PER_LIST = 39  # FAISS's own minimum of training points per k-means centroid
TRAIN_SAMPLE_PER_LIST = 64  # points per centroid the quantiser is trained on (a seeded sample)
MIN_LISTS = 16
MAX_LISTS = 1024
PQ_BITS = 8
PQ_DIMS_PER_CODE = 8  # ivfpq: one byte per 8 dimensions (16 bytes for a 128-d descriptor)
PQ_TRAIN_PER_CODE = 64  # k-means points per code word (8-dim k-means is slow in FAISS: bounded)
PQ_ITERATIONS = 10
RERANK = 100  # ivfpq: candidates per wanted neighbour, re-ranked exactly
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 40
TARGET_RECALL = 0.99
TUNE_K = 5
TUNE_QUERIES = 200
SEED = 0


@dataclass(frozen=True)
class Tuning:
    """The search-time setting an approximate index was tuned to, and the recall it reached."""

    parameter: str  # "nprobe", "efSearch", or "" for an exact index
    value: int
    recall: float


def choose_kind(kind: str, rows: int) -> str:
    """The concrete kind for ``kind`` (``auto``: exact up to :data:`EXACT_UP_TO`, ivf above)."""
    if kind not in KINDS:
        raise SettingsError(f"unknown index kind '{kind}': use one of {', '.join(KINDS)}")
    if kind == "auto":
        return "flat" if rows <= EXACT_UP_TO else "ivf"
    return kind


def lists_for(rows: int) -> int:
    """Inverted lists for ``rows`` descriptors: the power of two at most sqrt(rows), between
    MIN_LISTS and MAX_LISTS. Fewer than FAISS's 4-16 sqrt(N) rule: adding a vector costs one
    inner product per list, and on a small CPU 10^7 vectors x 1,024 lists already take minutes;
    searching more of fewer, longer lists keeps the recall."""
    return min(MAX_LISTS, max(MIN_LISTS, 2 ** int(np.log2(max(rows, 1)) / 2)))


def minimum_rows(kind: str) -> int:
    """The fewest descriptors that can train ``kind``'s quantisers (0: nothing to train)."""
    if kind in ("ivf", "ivfpq"):
        lists = TRAIN_PER_LIST * MIN_LISTS
        return max(lists, TRAIN_PER_LIST * 2**PQ_BITS) if kind == "ivfpq" else lists
    return 0


def build_index(vectors: np.ndarray, kind: str):
    """A FAISS index of ``vectors`` ((N, D) float32, unit rows; a memory map is read by chunks).

    ``kind`` is one of :data:`KINDS`; too few vectors to train an ivf/ivfpq quantiser is a
    one-line error naming the kinds that need no training.
    """
    import faiss  # lazy: FAISS loads its native library; only index building and search need it

    rows, dim = np.shape(vectors)
    kind = choose_kind(kind, rows)
    needed = minimum_rows(kind)
    if rows < needed:
        raise SettingsError(
            f"--kind {kind} needs at least {needed} descriptors to train its quantiser, the run has "
            f"{rows}: use --kind flat (exact) or hnsw, or embed more tiles"
        )
    if kind == "flat":
        return flat_index(vectors)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        add_rows(index, vectors)
        return index
    lists = min(lists_for(rows), rows // TRAIN_PER_LIST)
    quantiser = faiss.IndexFlatIP(dim)
    if kind == "ivf":
        index = faiss.IndexIVFFlat(quantiser, dim, lists, faiss.METRIC_INNER_PRODUCT)
    else:
        codes = _pq_codes(dim)
        index = faiss.IndexIVFPQ(quantiser, dim, lists, codes, PQ_BITS, faiss.METRIC_INNER_PRODUCT)
        index.pq.cp.niter = PQ_ITERATIONS
        index.pq.cp.max_points_per_centroid = PQ_TRAIN_PER_CODE
    index.cp.seed = SEED
    index.train(training_sample(vectors, max(TRAIN_SAMPLE_PER_LIST * lists, needed)))
    add_rows(index, vectors)
    return index


def training_sample(vectors: np.ndarray, size: int) -> np.ndarray:
    """A seeded sample of ``size`` rows (all when fewer), in row order, as float32 in memory."""
    rows = len(vectors)
    if rows <= size:
        return np.ascontiguousarray(vectors, dtype=np.float32)
    picked = np.sort(np.random.default_rng(SEED).choice(rows, size, replace=False))
    return np.ascontiguousarray(vectors[picked], dtype=np.float32)


def _pq_codes(dim: int) -> int:
    """Sub-quantisers for ``dim``: about one per PQ_DIMS_PER_CODE dimensions, dividing ``dim``."""
    codes = max(1, dim // PQ_DIMS_PER_CODE)
    while dim % codes:
        codes -= 1
    return codes


def kind_of(index) -> str:
    """The kind (one of :data:`KINDS` but auto) of a FAISS index built here."""
    import faiss  # lazy: FAISS loads its native library; only index building and search need it

    for kind, cls in (
        ("ivfpq", faiss.IndexIVFPQ),
        ("ivf", faiss.IndexIVFFlat),
        ("hnsw", faiss.IndexHNSWFlat),
    ):
        if isinstance(faiss.downcast_index(index), cls):
            return kind
    return "flat"


def set_tuning(index, value: int) -> None:
    """Set an approximate index's search-time setting (nprobe or efSearch)."""
    import faiss  # lazy: FAISS loads its native library; only index building and search need it

    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIVF):
        index.nprobe = int(value)
    elif isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = int(value)


def search(index, queries: np.ndarray, k: int, vectors: np.ndarray | None = None, among=None):
    """The ``k`` best database rows of each query: (scores, rows), best first, rows -1 when missing.

    For ``ivfpq``, ``vectors`` (the indexed descriptors, a memory map is fine) re-rank
    ``RERANK * k`` candidates by their exact inner product; without them the scores are the
    codes' approximations. ``among`` (row numbers) restricts the search to those rows, at the
    index's tuned nprobe or efSearch (FAISS's ID selectors).
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    size = index.ntotal if among is None else len(among)
    params = None if among is None else _restricted(index, among)
    k = min(k, size)
    if kind_of(index) != "ivfpq" or vectors is None:
        return index.search(queries, k, params=params)
    _, candidates = index.search(queries, min(RERANK * k, size), params=params)
    return rerank(queries, candidates, vectors, k)


def _restricted(index, rows: np.ndarray):
    """FAISS search parameters that admit only ``rows``, keeping the index's search setting."""

    selector = faiss.IDSelectorBatch(np.ascontiguousarray(rows, dtype=np.int64))
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexIVF):
        params = faiss.SearchParametersIVF(sel=selector, nprobe=inner.nprobe)
    elif isinstance(inner, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=inner.hnsw.efSearch)
    else:
        params = faiss.SearchParameters(sel=selector)
    params.selector = selector  # the parameters hold only a pointer: keep the selector alive
    return params


def rerank(queries: np.ndarray, candidates: np.ndarray, vectors: np.ndarray, k: int):
    """The ``k`` best of each query's ``candidates`` rows by exact inner product with ``vectors``."""
    found = candidates >= 0
    rows = np.unique(candidates[found])
    position = np.searchsorted(rows, np.where(found, candidates, rows[0] if len(rows) else 0))
    exact = np.asarray(vectors[rows], dtype=np.float32) if len(rows) else np.zeros((0, queries.shape[1]))
    scores = np.where(found, np.einsum("qd,qcd->qc", queries, exact[position]), -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(candidates, order, axis=1)
    best_scores = np.take_along_axis(scores, order, axis=1)
    return best_scores.astype(np.float32), np.where(np.isfinite(best_scores), best, -1)


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each query's exact top k (rows of ``exact``) that ``found`` also returns."""
    k = exact.shape[1]
    return float(np.mean([len(set(f[:k]) & set(e)) / k for f, e in zip(found, exact)]))


def tune(
    index, queries: np.ndarray, exact: np.ndarray, vectors=None, target: float = TARGET_RECALL
) -> Tuning:
    """Raise nprobe (ivf, ivfpq) or efSearch (hnsw) by doubling until the recall of the top
    ``exact.shape[1]`` reaches ``target``, or stops rising (ivfpq's codes may cap it below the
    target: searching more lists then only costs time); the setting stays on ``index``."""
    kind = kind_of(index)
    if kind == "flat":
        return Tuning("", 0, 1.0)
    k = exact.shape[1]
    if kind == "hnsw":
        parameter, values = "efSearch", _doubling(max(16, k), 4096)
    else:
        parameter, values = "nprobe", _doubling(1, nlist_of(index))
    best = Tuning(parameter, values[0], -1.0)
    for value in values:
        set_tuning(index, value)
        recall = recall_at_k(search(index, queries, k, vectors)[1], exact)
        if recall <= best.recall:
            break
        best = Tuning(parameter, value, recall)
        if recall >= target:
            break
    set_tuning(index, best.value)
    return best


def nlist_of(index) -> int:
    """The number of inverted lists of an IVF index."""
    import faiss  # lazy: FAISS loads its native library; only index building and search need it

    return int(faiss.downcast_index(index).nlist)


def _doubling(start: int, stop: int) -> list[int]:
    values = [start]
    while values[-1] < stop:
        values.append(min(values[-1] * 2, stop))
    return values


def self_tune(index, vectors: np.ndarray, target: float = TARGET_RECALL) -> Tuning:
    """:func:`tune` on a seeded sample of the index's own vectors as queries, against exact kNN."""
    if kind_of(index) == "flat":
        return Tuning("", 0, 1.0)
    queries = training_sample(vectors, TUNE_QUERIES)
    exact = knn(queries, vectors, TUNE_K)[1]
    return tune(index, queries, exact, vectors, target)
