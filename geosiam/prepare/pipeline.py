"""``geosiam prepare`` end to end: settings -> sources -> tiles -> masks -> pairs.

Each stage reads what the previous one wrote and records finished chunks, so an interrupted
``prepare`` resumes where it stopped, and a complete workspace is recognised without touching
the network or the files. :func:`prepare_workspace` returns a :class:`PrepareSummary`; the
command (``commands/prepare.py``) prints it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from geosiam import atomic
from geosiam.config import Settings, fingerprint, save_settings, to_dict
from geosiam.errors import SourceError
from geosiam.prepare.publish import publish
from geosiam.prepare.stac import COLLECTION_FILE, STAC_DIR
from geosiam.prepare.stages import make_masks, make_tiles, pair_and_split
from geosiam.prepare.streaming import DepartementSummary, prepare_departements
from geosiam.rasterize.classes import data_model_of, load_classes
from geosiam.rasterize.vectors import layer_names
from geosiam.sources import sample
from geosiam.sources.area import area_bounds
from geosiam.sources.ign import IgnSources
from geosiam.sources.labels import LabelPlan, YearLabels, apply_plan, plan_labels
from geosiam.sources.local import local_sources
from geosiam.sources.sourceset import YearSources, by_year
from geosiam.tiling.chunks import Runner
from geosiam.tiling.grid import Grid, grid_of
from geosiam.workspace import Workspace, bind, check_claim, data_identity

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class PrepareSummary:
    """What a ``prepare`` made, or found already made."""

    workspace: Path
    tiles: dict[int, int]  # tiles per year
    pairs: dict[str, int]  # pairs per split (train, val, test)
    classes: list[int]  # the class ids burnt into the masks
    labels: list[YearLabels]  # each year's labels, in the order of the years
    label_mode: str  # the label mode resolved
    asked_label_mode: str  # the label mode asked (--labels)
    departements: list[DepartementSummary] = field(default_factory=list)  # IGN's, in order
    already_prepared: bool = False

    @property
    def pair_count(self) -> int:
        return sum(self.pairs.values())


def prepare_workspace(
    workspace_dir: Path, settings: Settings, jobs: int, force: bool, dask_scheduler: str | None = None
) -> PrepareSummary:
    """Run every data stage on ``jobs`` processes (or a Dask cluster); says what was made."""
    workspace = Workspace(Path(workspace_dir))
    table = load_classes(settings.prepare.classes)
    asked = {"mode": settings.labels.mode, "max_gap_years": settings.labels.max_gap_years}
    identity_data = data_identity(settings, fingerprint(table.text))
    identity = fingerprint({"data": identity_data, "split": to_dict(settings.split), "labels": asked})
    state = _read_state(workspace)
    if state.get("prepared") == identity and workspace.pairs_index.exists():
        if not (workspace.root / STAC_DIR / COLLECTION_FILE).exists():
            publish(workspace, settings, grid_of(settings), table.palette())  # prepared before they existed
        return _summary(workspace, settings, state["summary"], already_prepared=True)

    grid = grid_of(settings)
    runner = Runner(jobs, dask_scheduler)
    # the inputs are checked before the workspace (check_claim), and the settings bind it only
    # once something was prepared with them (bind): a prepare failing on its inputs locks nothing
    check = partial(check_claim, workspace, settings, table.text, force)
    if _from_ign(settings):
        # départements are recorded under the data and labels alone: another split reuses them
        departements_identity = fingerprint([identity_data, asked])
        tiles, bad, departements = _prepare_ign(
            workspace, grid, settings, runner, departements_identity, check
        )
        records = []
    else:
        records = resolve_sources(settings, workspace, grid)
        tiles, bad = _prepare_all(workspace, grid, settings, runner, records, check)
        departements = []
    pairs = pair_and_split(workspace, grid, tiles, settings, records)
    counts = {
        "tiles": {str(y): int((tiles["year"] == y).sum()) for y in settings.years},
        "pairs": {s: int((pairs["split"] == s).sum()) for s in SPLITS},
        "classes": sorted(int(c) for c in tiles.attrs.get("classes_seen", [])),
    }
    bind(workspace, settings, table.text)
    if bad:
        raise SourceError(
            f"{len(bad)} raster(s) could not be read and were skipped ({'; '.join(bad)}): "
            "replace or remove them and run prepare again; everything else is prepared"
        )
    publish(workspace, settings, grid, table.palette())
    _write_state(workspace, {"prepared": identity, "summary": counts})
    return _summary(workspace, settings, counts, departements=departements)


def _summary(workspace: Workspace, settings: Settings, counts: dict, **more) -> PrepareSummary:
    """The summary of the ``counts`` recorded in the workspace's state, with the labels its
    settings record."""
    labels = settings.labels
    return PrepareSummary(
        workspace=workspace.root,
        tiles={int(year): n for year, n in counts["tiles"].items()},
        pairs=dict(counts["pairs"]),
        classes=list(counts["classes"]),
        labels=[
            YearLabels.from_record(year, labels.years[str(year)])
            for year in settings.years
            if str(year) in labels.years
        ],
        label_mode=labels.effective,
        asked_label_mode=labels.mode,
        **more,
    )


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
    labels, records = choose_labels(settings, records)
    check()
    save_settings(settings, workspace.settings_path)
    tables = {v: load_classes(settings.prepare.classes, v) for v in {r.label_version for r in records}}
    with runner:  # one pool of workers for both stages
        tiles, bad = make_tiles(workspace, grid, records, settings, runner)
        return make_masks(workspace, grid, records, tiles, tables, labels, runner), bad


def _prepare_ign(
    workspace: Workspace,
    grid: Grid,
    settings: Settings,
    runner: Runner,
    identity: str,
    check: Callable[[], None],
):
    """Tiles and masks of IGN départements, one département at a time (:mod:`geosiam.prepare.streaming`);
    ``check`` as in :func:`_prepare_all`. (tiles, unreadable, what each département made)"""
    read = load_classes(settings.prepare.classes, "2").layers  # what a 2.x delivery must hold
    area = area_bounds(settings.area.bbox, settings.area.aoi, grid.crs)
    with IgnSources(settings, workspace, area, None if "*" in read else read) as sources, runner:
        labels, _ = choose_labels(settings, sources.candidates())
        check()
        save_settings(settings, workspace.settings_path)
        tiles, bad, departements = prepare_departements(
            workspace, grid, settings, sources, labels, runner, identity
        )
    if tiles is None:
        raise SourceError(
            "no tile was made in any département: check the area and the years"
            + (f" ({'; '.join(bad)})" if bad else "")
        )
    for year in settings.years:
        if not (tiles["year"] == year).any():
            raise SourceError(f"no sources found for {year}: check the area and the years")
    return tiles, bad, departements


def _from_ign(settings: Settings) -> bool:
    return not (settings.area.sample or settings.sources.ortho)


def resolve_sources(settings: Settings, workspace: Workspace, grid: Grid) -> list[YearSources]:
    """The files of each year, from the sample or the user's paths (IGN: :func:`_prepare_ign`)."""
    if settings.area.sample:
        records = sample.generate(workspace.cache_dir / "sample", settings.years, settings.sample)
    else:
        records = local_sources(settings.years, settings.sources.ortho, settings.sources.topo)
    years = by_year(records)
    for year in settings.years:
        if not years.get(year):
            raise SourceError(f"no sources found for {year}: check the area and the years")
    return records


def choose_labels(settings: Settings, records: list[YearSources]) -> tuple[LabelPlan, list[YearSources]]:
    """Resolve which years get labels and record it in ``settings`` (the summary tells it);
    returns the plan and the records with the vectors of unlabelled years dropped."""
    asked = settings.labels
    records = [_with_data_model(r) for r in records]
    plan = plan_labels(records, settings.years, asked.mode, asked.max_gap_years)
    for year in settings.years:
        log.info("%s", plan.years[year].describe())
    asked.resolved = plan.mode
    asked.years = {str(year): labels.record() for year, labels in plan.years.items()}
    return plan, apply_plan(records, plan)


def _with_data_model(record: YearSources) -> YearSources:
    """A record whose vectors' data model is unknown (a user's files) told by their layer names,
    so that BD TOPO 2.x Shapefiles given with --topo are read with the 2.x class table."""
    if record.label_version or not record.vectors:
        return record
    names = [name for path in record.vectors for name in layer_names(path)]
    return replace(record, label_version=data_model_of(names))


def _read_state(workspace: Workspace) -> dict:
    try:
        return json.loads(workspace.state_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_state(workspace: Workspace, state: dict) -> None:
    atomic.write_text(workspace.state_path, json.dumps(state, indent=1))
