"""Draw one survey year of the sample world as an aerial orthophoto (RGB or grey, uint8).

Each survey is its own campaign: a date in the flying season (crops, leaves and meadows follow
it), a sun position (shadows of buildings and trees), a camera and a scanner or sensor (colour
balance, contrast, saturation, haze, blur, grain, uneven lighting between photos) and a small
misregistration of the orthorectification (a smooth field, not one shift). Panchromatic campaigns
(before a year the caller chooses) are one band, like IGN's historical orthophotos. What persists
between years is what persists on the ground: the road and river network, the village layouts
and most buildings, parcel borders, hedges and forest edges; everything else is drawn anew.

The ground is drawn as a map of materials (a code per pixel, burnt from the world's shapes in
drawing order) coloured through look-up tables, which keeps a 3000 x 3000 px year to a second or
two. Pure: returns arrays, writes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine

from geosiam.geometry import Bounds
from geosiam.sources.sample.world import (
    BROADLEAF,
    CONIFER,
    MEADOW,
    MIXED,
    ORCHARD,
    POPLAR,
    Thing,
    World,
    alive,
)

PAD_PX = 8  # drawn beyond the bounds on each side, so that blur and shifts have real neighbours

# Colours (RGB 0-1) from April to September, the flying season of aerial campaigns.
_MONTHS = (4, 5, 6, 7, 8, 9)
_CROPS = {
    "wheat": (
        (0.32, 0.45, 0.20),
        (0.30, 0.42, 0.18),
        (0.46, 0.50, 0.23),
        (0.72, 0.62, 0.36),
        (0.80, 0.74, 0.56),
        (0.50, 0.41, 0.31),
    ),
    "barley": (
        (0.36, 0.48, 0.21),
        (0.38, 0.48, 0.22),
        (0.68, 0.62, 0.38),
        (0.82, 0.76, 0.57),
        (0.56, 0.46, 0.34),
        (0.43, 0.37, 0.29),
    ),
    "rapeseed": (
        (0.82, 0.78, 0.22),
        (0.62, 0.64, 0.22),
        (0.36, 0.42, 0.22),
        (0.62, 0.56, 0.41),
        (0.49, 0.41, 0.31),
        (0.35, 0.46, 0.22),
    ),
    "maize": (
        (0.55, 0.45, 0.35),
        (0.53, 0.43, 0.33),
        (0.46, 0.45, 0.29),
        (0.25, 0.40, 0.16),
        (0.24, 0.38, 0.15),
        (0.46, 0.45, 0.26),
    ),
    "ley": (
        (0.34, 0.50, 0.22),
        (0.35, 0.49, 0.22),
        (0.40, 0.50, 0.24),
        (0.48, 0.52, 0.29),
        (0.57, 0.56, 0.36),
        (0.40, 0.50, 0.26),
    ),
    "bare": (
        (0.50, 0.42, 0.34),
        (0.55, 0.47, 0.38),
        (0.52, 0.44, 0.35),
        (0.58, 0.50, 0.40),
        (0.50, 0.42, 0.33),
        (0.46, 0.38, 0.30),
    ),
}
_CROP_SHARE = (0.32, 0.16, 0.16, 0.16, 0.12, 0.08)
_MEADOW = (
    (0.36, 0.52, 0.22),
    (0.34, 0.50, 0.22),
    (0.40, 0.50, 0.25),
    (0.50, 0.52, 0.31),
    (0.58, 0.56, 0.37),
    (0.42, 0.50, 0.28),
)
_HAY = (0.70, 0.66, 0.48)  # a meadow just mown
_AFTER_HARVEST = (
    (0.80, 0.74, 0.56),
    (0.74, 0.70, 0.55),
    (0.52, 0.43, 0.33),
    (0.45, 0.37, 0.29),
    (0.36, 0.46, 0.24),
)
_LEAVES = {  # canopy by species: broadleaf and poplar are bare until May
    BROADLEAF: (
        (0.36, 0.34, 0.27),
        (0.26, 0.40, 0.18),
        (0.21, 0.34, 0.16),
        (0.19, 0.31, 0.15),
        (0.20, 0.30, 0.15),
        (0.24, 0.31, 0.16),
    ),
    CONIFER: (
        (0.13, 0.20, 0.13),
        (0.13, 0.21, 0.13),
        (0.12, 0.20, 0.13),
        (0.12, 0.19, 0.13),
        (0.12, 0.19, 0.13),
        (0.13, 0.20, 0.13),
    ),
    MIXED: (
        (0.26, 0.28, 0.21),
        (0.20, 0.31, 0.16),
        (0.17, 0.27, 0.14),
        (0.16, 0.25, 0.14),
        (0.16, 0.25, 0.14),
        (0.18, 0.26, 0.15),
    ),
    POPLAR: (
        (0.42, 0.40, 0.31),
        (0.36, 0.48, 0.22),
        (0.30, 0.44, 0.20),
        (0.28, 0.41, 0.19),
        (0.30, 0.40, 0.20),
        (0.33, 0.40, 0.20),
    ),
}
_ROAD_KINDS = ("path", "track", "farm_track", "street", "main", "bypass", "roundabout")


class _M:
    """Material codes of the ground map (0: the field below shows through)."""

    LAWN, GARDEN_TREE, SITE, FELLED, YOUNG, GAP, TREE = range(1, 8)
    MATURE = {BROADLEAF: 8, CONIFER: 9, MIXED: 10, POPLAR: 11}
    WATER, STREAM, EMBANKMENT, BALLAST, PARKING = range(12, 17)
    ROAD = {kind: 17 + i for i, kind in enumerate(_ROAD_KINDS)}
    SPORT, SPORT_STRIPE, SPORT_LINE, CEMETERY, GRAVE, WALL = range(24, 30)
    COUNT = 30


@dataclass(frozen=True)
class Survey:
    """One aerial campaign: when it flew and how its camera and processing rendered colours."""

    date: dt.date
    leaf_off: bool  # flown before the broadleaves are out (early spring)
    sun_azimuth: float  # radians, clockwise from north
    sun_elevation: float  # radians
    gain: tuple[float, float, float]
    offset: tuple[float, float, float]
    gamma: float
    contrast: float
    saturation: float
    haze: float
    blur_px: float
    grain: float
    lighting: float  # amplitude of uneven lighting between photos
    grayscale: bool  # panchromatic film: one band


# Misregistration of the orthorectification (DEM errors, aerotriangulation): a smooth field over
# the area, each campaign its own, of 0.5 to 3 pixels of the sample's 3.9 m tiles in any direction.
MISREGISTRATION_M = (0.5 * 250 / 64, 3.0 * 250 / 64)
MISREGISTRATION_SCALE_M = 1500.0  # distance over which the field turns and grows or shrinks
LEAF_OFF_SHARE = 0.25  # campaigns flown in early spring, before the broadleaves are out
LATITUDE = np.radians(48.6)  # the sample's latitude (south of Nancy), for the sun's position


def sun_position(date: dt.date, hours_from_noon: float) -> tuple[float, float]:
    """(azimuth clockwise from north, elevation), radians, of the sun at the sample's latitude."""
    declination = np.radians(23.44) * np.sin(2 * np.pi * (284 + date.timetuple().tm_yday) / 365)
    hour = np.radians(15.0 * hours_from_noon)
    elevation = np.arcsin(
        np.sin(LATITUDE) * np.sin(declination) + np.cos(LATITUDE) * np.cos(declination) * np.cos(hour)
    )
    azimuth = np.pi + np.arctan2(
        np.sin(hour), np.cos(hour) * np.sin(LATITUDE) - np.tan(declination) * np.cos(LATITUDE)
    )
    return float(azimuth), float(elevation)


def survey(seed: int, year: int, grayscale: bool = False) -> Survey:
    """The campaign of ``year`` (deterministic for the seed); older ones are softer and grainier.

    Its own season (about one in four flown leaf-off, in early spring), time of day (so sun
    azimuth and elevation follow the date), haze, camera and processing.
    """
    rng = np.random.default_rng([seed, year, 7])
    leaf_off = bool(rng.random() < LEAF_OFF_SHARE)
    if leaf_off:
        day = dt.date(year, 3, 20) + dt.timedelta(days=int(rng.integers(0, 32)))
    else:
        day = dt.date(year, 5, 1) + dt.timedelta(days=int(rng.integers(0, 148)))
    azimuth, elevation = sun_position(day, rng.uniform(-2.5, 2.5))
    age = float(np.clip((2025 - year) / 60, 0, 1.2))
    return Survey(
        date=day,
        leaf_off=leaf_off,
        sun_azimuth=azimuth,
        sun_elevation=elevation,
        gain=tuple(
            float(g)
            for g in rng.normal(1.0, 0.06)
            * (1 + np.array([1, 0, -1]) * rng.normal(0, 0.05 + 0.03 * age))
            * rng.normal(1.0, 0.025, 3)
        ),
        offset=tuple(float(o) for o in rng.normal(0.0, 0.015, 3)),
        gamma=float(rng.uniform(0.8, 1.2)),
        contrast=float(rng.uniform(0.75, 1.25)),
        saturation=float(rng.uniform(0.7, 1.25) * (1 - 0.3 * age)),
        haze=float(rng.uniform(0.0, 0.06 + 0.05 * age)),
        blur_px=float(rng.uniform(0.5, 1.0) + 0.6 * age),
        grain=float(rng.uniform(0.01, 0.025) + 0.02 * age),
        lighting=float(rng.uniform(0.08, 0.2)),
        grayscale=grayscale,
    )


def _seasonal(table, date: dt.date) -> np.ndarray:
    """The colour of a (..., month, RGB) table on ``date``, between its monthly anchors."""
    table = np.asarray(table, dtype=np.float32)
    position = float(np.clip(date.month + date.day / 31 - 0.5, _MONTHS[0], _MONTHS[-1])) - _MONTHS[0]
    low = min(int(position), len(_MONTHS) - 2)
    frac = np.float32(position - low)
    return table[..., low, :] * (1 - frac) + table[..., low + 1, :] * frac


def _interpolation(n: int, m: int) -> np.ndarray:
    """(n, m) matrix that linearly interpolates m evenly spread nodes onto n samples."""
    position = (np.arange(n) + 0.5) / n * (m - 1)
    low = np.clip(np.floor(position).astype(int), 0, m - 2)
    frac = (position - low).astype(np.float32)
    matrix = np.zeros((n, m), np.float32)
    matrix[np.arange(n), low] = 1 - frac
    matrix[np.arange(n), low + 1] = frac
    return matrix


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """A smooth random field (std about 1) varying over ``cell_px`` pixels: coarse nodes, interpolated."""
    rows, cols = int(shape[0] / cell_px) + 2, int(shape[1] / cell_px) + 2
    nodes = rng.standard_normal((rows, cols), dtype=np.float32)
    return _interpolation(shape[0], rows) @ nodes @ _interpolation(shape[1], cols).T * np.float32(1.6)


def fine_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """White noise blurred by ``sigma_px`` (grain, tree crowns), rescaled to std 1."""
    from scipy import ndimage  # lazy: scipy is heavy; only drawing needs it

    noise = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_px)
    noise *= np.float32(2 * np.sqrt(np.pi) * sigma_px)  # std of 2D-blurred unit white noise
    return noise


class _Canvas:
    """The pixel grid of bounds plus padding, and rasterisation onto it."""

    def __init__(self, bounds: Bounds, resolution: float) -> None:
        xmin, ymin, xmax, ymax = bounds
        pad = PAD_PX * resolution
        self.bounds = (xmin - pad, ymin - pad, xmax + pad, ymax + pad)
        self.res = resolution
        self.width = int(round((xmax - xmin) / resolution)) + 2 * PAD_PX
        self.height = int(round((ymax - ymin) / resolution)) + 2 * PAD_PX
        self.shape = (self.height, self.width)
        self.transform = Affine(resolution, 0, self.bounds[0], 0, -resolution, self.bounds[3])
        self.box = shapely.box(*self.bounds)

    def burn(self, shapes, dtype="uint8", all_touched: bool = False) -> np.ndarray:
        """Rasterise (geometry, value) pairs in order (later ones win); 0 elsewhere."""
        from rasterio import features  # lazy: GDAL is heavy; only drawing needs it

        shapes = [
            (g, int(v)) for g, v in shapes if g is not None and not g.is_empty and g.intersects(self.box)
        ]
        if not shapes:
            return np.zeros(self.shape, dtype)
        return features.rasterize(
            shapes, out_shape=self.shape, transform=self.transform, dtype=dtype, all_touched=all_touched
        )

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates from the canvas corner (x east, y north), metres."""
        x = (np.arange(self.width, dtype=np.float32) + 0.5) * np.float32(self.res)
        y = (self.height - np.arange(self.height, dtype=np.float32) - 0.5) * np.float32(self.res)
        return x[None, :], y[:, None]


def render(world: World, year: int, bounds: Bounds, resolution: float, grayscale: bool = False) -> np.ndarray:
    """The orthophoto of ``year`` over ``bounds`` at ``resolution`` m/px, as (3, H, W) uint8, or
    (1, H, W) for a panchromatic campaign."""
    campaign = survey(world.seed, year, grayscale)
    rng = np.random.default_rng([world.seed, year, 11])
    canvas = _Canvas(bounds, resolution)
    # tree crowns about 4-5 m across, drawn anew by each campaign (grown, lit, seen differently)
    crowns = fine_noise(rng, canvas.shape, 2.0 / resolution)
    rgb = _fields(canvas, world, year, campaign.date, rng)
    material, heights, stand_px = _ground(canvas, world, year, crowns)
    _colour_ground(rgb, material, crowns, campaign.date, rng)
    _phenology(rgb, material, stand_px, rng)
    standing = alive(world.buildings, year)
    buildings = canvas.burn([(b.geometry, i + 1) for i, b in enumerate(standing)], dtype="int32")
    roof_heights = np.array([0] + [min(255, round(b.height)) for b in standing], np.uint8)
    heights = np.maximum(heights, roof_heights[buildings])
    _shadows(rgb, heights, campaign, resolution)
    _roofs(rgb, buildings, standing, canvas, year, campaign)
    rgb *= _photo_mosaic(canvas, campaign, rng)
    return np.moveaxis(_camera(rgb, campaign, rng, resolution), -1, 0)


def _fields(canvas: _Canvas, world: World, year: int, date: dt.date, rng) -> np.ndarray:
    """Every parcel in this year's crop, with drill lines, soil patches and grass margins."""
    parcels = world.parcels
    ids = canvas.burn(zip(parcels.geometry, range(1, len(parcels.geometry) + 1)), dtype="int32")
    fields, inverse = np.unique(parcels.field_ids(year), return_inverse=True)
    crop = rng.choice(len(_CROPS), size=len(fields), p=np.asarray(_CROP_SHARE) / sum(_CROP_SHARE))
    crop_colour = np.stack([_seasonal(table, date) for table in _CROPS.values()])
    meadow = _seasonal(_MEADOW, date)
    use = parcels.use_in(year)
    grassy = np.isin(use, (MEADOW, ORCHARD))
    mown = rng.uniform(0, 1, len(fields)) ** 2  # how far hay-making has gone on each field
    grass = meadow + (mown[:, None] * (np.float32(_HAY) - meadow))
    per_field = crop_colour[crop]
    # after the cereal and rapeseed harvest, each field is stubble, ploughed or under a cover crop
    harvested = np.isin(crop, [0, 1, 2]) & (
        rng.random(len(fields)) < np.clip((date.timetuple().tm_yday - 190) / 40, 0, 1)
    )
    per_field[harvested] = np.float32(_AFTER_HARVEST)[
        rng.integers(0, len(_AFTER_HARVEST), int(harvested.sum()))
    ]
    colour = np.where(grassy[:, None], grass[inverse], per_field[inverse])
    colour *= (rng.normal(1.0, 0.07, (len(fields), 1)) * rng.normal(1.0, 0.04, (len(fields), 3)))[inverse]
    lut = np.vstack([meadow[None], colour]).astype(np.float32)
    rgb = lut[ids]
    # drill lines and tramlines along each field's direction, patches of soil
    x, y = canvas.coords()
    cos, sin = (np.concatenate([[0.0], f(parcels.angle)]).astype(np.float32) for f in (np.cos, np.sin))
    along = x * cos[ids] + y * sin[ids]
    wave = np.concatenate([[0.0], rng.uniform(2 * np.pi / 16, 2 * np.pi / 8, len(fields))[inverse]]).astype(
        np.float32
    )
    amp = np.concatenate([[0.0], np.where(grassy, 0.015, rng.uniform(0.02, 0.06, len(fields))[inverse])])
    shade = amp.astype(np.float32)[ids] * np.sin(along * wave[ids])
    shade += np.float32(0.12) * smooth_field(rng, canvas.shape, 40 / canvas.res)  # soil, moisture, lodging
    rgb *= (1 + shade)[..., None]
    # grass margins between fields (merged strips have none)
    field_px = np.concatenate([[-1], inverse])[ids]
    edge = np.zeros(canvas.shape, bool)
    edge[1:, :] |= field_px[1:, :] != field_px[:-1, :]
    edge[:, 1:] |= field_px[:, 1:] != field_px[:, :-1]
    rgb[edge] = meadow * np.float32(0.95)
    # orchards: rows of small trees on grass
    r, c = np.nonzero(np.concatenate([[False], use == ORCHARD])[ids])
    p = ids[r, c]
    across = x[0, c] * sin[p] - y[r, 0] * cos[p]
    tree = (np.sin(along[r, c] * np.float32(0.7)) > 0.3) & (np.sin(across * np.float32(0.7)) > 0.3)
    rgb[r[tree], c[tree]] = _seasonal(_LEAVES[BROADLEAF], date) * np.float32(1.1)
    return rgb


def _ground(canvas: _Canvas, world: World, year: int, crowns: np.ndarray):
    """The material of every pixel that is not bare field, tree heights (m), forest stand ids."""
    material = np.zeros(canvas.shape, np.uint8)
    gardens = _gardens(canvas, world, year)
    material[gardens] = _M.LAWN
    material[gardens & (crowns > 0.9)] = _M.GARDEN_TREE
    stand_px, code, heights = _forest(canvas, world, year, crowns)
    forest = code > 0
    material[forest] = code[forest]
    treed = _trees(canvas, world, year, crowns) & ~forest
    material[treed] = _M.TREE
    heights[treed] = 12
    built = _built(canvas, world, year)
    material = np.where(built > 0, built, material)
    heights[built > 0] = 0
    return material, heights, stand_px


def _gardens(canvas: _Canvas, world: World, year: int) -> np.ndarray:
    """The pixels of the gardens around houses and annexes."""
    houses = [b for b in alive(world.buildings, year) if b.kind in ("house", "annex")]
    return canvas.burn((b.geometry.buffer(12, quad_segs=2), 1) for b in houses) > 0


def _forest(canvas: _Canvas, world: World, year: int, crowns: np.ndarray):
    """Forest stands by age and species: (stand ids, material, tree heights) of every pixel."""
    stands = world.stands
    present = np.flatnonzero(stands.exists(year))
    stand_px = canvas.burn(zip(stands.geometry[present], present + 1), dtype="int32")
    age = stands.age(year)
    code = np.where(
        age < 3, _M.FELLED, np.where(age < 25, _M.YOUNG, np.vectorize(_M.MATURE.get)(stands.species))
    )
    height = np.where(age < 3, 0, np.where(age < 25, 2 + 0.6 * age, 20))
    code = np.concatenate([[0], code]).astype(np.uint8)[stand_px]
    code[(code >= _M.MATURE[BROADLEAF]) & (crowns < -1.3)] = _M.GAP
    heights = np.concatenate([[0], height]).astype(np.uint8)[stand_px]
    return stand_px, code, heights


def _trees(canvas: _Canvas, world: World, year: int, crowns: np.ndarray) -> np.ndarray:
    """The pixels of lines of trees (hedges, river banks), groves and single trees."""
    lines = alive(world.hedges, year) + alive(world.riparian, year)
    belts = (
        canvas.burn(
            [(t.geometry.buffer(t.width / 2, quad_segs=2), 1) for t in lines]
            + [(g.geometry, 1) for g in alive(world.groves, year)]
        )
        > 0
    )
    single = (
        canvas.burn(
            zip(
                shapely.buffer(shapely.points(world.trees[:, :2]), world.trees[:, 2], quad_segs=2),
                [1] * len(world.trees),
            )
        )
        > 0
    )
    return (belts & (crowns > -0.6)) | single


def _built(canvas: _Canvas, world: World, year: int) -> np.ndarray:
    """The material of everything built, in drawing order: later shapes cover earlier ones."""
    shapes = [(s.geometry, _M.SITE) for s in alive(world.sites, year)]
    shapes += [(w.geometry, _M.WATER) for w in alive(world.water, year)]
    streams = [s for s in alive(world.streams, year) if s.kind != "river"]
    shapes += [(s.geometry.buffer(s.width / 2), _M.STREAM) for s in streams]
    railways = alive(world.railways, year)
    shapes += [(r.geometry.buffer(11), _M.EMBANKMENT) for r in world.railways]  # the trackbed stays
    shapes += [(r.geometry.buffer(r.width / 2), _M.BALLAST) for r in railways]
    roads = sorted(alive(world.roads, year), key=lambda r: _ROAD_KINDS.index(r.kind))
    shapes += [
        (r.geometry.buffer(r.width / 2, cap_style="round" if r.kind == "street" else "flat"), _M.ROAD[r.kind])
        for r in roads
    ]
    shapes += [(p.geometry, _M.PARKING) for p in alive(world.parking, year)]
    shapes += [(s.geometry, _M.SPORT) for s in alive(world.sports, year)]
    shapes += [(s.geometry.exterior.buffer(1.0), _M.SPORT_LINE) for s in alive(world.sports, year)]
    shapes += [(c.geometry, _M.CEMETERY) for c in alive(world.cemeteries, year)]
    shapes += [(c.geometry.exterior.buffer(0.8), _M.WALL) for c in alive(world.cemeteries, year)]
    built = canvas.burn(shapes)
    x, y = canvas.coords()
    built[(built == _M.SPORT) & (np.sin(x * np.float32(0.35)) > 0)] = _M.SPORT_STRIPE
    built[
        (built == _M.CEMETERY) & (np.sin(x * np.float32(2.4)) > 0.2) & (np.sin(y * np.float32(1.6)) > 0)
    ] = _M.GRAVE
    return built


def _colour_ground(rgb: np.ndarray, material: np.ndarray, crowns: np.ndarray, date: dt.date, rng) -> None:
    """Paint every material pixel from the colour and texture look-up tables."""
    colour = np.zeros((_M.COUNT, 3), np.float32)
    texture = np.zeros(_M.COUNT, np.float32)
    meadow = _seasonal(_MEADOW, date)
    broadleaf = _seasonal(_LEAVES[BROADLEAF], date)
    asphalt = np.float32(rng.uniform(0.9, 1.6))  # fresh black tarmac to old pale grey
    water = np.float32([0.17, 0.22, 0.20]) * rng.uniform(0.8, 1.25, 3).astype(np.float32)

    def put(code: int, rgb_colour, amount: float = 0.0) -> None:
        colour[code] = rgb_colour
        texture[code] = amount

    put(_M.LAWN, meadow * np.float32([1.0, 1.05, 0.95]), 0.12)
    put(_M.GARDEN_TREE, broadleaf, 0.25)
    put(_M.SITE, (0.62, 0.56, 0.47), 0.08)
    put(_M.FELLED, (0.48, 0.42, 0.33), 0.25)
    put(_M.YOUNG, meadow * np.float32([0.75, 0.85, 0.75]), 0.18)
    put(_M.GAP, _seasonal(_LEAVES[CONIFER], date) * np.float32(0.6), 0.1)
    put(_M.TREE, broadleaf, 0.3)
    for species, code in _M.MATURE.items():
        put(code, _seasonal(_LEAVES[species], date), 0.28)
    put(_M.WATER, water, 0.04)
    put(_M.STREAM, water * np.float32(1.1))
    put(_M.EMBANKMENT, meadow * np.float32(0.9), 0.2)
    put(_M.BALLAST, (0.44, 0.41, 0.38), 0.1)
    road_colours = {
        "path": (0.56, 0.52, 0.44),
        "track": (0.55, 0.50, 0.42),
        "farm_track": (0.62, 0.58, 0.50),
        "street": (0.40, 0.39, 0.39),
        "main": (0.33, 0.33, 0.34),
        "bypass": (0.30, 0.30, 0.32),
        "roundabout": (0.32, 0.32, 0.33),
    }
    for kind, code in _M.ROAD.items():
        tarmac = asphalt if kind not in ("path", "track", "farm_track") else np.float32(1)
        put(code, np.float32(road_colours[kind]) * tarmac, 0.04)
    put(_M.PARKING, np.float32((0.36, 0.36, 0.37)) * asphalt)
    put(_M.SPORT, (0.30, 0.52, 0.20))
    put(_M.SPORT_STRIPE, (0.33, 0.56, 0.22))
    put(_M.SPORT_LINE, (0.85, 0.86, 0.84))
    put(_M.CEMETERY, (0.62, 0.61, 0.58), 0.05)
    put(_M.GRAVE, (0.45, 0.45, 0.46))
    put(_M.WALL, (0.70, 0.68, 0.64))
    rows, cols = np.nonzero(material)
    codes = material[rows, cols]
    rgb[rows, cols] = colour[codes] * (1 + texture[codes] * crowns[rows, cols])[:, None]


def _phenology(rgb: np.ndarray, material: np.ndarray, stand_px: np.ndarray, rng) -> None:
    """Each stand's own shade this year (leaf-out, flowering, stress): forests do not repeat."""
    shade = rng.normal(1.0, 0.07, (int(stand_px.max()) + 1, 1)) * rng.normal(
        1.0, 0.04, (int(stand_px.max()) + 1, 3)
    )
    trees = (material >= _M.FELLED) & (material <= _M.MATURE[POPLAR]) & (material != _M.TREE) & (stand_px > 0)
    rows, cols = np.nonzero(trees)
    rgb[rows, cols] *= shade.astype(np.float32)[stand_px[rows, cols]]


def _shadows(rgb: np.ndarray, heights: np.ndarray, campaign: Survey, resolution: float) -> None:
    """Darken the ground behind buildings and trees, away from the sun."""
    east, south = -np.sin(campaign.sun_azimuth), np.cos(campaign.sun_azimuth)  # away from the sun
    drop = resolution * np.tan(campaign.sun_elevation)  # metres of height lost per pixel
    h = heights.astype(np.int16)
    shadow = np.zeros(h.shape, bool)
    rows, cols = h.shape
    for step in range(1, int(min(24, np.ceil(h.max() / drop))) + 1):
        c, r = int(round(east * step)), int(round(south * step))
        src = h[max(0, -r) : rows - max(0, r), max(0, -c) : cols - max(0, c)]
        dst = (slice(max(0, r), rows - max(0, -r)), slice(max(0, c), cols - max(0, -c)))
        shadow[dst] |= (src - np.int16(round(step * drop))) > h[dst]
    rgb[shadow] *= np.float32([0.45, 0.48, 0.58])


def _roof_colour(thing: Thing, year: int) -> np.ndarray:
    """A building's roof: by kind and age; roofs are redone every few decades."""
    rng = np.random.default_rng([thing.key, int((year + thing.key % 53) // 45)])
    if thing.kind == "house":
        palette = (
            (0.62, 0.36, 0.28),
            (0.70, 0.42, 0.31),
            (0.55, 0.38, 0.33),
            (0.33, 0.32, 0.33),
            (0.46, 0.31, 0.26),
        )
        weights = (0.3, 0.25, 0.25, 0.1, 0.1) if thing.born < 1960 else (0.2, 0.2, 0.1, 0.3, 0.2)
        base = palette[rng.choice(len(palette), p=weights)]
    elif thing.kind == "annex":
        base = ((0.55, 0.40, 0.34), (0.52, 0.52, 0.50), (0.42, 0.38, 0.36))[rng.integers(3)]
    elif thing.kind in ("farm", "silo"):
        base = ((0.55, 0.56, 0.54), (0.66, 0.65, 0.62), (0.42, 0.47, 0.42), (0.50, 0.38, 0.32))[
            rng.integers(4)
        ]
    elif thing.kind == "industry":
        base = ((0.78, 0.78, 0.79), (0.66, 0.67, 0.69), (0.58, 0.60, 0.63))[rng.integers(3)]
    else:  # church: slate
        base = (0.36, 0.37, 0.40)
    return np.float32(base) * np.float32(1 + 0.06 * thing.tone + rng.normal(0, 0.03))


def _roofs(
    rgb: np.ndarray, ids: np.ndarray, standing: list[Thing], canvas: _Canvas, year: int, campaign: Survey
) -> None:
    """Roofs over everything: pitched roofs in two halves, the sunlit one brighter."""
    if not standing:
        return
    rows, cols = np.nonzero(ids)
    which = ids[rows, cols] - 1
    colours = np.stack([_roof_colour(b, year) for b in standing])
    rect = shapely.oriented_envelope(np.asarray([b.geometry for b in standing], dtype=object))
    corners = shapely.get_coordinates(shapely.get_exterior_ring(rect)).reshape(len(standing), -1, 2)[:, :4]
    centre = corners.mean(axis=1)
    side_a, side_b = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 1]
    long_axis = np.where((np.hypot(*side_a.T) >= np.hypot(*side_b.T))[:, None], side_a, side_b)
    normal = np.stack([-long_axis[:, 1], long_axis[:, 0]], axis=1)
    normal /= np.maximum(np.hypot(*normal.T), 1e-9)[:, None]
    x = canvas.bounds[0] + (cols + 0.5) * canvas.res
    y = canvas.bounds[3] - (rows + 0.5) * canvas.res
    across = (x - centre[which, 0]) * normal[which, 0] + (y - centre[which, 1]) * normal[which, 1]
    sun = np.array([np.sin(campaign.sun_azimuth), np.cos(campaign.sun_azimuth)])
    facing = np.sign(across) * (normal[which] @ sun)
    pitched = np.array([b.kind not in ("industry", "silo") for b in standing])[which]
    light = np.where(pitched, np.where(facing > 0, 1.12, 0.82), 1.0).astype(np.float32)
    rgb[rows, cols] = colours[which] * light[:, None]


def _photo_mosaic(canvas: _Canvas, campaign: Survey, rng, step: int = 8) -> np.ndarray:
    """(H, W, 3) gains of the photos the orthophoto is mosaicked from: each photo its own colour,
    a bright hot spot and darker corners; visible seams where two photos meet."""
    spacing = rng.uniform(1200, 1800)
    width, height = canvas.width * canvas.res, canvas.height * canvas.res
    gx = np.arange(-spacing / 2, width + spacing, spacing)
    gy = np.arange(-spacing / 2, height + spacing, spacing)
    centres = (
        np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
        + rng.uniform(-0.3, 0.3, (gx.size * gy.size, 2)) * spacing
    )
    colour = rng.normal(1.0, 0.05, (len(centres), 3)) * rng.normal(
        1.0, campaign.lighting / 2, (len(centres), 1)
    )
    cols, rows = -(-canvas.width // step), -(-canvas.height // step)  # coarse cells covering the canvas
    xs = (np.arange(cols) * step + step / 2) * canvas.res
    ys = (canvas.height - np.arange(rows) * step - step / 2) * canvas.res
    dx = xs[None, :, None] - centres[None, None, :, 0]
    dy = ys[:, None, None] - centres[None, :, None, 1].reshape(1, 1, -1)
    dist = np.hypot(dx, dy)
    nearest = dist.argmin(axis=2)
    d = np.take_along_axis(dist, nearest[..., None], axis=2)[..., 0] / spacing
    light = 1 + campaign.lighting * (np.exp(-((d / 0.3) ** 2)) - 0.8 * d**2)
    gains = (colour[nearest] * light[..., None]).astype(np.float32)
    gains = np.repeat(np.repeat(gains, step, axis=0), step, axis=1)
    return gains[: canvas.height, : canvas.width]


def _misregistration(rng, shape: tuple[int, int], resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """Where each output pixel is read from the padded canvas: a smooth field of displacements
    whose length runs from ``MISREGISTRATION_M[0]`` to ``[1]`` and whose direction turns."""
    from scipy.special import ndtr  # lazy: scipy is heavy; only drawing needs it

    cell = MISREGISTRATION_SCALE_M / resolution
    low, high = (m / resolution for m in MISREGISTRATION_M)
    length = low + (high - low) * ndtr(smooth_field(rng, shape, cell))  # Gaussian -> uniform-ish
    angle = np.float32(np.pi) * smooth_field(rng, shape, cell)
    rows = np.arange(shape[0], dtype=np.float32)[:, None] + np.float32(PAD_PX) + length * np.sin(angle)
    cols = np.arange(shape[1], dtype=np.float32)[None, :] + np.float32(PAD_PX) + length * np.cos(angle)
    return rows, cols


def _camera(rgb: np.ndarray, campaign: Survey, rng, resolution: float) -> np.ndarray:
    """Film or sensor, processing and orthorectification: colour, blur, grain, shift; to uint8."""
    from scipy import ndimage  # lazy: scipy is heavy; only drawing needs it

    h, w, _ = rgb.shape
    rgb *= (1 + np.float32(campaign.lighting) * smooth_field(rng, (h, w), 300))[..., None]
    # saturation, contrast, gain, offset and haze are one affine map of the colours
    if campaign.grayscale:  # panchromatic film, most sensitive in the green
        mix = np.tile(np.float32([0.3, 0.5, 0.2]), (3, 1))
    else:
        mix = campaign.saturation * np.eye(3) + (1 - campaign.saturation) / 3 * np.ones((3, 3))
    mix = campaign.contrast * np.diag(campaign.gain) @ mix * (1 - campaign.haze)
    shift = (0.4 * (1 - campaign.contrast) * np.asarray(campaign.gain) + np.asarray(campaign.offset)) * (
        1 - campaign.haze
    )
    shift = shift + campaign.haze * np.array([0.75, 0.8, 0.9])
    bands = [rgb[..., 0], rgb[..., 1], rgb[..., 2]]
    count = 1 if campaign.grayscale else 3
    grain = fine_noise(rng, (h, w), 0.7) * np.float32(campaign.grain)
    rows, cols = _misregistration(rng, (h - 2 * PAD_PX, w - 2 * PAD_PX), resolution)
    out = np.empty((h - 2 * PAD_PX, w - 2 * PAD_PX, count), np.float32)
    for c in range(count):
        band = sum(np.float32(mix[c, k]) * bands[k] for k in range(3)) + np.float32(shift[c])
        band = ndimage.gaussian_filter(band, campaign.blur_px) + grain
        out[..., c] = ndimage.map_coordinates(band, (rows, cols), order=1, mode="nearest")
    levels = np.clip(out * 1023 + 0.5, 0, 1023).astype(np.uint16)
    gamma = (np.linspace(0, 1, 1024) ** campaign.gamma * 255 + 0.5).astype(np.uint8)
    return gamma[levels]
