"""The one GeoTIFF profile of the rasters geosiam writes: tiles, masks, WMS-R blocks (and the block
size that the per-year mosaics announce for their tiles).

Tiled in square blocks of at most ``BLOCK_PX`` (an image smaller than that is one block, when its
side is a multiple of 16 as GeoTIFF requires; otherwise it is written in strips), compressed with
ZSTD level 1 and the horizontal predictor: on real 0M50 tiles it writes faster than DEFLATE for
files no larger (benchmarks/results/tiling_dalles.md).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from affine import Affine
    from rasterio.crs import CRS

BLOCK_PX = 256
COMPRESSION = {"compress": "zstd", "zstd_level": 1, "predictor": 2}


def block_px(width: int, height: int) -> int | None:
    """The side of the square blocks of a ``width`` x ``height`` GeoTIFF; None: in strips."""
    block = min(BLOCK_PX, width, height)
    return block if block % 16 == 0 else None


def geotiff_profile(width: int, height: int, count: int, crs: str, transform: Affine, dtype="uint8") -> dict:
    """Creation options of a tiled, compressed GeoTIFF (3 bands: RGB) for ``rasterio.open(..., "w")``.

    Floating-point rasters get the floating-point predictor (3), which suits them as 2 suits integers.
    """
    block = block_px(width, height)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": dtype,
        "crs": parsed_crs(crs),
        "transform": transform,
        "tiled": block is not None,
        **COMPRESSION,
    }
    if np.dtype(dtype).kind == "f":
        profile["predictor"] = 3
    if count == 3:
        profile["photometric"] = "RGB"
    if block is not None:
        profile.update(blockxsize=block, blockysize=block)
    return profile


@lru_cache(maxsize=4)
def parsed_crs(crs: str) -> CRS:
    """A CRS parsed once per process, not once per file."""
    from rasterio.crs import CRS  # lazy: sources/wms.py imports this module; listing sources needs no GDAL

    return CRS.from_user_input(crs)
