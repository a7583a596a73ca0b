"""The built-in sample area's landscape: what stands on the ground in any year from 1950 to 2100.

A world is drawn once from a seed over a rectangle of Lambert-93: a river with its tributaries and
ponds, a railway, villages (church, cemetery, sports ground, houses along their streets with
gardens and annexes, farms, an industrial zone), main roads between them, farm tracks, forests
split into stands, and fields split into blocks of strip parcels. Every object carries the years it
exists (``born <= year < gone``), so any survey year is a snapshot and two years differ more the
further apart they are: housing estates and new roads are built, stands are clear-cut and grow
back, fields are planted, parcels are merged and hedges grubbed up, at the rates of
:class:`ChangeRates`; :mod:`.changes` lists every change as ground truth. Pure: no file is read or
written here (:mod:`.render` draws a year, :mod:`.topo` maps it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.ops
from shapely.geometry.base import BaseGeometry

from geosiam.config import FIRST_YEAR, LAST_YEAR
from geosiam.geometry import Bounds

ALWAYS = -math.inf  # born before any survey year
NEVER = math.inf  # never gone

WORLD_MARGIN_M = 250.0  # objects are drawn beyond the area so that nothing stops at its edge


@dataclass(frozen=True)
class ChangeRates:
    """How often the ground changes: the generator's settings, fixed before any model is trained.

    Orders of magnitude for rural and peri-urban Lorraine, not a fit to one data set:
    - building land: France built over about 20-30,000 ha a year in 2009-2019 (Cerema's
      observatoire de l'artificialisation), 0.04 %/yr of the land, several times more in the
      communes around towns; here each village grows by 3-6 housing estates (10-40 houses each,
      built over up to 8 years, from 1952 on), single houses along the roads out of it
      (``single_houses_per_100m`` over the period), farm and industrial sheds; about 4 % of the
      old houses, 20 % of annexes and 20 % of farms are demolished over the period;
    - forests: stands are clear-cut every ``rotation`` years (80-160: shorter for conifer
      plantations, longer for oak and beech high forest; 0.6-1.25 %/yr of the forest area), young
      growth covers the ground 3 years on and closes into forest 25 years on;
      2.5 % of parcels are planted with trees over the period (poplars near water);
    - farmland: remembrement, the consolidation of Lorraine's strip fields, came mostly between
      the 1950s and the 1990s (``merge_before``: 85 % of merged blocks by then); a quarter of
      the parcels switch between grass and crops, and the mirabelle and plum orchards around the
      villages are grubbed up for crops; 40 % of hedges are grubbed up, a quarter are planted;
    - water and quarries: 40 % of ponds are dug during the period, and a gravel pit in the river
      plain (``quarry``: the share of worlds with one) is dug in stages that flood into lakes;
    - networks: a bypass round the market town, estate streets; a railway branch line closes
      (``railway_closed``) and becomes a cycle path; brooks are straightened into ditches
      (``stream_channelised``, per brook) and lose their trees.
    Each object's year is drawn over 1950-2100, so the rate is about constant in time.
    """

    single_houses_per_100m: float = 0.6
    rotation: tuple[float, float] = (80.0, 160.0)
    merge_before: int = 1995
    quarry: float = 0.7
    railway_closed: float = 0.5
    stream_channelised: float = 0.3


RATES = ChangeRates()

# Forest stand species (the BD TOPO natures they are mapped as, see .topo).
BROADLEAF, CONIFER, MIXED, POPLAR = 0, 1, 2, 3
# Land use of an agricultural parcel.
CROPLAND, MEADOW, ORCHARD = 0, 1, 2


@dataclass(frozen=True)
class Thing:
    """Something on the ground from ``born`` (a year) until ``gone``, with a stable ``key``."""

    kind: str
    geometry: BaseGeometry
    key: int
    born: float = ALWAYS
    gone: float = NEVER
    width: float = 0.0  # lines: width on the ground (m)
    height: float = 0.0  # buildings: height (m)
    tone: float = 0.0  # in [-1, 1]: this object's own colour shade

    def exists(self, year: float) -> bool:
        return self.born <= year < self.gone


@dataclass
class Parcels:
    """Agricultural parcels: strips cut in Voronoi blocks, merged when the block is consolidated."""

    geometry: np.ndarray  # shapely polygons
    block: np.ndarray  # block index of each parcel
    strip: np.ndarray  # strip index across the block
    cut: np.ndarray  # index along the strip
    angle: np.ndarray  # ploughing direction (radians)
    use: np.ndarray  # CROPLAND, MEADOW or ORCHARD, until ``converted``
    converted: np.ndarray  # year a meadow or orchard is ploughed up, a field sown to grass (inf: never)
    afforested: np.ndarray  # year the parcel is planted with trees (inf: never)
    merge_year: np.ndarray  # per block: year its strips are merged (inf: never)
    merge_by: np.ndarray  # per block: strips merged by this many

    def use_in(self, year: float) -> np.ndarray:
        """Each parcel's land use in ``year``: meadows and fields swap when converted."""
        swapped = np.where(self.use == CROPLAND, MEADOW, CROPLAND)  # orchards are grubbed up for crops
        return np.where(self.converted <= year, swapped, self.use)

    def field_ids(self, year: float) -> np.ndarray:
        """Which parcels are one field in ``year`` (merged strips share an id)."""
        merged = self.merge_year[self.block] <= year
        by = np.where(merged, self.merge_by[self.block], 1)
        cut = np.where(merged, 0, self.cut)
        return (self.block * 1000 + self.strip // by) * 100 + cut


@dataclass
class Stands:
    """Forest stands: species, when they were planted (old forest: always) and clear-cut."""

    geometry: np.ndarray  # shapely polygons
    species: np.ndarray
    planted: np.ndarray  # year the stand was planted on a field (ALWAYS for old forest)
    cuts: list[tuple[float, ...]]  # sorted clear-cut years
    small: np.ndarray  # part of a small wood (mapped as "Bois")

    def exists(self, year: float) -> np.ndarray:
        return self.planted <= year

    def age(self, year: float) -> np.ndarray:
        """Years since each stand was planted or last cut (200 for old forest never cut)."""
        ages = np.where(np.isfinite(self.planted), year - self.planted, 200.0)
        for i, cuts in enumerate(self.cuts):
            past = [c for c in cuts if c <= year]
            if past:
                ages[i] = min(ages[i], year - past[-1])
        return ages


@dataclass
class World:
    """Everything on the ground over ``extent`` (the area plus a margin), from a seed."""

    area: Bounds
    extent: Bounds
    seed: int
    buildings: list[Thing]
    roads: list[Thing]
    railways: list[Thing]
    streams: list[Thing]  # river and stream centrelines with their width
    water: list[Thing]  # river surface and ponds
    sports: list[Thing]
    cemeteries: list[Thing]
    hedges: list[Thing]
    sites: list[Thing]  # building sites (bare soil) between their dates
    parking: list[Thing]
    riparian: list[Thing]  # tree lines along streams
    groves: list[Thing]  # clumps of trees in gardens, at field corners, along streams
    trees: np.ndarray  # isolated trees (x, y, radius)
    parcels: Parcels
    stands: Stands
    villages: list[tuple[float, float, float]] = field(default_factory=list)  # x, y, radius
    terrain: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)))  # coarse heights (m)

    def elevation(self, xy: np.ndarray) -> np.ndarray:
        """Ground height (m) at points ``xy`` (N, 2): a smooth plateau, for 3D vectors."""
        from scipy import ndimage  # lazy: scipy is heavy; only drawing needs it

        xmin, ymin, xmax, ymax = self.extent
        rows, cols = self.terrain.shape
        c = (xy[:, 0] - xmin) / (xmax - xmin) * (cols - 1)
        r = (ymax - xy[:, 1]) / (ymax - ymin) * (rows - 1)
        return ndimage.map_coordinates(self.terrain, [r, c], order=1, mode="nearest")


def alive(things: list[Thing], year: float) -> list[Thing]:
    """The objects on the ground in ``year``."""
    return [t for t in things if t.exists(year)]


def build_world(area: Bounds, seed: int) -> World:
    """Draw the landscape of ``area`` (EPSG:2154 metres) for ``seed``; deterministic."""
    return _Builder(area, seed).build()


# --- small pure helpers -----------------------------------------------------------------------


def chaikin(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Corner-cut a polyline ``rounds`` times: smooth curves through rough control points."""
    for _ in range(rounds):
        a, b = points[:-1], points[1:]
        inner = np.empty((2 * len(a), 2))
        inner[0::2] = 0.75 * a + 0.25 * b
        inner[1::2] = 0.25 * a + 0.75 * b
        points = np.vstack([points[:1], inner, points[-1:]])
    return points


def wiggly_line(
    rng: np.random.Generator, start: Sequence[float], end: Sequence[float], wobble: float
) -> shapely.LineString:
    """A smooth road-like line from ``start`` to ``end``, bent sideways by up to ``wobble``."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    length = float(np.hypot(*(end - start)))
    n = max(2, int(length / 300) + 2)
    t = np.linspace(0, 1, n)[:, None]
    normal = np.array([-(end - start)[1], (end - start)[0]]) / max(length, 1e-9)
    offsets = rng.normal(0, wobble * length, n)
    offsets[0] = offsets[-1] = 0
    points = start + t * (end - start) + offsets[:, None] * normal
    return shapely.LineString(chaikin(points))


def rectangles(
    centres: np.ndarray, angles: np.ndarray, lengths: np.ndarray, widths: np.ndarray
) -> np.ndarray:
    """Rotated rectangles (shapely polygons): ``lengths`` along ``angles``, ``widths`` across."""
    u = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    v = np.stack([-u[:, 1], u[:, 0]], axis=1)
    hl, hw = (lengths / 2)[:, None], (widths / 2)[:, None]
    corners = np.stack(
        [
            centres - u * hl - v * hw,
            centres + u * hl - v * hw,
            centres + u * hl + v * hw,
            centres - u * hl + v * hw,
            centres - u * hl - v * hw,
        ],
        axis=1,
    )
    return shapely.polygons(corners)


def blob(
    rng: np.random.Generator, x: float, y: float, radius: float, roughness: float = 0.25
) -> shapely.Polygon:
    """An irregular rounded polygon (pond, clearing) of about ``radius`` metres."""
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    harmonics = sum(
        rng.normal(0, roughness / k) * np.cos(k * angles + rng.uniform(0, 2 * np.pi)) for k in (1, 2, 3)
    )
    r = radius * np.clip(1 + harmonics, 0.4, 1.8)
    ring = np.stack([x + r * np.cos(angles), y + r * np.sin(angles)], axis=1)
    return shapely.Polygon(chaikin(np.vstack([ring, ring[:1]]), 2))


def coarse_noise(rng: np.random.Generator, shape: tuple[int, int], cells: float) -> np.ndarray:
    """Smooth random field of ``shape`` with features about ``cells`` pixels across, std 1."""
    from scipy import ndimage  # lazy: scipy is heavy; only drawing needs it

    field_ = ndimage.gaussian_filter(rng.normal(size=shape), cells / 2.5, mode="wrap")
    return (field_ - field_.mean()) / (field_.std() + 1e-9)


def keep_disjoint(candidates: Sequence[BaseGeometry], obstacles: Sequence[BaseGeometry] = ()) -> list[int]:
    """Indices of candidates kept greedily in order: none touches an earlier kept one or an obstacle."""
    geoms = np.asarray(candidates, dtype=object)
    if not len(geoms):
        return []
    blocked = np.zeros(len(geoms), bool)
    if len(obstacles):
        hits = shapely.STRtree(np.asarray(obstacles, dtype=object)).query(geoms, predicate="intersects")
        blocked[hits[0]] = True
    pairs = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    others: dict[int, list[int]] = {}
    for i, j in zip(*pairs):
        if i != j:
            others.setdefault(int(i), []).append(int(j))
    kept: list[int] = []
    taken = np.zeros(len(geoms), bool)
    for i in range(len(geoms)):
        if blocked[i] or any(taken[j] for j in others.get(i, ())):
            continue
        taken[i] = True
        kept.append(i)
    return kept


# --- the builder ------------------------------------------------------------------------------


class _Builder:
    """Draws one world; each method adds one kind of object, in an order that avoids clashes."""

    def __init__(self, area: Bounds, seed: int) -> None:
        self.area = area
        xmin, ymin, xmax, ymax = area
        m = WORLD_MARGIN_M
        self.extent = (xmin - m, ymin - m, xmax + m, ymax + m)
        self.box = shapely.box(*self.extent)
        self.rng = np.random.default_rng([seed, 2154])
        self.seed = seed
        self.next_key = 1
        self.buildings: list[Thing] = []
        self.roads: list[Thing] = []
        self.railways: list[Thing] = []
        self.streams: list[Thing] = []
        self.water: list[Thing] = []
        self.sports: list[Thing] = []
        self.cemeteries: list[Thing] = []
        self.hedges: list[Thing] = []
        self.sites: list[Thing] = []
        self.parking: list[Thing] = []
        self.riparian: list[Thing] = []
        self.villages: list[tuple[float, float, float]] = []

    # helpers
    def thing(self, kind: str, geometry: BaseGeometry, **kwargs) -> Thing:
        t = Thing(kind, geometry, self.next_key, **kwargs)
        self.next_key += 1
        return t

    def year(self, low: float = FIRST_YEAR, high: float = LAST_YEAR) -> float:
        return float(self.rng.integers(int(low), int(high) + 1))

    @property
    def size_km2(self) -> float:
        xmin, ymin, xmax, ymax = self.area
        return (xmax - xmin) * (ymax - ymin) / 1e6

    def build(self) -> World:
        self.add_terrain()
        self.add_river()
        self.add_railway()
        self.add_villages()
        self.add_main_roads()
        for index in range(len(self.villages)):
            self.add_village(index)
        self.add_industry()
        self.add_ponds()
        self.add_quarry()
        stands = self.add_forest()
        parcels = self.add_fields(stands)
        self.add_trees()
        return World(
            area=self.area,
            extent=self.extent,
            seed=self.seed,
            buildings=self.buildings,
            roads=self.roads,
            railways=self.railways,
            streams=self.streams,
            water=self.water,
            sports=self.sports,
            cemeteries=self.cemeteries,
            hedges=self.hedges,
            sites=self.sites,
            parking=self.parking,
            riparian=self.riparian,
            groves=self.groves,
            trees=self.trees,
            parcels=parcels,
            stands=stands,
            villages=self.villages,
            terrain=self.terrain,
        )

    def add_terrain(self) -> None:
        xmin, ymin, xmax, ymax = self.extent
        shape = (int((ymax - ymin) / 250) + 2, int((xmax - xmin) / 250) + 2)
        self.terrain = 240.0 + 25.0 * coarse_noise(self.rng, shape, 12)

    def add_river(self) -> None:
        """A meandering river across the area, 12-20 m wide, with two or three tributaries."""
        rng = self.rng
        xmin, ymin, xmax, ymax = self.extent
        centre = np.array([(xmin + xmax) / 2, (ymin + ymax) / 2])
        span = max(xmax - xmin, ymax - ymin)
        heading = rng.uniform(0, np.pi)
        along = np.array([np.cos(heading), np.sin(heading)])
        across = np.array([-along[1], along[0]])
        offset = rng.uniform(-0.25, 0.25) * span
        t = np.arange(-span, span, 20.0)
        bends = sum(
            rng.uniform(0.5, 1.0)
            * amp
            * np.sin(2 * np.pi * t / rng.uniform(0.8, 1.2) / wave + rng.uniform(0, 6.3))
            for amp, wave in ((160.0, 1800.0), (60.0, 600.0), (20.0, 250.0))
        )
        points = centre + t[:, None] * along + (offset + bends)[:, None] * across
        river = shapely.LineString(points).intersection(self.box)
        width = rng.uniform(12, 20)
        self.river = river
        for part in getattr(river, "geoms", [river]):
            for piece in self._split(part, 700.0):
                self.streams.append(self.thing("river", piece, width=width))
        self.water.append(self.thing("river", river.buffer(width / 2, quad_segs=4)))
        for _ in range(int(rng.integers(2, 4))):
            start_t = rng.uniform(-0.4, 0.4) * span
            mouth = centre + start_t * along + (offset + np.interp(start_t, t, bends)) * across
            side = rng.choice([-1, 1])
            source = (
                mouth + side * across * rng.uniform(0.5, 1.0) * span + along * rng.uniform(-0.4, 0.4) * span
            )
            stream = wiggly_line(rng, source, mouth, 0.12).intersection(self.box)
            if stream.is_empty:
                continue
            w = rng.uniform(2, 4)
            # some brooks are straightened into ditches (drainage, remembrement), their trees felled
            works = self.year(1955, 2095) if rng.random() < RATES.stream_channelised else NEVER
            for part in getattr(stream, "geoms", [stream]):
                for piece in self._split(part, 700.0):
                    self.streams.append(self.thing("stream", piece, gone=works, width=w))
                    self.riparian.append(self.thing("riparian", piece, gone=works, width=rng.uniform(8, 16)))
                    if works != NEVER:
                        straight = piece.simplify(40.0)
                        self.streams.append(self.thing("channel", straight, born=works, width=w))
        self.riparian.append(self.thing("riparian", river, width=width + rng.uniform(10, 22)))

    @staticmethod
    def _split(line: BaseGeometry, step: float) -> list[BaseGeometry]:
        if line.geom_type != "LineString" or line.length <= step:
            return [line]
        cuts = np.arange(0, line.length, step)
        return [
            shapely.ops.substring(line, a, min(a + step, line.length)) for a in cuts if line.length - a > 1
        ]

    def add_railway(self) -> None:
        """A double-track line across the area on a gentle curve (areas of 10 km2 and more)."""
        if self.size_km2 < 10:
            return
        rng = self.rng
        xmin, ymin, xmax, ymax = self.extent
        heading = rng.uniform(0, np.pi)
        centre = (
            np.array([rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)]) * 0.5
            + np.array([(xmin + xmax) / 2, (ymin + ymax) / 2]) * 0.5
        )
        span = 1.5 * max(xmax - xmin, ymax - ymin)
        d = np.array([np.cos(heading), np.sin(heading)])
        line = wiggly_line(rng, centre - d * span, centre + d * span, 0.02).intersection(self.box)
        self.railway = line
        # a branch line may close: rails lifted, the trackbed becomes a cycle path (voie verte)
        closed = self.year(1955, 2095) if rng.random() < RATES.railway_closed else NEVER
        for part in getattr(line, "geoms", [line]):
            for piece in self._split(part, 1500.0):
                self.railways.append(self.thing("railway", piece, gone=closed, width=9.0))
                if closed != NEVER:
                    self.roads.append(self.thing("path", piece, born=closed + 2, width=3.0))

    def obstacles(self) -> BaseGeometry:
        lines = [self.river.buffer(40)]
        if getattr(self, "railway", None) is not None:
            lines.append(self.railway.buffer(25))
        return shapely.union_all(lines)

    def add_villages(self) -> None:
        """Village centres: spread out, away from the river and the railway; one is the largest."""
        rng = self.rng
        xmin, ymin, xmax, ymax = self.area
        count = max(1, round(self.size_km2 / 8))
        blocked = self.obstacles()
        for _ in range(400):
            if len(self.villages) == count:
                break
            x, y = rng.uniform(xmin + 300, xmax - 300), rng.uniform(ymin + 300, ymax - 300)
            radius = rng.uniform(170, 280)
            if blocked.distance(shapely.Point(x, y)) < radius + 40:
                continue
            if any(math.hypot(x - vx, y - vy) < 1500 for vx, vy, _ in self.villages):
                continue
            self.villages.append((x, y, radius))
        if self.villages:  # the first is the market town
            x, y, r = self.villages[0]
            self.villages[0] = (x, y, r * 1.3)

    def add_main_roads(self) -> None:
        """Roads between villages (a spanning tree) and out of the area, and a later bypass."""
        rng = self.rng
        centres = [np.array(v[:2]) for v in self.villages]
        links: list[tuple[np.ndarray, np.ndarray]] = []
        joined = [0]
        while len(joined) < len(centres):  # Prim's spanning tree
            best = min(
                ((i, j) for i in joined for j in range(len(centres)) if j not in joined),
                key=lambda ij: np.hypot(*(centres[ij[0]] - centres[ij[1]])),
            )
            links.append((centres[best[0]], centres[best[1]]))
            joined.append(best[1])
        span = 2 * max(self.extent[2] - self.extent[0], self.extent[3] - self.extent[1])
        for c in centres:
            for _ in range(int(rng.integers(1, 3))):
                angle = rng.uniform(0, 2 * np.pi)
                links.append((c, c + span * np.array([np.cos(angle), np.sin(angle)])))
        self.main_roads: list[BaseGeometry] = []
        for number, (a, b) in enumerate(links):
            line = wiggly_line(rng, a, b, 0.04).intersection(self.box)
            if line.is_empty:
                continue
            self.main_roads.append(line)
            width = rng.uniform(5.0, 7.0)
            for part in getattr(line, "geoms", [line]):
                for piece in self._split(part, 400.0):
                    self.roads.append(self.thing("main", piece, width=width, tone=float(number)))
        if self.villages:
            x, y, r = self.villages[0]
            start = rng.uniform(0, 2 * np.pi)
            arc = np.linspace(start, start + rng.uniform(1.6, 2.6), 40)
            points = np.stack([x + (r + 230) * np.cos(arc), y + (r + 230) * np.sin(arc)], axis=1)
            bypass = shapely.LineString(points).intersection(self.box)
            opened = self.year(1960, 2090)
            if not bypass.is_empty:
                self.main_roads.append(bypass)
                self.roads.append(self.thing("bypass", bypass, born=opened, width=8.0))
                for end in (points[0], points[-1]):
                    ring = shapely.Point(*end).buffer(14, quad_segs=6).exterior
                    self.roads.append(self.thing("roundabout", ring, born=opened, width=7.0))
                    self.sites.append(
                        self.thing("site", shapely.Point(*end).buffer(40), born=opened - 2, gone=opened)
                    )
                self.sites.append(self.thing("site", bypass.buffer(18), born=opened - 2, gone=opened))

    def add_village(self, index: int) -> None:
        """Streets, houses with annexes, church, cemetery, sports ground, farms, housing estates."""
        rng = self.rng
        x, y, r = self.villages[index]
        core = shapely.Point(x, y).buffer(r)
        through = [line.intersection(core) for line in self.main_roads if line.intersects(core)]
        streets: list[BaseGeometry] = []
        for _ in range(int(rng.integers(2, 5))):
            angle = rng.uniform(0, 2 * np.pi)
            length = rng.uniform(0.7, 1.2) * r
            end = (x + length * np.cos(angle), y + length * np.sin(angle))
            start = (x + rng.normal(0, 25), y + rng.normal(0, 25))
            street = wiggly_line(rng, start, end, 0.08)
            streets.append(street)
            self.roads.append(self.thing("street", street, width=rng.uniform(4.0, 5.5)))
        # public places first, so that houses keep clear of them
        church = self._church(x, y, through + streets)
        self.buildings.append(church)
        taken = [church.geometry.buffer(6)]
        edge = rng.uniform(0, 2 * np.pi)
        for kind, (length, width) in (
            ("cemetery", (rng.uniform(45, 75), rng.uniform(35, 50))),
            ("sport", (105.0, 68.0)),
        ):
            edge += rng.uniform(1.5, 2.5)
            dist = r + 0.5 * max(length, width) + 10
            cx, cy = x + dist * np.cos(edge), y + dist * np.sin(edge)
            poly = rectangles(np.array([[cx, cy]]), np.array([edge]), np.array([length]), np.array([width]))[
                0
            ]
            if poly.intersects(self.obstacles()) or any(poly.intersects(line) for line in self.main_roads):
                continue
            if kind == "cemetery":
                self.cemeteries.append(self.thing("cemetery", poly))
            else:
                self.sports.append(
                    self.thing("sport", poly, born=ALWAYS if rng.random() < 0.3 else self.year(1950, 2070))
                )
            taken.append(poly.buffer(5))
        # old houses along every street of the core
        lines = through + streets
        candidates = [t for line in lines for t in self._houses_along(line, born=ALWAYS)]
        # housing estates: streets out of the village, built one after another
        for _ in range(int(rng.integers(3, 7))):
            angle = rng.uniform(0, 2 * np.pi)
            built = self.year(1952, 2095)
            start = (x + 0.8 * r * np.cos(angle), y + 0.8 * r * np.sin(angle))
            end = (
                x + (r + rng.uniform(150, 260)) * np.cos(angle),
                y + (r + rng.uniform(150, 260)) * np.sin(angle),
            )
            street = wiggly_line(rng, start, end, 0.05)
            if street.intersects(self.obstacles()):
                continue
            houses = self._houses_along(street, born=built, spread=8)
            if not houses:
                continue
            self.roads.append(self.thing("street", street, born=built - 1, width=rng.uniform(4.5, 6.0)))
            site = shapely.union_all([h.geometry.buffer(14) for h in houses] + [street.buffer(6)])
            self.sites.append(self.thing("site", site, born=built - 2, gone=built + 3))
            candidates.extend(houses)
        # single houses on fields along the roads out of the village, one by one
        for line in self.main_roads:
            ring = shapely.Point(x, y).buffer(r + 280).difference(core.buffer(40))
            stretch = line.intersection(ring)
            for part in getattr(stretch, "geoms", [stretch]):
                if part.geom_type != "LineString" or part.length < 60:
                    continue
                for _ in range(int(rng.poisson(RATES.single_houses_per_100m * part.length / 100))):
                    at = rng.uniform(0, part.length - 30)
                    plot = shapely.ops.substring(part, at, at + 30)
                    candidates.extend(self._houses_along(plot, born=self.year(1952, 2095))[:1])
        # farms at the edge of the village
        for _ in range(int(rng.integers(1, 4))):
            angle = rng.uniform(0, 2 * np.pi)
            d = r + rng.uniform(20, 90)
            centre = np.array([[x + d * np.cos(angle), y + d * np.sin(angle)]])
            born = ALWAYS if rng.random() < 0.6 else self.year()
            gone = self.year() if rng.random() < 0.2 else NEVER
            for k in range(int(rng.integers(1, 4))):
                c = centre + rng.normal(0, 25, (1, 2))
                poly = rectangles(
                    c,
                    np.array([angle + k * np.pi / 2]),
                    np.array([rng.uniform(25, 55)]),
                    np.array([rng.uniform(12, 22)]),
                )[0]
                candidates.append(
                    self.thing(
                        "farm",
                        poly,
                        born=born if k == 0 else max(born, self.year()),
                        gone=gone,
                        height=rng.uniform(6, 11),
                        tone=rng.uniform(-1, 1),
                    )
                )
            if rng.random() < 0.5:
                c = centre[0] + rng.normal(0, 20, 2)
                candidates.append(
                    self.thing(
                        "silo",
                        shapely.Point(*c).buffer(rng.uniform(3, 5)),
                        born=born,
                        gone=gone,
                        height=rng.uniform(12, 20),
                    )
                )
        blockers = taken + [
            line.buffer(line_w / 2 + 1) for line, line_w in [(t.geometry, t.width) for t in self.roads]
        ]
        kept = keep_disjoint([c.geometry for c in candidates], blockers + [self.obstacles()])
        self.buildings.extend(candidates[i] for i in kept)

    def _church(self, x: float, y: float, lines: list[BaseGeometry]) -> Thing:
        rng = self.rng
        near = shapely.Point(x, y)
        angle = rng.uniform(0, np.pi)
        for line in lines:  # beside the first street that passes near the centre
            if line.distance(near) < 60 and line.length > 20:
                p = line.interpolate(line.project(near))
                q = line.interpolate(min(line.project(near) + 5, line.length))
                angle = math.atan2(q.y - p.y, q.x - p.x)
                near = shapely.Point(p.x - 18 * math.sin(angle), p.y + 18 * math.cos(angle))
                break
        nave = rectangles(
            np.array([[near.x, near.y]]),
            np.array([angle]),
            np.array([rng.uniform(26, 36)]),
            np.array([rng.uniform(10, 14)]),
        )[0]
        tip = np.array([[near.x + 17 * math.cos(angle), near.y + 17 * math.sin(angle)]])
        tower = rectangles(tip, np.array([angle]), np.array([8.0]), np.array([8.0]))[0]
        return self.thing("church", shapely.union_all([nave, tower]), height=rng.uniform(18, 32))

    def _houses_along(self, line: BaseGeometry, born: float, spread: float = 0.0) -> list[Thing]:
        """Houses (and annexes behind them) facing a street on both sides."""
        rng = self.rng
        things: list[Thing] = []
        for part in getattr(line, "geoms", [line]):
            if part.geom_type != "LineString" or part.length < 20:
                continue
            stops = np.cumsum(rng.uniform(14, 26, int(part.length / 14) + 1))
            stops = stops[stops < part.length - 6]
            if not len(stops):
                continue
            p = shapely.get_coordinates(shapely.line_interpolate_point(part, stops))
            q = shapely.get_coordinates(
                shapely.line_interpolate_point(part, np.minimum(stops + 2, part.length))
            )
            angle = np.arctan2(q[:, 1] - p[:, 1], q[:, 0] - p[:, 0])
            normal = np.stack([-np.sin(angle), np.cos(angle)], axis=1)
            for side in (-1, 1):
                present = rng.random(len(stops)) < 0.8
                n = int(present.sum())
                if not n:
                    continue
                depth = rng.uniform(8, 12, n)
                front = rng.uniform(9, 15, n)
                setback = rng.uniform(4, 9, n)
                centres = p[present] + side * normal[present] * (setback + depth / 2)[:, None]
                polys = rectangles(centres, angle[present], front, depth)
                for k, poly in enumerate(polys):
                    b = born if spread == 0 else born + float(rng.integers(0, int(spread) + 1))
                    gone = self.year() if (born == ALWAYS and rng.random() < 0.04) else NEVER
                    things.append(
                        self.thing(
                            "house",
                            poly,
                            born=b,
                            gone=gone,
                            height=rng.uniform(6, 10),
                            tone=rng.uniform(-1, 1),
                        )
                    )
                    if rng.random() < 0.45:  # an annex behind the house
                        back = centres[k] + side * normal[present][k] * (depth[k] / 2 + rng.uniform(5, 12))
                        annex = rectangles(
                            back[None],
                            angle[present][k : k + 1] + rng.normal(0, 0.05),
                            np.array([rng.uniform(4, 8)]),
                            np.array([rng.uniform(3, 6)]),
                        )[0]
                        annex_born = b if rng.random() < 0.5 else max(b, self.year())
                        things.append(
                            self.thing(
                                "annex",
                                annex,
                                born=annex_born,
                                gone=self.year() if rng.random() < 0.2 else NEVER,
                                height=rng.uniform(2.5, 4),
                                tone=rng.uniform(-1, 1),
                            )
                        )
        return things

    def add_industry(self) -> None:
        """Large sheds and their car parks along a main road out of the market town, built over time."""
        if not self.villages or not self.main_roads:
            return
        rng = self.rng
        x, y, r = self.villages[0]
        centre = shapely.Point(x, y)
        road = min(self.main_roads, key=lambda line: line.distance(centre))
        ring = centre.buffer(r + 260).exterior
        crossing = road.intersection(ring)
        if crossing.is_empty:
            return
        anchor = crossing.geoms[0] if hasattr(crossing, "geoms") else crossing
        if anchor.geom_type != "Point":
            return
        at = road.project(anchor)
        candidates: list[Thing] = []
        for k in range(int(rng.integers(5, 10))):
            along = at + (k - 3) * rng.uniform(55, 80)
            if not 0 < along < road.length:
                continue
            p = road.interpolate(along)
            q = road.interpolate(min(along + 2, road.length))
            angle = math.atan2(q.y - p.y, q.x - p.x)
            side = rng.choice([-1, 1])
            length, width = rng.uniform(35, 75), rng.uniform(25, 45)
            set_back = 15 + width / 2
            c = np.array([[p.x - side * set_back * math.sin(angle), p.y + side * set_back * math.cos(angle)]])
            born = self.year(1955, 2095)
            shed = rectangles(c, np.array([angle]), np.array([length]), np.array([width]))[0]
            candidates.append(
                self.thing("industry", shed, born=born, height=rng.uniform(7, 12), tone=rng.uniform(-1, 1))
            )
            lot_c = c + np.array([[math.cos(angle), math.sin(angle)]]) * (length / 2 + 17)
            lot = rectangles(lot_c, np.array([angle]), np.array([28.0]), np.array([width]))[0]
            self.parking.append(self.thing("parking", lot, born=born))
        blockers = [t.geometry.buffer(t.width / 2 + 1) for t in self.roads] + [self.obstacles()]
        kept = keep_disjoint(
            [c.geometry for c in candidates], blockers + [b.geometry for b in self.buildings]
        )
        self.buildings.extend(candidates[i] for i in kept)

    def add_ponds(self) -> None:
        """Ponds and gravel-pit lakes near the river; some are dug during the period."""
        rng = self.rng
        others = shapely.union_all(
            [b.geometry.buffer(20) for b in self.buildings] + [t.geometry.buffer(10) for t in self.roads]
        )
        river = self.river
        for _ in range(int(rng.integers(2, 6))):
            t = rng.uniform(0, river.length) if river.geom_type == "LineString" else 0
            base = river.interpolate(t) if river.geom_type == "LineString" else river.representative_point()
            radius = rng.uniform(20, 55)
            angle = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(60, 200) + radius
            pond = blob(rng, base.x + dist * np.cos(angle), base.y + dist * np.sin(angle), radius)
            if pond.intersects(others) or pond.intersects(self.obstacles().difference(river.buffer(40))):
                continue
            born = ALWAYS if rng.random() < 0.6 else self.year()
            self.water.append(self.thing("pond", pond, born=born))
            if born != ALWAYS:
                self.sites.append(self.thing("site", pond.buffer(15), born=born - 2, gone=born))

    def add_quarry(self) -> None:
        """A gravel pit in the river plain, dug in stages; each stage floods into a lake when worked out."""
        rng = self.rng
        if self.size_km2 < 10 or rng.random() >= RATES.quarry or self.river.geom_type != "LineString":
            return
        blocked = shapely.union_all(
            [b.geometry.buffer(30) for b in self.buildings]
            + [t.geometry.buffer(t.width / 2 + 15) for t in self.roads]
            + [w.geometry.buffer(15) for w in self.water]
            + [self.obstacles()]
        )
        opened = self.year(1955, 2080)
        for _ in range(20):
            base = self.river.interpolate(rng.uniform(0, self.river.length))
            angle = rng.uniform(0, 2 * np.pi)
            x, y = base.x + 260 * np.cos(angle), base.y + 260 * np.sin(angle)
            stages = [
                blob(rng, x + 90 * k * np.cos(angle + 1.5), y + 90 * k * np.sin(angle + 1.5), 55)
                for k in range(3)
            ]
            if any(stage.intersects(blocked) for stage in stages):
                continue
            start = opened
            for stage in stages:
                flooded = start + float(rng.integers(6, 12))
                self.sites.append(self.thing("quarry", stage, born=start, gone=flooded))
                self.water.append(self.thing("pond", stage.buffer(-6), born=flooded))
                start = flooded - float(rng.integers(0, 3))  # the next stage opens as this one ends
            return

    def add_forest(self) -> Stands:
        """Forests (about a third of the land) away from villages, split into stands of 3-10 ha."""
        from rasterio import features  # lazy: GDAL is heavy; only drawing needs it
        from rasterio.transform import from_origin

        rng = self.rng
        xmin, ymin, xmax, ymax = self.extent
        cell = 25.0
        shape = (int((ymax - ymin) / cell), int((xmax - xmin) / cell))
        potential = coarse_noise(rng, shape, 70) + 0.3 * coarse_noise(rng, shape, 16)
        for x, y, r in self.villages:  # villages cleared the land around them long ago
            rows = (ymax - (np.arange(shape[0]) + 0.5) * cell)[:, None]
            cols = (xmin + (np.arange(shape[1]) + 0.5) * cell)[None, :]
            potential -= 2.5 * np.exp(-((np.hypot(cols - x, rows - y) / (r + 450)) ** 2))
        wooded = potential > np.quantile(potential, 0.64)
        transform = from_origin(xmin, ymax, cell, cell)
        shapes = [
            shapely.geometry.shape(g)
            for g, v in features.shapes(wooded.astype("uint8"), mask=wooded, transform=transform)
        ]
        forest = (
            shapely.union_all(shapes).buffer(20, quad_segs=4).buffer(-32, quad_segs=4).buffer(12, quad_segs=4)
        )
        keep_out = [shapely.Point(x, y).buffer(r + 280) for x, y, r in self.villages]
        keep_out += [self.river.buffer(self.streams[0].width / 2 + 30)]
        keep_out += [t.geometry.buffer(t.width / 2 + 6) for t in self.roads if t.kind in ("main", "bypass")]
        keep_out += [t.geometry.buffer(14) for t in self.railways]
        keep_out += [t.geometry.buffer(20) for t in self.water]
        forest = forest.difference(shapely.union_all(keep_out)).simplify(2.0)
        forest = shapely.union_all([p for p in getattr(forest, "geoms", [forest]) if p.area > 15000])
        self.forest_area = forest
        # stands: Voronoi cells of points about 200 m apart, clipped to the forest
        n = max(4, int(forest.area / 55000))
        points = shapely.get_coordinates(shapely.points(self._points_in(forest, n)))
        cells = shapely.voronoi_polygons(shapely.MultiPoint(points), extend_to=self.box, ordered=True)
        geoms = shapely.intersection(np.asarray(cells.geoms, dtype=object), forest)
        geoms = geoms[~shapely.is_empty(geoms) & (shapely.area(geoms) > 500)]
        # species change slowly across a forest: broadleaf mostly, conifer plantations in patches
        pine = coarse_noise(rng, shape, 30)
        cx = shapely.get_coordinates(shapely.centroid(geoms))
        ci = np.clip(((ymax - cx[:, 1]) / cell).astype(int), 0, shape[0] - 1)
        cj = np.clip(((cx[:, 0] - xmin) / cell).astype(int), 0, shape[1] - 1)
        score = pine[ci, cj] + rng.normal(0, 0.5, len(geoms))
        species = np.where(score > 0.8, CONIFER, np.where(score > 0.3, MIXED, BROADLEAF))
        cut_years: list[tuple[float, ...]] = []
        for _ in geoms:
            # clear-cut every RATES.rotation years: about one stand in eight every 15 years
            cuts = []
            year = FIRST_YEAR - rng.uniform(0, RATES.rotation[1])
            while True:
                year += rng.uniform(*RATES.rotation)
                if year > LAST_YEAR:
                    break
                cuts.append(float(round(year)))
            cut_years.append(tuple(cuts))
        # small woods: isolated pieces of forest under 5 ha
        pieces = np.asarray(getattr(forest, "geoms", [forest]), dtype=object)
        small_pieces = pieces[shapely.area(pieces) < 50000]
        small = np.zeros(len(geoms), bool)
        if len(small_pieces):
            hits = shapely.STRtree(small_pieces).query(geoms, predicate="intersects")
            small[hits[0]] = True
        # forest tracks: some stand borders
        edges = shapely.voronoi_polygons(shapely.MultiPoint(points), extend_to=self.box, only_edges=True)
        inner = forest.buffer(-15)
        for edge in edges.geoms:
            if rng.random() < 0.3:
                track = edge.intersection(inner)
                if track.length > 60:
                    for part in getattr(track, "geoms", [track]):
                        if part.geom_type == "LineString" and part.length > 40:
                            kind = "track" if rng.random() < 0.75 else "path"
                            self.roads.append(self.thing(kind, part, width=3.5 if kind == "track" else 1.5))
        return Stands(
            geometry=geoms, species=species, planted=np.full(len(geoms), ALWAYS), cuts=cut_years, small=small
        )

    def _points_in(self, region: BaseGeometry, n: int) -> np.ndarray:
        xmin, ymin, xmax, ymax = region.bounds
        points = np.stack([self.rng.uniform(xmin, xmax, 6 * n), self.rng.uniform(ymin, ymax, 6 * n)], axis=1)
        inside = shapely.contains_xy(region, points[:, 0], points[:, 1])
        return points[inside][:n]

    def add_fields(self, stands: Stands) -> Parcels:
        """Voronoi blocks of parallel strip fields; tracks and hedges along some block borders."""
        rng = self.rng
        xmin, ymin, xmax, ymax = self.extent
        area = (xmax - xmin) * (ymax - ymin)
        n_blocks = max(4, int(area / 220000))
        seeds = np.stack([rng.uniform(xmin, xmax, n_blocks), rng.uniform(ymin, ymax, n_blocks)], axis=1)
        cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=self.box, ordered=True)
        blocks = shapely.intersection(np.asarray(cells.geoms, dtype=object), self.box)
        main_dir = rng.uniform(0, np.pi)
        geoms, block_ix, strip_ix, cut_ix, angles = [], [], [], [], []
        for b, block in enumerate(blocks):
            angle = main_dir + (rng.choice([0, np.pi / 2]) if rng.random() < 0.5 else 0) + rng.normal(0, 0.25)
            width = rng.uniform(28, 90)
            length = rng.uniform(160, 420)
            c = np.asarray(block.centroid.coords[0])
            u = np.array([np.cos(angle), np.sin(angle)])
            v = np.array([-u[1], u[0]])
            corners = shapely.get_coordinates(block) - c
            su, sv = corners @ u, corners @ v
            across = np.arange(sv.min(), sv.max() + width, width)
            along = np.arange(su.min() - rng.uniform(0, length), su.max() + length, length)
            gu, gv = np.meshgrid(along[:-1] + length / 2, across[:-1] + width / 2)
            centres = c + gu.ravel()[:, None] * u + gv.ravel()[:, None] * v
            rects = rectangles(
                centres,
                np.full(len(centres), angle),
                np.full(len(centres), length + 0.01),
                np.full(len(centres), width + 0.01),
            )
            pieces = shapely.intersection(rects, block)
            ok = ~shapely.is_empty(pieces) & (shapely.area(pieces) > 200)
            strips = np.repeat(np.arange(len(across) - 1)[:, None], len(along) - 1, axis=1).ravel()
            cuts = np.tile(np.arange(len(along) - 1), len(across) - 1)
            geoms.extend(pieces[ok])
            block_ix.extend([b] * int(ok.sum()))
            strip_ix.extend(strips[ok])
            cut_ix.extend(cuts[ok])
            angles.extend([angle] * int(ok.sum()))
        geoms = np.asarray(geoms, dtype=object)
        block_ix = np.asarray(block_ix)
        centres = shapely.get_coordinates(shapely.centroid(geoms))
        near_water = shapely.distance(self.river, shapely.points(centres)) < 180
        villages = np.zeros(len(geoms), bool)
        for x, y, r in self.villages:
            villages |= np.hypot(centres[:, 0] - x, centres[:, 1] - y) < r + 200
        use = np.where(
            rng.random(len(geoms)) < np.where(near_water, 0.8, np.where(villages, 0.35, 0.12)),
            MEADOW,
            CROPLAND,
        )
        use = np.where(villages & (rng.random(len(geoms)) < 0.15), ORCHARD, use)
        converted = np.where(
            rng.random(len(geoms)) < 0.25,
            rng.integers(FIRST_YEAR, LAST_YEAR, len(geoms)).astype(float),
            np.inf,
        )
        afforested = np.where(
            rng.random(len(geoms)) < 0.025,
            rng.integers(FIRST_YEAR, LAST_YEAR, len(geoms)).astype(float),
            np.inf,
        )
        early = rng.random(len(blocks)) < 0.85  # remembrement: mostly before RATES.merge_before
        merge_year = np.where(
            rng.random(len(blocks)) < 0.6,
            np.where(
                early,
                rng.integers(FIRST_YEAR, RATES.merge_before, len(blocks)),
                rng.integers(RATES.merge_before, LAST_YEAR, len(blocks)),
            ).astype(float),
            np.inf,
        )
        merge_by = rng.integers(2, 4, len(blocks))
        # tracks and hedges along block borders, outside forests and villages
        edges = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=self.box, only_edges=True)
        skip = shapely.union_all(
            [self.forest_area]
            + [shapely.Point(x, y).buffer(r + 40) for x, y, r in self.villages]
            + [t.geometry.buffer(10) for t in self.water]
        )
        for edge in edges.geoms:
            edge = edge.intersection(self.box).difference(skip)
            if edge.length < 80:
                continue
            draw = rng.random()
            for part in getattr(edge, "geoms", [edge]):
                if part.geom_type != "LineString" or part.length < 40:
                    continue
                if draw < 0.35:
                    self.roads.append(self.thing("farm_track", part, width=rng.uniform(3, 4.5)))
                elif draw < 0.6:
                    planted = ALWAYS if rng.random() < 0.75 else self.year()
                    grubbed = self.year() if rng.random() < 0.4 else NEVER
                    if planted < grubbed:
                        self.hedges.append(
                            self.thing("hedge", part, born=planted, gone=grubbed, width=rng.uniform(4, 8))
                        )
        # afforested parcels become young stands
        planted = np.isfinite(afforested)
        if planted.any():
            stands.geometry = np.concatenate([stands.geometry, geoms[planted]])
            kinds = np.where(rng.random(int(planted.sum())) < 0.5, CONIFER, POPLAR)
            poplar_ok = near_water[planted]
            kinds = np.where(poplar_ok, POPLAR, np.where(kinds == POPLAR, BROADLEAF, kinds))
            stands.species = np.concatenate([stands.species, kinds])
            stands.planted = np.concatenate([stands.planted, afforested[planted]])
            stands.cuts = stands.cuts + [() for _ in range(int(planted.sum()))]
            stands.small = np.concatenate([stands.small, np.ones(int(planted.sum()), bool)])
        return Parcels(
            geometry=geoms,
            block=block_ix,
            strip=np.asarray(strip_ix),
            cut=np.asarray(cut_ix),
            angle=np.asarray(angles),
            use=use,
            converted=converted,
            afforested=afforested,
            merge_year=merge_year,
            merge_by=merge_by,
        )

    def add_trees(self) -> None:
        """Isolated trees in fields and meadows (x, y, crown radius); groves, most near villages."""
        rng = self.rng
        xmin, ymin, xmax, ymax = self.extent
        n = int((xmax - xmin) * (ymax - ymin) / 40000)
        self.trees = np.stack(
            [rng.uniform(xmin, xmax, n), rng.uniform(ymin, ymax, n), rng.uniform(2.5, 6, n)], axis=1
        )
        self.groves = []
        clear = shapely.STRtree(
            [b.geometry.buffer(3) for b in self.buildings]
            + [t.geometry.buffer(t.width / 2 + 2) for t in self.roads]
            + [self.obstacles()]
        )
        for x, y, r in self.villages:
            for _ in range(int(rng.integers(8, 16))):
                angle, dist = rng.uniform(0, 2 * np.pi), r * np.sqrt(rng.uniform(0.05, 1.7))
                self._grove(x + dist * np.cos(angle), y + dist * np.sin(angle), rng.uniform(8, 22), clear)
        for _ in range(int(self.size_km2 * 4)):
            self._grove(rng.uniform(xmin, xmax), rng.uniform(ymin, ymax), rng.uniform(10, 30), clear)

    def _grove(self, x: float, y: float, radius: float, clear: shapely.STRtree) -> None:
        shape = blob(self.rng, x, y, radius, 0.35)
        nearby = clear.geometries.take(clear.query(shape, predicate="intersects"))
        if len(nearby):
            shape = shape.difference(shapely.union_all(nearby))
        if shape.area > 80:
            born = ALWAYS if self.rng.random() < 0.8 else self.year()
            gone = self.year() if self.rng.random() < 0.2 else NEVER
            if born < gone:
                self.groves.append(self.thing("grove", shape, born=born, gone=gone))
