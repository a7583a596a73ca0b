"""The workspace's two GeoPackage tables, ``tiles.gpkg`` and ``pairs.gpkg``: their columns, read
and write (and any other one-layer GeoPackage geosiam writes: ranks, changes).

``tiles.gpkg`` (layer ``tiles``), one row per tile and year:
    tile_id, year, col, row, image, mask (paths relative to the workspace; "" for a year without
    labels), valid_fraction, origin (provenance), zone (département where known), acquisition,
    year_end_mosaic, label_source (the edition date or file the mask was burnt from; "" for none),
    label_gap_years (signed years from the image to its labels; empty for none), geometry.
``pairs.gpkg`` (layer ``pairs``), one row per pair; ``a`` is the older year, ``b`` the newer:
    pair_id, tile_id_a, tile_id_b, year_a, year_b, image_a, mask_a, image_b, mask_b ("" without
    labels), iou, block, split (train | val | test), zone, changed_fraction (share of the place
    changed between the two years, from the sources' ground truth; empty where there is none),
    geometry (footprint of tile a).
Geometries are footprints in the grid CRS.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from geosiam import atomic
from geosiam.config import SPLITS
from geosiam.errors import SettingsError, WorkspaceError
from geosiam.layer_styles import Categorized, Category, Style, write_style
from geosiam.workspace import Workspace

TILE_COLUMNS = [
    "tile_id",
    "year",
    "col",
    "row",
    "image",
    "mask",
    "valid_fraction",
    "origin",
    "zone",
    "acquisition",
    "year_end_mosaic",
    "label_source",
    "label_gap_years",
]
# pairs.gpkg opens in QGIS coloured by split, half transparent over the imagery
SPLIT_STYLE = Categorized(
    "split",
    (Category("train", "#4e79a7"), Category("val", "#f28e2b"), Category("test", "#e15759")),
    opacity=0.5,
)


def write_geopackage(frame, path: Path, layer: str, style: Style | None = None) -> None:
    """Write a GeoDataFrame as a one-layer GeoPackage, atomically, with its QGIS style if given."""
    with atomic.atomic_path(path, suffix=".gpkg") as tmp:
        frame.to_file(tmp, layer=layer, driver="GPKG")
        if style is not None:
            write_style(tmp, layer, style)


def read_geopackage(path: Path, layer: str):
    """Read a one-layer GeoPackage (a workspace table) as a GeoDataFrame."""
    return gpd.read_file(path, layer=layer)


def read_pairs(path: Path, split: str | None = None):
    """``pairs.gpkg`` as a GeoDataFrame, optionally only one split."""
    pairs = read_geopackage(path, "pairs")
    if split is not None:
        pairs = pairs[pairs["split"] == split].reset_index(drop=True)
    return pairs


def split_pairs(workspace: Workspace, split: str | None):
    """The split's pairs (every split's for None), one per place (best footprint overlap kept),
    ordered by pair id."""
    if split is not None and split not in SPLITS:
        raise SettingsError(f"unknown split '{split}': use --split {' | '.join(SPLITS)}")
    pairs = read_pairs(workspace.pairs_index, split)
    if pairs.empty:
        counts = read_pairs(workspace.pairs_index)["split"].value_counts().to_dict()
        have = ", ".join(f"{s}: {n}" for s, n in sorted(counts.items())) or "no pairs at all"
        raise WorkspaceError(
            f"split '{split}' has no pairs ({have}): choose another --split, or prepare a "
            "larger area so that every split gets tiles"
        )
    pairs = pairs.sort_values("iou", ascending=False, kind="stable")
    pairs = pairs.drop_duplicates("image_a").drop_duplicates("image_b")
    return pairs.sort_values("pair_id", kind="stable").reset_index(drop=True)
