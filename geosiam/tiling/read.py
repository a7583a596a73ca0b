"""Read workspace tiles and masks into numpy arrays (for training caches, embedding, baselines).

GDAL is told not to list a tile's folder at each open (it looks for sidecar files): in folders
of thousands of tiles that listing costs more than the read itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling

from geosiam.errors import SourceError
from geosiam.progress import progress

NO_FOLDER_LISTING = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}


def read_tile(path: Path, size: int | None = None) -> np.ndarray:
    """An RGB tile as (H, W, 3) uint8; resampled (average) to ``size`` px when given."""
    try:
        with rasterio.Env(**NO_FOLDER_LISTING), rasterio.open(path) as src:
            if src.count < 3:
                raise SourceError(f"{path} has {src.count} band(s), an RGB tile needs 3: give RGB imagery")
            shape = (3, size, size) if size else None
            data = src.read((1, 2, 3), out_shape=shape, resampling=Resampling.average)
    except rasterio.errors.RasterioIOError as exc:
        raise SourceError(f"cannot read tile {path}: {exc}") from None
    if data.dtype != np.uint8:
        raise SourceError(f"{path} is {data.dtype}, tiles must be uint8: re-run geosiam prepare")
    return np.moveaxis(data, 0, -1)


def read_mask(path: Path, size: int | None = None) -> np.ndarray:
    """A class-id mask as (H, W) uint8; resampled with nearest only (class ids never blend)."""
    try:
        with rasterio.Env(**NO_FOLDER_LISTING), rasterio.open(path) as src:
            shape = (size, size) if size else None
            return src.read(1, out_shape=shape, resampling=Resampling.nearest)
    except rasterio.errors.RasterioIOError as exc:
        raise SourceError(f"cannot read mask {path}: {exc}") from None


def read_many(
    images: Sequence[Path], masks: Sequence[Path] | None, size: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Stack tiles (N, H, W, 3) and masks (N, H, W) as uint8; masks None when not given."""
    rgb = np.stack([read_tile(p, size) for p in progress(images, desc="reading tiles")])
    if masks is None:
        return rgb, None
    return rgb, np.stack([read_mask(p, size) for p in masks])
