"""Inspect source rasters once: CRS, footprint in the grid CRS, pixel size, value range.

Unreadable files are reported, not fatal (the rest of the year goes on); a raster without a CRS
is an error, because placing it anywhere would be a guess.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import transform_bounds

from geosiam.errors import SourceError
from geosiam.sources.sourceset import YearSources

log = logging.getLogger(__name__)

STRETCH_PERCENTILES = (2.0, 98.0)


@dataclass(frozen=True)
class RasterInfo:
    """What tiling needs to know about one source raster."""

    path: Path
    source: YearSources
    crs: str  # WKT
    bounds: tuple[float, float, float, float]  # in the grid CRS
    pixel_size: float  # approximate ground size of a source pixel, in grid CRS units
    bands: tuple[int, int, int]  # 1-based source bands read as red, green, blue
    stretch: tuple[tuple[float, float], ...] | None  # per band (low, high); None for uint8


def inspect(
    record: YearSources, path: Path, grid_crs: str, bands: tuple[int, int, int] = (1, 2, 3)
) -> RasterInfo:
    """Open ``path`` once and describe it; raises SourceError for an unusable raster.

    ``bands`` are read as red, green, blue; a single-band raster is read as grey (its band
    three times), so panchromatic imagery and one-band products go through too.
    """
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise SourceError(
                    f"raster {path} has no CRS: georeference it (e.g. gdal_edit.py -a_srs EPSG:2154)"
                )
            if src.count == 1:
                bands = (1, 1, 1)
            elif max(bands) > src.count:
                raise SourceError(
                    f"raster {path} has {src.count} bands, cannot read bands {list(bands)} as RGB: "
                    f"pass --bands R,G,B with band numbers from 1 to {src.count}"
                )
            bounds = transform_bounds(src.crs, grid_crs, *src.bounds, densify_pts=21)
            stretch = None if src.dtypes[0] == "uint8" else _percentile_stretch(src, bands)
            return RasterInfo(
                path=Path(path),
                source=record,
                crs=src.crs.to_wkt(),
                bounds=tuple(bounds),
                pixel_size=(bounds[2] - bounds[0]) / src.width,
                bands=tuple(bands),
                stretch=stretch,
            )
    except rasterio.errors.RasterioIOError as exc:
        raise UnreadableRaster(f"{path}: {exc}") from None


class UnreadableRaster(Exception):
    """A raster GDAL cannot open or decode; reported and skipped."""


def inspect_all(
    records: list[YearSources], grid_crs: str, bands: tuple[int, int, int] = (1, 2, 3)
) -> tuple[list[RasterInfo], list[str]]:
    """Every raster of ``records`` described; plus the unreadable ones, as messages."""
    infos, bad = [], []
    for record in records:
        for path in record.rasters:
            try:
                infos.append(inspect(record, path, grid_crs, bands))
            except UnreadableRaster as exc:
                log.warning("skipping unreadable raster %s", exc)
                bad.append(str(exc))
    return infos, bad


def _percentile_stretch(src, bands) -> tuple[tuple[float, float], ...]:
    """Per-band 2-98 % percentiles of valid pixels, read from a coarse overview.

    The documented rule for rasters that are not uint8 (16-bit JPEG2000, say): each band is
    stretched linearly so that its 2nd percentile maps to 0 and its 98th to 255, clipping
    beyond; the percentiles come from the whole raster (not per tile), so tiles stay
    consistent with one another.
    """
    scale = max(1, max(src.width, src.height) // 1024)
    shape = (3, max(1, src.height // scale), max(1, src.width // scale))
    data = src.read(list(bands), out_shape=shape, resampling=Resampling.nearest, masked=True)
    limits = []
    for band in data:
        values = band.compressed() if np.ma.isMaskedArray(band) else band.ravel()
        if values.size == 0:
            limits.append((0.0, 1.0))
            continue
        low, high = np.percentile(values, STRETCH_PERCENTILES)
        limits.append((float(low), float(max(high, low + 1))))
    return tuple(limits)


def to_uint8(data: np.ndarray, stretch: tuple[tuple[float, float], ...] | None) -> np.ndarray:
    """(3, H, W) samples as float32 0-255: uint8 as is, others by the percentile stretch."""
    data = data.astype(np.float32)
    if stretch is None:
        return data
    out = np.empty_like(data)
    for band, (low, high) in enumerate(stretch):
        out[band] = np.clip((data[band] - low) * (255.0 / (high - low)), 0, 255)
    return out
