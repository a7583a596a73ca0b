"""How far each place moved between its two years, and how well that flags real change (pure numpy).

A place is a pair of tiles, one per year. Its *distance* is the cosine distance between its two
years' descriptors (0 = the same, 2 = opposite); its *rank* is the rank of its own older tile
among the older tiles when its newer tile is the query (1 = found first), as in retrieval. A
place that changed on the ground should be far from itself and poorly ranked.

Where a workspace has ground truth (``changed_fraction`` in pairs.gpkg, the share of the place's
area that changed; the built-in sample has it, real areas do not), a place counts as changed when
more than :data:`CHANGED_ABOVE` of it changed, and any per-place distance is scored as a change
detector: ROC AUC (rank-based, ties averaged) and precision at the true number of changed
places, with a 95% interval from the block bootstrap over the split's spatial blocks.

The change raster has one pixel per tile on the workspace's grid (pixel size = tile size, aligned
on the grid's origin), so that tile ``x<c>_y<r>`` is one pixel and places line up with the tiles
in QGIS; pixels without a place hold :data:`NODATA`.
"""

from __future__ import annotations

import numpy as np
from affine import Affine
from scipy.stats import rankdata

from geosiam.retrieval.bootstrap import bootstrap_ci, paired_bootstrap_ci, verdict
from geosiam.tiling.grid import Grid, parse_tile_id

CHANGED_ABOVE = 0.05  # a place changed when more than 5% of its area did
NODATA = -1.0  # cosine distances lie in [0, 2]
RANK_CHUNK_FLOATS = 1 << 24  # similarity-matrix floats held at once when ranking (64 MiB)
LAYER_COLUMNS = ["tile_id", "year_a", "year_b", "split", "distance", "rank", "changed_fraction"]


def cosine_distances(older: np.ndarray, newer: np.ndarray) -> np.ndarray:
    """Per row, ``1 - cos`` between aligned L2-normalised descriptors: (N,) float in [0, 2].

    Rounded to 1e-6, the precision of float32 unit vectors, so that equal descriptors tie
    exactly instead of by rounding noise.
    """
    similarity = np.einsum("ij,ij->i", np.asarray(older, np.float64), np.asarray(newer, np.float64))
    return np.clip(1.0 - similarity, 0.0, 2.0).round(6)


def true_match_ranks(older: np.ndarray, newer: np.ndarray) -> np.ndarray:
    """1-based rank of ``older[i]`` among all ``older`` rows for the query ``newer[i]``.

    Exact and complete (not cut at a top k): one more than the number of older tiles more similar
    to the query than its own place. Computed by chunks of queries to bound memory.
    """
    older = np.asarray(older, np.float32)
    newer = np.asarray(newer, np.float32)
    chunk = max(1, RANK_CHUNK_FLOATS // max(len(older), 1))
    ranks = np.empty(len(newer), dtype=np.int64)
    for start in range(0, len(newer), chunk):
        similarity = newer[start : start + chunk] @ older.T
        own = similarity[np.arange(len(similarity)), np.arange(start, start + len(similarity))]
        ranks[start : start + chunk] = 1 + (similarity > own[:, None]).sum(axis=1)
    return ranks


def ranks_among_neighbours(own_rows: np.ndarray, scores: np.ndarray, found: np.ndarray) -> np.ndarray:
    """:func:`true_match_ranks` from each query's best neighbours (``scores``, ``found`` rows,
    best first, -1 where fewer), as a FAISS index returns them: one more than the neighbours
    scoring above the query's own row ``own_rows[i]``; a query whose own row is not among them
    ranks after all of them (``depth + 1``: "beyond the depth searched")."""
    own = found == np.asarray(own_rows)[:, None]
    present = own.any(axis=1)
    own_score = np.where(own, scores, -np.inf).max(axis=1)
    above = ((scores > own_score[:, None]) & (found >= 0)).sum(axis=1)
    return np.where(present, above, (found >= 0).sum(axis=1)) + 1


def auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the boolean ``positives`` (Mann-Whitney U).

    The probability that a positive scores above a negative, ties counting half; NaN when either
    class is empty.
    """

    positives = np.asarray(positives, dtype=bool)
    n_pos = int(positives.sum())
    n_neg = positives.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_k(scores: np.ndarray, positives: np.ndarray, k: int | None = None) -> float:
    """Share of positives among the ``k`` highest scores (``k``: the number of positives).

    At that k, precision equals recall; NaN when k is 0.
    """
    positives = np.asarray(positives, dtype=bool)
    k = int(positives.sum()) if k is None else k
    if k == 0:
        return float("nan")
    top = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]
    return float(positives[top].mean())


def changed_places(changed_fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(places with ground truth, whether each of them changed) from ``changed_fraction``."""
    fraction = np.asarray(changed_fraction, dtype=float)
    known = ~np.isnan(fraction)
    return known, fraction[known] > CHANGED_ABOVE


def detection_scores(
    distances: np.ndarray, changed: np.ndarray, blocks: np.ndarray, reference: np.ndarray | None = None
) -> dict:
    """How well ``distances`` flag the ``changed`` places, with block-bootstrap intervals.

    With ``reference`` (the main model's distances on the same places), also the paired
    interval of the model's AUROC minus this one's, and where it lies against 0 in words.
    """
    changed = np.asarray(changed, dtype=bool)
    scores = {
        "auroc": _number(auroc(distances, changed)),
        "auroc_ci": _interval(bootstrap_ci(lambda p: auroc(distances[p], changed[p]), blocks)),
        "precision_at_k": _number(precision_at_k(distances, changed)),
        "n_changed": int(changed.sum()),
        "n_places": int(changed.size),
    }
    if reference is not None:
        gain = paired_bootstrap_ci(
            lambda p: auroc(reference[p], changed[p]), lambda p: auroc(distances[p], changed[p]), blocks
        )
        scores["model_minus_this_ci"] = _interval(gain)
        scores["model_vs_this"] = verdict(gain)  # above | below | indistinguishable | unknown
    return scores


def change_detection(
    changed_fraction: np.ndarray, blocks: np.ndarray, vectors: dict[str, tuple], main: str
) -> dict[str, dict]:
    """Change-detection scores of each method's (older, newer) descriptors; {} without ground truth.

    ``vectors`` maps a method to the descriptors of the same places in both years (as eval
    computes them); ``main`` names the method the others are compared with.
    """
    known, changed = changed_places(changed_fraction)
    if not known.any():
        return {}
    blocks = np.asarray(blocks)[known]
    distances = {name: cosine_distances(o[known], n[known]) for name, (o, n) in vectors.items()}
    reference = distances.get(main)
    return {
        name: detection_scores(d, changed, blocks, None if name == main else reference)
        for name, d in distances.items()
    }


def detection_table(detection: dict[str, dict], labels: dict[str, str]) -> str:
    """Markdown: one row per method, in the order given."""
    rows = [
        f"**change detection** (changed: more than {CHANGED_ABOVE:.0%} of the place's area; "
        "score: the distance between its two years)",
        "",
        "| method | AUROC | 95% interval | precision@k | model - this (95%) | changed / places |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in detection.items():
        gain = f"{_fmt_ci(s['model_minus_this_ci'])} ({s['model_vs_this']})" if "model_vs_this" in s else ""
        rows.append(
            f"| {labels.get(name, name)} | {_fmt(s['auroc'])} | {_fmt_ci(s['auroc_ci'])} | "
            f"{_fmt(s['precision_at_k'])} | {gain} | {s['n_changed']} / {s['n_places']} |"
        )
    return "\n".join(rows)


def grid_raster(tile_ids, values: np.ndarray, grid: Grid) -> tuple[np.ndarray, Affine]:
    """One float32 pixel per tile on ``grid``, covering the tiles' extent; NODATA elsewhere.

    Returns the (rows, cols) array, north up, and its affine transform.
    """
    cells = np.array([parse_tile_id(t) for t in tile_ids], dtype=np.int64).reshape(-1, 2)
    if not len(cells):
        raise ValueError("no tile to put on the grid")
    cols, rows = cells[:, 0], cells[:, 1]
    col0, row1 = int(cols.min()), int(rows.max())
    array = np.full((row1 - int(rows.min()) + 1, int(cols.max()) - col0 + 1), NODATA, np.float32)
    array[row1 - rows, cols - col0] = values
    size = grid.tile_size_m
    transform = Affine(size, 0.0, grid.origin_x + col0 * size, 0.0, -size, grid.origin_y + (row1 + 1) * size)
    return array, transform


def place_table(pairs, distances: np.ndarray, ranks: np.ndarray):
    """The ``changes`` layer: one row per place with its footprint, distance, rank and
    ``changed_fraction`` (empty where unknown)."""
    table = pairs[["geometry"]].copy()
    table["tile_id"] = pairs["tile_id_a"]
    for column in ("year_a", "year_b", "split"):
        table[column] = pairs[column]
    table["distance"] = np.asarray(distances, dtype=float)
    table["rank"] = np.asarray(ranks, dtype=np.int64)
    fraction = pairs["changed_fraction"] if "changed_fraction" in pairs else np.nan
    table["changed_fraction"] = np.asarray(fraction, dtype=float) * np.ones(len(pairs))
    return table[LAYER_COLUMNS + ["geometry"]]


def format_top(table, n: int) -> str:
    """The ``n`` places that moved most, as an aligned text table."""
    top = table.sort_values("distance", ascending=False, kind="stable").head(n)
    lines = [f"{'#':>4}  {'tile_id':<16} {'distance':>8} {'rank':>6} {'changed':>8}  centre (x y)"]
    for i, row in enumerate(top.itertuples(), start=1):
        changed = "" if np.isnan(row.changed_fraction) else f"{row.changed_fraction:.0%}"
        centre = row.geometry.centroid
        lines.append(
            f"{i:>4}  {row.tile_id:<16} {row.distance:>8.3f} {row.rank:>6} {changed:>8}  "
            f"{centre.x:.1f} {centre.y:.1f}"
        )
    return "\n".join(lines)


def _number(value: float) -> float | None:
    """JSON has no NaN: an undefined figure is null."""
    return None if np.isnan(value) else float(value)


def _interval(interval: tuple[float, float]) -> list[float | None]:
    return [_number(v) for v in interval]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _fmt_ci(interval: list) -> str:
    low, high = interval
    return "n/a" if low is None or high is None else f"{low:.3f} - {high:.3f}"
