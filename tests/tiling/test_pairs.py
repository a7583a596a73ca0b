"""changed_fraction: the share of each pair's place that changed between its two years."""

import geopandas as gpd
import numpy as np
import shapely

from geosiam.tiling.pairs import changed_fraction


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
