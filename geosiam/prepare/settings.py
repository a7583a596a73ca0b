"""The settings of a ``prepare``: defaults < the workspace's geosiam.toml < command-line options.

An area given on the command line replaces the stored one whole; the grid fields and split block
left to an area's defaults follow the area (the sample's 250 m grid never sticks to an IGN
département), and what the user chose stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import rasterio

from geosiam.config import (
    DEFAULT_CRS,
    DEFAULT_TILE_PX,
    DEFAULT_TILE_SIZE_M,
    Settings,
    validate_years,
    with_overrides,
)
from geosiam.errors import SettingsError, SourceError
from geosiam.sources.local import RASTER_SUFFIXES, find_files
from geosiam.sources.sample import check_sample, sample_grid, sample_layout
from geosiam.workspace import Workspace

AREA_KEYS = ("area.sample", "area.depts", "area.bbox", "area.aoi", "sources.ortho")
BLOCK_TILES = 5  # default split block: 5 x 5 tiles


@dataclass(frozen=True)
class ResolvedSettings:
    """The settings of a ``prepare``; ``sample_by_default``: neither the command line nor
    geosiam.toml named an area, so the built-in sample area was taken."""

    settings: Settings
    sample_by_default: bool = False


def resolve_settings(workspace_dir: Path, overrides: dict) -> ResolvedSettings:
    """Defaults < the workspace's geosiam.toml < command-line ``overrides``, checked."""
    workspace = Workspace(Path(workspace_dir))
    settings = workspace.load_settings() if workspace.settings_path.exists() else Settings()
    if any(overrides.get(key) for key in AREA_KEYS):
        # an area given on the command line replaces the stored one as a whole, with the grid
        # and split block it chose (what the user chose stays)
        _forget_area_defaults(settings)
        settings.area = type(settings.area)()
        settings.sources.ortho, settings.sources.topo = {}, {}
    settings = with_overrides(settings, overrides)
    _check_labels(settings)
    settings.years = validate_years(settings.years)
    area = settings.area
    chosen = [
        bool(area.sample),
        bool(area.depts),
        bool(area.bbox),
        bool(area.aoi),
        bool(settings.sources.ortho),
    ]
    if area.sample and sum(chosen) > 1:
        raise SettingsError("--sample cannot be combined with --dept/--bbox/--aoi/--ortho: pick one")
    if settings.sources.topo and not settings.sources.ortho:
        raise SettingsError("--topo needs --ortho for the same years: give your imagery too")
    area.sample = area.sample or not any(chosen)
    _resolve_grid(settings)
    return ResolvedSettings(settings, sample_by_default=not any(chosen))


def _check_labels(settings: Settings) -> None:
    """The label options, checked before anything is fetched (years still in the order given)."""
    labels, years = settings.labels, settings.years
    if labels.mode == "newer" and years != sorted(years):
        given, ordered = " ".join(map(str, years)), " ".join(map(str, sorted(years)))
        raise SettingsError(
            f"--labels newer labels the newer year, but --years {given} gives it first: "
            f"give the years oldest first (--years {ordered})"
        )


def _resolve_grid(settings: Settings) -> None:
    """Fill the grid fields left to the area's defaults."""
    grid = settings.grid
    if settings.area.sample:
        defaults = sample_grid(sample_layout(settings.sample))
        # the origin belongs to the sample (half a tile inside its corner), not to the user: a
        # workspace prepared from an earlier, differently sized sample is then told apart (claim)
        grid.origin_x, grid.origin_y = defaults["origin_x"], defaults["origin_y"]
    else:
        defaults = {"crs": DEFAULT_CRS, "tile_size_m": DEFAULT_TILE_SIZE_M, "tile_px": DEFAULT_TILE_PX}
        if settings.sources.ortho and grid.crs is None:
            grid.crs = _first_raster_crs(settings)
    grid.crs = grid.crs or defaults["crs"]
    grid.tile_size_m = grid.tile_size_m or defaults["tile_size_m"]
    grid.tile_px = grid.tile_px or defaults["tile_px"]
    if settings.split.block_size_m is None:
        settings.split.block_size_m = BLOCK_TILES * grid.tile_size_m
    if settings.area.sample:
        check_sample(settings)


def _forget_area_defaults(settings: Settings) -> None:
    """Unset the grid fields and split block size that hold the stored area's defaults.

    geosiam.toml records them resolved; left as they are, a sample's 250 m / 64 px grid, its
    origin and block size would stick to the IGN département that replaces it.
    """
    grid, split = settings.grid, settings.split
    if split.block_size_m == BLOCK_TILES * (grid.tile_size_m or 0):
        split.block_size_m = None
    if settings.area.sample:
        defaults = sample_grid(sample_layout(settings.sample))
    else:
        defaults = {"crs": DEFAULT_CRS, "tile_size_m": DEFAULT_TILE_SIZE_M, "tile_px": DEFAULT_TILE_PX}
        if settings.sources.ortho:
            try:
                defaults["crs"] = _first_raster_crs(settings)
            except SourceError:  # the old rasters are gone: their CRS stays
                del defaults["crs"]
    unset = Settings().grid
    for field, value in defaults.items():
        if getattr(grid, field) == value:
            setattr(grid, field, getattr(unset, field))


def _first_raster_crs(settings: Settings) -> str:
    """The grid CRS of local data defaults to the CRS of the first year's first raster."""
    ortho = settings.sources.ortho
    given = [ortho[str(year)] for year in settings.years if str(year) in ortho] or list(ortho.values())
    # a year without --ortho is told later, with the other checks of the sources (resolve_sources)
    first = find_files(given[0], RASTER_SUFFIXES, "rasters")[0]
    try:
        with rasterio.open(first) as src:
            if src.crs is None:
                raise SourceError(f"raster {first} has no CRS: georeference it or pass --crs with its CRS")
            return src.crs.to_string()
    except rasterio.errors.RasterioIOError as exc:
        raise SourceError(f"cannot read raster {first}: {exc}") from None
