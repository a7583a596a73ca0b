"""What an area needs from IGN, planned from the feeds alone, before any large download.

For each year and département: the BD ORTHO delivery (else the WMS-R layer), the nearest BD TOPO
edition, and whether the label rules use it; a missing year, an area outside the départements
or a ``--max-disk`` that cannot be met is an error here, before anything is downloaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from geosiam.config import Settings
from geosiam.errors import SettingsError, SourceError
from geosiam.geometry import Bounds, bounds_overlap
from geosiam.sources import departements, wms
from geosiam.sources.budget import GB, gigabytes
from geosiam.sources.download import HttpClient
from geosiam.sources.ign.deliveries import ORTHO, TOPO, Delivery, choose_ortho, choose_topo, describe_spans
from geosiam.sources.ign.feeds import list_deliveries
from geosiam.sources.labels import plan_labels
from geosiam.sources.sourceset import YearSources

log = logging.getLogger(__name__)


@dataclass
class ZonePlan:
    """What one (year, département) will be made of."""

    year: int
    code: str  # "54"
    topo: Delivery | None  # the nearest BD TOPO edition; None when there is none or it is not used
    ortho: Delivery | None = None
    layer: wms.Layer | None = None  # the WMS fallback when there is no archive
    region: Bounds | None = None  # where to fetch the fallback
    capabilities: wms.Capabilities | None = None  # of the WMS, when the fallback is used


def area_departements(
    client: HttpClient, ign_url: str, depts: list[str], bounds: Bounds | None
) -> dict[str, Bounds | None]:
    """``{code: its bounds if known}``: the départements given, else those the WFS finds in ``bounds``."""
    if depts:
        return dict.fromkeys(departements.normalise_code(c) for c in depts)
    if bounds is None:
        raise SourceError("no area to fetch from IGN: give --dept, --bbox or --aoi")
    found = departements.departements(client, ign_url, bounds)
    if not found:
        raise SourceError(
            f"no French département meets {tuple(round(v) for v in bounds)} (EPSG:2154): "
            "check the --bbox/--aoi coordinates (Lambert-93 metres)"
        )
    return dict(sorted(found.items()))


def meeting_area(
    client: HttpClient, ign_url: str, codes: dict[str, Bounds | None], area: Bounds | None, years: list[int]
) -> dict[str, Bounds | None]:
    """Of ``codes``, the départements that meet ``area`` (all of them without an area).

    Checked on the départements' bounds (one WFS request when they were given with ``--dept``),
    so that an area outside them is an error naming the years before any archive is downloaded,
    rather than once every département was fetched for nothing; a département beside the area
    is left out, not downloaded.
    """
    if area is None:
        return codes
    unknown = [code for code, box in codes.items() if box is None]
    if unknown:
        codes = {**codes, **departements.departement_bounds(client, ign_url, unknown)}
    meeting = {code: box for code, box in codes.items() if box is not None and bounds_overlap(box, area)}
    if not meeting:
        raise SourceError(
            f"no sources for {' or '.join(map(str, years))}: the area {tuple(round(v) for v in area)} "
            f"(EPSG:2154) lies outside département(s) {', '.join(codes)}: check --bbox/--aoi, or give "
            "the départements it lies in with --dept (or no --dept: they are found from the area)"
        )
    outside = [code for code in codes if code not in meeting]
    if outside:
        log.warning("département(s) %s do not meet the area: left out", ", ".join(outside))
    return meeting


def plan_years(
    client: HttpClient, settings: Settings, codes: dict[str, Bounds | None], area: Bounds | None
) -> list[ZonePlan]:
    """For each year and département: the BD TOPO edition and the BD ORTHO delivery, else the WMS layer."""
    src = settings.sources
    ign_url = src.ign_url.rstrip("/")
    plans = []
    caps: wms.Capabilities | None = None
    for code in codes:
        zone = departements.zone_of(code)
        orthos = list_deliveries(client, ign_url, ORTHO, zone)
        topos = list_deliveries(client, ign_url, TOPO, zone)
        for year in settings.years:
            topo = choose_topo(topos, year, zone, src.topo_edition.get(str(year), ""))
            ortho = choose_ortho(orthos, year, zone, src.resolution)
            plan = ZonePlan(year, code, topo, ortho)
            if ortho is None:
                if not departements.is_mainland(code):
                    raise SourceError(_missing_year(year, code, orthos, None) + " (no WMS fallback overseas)")
                if area is None and codes[code] is None:
                    codes.update(departements.departement_bounds(client, ign_url, list(codes)))
                caps = caps or wms.capabilities(client, ign_url)
                plan.region = _region(area, codes[code])
                plan.layer = wms.ortho_layer(caps, year, _lonlat(plan.region))
                plan.capabilities = caps
                if plan.layer is None:
                    raise SourceError(_missing_year(year, code, orthos, caps))
            plans.append(plan)
    return plans


def _missing_year(year: int, code: str, orthos: list[Delivery], caps: wms.Capabilities | None) -> str:
    archived = sorted({d.year for d in orthos if d.bands == "RVB"})
    text = (
        f"no BD ORTHO for {year} in département {code}: archives exist for "
        f"{', '.join(map(str, archived)) or 'no year'}"
    )
    if caps is not None:
        spans = sorted(s for s in (wms.layer_years(n) for n in caps.layers) if s)
        text += f"; WMS-R layers cover {describe_spans(spans) or 'no year'}"
    return text + "; choose --years among these"


def check_budget(sizes: dict[str, dict[str, int]], max_gb: float, keep_downloads: bool) -> None:
    """A one-line error, before anything is downloaded, when ``--max-disk`` cannot be met: below
    the largest archive part, below one département's archives (they are on disk together), or,
    keeping every download, below them all."""
    if not max_gb:
        return
    limit = max_gb * GB
    parts = [(size, name) for per_code in sizes.values() for name, size in per_code.items()]
    if not parts:
        return
    largest, name = max(parts)
    if largest > limit:
        raise SettingsError(
            f"--max-disk {max_gb:g} is below the archive part {name} ({gigabytes(largest)}), which "
            f"must be on disk whole: raise --max-disk to at least {gigabytes(largest)}"
        )
    heaviest, code = max((sum(per_code.values()), code) for code, per_code in sizes.items())
    if heaviest > limit:
        raise SettingsError(
            f"--max-disk {max_gb:g} is below the archives of département {code} "
            f"({gigabytes(heaviest)}), which are on disk together: raise --max-disk to at least "
            f"{gigabytes(heaviest)}"
        )
    total = sum(size for size, _ in parts)
    if keep_downloads and total > limit:
        raise SettingsError(
            f"--max-disk {max_gb:g} is below the {gigabytes(total)} of archives of all "
            f"{len(sizes)} départements, which are kept: add --no-keep-downloads (each département's "
            "are deleted once its tiles and masks are made) or raise --max-disk"
        )


def labelled_years(plans: list[ZonePlan], settings: Settings) -> set[int]:
    """The years whose BD TOPO the label rules keep (an error, before any download, if the
    requested mode cannot be met)."""
    candidates = [YearSources(p.year, (), **label_fields(p.topo)) for p in plans]
    labels = settings.labels
    plan = plan_labels(candidates, settings.years, labels.mode, labels.max_gap_years)
    return {year for year, chosen in plan.years.items() if chosen.labelled}


def label_fields(topo: Delivery | None) -> dict:
    """What a record says of its year's nearest BD TOPO edition, downloaded or not."""
    if topo is None:
        return {}
    return {"label_date": topo.edition, "label_version": topo.data_model, "label_name": topo.name}


def _region(area: Bounds | None, dept: Bounds | None) -> Bounds:
    if area is None:
        return dept  # type: ignore[return-value]
    if dept is None:
        return area
    box = (max(area[0], dept[0]), max(area[1], dept[1]), min(area[2], dept[2]), min(area[3], dept[3]))
    return box if box[0] < box[2] and box[1] < box[3] else area


def _lonlat(bounds: Bounds) -> Bounds:
    from pyproj import Transformer  # lazy: pyproj is heavy; only the WMS fallback needs it

    to_lonlat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    return to_lonlat.transform_bounds(*bounds)
