"""The built-in sample area: a synthetic landscape written in IGN's own layout and formats.

``generate`` draws a deterministic world from a seed (:mod:`.world`) and writes, for each
year, what IGN would deliver for a small piece of département 54: BD ORTHO JPEG2000 dalles
(``54-YYYY-XXXX-YYYY-LA93-2M00-E080.jp2``, X = left edge and Y = top edge in km, with resolution
levels so reduced reads are fast) in the archive's folder layout, with the ``dalles.shp`` index,
and a BD TOPO v3 GeoPackage (:mod:`.topo`) in its delivery layout. The whole pipeline then
runs offline through the same code as real data.

Each year is finished by a marker file written last; every file is written atomically. A second
call finds the markers and returns at once; an interrupted call is completed by the next one.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import shapely

from geosiam import atomic
from geosiam.config import FIRST_YEAR, LAST_YEAR, SAMPLE_GENERATOR_VERSION, SampleSettings, Settings
from geosiam.errors import SettingsError, SourceError
from geosiam.progress import progress
from geosiam.sources.ground_truth import GROUND_TRUTH
from geosiam.sources.sample.changes import changes_frame
from geosiam.sources.sample.render import render, survey
from geosiam.sources.sample.topo import GEOMETRY_TYPES, edition, topo_layers
from geosiam.sources.sample.topo2 import GEOMETRY_TYPES2, THEMES, topo2_layers
from geosiam.sources.sample.world import build_world
from geosiam.sources.sourceset import YearSources

SAMPLE_DEPT = "54"
SAMPLE_ORIGIN = "sample"
PANCHROMATIC_RESOLUTION_M = 5.0  # grey campaigns: coarser dalles, resampled to the grid by tiling

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

    8 x 8 km by default (``--sample-km``), 961 tile pairs on :data:`SAMPLE_GRID`: at 6 x 6 km
    (529 pairs) the network, trained from scratch on 309 places, overfitted, and the val and test
    splits (115 and 105 places) ranked models differently; 580 training and 190/191 val/test
    places fix both. Colour campaigns are written at ``resolution_m``, panchromatic ones coarser.
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

    def resolution(self, grey: bool = False) -> float:
        """Metres per pixel of a colour or a panchromatic campaign's dalles."""
        return PANCHROMATIC_RESOLUTION_M if grey else self.resolution_m

    def resolution_token(self, grey: bool = False) -> str:
        """IGN's resolution token: 0M50, 1M00, 2M00..."""
        resolution = self.resolution(grey)
        metres = int(resolution)
        return f"{metres}M{round((resolution - metres) * 100):02d}"

    def dalle_corners(self) -> list[tuple[int, int]]:
        """(left km, top km) of every dalle, row by row from the north-west."""
        return [
            (self.left_km + col * self.dalle_km, self.top_km - row * self.dalle_km)
            for row in range(self.dalles)
            for col in range(self.dalles)
        ]


def sample_layout(sample: SampleSettings) -> SampleLayout:
    """The layout of a ``sample.km`` side: 2 km dalles, or 1 km ones for an odd number of km."""
    dalle_km = 2 if sample.km % 2 == 0 else 1
    return SampleLayout(dalles=sample.km // dalle_km, dalle_km=dalle_km)


def sample_grid(layout: SampleLayout) -> dict:
    """The grid the sample is meant for: 250 m tiles at 64 px (about 3.9 m/px, the prototype's
    ground scale); its origin is half a tile off the dalle grid, so tiles cross dalle borders."""
    return dict(
        crs="EPSG:2154",
        origin_x=layout.bounds[0] + 125.0,
        origin_y=layout.bounds[1] + 125.0,
        tile_size_m=250.0,
        tile_px=64,
    )


SAMPLE_LAYOUT = sample_layout(SampleSettings())
SAMPLE_GRID = sample_grid(SAMPLE_LAYOUT)


def check_sample(settings: Settings) -> None:
    """Refuse, before anything is drawn, a sample too small for the splits or a wrong grey year."""
    sample = settings.sample
    if isinstance(sample.km, bool) or not isinstance(sample.km, int) or sample.km <= 0:
        raise SettingsError(
            f"--sample-km must be a whole number of km above 0, got {sample.km}: e.g. --sample-km 8"
        )
    if not FIRST_YEAR <= sample.panchromatic_before <= LAST_YEAR:
        raise SettingsError(
            f"--panchromatic-before {sample.panchromatic_before} is outside the sample's years: "
            f"give a year from {FIRST_YEAR} to {LAST_YEAR}"
        )
    split, grid = settings.split, settings.grid
    wanted = sum(1 for f in split.fractions if f > 0)
    if split.method != "blocks" or not grid.tile_size_m:
        return
    xmin, ymin, xmax, ymax = sample_layout(sample).bounds
    blocks = len(_blocks_along(xmin, xmax, grid.origin_x, grid.tile_size_m, split.block_size_m)) * len(
        _blocks_along(ymin, ymax, grid.origin_y, grid.tile_size_m, split.block_size_m)
    )
    if blocks < wanted:
        raise SettingsError(
            f"a {sample.km} km sample holds {blocks} split block(s) of {split.block_size_m:g} m, "
            f"fewer than the {wanted} splits: give a larger --sample-km"
        )


def _blocks_along(low: float, high: float, origin: float, tile: float, block: float) -> set[int]:
    """Split blocks (by tile centre, as pairing assigns them) of the whole tiles in [low, high]."""
    first = math.ceil((low - origin) / tile - 1e-9)
    last = math.floor((high - origin) / tile + 1e-9) - 1
    return {math.floor((origin + (k + 0.5) * tile) / block) for k in range(first, last + 1)}


# --- IGN's names and folders ------------------------------------------------------------------


def _product(grey: bool) -> str:
    return "PAN" if grey else "RVB"


def ortho_delivery(year: int, layout: SampleLayout = SAMPLE_LAYOUT, grey: bool = False) -> str:
    """The BD ORTHO archive name, e.g. ``BDORTHO_2-0_RVB-2M00_JP2-E080_LAMB93_D054_2015-01-01``."""
    token = layout.resolution_token(grey)
    return f"BDORTHO_2-0_{_product(grey)}-{token}_JP2-E080_LAMB93_D{SAMPLE_DEPT:0>3}_{year}-01-01"


def dalle_name(
    year: int, left_km: int, top_km: int, layout: SampleLayout = SAMPLE_LAYOUT, grey: bool = False
) -> str:
    """IGN's dalle name: département, year, left and top edge in km, ``LA93``, resolution."""
    return f"{SAMPLE_DEPT}-{year}-{left_km:04d}-{top_km:04d}-LA93-{layout.resolution_token(grey)}-E080.jp2"


def ortho_folders(
    root: Path, year: int, layout: SampleLayout = SAMPLE_LAYOUT, grey: bool = False
) -> tuple[Path, Path]:
    """(the dalles' folder, the supplements' folder holding ``dalles.shp``) of a year."""
    token = layout.resolution_token(grey)
    product = f"BDO_{_product(grey)}_{token}_JP2-E080_LAMB93_D{SAMPLE_DEPT}-{year}"
    base = root / ortho_delivery(year, layout, grey) / "BDORTHO"
    delivery = f"{year}-12-{int(SAMPLE_DEPT):05d}"
    return (
        base / f"1_DONNEES_LIVRAISON_{delivery}" / product,
        base / f"3_SUPPLEMENTS_LIVRAISON_{delivery}" / product,
    )


def topo_version(date: str) -> str:
    """The BD TOPO version token IGN used for an edition published on ``date`` (ISO)."""
    year = int(date[:4])
    if year < 2019:
        return "2-2"
    return "3-0" if year <= 2022 else "3-3" if year == 2023 else "3-4" if year == 2024 else "3-5"


def topo_product(root: Path, date: str) -> Path:
    """The folder of a BD TOPO edition in IGN's delivery layout: GeoPackage (v3) or Shapefiles (2.x)."""
    version, zone, year = topo_version(date), f"D{SAMPLE_DEPT:0>3}", date[:4]
    fmt = "SHP" if version.startswith("2") else "GPKG"
    edition = date if fmt == "GPKG" else f"{year[2:]}{date[5:7]}"  # 2.x products: ED + YYMM
    return (
        root
        / f"BDTOPO_{version}_TOUSTHEMES_{fmt}_LAMB93_{zone}_{date}"
        / "BDTOPO"
        / f"1_DONNEES_LIVRAISON_{date[:7]}-{int(SAMPLE_DEPT):05d}"
        / f"BDT_{version}_{fmt}_LAMB93_{zone}-ED{edition}"
    )


def topo_path(root: Path, date: str) -> Path:
    """The GeoPackage of a v3 edition published on ``date``."""
    product = topo_product(root, date)
    return product / f"{product.name}.gpkg"


def _marker(root: Path, year: int) -> Path:
    return root / f"sample-{year}.complete.json"


def changes_path(root: Path) -> Path:
    """The ground truth of change (:mod:`geosiam.sources.ground_truth`): one GeoPackage, all years."""
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
    root: Path, years: Sequence[int], sample: SampleSettings | None = None, layout: SampleLayout | None = None
) -> list[YearSources]:
    """Write the sample area's imagery and vectors for ``years`` under ``root``; one record per year.

    Deterministic for (years, settings): the world depends on the seed alone and each year is a
    snapshot of it. ``layout`` defaults to ``sample.km``'s. Years already complete (their marker
    matches the settings, layout and generator version) are not redrawn.
    """
    years = check_years(years)
    sample = sample or SampleSettings()
    layout = layout or sample_layout(sample)
    root = Path(root)
    fingerprint = {
        "seed": sample.seed,
        "panchromatic_before": sample.panchromatic_before,
        "layout": asdict(layout),
        "generator": SAMPLE_GENERATOR_VERSION,
    }
    done = {year: _finished(root, year, fingerprint) for year in years}
    todo = [year for year in years if done[year] is None]
    if todo:
        world = build_world(layout.bounds, sample.seed)
        _write_changes(changes_path(root), world)
        bar = progress(
            total=len(todo) * (len(layout.dalle_corners()) + 1), desc="drawing the sample area", unit="file"
        )
        with bar:
            for year in todo:
                grey = year < sample.panchromatic_before
                done[year] = _write_year(root, world, year, layout, grey, fingerprint, bar)
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
        label_date=marker["label_date"],
        label_version=marker["label_version"],
        ground_truth=changes_path(root),
    )


def _write_year(
    root: Path, world, year: int, layout: SampleLayout, grey: bool, fingerprint: dict, bar
) -> YearSources:
    """Draw and write one year: dalles, their index, its BD TOPO edition; the marker last."""
    resolution = layout.resolution(grey)
    image = render(world, year, layout.bounds, resolution, grey)
    dalles_dir, supplements_dir = ortho_folders(root, year, layout, grey)
    px = round(layout.dalle_km * 1000 / resolution)
    rasters = []
    for left_km, top_km in layout.dalle_corners():
        col = round((left_km * 1000 - layout.bounds[0]) / resolution)
        row = round((layout.bounds[3] - top_km * 1000) / resolution)
        path = dalles_dir / dalle_name(year, left_km, top_km, layout, grey)
        _write_dalle(path, image[:, row : row + px, col : col + px], left_km, top_km, resolution)
        rasters.append(path)
        bar.update(1)
    _write_dalle_index(supplements_dir / "dalles.shp", rasters, layout)
    ed = edition(world.seed, year)
    vectors = _write_edition(root, world, ed)
    bar.update(1)
    marker = {
        "fingerprint": fingerprint,
        "rasters": [str(p.relative_to(root)) for p in rasters],
        "vectors": [str(p.relative_to(root)) for p in vectors],
        "acquisition": survey(world.seed, year).date.isoformat(),
        "label_date": ed.date,
        "label_version": ed.version,
    }
    atomic.write_text(_marker(root, year), json.dumps(marker, indent=1))
    return _record(root, year, marker)


def _write_edition(root: Path, world, ed) -> list[Path]:
    """A BD TOPO edition: one GeoPackage (v3), or Shapefiles by theme (2.x, before 2019)."""
    layers = topo_layers(world, ed)
    if ed.version == "3":
        gpkg = topo_path(root, ed.date)
        _write_gpkg(gpkg, layers)
        return [gpkg]
    product = topo_product(root, ed.date)
    # an empty Shapefile has no geometry type of its own (GDAL reads it as measured): left out
    frames = {name: frame for name, frame in topo2_layers(layers).items() if len(frame)}
    _write_shapefiles(
        product,
        {f"{THEMES[name]}/{name}.shp": (frame, GEOMETRY_TYPES2[name]) for name, frame in frames.items()},
    )
    return [product / THEMES[name] / f"{name}.shp" for name in frames]


def _write_dalle(path: Path, pixels, left_km: int, top_km: int, resolution: float) -> None:
    """One RGB or grey JPEG2000 dalle in EPSG:2154, with resolution levels, written atomically."""
    import rasterio  # lazy: GDAL is heavy; only writing needs it
    from rasterio.transform import from_origin

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


def _write_dalle_index(path: Path, rasters: list[Path], layout: SampleLayout) -> None:
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
    _write_shapefiles(path.parent, {path.name: (frame, "Polygon")})


def _write_shapefiles(folder: Path, layers: dict) -> None:
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


def _write_changes(path: Path, world) -> None:
    """The ground truth (layer ``changes``: geometry, kind, year), written before any year's marker."""
    with atomic.atomic_path(path, ".gpkg") as tmp:
        changes_frame(world).to_file(
            tmp, layer=GROUND_TRUTH, driver="GPKG", engine="pyogrio", promote_to_multi=True
        )


def _write_gpkg(path: Path, layers: dict) -> None:
    """Every layer into one GeoPackage, written to a temporary file and renamed into place."""
    with atomic.atomic_path(path, ".gpkg") as tmp:
        for name, frame in layers.items():
            frame.to_file(
                tmp, layer=name, driver="GPKG", engine="pyogrio", geometry_type=GEOMETRY_TYPES[name]
            )
