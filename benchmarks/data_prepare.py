"""Data half: geosiam's tiling and rasterisation against GDAL's own tools and the prototype's way.

Side by side in one run, on the built-in sample area (its JPEG2000 dalles and BD TOPO vectors):
- tiles: geosiam (each dalle region read once at the needed resolution level, cut in memory)
  vs one ``gdal_translate -projwin -outsize`` per tile on a VRT mosaic (the per-tile way);
- masks: geosiam per tile (a chunk burnt once and cut) vs ``gdal_rasterize`` per tile vs
  rasterio.features.rasterize per tile vs the prototype's matplotlib drawing (a 2000 px figure
  per tile, saved as PNG).
Where GDAL's command-line tools are not installed (``apt-get install gdal-bin``), their rows
are skipped and say so.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import best_of, print_table


def main() -> None:
    from geosiam.prepare.settings import resolve_settings
    from geosiam.prepare.stages import make_tiles
    from geosiam.rasterize.classes import load_classes
    from geosiam.rasterize.masks import burn
    from geosiam.rasterize.vectors import load_burnables
    from geosiam.sources import sample
    from geosiam.tiling.chunks import Runner
    from geosiam.tiling.grid import grid_of
    from geosiam.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="geosiam-bench-"))
    try:
        records = sample.generate(root / "sample", [2000, 2015])
        settings = resolve_settings(root / "ws", {"years": [2000, 2015], "area.sample": True}).settings
        grid = grid_of(settings)
        year = [r for r in records if r.year == 2000]
        workspace = Workspace(root / "ws")

        def geosiam_tiles():
            shutil.rmtree(root / "ws", ignore_errors=True)
            return make_tiles(workspace, grid, records, settings, Runner(1))

        all_tiles, _ = geosiam_tiles()
        seconds = best_of(geosiam_tiles, 2)
        tiles = all_tiles[all_tiles["year"] == 2000]
        n_tiles = len(tiles)
        rows = [("geosiam tiling (1 process)", seconds / len(all_tiles) * 1e3, 1.0)]
        base = rows[0][1]
        dalles = [str(p) for r in year for p in r.rasters]
        if shutil.which("gdal_translate") and shutil.which("gdalbuildvrt"):
            vrt = root / "mosaic.vrt"
            subprocess.run(["gdalbuildvrt", "-q", str(vrt), *dalles], check=True)
            sample_cells = tiles.head(min(60, n_tiles))

            def per_tile_translate():
                for row in sample_cells.itertuples():
                    xmin, ymin, xmax, ymax = row.geometry.bounds
                    subprocess.run(
                        [
                            "gdal_translate",
                            "-q",
                            "-projwin",
                            str(xmin),
                            str(ymax),
                            str(xmax),
                            str(ymin),
                            "-outsize",
                            str(grid.tile_px),
                            str(grid.tile_px),
                            "-r",
                            "average",
                            str(vrt),
                            str(root / "t.tif"),
                        ],
                        check=True,
                    )

            ms = best_of(per_tile_translate, 1) / len(sample_cells) * 1e3
            rows.append(("gdal_translate -projwin per tile", ms, ms / base))
        else:
            rows.append(("gdal_translate -projwin per tile", "n/a (no gdal-bin)", "-"))
        print_table(
            f"Tiles: ms per {grid.tile_px} px tile (geosiam: all {len(all_tiles)} tiles of both years; "
            "gdal_translate: the first 60 tiles of one year)",
            rows,
            ("method", "ms/tile", "x slower than geosiam"),
        )

        table = load_classes()
        vectors = [p for r in year for p in r.vectors]
        shapes = load_burnables(vectors, table, grid.crs, tuple(tiles.total_bounds))
        from geosiam.tiling import chunks

        plan = chunks.plan(grid, list(zip(tiles["col"], tiles["row"])))

        def geosiam_masks():
            for chunk in plan:
                canvas = burn(shapes.within(chunk.bounds(grid)), chunk.transform(grid), chunk.shape(grid))
                for col, row in chunk.cells:
                    rows_, cols_ = chunk.cell_slices(grid, col, row)
                    canvas[rows_, cols_].copy()

        per_tile = tiles.head(min(60, n_tiles))

        def rasterio_per_tile():
            for row in per_tile.itertuples():
                burn(
                    shapes.within(row.geometry.bounds),
                    grid.transform(row.col, row.row),
                    (grid.tile_px, grid.tile_px),
                )

        base = best_of(geosiam_masks, 3) / n_tiles * 1e3
        mask_rows = [("geosiam (chunk burnt once, cut)", base, 1.0)]
        ms = best_of(rasterio_per_tile, 3) / len(per_tile) * 1e3
        mask_rows.append(("rasterio.features.rasterize per tile", ms, ms / base))
        if shutil.which("gdal_rasterize"):
            vectors_file = _burnable_file(shapes, grid.crs, root / "burn.fgb")

            def gdal_per_tile():
                for row in per_tile.itertuples():
                    _gdal_rasterize(
                        vectors_file, row.geometry.bounds, grid.tile_px, grid.tile_px, root / "m.tif"
                    )

            ms = best_of(gdal_per_tile, 1) / len(per_tile) * 1e3
            mask_rows.append(("gdal_rasterize per tile (one process each)", ms, ms / base))
            xmin, ymin, xmax, ymax = area = tuple(tiles.total_bounds)
            width, height = round((xmax - xmin) / grid.resolution), round((ymax - ymin) / grid.resolution)

            def gdal_once():
                _gdal_rasterize(vectors_file, area, width, height, root / "all.tif")

            ms = best_of(gdal_once, 3) / n_tiles * 1e3
            mask_rows.append(("gdal_rasterize once for the area", ms, ms / base))
        else:
            mask_rows.append(("gdal_rasterize per tile", "n/a (no gdal-bin)", "-"))
        proto = per_tile.head(10)
        ms = (
            best_of(
                lambda: [_matplotlib_label(shapes, table, r.geometry.bounds) for r in proto.itertuples()], 1
            )
            / len(proto)
            * 1e3
        )
        mask_rows.append(("prototype: matplotlib 2000 px figure per tile", ms, ms / base))
        print_table(
            f"Masks: ms per tile ({len(shapes)} shapes)",
            mask_rows,
            ("method", "ms/tile", "x slower than geosiam"),
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _gdal_rasterize(vectors: Path, bounds, width: int, height: int, out: Path) -> None:
    """One ``gdal_rasterize`` process burning ``class_id`` onto a width x height grid of ``bounds``."""
    xmin, ymin, xmax, ymax = bounds
    subprocess.run(
        [
            "gdal_rasterize",
            "-q",
            "-a",
            "class_id",
            "-te",
            str(xmin),
            str(ymin),
            str(xmax),
            str(ymax),
            "-ts",
            str(width),
            str(height),
            "-ot",
            "Byte",
            "-init",
            "0",
            str(vectors),
            str(out),
        ],
        check=True,
    )


def _burnable_file(shapes, crs: str, path: Path) -> Path:
    """The already-selected shapes with their class ids, for gdal_rasterize."""
    import geopandas as gpd

    frame = gpd.GeoDataFrame({"class_id": shapes.class_ids.astype(int)}, geometry=shapes.geometries, crs=crs)
    frame.to_file(path)
    return path


def _matplotlib_label(shapes, table, bounds) -> bytes:
    """The prototype's way: draw each shape as a coloured patch in a 2000 px figure, save as PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shapely
    from matplotlib.patches import Polygon as Patch

    colours = {k: np.array(v) / 255 for k, v in table.colours().items()}
    figure = plt.figure(figsize=(20, 20), dpi=100)
    axes = figure.add_axes([0, 0, 1, 1])
    axes.set_xlim(bounds[0], bounds[2])
    axes.set_ylim(bounds[1], bounds[3])
    axes.axis("off")
    subset = shapes.within(bounds)
    for geometry, class_id in zip(subset.geometries, subset.class_ids):
        for part in getattr(geometry, "geoms", [geometry]):
            if isinstance(part, shapely.Polygon):
                axes.add_patch(Patch(np.asarray(part.exterior.coords), color=colours[int(class_id)]))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


if __name__ == "__main__":
    main()
