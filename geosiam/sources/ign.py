"""BD ORTHO and BD TOPO from IGN's Géoplateforme download service, with the WMS-R fallback.

The service (``{ign_url}/telechargement``, reference/ign-data.md) publishes Atom feeds:
``resource/{BDORTHO|BDTOPO}?zone=D054&page=N&limit=50`` lists the deliveries of a product (paged
from 1, at most 50 a page, the root carrying ``gpf_dl:pagecount`` and ``gpf_dl:totalentries``);
``resource/{product}/{delivery}`` lists its files (7z volumes, a ``.md5``), each ``<link>`` giving
its ``length``; ``download/{product}/{delivery}/{file}`` serves a file. Delivery names follow
``PRODUCT_VERSION_BANDS-RES_FORMAT_CRS_ZONE_EDITION``; dalles inside are named
``DD-YYYY-XXXX-YYYY-LA93-0M50-E080.jp2`` with X the left and Y the **top** edge in km.

:class:`IgnSources` plans everything first (feeds only, so a missing year, or a ``--max-disk``
that cannot be met, is reported before any large download), then downloads, verifies and
extracts what the area needs département by département, and deletes a finished département's
files when asked (``--no-keep-downloads``).
"""

from __future__ import annotations

import logging
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path
from urllib.parse import unquote, urlsplit

from geosiam.config import Settings
from geosiam.errors import DownloadError, SettingsError, SourceError
from geosiam.geometry import Bounds, bounds_overlap
from geosiam.progress import progress
from geosiam.sources import archives, departements, wms
from geosiam.sources.budget import GB, DiskBudget, folder_bytes, gigabytes
from geosiam.sources.download import (
    HttpClient,
    RemoteFile,
    ensure_free_space,
    file_size,
    format_bytes,
    is_verified,
    parse_md5_file,
    partial_path,
)
from geosiam.sources.ogc import local_name, to_int
from geosiam.sources.sourceset import YearSources
from geosiam.tiling.grid import DEFAULT_TILE_PX, DEFAULT_TILE_SIZE_M
from geosiam.workspace import Workspace

log = logging.getLogger(__name__)


ORTHO = "BDORTHO"
TOPO = "BDTOPO"
TOPO_FORMATS = ("GPKG", "SHP")  # GeoPackage (v3), Shapefiles by theme (2.x: E_BATI/BATI_INDIFFERENCIE.SHP)
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
PAGE_LIMIT = 50  # the service's maximum; larger values are clamped by the server
DALLE_STEP_M = 5000.0  # BD ORTHO dalles are 5 km squares (0M50 and 0M20)
ATOM_ACCEPT = "application/atom+xml, application/xml;q=0.9"
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


# -- feeds ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    """One ``<entry>`` of a resource feed."""

    title: str
    href: str = ""
    type: str = ""
    length: int | None = None
    zone: str = ""
    edition_date: str = ""


@dataclass(frozen=True)
class FeedPage:
    entries: list[FeedEntry]
    pagecount: int | None = None
    totalentries: int | None = None
    has_next: bool = False


def parse_feed(text: str | bytes) -> FeedPage:
    """The entries and paging attributes of one page of an Atom resource feed."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise DownloadError(
            f"IGN's download service did not answer an Atom feed ({exc}): check --ign-url"
        ) from None
    if local_name(root.tag) != "feed":
        raise DownloadError(
            f"IGN's download service answered <{local_name(root.tag)}>, not an Atom feed: check --ign-url"
        )
    attributes = {local_name(k): v for k, v in root.attrib.items()}
    entries = [_entry(node) for node in root if local_name(node.tag) == "entry"]
    has_next = any(local_name(n.tag) == "link" and n.get("rel") == "next" for n in root)
    return FeedPage(
        entries, to_int(attributes.get("pagecount")), to_int(attributes.get("totalentries")), has_next
    )


def _entry(node) -> FeedEntry:
    title = zone = edition = ""
    links = []
    for child in node:
        name = local_name(child.tag)
        if name == "title":
            title = (child.text or "").strip()
        elif name == "link" and child.get("href"):
            links.append(child)
        elif name == "zone":
            zone = child.get("term") or (child.text or "").strip()
        elif name == "editionDate":
            edition = (child.text or "").strip()
    link = _main_link(links)
    return FeedEntry(
        title=title,
        href=link.get("href", "") if link is not None else "",
        type=link.get("type", "") if link is not None else "",
        length=to_int(link.get("length")) if link is not None else None,
        zone=zone,
        edition_date=edition,
    )


def _main_link(links: list):
    """The link to the entry's content: one with a length, else the first that is not 'self'."""
    with_length = [link for link in links if link.get("length")]
    if with_length:
        return with_length[0]
    others = [link for link in links if link.get("rel") not in ("self", "related", "describedby")]
    return (others or links or [None])[0]


def read_feed(client: HttpClient, url: str, params: dict | None = None) -> list[FeedEntry]:
    """Every entry of a paged feed, page 1 to the last (``pagecount``, ``totalentries`` or 'next')."""
    entries: dict[str, FeedEntry] = {}
    page = 1
    while True:
        query = {**(params or {}), "page": str(page), "limit": str(PAGE_LIMIT)}
        result = parse_feed(client.get(url, query, {"Accept": ATOM_ACCEPT}).content)
        for entry in result.entries:
            entries.setdefault(entry.title or entry.href, entry)
        if not result.entries:
            break
        if result.pagecount is not None:
            more = page < result.pagecount
        elif result.totalentries is not None:
            more = len(entries) < result.totalentries
        else:
            more = result.has_next
        if not more:
            break
        page += 1
    return list(entries.values())


# -- deliveries -----------------------------------------------------------------------------------


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


def resource_url(ign_url: str, *parts: str) -> str:
    return "/".join([ign_url.rstrip("/"), "telechargement", "resource", *parts])


def list_deliveries(client: HttpClient, ign_url: str, resource: str, zone: str) -> list[Delivery]:
    """The deliveries of ``resource`` for ``zone`` (e.g. D054), from all pages of its feed.

    BD TOPO: only the formats geosiam reads (:data:`TOPO_FORMATS`), one filtered feed each.
    """
    queries = [{"zone": zone, "format": f} for f in TOPO_FORMATS] if resource == TOPO else [{"zone": zone}]
    found = []
    for params in queries:
        for entry in read_feed(client, resource_url(ign_url, resource), params):
            delivery = parse_delivery(resource, entry.title)
            if delivery is not None and delivery.zone == zone:
                found.append(delivery)
    return found


def is_label_edition(delivery: Delivery) -> bool:
    """A BD TOPO delivery geosiam reads: a GeoPackage, or the Shapefiles of a 2.x edition."""
    return delivery.format == "GPKG" or (delivery.format == "SHP" and delivery.data_model == "2")


def delivery_files(client: HttpClient, ign_url: str, delivery: Delivery) -> list[DeliveryFile]:
    """The files of a delivery (7z volumes, .md5, readme) with their URLs and lengths."""
    files = []
    for entry in read_feed(client, resource_url(ign_url, delivery.resource, delivery.name)):
        name = unquote(urlsplit(entry.href).path.rsplit("/", 1)[-1]) if entry.href else entry.title
        name = name or entry.title
        default = "/".join(
            [ign_url.rstrip("/"), "telechargement", "download", delivery.resource, delivery.name, name]
        )
        files.append(DeliveryFile(name, _service_url(entry.href, ign_url, default), entry.length))
    return files


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


def _service_url(href: str, ign_url: str, default: str) -> str:
    """``href`` moved under ``ign_url`` (feeds name IGN's own host), else ``default``."""
    root = ign_url.rstrip("/")
    if not href:
        return default
    if href.startswith(root + "/"):
        return href
    parts = urlsplit(href)
    at = parts.path.find("/telechargement/")
    if at >= 0:
        return root + parts.path[at:] + (f"?{parts.query}" if parts.query else "")
    if not parts.scheme and href.startswith("/"):
        return root + href
    return default


# -- choices (pure) -------------------------------------------------------------------------------


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


# -- planning and fetching ------------------------------------------------------------------------


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


class IgnSources:
    """IGN's sources of an area, planned from the feeds at once, fetched département by département.

    Entering plans every (year, département) from the feeds alone, so a missing year or a disk
    budget that cannot be met is reported before any large download; :meth:`fetch` then
    downloads, verifies and extracts one département's deliveries (within ``--max-disk``), and
    :meth:`release` deletes them once the caller has made its tiles and masks.

    The area is ``settings.area.depts`` (else the départements the WFS finds in ``area``),
    clipped to ``area`` when given. Each year's nearest BD TOPO edition is named on its records
    (``label_date``, ``label_version``), but downloaded only when the label rules
    (:mod:`geosiam.sources.labels`) give that year labels. Of a 2.x Shapefile delivery, only
    ``shapefile_layers`` (lower-case file stems; None: all) are extracted.
    """

    def __init__(
        self,
        settings: Settings,
        workspace: Workspace,
        area: Bounds | None,
        shapefile_layers: set[str] | None = None,
    ) -> None:
        self.settings = settings
        self.workspace = workspace
        self.area = area
        self.shapefile_layers = shapefile_layers
        self.ign_url = settings.sources.ign_url.rstrip("/")
        self.client = HttpClient(settings.sources.http)
        keeping = settings.disk.keep_downloads
        advice = ", or add --no-keep-downloads to delete each finished département's" if keeping else ""
        self.budget = DiskBudget.of_gb(workspace.cache_dir, settings.disk.max_gb, advice)
        self.zones: list[ZonePlan] = []
        self.files: dict[str, list[DeliveryFile]] = {}
        self.labelled: set[int] = set()

    def __enter__(self) -> IgnSources:
        try:
            codes = area_departements(self.client, self.ign_url, self.settings.area.depts, self.area)
            self.zones = plan_years(self.client, self.settings, codes, self.area)
            self.labelled = _labelled_years(self.zones, self.settings)
            self.files = {
                name: delivery_files(self.client, self.ign_url, d)
                for name, d in progress(self.deliveries().items(), desc="IGN feeds", unit="delivery")
            }
            check_budget(self.archive_sizes(), self.settings.disk.max_gb, self.settings.disk.keep_downloads)
        except BaseException:
            self.client.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()

    @property
    def codes(self) -> list[str]:
        """The départements, in the order given (or found)."""
        return list(dict.fromkeys(z.code for z in self.zones))

    def deliveries(self, code: str | None = None) -> dict[str, Delivery]:
        """The deliveries to download (of département ``code``, or all): BD ORTHO archives, and
        the BD TOPO editions of the years that get labels."""
        zones = [z for z in self.zones if code is None or z.code == code]
        orthos = {z.ortho.name: z.ortho for z in zones if z.ortho}
        return orthos | {z.topo.name: z.topo for z in zones if z.topo and z.year in self.labelled}

    def archive_sizes(self) -> dict[str, dict[str, int]]:
        """``{code: {archive part: announced bytes}}`` (parts without a length left out)."""
        return {
            code: {
                f.name: f.length
                for name, delivery in self.deliveries(code).items()
                for f in archive_parts(delivery, self.files[name])
                if f.length is not None
            }
            for code in self.codes
        }

    def candidates(self) -> list[YearSources]:
        """One record per (year, département) naming its nearest BD TOPO edition, and nothing
        else: what the label rules need, before anything is downloaded."""
        return [YearSources(z.year, (), zone=z.code, **_label_fields(z.topo)) for z in self.zones]

    def fetch(self, code: str) -> list[YearSources]:
        """Each year's BD ORTHO dalles (or WMS-R blocks) and BD TOPO vectors of département ``code``."""
        deliveries = self.deliveries(code)
        downloads = self.workspace.cache_dir / "downloads"
        parts = _download_all(self.client, deliveries, self.files, downloads, self.budget)
        records = []
        for zone in self.zones:
            if zone.code == code:
                record = _year_sources(
                    self.client,
                    self.settings,
                    self.workspace,
                    zone,
                    parts,
                    self.area,
                    self.shapefile_layers,
                    self.budget.reserve if self.budget else None,
                )
                if record is not None:
                    records.append(record)
        return records

    def release(self, code: str) -> int:
        """Delete the archives and extracted files of département ``code``; the bytes freed."""
        cache = self.workspace.cache_dir
        freed = 0
        for name, delivery in self.deliveries(code).items():
            for folder in (cache / "downloads" / delivery.resource / name, cache / "extracted" / name):
                freed += folder_bytes(folder)
                shutil.rmtree(folder, ignore_errors=True)
        if freed:
            log.info("département %s finished: %s of downloads deleted", code, format_bytes(freed))
        return freed


def fetch_sources(
    settings: Settings,
    workspace: Workspace,
    area_bounds_2154: Bounds | None,
    shapefile_layers: set[str] | None = None,
) -> list[YearSources]:
    """Each year's sources of every département of the area, all on disk (see :class:`IgnSources`)."""
    with IgnSources(settings, workspace, area_bounds_2154, shapefile_layers) as sources:
        return [record for code in sources.codes for record in sources.fetch(code)]


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


def _labelled_years(plans: list[ZonePlan], settings: Settings) -> set[int]:
    """The years whose BD TOPO the label rules keep (an error, before any download, if the
    requested mode cannot be met)."""
    from geosiam.sources.labels import plan_labels

    candidates = [YearSources(p.year, (), **_label_fields(p.topo)) for p in plans]
    labels = settings.labels
    plan = plan_labels(candidates, settings.years, labels.mode, labels.max_gap_years)
    return {year for year, chosen in plan.years.items() if chosen.labelled}


def _label_fields(topo: Delivery | None) -> dict:
    """What a record says of its year's nearest BD TOPO edition, downloaded or not."""
    if topo is None:
        return {}
    return {"label_date": topo.edition, "label_version": topo.data_model, "extra": {"topo": topo.name}}


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


def _download_all(
    client: HttpClient,
    deliveries: dict[str, Delivery],
    files: dict[str, list[DeliveryFile]],
    downloads: Path,
    budget: DiskBudget | None = None,
) -> dict[str, list[Path]]:
    """Every delivery's 7z parts downloaded and verified; ``{delivery name: part paths}``."""
    todo = {}
    for name, delivery in deliveries.items():
        folder = downloads / delivery.resource / name
        todo[name] = (folder, archive_parts(delivery, files[name]))
    pending = [
        (folder / f.name, f)
        for folder, parts in todo.values()
        for f in parts
        if not is_verified(folder / f.name)
    ]
    needed = sum((f.length or 0) - file_size(partial_path(path)) for path, f in pending)
    if pending:
        what = f"{len(pending)} IGN archive files"
        if budget is not None:
            budget.reserve(needed, f"downloading {what}")
        ensure_free_space(downloads, max(needed, 0), what)
    total = sum(f.length or 0 for _, parts in todo.values() for f in parts)
    bar = progress(total=total or None, unit="B", unit_scale=True, unit_divisor=1024, desc="IGN downloads")
    try:
        result = {}
        for name, (folder, parts) in todo.items():
            sums = _checksums(client, files[name], parts, folder)
            result[name] = [
                client.download(RemoteFile(f.url, folder / f.name, f.length, sums.get(f.name)), overall=bar)
                for f in parts
            ]
        return result
    finally:
        bar.close()


def _checksums(
    client: HttpClient, files: list[DeliveryFile], parts: list[DeliveryFile], folder: Path
) -> dict[str, str]:
    """The MD5 of each part from the delivery's .md5 file (fetched only while a part is unverified)."""
    if all(is_verified(folder / f.name) for f in parts):
        return {}
    md5_files = [f for f in files if f.name.lower().endswith(".md5")]
    sums: dict[str, str] = {}
    for md5_file in md5_files:
        sums.update(parse_md5_file(client.text(md5_file.url)))
    unchecked = [f.name for f in parts if f.name not in sums]
    if unchecked:
        log.warning("no MD5 published for %s; checking the announced length only", ", ".join(unchecked))
    return sums


def _year_sources(
    client: HttpClient,
    settings: Settings,
    workspace: Workspace,
    plan: ZonePlan,
    parts: dict[str, list[Path]],
    area: Bounds | None,
    shapefile_layers: set[str] | None,
    reserve: Callable[[int, str], None] | None = None,
) -> YearSources | None:
    extracted = workspace.cache_dir / "extracted"
    vectors = ()
    if plan.topo and plan.topo.name in parts:
        vectors = _topo_vectors(plan.topo, parts[plan.topo.name], extracted, shapefile_layers, reserve)
    common = {"year": plan.year, "vectors": vectors, "zone": plan.code, **_label_fields(plan.topo)}
    if plan.ortho is not None:
        files = archives.extract(
            parts[plan.ortho.name],
            extracted / plan.ortho.name,
            lambda names: pick_dalles(names, area),
            reserve,
        )
        dalles = tuple(p for p in files if dalle_bounds(p.name))
        if not dalles:
            log.warning(
                "%s has no dalle in the area; département %s skipped for %d",
                plan.ortho.name,
                plan.code,
                plan.year,
            )
            return None
        return YearSources(
            rasters=dalles,
            origin=f"ign:{plan.ortho.name}",
            acquisition=plan.ortho.edition,
            **common,
        )
    g = settings.grid
    grid = (g.tile_size_m or DEFAULT_TILE_SIZE_M, g.tile_px or DEFAULT_TILE_PX, (g.origin_x, g.origin_y))
    blocks = wms.fetch_mosaic(
        client,
        settings.sources.ign_url,
        plan.capabilities,
        plan.layer,
        plan.region,
        grid,
        workspace.cache_dir / "wms",
    )
    first, last = wms.layer_years(plan.layer.name)
    return YearSources(
        rasters=tuple(blocks),
        origin=f"wms:{plan.layer.name}",
        acquisition=str(first) if first == last else f"{first}-{last}",
        year_end_mosaic=True,
        **common,
    )


def _topo_vectors(
    topo: Delivery,
    parts: list[Path],
    extracted: Path,
    layers: set[str] | None,
    reserve: Callable[[int, str], None] | None = None,
) -> tuple[Path, ...]:
    """The vector files of a BD TOPO delivery: its GeoPackage, or a 2.x edition's Shapefiles
    (theme folders ``E_BATI/BATI_INDIFFERENCIE.SHP``..., each with its .DBF, .SHX, .PRJ) of
    ``layers`` (None: all)."""
    if topo.format == "GPKG":
        files = archives.extract(
            parts,
            extracted / topo.name,
            lambda names: [n for n in names if n.lower().endswith(".gpkg")],
            reserve,
        )
    else:
        files = archives.extract(
            parts, extracted / topo.name, lambda names: _shapefiles(names, layers), reserve
        )
        files = [f for f in files if f.suffix.lower() == ".shp"]
    if not files:
        raise SourceError(
            f"{topo.name} holds no {'GeoPackage' if topo.format == 'GPKG' else 'Shapefile'}: "
            "choose another edition with --topo-edition"
        )
    return tuple(sorted(files))


def _shapefiles(names: list[str], layers: set[str] | None) -> list[str]:
    """The parts (.shp, .dbf, .shx, .prj, .cpg) of the Shapefiles of ``layers`` among ``names``."""
    chosen = []
    for name in names:
        stem, dot, suffix = Path(name).name.rpartition(".")
        if dot and f".{suffix.lower()}" in SHAPEFILE_PARTS and (layers is None or stem.lower() in layers):
            chosen.append(name)
    return chosen


# -- what exists (``geosiam sources``) -------------------------------------------------------------


@dataclass(frozen=True)
class Edition:
    """One line of ``geosiam sources``: a delivery and its size."""

    code: str
    delivery: Delivery
    size: int | None  # bytes of its 7z parts; None when the feed gives no lengths


def list_editions(client: HttpClient, ign_url: str, codes: list[str], sizes: bool = True) -> list[Edition]:
    """The RGB BD ORTHO and BD TOPO editions (GPKG, 2.x SHP) of each département, with sizes."""
    ign_url = ign_url.rstrip("/")
    found = []
    for code in codes:
        zone = departements.zone_of(code)
        found += [(code, d) for d in list_deliveries(client, ign_url, ORTHO, zone) if d.bands == "RVB"]
        found += [(code, d) for d in list_deliveries(client, ign_url, TOPO, zone) if is_label_edition(d)]
    editions = []
    for code, delivery in progress(found, desc="IGN feeds", unit="delivery"):
        size = None
        if sizes:
            lengths = [f.length for f in archive_parts(delivery, delivery_files(client, ign_url, delivery))]
            size = sum(lengths) if all(n is not None for n in lengths) else None
        editions.append(Edition(code, delivery, size))
    return editions


def describe_size(size: int | None) -> str:
    return "?" if size is None else format_bytes(size)


# -- small helpers --------------------------------------------------------------------------------


def _region(area: Bounds | None, dept: Bounds | None) -> Bounds:
    if area is None:
        return dept  # type: ignore[return-value]
    if dept is None:
        return area
    box = (max(area[0], dept[0]), max(area[1], dept[1]), min(area[2], dept[2]), min(area[3], dept[3]))
    return box if box[0] < box[2] and box[1] < box[3] else area


def _lonlat(bounds: Bounds) -> Bounds:
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    return to_lonlat.transform_bounds(*bounds)
