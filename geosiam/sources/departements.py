"""French départements: their codes, IGN's zone names for them, and where they are.

Codes are checked offline against the fixed list below (a typo is a one-line error listing the
valid codes, before any request). Where a département lies comes from IGN's WFS, layer
``ADMINEXPRESS-COG-CARTO.LATEST:departement`` (GeoJSON in EPSG:2154): it tells which départements
a ``--bbox``/``--aoi`` touches (a ``BBOX`` query, so the server tests the geometries themselves)
and, for WMS-only years, the extent to fetch. The property holding the code is the first present
of :data:`CODE_PROPERTIES`, since ADMIN EXPRESS renamed it across versions.
"""

from __future__ import annotations

import json
import re

from shapely.geometry import shape

from geosiam.errors import DownloadError, SettingsError
from geosiam.geometry import Bounds
from geosiam.sources.download import HttpClient

MAINLAND = [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B"]
OVERSEAS = ["971", "972", "973", "974", "975", "976", "977", "978"]
VALID_CODES = tuple(sorted(MAINLAND, key=lambda c: c.replace("2A", "20A").replace("2B", "20B"))) + tuple(
    OVERSEAS
)
WFS_LAYER = "ADMINEXPRESS-COG-CARTO.LATEST:departement"
CODE_PROPERTIES = ("code_insee", "insee_dep", "code_dep", "code")
WFS_PAGE = 500


def normalise_code(code: str) -> str:
    """``"54"``, ``"054"``, ``"D054"``, ``"2a"``, ``"1"`` -> ``"54"``, ``"2A"``, ``"01"``; else an error."""
    raw = str(code).strip().upper()
    text = re.sub(r"^D(?=\d|2[AB])", "", raw)
    if text.isdigit():
        text = f"{int(text):02d}"
    elif re.fullmatch(r"0?2[AB]", text):
        text = text[-2:]
    if text not in VALID_CODES:
        raise SettingsError(f"unknown département '{code}': use a code among {', '.join(VALID_CODES)}")
    return text


def zone_of(code: str) -> str:
    """IGN's zone term for a département: ``54`` -> ``D054``, ``2A`` -> ``D02A``, ``971`` -> ``D971``."""
    return "D" + normalise_code(code).rjust(3, "0")


def is_mainland(code: str) -> bool:
    return normalise_code(code) in MAINLAND


def departements(client: HttpClient, ign_url: str, bounds: Bounds | None = None) -> dict[str, Bounds]:
    """``{code: bounds in EPSG:2154}`` of the départements meeting ``bounds`` (all when None)."""
    params = {
        "SERVICE": "WFS",
        "VERSION": "2.0.0",
        "REQUEST": "GetFeature",
        "TYPENAMES": WFS_LAYER,
        "OUTPUTFORMAT": "application/json",
        "SRSNAME": "EPSG:2154",
        "COUNT": str(WFS_PAGE),
    }
    if bounds is not None:
        params["BBOX"] = ",".join(f"{v:.2f}" for v in bounds) + ",urn:ogc:def:crs:EPSG::2154"
    found: dict[str, Bounds] = {}
    start = 0
    while True:
        params["STARTINDEX"] = str(start)
        features = _features(client.text(f"{ign_url.rstrip('/')}/wfs", params))
        for feature in features:
            code = _code_of(feature.get("properties") or {})
            geometry = feature.get("geometry")
            if code and geometry:
                box = shape(geometry).bounds
                old = found.get(code)
                found[code] = box if old is None else _union(old, box)
        if len(features) < WFS_PAGE:
            return found
        start += len(features)


def departement_bounds(client: HttpClient, ign_url: str, codes: list[str]) -> dict[str, Bounds]:
    """The EPSG:2154 bounds of each of ``codes``; an error names a code the WFS does not know."""
    known = departements(client, ign_url)
    missing = [c for c in codes if c not in known]
    if missing:
        raise DownloadError(
            f"the WFS layer {WFS_LAYER} at {ign_url} has no département {', '.join(missing)}: "
            "check --ign-url, or give the area with --bbox"
        )
    return {c: known[c] for c in codes}


def _features(text: str) -> list[dict]:
    try:
        data = json.loads(text)
    except ValueError:
        raise DownloadError(
            f"the WFS did not answer GeoJSON for {WFS_LAYER} (got '{text[:80]}...'): "
            "check --ign-url, or name the départements with --dept"
        ) from None
    return data.get("features") or []


def _code_of(properties: dict) -> str | None:
    for key in CODE_PROPERTIES:
        value = properties.get(key)
        if value:
            try:
                return normalise_code(str(value))
            except SettingsError:
                return None
    return None


def _union(a: Bounds, b: Bounds) -> Bounds:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
