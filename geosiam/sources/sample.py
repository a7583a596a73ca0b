"""The built-in sample area: a synthetic landscape written in IGN's own layout and formats.

``generate`` draws a deterministic world from a seed (:mod:`.sample_world`) and writes, for each
year, what IGN would deliver for a small piece of département 54: BD ORTHO JPEG2000 dalles
(``54-YYYY-XXXX-YYYY-LA93-2M00-E080.jp2``, X = left edge and Y = top edge in km, with resolution
levels so reduced reads are fast) in the archive's folder layout, with the ``dalles.shp`` index,
and a BD TOPO v3 GeoPackage (:mod:`.sample_topo`) in its delivery layout. The whole pipeline then
runs offline through the same code as real data.

Each year is finished by a marker file written last; every file is written atomically. A second
call finds the markers and returns at once; an interrupted call is completed by the next one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from geosiam import atomic
from geosiam.config import FIRST_YEAR, LAST_YEAR
from geosiam.errors import SettingsError, SourceError
from geosiam.progress import progress
from geosiam.sources.ground_truth import GROUND_TRUTH
from geosiam.sources.sourceset import YearSources

SAMPLE_DEPT = "54"
SAMPLE_ORIGIN = "sample"
GENERATOR_VERSION = 2  # bump when the drawing changes, so that cached samples are redrawn

_JP2_OPTIONS = {
    "QUALITY": "30",
    "REVERSIBLE": "NO",
    "YCC": "YES",
    "RESOLUTIONS": "4",
    "BLOCKXSIZE": "512",
    "BLOCKYSIZE": "512",
}


@dataclass(frozen=True)
class SampleLayout:
    """Where the sample lies and how it is cut: ``dalles`` x ``dalles`` dalles of ``dalle_km``.

    8 x 8 km by default, 961 tile pairs on :data:`SAMPLE_GRID`: at 6 x 6 km (529 pairs) the
    network, trained from scratch on 309 places, overfitted, and the val and test splits (115 and
    105 places) ranked models differently; 580 training and 190/191 val/test places fix both.
    """

    left_km: int = 916  # Lambert-93, south of Nancy
    top_km: int = 6830
    dalles: int = 4
    dalle_km: int = 2
    resolution_m: float = 2.0

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        size = self.dalles * self.dalle_km * 1000.0
        return (
            self.left_km * 1000.0,
            self.top_km * 1000.0 - size,
            self.left_km * 1000.0 + size,
            self.top_km * 1000.0,
        )

    @property
    def resolution_token(self) -> str:
        """IGN's resolution token: 0M50, 1M00, 2M00..."""
        metres = int(self.resolution_m)
        return f"{metres}M{round((self.resolution_m - metres) * 100):02d}"

    def dalle_corners(self) -> list[tuple[int, int]]:
        """(left km, top km) of every dalle, row by row from the north-west."""
        return [
            (self.left_km + col * self.dalle_km, self.top_km - row * self.dalle_km)
            for row in range(self.dalles)
            for col in range(self.dalles)
        ]


SAMPLE_LAYOUT = SampleLayout()
# The grid the sample is meant for: 250 m tiles at 64 px (about 3.9 m/px, the prototype's ground
# scale); its origin is half a tile off the 2 km dalle grid, so tiles cross dalle borders.
SAMPLE_GRID = dict(
    crs="EPSG:2154",
    origin_x=SAMPLE_LAYOUT.bounds[0] + 125.0,
    origin_y=SAMPLE_LAYOUT.bounds[1] + 125.0,
    tile_size_m=250.0,
    tile_px=64,
)


# --- IGN's names and folders ------------------------------------------------------------------


def ortho_delivery(year: int, layout: SampleLayout = SAMPLE_LAYOUT) -> str:
    """The BD ORTHO archive name, e.g. ``BDORTHO_2-0_RVB-2M00_JP2-E080_LAMB93_D054_2015-01-01``."""
    return f"BDORTHO_2-0_RVB-{layout.resolution_token}_JP2-E080_LAMB93_D{SAMPLE_DEPT:0>3}_{year}-01-01"


def dalle_name(year: int, left_km: int, top_km: int, layout: SampleLayout = SAMPLE_LAYOUT) -> str:
    """IGN's dalle name: département, year, left and top edge in km, ``LA93``, resolution."""
    return f"{SAMPLE_DEPT}-{year}-{left_km:04d}-{top_km:04d}-LA93-{layout.resolution_token}-E080.jp2"


def ortho_folders(root: Path, year: int, layout: SampleLayout = SAMPLE_LAYOUT) -> tuple[Path, Path]:
    """(the dalles' folder, the supplements' folder holding ``dalles.shp``) of a year."""
    product = f"BDO_RVB_{layout.resolution_token}_JP2-E080_LAMB93_D{SAMPLE_DEPT}-{year}"
    base = root / ortho_delivery(year, layout) / "BDORTHO"
    delivery = f"{year}-12-{int(SAMPLE_DEPT):05d}"
    return (
        base / f"1_DONNEES_LIVRAISON_{delivery}" / product,
        base / f"3_SUPPLEMENTS_LIVRAISON_{delivery}" / product,
    )


def topo_version(year: int) -> str:
    """The BD TOPO version token IGN used for an edition year (3-0 until 2022)."""
    return "3-0" if year <= 2022 else "3-3" if year == 2023 else "3-4" if year == 2024 else "3-5"


def topo_path(root: Path, year: int) -> Path:
    """The BD TOPO GeoPackage of a year, in IGN's delivery layout (edition of June 15th)."""
    version, edition = topo_version(year), f"{year}-06-15"
    zone = f"D{SAMPLE_DEPT:0>3}"
    product = f"BDT_{version}_GPKG_LAMB93_{zone}-ED{edition}"
    return (
        root
        / f"BDTOPO_{version}_TOUSTHEMES_GPKG_LAMB93_{zone}_{edition}"
        / "BDTOPO"
        / f"1_DONNEES_LIVRAISON_{year}-06-{int(SAMPLE_DEPT):05d}"
        / product
        / f"{product}.gpkg"
    )


def _marker(root: Path, year: int) -> Path:
    return root / f"sample-{year}.complete.json"


def changes_path(root: Path) -> Path:
    """The sample's ground truth of change (:mod:`.ground_truth`): one GeoPackage for all years."""
    return root / "changes.gpkg"


# --- generation -------------------------------------------------------------------------------


def check_years(years: Sequence[int]) -> list[int]:
    """The years as ints, each in the supported range and given once."""
    if not years:
        raise SettingsError("no year given for the sample area: give survey years, e.g. --years 2000 2015")
    checked = []
    for year in years:
        if isinstance(year, bool) or not isinstance(year, int) or not FIRST_YEAR <= year <= LAST_YEAR:
            raise SettingsError(
                f"the sample area cannot be drawn for year {year!r}: "
                f"give years between {FIRST_YEAR} and {LAST_YEAR}"
            )
        if year in checked:
            raise SettingsError(f"year {year} is given twice: give each survey year once")
        checked.append(year)
    return checked


def generate(
    root: Path, years: Sequence[int], seed: int = 0, layout: SampleLayout = SAMPLE_LAYOUT
) -> list[YearSources]:
    """Write the sample area's imagery and vectors for ``years`` under ``root``; one record per year.

    Deterministic for (years, seed): the world depends on the seed alone and each year is a
    snapshot of it. Years already complete (their marker matches seed, layout and generator
    version) are not redrawn.
    """
    years = check_years(years)
    root = Path(root)
    fingerprint = {"seed": seed, "layout": asdict(layout), "generator": GENERATOR_VERSION}
    done = {year: _finished(root, year, fingerprint) for year in years}
    todo = [year for year in years if done[year] is None]
    if todo:
        from geosiam.sources.sample_world import build_world

        world = build_world(layout.bounds, seed)
        _write_changes(changes_path(root), world)
        bar = progress(
            total=len(todo) * (len(layout.dalle_corners()) + 1), desc="drawing the sample area", unit="file"
        )
        with bar:
            for year in todo:
                done[year] = _write_year(root, world, year, layout, fingerprint, bar)
    return [done[year] for year in years]


def _finished(root: Path, year: int, fingerprint: dict) -> YearSources | None:
    """The year's record when its marker matches and its files exist, else None."""
    try:
        marker = json.loads(_marker(root, year).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if marker.get("fingerprint") != fingerprint:
        return None
    record = _record(root, year, marker)
    if not all(path.is_file() for path in record.rasters + record.vectors + (changes_path(root),)):
        return None
    return record


def _record(root: Path, year: int, marker: dict) -> YearSources:
    return YearSources(
        year=year,
        rasters=tuple(root / p for p in marker["rasters"]),
        vectors=tuple(root / p for p in marker["vectors"]),
        origin=SAMPLE_ORIGIN,
        zone=SAMPLE_DEPT,
        acquisition=marker["acquisition"],
        extra={GROUND_TRUTH: changes_path(root)},
    )


def _write_year(root: Path, world, year: int, layout: SampleLayout, fingerprint: dict, bar) -> YearSources:
    """Draw and write one year: dalles, their index, the GeoPackage; the marker last."""
    from geosiam.sources.sample_render import render, survey
    from geosiam.sources.sample_topo import topo_layers

    image = render(world, year, layout.bounds, layout.resolution_m)
    dalles_dir, supplements_dir = ortho_folders(root, year, layout)
    px = round(layout.dalle_km * 1000 / layout.resolution_m)
    rasters = []
    for left_km, top_km in layout.dalle_corners():
        col = round((left_km * 1000 - layout.bounds[0]) / layout.resolution_m)
        row = round((layout.bounds[3] - top_km * 1000) / layout.resolution_m)
        path = dalles_dir / dalle_name(year, left_km, top_km, layout)
        _write_dalle(path, image[:, row : row + px, col : col + px], left_km, top_km, layout.resolution_m)
        rasters.append(path)
        bar.update(1)
    _write_dalle_index(supplements_dir / "dalles.shp", rasters, layout)
    gpkg = topo_path(root, year)
    _write_gpkg(gpkg, topo_layers(world, year))
    bar.update(1)
    marker = {
        "fingerprint": fingerprint,
        "rasters": [str(p.relative_to(root)) for p in rasters],
        "vectors": [str(gpkg.relative_to(root))],
        "acquisition": survey(world.seed, year).date.isoformat(),
    }
    atomic.write_text(_marker(root, year), json.dumps(marker, indent=1))
    return _record(root, year, marker)


def _write_dalle(path: Path, pixels, left_km: int, top_km: int, resolution: float) -> None:
    """One RGB JPEG2000 dalle in EPSG:2154, with resolution levels, written atomically."""
    import rasterio
    from rasterio.transform import from_origin

    _, height, width = pixels.shape
    profile = dict(
        driver="JP2OpenJPEG",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs="EPSG:2154",
        transform=from_origin(left_km * 1000.0, top_km * 1000.0, resolution, resolution),
    )
    try:
        with atomic.atomic_path(path, ".jp2") as tmp:
            with rasterio.Env(GDAL_PAM_ENABLED="NO"):
                with rasterio.open(tmp, "w", **profile, **_JP2_OPTIONS) as dst:
                    dst.write(pixels)
    except rasterio.errors.RasterioError as exc:
        raise SourceError(
            f"cannot write the sample dalle {path}: {exc}; check the disk and the folder's rights"
        ) from None


def _write_dalle_index(path: Path, rasters: list[Path], layout: SampleLayout) -> None:
    """IGN's ``dalles.shp``: one square per dalle, its file name in ``NOM``."""
    import geopandas as gpd
    import shapely

    boxes, names = [], []
    size = layout.dalle_km * 1000.0
    for raster in rasters:
        left_km, top_km = (int(v) for v in raster.name.split("-")[2:4])
        boxes.append(
            shapely.box(left_km * 1000.0, top_km * 1000.0 - size, left_km * 1000.0 + size, top_km * 1000.0)
        )
        names.append(raster.name)
    frame = gpd.GeoDataFrame({"NOM": names}, geometry=boxes, crs="EPSG:2154")
    # a shapefile is several files: write them aside, then rename each into place, the .shp last
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = Path(tempfile.mkdtemp(prefix=".dalles-", dir=path.parent))
    try:
        frame.to_file(parts / path.name, driver="ESRI Shapefile", engine="pyogrio")
        for part in sorted(parts.iterdir(), key=lambda p: p.suffix == ".shp"):
            part.replace(path.parent / part.name)
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def _write_changes(path: Path, world) -> None:
    """The ground truth (layer ``changes``: geometry, kind, year), written before any year's marker."""
    from geosiam.sources.sample_changes import changes_frame

    with atomic.atomic_path(path, ".gpkg") as tmp:
        changes_frame(world).to_file(
            tmp, layer=GROUND_TRUTH, driver="GPKG", engine="pyogrio", promote_to_multi=True
        )


def _write_gpkg(path: Path, layers: dict) -> None:
    """Every layer into one GeoPackage, written to a temporary file and renamed into place."""
    from geosiam.sources.sample_topo import GEOMETRY_TYPES

    with atomic.atomic_path(path, ".gpkg") as tmp:
        for name, frame in layers.items():
            frame.to_file(
                tmp, layer=name, driver="GPKG", engine="pyogrio", geometry_type=GEOMETRY_TYPES[name]
            )
