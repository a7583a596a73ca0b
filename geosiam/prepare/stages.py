"""The three data stages of ``prepare`` over a whole area: tiles, masks, pairs.

Each stage plans chunks, runs them in parallel (finished chunks are skipped on a re-run, by
their markers under ``cache/stages/``) and returns plain tables; ``tiles.gpkg`` and
``pairs.gpkg`` are written last, atomically.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from rasterio.warp import transform_bounds

from geosiam.config import Settings, fingerprint, to_dict
from geosiam.errors import SourceError
from geosiam.geometry import bounds_overlap
from geosiam.rasterize.classes import ClassTable
from geosiam.rasterize.masks import MaskJob, burn_chunk
from geosiam.rasterize.vectors import load_burnables_of
from geosiam.sources.area import aoi_shape, bbox_bounds
from geosiam.sources.ground_truth import read_changes
from geosiam.sources.labels import LabelPlan
from geosiam.sources.sourceset import YearSources, by_year
from geosiam.tiling import chunks
from geosiam.tiling.cut import UNREADABLE, CutJob, cut_chunk
from geosiam.tiling.grid import Grid
from geosiam.tiling.pairs import assign_splits, changed_fraction, pair_tiles
from geosiam.tiling.rasters import RasterInfo, inspect_all
from geosiam.tiling.tables import SPLIT_STYLE, TILE_COLUMNS, write_geopackage
from geosiam.workspace import Workspace

log = logging.getLogger(__name__)


def make_tiles(
    workspace: Workspace,
    grid: Grid,
    records: list[YearSources],
    settings: Settings,
    runner: chunks.Runner,
    made: frozenset[tuple[int, int]] = frozenset(),
    part: str = "",
):
    """Cut both years on the grid; returns (tiles GeoDataFrame, unreadable raster messages).

    Streaming an area by parts (départements), cells ``made`` by an earlier part are left out
    (the frame is None when none is left) and the chunk markers go under ``part``, so that two
    parts sharing a chunk keep their own.
    """
    infos, bad = inspect_all(records, grid.crs, tuple(settings.prepare.bands))
    cells = [cell for cell in _cells_in_area(infos, bad, settings, grid) if cell not in made]
    if not cells:
        return None, bad
    rows = runner.run(cut_chunk, _cut_jobs(workspace, grid, infos, settings, cells, part), desc="tiles")
    bad += sorted({row[UNREADABLE] for row in rows if UNREADABLE in row})
    rows = [row for row in rows if UNREADABLE not in row]
    if not rows and bad:
        raise SourceError(f"no tile was made: unreadable rasters ({'; '.join(bad)}): replace or remove them")
    if not rows:
        raise SourceError(
            f"every tile has less than {settings.prepare.min_valid_fraction:.0%} valid pixels: "
            "lower --min-valid or check the rasters' nodata"
        )
    return tiles_frame(rows, grid).sort_values(["year", "row", "col"]).reset_index(drop=True), bad


def tiles_frame(rows: list[dict], grid: Grid):
    """Tile records as a GeoDataFrame, each with its cell's footprint."""
    footprints = [shapely.box(*grid.bounds(r["col"], r["row"])) for r in rows]
    return gpd.GeoDataFrame(rows, geometry=footprints, crs=grid.crs)


def _cells_in_area(infos: list[RasterInfo], bad: list[str], settings: Settings, grid: Grid):
    """The grid cells inside both years' imagery and the area (--aoi, --bbox), row-major."""
    coverage = {}
    for year in settings.years:
        boxes = [shapely.box(*i.bounds) for i in infos if i.source.year == year]
        if not boxes:
            raise SourceError(f"no readable imagery for {year}: {'; '.join(bad) or 'no rasters'}")
        coverage[year] = shapely.union_all(boxes)
    region = shapely.intersection_all(list(coverage.values()))
    if region.is_empty:
        raise SourceError(
            f"the imagery of {settings.years[0]} and {settings.years[1]} does not overlap: "
            "give rasters of the same area for both years"
        )
    if settings.area.aoi:
        region = region.intersection(aoi_shape(settings.area.aoi, grid.crs))
    elif settings.area.bbox:
        region = region.intersection(shapely.box(*bbox_bounds(settings.area.bbox)))
    cells = []
    if not region.is_empty:
        cells = [
            (c, r)
            for c, r in grid.cells(region.bounds)
            if region.intersection(shapely.box(*grid.bounds(c, r))).area > 0
        ]
    if not cells:
        raise SourceError(
            "the area is empty: no grid tile lies inside both years' imagery and the area; "
            "check --bbox/--aoi against the rasters' extent"
        )
    return cells


def _cut_jobs(
    workspace: Workspace,
    grid: Grid,
    infos: list[RasterInfo],
    settings: Settings,
    cells: list[tuple[int, int]],
    part: str,
) -> list[CutJob]:
    """One job per chunk and year, with the rasters overlapping the chunk and the fingerprint of
    what its tiles depend on (a chunk made from other inputs is made again)."""
    jobs = []
    stage_dir = workspace.cache_dir / "stages" / "tiles"
    for year in settings.years:
        year_infos = [i for i in infos if i.source.year == year]
        inputs = fingerprint(
            {
                "grid": to_dict(settings.grid),
                "min_valid": settings.prepare.min_valid_fraction,
                "bands": settings.prepare.bands,
                "oversampling": settings.prepare.oversampling,
                "rasters": [_file_identity(i.path) for i in year_infos],
            }
        )
        for chunk in chunks.plan(grid, cells):
            box = chunk.bounds(grid)
            jobs.append(
                CutJob(
                    grid,
                    chunk,
                    year,
                    tuple(i for i in year_infos if bounds_overlap(i.bounds, box)),
                    settings.prepare.min_valid_fraction,
                    settings.prepare.oversampling,
                    workspace.root,
                    stage_dir / str(year) / part / f"{chunk.key}.json",
                    inputs,
                )
            )
    return jobs


def make_masks(
    workspace: Workspace,
    grid: Grid,
    records: list[YearSources],
    tiles,
    tables: Mapping[str, ClassTable],
    labels: LabelPlan,
    runner: chunks.Runner,
    part: str = "",
):
    """Burn each labelled year's vectors on its tiles; returns ``tiles`` with ``mask``,
    ``label_source`` and ``label_gap_years``.

    ``tables`` maps a data model (a record's ``label_version``) to its class table. A year
    without labels gets no masks (an empty ``mask``), and masks an earlier run made for it go.
    """
    stage_dir = workspace.cache_dir / "stages" / "masks"
    jobs = []
    for year, year_records in by_year(records).items():
        year_tiles = tiles[tiles["year"] == year]
        if not labels.labelled(year):
            for stale in (workspace.masks_dir / str(year), stage_dir / str(year)):
                shutil.rmtree(stale, ignore_errors=True)
            continue
        if year_tiles.empty:
            continue
        vectors = [p for r in year_records for p in r.vectors]
        bounds = tuple(year_tiles.total_bounds)
        _check_vector_overlap(vectors, grid.crs, bounds)
        by_version: dict[str, list[Path]] = {}
        for record in year_records:
            by_version.setdefault(record.label_version, []).extend(record.vectors)
        used = {version: tables[version] for version in sorted(by_version)}
        shapes = load_burnables_of(
            [(paths, used[v]) for v, paths in sorted(by_version.items())], grid.crs, bounds
        )
        inputs = fingerprint(
            {
                "grid": [grid.crs, grid.origin_x, grid.origin_y, grid.tile_size_m, grid.tile_px],
                "classes": [table.text for table in used.values()],
                "vectors": [_file_identity(p) for p in vectors],
            }
        )
        cells = list(zip(year_tiles["col"].tolist(), year_tiles["row"].tolist()))
        palette = next(iter(used.values())).palette()  # the data models share ids, names, colours
        for chunk in chunks.plan(grid, cells):
            jobs.append(
                MaskJob(
                    grid,
                    chunk,
                    year,
                    shapes.within(chunk.bounds(grid)),
                    workspace.root,
                    stage_dir / str(year) / part / f"{chunk.key}.json",
                    inputs,
                    palette,
                )
            )
    rows = runner.run(burn_chunk, jobs, desc="masks")
    masks = {(r["tile_id"], r["year"]): r["mask"] for r in rows}
    tiles = tiles.copy()
    tiles["mask"] = [masks.get((t, y), "") for t, y in zip(tiles["tile_id"], tiles["year"])]
    tiles["label_source"] = [labels.years[y].source for y in tiles["year"]]
    tiles["label_gap_years"] = [labels.years[y].gap_years for y in tiles["year"]]
    tiles.attrs["classes_seen"] = sorted({c for r in rows for c in r["classes"]})
    return tiles


def pair_and_split(
    workspace: Workspace, grid: Grid, tiles, settings: Settings, records: list[YearSources] = ()
):
    """Pair the two years, assign splits, measure change where the sources know it (``records``),
    write tiles.gpkg then pairs.gpkg."""
    year_a, year_b = settings.years
    pairs = pair_tiles(tiles, year_a, year_b, settings.split.min_iou)
    if pairs.empty:
        raise SourceError(
            f"no tile of {year_a} overlaps a tile of {year_b} by IoU >= {settings.split.min_iou}: "
            "check that both years cover the same area"
        )
    pairs = assign_splits(pairs, settings.split, settings.split.block_size_m)
    pairs["changed_fraction"] = changed_fraction(pairs, read_changes(list(records), grid.crs))
    write_geopackage(tiles[TILE_COLUMNS + ["geometry"]], workspace.tiles_index, "tiles")
    write_geopackage(pairs, workspace.pairs_index, "pairs", SPLIT_STYLE)
    return pairs


def _check_vector_overlap(vectors, grid_crs: str, bounds) -> None:
    """Vectors whose extent misses the tiles entirely are a user error, not empty masks."""
    if not vectors:
        return
    area = shapely.box(*bounds)
    for path in vectors:
        for layer, _ in pyogrio.list_layers(path):
            info = pyogrio.read_info(path, layer=layer, force_total_bounds=True)
            extent = info.get("total_bounds")
            if not info.get("crs") or extent is None or np.isnan(extent).any():
                continue
            if shapely.box(*transform_bounds(info["crs"], grid_crs, *extent)).intersects(area):
                return
    raise SourceError(
        f"the vectors ({', '.join(Path(v).name for v in vectors)}) do not overlap the rasters: "
        "give vectors of the same area (check their CRS)"
    )


def _file_identity(path: Path) -> list:
    stat = Path(path).stat()
    return [str(path), stat.st_size, int(stat.st_mtime)]
