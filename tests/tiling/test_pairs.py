"""Pairing by footprint, spatially blocked splits, and the share of each place that changed."""

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geosiam.config import SplitSettings
from geosiam.errors import SettingsError
from geosiam.tiling.pairs import assign_splits, changed_fraction, pair_tiles


def pairs_frame(years=(2000, 2015)):
    boxes = [shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)]
    return gpd.GeoDataFrame(
        {"year_a": [years[0]] * 2, "year_b": [years[1]] * 2}, geometry=boxes, crs="EPSG:2154"
    )


def changes_frame(rows):
    return gpd.GeoDataFrame(
        {"kind": [r[0] for r in rows], "year": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs="EPSG:2154",
    )


def test_share_of_each_place_changed_between_its_years():
    changes = changes_frame(
        [
            ("house_built", 2005, shapely.box(0, 0, 50, 100)),  # half of the first place
            ("clear_cut", 2015, shapely.box(0, 0, 50, 100)),  # the same ground again: counted once
            ("pond_dug", 2015, shapely.box(150, 0, 175, 100)),  # a quarter of the second, in year b
            ("road_built", 2000, shapely.box(100, 0, 150, 100)),  # in year a: before the pair
            ("quarry_dug", 2016, shapely.box(175, 0, 200, 100)),  # after year b
        ]
    )
    assert changed_fraction(pairs_frame(), changes).tolist() == [0.5, 0.25]


def test_no_ground_truth_is_nan_not_zero():
    assert np.isnan(changed_fraction(pairs_frame(), None)).all()
    nothing = changes_frame([("house_built", 1990, shapely.box(0, 0, 100, 100))])
    assert changed_fraction(pairs_frame(), nothing).tolist() == [0.0, 0.0]


# pairing and split assignment: what makes the test split's MAP@5 trustworthy


def tiles_frame(year, n=4, size=100.0, shift=0.0, zones=None):
    """An n x n grid of ``size`` m tiles of ``year``, its origin moved by ``shift`` m east."""
    cells = [(c, r) for r in range(n) for c in range(n)]
    return gpd.GeoDataFrame(
        {
            "tile_id": [f"x{c}_y{r}" for c, r in cells],
            "year": year,
            "image": [f"tiles/{year}/x{c}_y{r}.tif" for c, r in cells],
            "mask": "",
            "zone": [zones(c, r) if zones else "54" for c, r in cells],
        },
        geometry=[
            shapely.box(shift + c * size, r * size, shift + (c + 1) * size, (r + 1) * size) for c, r in cells
        ],
        crs="EPSG:2154",
    )


def test_one_grid_pairs_each_tile_with_itself():
    tiles = pd.concat([tiles_frame(2000), tiles_frame(2015)], ignore_index=True)
    pairs = pair_tiles(gpd.GeoDataFrame(tiles, crs="EPSG:2154"), 2000, 2015, 0.5)
    assert len(pairs) == 16 and (pairs["tile_id_a"] == pairs["tile_id_b"]).all()
    assert (pairs["iou"] == 1.0).all() and (
        pairs["pair_id"] == pairs["tile_id_a"] + "|" + pairs["tile_id_b"]
    ).all()


def test_grids_that_do_not_coincide_pair_by_best_overlap_above_the_threshold():
    """Year b's grid 25 m east: each tile overlaps its namesake by 75 % of a tile (IoU 0.6)."""
    tiles = gpd.GeoDataFrame(pd.concat([tiles_frame(2000), tiles_frame(2015, shift=25.0)]), crs="EPSG:2154")
    pairs = pair_tiles(tiles, 2000, 2015, 0.5)
    assert len(pairs) == 16 and (pairs["tile_id_a"] == pairs["tile_id_b"]).all()
    assert pairs["iou"].tolist() == [0.6] * 16
    assert pairs["tile_id_b"].is_unique  # one partner each, though each a-tile touches two b-tiles
    assert pair_tiles(tiles, 2000, 2015, 0.61).empty
    half = gpd.GeoDataFrame(pd.concat([tiles_frame(2000), tiles_frame(2015, shift=50.0)]), crs="EPSG:2154")
    assert pair_tiles(half, 2000, 2015, 0.5).empty  # IoU 1/3 with both neighbours


def grid_pairs(n=20, zones=None):
    tiles = gpd.GeoDataFrame(
        pd.concat([tiles_frame(2000, n, zones=zones), tiles_frame(2015, n, zones=zones)]), crs="EPSG:2154"
    )
    return pair_tiles(tiles, 2000, 2015, 0.5)


def test_blocks_are_whole_and_no_place_is_in_two_splits():
    pairs = assign_splits(grid_pairs(), SplitSettings(seed=3), block_size_m=500.0)
    assert pairs["tile_id_a"].is_unique and pairs["split"].isin(["train", "val", "test"]).all()
    assert (pairs.groupby("block")["split"].nunique() == 1).all()
    assert pairs["block"].nunique() == 16  # 2 km / 500 m = 4 blocks a side
    centroids = pairs.geometry.centroid
    for block, rows in pairs.groupby("block"):  # a block is the 5 x 5 tiles of its square
        x, y = (int(v) for v in block[1:].split("_"))
        inside = centroids[rows.index]
        assert ((inside.x // 500 == x) & (inside.y // 500 == y)).all() and len(rows) == 25
    shares = pairs["split"].value_counts(normalize=True)
    assert shares["train"] > shares["val"] > 0 and shares["test"] > 0


def test_the_split_seed_moves_whole_blocks():
    one = assign_splits(grid_pairs(), SplitSettings(seed=1), 500.0)
    two = assign_splits(grid_pairs(), SplitSettings(seed=2), 500.0)
    assert not one["split"].equals(two["split"])
    assert (two.groupby("block")["split"].nunique() == 1).all()


def test_dept_method_gives_each_departement_its_split():
    pairs = grid_pairs(4, zones=lambda c, r: ["54", "57", "67", "88"][c])
    settings = SplitSettings(
        method="dept", dept_splits={"train": ["54", "57"], "val": ["67"], "test": ["88"]}
    )
    split = assign_splits(pairs, settings, 500.0)
    assert (split["block"] == split["zone"]).all()
    assert dict(zip(split["zone"], split["split"])) == {
        "54": "train",
        "57": "train",
        "67": "val",
        "88": "test",
    }


def test_split_errors_name_the_fix():
    pairs = grid_pairs(4, zones=lambda c, r: ["54", "57"][c % 2])
    message = "département(s) ['57'] are in no split: list them in [split] dept_splits"
    with pytest.raises(SettingsError, match=re.escape(message)):
        assign_splits(pairs, SplitSettings(method="dept", dept_splits={"train": ["54"]}), 500.0)
    with pytest.raises(
        SettingsError, match=re.escape("unknown split method 'random': use one of blocks, dept")
    ):
        assign_splits(pairs, SplitSettings(method="random"), 500.0)
    with pytest.raises(
        SettingsError, match=re.escape("three non-negative numbers (train val test), got [1.0, -1.0, 1.0]")
    ):
        assign_splits(pairs, SplitSettings(fractions=[1.0, -1.0, 1.0]), 500.0)
