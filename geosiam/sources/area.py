"""The area of interest given on the command line: ``--bbox`` or ``--aoi``."""

from __future__ import annotations

from collections.abc import Sequence

from geosiam.errors import SettingsError, SourceError
from geosiam.geometry import Bounds


def bbox_bounds(bbox: Sequence[float]) -> Bounds:
    """A checked ``xmin ymin xmax ymax``."""
    xmin, ymin, xmax, ymax = bbox
    if xmin >= xmax or ymin >= ymax:
        raise SettingsError(
            f"empty --bbox {list(bbox)}: give xmin ymin xmax ymax with xmin < xmax, ymin < ymax"
        )
    return (xmin, ymin, xmax, ymax)


def aoi_shape(path: str, crs: str):
    """The union of an AOI file's geometries, in ``crs``."""
    import geopandas as gpd  # lazy: heavy, and this module is on the CLI's start-up path

    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise SourceError(f"cannot read --aoi {path}: {exc}") from None
    if frame.empty:
        raise SettingsError(f"--aoi {path} has no features: give a file with the area's polygon")
    if frame.crs is None:
        raise SourceError(f"--aoi {path} has no CRS: assign one (ogr2ogr -a_srs EPSG:2154)")
    return frame.to_crs(crs).union_all()


def area_bounds(bbox: Sequence[float], aoi: str, crs: str) -> Bounds | None:
    """The area in ``crs`` (bbox first, then AOI), or None for 'wherever the sources are'."""
    if bbox:
        return bbox_bounds(bbox)
    if aoi:
        return tuple(aoi_shape(aoi, crs).bounds)
    return None
