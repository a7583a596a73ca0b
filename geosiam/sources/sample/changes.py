"""The sample's ground truth: every change on the ground, with what it was and the year it happened.

The world (:mod:`.world`) is a function of time: each object exists from ``born`` until
``gone``, stands are cut and grow back, parcels are merged, converted and planted. Each of these
moments is a change; its geometry is the ground it altered (a building with its plot, a road with
its verges, a whole stand, a whole block of merged fields). A place changed between two
campaigns ``a < b`` where a change has ``a < year <= b``: the campaign of year ``y`` shows the
ground of ``y``, after that year's changes. Pure: returns records, writes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geosiam.config import FIRST_YEAR, LAST_YEAR
from geosiam.sources.sample.world import ORCHARD, Thing, World

# What appearing (born) and disappearing (gone) mean for each kind of object.
_THING_CHANGES = {
    "house": ("house_built", "house_demolished"),
    "annex": ("annex_built", "annex_demolished"),
    "farm": ("farm_building_built", "farm_building_demolished"),
    "silo": ("farm_building_built", "farm_building_demolished"),
    "industry": ("industrial_building_built", "industrial_building_demolished"),
    "church": ("church_built", "church_demolished"),
    "street": ("road_built", "road_removed"),
    "main": ("road_built", "road_removed"),
    "bypass": ("bypass_built", "bypass_removed"),
    "roundabout": ("bypass_built", "bypass_removed"),
    "farm_track": ("track_built", "track_removed"),
    "track": ("track_built", "track_removed"),
    "path": ("track_built", "track_removed"),
    "railway": ("railway_built", "railway_closed"),
    "river": ("watercourse_moved", "watercourse_moved"),
    "stream": ("watercourse_moved", "watercourse_channelised"),
    "channel": ("watercourse_channelised", "watercourse_moved"),
    "pond": ("pond_dug", "pond_filled"),
    "quarry": ("quarry_dug", "quarry_flooded"),
    "site": ("construction_site", "construction_finished"),
    "parking": ("car_park_built", "car_park_removed"),
    "sport": ("sports_ground_built", "sports_ground_removed"),
    "cemetery": ("cemetery_built", "cemetery_removed"),
    "hedge": ("hedge_planted", "hedge_grubbed"),
    "grove": ("grove_planted", "grove_cleared"),
    "riparian": ("riparian_trees_planted", "riparian_trees_cleared"),
}
# A building's plot changes with it (garden, yard, access), not its roof alone.
_PLOT_M = {"house": 8.0, "annex": 3.0, "farm": 8.0, "silo": 5.0, "industry": 10.0, "church": 5.0}
YOUNG_AGE = 3  # years after a cut or a planting when young trees cover the bare ground
MATURE_AGE = 25  # years after which a young stand is drawn (and mapped) as closed forest


@dataclass(frozen=True)
class Change:
    """One change on the ground: what happened, where, and in which year."""

    kind: str
    geometry: BaseGeometry
    year: int


def _in_period(year: float) -> bool:
    return math.isfinite(year) and FIRST_YEAR < year <= LAST_YEAR


def _footprint(thing: Thing) -> BaseGeometry:
    if thing.geometry.geom_type in ("LineString", "MultiLineString", "LinearRing"):
        return thing.geometry.buffer(thing.width / 2 + 2.0, quad_segs=2)
    return thing.geometry.buffer(_PLOT_M.get(thing.kind, 0.0), quad_segs=2)


def _thing_changes(things: list[Thing]) -> list[Change]:
    out = []
    for thing in things:
        appeared, went = _THING_CHANGES[thing.kind]
        for year, kind in ((thing.born, appeared), (thing.gone, went)):
            if _in_period(year):
                out.append(Change(kind, _footprint(thing), int(year)))
    return out


def _stand_changes(world: World) -> list[Change]:
    """Cuts, plantings on fields, young growth over the bare ground, canopies closing."""
    stands = world.stands
    out = []
    for geometry, planted, cuts in zip(stands.geometry, stands.planted, stands.cuts):
        starts = ([planted] if math.isfinite(planted) else []) + list(cuts)
        for k, start in enumerate(starts):
            first = "afforestation" if k == 0 and math.isfinite(planted) else "clear_cut"
            for year, kind in (
                (start, first),
                (start + YOUNG_AGE, "regrowth"),
                (start + MATURE_AGE, "regrowth"),
            ):
                following = starts[k + 1] if k + 1 < len(starts) else math.inf
                if _in_period(year) and year < following:
                    out.append(Change(kind, geometry, int(year)))
    return out


def _parcel_changes(world: World) -> list[Change]:
    """Blocks merged (remembrement), meadows ploughed or sown, orchards grubbed up."""
    parcels = world.parcels
    out = []
    for block in np.flatnonzero(np.isfinite(parcels.merge_year)):
        year = parcels.merge_year[block]
        if _in_period(year):
            shape = shapely.union_all(parcels.geometry[parcels.block == block])
            out.append(Change("fields_merged", shape, int(year)))
    for geometry, use, converted in zip(parcels.geometry, parcels.use, parcels.converted):
        if _in_period(converted):
            kind = "orchard_grubbed" if use == ORCHARD else "land_use_changed"
            out.append(Change(kind, geometry, int(converted)))
    return out


def world_changes(world: World) -> list[Change]:
    """Every change of the world between FIRST_YEAR and LAST_YEAR, clipped to its area."""
    things = (
        world.buildings
        + world.roads
        + world.railways
        + world.streams
        + world.water
        + world.sports
        + world.cemeteries
        + world.hedges
        + world.sites
        + world.parking
        + world.riparian
        + world.groves
    )
    changes = _thing_changes(things) + _stand_changes(world) + _parcel_changes(world)
    area = world.area
    clipped = shapely.clip_by_rect(np.asarray([c.geometry for c in changes], dtype=object), *area)
    return [Change(c.kind, g, c.year) for c, g in zip(changes, clipped) if not g.is_empty and g.area > 1.0]


def changes_frame(world: World):
    """The ground truth as a GeoDataFrame (EPSG:2154): geometry, kind, year."""
    import geopandas as gpd  # lazy: geopandas is heavy; only writing needs it

    changes = world_changes(world)
    return gpd.GeoDataFrame(
        {"kind": [c.kind for c in changes], "year": np.asarray([c.year for c in changes], dtype="int32")},
        geometry=gpd.GeoSeries([c.geometry for c in changes], crs="EPSG:2154"),
    )
