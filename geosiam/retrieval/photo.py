"""``geosiam search photo.jpg``: where is a photo without georeference (a scan, a JPEG, a PNG)?

The photo's scale is the ground size of one of its pixels (``--gsd`` metres), or, when unknown,
the photo is taken as one tile: its shorter side spans one tile footprint. It is resampled (box
filter) so that one tile footprint is the model's input size, and cut into as many whole tiles
as fit, centred; a photo of one tile is one window.

Each window is embedded image-only and searched among the tiles of the chosen year. Its
``VOTES_PER_WINDOW`` best tiles vote for where the whole photo would lie if that window were
that tile: the window's offset in the photo, subtracted from the tile's corner, gives a candidate
footprint for the photo. Votes for the same footprint (to a hundredth of a tile) add up; a
window votes at most once per footprint (its best score). A candidate's score is the sum of its
votes divided by the number of windows, so a footprint that every window agrees on with
cosine 1 scores 1, and a one-window photo ranks tiles exactly as a tile search does.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from PIL import Image, ImageOps, UnidentifiedImageError
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from geosiam import atomic
from geosiam.errors import SettingsError, SourceError
from geosiam.retrieval.search import neighbours

VOTES_PER_WINDOW = 10
KEY_FRACTION = 100  # footprints closer than a hundredth of a tile are one candidate


def is_georeferenced(path: Path) -> bool:
    """Whether GDAL reads ``path`` with a CRS and a transform (a GeoTIFF, or an image with a
    world file and a projection); False for anything else, including unreadable files."""

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return src.crs is not None and not src.transform.is_identity
    except RasterioIOError:
        return False


def read_photo(path: Path) -> np.ndarray:
    """The photo as (H, W, 3) uint8 RGB, upright (EXIF orientation applied); grey scans and
    palettes are expanded to RGB, transparency dropped."""

    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"query {path} does not exist: give the path of a photo or a GeoTIFF tile")
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                raise SourceError(
                    f"{path} has {image.mode} pixels, not 8-bit: save it as an 8-bit JPEG, PNG or TIFF"
                )
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise SourceError(
            f"cannot read {path} as an image ({exc}): give a JPEG, PNG, TIFF or a georeferenced GeoTIFF"
        ) from None


@dataclass(frozen=True)
class Windows:
    """Where the tile-sized windows lie in a photo resampled to ``px`` pixels per tile."""

    px: int  # pixels of one window (the model's input)
    tile_m: float  # ground size of one window
    cols: int
    rows: int
    left: int  # margin before the first window, resampled pixels
    top: int
    width: int  # the resampled photo
    height: int

    @property
    def count(self) -> int:
        return self.cols * self.rows

    def offsets(self) -> list[tuple[int, int]]:
        """(column, row) of each window, row by row from the top left."""
        return [(c, r) for r in range(self.rows) for c in range(self.cols)]

    @property
    def metres_per_px(self) -> float:
        return self.tile_m / self.px


def photo_windows(shape: tuple[int, int], tile_m: float, px: int, gsd: float | None) -> Windows:
    """The windows of a photo of ``shape`` (H, W) pixels, at ``gsd`` metres per pixel (None: its
    shorter side is one tile)."""
    height, width = shape[:2]
    if gsd is not None and not (gsd > 0 and math.isfinite(gsd)):
        raise SettingsError(f"--gsd must be a positive number of metres per pixel, got {gsd}")
    side = tile_m / gsd if gsd is not None else min(height, width)  # photo pixels per tile
    scale = px / side
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    cols, rows = size[0] // px, size[1] // px
    if cols == 0 or rows == 0:
        raise SettingsError(
            f"the photo is {width}x{height} px, at --gsd {gsd} m that is "
            f"{width * gsd:.0f}x{height * gsd:.0f} m, smaller than one tile of {tile_m:g} m: "
            f"check --gsd (a tile is {side:.0f} px at that scale), or omit it to take the photo as one tile"
        )
    return Windows(px, tile_m, cols, rows, (size[0] - cols * px) // 2, (size[1] - rows * px) // 2, *size)


def cut_windows(photo: np.ndarray, windows: Windows) -> np.ndarray:
    """The photo resampled (box filter) and cut: (count, px, px, 3) uint8, in :meth:`offsets` order."""

    resampled = np.asarray(
        Image.fromarray(photo).resize((windows.width, windows.height), Image.Resampling.BOX), dtype=np.uint8
    )
    px = windows.px
    return np.stack(
        [
            resampled[
                windows.top + r * px : windows.top + (r + 1) * px,
                windows.left + c * px : windows.left + (c + 1) * px,
            ]
            for c, r in windows.offsets()
        ]
    )


def vote(
    vectors: np.ndarray, windows: Windows, descriptors, year: int | None, k: int, photo: str = "", index=None
):
    """The ``k`` best candidate footprints of the whole photo (GeoDataFrame, best first).

    ``vectors`` are the windows' descriptors in :meth:`Windows.offsets` order; ``descriptors``
    the tiles to search (of ``year`` only when given), through ``index`` when given (see
    :func:`geosiam.retrieval.search.neighbours`).
    """

    table = descriptors.table
    scores, found = neighbours(vectors, descriptors, VOTES_PER_WINDOW, year, index)
    bounds = np.asarray(table.geometry.bounds)  # minx, miny, maxx, maxy
    step = windows.metres_per_px
    quantum = windows.tile_m / KEY_FRACTION
    candidates: dict[tuple[int, int], dict] = {}
    for w, (col, row) in enumerate(windows.offsets()):
        for score, j in zip(scores[w], found[w]):
            if j < 0:
                continue
            # the photo's top-left corner if window w were tile j
            x0 = bounds[j, 0] - (windows.left + col * windows.px) * step
            y0 = bounds[j, 3] + (windows.top + row * windows.px) * step
            key = (round(x0 / quantum), round(y0 / quantum))
            votes = candidates.setdefault(key, {"x0": x0, "y0": y0, "by_window": {}})["by_window"]
            if score > votes.get(w, (-np.inf, ""))[0]:
                votes[w] = (float(score), str(table["tile_id"].iloc[j]))
    ranked = sorted(candidates.values(), key=lambda c: -sum(s for s, _ in c["by_window"].values()))[:k]
    target = int(year) if year is not None else 0
    return gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(ranked) + 1),
            "score": [sum(s for s, _ in c["by_window"].values()) / windows.count for c in ranked],
            "votes": [len(c["by_window"]) for c in ranked],
            "windows": [windows.count] * len(ranked),
            "year": [target] * len(ranked),
            "tiles": [" ".join(t for _, (_, t) in sorted(c["by_window"].items())) for c in ranked],
            "photo": [photo] * len(ranked),
        },
        geometry=[
            shapely.box(c["x0"], c["y0"] - windows.height * step, c["x0"] + windows.width * step, c["y0"])
            for c in ranked
        ],
        crs=table.crs,
    )


def tile_size_m(descriptors, year: int | None) -> float:
    """The ground size of the tiles searched (median footprint width): a window's footprint."""
    table = descriptors.table if year is None else descriptors.table[descriptors.table["year"] == year]
    bounds = np.asarray(table.geometry.bounds)
    return float(np.median(bounds[:, 2] - bounds[:, 0]))


def format_candidates(candidates) -> str:
    """The candidates as an aligned text table (rank, score, votes, year, footprint, tiles)."""
    lines = [f"{'rank':>4}  {'score':>6}  {'votes':>5}  {'year':>4}  footprint (xmin ymin xmax ymax)  tiles"]
    for row in candidates.itertuples():
        bounds = " ".join(f"{v:.1f}" for v in row.geometry.bounds)
        votes = f"{row.votes}/{row.windows}"
        lines.append(f"{row.rank:>4}  {row.score:>6.3f}  {votes:>5}  {row.year:>4}  {bounds}  {row.tiles}")
    return "\n".join(lines)


def write_candidates(path: Path, candidates) -> None:
    """A GeoPackage with the layer ``matches`` (the candidate footprints), written atomically."""

    with atomic.atomic_path(path, suffix=".gpkg") as tmp:
        candidates.to_file(tmp, layer="matches", driver="GPKG")


def search_photo(
    embedder, photo: np.ndarray, descriptors, year: int | None, k: int, gsd: float | None, name="", index=None
):
    """Cut, embed (image only) and vote: the ``k`` best candidate footprints of a photo read by
    :func:`read_photo` (``name`` is recorded with them), through the run's ``index`` when given."""
    windows = photo_windows(photo.shape, tile_size_m(descriptors, year), embedder.input_px, gsd)
    vectors = embedder.embed(cut_windows(photo, windows), None, batch_size=VOTES_PER_WINDOW * 8)
    return vote(vectors, windows, descriptors, year, k, name, index)
