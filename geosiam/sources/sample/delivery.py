"""IGN's names and folders for the sample's files: the archives, dalles and editions of département 54."""

from __future__ import annotations

from pathlib import Path

from geosiam.sources.sample.layout import SAMPLE_LAYOUT, SampleLayout

SAMPLE_DEPT = "54"


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


def changes_path(root: Path) -> Path:
    """The ground truth of change (:mod:`geosiam.sources.ground_truth`): one GeoPackage, all years."""
    return root / "changes.gpkg"
