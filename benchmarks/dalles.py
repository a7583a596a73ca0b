"""Real-size BD ORTHO dalles and BD TOPO-like vectors, generated once and cached for benchmarks.

A dalle is 5 km x 5 km in EPSG:2154, named like IGN's (``DD-YYYY-XXXX-YYYY-LA93-0M50-E080.jp2``,
X the left and Y the top edge in km): 10,000 px at 0M50, 25,000 px at 0M20. The JPEG2000 is
encoded like a delivery: lossy (9/7 wavelet, colour transform), 1024 px codestream tiles, 64 px
code blocks, resolution levels down to a few hundred pixels, at a compression ratio of 1:20
(a public GPSO project lists 7 IGN 0M20 dalles at ~631 MB in all, ~90 MB each, i.e. 1:21).

The picture is drawn strip by strip (512 rows at a time) into a raw GeoTIFF, then encoded to
JPEG2000 codestream tile by codestream tile by GDAL, so memory stays bounded (~0.5 GB for a
25,000 px dalle) while the raw intermediate (1.9 GB at 0M20) lives on disk only until encoded.
What is drawn: fields from a coarse random parcel grid, woods, roads and buildings (the very
vectors written to the GeoPackage, so masks and images agree) and per-pixel grain, which gives
the encoder the high-frequency content that makes its bit budget realistic.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STRIP_PX = 512
DALLE_M = 5000
COMPRESSION_RATIO = 20  # raw / encoded size, as IGN's 0M20 deliveries
JP2_LEVELS = {"0M50": 6, "0M20": 7}  # coarsest level: 312 px and 390 px


@dataclass(frozen=True)
class DalleSet:
    """Dalles of one resolution, as a mosaic of ``cols`` x ``rows`` with its vectors."""

    token: str  # "0M50" or "0M20"
    cols: int
    rows: int
    left_km: int = 900
    top_km: int = 6500

    @property
    def resolution(self) -> float:
        return {"0M50": 0.5, "0M20": 0.2}[self.token]

    @property
    def px(self) -> int:
        return round(DALLE_M / self.resolution)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.left_km * 1000.0, self.top_km * 1000.0
        return (left, top - self.rows * DALLE_M, left + self.cols * DALLE_M, top)

    def describe(self) -> str:
        return f"{self.token}, {self.cols * self.rows} dalles of {self.px} px ({self.cols} x {self.rows})"

    def corners(self) -> list[tuple[int, int]]:
        return [
            (self.left_km + 5 * c, self.top_km - 5 * r) for r in range(self.rows) for c in range(self.cols)
        ]


def cache_root() -> Path:
    """Where generated dalles are kept between runs (GEOSIAM_BENCH_CACHE, or the temp folder)."""
    return Path(os.environ.get("GEOSIAM_BENCH_CACHE", Path(tempfile.gettempdir()) / "geosiam-bench-dalles"))


def ensure(dalles: DalleSet, root: Path | None = None) -> tuple[list[Path], Path]:
    """The dalles' JPEG2000 paths and the vectors' GeoPackage, generated where not cached."""
    folder = (root or cache_root()) / f"{dalles.token}_{dalles.cols}x{dalles.rows}"
    folder.mkdir(parents=True, exist_ok=True)
    vectors = folder / "bdtopo.gpkg"
    layers = _vectors(dalles, seed=14)
    if not vectors.exists():
        _write_gpkg(vectors, layers)
    paths = []
    for index, (left_km, top_km) in enumerate(dalles.corners()):
        path = folder / f"54-2024-{left_km:04d}-{top_km:04d}-LA93-{dalles.token}-E080.jp2"
        if not path.exists():
            started = time.perf_counter()
            _write_dalle(path, dalles, left_km, top_km, layers, seed=index)
            print(f"generated {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
        paths.append(path)
    return paths, vectors


def _vectors(dalles: DalleSet, seed: int) -> dict:
    """Buildings, roads and woods over the mosaic, in BD TOPO v3 layer and attribute names."""
    import shapely

    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = dalles.bounds
    area_km2 = (xmax - xmin) * (ymax - ymin) / 1e6
    n_buildings = int(120 * area_km2)  # a periurban density
    centres = rng.uniform((xmin, ymin), (xmax, ymax), size=(n_buildings, 2))
    sizes = rng.uniform(8, 25, size=(n_buildings, 2))
    buildings = shapely.box(*(centres - sizes / 2).T, *(centres + sizes / 2).T)
    roads = []
    for _ in range(int(6 * area_km2)):
        start = rng.uniform((xmin, ymin), (xmax, ymax))
        steps = np.cumsum(rng.normal(0, 1, size=(12, 2)) * 60 + rng.normal(0, 1, 2) * 120, axis=0)
        roads.append(shapely.LineString(start + steps))
    woods = [
        shapely.Point(rng.uniform((xmin, ymin), (xmax, ymax))).buffer(rng.uniform(60, 300), quad_segs=4)
        for _ in range(int(2 * area_km2))
    ]
    return {
        "batiment": ({"nature": ["Indifférenciée"] * n_buildings}, list(buildings)),
        "troncon_de_route": (
            {
                "nature": ["Route à 1 chaussée"] * len(roads),
                "largeur_de_chaussee": rng.uniform(4, 9, len(roads)).round(1).tolist(),
            },
            roads,
        ),
        "zone_de_vegetation": ({"nature": ["Bois"] * len(woods)}, woods),
    }


def _write_gpkg(path: Path, layers: dict) -> None:
    import geopandas as gpd

    tmp = path.with_suffix(".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    for name, (columns, geometries) in layers.items():
        gpd.GeoDataFrame(columns, geometry=geometries, crs="EPSG:2154").to_file(tmp, layer=name)
    tmp.rename(path)


def _write_dalle(path: Path, dalles: DalleSet, left_km: int, top_km: int, layers: dict, seed: int) -> None:
    """Draw a dalle strip by strip into a raw GeoTIFF, then encode it to JPEG2000."""
    import rasterio
    from rasterio.shutil import copy
    from rasterio.transform import from_origin

    px, res = dalles.px, dalles.resolution
    transform = from_origin(left_km * 1000.0, top_km * 1000.0, res, res)
    profile = dict(
        driver="GTiff", width=px, height=px, count=3, dtype="uint8", crs="EPSG:2154",
        transform=transform, tiled=True, blockxsize=512, blockysize=512, BIGTIFF="YES",
    )  # fmt: skip
    raw = path.with_suffix(".raw.tif")
    rng = np.random.default_rng(seed)
    palette = rng.integers(60, 200, size=(4096, 3)).astype(np.float32)
    parcel_m = 150.0
    shapes = _burn_shapes(layers, transform, px * res)
    with rasterio.open(raw, "w", **profile) as dst:
        for top in range(0, px, STRIP_PX):
            height = min(STRIP_PX, px - top)
            window = rasterio.windows.Window(0, top, px, height)
            dst.write(_draw(dst.window_transform(window), (height, px), res, shapes, palette, parcel_m, rng),
                      window=window)  # fmt: skip
    options = {
        "QUALITY": str(100 / COMPRESSION_RATIO),
        "REVERSIBLE": "NO",
        "YCC": "YES",
        "RESOLUTIONS": str(JP2_LEVELS[dalles.token]),
        "BLOCKXSIZE": "1024",
        "BLOCKYSIZE": "1024",
        "CODEBLOCK_WIDTH": "64",
        "CODEBLOCK_HEIGHT": "64",
    }
    tmp = path.with_suffix(".tmp.jp2")
    with rasterio.Env(GDAL_PAM_ENABLED="NO", GDAL_CACHEMAX=512):
        copy(raw, tmp, driver="JP2OpenJPEG", **options)
    tmp.rename(path)
    raw.unlink()
    path.with_suffix(".json").write_text(json.dumps({"options": options, "bytes": path.stat().st_size}))


def _burn_shapes(layers: dict, transform, span_m: float) -> list[tuple[list, tuple[int, int, int]]]:
    """The dalle's woods, roads (buffered to their width) and buildings, each with its colour."""
    import shapely

    box = shapely.box(transform.c, transform.f - span_m, transform.c + span_m, transform.f)
    columns, roads = layers["troncon_de_route"]
    road_areas = [g.buffer(w / 2) for g, w in zip(roads, columns["largeur_de_chaussee"])]
    out = []
    for geometries, colour in (
        (layers["zone_de_vegetation"][1], (40, 70, 35)),
        (road_areas, (120, 118, 112)),
        (layers["batiment"][1], (170, 90, 70)),
    ):
        out.append(([g for g in geometries if g.intersects(box)], colour))
    return out


def _draw(transform, shape, res, shapes, palette, parcel_m, rng) -> np.ndarray:
    """One strip of the picture: (3, H, W) uint8."""
    from rasterio.features import rasterize

    height, width = shape
    xs = transform.c + (np.arange(width) + 0.5) * res
    ys = transform.f - (np.arange(height) + 0.5) * res
    parcel = np.floor(ys / parcel_m).astype(np.int64)[:, None] * 7919 + np.floor(xs / parcel_m).astype(
        np.int64
    )
    rgb = palette[parcel % len(palette)].transpose(2, 0, 1)  # (3, H, W) float32
    # rows of crops: a stripe pattern whose phase changes from parcel to parcel
    rgb += (np.sin((xs[None, :] + ys[:, None] * 0.3) * (2 * np.pi / 3.0) + parcel) * 8).astype(np.float32)
    del parcel
    for geometries, colour in shapes:
        if not geometries:
            continue
        hit = (
            rasterize(((g, 1) for g in geometries), out_shape=shape, transform=transform, dtype=np.uint8) > 0
        )
        for band in range(3):
            rgb[band][hit] = colour[band]
    rgb += rng.standard_normal(size=rgb.shape, dtype=np.float32) * 9
    return np.clip(rgb, 0, 255).astype(np.uint8)
