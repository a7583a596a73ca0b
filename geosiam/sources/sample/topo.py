"""Map the sample world as an edition of IGN's BD TOPO (layers, attributes, 3D).

An edition is not the ground: it is a capture of it, with its own lag, completeness, shift and
generalisation, and two editions differ the way real ones do. It is published a year or two after
the photo it goes with and captures the ground of up to two years before that photo, its
vegetation theme later still, so a change shows in the photo before it shows in the map. Older
editions are coarser: their vegetation is smoothed, small woods, hedges and orchards are missing,
farm tracks and footpaths are partly captured, small annexes are left out and neighbouring
buildings merged; every edition is shifted by 1-3 m as a whole. Objects keep their ``cleabs``
from one edition to the next. Layer names, attribute names and ``nature`` values are BD TOPO
v3's; :mod:`.topo2` re-casts an edition published before 2019 into the 2.x data model.
Pure: returns GeoDataFrames, writes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
import shapely.affinity
from shapely.geometry.base import BaseGeometry

from geosiam.sources.sample.world import BROADLEAF, CONIFER, MIXED, ORCHARD, POPLAR, Thing, World, alive

FIRST_V3_YEAR = 2019  # BD TOPO v3's first edition; 2.x (another data model) before

# Every layer's attributes and their types ("str", "float", nullable "Int64", "bool"): a layer with
# no feature in the area still carries its columns, as in IGN's deliveries.
SCHEMA = {
    "batiment": {
        "cleabs": "str",
        "nature": "str",
        "usage_1": "str",
        "usage_2": "str",
        "construction_legere": "bool",
        "etat_de_l_objet": "str",
        "hauteur": "float",
        "nombre_d_etages": "Int64",
    },
    "troncon_de_route": {
        "cleabs": "str",
        "nature": "str",
        "importance": "str",
        "fictif": "bool",
        "etat_de_l_objet": "str",
        "nombre_de_voies": "Int64",
        "largeur_de_chaussee": "float",
        "position_par_rapport_au_sol": "str",
        "sens_de_circulation": "str",
        "cpx_numero": "str",
    },
    "troncon_de_voie_ferree": {
        "cleabs": "str",
        "nature": "str",
        "etat_de_l_objet": "str",
        "electrifie": "bool",
        "largeur": "str",
        "nombre_de_voies": "Int64",
        "position_par_rapport_au_sol": "str",
        "vitesse_maximale": "Int64",
    },
    "surface_hydrographique": {
        "cleabs": "str",
        "nature": "str",
        "persistance": "str",
        "position_par_rapport_au_sol": "str",
    },
    "troncon_hydrographique": {
        "cleabs": "str",
        "nature": "str",
        "fictif": "bool",
        "persistance": "str",
        "largeur": "float",
        "position_par_rapport_au_sol": "str",
    },
    "zone_de_vegetation": {"cleabs": "str", "nature": "str"},
    "terrain_de_sport": {
        "cleabs": "str",
        "nature": "str",
        "nature_detaillee": "str",
        "etat_de_l_objet": "str",
    },
    "cimetiere": {"cleabs": "str", "nature": "str", "etat_de_l_objet": "str"},
}
LAYERS = tuple(SCHEMA)
_LINES = {"troncon_de_route", "troncon_de_voie_ferree", "troncon_hydrographique"}
GEOMETRY_TYPES = {name: "LineString Z" if name in _LINES else "MultiPolygon Z" for name in LAYERS}
_CLEABS = {
    "batiment": "BATIMENT",
    "troncon_de_route": "TRONROUT",
    "troncon_de_voie_ferree": "TRONFERR",
    "surface_hydrographique": "SURFHYDR",
    "troncon_hydrographique": "TRONHYDR",
    "zone_de_vegetation": "ZONEVEGE",
    "terrain_de_sport": "TERRSPOR",
    "cimetiere": "CIMETIER",
}
_FOREST_NATURE = {
    BROADLEAF: "Forêt fermée de feuillus",
    CONIFER: "Forêt fermée de conifères",
    MIXED: "Forêt fermée mixte",
    POPLAR: "Peupleraie",
}
_ROADS = {  # kind -> nature, importance, carriageway width known, lanes
    "main": ("Route à 1 chaussée", "3", True, 2),
    "bypass": ("Route à 1 chaussée", "2", True, 2),
    "roundabout": ("Rond-point", "3", True, 1),
    "street": ("Route à 1 chaussée", "5", False, 2),
    "farm_track": ("Chemin", "6", False, 0),
    "track": ("Chemin", "6", False, 0),
    "path": ("Sentier", "6", False, 0),
}


@dataclass(frozen=True)
class Edition:
    """How one edition captured the ground: when, how completely, how generalised, how shifted.

    It is published (``date``) a year or two after the photo it is paired with, yet captures the
    ground of ``year``, up to two years before that photo: IGN updates from the previous campaign.
    """

    year: int  # the ground it captured (buildings, roads, water)
    vegetation_year: int  # the vegetation theme lags further behind: state of the ground that year
    date: str  # ISO date it was published
    detail: float  # 0 (coarse, before 1985) .. 1 (fine, 2015 on)
    vegetation_detail: float  # 0 (large generalised woods) .. 1 (every grove and hedge)
    shift: tuple[float, float]  # metres east, north

    @property
    def version(self) -> str:
        """The data model: BD TOPO v3 from 2019, 2.x before."""
        return "3" if int(self.date[:4]) >= FIRST_V3_YEAR else "2"

    @property
    def track_share(self) -> float:
        return 0.15 + 0.85 * self.detail**2

    @property
    def path_share(self) -> float:
        return 0.9 * self.detail**2

    @property
    def road_tolerance(self) -> float:
        """Older editions drew roads from coarser sources: simplified, off by a few metres."""
        return 6.0 * (1 - self.detail)

    @property
    def hedge_share(self) -> float:
        return 0.9 * self.vegetation_detail

    @property
    def vegetation_tolerance(self) -> float:
        return 2.0 + 16.0 * (1 - self.vegetation_detail)

    @property
    def min_wood_m2(self) -> float:
        return 300.0 + 12000.0 * (1 - self.vegetation_detail)


def edition(seed: int, year: int) -> Edition:
    """The BD TOPO edition paired with the photo of ``year`` (deterministic for the seed)."""
    rng = np.random.default_rng([seed, year, 5])
    angle, shift = rng.uniform(0, 2 * np.pi), rng.uniform(1.0, 3.0)
    published = year + int(rng.integers(1, 3))
    ground = min(year, published - int(rng.integers(2, 4)))
    return Edition(
        year=ground,
        vegetation_year=ground - int(rng.integers(0, 7)),
        date=f"{published}-{int(rng.integers(3, 13)):02d}-15",
        detail=float(np.clip((published - 1985) / 30, 0, 1)),
        vegetation_detail=float(rng.uniform(0, 1)),
        shift=(shift * math.cos(angle), shift * math.sin(angle)),
    )


def topo_layers(world: World, ed: Edition):
    """The BD TOPO v3 layers of edition ``ed``: name -> GeoDataFrame (EPSG:2154, 3D), clipped to the area."""
    import geopandas as gpd  # lazy: geopandas is heavy; only writing needs it

    rng = np.random.default_rng([world.seed, int(ed.date.replace("-", "")), 17])
    builders = {
        "batiment": _buildings,
        "troncon_de_route": _roads,
        "troncon_de_voie_ferree": _railways,
        "surface_hydrographique": _water_surfaces,
        "troncon_hydrographique": _watercourses,
        "zone_de_vegetation": _vegetation,
        "terrain_de_sport": _sports,
        "cimetiere": _cemeteries,
    }
    layers = {}
    for name in LAYERS:
        geoms, rows = builders[name](world, ed, rng)
        geoms, rows = _finish(world, ed, name, geoms, rows)
        columns = SCHEMA[name]
        table = pd.DataFrame(rows, columns=list(columns)).astype(
            {c: "object" if t == "str" else t for c, t in columns.items()}
        )
        layers[name] = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms, crs="EPSG:2154"))
    return layers


def _finish(world: World, ed: Edition, layer: str, geoms: list[BaseGeometry], rows: list[dict]):
    """Shift, clip to the area, make polygons multi and lines single, add Z from the terrain."""
    polygons = layer not in _LINES
    out_geoms, out_rows = [], []
    for geom, row in zip(geoms, rows):
        geom = shapely.clip_by_rect(shapely.affinity.translate(geom, *ed.shift), *world.area)
        if geom.is_empty:
            continue
        if polygons:
            parts = [p for p in getattr(geom, "geoms", [geom]) if p.geom_type == "Polygon" and p.area > 1]
            pieces = [shapely.MultiPolygon(parts)] if parts else []
        else:
            pieces = [
                p for p in getattr(geom, "geoms", [geom]) if p.geom_type == "LineString" and p.length > 1
            ]
        for k, piece in enumerate(pieces):
            prefix, number = row["cleabs"][:8], int(row["cleabs"][8:])
            extra = {"cleabs": f"{prefix}{number + k * 10**12:016d}"}  # a clipped line's other pieces
            out_geoms.append(_with_z(world, piece, row.pop("_roof", 0.0) if k == 0 else 0.0))
            out_rows.append({**row, **extra})
    return out_geoms, out_rows


def _with_z(world: World, geom: BaseGeometry, above: float) -> BaseGeometry:
    """The geometry with each vertex at ground height (plus ``above``, e.g. a roof), as IGN ships it."""

    def lift(coords: np.ndarray) -> np.ndarray:
        coords[:, 2] = np.round(world.elevation(coords[:, :2]) + above, 1)
        return coords

    return shapely.transform(shapely.force_3d(geom), lift, include_z=True)


def _cleabs(layer: str, key: int) -> str:
    return f"{_CLEABS[layer]}{key:016d}"


def _captured(rng: np.random.Generator, share: float) -> bool:
    return bool(rng.random() < share)


def _buildings(world: World, ed: Edition, rng) -> tuple[list, list]:
    alive = [b for b in world.buildings if b.exists(ed.year)]
    keep = []
    for b in alive:  # small annexes are often left out of older editions
        if b.kind == "annex" and not _captured(rng, 0.35 + 0.6 * ed.detail):
            continue
        keep.append(b)
    geoms = [b.geometry for b in keep]
    tolerance = 2.5 * (1 - ed.detail)
    if tolerance > 0.3:  # coarse capture: neighbours closer than a few metres become one block
        merged = (
            shapely.union_all([g.buffer(tolerance, join_style="mitre") for g in geoms])
            .buffer(-tolerance, join_style="mitre")
            .simplify(tolerance)
        )
        parts = list(getattr(merged, "geoms", [merged]))
        owner = shapely.STRtree(np.asarray(parts, dtype=object)).query(
            shapely.points(
                shapely.get_coordinates(shapely.point_on_surface(np.asarray(geoms, dtype=object)))
            ),
            predicate="intersects",
        )
        first: dict[int, Thing] = {}
        for b_index, p_index in zip(*owner):
            first.setdefault(int(p_index), keep[int(b_index)])
        pairs = [(parts[p], first[p]) for p in sorted(first)]
    else:
        pairs = list(zip(geoms, keep))
    out_geoms, rows = [], []
    for geom, b in pairs:
        out_geoms.append(geom)
        rows.append(_building_row(b, ed, rng))
    return out_geoms, rows


def _building_row(b: Thing, ed: Edition, rng) -> dict:
    nature, usage, light = {
        "house": ("Indifférenciée", "Résidentiel", False),
        "annex": ("Indifférenciée", "Annexe", True),
        "farm": ("Industriel, agricole ou commercial", "Agricole", False),
        "silo": ("Silo", "Agricole", False),
        "industry": (
            "Industriel, agricole ou commercial",
            "Industriel" if b.key % 3 else "Commercial et services",
            False,
        ),
        "church": ("Eglise", "Religieux", False),
    }[b.kind]
    height = round(b.height + rng.normal(0, 0.4), 1) if _captured(rng, 0.6 + 0.4 * ed.detail) else None
    return {
        "cleabs": _cleabs("batiment", b.key),
        "nature": nature,
        "usage_1": usage,
        "usage_2": None,
        "construction_legere": light and b.key % 2 == 0,
        "etat_de_l_objet": "En service",
        "hauteur": height,
        "nombre_d_etages": None if height is None or b.kind != "house" else int(1 + (b.height > 7.5)),
        "_roof": b.height,
    }


def _roads(world: World, ed: Edition, rng) -> tuple[list, list]:
    geoms, rows = [], []
    for road in world.roads:
        building = road.born - 1 <= ed.year < road.born
        if not (road.exists(ed.year) or building):
            continue
        nature, importance, has_width, lanes = _ROADS[road.kind]
        share = {"farm_track": ed.track_share, "track": ed.track_share, "path": ed.path_share}.get(
            road.kind, 1.0
        )
        if not _captured(rng, share):
            continue
        width = round(road.width * 2) / 2 if has_width and _captured(rng, 0.85) else None
        off = rng.normal(0, ed.road_tolerance / 2, 2)
        geoms.append(shapely.affinity.translate(road.geometry.simplify(ed.road_tolerance), *off))
        rows.append(
            {
                "cleabs": _cleabs("troncon_de_route", road.key),
                "nature": nature,
                "importance": importance,
                "fictif": False,
                "etat_de_l_objet": "En construction" if building else "En service",
                "nombre_de_voies": lanes or None,
                "largeur_de_chaussee": width,
                "position_par_rapport_au_sol": "0",
                "sens_de_circulation": "Double sens" if lanes else "Sans objet",
                "cpx_numero": f"D{400 + int(road.tone)}" if road.kind == "main" else None,
            }
        )
    return geoms, rows


def _railways(world: World, ed: Edition, rng) -> tuple[list, list]:
    rows = [
        {
            "cleabs": _cleabs("troncon_de_voie_ferree", r.key),
            "nature": "Voie ferrée principale",
            "etat_de_l_objet": "En service",
            "electrifie": ed.year >= 1960,
            "largeur": "Normale",
            "nombre_de_voies": 2,
            "position_par_rapport_au_sol": "0",
            "vitesse_maximale": 160,
        }
        for r in alive(world.railways, ed.year)
    ]
    return [r.geometry for r in alive(world.railways, ed.year)], rows


def _water_surfaces(world: World, ed: Edition, rng) -> tuple[list, list]:
    geoms, rows = [], []
    for w in world.water:
        if not w.exists(ed.year):
            continue
        dug = math.isfinite(w.born)
        nature = "Ecoulement naturel" if w.kind == "river" else ("Plan d'eau de gravière" if dug else "Mare")
        geoms.append(w.geometry.simplify(0.5 + 2 * (1 - ed.detail)))
        rows.append(
            {
                "cleabs": _cleabs("surface_hydrographique", w.key),
                "nature": nature,
                "persistance": "Permanent",
                "position_par_rapport_au_sol": "0",
            }
        )
    return geoms, rows


def _watercourses(world: World, ed: Edition, rng) -> tuple[list, list]:
    rows = [
        {
            "cleabs": _cleabs("troncon_hydrographique", s.key),
            "nature": "Ecoulement canalisé" if s.kind == "channel" else "Ecoulement naturel",
            "fictif": False,
            "persistance": "Permanent"
            if s.kind == "river"
            else ("Intermittent" if s.key % 3 == 0 else "Permanent"),
            "largeur": round(s.width, 1),
            "position_par_rapport_au_sol": "0",
        }
        for s in alive(world.streams, ed.year)
    ]
    return [s.geometry for s in alive(world.streams, ed.year)], rows


def _vegetation(world: World, ed: Edition, rng) -> tuple[list, list]:
    """Forest stands by nature as the (lagging) vegetation theme saw them, generalised; hedges, orchards."""
    stands = world.stands
    when = ed.vegetation_year
    age = stands.age(when)
    exists = stands.exists(when)
    grown = np.array([_FOREST_NATURE[s] for s in stands.species], dtype=object)
    grown[stands.small & (stands.species != POPLAR)] = "Bois"
    natures = np.where((age >= 3) & (age < 25), "Forêt ouverte", grown)
    # felled stands often stay mapped as they were; young plantings appear once they are trees
    mapped = exists & ((age >= 8) | ((age < 3) & (rng.random(len(age)) < 0.7)))
    geoms, rows = [], []
    key = 1
    for nature in sorted(set(natures[mapped])):
        chosen = stands.geometry[mapped & (natures == nature)]
        tol = ed.vegetation_tolerance
        shape = shapely.union_all(chosen).buffer(tol, quad_segs=3).buffer(-tol, quad_segs=3).simplify(tol / 2)
        for part in getattr(shape, "geoms", [shape]):
            if part.area >= ed.min_wood_m2:
                geoms.append(part)
                rows.append({"cleabs": _cleabs("zone_de_vegetation", key), "nature": nature})
                key += 1
    for grove in world.groves:
        if grove.exists(when) and _captured(rng, ed.vegetation_detail):
            geoms.append(grove.geometry.simplify(1.0))
            rows.append({"cleabs": _cleabs("zone_de_vegetation", 20_000 + grove.key), "nature": "Bois"})
    for hedge in world.hedges + [r for r in world.riparian if r.width < 18]:  # alive: checked below
        if hedge.exists(when) and _captured(rng, ed.hedge_share):
            geoms.append(hedge.geometry.buffer(hedge.width / 2, quad_segs=2).simplify(1.0))
            rows.append({"cleabs": _cleabs("zone_de_vegetation", 10_000 + hedge.key), "nature": "Haie"})
    for i in np.flatnonzero(world.parcels.use_in(when) == ORCHARD):
        if _captured(rng, ed.detail * 0.8):
            geoms.append(world.parcels.geometry[i])
            rows.append({"cleabs": _cleabs("zone_de_vegetation", 500_000 + i), "nature": "Verger"})
    return geoms, rows


def _sports(world: World, ed: Edition, rng) -> tuple[list, list]:
    chosen = [s for s in world.sports if s.exists(ed.year) and _captured(rng, 0.5 + 0.5 * ed.detail)]
    rows = [
        {
            "cleabs": _cleabs("terrain_de_sport", s.key),
            "nature": "Grand terrain de sport",
            "nature_detaillee": "Football",
            "etat_de_l_objet": "En service",
        }
        for s in chosen
    ]
    return [s.geometry for s in chosen], rows


def _cemeteries(world: World, ed: Edition, rng) -> tuple[list, list]:
    chosen = [c for c in world.cemeteries if c.exists(ed.year) and _captured(rng, 0.6 + 0.4 * ed.detail)]
    rows = [
        {"cleabs": _cleabs("cimetiere", c.key), "nature": "Civil", "etat_de_l_objet": "En service"}
        for c in chosen
    ]
    return [c.geometry for c in chosen], rows
