"""A user's own files: ``--ortho YEAR=PATH`` and ``--topo YEAR=PATH``.

PATH is a file, a folder (searched recursively) or a glob. Rasters: JPEG2000, GeoTIFF, VRT (and
anything else GDAL reads, given as a file); vectors: GeoPackage, Shapefile, GeoJSON, FlatGeobuf.
"""

from __future__ import annotations

import glob
from pathlib import Path

from geosiam.errors import SourceError
from geosiam.sources.sourceset import YearSources

RASTER_SUFFIXES = (".jp2", ".tif", ".tiff", ".vrt")
VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".fgb")


def find_files(spec: str, suffixes: tuple[str, ...], kind: str) -> tuple[Path, ...]:
    """Files named by ``spec`` (file, folder or glob) with one of ``suffixes``, sorted."""
    path = Path(spec).expanduser()
    if path.is_file():
        return (path,)
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes]
    else:
        found = [Path(p) for p in glob.glob(str(path), recursive=True)]
        found = [p for p in found if p.is_file() and p.suffix.lower() in suffixes]
    if not found:
        raise SourceError(
            f"no {kind} found at '{spec}': give a file, a folder or a glob of "
            f"{'/'.join(s.lstrip('.') for s in suffixes)} files"
        )
    return tuple(sorted(found))


def local_sources(years: list[int], ortho: dict[str, str], topo: dict[str, str]) -> list[YearSources]:
    """One YearSources per year from the user's paths; every year needs imagery.

    A year's ``--topo`` files are its labels as the user said (edition date unknown: gap 0,
    named by the path given); a year without ``--topo`` has no labels.
    """
    missing = [y for y in years if str(y) not in ortho]
    if missing:
        raise SourceError(f"no imagery for year(s) {missing}: add --ortho {missing[0]}=PATH for each year")
    extra = sorted((set(ortho) | set(topo)) - {str(y) for y in years})
    if extra:
        raise SourceError(f"--ortho/--topo name year(s) {extra} not in --years {years}: fix the YEAR= prefix")
    return [
        YearSources(
            year=year,
            rasters=find_files(ortho[str(year)], RASTER_SUFFIXES, "rasters"),
            vectors=find_files(topo[str(year)], VECTOR_SUFFIXES, "vector files") if str(year) in topo else (),
            origin=f"local:{ortho[str(year)]}",
            label_name=topo.get(str(year), ""),
        )
        for year in years
    ]
