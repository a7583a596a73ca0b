"""``geosiam changes``: maps of how far each place moved between its two years, by a run's model.

The descriptors are the run's, of every tile of each year, embedded once and kept in
``runs/<run>/vectors/<year>.npy`` (the same files ``geosiam search`` uses; chunked, resumable,
redone when the tiles or the model change). For the chosen places (a split, or all), the pure
functions of :mod:`geosiam.retrieval.changes` give each place's distance and rank, written as:

- a GeoPackage layer ``changes`` (footprint, tile id, years, split, distance, rank,
  changed_fraction where known), styled for QGIS by distance;
- ``changes.tif`` beside it: one float32 pixel per tile on the workspace's grid, nodata
  elsewhere, to overlay on the orthophotos;

and a PNG map of the places coloured by distance, changed places outlined, for eval's report.

The ranks are exact (every place's older tile against every query) until ``geosiam index build``
has made the run's FAISS index of the older year: then each query is searched through it, among
the chosen places only, to :data:`RANK_DEPTH` neighbours, so that a change map of millions of
places costs millions of index searches rather than a square of similarities; a place whose own
older tile is not among them ranks ``RANK_DEPTH + 1``. With a flat index and at most
``RANK_DEPTH`` places the two are the same.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from matplotlib.collections import PatchCollection
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon
from shapely.affinity import scale

from geosiam import atomic
from geosiam.errors import SettingsError, WorkspaceError
from geosiam.geotiff import geotiff_profile
from geosiam.layer_styles import Graduated
from geosiam.mining import ann
from geosiam.model.embedder import load_embedder
from geosiam.model.labels import has_mask, unlabelled_years
from geosiam.retrieval import report
from geosiam.retrieval.changes import (
    CHANGED_ABOVE,
    NODATA,
    change_detection,
    cosine_distances,
    detection_table,
    grid_raster,
    place_table,
    ranks_among_neighbours,
    true_match_ranks,
)
from geosiam.retrieval.descriptors import Descriptors
from geosiam.retrieval.search import workspace_descriptors
from geosiam.retrieval.search_index import load_year_index
from geosiam.runfolder import RunFolder
from geosiam.tiling.grid import grid_of
from geosiam.tiling.tables import read_geopackage, split_pairs, write_geopackage
from geosiam.workspace import Workspace

LAYER = "changes"
# the layer opens in QGIS in five classes of as many places each, light (the same) to dark
# (moved most), the PNG map's colours, half transparent over the imagery
DISTANCE_STYLE = Graduated(
    "distance", ("#fcfdbf", "#fe9f6d", "#de4968", "#8c2981", "#3b0f70"), mode="quantile", opacity=0.6
)
CHANGED_COLOUR = "#00a0ff"  # outline of places that changed (ground truth) on the PNG map
RANK_DEPTH = 100  # through an index, ranks are searched this deep; a place found deeper ranks 101


def default_output(run_dir: Path, split: str | None) -> Path:
    """``runs/<run>/changes.gpkg`` for the test split, ``changes_<split|all>.gpkg`` otherwise."""
    return RunFolder(Path(run_dir)).changes_path(split)


def raster_path(output: Path) -> Path:
    """The GeoTIFF written beside the layer: same folder and stem, ``.tif``."""
    return Path(output).with_suffix(".tif")


def check_output(path: Path) -> Path:
    """``path`` if it names a GeoPackage, else a one-line error."""
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise SettingsError(
            f"the change layer is written as a GeoPackage, not '{path.name}': use -o changes.gpkg "
            "(changes.tif is written beside it)"
        )
    return path


def masked_years_of(run) -> dict[int, bool]:
    """Year -> whether a run (its settings) embeds that year's tiles with their masks: never for
    an image-only run, nor for a year its labels leave out (embedded from its images alone)."""
    skipped = unlabelled_years(run)
    return {year: not run.train.image_only and year not in skipped for year in run.years}


def require_both_years(workspace: Workspace, pairs, masked: dict[int, bool], run_dir: Path) -> None:
    """A one-line error unless every place has a tile of each year in tiles.gpkg (whose tiles
    get descriptors), with its mask where the run uses that year's masks."""
    tiles = read_geopackage(workspace.tiles_index, "tiles")
    for year_column, id_column in (("year_a", "tile_id_a"), ("year_b", "tile_id_b")):
        year = int(pairs[year_column].iloc[0])
        of_year = tiles[tiles["year"] == year]
        listed = set(of_year["tile_id"])
        missing = [t for t in pairs[id_column] if t not in listed]
        if len(missing) == len(pairs):
            raise WorkspaceError(
                f"{workspace.tiles_index} has no tile of {year}, so the places have no descriptor "
                f"of {year}: re-run 'geosiam prepare' for both years"
            )
        if missing:
            raise WorkspaceError(
                f"{len(missing)} of {len(pairs)} places have no descriptor of {year} (first: "
                f"{missing[0]}, not in {workspace.tiles_index}): re-run 'geosiam prepare' so that "
                "tiles.gpkg and pairs.gpkg agree"
            )
        if masked.get(year, True) and not all(has_mask(m) for m in of_year["mask"]):
            raise WorkspaceError(
                f"run {run_dir.name} embeds {year} with its masks, but this workspace has no labels "
                f"for {year}: use a run trained with the workspace's labels (geosiam train --labels "
                "newer) or an image-only run"
            )


def place_descriptors(
    workspace: Workspace, run_dir: Path, embedder, pairs, masked: dict[int, bool]
) -> tuple[Descriptors, np.ndarray, Descriptors, np.ndarray]:
    """The run's descriptors of each year and, for each, the row of ``pairs``' places (row i =
    pair i): (older, older rows, newer, newer rows), each year embedded with its masks where
    ``masked`` says so (see :func:`require_both_years`)."""
    found = []
    for year_column, id_column in (("year_a", "tile_id_a"), ("year_b", "tile_id_b")):
        year = int(pairs[year_column].iloc[0])
        descriptors = workspace_descriptors(workspace, run_dir, embedder, year, masked.get(year, True))
        row_of = {tile_id: i for i, tile_id in enumerate(descriptors.table["tile_id"])}
        found += [descriptors, np.array([row_of[t] for t in pairs[id_column]], dtype=np.int64)]
    return tuple(found)


def match_ranks(older: Descriptors, older_rows: np.ndarray, newer: np.ndarray, index) -> np.ndarray:
    """The rank of each place's older tile among the places' older tiles, its newer one the query:
    exact without ``index``; through the run's index of the older year (the places' rows only)
    among the best :data:`RANK_DEPTH` otherwise (see :func:`ranks_among_neighbours`)."""
    vectors = np.asarray(older.vectors)
    if index is None:
        return true_match_ranks(vectors[older_rows], newer)
    among = None if len(older_rows) == len(vectors) else np.sort(older_rows)
    scores, found = ann.search(index, newer, RANK_DEPTH, older.vectors, among)
    return ranks_among_neighbours(older_rows, scores, found)


def map_changes(workspace: Workspace, run_dir: Path, split: str | None, output: Path):
    """The ``changes`` table of a run's places (a split, or all with None), written to
    ``output`` (GeoPackage) and its GeoTIFF; returns the table. The ranks go through the run's
    index of the older year when ``geosiam index build`` made one."""

    output = check_output(output)
    settings = workspace.require_prepared()
    pairs = split_pairs(workspace, split)
    masked = masked_years_of(RunFolder(run_dir).load_settings())
    require_both_years(workspace, pairs, masked, run_dir)
    embedder = load_embedder(run_dir)
    older, older_rows, newer, newer_rows = place_descriptors(workspace, run_dir, embedder, pairs, masked)
    index = load_year_index(run_dir, int(pairs["year_a"].iloc[0]), older, embedder.identity)
    newer_vectors = np.asarray(newer.vectors)[newer_rows]
    distances = cosine_distances(np.asarray(older.vectors)[older_rows], newer_vectors)
    table = place_table(pairs, distances, match_ranks(older, older_rows, newer_vectors, index))
    write_change_map(output, table, grid_of(settings))
    return table


def write_change_map(output: Path, table, grid) -> None:
    """The layer (styled by distance) and, beside it, the GeoTIFF, written atomically: the
    GeoTIFF is renamed into place only once the layer is."""
    array, transform = grid_raster(table["tile_id"], table["distance"].to_numpy(), grid)
    height, width = array.shape
    profile = {
        **geotiff_profile(width, height, 1, table.crs.to_string(), transform, dtype="float32"),
        "nodata": NODATA,
    }
    with atomic.atomic_path(raster_path(output), suffix=".tif") as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(array, 1)
            dst.set_band_description(1, "cosine distance between the two years' descriptors")
        write_geopackage(table, output, LAYER, DISTANCE_STYLE)


def change_map_figure(footprints, distances: np.ndarray, changed: np.ndarray | None, title: str):
    """Places coloured by distance (darker: moved more); changed places, where known, outlined
    inside their footprint (so that neighbouring changed places stay apart)."""

    def patches(geometry) -> list:
        return [
            Polygon(np.asarray(p.exterior.coords), closed=True)
            for p in getattr(geometry, "geoms", [geometry])
        ]

    xmin, ymin, xmax, ymax = footprints.total_bounds
    aspect = np.clip((ymax - ymin) / max(xmax - xmin, 1e-9), 0.25, 2.0)
    fig = Figure(figsize=(9, 2 + 6 * aspect), layout="constrained")
    ax = fig.subplots()
    parts = [patches(g) for g in footprints]
    places = PatchCollection(
        [p for ps in parts for p in ps],
        cmap=LinearSegmentedColormap.from_list("distance", DISTANCE_STYLE.ramp),
        edgecolor="#404040",
        linewidth=0.3,
    )
    places.set_array(np.repeat(np.asarray(distances, dtype=float), [len(ps) for ps in parts]))
    ax.add_collection(places)
    fig.colorbar(places, ax=ax, label="cosine distance between the two years")
    marked = [g for g, c in zip(footprints, changed if changed is not None else []) if c]
    if marked:
        inset = [p for g in marked for p in patches(scale(g, 0.8, 0.8))]
        ax.add_collection(PatchCollection(inset, facecolor="none", edgecolor=CHANGED_COLOUR, linewidth=1.2))
        ax.legend(
            handles=[Line2D([], [], color=CHANGED_COLOUR, lw=1.2, label=f"changed ({len(marked)})")],
            loc="upper left",
            bbox_to_anchor=(0, -0.05),
            fontsize="small",
        )
    pad = 0.02 * max(xmax - xmin, ymax - ymin, 1.0)
    ax.set(xlim=(xmin - pad, xmax + pad), ylim=(ymin - pad, ymax + pad), aspect="equal", title=title)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=7)
    return fig


def add_change_detection(metrics: dict, table: str, pairs, vectors: dict, labels: dict, main: str, out: Path):
    """eval's change detection, where ``pairs`` have ground truth (``changed_fraction``).

    Adds ``change_detection`` to ``metrics`` and writes ``change_map.png`` (``main``'s distances)
    into ``out``; returns eval's table with the detection table appended, and the figure to list
    in the report. Without ground truth, nothing changes.
    """
    if "changed_fraction" not in pairs:
        return table, {}
    fraction = pairs["changed_fraction"].to_numpy(dtype=float)
    detection = change_detection(fraction, pairs["block"].to_numpy(), vectors, main)
    if not detection:
        return table, {}
    metrics["change_detection"] = detection
    figure = change_map_figure(
        pairs.geometry,
        cosine_distances(*vectors[main]),
        np.nan_to_num(fraction, nan=0.0) > CHANGED_ABOVE,
        f"distance between the two years, {labels.get(main, main)}, {metrics['split']} split",
    )
    report.save_figure(figure, Path(out) / "change_map.png")
    caption = f"change map (outlined: more than {CHANGED_ABOVE:.0%} of the place changed)"
    return f"{table}\n\n{detection_table(detection, labels)}", {"change_map.png": caption}
