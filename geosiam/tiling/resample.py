"""Pure arithmetic of reading a source raster onto the tile grid: levels, alignment, resizing.

- :func:`level_factor`: which resolution level (JPEG2000) or overview (GeoTIFF) to decode. The
  coarsest level whose pixels are at most ``1 + oversampling`` times the tile pixel: at 0M50 and
  3.906 m tiles the decimation is 7.81, and a 2.4 % oversampling lets the 1/8 level serve it
  (decoding a quarter of the 1/4 level's pixels); the level is then enlarged by 2.4 % to the
  grid, and the tiles are as sharp as those from the 1/4 level (benchmarks/results/
  tiling_dalles.md).
- :func:`aligned_read`: when the source and the grid share a CRS and the part of the source a
  canvas needs starts and ends on pixel edges of both grids (they are aligned up to a scale),
  that part is a plain window read then a resize, with no warping.
- :func:`level_offset`: JPEG2000 levels are not centred where GDAL places them; the resize
  puts them back.
- :func:`resize`: the resize, with the kernels the warp path uses (GDAL's ``average`` when
  shrinking 2x or more, ``bilinear`` otherwise), separable, a small fraction of the decode time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

EPSILON = 1e-6  # in pixels: coordinates closer than this to an integer are that integer


def level_factor(decimation: float, factors: Sequence[int], oversampling: float) -> int:
    """The coarsest of ``factors`` at most ``decimation * (1 + oversampling)``; 1 if none is.

    >>> level_factor(7.8125, [2, 4, 8, 16], 0.05)
    8
    >>> level_factor(7.8125, [2, 4, 8, 16], 0.0)
    4
    >>> level_factor(19.53, [2, 4, 8, 16, 32], 0.05)
    16
    """
    limit = decimation * (1.0 + oversampling) + EPSILON
    return max((f for f in factors if f <= limit), default=1)


def level_offset(driver: str, factor: int) -> float:
    """Where a decoded level's pixel grid really starts, in its own pixels, against GDAL's say.

    JPEG2000's low-pass samples sit on the even input samples (ISO/IEC 15444-1 annex F), so the
    pixel k of the level 1/f is centred on full-resolution pixel f*k, not on the middle of its
    f x f block: the level's grid starts (f - 1) / 2 full-resolution pixels earlier than the
    overview geotransform GDAL's OpenJPEG driver gives it (measured: 3.5 px at 1/8, 1.5 px at
    1/4). GeoTIFF overviews are block means and need no shift.
    """
    if driver != "JP2OpenJPEG" or factor <= 1:
        return 0.0
    return -(factor - 1) / (2 * factor)


@dataclass(frozen=True)
class AlignedRead:
    """A window of the source (source pixels) and where it lands on the canvas (canvas pixels)."""

    col_off: int
    row_off: int
    width: int
    height: int
    dst_col: int
    dst_row: int
    dst_width: int
    dst_height: int


def aligned_read(src_transform, src_size: tuple[int, int], dst_transform, dst_shape: tuple[int, int]):
    """The window read that fills the canvas without warping, or None where it would need one.

    Both transforms must be north-up in the same CRS (the caller checks the CRS). The answer is
    None when the grids' pixels are not aligned up to a scale, i.e. when a canvas edge or a
    source edge inside the canvas does not fall on a pixel edge of both grids; an
    ``AlignedRead`` of zero size when the source misses the canvas.
    """
    if src_transform.b or src_transform.d or dst_transform.b or dst_transform.d:
        return None
    pixel, dst_pixel = src_transform.a, dst_transform.a
    if pixel <= 0 or dst_pixel <= 0:
        return None
    if (
        abs(src_transform.e + pixel) > EPSILON * pixel
        or abs(dst_transform.e + dst_pixel) > EPSILON * dst_pixel
    ):
        return None  # pixels that are not square: warp
    width, height = src_size
    dst_height, dst_width = dst_shape
    # the canvas in source pixels
    x0 = (dst_transform.c - src_transform.c) / pixel
    y0 = (src_transform.f - dst_transform.f) / pixel
    scale = dst_pixel / pixel
    x1, y1 = x0 + dst_width * scale, y0 + dst_height * scale
    edges = [max(x0, 0.0), max(y0, 0.0), min(x1, width), min(y1, height)]
    if edges[2] <= edges[0] or edges[3] <= edges[1]:
        return AlignedRead(0, 0, 0, 0, 0, 0, 0, 0)
    in_dst = [
        (edges[0] - x0) / scale,
        (edges[1] - y0) / scale,
        (edges[2] - x0) / scale,
        (edges[3] - y0) / scale,
    ]
    if not all(_integral(v) for v in edges + in_dst):
        return None
    c0, r0, c1, r1 = (round(v) for v in edges)
    d0, e0, d1, e1 = (round(v) for v in in_dst)
    return AlignedRead(c0, r0, c1 - c0, r1 - r0, d0, e0, d1 - d0, e1 - e0)


def resize(image: np.ndarray, shape: tuple[int, int], offset: float = 0.0) -> np.ndarray:
    """(..., H, W) uint8 resized to (..., *shape) uint8, with the warp path's kernel choice.

    Shrinking by 2 or more: the exact area mean (GDAL's ``average``); less than that, or
    enlarging: bilinear, its kernel widened when shrinking (GDAL's ``bilinear``, Pillow's
    separable C resampler). ``offset`` as in :func:`area_resize`.
    """
    height, width = image.shape[-2:]
    if (height, width) == tuple(shape) and not offset:
        return image
    if width >= 2 * shape[1] and height >= 2 * shape[0]:
        return np.clip(np.rint(area_resize(image, shape, offset)), 0, 255).astype(np.uint8)
    planes = image.reshape(-1, height, width)
    out = np.empty((planes.shape[0], *shape), dtype=np.uint8)
    start = 1.0 - offset  # in the padded plane; the 1 px edge keeps the box inside it
    box = (start, start, start + width, start + height)
    for index, plane in enumerate(planes):
        padded = Image.fromarray(np.pad(plane, 1, mode="edge"))
        out[index] = np.asarray(padded.resize((shape[1], shape[0]), Image.Resampling.BILINEAR, box=box))
    return out.reshape(*image.shape[:-2], *shape)


def area_resize(image: np.ndarray, shape: tuple[int, int], offset: float = 0.0) -> np.ndarray:
    """(..., H, W) float32 resized to (..., *shape), each output pixel the area-weighted input mean.

    ``offset``: where the input grid starts, in input pixels, relative to the output grid's
    start (both span the same extent otherwise); output pixels partly outside the input are
    the mean of the part inside.
    """
    height, width = image.shape[-2:]
    if (height, width) == tuple(shape) and not offset:
        return image.astype(np.float32, copy=False)
    lead = image.shape[:-2]
    planes = image.reshape(-1, height, width).astype(np.float32, copy=False)
    index, weights = _area_taps(height, shape[0], offset)
    tall = sum(planes[:, index[:, k], :] * weights[:, k, None] for k in range(index.shape[1]))
    index, weights = _area_taps(width, shape[1], offset)
    out = sum(tall[:, :, index[:, k]] * weights[:, k] for k in range(index.shape[1]))
    return out.reshape(*lead, *shape)


def nearest_resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) resized to ``shape`` by taking the input pixel under each output pixel's centre."""
    height, width = image.shape
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * height / shape[0]).astype(np.intp), height - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * width / shape[1]).astype(np.intp), width - 1)
    return image[np.ix_(rows, cols)]


@lru_cache(maxsize=32)
def _area_taps(n_in: int, n_out: int, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per output pixel, the input pixels it overlaps and their shares: (n_out, taps) each.

    Input pixel j spans [j + offset, j + 1 + offset) in input units; the shares of each output
    pixel are normalised over the input it overlaps (unused taps: index 0, share 0).
    """
    scale = n_in / n_out  # input pixels per output pixel
    span = math.ceil(scale) + 2
    starts = np.arange(n_out) * scale - offset  # output pixel starts, in input indices
    first = np.floor(starts + EPSILON).astype(np.intp)
    index = first[:, None] + np.arange(span)[None, :]
    lo = np.maximum(index, starts[:, None])
    hi = np.minimum(index + 1, starts[:, None] + scale)
    weights = np.clip(hi - lo, 0, None)
    outside = (index < 0) | (index >= n_in)
    weights[outside] = 0
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), EPSILON)
    used = (weights > EPSILON).any(axis=0)  # drop taps no output pixel uses
    index = np.where(outside, 0, index)
    return index[:, used], weights[:, used].astype(np.float32)


def _integral(value: float) -> bool:
    return abs(value - round(value)) < EPSILON
