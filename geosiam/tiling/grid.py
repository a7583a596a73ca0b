"""The tile grid: one CRS, an origin, a tile size in metres and in pixels.

A tile is addressed by its column and row (row grows northwards, like y), and its id is derived
from that position alone, so the same place has the same id in every year::

    >>> g = Grid("EPSG:2154", 0.0, 0.0, 1000.0, 256)
    >>> g.tile_id(930, 6860)
    'x930_y6860'
    >>> g.bounds(930, 6860)
    (930000.0, 6860000.0, 931000.0, 6861000.0)
    >>> list(g.cells((930500, 6860500, 931200, 6861000)))
    [(930, 6860), (931, 6860)]
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from affine import Affine

from geosiam.config import Settings
from geosiam.errors import SettingsError
from geosiam.geometry import Bounds

_TILE_ID = re.compile(r"^x(-?\d+)_y(-?\d+)$")


@dataclass(frozen=True)
class Grid:
    crs: str
    origin_x: float
    origin_y: float
    tile_size_m: float
    tile_px: int

    def __post_init__(self) -> None:
        if self.tile_size_m <= 0 or self.tile_px <= 0:
            raise SettingsError(
                f"tile size must be positive (got {self.tile_size_m} m, {self.tile_px} px): "
                "check --tile-size-m and --tile-px"
            )

    @property
    def resolution(self) -> float:
        """Ground size of one tile pixel, in CRS units."""
        return self.tile_size_m / self.tile_px

    def tile_id(self, col: int, row: int) -> str:
        return f"x{col}_y{row}"

    def bounds(self, col: int, row: int) -> Bounds:
        xmin = self.origin_x + col * self.tile_size_m
        ymin = self.origin_y + row * self.tile_size_m
        return (xmin, ymin, xmin + self.tile_size_m, ymin + self.tile_size_m)

    def transform(self, col: int, row: int) -> Affine:
        """The affine transform of the tile's pixel grid (north up)."""
        xmin, _, _, ymax = self.bounds(col, row)
        return Affine(self.resolution, 0.0, xmin, 0.0, -self.resolution, ymax)

    def cells(self, bounds: Bounds) -> Iterator[tuple[int, int]]:
        """Every (col, row) whose tile intersects the interior of ``bounds``, row-major."""
        xmin, ymin, xmax, ymax = bounds
        size = self.tile_size_m
        col0 = math.floor((xmin - self.origin_x) / size)
        col1 = math.ceil((xmax - self.origin_x) / size)
        row0 = math.floor((ymin - self.origin_y) / size)
        row1 = math.ceil((ymax - self.origin_y) / size)
        for row in range(row0, row1):
            for col in range(col0, col1):
                yield col, row


def grid_of(settings: Settings) -> Grid:
    """The grid of resolved ``settings`` (every grid field set)."""
    g = settings.grid
    return Grid(g.crs, g.origin_x, g.origin_y, g.tile_size_m, g.tile_px)


def parse_tile_id(tile_id: str) -> tuple[int, int]:
    """(col, row) of a tile id made by :meth:`Grid.tile_id`."""
    match = _TILE_ID.match(tile_id)
    if not match:
        raise SettingsError(f"'{tile_id}' is not a geosiam tile id (expected x<col>_y<row>)")
    return int(match[1]), int(match[2])
