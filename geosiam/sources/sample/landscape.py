"""The built-in sample area's landscape drawn from a seed: one :class:`.world.World`.

A world is drawn once from a seed over a rectangle of Lambert-93: a river with its tributaries and
ponds, a railway, villages (church, cemetery, sports ground, houses along their streets with
gardens and annexes, farms, an industrial zone), main roads between them, farm tracks, forests
split into stands, and fields split into blocks of strip parcels. Every object carries the years it
exists (``born <= year < gone``), so any survey year is a snapshot and two years differ more the
further apart they are: housing estates and new roads are built, stands are clear-cut and grow
back, fields are planted, parcels are merged and hedges grubbed up, at the rates of
:class:`.world.ChangeRates`. Pure: the same seed draws the same world, each step (a method of
:class:`_Builder`) in an order that avoids clashes and keeps the random draws in one sequence.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
import shapely.ops
from rasterio.transform import from_origin
from shapely.geometry.base import BaseGeometry

from geosiam.config import FIRST_YEAR, LAST_YEAR
from geosiam.geometry import Bounds
from geosiam.sources.sample.shapes import blob, coarse_noise, keep_disjoint, rectangles, wiggly_line
from geosiam.sources.sample.world import (
    ALWAYS,
    BROADLEAF,
    CONIFER,
    CROPLAND,
    MEADOW,
    MIXED,
    NEVER,
    ORCHARD,
    POPLAR,
    RATES,
    Parcels,
    Stands,
    Thing,
    World,
)

WORLD_MARGIN_M = 250.0  # objects are drawn beyond the area so that nothing stops at its edge


def build_world(area: Bounds, seed: int) -> World:
    """Draw the landscape of ``area`` (EPSG:2154 metres) for ``seed``; deterministic."""
    return _Builder(area, seed).build()


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
        x, y, r = self.villages[index]
        core = shapely.Point(x, y).buffer(r)
        through = [line.intersection(core) for line in self.main_roads if line.intersects(core)]
        streets = self._streets(x, y, r)
        # public places first, so that houses keep clear of them
        church = self._church(x, y, through + streets)
        self.buildings.append(church)
        taken = [church.geometry.buffer(6), *self._public_places(x, y, r)]
        # old houses along every street of the core, then the village grows
        candidates = [t for line in through + streets for t in self._houses_along(line, born=ALWAYS)]
        candidates += self._estates(x, y, r)
        candidates += self._single_houses(x, y, r, core)
        candidates += self._farms(x, y, r)
        blockers = taken + [
            line.buffer(line_w / 2 + 1) for line, line_w in [(t.geometry, t.width) for t in self.roads]
        ]
        kept = keep_disjoint([c.geometry for c in candidates], blockers + [self.obstacles()])
        self.buildings.extend(candidates[i] for i in kept)

    def _streets(self, x: float, y: float, r: float) -> list[BaseGeometry]:
        """Two to four streets from the centre of a village of radius ``r``."""
        rng = self.rng
        streets = []
        for _ in range(int(rng.integers(2, 5))):
            angle = rng.uniform(0, 2 * np.pi)
            length = rng.uniform(0.7, 1.2) * r
            end = (x + length * np.cos(angle), y + length * np.sin(angle))
            start = (x + rng.normal(0, 25), y + rng.normal(0, 25))
            street = wiggly_line(rng, start, end, 0.08)
            streets.append(street)
            self.roads.append(self.thing("street", street, width=rng.uniform(4.0, 5.5)))
        return streets

    def _public_places(self, x: float, y: float, r: float) -> list[BaseGeometry]:
        """A cemetery and a sports ground at the edge of the village; the ground they take."""
        rng = self.rng
        taken = []
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
        return taken

    def _estates(self, x: float, y: float, r: float) -> list[Thing]:
        """Housing estates: streets out of the village, built one after another; their houses."""
        rng = self.rng
        candidates = []
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
        return candidates

    def _single_houses(self, x: float, y: float, r: float, core: BaseGeometry) -> list[Thing]:
        """Single houses on fields along the roads out of the village, one by one."""
        rng = self.rng
        candidates = []
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
        return candidates

    def _farms(self, x: float, y: float, r: float) -> list[Thing]:
        """Farms at the edge of the village: sheds, some with a silo."""
        rng = self.rng
        candidates = []
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
        return candidates

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
        xmin, ymin, xmax, ymax = self.extent
        cell = 25.0
        shape = (int((ymax - ymin) / cell), int((xmax - xmin) / cell))
        forest = self.forest_area = self._forest_area(shape, cell)
        # stands: Voronoi cells of points about 200 m apart, clipped to the forest
        n = max(4, int(forest.area / 55000))
        points = shapely.get_coordinates(shapely.points(self._points_in(forest, n)))
        cells = shapely.voronoi_polygons(shapely.MultiPoint(points), extend_to=self.box, ordered=True)
        geoms = shapely.intersection(np.asarray(cells.geoms, dtype=object), forest)
        geoms = geoms[~shapely.is_empty(geoms) & (shapely.area(geoms) > 500)]
        species = self._species(geoms, shape, cell)
        cut_years = [self._clear_cuts() for _ in geoms]
        small = _small_woods(forest, geoms)
        self._forest_tracks(points, forest)
        return Stands(
            geometry=geoms, species=species, planted=np.full(len(geoms), ALWAYS), cuts=cut_years, small=small
        )

    def _forest_area(self, shape: tuple[int, int], cell: float) -> BaseGeometry:
        """Where forest grows: smooth noise, thresholded, away from villages, roads and water."""
        from rasterio import features  # lazy: GDAL is heavy; only drawing needs it

        rng = self.rng
        xmin, ymin, xmax, ymax = self.extent
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
        return shapely.union_all([p for p in getattr(forest, "geoms", [forest]) if p.area > 15000])

    def _species(self, stands: np.ndarray, shape: tuple[int, int], cell: float) -> np.ndarray:
        """Species change slowly across a forest: broadleaf mostly, conifer plantations in patches."""
        xmin, _, _, ymax = self.extent
        pine = coarse_noise(self.rng, shape, 30)
        cx = shapely.get_coordinates(shapely.centroid(stands))
        ci = np.clip(((ymax - cx[:, 1]) / cell).astype(int), 0, shape[0] - 1)
        cj = np.clip(((cx[:, 0] - xmin) / cell).astype(int), 0, shape[1] - 1)
        score = pine[ci, cj] + self.rng.normal(0, 0.5, len(stands))
        return np.where(score > 0.8, CONIFER, np.where(score > 0.3, MIXED, BROADLEAF))

    def _clear_cuts(self) -> tuple[float, ...]:
        """A stand's clear-cut years, every RATES.rotation years: about one stand in eight every 15 years."""
        cuts = []
        year = FIRST_YEAR - self.rng.uniform(0, RATES.rotation[1])
        while True:
            year += self.rng.uniform(*RATES.rotation)
            if year > LAST_YEAR:
                return tuple(cuts)
            cuts.append(float(round(year)))

    def _forest_tracks(self, points: np.ndarray, forest: BaseGeometry) -> None:
        """Forest tracks and paths along some stand borders."""
        rng = self.rng
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

    def _points_in(self, region: BaseGeometry, n: int) -> np.ndarray:
        xmin, ymin, xmax, ymax = region.bounds
        points = np.stack([self.rng.uniform(xmin, xmax, 6 * n), self.rng.uniform(ymin, ymax, 6 * n)], axis=1)
        inside = shapely.contains_xy(region, points[:, 0], points[:, 1])
        return points[inside][:n]

    def add_fields(self, stands: Stands) -> Parcels:
        """Voronoi blocks of parallel strip fields; tracks and hedges along some block borders."""
        seeds, blocks = self._field_blocks()
        main_dir = self.rng.uniform(0, np.pi)
        geoms, block_ix, strip_ix, cut_ix, angles = [], [], [], [], []
        for b, block in enumerate(blocks):
            angle, pieces, strips, cuts = self._strips(block, main_dir)
            geoms.extend(pieces)
            block_ix.extend([b] * len(pieces))
            strip_ix.extend(strips)
            cut_ix.extend(cuts)
            angles.extend([angle] * len(pieces))
        geoms = np.asarray(geoms, dtype=object)
        near_water, use, converted, afforested = self._land_use(geoms)
        merge_year, merge_by = self._merges(len(blocks))
        self._tracks_and_hedges(seeds)
        self._afforest(stands, geoms, afforested, near_water)
        return Parcels(
            geometry=geoms,
            block=np.asarray(block_ix),
            strip=np.asarray(strip_ix),
            cut=np.asarray(cut_ix),
            angle=np.asarray(angles),
            use=use,
            converted=converted,
            afforested=afforested,
            merge_year=merge_year,
            merge_by=merge_by,
        )

    def _field_blocks(self) -> tuple[np.ndarray, np.ndarray]:
        """The seeds of the field blocks and the blocks, their Voronoi cells (about 22 ha each)."""
        rng = self.rng
        xmin, ymin, xmax, ymax = self.extent
        area = (xmax - xmin) * (ymax - ymin)
        n_blocks = max(4, int(area / 220000))
        seeds = np.stack([rng.uniform(xmin, xmax, n_blocks), rng.uniform(ymin, ymax, n_blocks)], axis=1)
        cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=self.box, ordered=True)
        return seeds, shapely.intersection(np.asarray(cells.geoms, dtype=object), self.box)

    def _strips(
        self, block: BaseGeometry, main_dir: float
    ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """A block cut into parallel strips, each cut across into fields: (their angle, the fields,
        the strip and the cut of each)."""
        rng = self.rng
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
        return angle, pieces[ok], strips[ok], cuts[ok]

    def _land_use(self, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each field's (nearness to the river, use, year turned to another use, year afforested):
        meadows by the river and the villages, orchards by the villages."""
        rng = self.rng
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
        return near_water, use, converted, afforested

    def _merges(self, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
        """Each block's year its strips are merged (remembrement) and by how many."""
        rng = self.rng
        early = rng.random(n_blocks) < 0.85  # remembrement: mostly before RATES.merge_before
        merge_year = np.where(
            rng.random(n_blocks) < 0.6,
            np.where(
                early,
                rng.integers(FIRST_YEAR, RATES.merge_before, n_blocks),
                rng.integers(RATES.merge_before, LAST_YEAR, n_blocks),
            ).astype(float),
            np.inf,
        )
        return merge_year, rng.integers(2, 4, n_blocks)

    def _tracks_and_hedges(self, seeds: np.ndarray) -> None:
        """Farm tracks and hedges along block borders, outside forests, villages and water."""
        rng = self.rng
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

    def _afforest(
        self, stands: Stands, geoms: np.ndarray, afforested: np.ndarray, near_water: np.ndarray
    ) -> None:
        """Afforested fields become young stands: poplars by the river, conifers or broadleaves elsewhere."""
        planted = np.isfinite(afforested)
        if not planted.any():
            return
        stands.geometry = np.concatenate([stands.geometry, geoms[planted]])
        kinds = np.where(self.rng.random(int(planted.sum())) < 0.5, CONIFER, POPLAR)
        poplar_ok = near_water[planted]
        kinds = np.where(poplar_ok, POPLAR, np.where(kinds == POPLAR, BROADLEAF, kinds))
        stands.species = np.concatenate([stands.species, kinds])
        stands.planted = np.concatenate([stands.planted, afforested[planted]])
        stands.cuts = stands.cuts + [() for _ in range(int(planted.sum()))]
        stands.small = np.concatenate([stands.small, np.ones(int(planted.sum()), bool)])

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


def _small_woods(forest: BaseGeometry, stands: np.ndarray) -> np.ndarray:
    """Which stands lie in a small wood: an isolated piece of forest under 5 ha."""
    pieces = np.asarray(getattr(forest, "geoms", [forest]), dtype=object)
    small_pieces = pieces[shapely.area(pieces) < 50000]
    small = np.zeros(len(stands), bool)
    if len(small_pieces):
        hits = shapely.STRtree(small_pieces).query(stands, predicate="intersects")
        small[hits[0]] = True
    return small
