"""Burn vectors into uint8 class-id masks on exactly each tile's grid.

Shapes are burnt in priority order (lowest first, so the highest priority wins where classes
overlap), each class with its own ``all_touched`` rule, once per chunk canvas at the tile
resolution, then cut per tile: rasterising a block once amortises the per-shape cost.
Masks are never resampled with anything but nearest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.features import rasterize

from geosiam import atomic
from geosiam.geotiff import geotiff_profile
from geosiam.rasterize.vectors import Burnables
from geosiam.tiling import chunks
from geosiam.tiling.grid import Grid
from geosiam.tiling.palette import Palette, write_category_names


def burn(shapes: Burnables, transform, shape: tuple[int, int]) -> np.ndarray:
    """A (H, W) uint8 class-id array of ``shapes`` on the pixel grid ``transform``/``shape``."""
    out = np.zeros(shape, dtype=np.uint8)
    if not len(shapes):
        return out
    # consecutive shapes with the same all_touched flag are burnt in one call, in burn order
    flags = shapes.all_touched
    starts = np.flatnonzero(np.r_[True, flags[1:] != flags[:-1]])
    ends = np.r_[starts[1:], len(flags)]
    for start, end in zip(starts, ends):
        rasterize(
            zip(_geojson(shapes.geometries[start:end]), shapes.class_ids[start:end].tolist()),
            out=out,
            transform=transform,
            all_touched=bool(flags[start]),
            dtype=np.uint8,
        )
    return out


def _geojson(geometries: np.ndarray) -> list:
    """Polygons as GeoJSON-like mappings for rasterio, built from flat coordinate arrays.

    shapely's per-geometry ``__geo_interface__`` costs ~0.1 ms a polygon, which made it most
    of a mask's time on real BD TOPO densities; other geometry types keep it.
    """
    polygonal = np.isin(shapely.get_type_id(geometries), (3, 6))  # Polygon, MultiPolygon
    parts, part_owner = shapely.get_parts(geometries[polygonal], return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    flat = coords.tolist()
    ends = np.cumsum(np.bincount(ring_of, minlength=len(rings))).tolist()
    part_rings: list[list] = [[] for _ in range(len(parts))]
    for ring, start, end in zip(ring_part.tolist(), [0, *ends[:-1]], ends):
        part_rings[ring].append(flat[start:end])
    polygons: list[list] = [[] for _ in range(int(polygonal.sum()))]
    for owner, part in zip(part_owner.tolist(), part_rings):
        polygons[owner].append(part)
    mapped = iter({"type": "MultiPolygon", "coordinates": p} for p in polygons)
    return [next(mapped) if is_polygon else g for g, is_polygon in zip(geometries, polygonal)]


@dataclass(frozen=True)
class MaskJob:
    """The masks of one chunk of one year."""

    grid: Grid
    chunk: chunks.Chunk
    year: int
    shapes: Burnables  # only the shapes intersecting the chunk
    root: Path
    marker: Path
    fingerprint: str
    palette: Palette  # the class table's colours and names, written into each mask


def burn_chunk(job: MaskJob) -> list[dict]:
    """Write the masks of one chunk's tiles; records map tile ids to mask paths and classes."""
    done = chunks.read_marker(job.marker, job.fingerprint)
    if done is not None:
        return done
    grid, chunk = job.grid, job.chunk
    canvas = burn(job.shapes, chunk.transform(grid), chunk.shape(grid))
    records = []
    for col, row in chunk.cells:
        rows, cols = chunk.cell_slices(grid, col, row)
        tile_id = grid.tile_id(col, row)
        relative = Path("masks") / str(job.year) / f"{tile_id}.tif"
        write_mask(job.root / relative, canvas[rows, cols], grid, col, row, job.palette)
        classes = np.unique(canvas[rows, cols]).tolist()
        records.append(
            {"tile_id": tile_id, "year": job.year, "mask": relative.as_posix(), "classes": classes}
        )
    chunks.write_marker(job.marker, job.fingerprint, records)
    return records


def write_mask(path: Path, classes: np.ndarray, grid: Grid, col: int, row: int, palette: Palette) -> None:
    """A single-band uint8 GeoTIFF on the tile's grid, class 0 = background, with the class
    colours as its colour table and the class names beside it (``.aux.xml``, written first)."""
    profile = geotiff_profile(grid.tile_px, grid.tile_px, 1, grid.crs, grid.transform(col, row))
    write_category_names(path, palette)
    with atomic.atomic_path(path, suffix=".tif") as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(classes, 1)
            dst.write_colormap(1, palette.colormap())
