"""The sample's files in IGN's formats: JPEG2000 dalles, their index, GeoPackages and Shapefiles.

Every file is written aside and renamed into place, so an interrupted call leaves no half file.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import shapely
from rasterio.transform import from_origin

from geosiam import atomic
from geosiam.errors import SourceError
from geosiam.sources.ground_truth import GROUND_TRUTH
from geosiam.sources.sample.changes import changes_frame
from geosiam.sources.sample.delivery import topo_path, topo_product
from geosiam.sources.sample.layout import SampleLayout
from geosiam.sources.sample.topo import GEOMETRY_TYPES, topo_layers
from geosiam.sources.sample.topo2 import GEOMETRY_TYPES2, THEMES, topo2_layers

_JP2_OPTIONS = {
    "QUALITY": "30",
    "REVERSIBLE": "NO",
    "YCC": "YES",
    "RESOLUTIONS": "4",
    "BLOCKXSIZE": "512",
    "BLOCKYSIZE": "512",
}


def write_edition(root: Path, world, ed) -> list[Path]:
    """A BD TOPO edition: one GeoPackage (v3), or Shapefiles by theme (2.x, before 2019)."""
    layers = topo_layers(world, ed)
    if ed.version == "3":
        gpkg = topo_path(root, ed.date)
        write_gpkg(gpkg, layers)
        return [gpkg]
    product = topo_product(root, ed.date)
    # an empty Shapefile has no geometry type of its own (GDAL reads it as measured): left out
    frames = {name: frame for name, frame in topo2_layers(layers).items() if len(frame)}
    write_shapefiles(
        product,
        {f"{THEMES[name]}/{name}.shp": (frame, GEOMETRY_TYPES2[name]) for name, frame in frames.items()},
    )
    return [product / THEMES[name] / f"{name}.shp" for name in frames]


def write_dalle(path: Path, pixels, left_km: int, top_km: int, resolution: float) -> None:
    """One RGB or grey JPEG2000 dalle in EPSG:2154, with resolution levels, written atomically."""
    import rasterio  # lazy: GDAL is heavy; only writing needs it

    count, height, width = pixels.shape
    profile = dict(
        driver="JP2OpenJPEG",
        width=width,
        height=height,
        count=count,
        dtype="uint8",
        crs="EPSG:2154",
        transform=from_origin(left_km * 1000.0, top_km * 1000.0, resolution, resolution),
    )
    try:
        with atomic.atomic_path(path, ".jp2") as tmp:
            with rasterio.Env(GDAL_PAM_ENABLED="NO"):
                options = {**_JP2_OPTIONS, "YCC": "YES" if count == 3 else "NO"}
                with rasterio.open(tmp, "w", **profile, **options) as dst:
                    dst.write(pixels)
    except rasterio.errors.RasterioError as exc:
        raise SourceError(
            f"cannot write the sample dalle {path}: {exc}; check the disk and the folder's rights"
        ) from None


def write_dalle_index(path: Path, rasters: list[Path], layout: SampleLayout) -> None:
    """IGN's ``dalles.shp``: one square per dalle, its file name in ``NOM``."""
    import geopandas as gpd  # lazy: geopandas is heavy; only writing needs it

    boxes, names = [], []
    size = layout.dalle_km * 1000.0
    for raster in rasters:
        left_km, top_km = (int(v) for v in raster.name.split("-")[2:4])
        boxes.append(
            shapely.box(left_km * 1000.0, top_km * 1000.0 - size, left_km * 1000.0 + size, top_km * 1000.0)
        )
        names.append(raster.name)
    frame = gpd.GeoDataFrame({"NOM": names}, geometry=boxes, crs="EPSG:2154")
    write_shapefiles(path.parent, {path.name: (frame, "Polygon")})


def write_shapefiles(folder: Path, layers: dict) -> None:
    """Shapefiles (relative path -> (frame, geometry type)) under ``folder``: a shapefile is
    several files, so all are written aside, then renamed into place, each ``.shp`` last."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = Path(tempfile.mkdtemp(prefix=".shapefiles-", dir=folder))
    try:
        for relative, (frame, geometry_type) in layers.items():
            target = parts / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            frame.to_file(
                target,
                driver="ESRI Shapefile",
                engine="pyogrio",
                geometry_type=geometry_type,
                encoding="UTF-8",
            )
        for part in sorted(
            (p for p in parts.rglob("*") if p.is_file()), key=lambda p: p.suffix.lower() == ".shp"
        ):
            destination = folder / part.relative_to(parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            part.replace(destination)
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def write_changes(path: Path, world) -> None:
    """The ground truth (layer ``changes``: geometry, kind, year), written before any year's marker."""
    with atomic.atomic_path(path, ".gpkg") as tmp:
        changes_frame(world).to_file(
            tmp, layer=GROUND_TRUTH, driver="GPKG", engine="pyogrio", promote_to_multi=True
        )


def write_gpkg(path: Path, layers: dict) -> None:
    """Every layer into one GeoPackage, written to a temporary file and renamed into place."""
    with atomic.atomic_path(path, ".gpkg") as tmp:
        for name, frame in layers.items():
            frame.to_file(
                tmp, layer=name, driver="GPKG", engine="pyogrio", geometry_type=GEOMETRY_TYPES[name]
            )
