"""Ground truth of change, for the sources that have it (the built-in sample; real areas have none).

A source that knows what changed on the ground names, in its records' ``ground_truth``, a
GeoPackage whose layer ``changes`` holds one row per change: geometry, ``kind`` and ``year`` (the
campaign of a later year shows it, that of its year too). Pairing reads it to give each pair the
share of its place that changed between its two years.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geosiam.errors import SourceError
from geosiam.sources.sourceset import YearSources

GROUND_TRUTH = "changes"  # the GeoPackage layer's name


def read_changes(records: list[YearSources], crs: str):
    """Every record's ground truth in ``crs`` as one GeoDataFrame (geometry, kind, year), or None."""
    import geopandas as gpd  # lazy: heavy; the sample's writer imports this module for GROUND_TRUTH

    paths = sorted({Path(r.ground_truth) for r in records if r.ground_truth})
    if not paths:
        return None
    frames = []
    for path in paths:
        try:
            frames.append(gpd.read_file(path, layer=GROUND_TRUTH, engine="pyogrio").to_crs(crs))
        except Exception as exc:  # pyogrio's DataSourceError and friends
            raise SourceError(
                f"cannot read the ground truth of change {path}: {exc}; delete it to have it made again"
            ) from None
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)
