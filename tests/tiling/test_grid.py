import doctest

import pytest

from geosiam.errors import SettingsError
from geosiam.tiling import grid as grid_module
from geosiam.tiling.grid import Grid, parse_tile_id


def test_doctests():
    assert doctest.testmod(grid_module).failed == 0


def test_ids_depend_on_position_only():
    a = Grid("EPSG:2154", 0, 0, 1000, 256)
    b = Grid("EPSG:2154", 0, 0, 1000, 64)
    assert a.tile_id(5, -3) == b.tile_id(5, -3) == "x5_y-3"
    assert parse_tile_id("x5_y-3") == (5, -3)
    with pytest.raises(SettingsError):
        parse_tile_id("5_3")


def test_transform_matches_bounds_and_origin():
    g = Grid("EPSG:2154", 125, 125, 250, 64)
    xmin, ymin, xmax, ymax = g.bounds(2, 3)
    assert (xmin, ymin) == (625, 875)
    t = g.transform(2, 3)
    assert t @ (0, 0) == (xmin, ymax)
    assert t @ (64, 64) == (xmax, ymin)


def test_cells_cover_partial_tiles_only_once():
    g = Grid("EPSG:2154", 0, 0, 100, 10)
    assert list(g.cells((0, 0, 100, 100))) == [(0, 0)]
    assert len(list(g.cells((-1, -1, 101, 101)))) == 9


def test_non_positive_sizes_are_errors():
    with pytest.raises(SettingsError, match="--tile-px"):
        Grid("EPSG:2154", 0, 0, 100, 0)
