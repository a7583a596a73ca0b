"""The sample's layout and the grid it is meant for."""

from geosiam.sources.sample import SAMPLE_GRID, SAMPLE_LAYOUT
from geosiam.tiling.grid import Grid


def test_default_grid_gives_hundreds_of_tiles_crossing_dalle_borders():
    grid = Grid(**SAMPLE_GRID)
    xmin, ymin, xmax, ymax = SAMPLE_LAYOUT.bounds
    full = [
        (c, r)
        for c, r in grid.cells(SAMPLE_LAYOUT.bounds)
        if grid.bounds(c, r)[0] >= xmin
        and grid.bounds(c, r)[2] <= xmax
        and grid.bounds(c, r)[1] >= ymin
        and grid.bounds(c, r)[3] <= ymax
    ]
    assert 900 <= len(full) <= 1000  # 31 x 31 tiles of 250 m in 8 x 8 km, half a tile in
    dalle_m = SAMPLE_LAYOUT.dalle_km * 1000
    crossing = [
        (c, r)
        for c, r in full
        if int((grid.bounds(c, r)[0] - xmin) // dalle_m)
        != int((grid.bounds(c, r)[2] - xmin - 1e-6) // dalle_m)
    ]
    assert crossing, "some tiles must straddle two dalles"
    assert (SAMPLE_GRID["tile_size_m"], SAMPLE_GRID["tile_px"], SAMPLE_GRID["crs"]) == (
        250.0,
        64,
        "EPSG:2154",
    )
