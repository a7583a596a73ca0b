"""IGN's deliveries of an area downloaded, verified and extracted, département by département.

:class:`IgnSources` plans everything first (:mod:`.plan`, feeds only, so a missing year, or a
``--max-disk`` that cannot be met, is reported before any large download), then downloads,
verifies and extracts what the area needs département by département (7z volumes, MD5 files,
HTTP Range resume), and deletes a finished département's files when asked
(``--no-keep-downloads``). A year without an archive gets WMS-R blocks instead.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from geosiam.config import DEFAULT_TILE_PX, DEFAULT_TILE_SIZE_M, Settings
from geosiam.errors import SourceError
from geosiam.geometry import Bounds
from geosiam.progress import progress
from geosiam.sources import archives, wms
from geosiam.sources.budget import DiskBudget, folder_bytes
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
from geosiam.sources.ign.deliveries import Delivery, DeliveryFile, archive_parts, dalle_bounds, pick_dalles
from geosiam.sources.ign.feeds import delivery_files
from geosiam.sources.ign.plan import (
    ZonePlan,
    area_departements,
    check_budget,
    label_fields,
    labelled_years,
    meeting_area,
    plan_years,
)
from geosiam.sources.sourceset import YearSources
from geosiam.workspace import Workspace

log = logging.getLogger(__name__)

SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


class IgnSources:
    """IGN's sources of an area, planned from the feeds at once, fetched département by département.

    Entering plans every (year, département) from the feeds alone (:mod:`.plan`), so a missing
    year, an area outside the départements or a disk budget that cannot be met is reported before
    any large download; :meth:`fetch` then
    downloads, verifies and extracts one département's deliveries (within ``--max-disk``), and
    :meth:`release` deletes them once the caller has made its tiles and masks.

    The area is ``settings.area.depts`` (else the départements the WFS finds in ``area``),
    clipped to ``area`` when given (a département that does not meet it is left out). Each
    year's nearest BD TOPO edition is named on its records (``label_date``, ``label_version``),
    but downloaded only when the label rules (:mod:`geosiam.sources.labels`) give that year labels.
    Of a 2.x Shapefile delivery, only ``shapefile_layers`` (lower-case file stems; None: all) are
    extracted.
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
        disk = settings.disk
        keeping = disk.keep_downloads
        advice = ", or add --no-keep-downloads to delete each finished département's" if keeping else ""
        self.budget = DiskBudget.of_gb(workspace.cache_dir, disk.max_gb, advice, disk.wait_s)
        self.zones: list[ZonePlan] = []
        self.files: dict[str, list[DeliveryFile]] = {}
        self.labelled: set[int] = set()

    def __enter__(self) -> IgnSources:
        try:
            codes = area_departements(self.client, self.ign_url, self.settings.area.depts, self.area)
            codes = meeting_area(self.client, self.ign_url, codes, self.area, self.settings.years)
            self.zones = plan_years(self.client, self.settings, codes, self.area)
            self.labelled = labelled_years(self.zones, self.settings)
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
        return [YearSources(z.year, (), zone=z.code, **label_fields(z.topo)) for z in self.zones]

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
    """One (year, département)'s record: its BD TOPO vectors, and its archive's dalles in the area
    (None when there is none) or its WMS-R blocks."""
    extracted = workspace.cache_dir / "extracted"
    vectors = ()
    if plan.topo and plan.topo.name in parts:
        vectors = _topo_vectors(plan.topo, parts[plan.topo.name], extracted, shapefile_layers, reserve)
    common = {"year": plan.year, "vectors": vectors, "zone": plan.code, **label_fields(plan.topo)}
    if plan.ortho is not None:
        return _archive_record(plan, parts[plan.ortho.name], extracted, area, reserve, common)
    return _wms_record(client, settings, workspace, plan, common)


def _archive_record(
    plan: ZonePlan,
    parts: list[Path],
    extracted: Path,
    area: Bounds | None,
    reserve: Callable[[int, str], None] | None,
    common: dict,
) -> YearSources | None:
    """The dalles of a BD ORTHO delivery that meet ``area``, extracted; None when none does."""
    files = archives.extract(
        parts, extracted / plan.ortho.name, lambda names: pick_dalles(names, area), reserve
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
        rasters=dalles, origin=f"ign:{plan.ortho.name}", acquisition=plan.ortho.edition, **common
    )


def _wms_record(client: HttpClient, settings: Settings, workspace: Workspace, plan: ZonePlan, common: dict):
    """The WMS-R blocks of a year without an archive, on the workspace's grid."""
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
