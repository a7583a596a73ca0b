"""Which tiles to embed: a folder, a glob or a ``tiles.gpkg``, with their masks and footprints.

Tiles need not come from ``geosiam prepare``: any georeferenced RGB uint8 GeoTIFF works, as long
as it is square and at least as large as the model's input (larger ones are averaged down; a
smaller one cannot be enlarged without inventing detail). A tile's mask is found at the
workspace's matching path (``tiles/<year>/<id>.tif`` -> ``masks/<year>/<id>.tif``) or in the
folder given by ``--masks``; its year comes from ``tiles.gpkg``, from a parent folder named
like a year, or from ``--year`` (0 when unknown). A tile may have no mask: a year without
labels (an empty ``mask`` in tiles.gpkg) or a year whose masks the run does not use
(``unlabelled_years``); such masks are never opened, and a fused network embeds the tile from
its image alone.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import rasterio
import shapely
from rasterio.warp import transform_geom

from geosiam.config import FIRST_YEAR, LAST_YEAR
from geosiam.errors import SourceError
from geosiam.model.labels import has_mask
from geosiam.progress import progress
from geosiam.tiling.tables import read_geopackage

TIFF_SUFFIXES = (".tif", ".tiff")
SQUARE_TOLERANCE = 0.01  # relative difference of width and height still taken as square


@dataclass(frozen=True)
class TileSet:
    """Tiles to embed, in order; ``masks`` is None when none is read, an entry None for a tile
    without labels."""

    images: list[Path]
    masks: list[Path | None] | None
    tile_ids: list[str]
    years: list[int]
    footprints: list  # shapely polygons in ``crs``
    crs: str

    def __len__(self) -> int:
        return len(self.images)

    def table(self, identity: str):
        """The descriptor table of these tiles (see :mod:`geosiam.retrieval.descriptors`)."""

        return gpd.GeoDataFrame(
            {
                "image": [str(p) for p in self.images],
                "mask": [str(p) if p else "" for p in self.masks] if self.masks else [""] * len(self),
                "tile_id": self.tile_ids,
                "year": self.years,
                "model": [identity] * len(self),
            },
            geometry=list(self.footprints),
            crs=self.crs,
        )


def find_tiles(
    spec: str | Path,
    input_px: int,
    need_masks: bool,
    masks_dir: Path | None = None,
    year: int | None = None,
    unlabelled_years: frozenset[int] | set[int] = frozenset(),
) -> TileSet:
    """Resolve ``spec`` (folder, glob, single GeoTIFF or tiles.gpkg) into a checked TileSet;
    masks are looked for (``need_masks``) except for tiles of ``unlabelled_years``."""
    spec_path = Path(spec)
    if spec_path.suffix == ".gpkg":
        tiles = _from_index(spec_path, need_masks, masks_dir, year, unlabelled_years)
        inspect_tiles(tiles.images[:1], tiles.masks[:1] if tiles.masks else None, input_px)
        return tiles
    images, root = _list_images(str(spec))
    years = [year if year is not None else year_from_path(p) for p in images]
    masks = None
    if need_masks:
        labelled = [y not in unlabelled_years for y in years]
        masks = [_mask_for(p, root, masks_dir) if keep else None for p, keep in zip(images, labelled)]
        _require_masks(images, masks, labelled)
    footprints, crs = inspect_tiles(images, masks, input_px)
    return TileSet(images, masks, [p.stem for p in images], years, footprints, crs)


def year_from_path(path: Path) -> int:
    """The year of the nearest parent folder named like a survey year, else 0 (unknown)."""
    for parent in Path(path).parents:
        if parent.name.isdigit() and FIRST_YEAR <= int(parent.name) <= LAST_YEAR:
            return int(parent.name)
    return 0


def workspace_mask_path(image: Path) -> Path | None:
    """``<root>/tiles/<year>/<id>.tif`` -> ``<root>/masks/<year>/<id>.tif``; None outside a workspace."""
    parts = Path(image).parts
    if "tiles" not in parts:
        return None
    at = len(parts) - 1 - parts[::-1].index("tiles")
    return Path(*parts[:at], "masks", *parts[at + 1 :])


def inspect_tiles(images: Sequence[Path], masks: Sequence[Path] | None, input_px: int) -> tuple[list, str]:
    """Check every tile's header (bands, type, size, georeferencing) and mask; footprints + CRS.

    Footprints are in the CRS of the first tile (others are reprojected).
    """

    footprints, crs = [], None
    for i, image in enumerate(progress(images, desc="checking tiles", unit="tile")):
        try:
            with rasterio.open(image) as src:
                _check_image(image, src, input_px)
                shape, bounds, src_crs = src.shape, src.bounds, src.crs
            if masks is not None and masks[i] is not None:
                with rasterio.open(masks[i]) as msk:
                    if msk.shape != shape:
                        raise SourceError(
                            f"mask {masks[i]} is {msk.width}x{msk.height} px but its tile {image} is "
                            f"{shape[1]}x{shape[0]}: masks must be on their tile's pixel grid"
                        )
        except rasterio.errors.RasterioIOError as exc:
            raise SourceError(f"cannot read {exc}: give GeoTIFF tiles (and masks)") from None
        footprint = shapely.box(*bounds)
        if crs is None:
            crs = src_crs
        elif src_crs != crs:
            footprint = shapely.geometry.shape(transform_geom(src_crs, crs, footprint))
        footprints.append(footprint)
    return footprints, crs.to_string()


def _check_image(path: Path, src, input_px: int) -> None:
    if src.count < 3:
        raise SourceError(f"{path} has {src.count} band(s), a tile needs 3 (RGB): give RGB imagery")
    if src.dtypes[0] != "uint8":
        raise SourceError(
            f"{path} is {src.dtypes[0]}, tiles must be 8-bit RGB: convert it "
            "(e.g. gdal_translate -ot Byte -scale) and embed again"
        )
    if src.crs is None or src.transform.is_identity:
        raise SourceError(f"{path} is not georeferenced: give a GeoTIFF with a CRS and transform")
    width, height = src.width, src.height
    if abs(width - height) > SQUARE_TOLERANCE * max(width, height):
        raise SourceError(
            f"{path} is {width}x{height} px, not square: the model needs square tiles "
            f"(cut it, e.g. with gdal_translate -srcwin)"
        )
    if min(width, height) < input_px:
        raise SourceError(
            f"{path} is {width}x{height} px, smaller than the model's input of {input_px} px: "
            f"give tiles of at least {input_px} px (larger ones are resampled)"
        )


def _list_images(spec: str) -> tuple[list[Path], Path | None]:
    """GeoTIFFs named by a folder (recursive), a glob or one file; the folder when one was given."""
    path = Path(spec)
    if path.is_dir():
        images = sorted(p for p in path.rglob("*") if p.suffix.lower() in TIFF_SUFFIXES and p.is_file())
        root = path
    elif path.is_file():
        images, root = [path], None
    elif any(ch in spec for ch in "*?["):
        images = sorted(
            Path(p)
            for p in glob.glob(spec, recursive=True)
            if Path(p).suffix.lower() in TIFF_SUFFIXES and Path(p).is_file()
        )
        root = None
    else:
        raise SourceError(f"{spec} does not exist: give a folder of tiles, a glob or a tiles.gpkg")
    if not images:
        raise SourceError(
            f"no GeoTIFF (.tif) found in {spec}: give a folder of tiles, a glob such as "
            "'tiles/2015/*.tif' or a tiles.gpkg"
        )
    return images, root


def _mask_for(image: Path, root: Path | None, masks_dir: Path | None) -> Path | None:
    """The mask of ``image``: under ``masks_dir`` (same relative path, else same name) or the
    workspace's matching path."""
    if masks_dir is None:
        return workspace_mask_path(image)
    candidates = [masks_dir / image.relative_to(root)] if root is not None else []
    candidates.append(masks_dir / image.name)
    return next((c for c in candidates if c.exists()), candidates[-1])


def _require_masks(images: Sequence[Path], masks: Sequence[Path | None], labelled: Sequence[bool]) -> None:
    """Every labelled tile has its mask file."""
    missing = [(i, m) for i, m, keep in zip(images, masks, labelled) if keep and not (m and m.exists())]
    if missing:
        image, mask = missing[0]
        looked = f", looked for {mask}" if mask else ""
        raise SourceError(
            f"{len(missing)} tile(s) have no mask (first: {image}{looked}): give --masks DIR, "
            "or --no-masks to embed them from their images alone"
        )


def _from_index(
    path: Path, need_masks: bool, masks_dir: Path | None, year: int | None, unlabelled_years
) -> TileSet:
    """Tiles listed in a workspace's tiles.gpkg (footprints and years from the index); a tile
    with an empty mask (a year without labels) has none."""

    if not path.exists():
        raise SourceError(f"{path} does not exist: give a workspace's tiles.gpkg or a folder of tiles")
    try:
        rows = read_geopackage(path, "tiles")
    except Exception as exc:  # pyogrio raises several types for a file that is not a tiles index
        raise SourceError(f"{path} is not a geosiam tiles.gpkg ({exc}): give a folder of tiles") from None
    if rows.empty:
        raise SourceError(f"{path} lists no tiles: run 'geosiam prepare' first")
    if year is not None:
        rows = rows[rows["year"] == year]
        if rows.empty:
            raise SourceError(f"{path} has no tile of year {year}: pick one of its years")
    root = path.parent
    images = [root / p for p in rows["image"]]
    years = [int(y) for y in rows["year"]]
    masks = None
    if need_masks:
        labelled = [has_mask(m) and y not in unlabelled_years for m, y in zip(rows["mask"], years)]
        masks = [
            (_mask_for(p, None, masks_dir) if masks_dir else root / m) if keep else None
            for p, m, keep in zip(images, rows["mask"], labelled)
        ]
        _require_masks(images, masks, labelled)
    return TileSet(
        images,
        masks,
        list(rows["tile_id"]),
        years,
        list(rows.geometry),
        rows.crs.to_string(),
    )
