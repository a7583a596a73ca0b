"""Where the sample lies and how it is cut: its dalles, its resolution and the grid it is meant for."""

from __future__ import annotations

import math
from dataclasses import dataclass

from geosiam.config import FIRST_YEAR, LAST_YEAR, SampleSettings, Settings
from geosiam.errors import SettingsError

PANCHROMATIC_RESOLUTION_M = 5.0  # grey campaigns: coarser dalles, resampled to the grid by tiling


@dataclass(frozen=True)
class SampleLayout:
    """Where the sample lies and how it is cut: ``dalles`` x ``dalles`` dalles of ``dalle_km``.

    8 x 8 km by default (``--sample-km``): large enough that a network trained from scratch has
    places enough not to overfit, and that the val and test splits rank models alike (a 6 x 6 km
    sample had neither: commit 92d88a9). Colour campaigns are written at ``resolution_m``,
    panchromatic ones coarser.
    """

    left_km: int = 916  # Lambert-93, south of Nancy
    top_km: int = 6830
    dalles: int = 4
    dalle_km: int = 2
    resolution_m: float = 2.0

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        size = self.dalles * self.dalle_km * 1000.0
        return (
            self.left_km * 1000.0,
            self.top_km * 1000.0 - size,
            self.left_km * 1000.0 + size,
            self.top_km * 1000.0,
        )

    def resolution(self, grey: bool = False) -> float:
        """Metres per pixel of a colour or a panchromatic campaign's dalles."""
        return PANCHROMATIC_RESOLUTION_M if grey else self.resolution_m

    def resolution_token(self, grey: bool = False) -> str:
        """IGN's resolution token: 0M50, 1M00, 2M00..."""
        resolution = self.resolution(grey)
        metres = int(resolution)
        return f"{metres}M{round((resolution - metres) * 100):02d}"

    def dalle_corners(self) -> list[tuple[int, int]]:
        """(left km, top km) of every dalle, row by row from the north-west."""
        return [
            (self.left_km + col * self.dalle_km, self.top_km - row * self.dalle_km)
            for row in range(self.dalles)
            for col in range(self.dalles)
        ]


def sample_layout(sample: SampleSettings) -> SampleLayout:
    """The layout of a ``sample.km`` side: 2 km dalles, or 1 km ones for an odd number of km."""
    dalle_km = 2 if sample.km % 2 == 0 else 1
    return SampleLayout(dalles=sample.km // dalle_km, dalle_km=dalle_km)


def sample_grid(layout: SampleLayout) -> dict:
    """The grid the sample is meant for: 250 m tiles at 64 px (about 3.9 m/px, the prototype's
    ground scale); its origin is half a tile off the dalle grid, so tiles cross dalle borders."""
    return dict(
        crs="EPSG:2154",
        origin_x=layout.bounds[0] + 125.0,
        origin_y=layout.bounds[1] + 125.0,
        tile_size_m=250.0,
        tile_px=64,
    )


SAMPLE_LAYOUT = sample_layout(SampleSettings())
SAMPLE_GRID = sample_grid(SAMPLE_LAYOUT)


def check_sample(settings: Settings) -> None:
    """Refuse, before anything is drawn, a sample too small for the splits or a wrong grey year."""
    sample = settings.sample
    if isinstance(sample.km, bool) or not isinstance(sample.km, int) or sample.km <= 0:
        raise SettingsError(
            f"--sample-km must be a whole number of km above 0, got {sample.km}: e.g. --sample-km 8"
        )
    if not FIRST_YEAR <= sample.panchromatic_before <= LAST_YEAR:
        raise SettingsError(
            f"--panchromatic-before {sample.panchromatic_before} is outside the sample's years: "
            f"give a year from {FIRST_YEAR} to {LAST_YEAR}"
        )
    split, grid = settings.split, settings.grid
    wanted = sum(1 for f in split.fractions if f > 0)
    if split.method != "blocks" or not grid.tile_size_m:
        return
    xmin, ymin, xmax, ymax = sample_layout(sample).bounds
    blocks = len(_blocks_along(xmin, xmax, grid.origin_x, grid.tile_size_m, split.block_size_m)) * len(
        _blocks_along(ymin, ymax, grid.origin_y, grid.tile_size_m, split.block_size_m)
    )
    if blocks < wanted:
        raise SettingsError(
            f"a {sample.km} km sample holds {blocks} split block(s) of {split.block_size_m:g} m, "
            f"fewer than the {wanted} splits: give a larger --sample-km"
        )


def _blocks_along(low: float, high: float, origin: float, tile: float, block: float) -> set[int]:
    """Split blocks (by tile centre, as pairing assigns them) of the whole tiles in [low, high]."""
    first = math.ceil((low - origin) / tile - 1e-9)
    last = math.floor((high - origin) / tile + 1e-9) - 1
    return {math.floor((origin + (k + 0.5) * tile) / block) for k in range(first, last + 1)}
