"""IGN's deliveries by name, and which one each year needs: pure, no request made here.

Delivery names follow ``PRODUCT_VERSION_BANDS-RES_FORMAT_CRS_ZONE_EDITION``
(``BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01``); dalles inside a BD ORTHO delivery are
named ``DD-YYYY-XXXX-YYYY-LA93-0M50-E080.jp2`` with X the left and Y the **top** edge in km.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path

from geosiam.errors import DownloadError, SourceError
from geosiam.geometry import Bounds, bounds_overlap

ORTHO = "BDORTHO"

TOPO = "BDTOPO"

TOPO_FORMATS = ("GPKG", "SHP")  # GeoPackage (v3), Shapefiles by theme (2.x: E_BATI/BATI_INDIFFERENCIE.SHP)

DALLE_STEP_M = 5000.0  # BD ORTHO dalles are 5 km squares (0M50 and 0M20)

_ZONE = r"(?P<zone>D[0-9]{2}[0-9AB]|FXX|R[0-9]{2})"  # D054, D02A, D971; national, regions

_ORTHO_NAME = re.compile(
    r"^(?P<product>BDORTHO|ORTHOHR)_(?P<version>\d-\d)_(?P<bands>RVB|IRC)-(?P<resolution>\d+M\d+)_"
    r"(?P<format>[A-Z0-9]+(?:-[A-Z0-9]+)?)_(?P<crs>[A-Z0-9]+)_" + _ZONE + r"_(?P<edition>\d{4}-\d{2}-\d{2})$"
)

_TOPO_NAME = re.compile(
    r"^(?P<product>BDTOPO)_(?P<version>\d-\d)_(?P<theme>[A-Z]+)_(?P<format>GPKG|SHP|SQL)_"
    r"(?P<crs>[A-Z0-9]+)_" + _ZONE + r"_(?P<edition>\d{4}-\d{2}-\d{2})$"
)

_DALLE = re.compile(
    r"^(?P<dept>[0-9][0-9AB][0-9]?)-(?P<year>\d{4})-(?P<x>\d{4})-(?P<y>\d{4})-(?P<crs>[A-Z0-9]+)-"
    r"(?P<res>\d+M\d+)(?:-[A-Z]+)?-E\d{3}\.(?:jp2|tif{1,2})$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Delivery:
    """A BD ORTHO or BD TOPO delivery (a sub-resource), described by its name."""

    resource: str  # the feed it is listed in: BDORTHO or BDTOPO
    name: str
    product: str  # BDORTHO, ORTHOHR, BDTOPO
    version: str  # "2-0"
    format: str  # JP2-E080, GPKG...
    crs: str
    zone: str  # D054
    edition: str  # YYYY-MM-DD; for BD ORTHO, YYYY is the survey year
    bands: str = ""  # RVB or IRC (BD ORTHO)
    resolution: str = ""  # 0M50, 0M20 (BD ORTHO)

    @property
    def year(self) -> int:
        return int(self.edition[:4])

    @property
    def data_model(self) -> str:
        """BD TOPO's data model: "3" (2019 on) or "2" (2.x, before), from the version."""
        return self.version.split("-")[0]

    @property
    def resolution_m(self) -> float:
        metres, _, centimetres = self.resolution.partition("M")
        return int(metres) + int(centimetres or 0) / 10 ** len(centimetres or "0")


def parse_delivery(resource: str, name: str) -> Delivery | None:
    """A :class:`Delivery` from its name, or None for other entries (mosaic graphs, readmes)."""
    match = (_ORTHO_NAME if resource == ORTHO else _TOPO_NAME).match(name)
    if not match:
        return None
    fields = match.groupdict()
    fields.pop("theme", None)
    return Delivery(resource=resource, name=name, **fields)


@dataclass(frozen=True)
class DeliveryFile:
    name: str
    url: str
    length: int | None


def is_label_edition(delivery: Delivery) -> bool:
    """A BD TOPO delivery geosiam reads: a GeoPackage, or the Shapefiles of a 2.x edition."""
    return delivery.format == "GPKG" or (delivery.format == "SHP" and delivery.data_model == "2")


def archive_parts(delivery: Delivery, files: list[DeliveryFile]) -> list[DeliveryFile]:
    """The delivery's 7z (one ``.7z`` or volumes ``.7z.001``...) in order; an error when none."""
    pattern = re.compile(re.escape(delivery.name) + r"\.7z(?:\.(\d{3}))?$")
    parts = sorted((f for f in files if pattern.match(f.name)), key=lambda f: f.name)
    volumes = [f for f in parts if not f.name.endswith(".7z")]
    parts = volumes or parts
    if not parts:
        raise DownloadError(
            f"the feed of {delivery.name} lists no 7z archive: IGN may be republishing it; "
            "try again later or choose another edition"
        )
    return parts


def choose_ortho(
    deliveries: Iterable[Delivery], year: int, zone: str, resolution: str = ""
) -> Delivery | None:
    """The best RGB BD ORTHO of survey ``year`` for ``zone``, None when there is none.

    The resolution asked for (default: the coarsest available), then version 2-0 over 1-0, BD ORTHO
    over the older ORTHOHR naming, the newest edition.
    """
    same_year = [d for d in deliveries if d.bands == "RVB" and d.zone == zone and d.year == year]
    if not same_year:
        return None
    if resolution:
        chosen = [d for d in same_year if d.resolution == resolution.upper()]
        if not chosen:
            offered = ", ".join(sorted({d.resolution for d in same_year}))
            raise SourceError(
                f"BD ORTHO {year} of {zone} exists at {offered}, not {resolution}: "
                f"use --resolution {offered.split(', ')[0]}"
            )
    else:
        coarsest = max(d.resolution_m for d in same_year)
        chosen = [d for d in same_year if d.resolution_m == coarsest]
    return max(chosen, key=lambda d: (d.version, d.product == ORTHO, d.edition))


def choose_topo(deliveries: Iterable[Delivery], year: int, zone: str, edition: str = "") -> Delivery | None:
    """The BD TOPO edition for ``year``: the one asked for, else the one nearest mid-year.

    Nearest whatever its data model (a 2.x SHP edition of 2014 beats a v3 one of 2019 for a
    2015 image); the label resolver then decides whether it is near enough. Ties: the newer
    edition, the higher version, a GeoPackage over Shapefiles. None when IGN lists none.
    """
    editions = [d for d in deliveries if d.zone == zone and is_label_edition(d)]
    if edition:
        exact = [d for d in editions if d.edition == edition]
        if not exact:
            raise SourceError(
                f"no BD TOPO edition {edition} for {zone}: use --topo-edition {year}=DATE "
                f"with one of {', '.join(sorted({d.edition for d in editions})) or 'none'}"
            )
        return max(exact, key=lambda d: (d.version, d.format == "GPKG"))
    if not editions:
        return None
    middle = date(year, 7, 1)
    return min(
        editions,
        key=lambda d: (
            abs((date.fromisoformat(d.edition) - middle).days),
            -date.fromisoformat(d.edition).toordinal(),
            _descending(d.version),
            d.format != "GPKG",
        ),
    )


def _descending(version: str) -> tuple[int, ...]:
    return tuple(-int(n) for n in version.split("-"))


def dalle_bounds(name: str, step_m: float = DALLE_STEP_M) -> Bounds | None:
    """The bounds of a BD ORTHO dalle from its file name (X = left, Y = top edge, in km)."""
    match = _DALLE.match(Path(name).name)
    if not match:
        return None
    left, top = int(match["x"]) * 1000.0, int(match["y"]) * 1000.0
    return (left, top - step_m, left + step_m, top)


def dalle_step(names: Iterable[str]) -> float:
    """The dalle size of a delivery: the smallest spacing between its dalle corners (5 km if alone)."""
    corners = [b for b in (dalle_bounds(n) for n in names) if b]
    spacings = [
        abs(a - b) for axis in (0, 3) for a, b in pairwise(sorted({c[axis] for c in corners})) if a != b
    ]
    return min(spacings, default=DALLE_STEP_M)


def pick_dalles(names: list[str], area: Bounds | None) -> list[str]:
    """The dalles meeting ``area`` (all when None) and their companion files (.tab, .aux.xml...)."""
    step = dalle_step(names)
    dalles = []
    for name in names:
        box = dalle_bounds(name, step)
        if box and (area is None or bounds_overlap(box, area)):
            dalles.append(name)
    stems = tuple(name.rsplit(".", 1)[0] + "." for name in dalles)
    return dalles + [n for n in names if n not in dalles and n.startswith(stems)]


def describe_spans(spans: list[tuple[int, int]]) -> str:
    """Years covered by (first, last) spans, condensed: ``1950-1965, 2000-2005, 2015``."""
    years = sorted({y for first, last in spans for y in range(first, last + 1)})
    runs: list[list[int]] = []
    for year in years:
        if runs and year == runs[-1][1] + 1:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in runs)
