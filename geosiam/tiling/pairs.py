"""Pair the tiles of two years by footprint and assign spatially blocked splits.

Pairing is a spatial join on footprints with an IoU threshold, so it works for tiles from any
grid (on one grid, a pair is simply the same tile id). Splits are given per spatial block (or per
département) so that a block's tiles are all in one split and neighbouring places do not leak
from train into test.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from geosiam.config import SPLITS, SplitSettings
from geosiam.errors import SettingsError


def pair_tiles(tiles, year_a: int, year_b: int, min_iou: float):
    """One row per tile of ``year_a`` with its best-overlapping tile of ``year_b`` (IoU >= min)."""
    a = tiles[tiles["year"] == year_a].reset_index(drop=True)
    b = tiles[tiles["year"] == year_b].reset_index(drop=True)
    joined = gpd.sjoin(a, b, how="inner", predicate="intersects", lsuffix="a", rsuffix="b")
    geom_b = b.geometry.values[joined["index_b"].to_numpy()]
    geom_a = joined.geometry.values
    inter = geom_a.intersection(geom_b).area
    union = geom_a.union(geom_b).area
    joined["iou"] = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    joined = joined[joined["iou"] >= min_iou]
    joined = joined.sort_values("iou", ascending=False).drop_duplicates("tile_id_a")
    joined = joined.sort_values("tile_id_a").drop_duplicates("tile_id_b")
    pairs = gpd.GeoDataFrame(
        {
            "pair_id": joined["tile_id_a"] + "|" + joined["tile_id_b"],
            "tile_id_a": joined["tile_id_a"],
            "tile_id_b": joined["tile_id_b"],
            "year_a": year_a,
            "year_b": year_b,
            "image_a": joined["image_a"],
            "mask_a": joined["mask_a"],
            "image_b": joined["image_b"],
            "mask_b": joined["mask_b"],
            "iou": joined["iou"].round(4),
            "zone": joined["zone_a"],
        },
        geometry=joined.geometry.values,
        crs=tiles.crs,
    )
    return pairs.reset_index(drop=True)


def changed_fraction(pairs, changes) -> np.ndarray:
    """Per pair, the share of its footprint changed between its two years; NaN without ground truth.

    ``changes`` (geometry, kind, year; see :mod:`geosiam.sources.ground_truth`) or None. A change
    of year ``y`` lies between the years ``a < b`` of a pair when ``a < y <= b``.
    """
    out = np.full(len(pairs), np.nan)
    if changes is None:
        return out
    footprints = pairs.geometry.values
    for (year_a, year_b), rows in pairs.groupby(["year_a", "year_b"]).indices.items():
        low, high = sorted((year_a, year_b))
        between = changes[(changes["year"] > low) & (changes["year"] <= high)]
        changed = shapely.union_all(between.geometry.values)
        boxes = np.asarray(footprints[rows], dtype=object)
        area = shapely.area(boxes)
        out[rows] = np.where(area > 0, shapely.area(shapely.intersection(boxes, changed)) / area, np.nan)
    return np.round(out, 4)


def assign_splits(pairs, split: SplitSettings, block_size_m: float):
    """Add ``block`` and ``split`` columns: whole blocks (or départements) go to one split."""
    pairs = pairs.copy()
    if split.method == "dept":
        lookup = {zone: name for name, zones in split.dept_splits.items() for zone in zones}
        unknown = sorted(set(pairs["zone"]) - set(lookup))
        if unknown:
            raise SettingsError(
                f"département(s) {unknown} are in no split: list them in [split] dept_splits "
                '(e.g. dept_splits = { train = ["54"], val = ["57"], test = ["67"] })'
            )
        pairs["block"] = pairs["zone"]
        pairs["split"] = pairs["zone"].map(lookup)
        return pairs
    centroids = pairs.geometry.centroid
    block_x = np.floor(centroids.x / block_size_m).astype(int)
    block_y = np.floor(centroids.y / block_size_m).astype(int)
    pairs["block"] = [f"b{x}_{y}" for x, y in zip(block_x, block_y)]
    assignment = split_blocks(pairs["block"].value_counts().sort_index(), split.fractions, split.seed)
    pairs["split"] = pairs["block"].map(assignment)
    return pairs


def split_blocks(sizes, fractions: list[float], seed: int) -> dict[str, str]:
    """Blocks (name -> pair count) shuffled, then each given to the split furthest below target."""
    target = np.asarray(fractions, dtype=float) / sum(fractions)
    names = list(sizes.index)
    order = np.random.default_rng(seed).permutation(len(names))
    filled = np.zeros(3)
    assignment = {}
    for position, index in enumerate(order):
        remaining = len(order) - position
        empty = [s for s in range(3) if target[s] > 0 and filled[s] == 0]
        if empty and remaining <= len(empty):
            choice = empty[0]  # make sure every wanted split gets at least one block
        else:
            total = filled.sum() or 1.0
            choice = int(np.argmax(target - filled / total))
        assignment[names[index]] = SPLITS[choice]
        filled[choice] += sizes.iloc[index]
    return assignment
