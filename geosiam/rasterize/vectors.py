"""Read vector files once and turn them into burnable shapes: class id, priority, geometry.

Per layer: only the layers some class rule names are read, only within the area (bbox filter
in the layer's own CRS), attribute names lower-cased (SHP truncates and upper-cases them), Z
dropped, invalid geometries repaired, reprojected once to the grid CRS, lines and points
buffered by half their width in metres.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from rasterio.warp import transform_bounds

from geosiam.errors import SourceError
from geosiam.rasterize.classes import ClassTable, Rule

log = logging.getLogger(__name__)


@dataclass
class Burnables:
    """Shapes in the grid CRS, sorted by burn order (lowest priority first), with an index."""

    geometries: np.ndarray  # shapely geometries
    class_ids: np.ndarray  # uint8
    all_touched: np.ndarray  # bool

    def __post_init__(self) -> None:
        self.tree = shapely.STRtree(self.geometries)

    def __len__(self) -> int:
        return len(self.geometries)

    def within(self, bounds) -> Burnables:
        """The shapes intersecting ``bounds``, in burn order."""
        hits = np.sort(self.tree.query(shapely.box(*bounds)))
        return Burnables(self.geometries[hits], self.class_ids[hits], self.all_touched[hits])

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "tree"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__post_init__()


def layers_of(path: Path) -> list[str]:
    """Layer names of a vector file (one-layer formats: the file stem)."""
    try:
        return [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise SourceError(f"cannot read vector file {path}: {exc}") from None


def layer_names(path: Path) -> list[str]:
    """The names class rules match a file's layers by: lower-case; a one-layer file's stem."""
    return _matched_names(path, layers_of(path))


def _matched_names(path: Path, layers: list[str]) -> list[str]:
    return [layer.lower() if len(layers) > 1 else _layer_name(path, layer) for layer in layers]


def load_burnables(paths, table: ClassTable, grid_crs: str, bounds) -> Burnables:
    """Every feature of ``paths`` that a class rule selects, as shapes ready to burn."""
    return load_burnables_of([(paths, table)], grid_crs, bounds)


def load_burnables_of(groups, grid_crs: str, bounds) -> Burnables:
    """Like :func:`load_burnables` for ``(paths, table)`` groups (vectors of several data models,
    each read with its own table), burn order across all of them by class priority."""
    parts: list[tuple[int, int, np.ndarray, bool]] = []  # (priority, id, geoms, all_touched)
    for paths, table in groups:
        for path in paths:
            parts += _selected_parts(path, table, grid_crs, bounds)
    parts.sort(key=lambda part: part[0])
    if not parts:
        return Burnables(np.array([], dtype=object), np.array([], np.uint8), np.array([], bool))
    return Burnables(
        np.concatenate([p[2] for p in parts]),
        np.concatenate([np.full(len(p[2]), p[1], np.uint8) for p in parts]),
        np.concatenate([np.full(len(p[2]), p[3], bool) for p in parts]),
    )


def _selected_parts(
    path, table: ClassTable, grid_crs: str, bounds
) -> list[tuple[int, int, np.ndarray, bool]]:
    """(priority, class id, shapes, all_touched) of each class rule's features in one file."""
    parts = []
    layers = layers_of(path)
    for layer, name in zip(layers, _matched_names(path, layers)):
        rules = [(c, r) for c in table.classes for r in c.rules if r.matches_layer(name)]
        if not rules:
            continue
        frame = _read_layer(path, layer, grid_crs, bounds)
        if frame is None or frame.empty:
            continue
        for cls, rule in rules:
            geoms = _select(frame, rule)
            if len(geoms):
                parts.append((cls.priority, cls.id, geoms, cls.all_touched))
    return parts


def _layer_name(path: Path, layer: str) -> str:
    """A one-layer file's layer is its file stem (BATIMENT.shp -> batiment)."""
    return Path(path).stem.lower() if Path(path).suffix.lower() != ".gpkg" else layer.lower()


def _read_layer(path: Path, layer: str, grid_crs: str, bounds):
    info = pyogrio.read_info(path, layer=layer)
    if not info.get("crs"):
        raise SourceError(f"vector layer {layer} of {path} has no CRS: assign one (ogr2ogr -a_srs)")
    layer_crs = CRS.from_user_input(info["crs"])
    bbox = tuple(transform_bounds(grid_crs, layer_crs, *bounds, densify_pts=21)) if bounds else None
    frame = gpd.read_file(path, layer=layer, bbox=bbox, engine="pyogrio")
    if frame.empty:
        return frame
    frame.columns = [c.lower() if c != "geometry" else c for c in frame.columns]
    geometry = shapely.make_valid(shapely.force_2d(frame.geometry.values))
    frame = gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=geometry, crs=layer_crs)
    return frame.to_crs(grid_crs)


def _select(frame, rule: Rule) -> np.ndarray:
    """The rule's features, lines and points buffered by half their width."""
    keep = np.ones(len(frame), dtype=bool)
    for attribute, values in rule.where.items():
        keep &= frame[attribute].isin(values).to_numpy() if attribute in frame else False
    for attribute, values in rule.exclude.items():
        if attribute in frame:
            keep &= ~frame[attribute].isin(values).to_numpy()
    selected = frame[keep]
    geoms = selected.geometry.to_numpy()
    if not len(geoms):
        return geoms
    kind = shapely.get_type_id(geoms)
    linear = np.isin(kind, (0, 1, 2, 4, 5))  # points and lines (single and multi)
    if linear.any():
        widths = _widths(selected[linear], rule)
        buffered = geoms[linear].copy()
        has_width = ~np.isnan(widths)
        buffered[has_width] = shapely.buffer(buffered[has_width], widths[has_width] / 2, cap_style="flat")
        geoms = geoms.copy()
        geoms[linear] = buffered
    return geoms[~shapely.is_empty(geoms)]


def _widths(frame, rule: Rule) -> np.ndarray:
    """Full width in metres per feature: its attribute, else the per-value default, else width_m."""
    default = np.nan if rule.width_m is None else rule.width_m
    widths = np.full(len(frame), default, dtype=float)
    if rule.width_by_attribute and rule.width_by_attribute in frame:
        by_value = frame[rule.width_by_attribute].map(rule.width_by).to_numpy(dtype=float)
        widths = np.where(np.isnan(by_value), widths, by_value)
    if rule.width_attribute and rule.width_attribute in frame:
        own = _numeric(frame[rule.width_attribute])
        widths = np.where(own > 0, own, widths)
    return widths


def _numeric(series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
