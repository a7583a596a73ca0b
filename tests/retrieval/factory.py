"""A tiny prepared-looking workspace made on the fly: tiles and masks of two years, indexes.

Each place has its own random blobs (image and classes); its newer-year tile is the older one
with a brightness change and noise, so that retrieval is possible, except for the last
``changed`` places, which in the newer year look like the first places (as if rebuilt): no
model can retrieve them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geosiam.config import Settings, save_settings
from geosiam.rasterize.classes import builtin_text, load_classes
from geosiam.tiling.grid import Grid
from geosiam.tiling.tables import write_geopackage
from geosiam.workspace import Workspace

YEARS = (2000, 2015)
X0, Y0 = 3720, 27440  # grid column and row of the first place: (930000, 6860000) with 250 m tiles
CRS = "EPSG:2154"


def write_geotiff(path: Path, data: np.ndarray, transform, crs: str | None = CRS) -> Path:
    """(H, W, C) or (H, W) array -> GeoTIFF."""
    import rasterio

    bands = data[..., None] if data.ndim == 2 else data
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(
        driver="GTiff",
        width=bands.shape[1],
        height=bands.shape[0],
        count=bands.shape[2],
        dtype=str(bands.dtype),
        transform=transform,
    )
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.moveaxis(bands, -1, 0))
    return path


def place(rng: np.random.Generator, px: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A random place: a smooth RGB texture and a blocky class mask."""
    coarse = rng.integers(0, 220, (4, 4, 3)).astype(np.float32)
    image = np.kron(coarse, np.ones((px // 4, px // 4, 1)))
    image += rng.normal(0, 8, image.shape)
    mask = np.kron(rng.integers(0, num_classes, (4, 4)), np.ones((px // 4, px // 4))).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8), mask


def make_workspace(
    root: Path,
    places: int = 12,
    px: int = 32,
    splits: list[str] | None = None,
    changed: int = 2,
    seed: int = 0,
) -> Workspace:
    """A workspace as 'geosiam prepare' leaves it, with ``places`` places in a row."""
    import geopandas as gpd
    import shapely

    workspace = Workspace(Path(root))
    grid = Grid(CRS, 0.0, 0.0, 250.0, px)
    settings = Settings(years=list(YEARS))
    settings.grid.crs, settings.grid.tile_size_m, settings.grid.tile_px = CRS, 250.0, px
    save_settings(settings, workspace.settings_path)
    workspace.classes_path.write_text(builtin_text(), encoding="utf-8")
    num_classes = load_classes(workspace.classes_path).num_classes
    rng = np.random.default_rng(seed)
    splits = splits or ["test"] * places
    tiles, pairs, contents = [], [], []
    for i in range(places):
        col, row = X0 + i, Y0
        tile_id = grid.tile_id(col, row)
        image, mask = place(rng, px, num_classes)
        contents.append((image, mask))
        footprint = shapely.box(*grid.bounds(col, row))
        rel = {}
        for year, shift in zip(YEARS, (0, 25)):
            if year == YEARS[1] and i >= places - changed:
                image, mask = contents[i - (places - changed)]
            noisy = np.clip(image.astype(int) + shift + rng.integers(-10, 11, image.shape), 0, 255)
            transform = grid.transform(col, row)
            write_geotiff(workspace.tile_path(year, tile_id), noisy.astype(np.uint8), transform)
            write_geotiff(workspace.mask_path(year, tile_id), mask, transform)
            rel[year] = (
                workspace.relative(workspace.tile_path(year, tile_id)),
                workspace.relative(workspace.mask_path(year, tile_id)),
            )
            tiles.append(
                {
                    "tile_id": tile_id,
                    "year": year,
                    "col": col,
                    "row": row,
                    "image": rel[year][0],
                    "mask": rel[year][1],
                    "valid_fraction": 1.0,
                    "origin": "test",
                    "zone": "",
                    "acquisition": "",
                    "year_end_mosaic": False,
                    "geometry": footprint,
                }
            )
        pairs.append(
            {
                "pair_id": i,
                "tile_id_a": tile_id,
                "tile_id_b": tile_id,
                "year_a": YEARS[0],
                "year_b": YEARS[1],
                "image_a": rel[YEARS[0]][0],
                "mask_a": rel[YEARS[0]][1],
                "image_b": rel[YEARS[1]][0],
                "mask_b": rel[YEARS[1]][1],
                "iou": 1.0,
                "block": i // 5,
                "split": splits[i],
                "zone": "",
                "geometry": footprint,
            }
        )
    write_geopackage(gpd.GeoDataFrame(tiles, crs=CRS), workspace.tiles_index, "tiles")
    write_geopackage(gpd.GeoDataFrame(pairs, crs=CRS), workspace.pairs_index, "pairs")
    return workspace


def make_run(
    workspace: Workspace,
    name: str,
    image_only: bool = False,
    px: int = 32,
    seed: int = 1,
    mask_only: bool = False,
    labels: str = "both",
) -> Path:
    """A run folder holding a small network with its initial weights (seeded), saved the way
    'geosiam train' saves its model, so that load_embedder reads it."""
    from geosiam.config import TrainSettings
    from geosiam.model.embedder import save_embedding, untrained_embedder

    settings = workspace.load_settings()
    settings.train = TrainSettings(
        backbone="mobilenetv3small",
        weights="none",
        descriptor_dim=16,
        image_only=image_only,
        mask_only=mask_only,
        labels=labels,
        input_px=px,
        seed=seed,
        workers=1,
    )
    num_classes = load_classes(workspace.classes_path).num_classes
    embedder = untrained_embedder(settings.train, num_classes, px)
    run = workspace.run_dir(name)
    save_settings(settings, run / "geosiam.toml")
    save_embedding(embedder.model, embedder.settings, num_classes, run)
    return run


@dataclass(frozen=True)
class Shared:
    """One workspace with a fused run and the image-only and mask-only ablations, built once per
    test session."""

    workspace: Workspace
    run: Path
    image_only_run: Path
    mask_only_run: Path


_SHARED: dict[Path, Shared] = {}


def shared(tmp_path_factory) -> Shared:
    """The session's shared workspace and runs (building a network takes seconds: do it once).

    Tests may add files under it (evaluations, descriptor caches) but must not change what is
    there.
    """
    root = tmp_path_factory.getbasetemp() / "shared-retrieval-workspace"
    if root not in _SHARED:
        workspace = make_workspace(root)
        image_only = make_run(workspace, "image-only", image_only=True, seed=2)
        mask_only = make_run(workspace, "mask-only", mask_only=True, seed=3)
        _SHARED[root] = Shared(workspace, make_run(workspace, "fused"), image_only, mask_only)
    return _SHARED[root]
