"""Tiny georeferenced test data made on the fly: rasters and vector layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_raster(
    path: Path,
    bounds,
    res: float,
    crs: str = "EPSG:2154",
    dtype="uint8",
    driver: str = "GTiff",
    seed: int = 0,
    nodata=None,
    blocksize: int = 128,
) -> Path:
    """An RGB raster whose pixel values encode position (a smooth gradient + noise)."""
    import rasterio
    from rasterio.transform import from_origin

    xmin, ymin, xmax, ymax = bounds
    width, height = round((xmax - xmin) / res), round((ymax - ymin) / res)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    top = 4000 if dtype == "uint16" else 200
    data = np.stack(
        [
            (xx / max(width - 1, 1)) * top,
            (yy / max(height - 1, 1)) * top,
            rng.uniform(0, top, (height, width)),
        ]
    ).astype(dtype)
    profile = dict(
        driver=driver,
        width=width,
        height=height,
        count=3,
        dtype=dtype,
        crs=crs,
        transform=from_origin(xmin, ymax, res, res),
        nodata=nodata,
    )
    if driver == "GTiff":
        profile.update(tiled=True, blockxsize=blocksize, blockysize=blocksize)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def write_layers(path: Path, layers: dict, crs: str = "EPSG:2154") -> Path:
    """A vector file with one layer per ``name -> (geometries, {column: values})``."""
    import geopandas as gpd

    path.parent.mkdir(parents=True, exist_ok=True)
    for name, (geometries, columns) in layers.items():
        frame = gpd.GeoDataFrame(columns, geometry=list(geometries), crs=crs)
        frame.to_file(path, layer=name, driver="GPKG" if path.suffix == ".gpkg" else None)
    return path


BDTOPO2_THEMES = {
    "route": "A_RESEAU_ROUTIER",
    "troncon_voie_ferree": "B_VOIES_FERREES_ET_AUTRES",
    "troncon_cours_eau": "D_HYDROGRAPHIE",
    "surface_eau": "D_HYDROGRAPHIE",
    "zone_vegetation": "F_VEGETATION",
    "commune": "H_ADMINISTRATIF",
}  # every other layer: E_BATI


def write_bdtopo2(root: Path, layers: dict, crs: str = "EPSG:2154") -> list[Path]:
    """BD TOPO 2.x as IGN delivers it: one Shapefile per layer in its theme folder, file, field
    and extension names upper-case (``E_BATI/BATI_INDIFFERENCIE.SHP`` with ``NATURE``...)."""
    import geopandas as gpd

    written = []
    for name, (geometries, columns) in layers.items():
        folder = root / BDTOPO2_THEMES.get(name.lower(), "E_BATI")
        folder.mkdir(parents=True, exist_ok=True)
        upper = {key.upper(): values for key, values in columns.items()}
        gpd.GeoDataFrame(upper, geometry=list(geometries), crs=crs).to_file(
            folder / f"{name.upper()}.shp", driver="ESRI Shapefile"
        )
        for part in folder.glob(f"{name.upper()}.*"):
            part.rename(part.with_suffix(part.suffix.upper()))
        written.append(folder / f"{name.upper()}.SHP")
    return written
