"""Cut every year's source rasters into RGB tiles on the workspace grid.

Per chunk of tiles: each source raster overlapping it is read once, at the coarsest resolution
level (JPEG2000) or overview the tile resolution and ``prepare.oversampling`` allow (decoding a
level instead of full resolution is the cheapest read: benchmarks/tiling_dalles.py), brought onto the chunk
canvas (resized where the grids are aligned, warped otherwise: see :mod:`resample`), mosaicked
across dalle borders (first raster wins where both are valid), then cut into tiles. Tiles below
the valid-fraction threshold are dropped; the others are written as tiled, ZSTD-compressed
GeoTIFFs with an internal validity mask.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import MaskFlags, Resampling
from rasterio.transform import array_bounds
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from geosiam import atomic
from geosiam.geometry import bounds_overlap
from geosiam.geotiff import geotiff_profile, parsed_crs
from geosiam.tiling import chunks, resample
from geosiam.tiling.grid import Grid
from geosiam.tiling.rasters import RasterInfo, UnreadableRaster, to_uint8

log = logging.getLogger(__name__)

UNREADABLE = "unreadable"  # key of the record a chunk returns when one of its rasters fails to decode


@dataclass(frozen=True)
class CutJob:
    """One chunk of one year, with everything a worker process needs."""

    grid: Grid
    chunk: chunks.Chunk
    year: int
    rasters: tuple[RasterInfo, ...]
    min_valid_fraction: float
    oversampling: float  # see resample.level_factor
    root: Path  # workspace root
    marker: Path
    fingerprint: str


def cut_chunk(job: CutJob) -> list[dict]:
    """Make the tiles of one chunk (or return its records if a marker says it is done).

    A raster that opens but fails to decode (a truncated file) is left out of the mosaic and
    reported as one more record, ``{UNREADABLE: "path: reason"}``, rather than as an exception out
    of the worker pool; the chunk is then left unmarked, so that it is made again once the file
    is replaced.
    """
    done = chunks.read_marker(job.marker, job.fingerprint)
    if done is not None:
        return done
    grid, chunk = job.grid, job.chunk
    unreadable: list[str] = []
    canvas, source_index = mosaic(
        job.rasters, chunk.transform(grid), chunk.shape(grid), grid.crs, job.oversampling, unreadable
    )
    with rasterio.Env(**TILE_ENV):
        records = _write_tiles(job, canvas, source_index)
    if unreadable:
        return records + [{UNREADABLE: message} for message in unreadable]
    chunks.write_marker(job.marker, job.fingerprint, records)
    return records


def _write_tiles(job: CutJob, canvas: np.ndarray, source_index: np.ndarray) -> list[dict]:
    """Cut the chunk canvas into tiles; write those valid enough; return their records."""
    grid, chunk = job.grid, job.chunk
    records = []
    for col, row in chunk.cells:
        rows, cols = chunk.cell_slices(grid, col, row)
        owners = source_index[rows, cols]
        valid = owners >= 0
        fraction = float(valid.mean())
        if fraction < job.min_valid_fraction:
            continue
        tile_id = grid.tile_id(col, row)
        relative = Path("tiles") / str(job.year) / f"{tile_id}.tif"
        write_tile(job.root / relative, canvas[:, rows, cols], valid, grid, col, row)
        source = job.rasters[int(np.bincount(owners[valid]).argmax())].source
        records.append(
            {
                "tile_id": tile_id,
                "year": job.year,
                "col": col,
                "row": row,
                "image": relative.as_posix(),
                "valid_fraction": round(fraction, 4),
                "origin": source.origin,
                "zone": source.zone,
                "acquisition": source.acquisition,
                "year_end_mosaic": source.year_end_mosaic,
            }
        )
    return records


def mosaic(
    rasters, transform, shape, grid_crs, oversampling: float = 0.0, unreadable: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """RGB canvas (3, H, W) uint8 and, per pixel, the index of the raster that filled it (-1: none).

    A raster that fails to decode raises :class:`UnreadableRaster`, or, given an ``unreadable``
    list, is skipped and noted there ("path: reason").
    """
    canvas = np.zeros((3, *shape), dtype=np.uint8)
    owner = np.full(shape, -1, dtype=np.int32)
    bounds = array_bounds(*shape, transform)
    for index, info in enumerate(rasters):
        if not bounds_overlap(info.bounds, bounds):
            continue
        try:
            data, valid = read_onto(info, transform, shape, grid_crs, oversampling)
        except rasterio.errors.RasterioIOError as exc:
            # rasterio's own message only says "Read failed"; GDAL's cause says where and why
            failure = UnreadableRaster(f"{info.path}: {exc.__cause__ or exc}")
            if unreadable is None:
                raise failure from None
            log.warning("skipping unreadable raster %s", failure)
            unreadable.append(str(failure))
            continue
        fill = valid & (owner < 0)
        np.copyto(canvas, data, where=fill)
        owner[fill] = index
    return canvas, owner


def read_onto(
    info: RasterInfo, transform, shape, grid_crs, oversampling: float = 0.0, aligned: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """One raster resampled onto a canvas grid: (3, H, W) uint8 values and a validity mask.

    The source is decoded at the coarsest resolution level (JPEG2000) or overview that
    ``oversampling`` allows (see :func:`resample.level_factor`); where the source and the grid
    are aligned (same CRS, pixel edges in common up to a scale) that level is resized onto the
    canvas, otherwise (or with ``aligned=False``) it is warped.
    """
    with rasterio.open(info.path) as src:
        plan = None
        if aligned and src.crs == parsed_crs(grid_crs):
            plan = resample.aligned_read(src.transform, (src.width, src.height), transform, shape)
        factor = resample.level_factor(
            abs(transform.a) / abs(src.transform.a), src.overviews(info.bands[0]), oversampling
        )
        if plan is None:
            return _read_warped(src, info, transform, shape, grid_crs, factor)
        return _read_aligned(src, info, plan, shape, factor)


def _read_aligned(src, info: RasterInfo, plan: resample.AlignedRead, shape, factor: int):
    """A window read at the chosen level, area-resized onto its place in the canvas."""
    rgb = np.zeros((3, *shape), dtype=np.uint8)
    valid = np.zeros(shape, dtype=bool)
    if not plan.width:
        return rgb, valid
    window = Window(plan.col_off, plan.row_off, plan.width, plan.height)
    level = (max(1, round(plan.height / factor)), max(1, round(plan.width / factor)))
    data = src.read(list(info.bands), window=window, out_shape=(3, *level), resampling=Resampling.average)
    target = (plan.dst_height, plan.dst_width)
    rows = slice(plan.dst_row, plan.dst_row + plan.dst_height)
    cols = slice(plan.dst_col, plan.dst_col + plan.dst_width)
    if info.stretch is not None:
        data = np.clip(np.rint(to_uint8(data, info.stretch)), 0, 255).astype(np.uint8)
    rgb[:, rows, cols] = resample.resize(data, target, resample.level_offset(src.driver, factor))
    if all(src.mask_flag_enums[band - 1] == [MaskFlags.all_valid] for band in set(info.bands)):
        valid[rows, cols] = True
    else:
        mask = src.dataset_mask(window=window, out_shape=level, resampling=Resampling.nearest)
        valid[rows, cols] = resample.nearest_resize(mask, target) > 0
    return rgb, valid


def _read_warped(src, info: RasterInfo, transform, shape, grid_crs, factor: int):
    """The source window around the canvas, read at the chosen level, then reprojected."""
    bounds = transform_bounds(grid_crs, src.crs, *array_bounds(*shape, transform), densify_pts=21)
    window = _block_aligned(from_bounds(*bounds, transform=src.transform), src)
    if window is None:
        return np.zeros((3, *shape), np.uint8), np.zeros(shape, bool)
    out_h = max(1, math.ceil(window.height / factor))
    out_w = max(1, math.ceil(window.width / factor))
    data = src.read(
        list(info.bands), window=window, out_shape=(3, out_h, out_w), resampling=Resampling.average
    )
    mask = src.dataset_mask(window=window, out_shape=(out_h, out_w), resampling=Resampling.nearest)
    offset = resample.level_offset(src.driver, factor)
    src_transform = (
        src.window_transform(window)
        @ rasterio.Affine.scale(window.width / out_w, window.height / out_h)
        @ rasterio.Affine.translation(offset, offset)
    )
    values = to_uint8(data, info.stretch)
    resampling = Resampling.average if abs(transform.a) >= 2 * abs(src_transform.a) else Resampling.bilinear
    out = np.zeros((3, *shape), dtype=np.float32)
    reproject(
        values,
        out,
        src_transform=src_transform,
        src_crs=src.crs,
        dst_transform=transform,
        dst_crs=grid_crs,
        resampling=resampling,
    )
    valid = np.zeros(shape, dtype=np.uint8)
    reproject(
        mask,
        valid,
        src_transform=src_transform,
        src_crs=src.crs,
        dst_transform=transform,
        dst_crs=grid_crs,
        resampling=Resampling.nearest,
        src_nodata=0,
        dst_nodata=0,
    )
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), valid > 0


def write_tile(path: Path, rgb: np.ndarray, valid: np.ndarray, grid: Grid, col: int, row: int):
    """A tiled, compressed RGB GeoTIFF with an internal mask where pixels are invalid.

    Call it inside ``rasterio.Env(**TILE_ENV)`` (once per chunk: an Env per file costs more
    than the write).
    """
    profile = geotiff_profile(grid.tile_px, grid.tile_px, 3, grid.crs, grid.transform(col, row))
    with atomic.atomic_path(path, suffix=".tif") as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(rgb)
            if not valid.all():
                dst.write_mask(valid.astype(np.uint8) * 255)


TILE_ENV = {"GDAL_TIFF_INTERNAL_MASK": True}  # a tile's validity mask inside its GeoTIFF


def _block_aligned(window, src):
    """``window`` grown outwards to the raster's internal blocks and clipped to the raster."""
    block_h, block_w = src.block_shapes[0]
    col0 = max(0, math.floor(window.col_off / block_w) * block_w)
    row0 = max(0, math.floor(window.row_off / block_h) * block_h)
    col1 = min(src.width, math.ceil((window.col_off + window.width) / block_w) * block_w)
    row1 = min(src.height, math.ceil((window.row_off + window.height) / block_h) * block_h)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)
