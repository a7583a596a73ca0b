"""``geosiam prepare`` end to end: settings -> sources -> tiles -> masks -> pairs.

Each stage reads what the previous one wrote and records finished chunks, so an interrupted
``prepare`` resumes where it stopped, and a complete workspace is recognised without touching
the network or the files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from geosiam import atomic
from geosiam.config import (
    Settings,
    fingerprint,
    save_settings,
    to_dict,
    validate_years,
    with_overrides,
)
from geosiam.errors import SettingsError, SourceError
from geosiam.publish import publish
from geosiam.rasterize.classes import load_classes
from geosiam.sources.area import area_bounds
from geosiam.sources.labels import LabelPlan, YearLabels, apply_plan, check_request, plan_labels
from geosiam.sources.sourceset import YearSources, by_year
from geosiam.stac import COLLECTION_FILE, STAC_DIR
from geosiam.tiling.chunks import Runner
from geosiam.tiling.grid import DEFAULT_CRS, DEFAULT_TILE_PX, DEFAULT_TILE_SIZE_M, Grid
from geosiam.workspace import Workspace, bind, check_claim, data_identity

log = logging.getLogger(__name__)

AREA_KEYS = ("area.sample", "area.depts", "area.bbox", "area.aoi", "sources.ortho")
BLOCK_TILES = 5  # default split block: 5 x 5 tiles


def resolve_settings(workspace_dir: Path, overrides: dict) -> Settings:
    """Defaults < the workspace's geosiam.toml < command-line ``overrides``, checked."""
    workspace = Workspace(Path(workspace_dir))
    settings = workspace.load_settings() if workspace.settings_path.exists() else Settings()
    if any(overrides.get(key) for key in AREA_KEYS):
        # an area given on the command line replaces the stored one as a whole, with the grid
        # and split block it chose (what the user chose stays)
        _forget_area_defaults(settings)
        settings.area = type(settings.area)()
        settings.sources.ortho, settings.sources.topo = {}, {}
    settings = with_overrides(settings, overrides)
    _check_labels(settings)
    settings.years = validate_years(settings.years)
    area = settings.area
    chosen = [
        bool(area.sample),
        bool(area.depts),
        bool(area.bbox),
        bool(area.aoi),
        bool(settings.sources.ortho),
    ]
    if area.sample and sum(chosen) > 1:
        raise SettingsError("--sample cannot be combined with --dept/--bbox/--aoi/--ortho: pick one")
    if settings.sources.topo and not settings.sources.ortho:
        raise SettingsError("--topo needs --ortho for the same years: give your imagery too")
    if not any(chosen):
        print("No area given: using the built-in sample area (--sample).")
        area.sample = True
    _resolve_grid(settings)
    return settings


def _check_labels(settings: Settings) -> None:
    """The label options, checked before anything is fetched (years still in the order given)."""
    labels, years = settings.labels, settings.years
    check_request(labels.mode, labels.max_gap_years)
    if labels.mode == "newer" and years != sorted(years):
        given, ordered = " ".join(map(str, years)), " ".join(map(str, sorted(years)))
        raise SettingsError(
            f"--labels newer labels the newer year, but --years {given} gives it first: "
            f"give the years oldest first (--years {ordered})"
        )


def _resolve_grid(settings: Settings) -> None:
    """Fill the grid fields left to the area's defaults."""
    grid = settings.grid
    if settings.area.sample:
        from geosiam.sources.sample import sample_grid, sample_layout

        defaults = sample_grid(sample_layout(settings.sample))
        # the origin belongs to the sample (half a tile inside its corner), not to the user: a
        # workspace prepared from an earlier, differently sized sample is then told apart (claim)
        grid.origin_x, grid.origin_y = defaults["origin_x"], defaults["origin_y"]
    else:
        defaults = {"crs": DEFAULT_CRS, "tile_size_m": DEFAULT_TILE_SIZE_M, "tile_px": DEFAULT_TILE_PX}
        if settings.sources.ortho and grid.crs is None:
            grid.crs = _first_raster_crs(settings)
    grid.crs = grid.crs or defaults["crs"]
    grid.tile_size_m = grid.tile_size_m or defaults["tile_size_m"]
    grid.tile_px = grid.tile_px or defaults["tile_px"]
    if settings.split.block_size_m is None:
        settings.split.block_size_m = BLOCK_TILES * grid.tile_size_m
    if settings.area.sample:
        from geosiam.sources.sample import check_sample

        check_sample(settings)


def _forget_area_defaults(settings: Settings) -> None:
    """Unset the grid fields and split block size that hold the stored area's defaults.

    geosiam.toml records them resolved; left as they are, a sample's 250 m / 64 px grid, its
    origin and block size would stick to the IGN département that replaces it.
    """
    grid, split = settings.grid, settings.split
    if split.block_size_m == BLOCK_TILES * (grid.tile_size_m or 0):
        split.block_size_m = None
    if settings.area.sample:
        from geosiam.sources.sample import sample_grid, sample_layout

        defaults = sample_grid(sample_layout(settings.sample))
    else:
        defaults = {"crs": DEFAULT_CRS, "tile_size_m": DEFAULT_TILE_SIZE_M, "tile_px": DEFAULT_TILE_PX}
        if settings.sources.ortho:
            try:
                defaults["crs"] = _first_raster_crs(settings)
            except SourceError:  # the old rasters are gone: their CRS stays
                del defaults["crs"]
    unset = Settings().grid
    for field, value in defaults.items():
        if getattr(grid, field) == value:
            setattr(grid, field, getattr(unset, field))


def _first_raster_crs(settings: Settings) -> str:
    """The grid CRS of local data defaults to the CRS of the first year's first raster."""
    import rasterio

    from geosiam.sources.local import RASTER_SUFFIXES, find_files

    ortho = settings.sources.ortho
    given = [ortho[str(year)] for year in settings.years if str(year) in ortho] or list(ortho.values())
    # a year without --ortho is told later, with the other checks of the sources (resolve_sources)
    first = find_files(given[0], RASTER_SUFFIXES, "rasters")[0]
    try:
        with rasterio.open(first) as src:
            if src.crs is None:
                raise SourceError(f"raster {first} has no CRS: georeference it or pass --crs with its CRS")
            return src.crs.to_string()
    except rasterio.errors.RasterioIOError as exc:
        raise SourceError(f"cannot read raster {first}: {exc}") from None


def grid_of(settings: Settings) -> Grid:
    g = settings.grid
    return Grid(g.crs, g.origin_x, g.origin_y, g.tile_size_m, g.tile_px)


def prepare_workspace(
    workspace_dir: Path, settings: Settings, jobs: int, force: bool, dask_scheduler: str | None = None
) -> dict:
    """Run every data stage on ``jobs`` processes (or a Dask cluster); returns a summary."""
    workspace = Workspace(Path(workspace_dir))
    table = load_classes(settings.prepare.classes)
    asked = {"mode": settings.labels.mode, "max_gap_years": settings.labels.max_gap_years}
    identity_data = data_identity(settings, fingerprint(table.text))
    identity = fingerprint({"data": identity_data, "split": to_dict(settings.split), "labels": asked})
    state = _read_state(workspace)
    if state.get("prepared") == identity and workspace.pairs_index.exists():
        summary = state["summary"]
        if not (workspace.root / STAC_DIR / COLLECTION_FILE).exists():
            publish(workspace, settings, grid_of(settings), table.palette())  # prepared before they existed
        for year, record in sorted(settings.labels.years.items()):
            print(YearLabels.from_record(int(year), record).describe())
        print(f"Workspace {workspace.root} is already prepared ({_describe(summary)}); nothing to do.")
        return summary

    grid = grid_of(settings)
    from geosiam.stages import pair_and_split

    runner = Runner(jobs, dask_scheduler)
    # the inputs are checked before the workspace (check_claim), and the settings bind it only
    # once something was prepared with them (bind): a prepare failing on its inputs locks nothing
    check = partial(check_claim, workspace, settings, table.text, force)
    if _from_ign(settings):
        # départements are recorded under the data and labels alone: another split reuses them
        departements_identity = fingerprint([identity_data, asked])
        tiles, bad = _prepare_ign(workspace, grid, settings, runner, departements_identity, check)
        records = []
    else:
        records = resolve_sources(settings, workspace, grid)
        tiles, bad = _prepare_all(workspace, grid, settings, runner, records, check)
    pairs = pair_and_split(workspace, grid, tiles, settings, records)
    summary = {
        "tiles": {str(y): int((tiles["year"] == y).sum()) for y in settings.years},
        "pairs": {s: int((pairs["split"] == s).sum()) for s in ("train", "val", "test")},
        "classes": sorted(int(c) for c in tiles.attrs.get("classes_seen", [])),
    }
    bind(workspace, settings, table.text)
    if bad:
        raise SourceError(
            f"{len(bad)} raster(s) could not be read and were skipped ({'; '.join(bad)}): "
            "replace or remove them and run prepare again; everything else is prepared"
        )
    publish(workspace, settings, grid, table.palette())
    _write_state(workspace, {"prepared": identity, "summary": summary})
    print(f"Prepared {workspace.root}: {_describe(summary)}.")
    return summary


def _prepare_all(
    workspace: Workspace,
    grid: Grid,
    settings: Settings,
    runner: Runner,
    records: list[YearSources],
    check: Callable[[], None],
):
    """Tiles and masks of the whole area at once (the sample, a user's files); (tiles, unreadable).
    ``check`` refuses a workspace bound to other settings, once the inputs are known."""
    from geosiam.stages import make_masks, make_tiles

    labels, records = choose_labels(settings, records)
    check()
    save_settings(settings, workspace.settings_path)
    tiles, bad = make_tiles(workspace, grid, records, settings, runner)
    tables = {v: load_classes(settings.prepare.classes, v) for v in {r.label_version for r in records}}
    return make_masks(workspace, grid, records, tiles, tables, labels, runner), bad


def _prepare_ign(
    workspace: Workspace,
    grid: Grid,
    settings: Settings,
    runner: Runner,
    identity: str,
    check: Callable[[], None],
):
    """Tiles and masks of IGN départements, one département at a time (:mod:`geosiam.streaming`);
    ``check`` as in :func:`_prepare_all`."""
    from geosiam.sources.ign import IgnSources
    from geosiam.streaming import prepare_departements

    read = load_classes(settings.prepare.classes, "2").layers  # what a 2.x delivery must hold
    area = area_bounds(settings.area.bbox, settings.area.aoi, grid.crs)
    with IgnSources(settings, workspace, area, None if "*" in read else read) as sources:
        labels, _ = choose_labels(settings, sources.candidates())
        check()
        save_settings(settings, workspace.settings_path)
        tiles, bad = prepare_departements(workspace, grid, settings, sources, labels, runner, identity)
    if tiles is None:
        raise SourceError(
            "no tile was made in any département: check the area and the years"
            + (f" ({'; '.join(bad)})" if bad else "")
        )
    for year in settings.years:
        if not (tiles["year"] == year).any():
            raise SourceError(f"no sources found for {year}: check the area and the years")
    return tiles, bad


def _from_ign(settings: Settings) -> bool:
    return not (settings.area.sample or settings.sources.ortho)


def resolve_sources(settings: Settings, workspace: Workspace, grid: Grid) -> list[YearSources]:
    """The files of each year, from the sample or the user's paths (IGN: :func:`_prepare_ign`)."""
    if settings.area.sample:
        from geosiam.sources import sample

        records = sample.generate(workspace.cache_dir / "sample", settings.years, settings.sample)
    else:
        from geosiam.sources.local import local_sources

        records = local_sources(settings.years, settings.sources.ortho, settings.sources.topo)
    years = by_year(records)
    for year in settings.years:
        if not years.get(year):
            raise SourceError(f"no sources found for {year}: check the area and the years")
    return records


def choose_labels(settings: Settings, records: list[YearSources]) -> tuple[LabelPlan, list[YearSources]]:
    """Resolve which years get labels, say it (one line per year), record it in ``settings``;
    returns the plan and the records with the vectors of unlabelled years dropped."""
    asked = settings.labels
    records = [_with_data_model(r) for r in records]
    plan = plan_labels(records, settings.years, asked.mode, asked.max_gap_years)
    for year in settings.years:
        print(plan.years[year].describe())
    print(f"Label mode: {plan.mode}" + (f" (--labels {asked.mode})" if asked.mode != plan.mode else ""))
    asked.resolved = plan.mode
    asked.years = {str(year): labels.record() for year, labels in plan.years.items()}
    return plan, apply_plan(records, plan)


def _with_data_model(record: YearSources) -> YearSources:
    """A record whose vectors' data model is unknown (a user's files) told by their layer names,
    so that BD TOPO 2.x Shapefiles given with --topo are read with the 2.x class table."""
    if record.label_version or not record.vectors:
        return record
    from geosiam.rasterize.classes import data_model_of
    from geosiam.rasterize.vectors import layer_names

    names = [name for path in record.vectors for name in layer_names(path)]
    return replace(record, label_version=data_model_of(names))


def _describe(summary: dict) -> str:
    pairs = summary["pairs"]
    return (
        f"{sum(pairs.values())} pairs (train {pairs['train']}, val {pairs['val']}, "
        f"test {pairs['test']}), tiles per year {summary['tiles']}"
    )


def _read_state(workspace: Workspace) -> dict:
    try:
        return json.loads(workspace.state_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_state(workspace: Workspace, state: dict) -> None:
    atomic.write_text(workspace.state_path, json.dumps(state, indent=1))
