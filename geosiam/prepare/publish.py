"""What ``prepare`` publishes for other tools, from the tables on disk: per-year mosaics
(``tiles_<year>.vrt``, ``masks_<year>.vrt``) for QGIS and GDAL, and the STAC collection
(``stac/collection.json``).

It reads ``tiles.gpkg`` and ``pairs.gpkg`` only, so it also completes a workspace prepared before
these files existed; a year without labels has no mask mosaic.
"""

from __future__ import annotations

import logging
from pathlib import Path

from geosiam.config import Settings
from geosiam.prepare import stac
from geosiam.tiling.grid import Grid
from geosiam.tiling.mosaics import Placed, write_mosaic
from geosiam.tiling.palette import Palette
from geosiam.tiling.tables import read_geopackage
from geosiam.workspace import Workspace

log = logging.getLogger(__name__)


def publish(workspace: Workspace, settings: Settings, grid: Grid, palette: Palette) -> list[Path]:
    """Write the mosaics and the STAC collection of a prepared workspace; returns their paths."""
    tiles = read_geopackage(workspace.tiles_index, "tiles")
    pairs = read_geopackage(workspace.pairs_index, "pairs")
    written = []
    for year, rows in tiles.groupby("year"):
        images = [Placed(r.image, int(r.col), int(r.row)) for r in rows.itertuples()]
        written.append(workspace.mosaic_path("tiles", int(year)))
        write_mosaic(written[-1], images, grid, bands=3)
        masks = [Placed(r.mask, int(r.col), int(r.row)) for r in rows.itertuples() if stac.has_mask(r)]
        mask_mosaic = workspace.mosaic_path("masks", int(year))
        if masks:
            written.append(mask_mosaic)
            write_mosaic(mask_mosaic, masks, grid, bands=1, palette=palette)
        elif mask_mosaic.exists():
            mask_mosaic.unlink()  # the year has no labels (any more)
    splits = dict(zip(pairs["tile_id_a"], pairs["split"])) | dict(zip(pairs["tile_id_b"], pairs["split"]))
    collection = stac.build_collection(tiles, splits, settings, palette.names, workspace.root)
    written.append(stac.write_collection(collection, workspace.root / stac.STAC_DIR))
    log.info("published %s", ", ".join(p.name for p in written))
    return written
