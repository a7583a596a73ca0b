"""What stands on the ground of the built-in sample area in any year from 1950 to 2100.

A world holds objects (:class:`Thing`, :class:`Parcels`, :class:`Stands`), each with the years it
exists (``born <= year < gone``), so any survey year is a snapshot and two years differ more the
further apart they are, at the rates of :class:`ChangeRates`. :mod:`.landscape` draws one from a
seed; :mod:`.changes` lists every change as ground truth. Pure: no file is read or written here
(:mod:`.render` draws a year, :mod:`.topo` maps it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from shapely.geometry.base import BaseGeometry

from geosiam.geometry import Bounds

ALWAYS = -math.inf  # born before any survey year
NEVER = math.inf  # never gone


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
