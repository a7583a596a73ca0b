"""``prepare`` over IGN départements one at a time: fetch, tile, burn, then the next.

An area of many départements need not fit on disk at once: each département's deliveries are
downloaded, verified and extracted, its tiles cut and its masks burnt, and, with
``--no-keep-downloads``, its archives and extracted dalles deleted before the next one is
fetched. A finished département leaves a record of its tiles under
``cache/stages/departements/``, written only once its tiles and masks are complete, so an
interrupted run resumes with the next département and downloads nothing twice. Pairs and splits
are made afterwards over all départements (:func:`geosiam.prepare.stages.pair_and_split`).

A grid cell belongs to the first département (in the order given) whose imagery of both years
covers it; a later one leaves it out. A cell across a border that no département covers alone is
cut and burnt with the next one, from the dalles (and vectors) of both where the earlier one's
files are still on disk (the default; with ``--no-keep-downloads`` they are gone, and such a cell
is kept only when one département's dalles cover it).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd

from geosiam import atomic
from geosiam.config import Settings
from geosiam.prepare.stages import make_masks, make_tiles, tiles_frame
from geosiam.rasterize.classes import load_classes
from geosiam.sources.ign import IgnSources, dalle_bounds
from geosiam.sources.labels import LabelPlan, apply_plan
from geosiam.sources.sourceset import YearSources
from geosiam.tiling.chunks import Runner
from geosiam.tiling.grid import Grid
from geosiam.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DepartementSummary:
    """What one département gave: its tiles (both years), and whether an earlier run had made them."""

    code: str
    tiles: int
    resumed: bool = False


def prepare_departements(
    workspace: Workspace,
    grid: Grid,
    settings: Settings,
    sources: IgnSources,
    labels: LabelPlan,
    runner: Runner,
    identity: str,
):
    """Every département's tiles and masks, one département at a time; returns (tiles
    GeoDataFrame of them all, unreadable raster messages, what each département gave).

    ``identity`` fingerprints what the tiles and masks depend on: a finished département's
    record made with another is redone.
    """
    frames, bad, summaries = [], [], []
    for code in sources.codes:
        frame = _finished(workspace, grid, code, identity)
        resumed, unreadable = frame is not None, []
        if not resumed:
            frame, records, unreadable = _prepare_one(
                workspace, grid, settings, sources, labels, runner, code, identity
            )
            bad += unreadable
        summaries.append(DepartementSummary(code, 0 if frame is None else len(frame), resumed))
        frames.append(frame)
        if unreadable:  # tried again on the next run: neither recorded nor released
            continue
        if not resumed:
            _record(workspace, code, identity, frame, records)
        if not settings.disk.keep_downloads:
            sources.release(code)
    made = [f for f in frames if f is not None and not f.empty]
    if not made:
        return None, bad, summaries
    tiles = pd.concat(made, ignore_index=True).sort_values(["year", "row", "col"]).reset_index(drop=True)
    tiles.attrs["classes_seen"] = sorted({c for f in made for c in f.attrs.get("classes_seen", [])})
    return tiles, bad, summaries


def _prepare_one(
    workspace: Workspace,
    grid: Grid,
    settings: Settings,
    sources: IgnSources,
    labels: LabelPlan,
    runner: Runner,
    code: str,
    identity: str,
):
    """Fetch, tile and burn département ``code``; (its tiles, its sources, unreadable raster messages)."""
    log.info("département %s: fetching its sources", code)
    records = apply_plan(sources.fetch(code), labels)
    if not records:
        log.warning("département %s has no imagery in the area; skipped", code)
        return None, [], []
    earlier = [_read_record(workspace, c, identity) for c in sources.codes[: sources.codes.index(code)]]
    earlier = [record for record in earlier if record]
    made = frozenset((r["col"], r["row"]) for record in earlier for r in record["tiles"])
    saved = [YearSources.from_dict(s) for record in earlier for s in record["sources"]]
    both = records + _bordering(records, saved)
    tiles, bad = make_tiles(workspace, grid, both, settings, runner, made, part=code)
    if tiles is None:
        return None, records, bad
    tables = {v: load_classes(settings.prepare.classes, v) for v in {r.label_version for r in both}}
    tiles = make_masks(workspace, grid, both, tiles, tables, labels, runner, part=code)
    return tiles, records, bad


def _bordering(records: list[YearSources], others: list[YearSources]) -> list[YearSources]:
    """Of the ``others`` (earlier départements' sources whose files are all still on disk), those
    with their dalles that touch a dalle of ``records`` (the same year), for the cells across the
    border; none where dalles are not named by IGN's convention (WMS-R blocks, a user's files)."""
    squares: dict[int, set[tuple[float, float]]] = {}
    for record in records:
        squares.setdefault(record.year, set()).update(
            (b[0], b[1]) for b in map(dalle_bounds, (p.name for p in record.rasters)) if b
        )
    bordering = []
    for record in others:
        if not all(Path(p).exists() for p in (*record.rasters, *record.vectors)):
            continue
        mine = squares.get(record.year, set())
        touching = tuple(Path(p) for p in record.rasters if _touches(dalle_bounds(Path(p).name), mine))
        if touching:
            bordering.append(replace(record, rasters=touching, vectors=tuple(map(Path, record.vectors))))
    return bordering


def _touches(bounds, squares: set[tuple[float, float]]) -> bool:
    """Whether a dalle of ``bounds`` (None: not a dalle) is, or is next to, one of ``squares``
    (their lower-left corners)."""
    if bounds is None:
        return False
    width, height = bounds[2] - bounds[0], bounds[3] - bounds[1]
    around = ((bounds[0] + dx * width, bounds[1] + dy * height) for dx in (-1, 0, 1) for dy in (-1, 0, 1))
    return any(corner in squares for corner in around)


def _record_path(workspace: Workspace, code: str):
    return workspace.cache_dir / "stages" / "departements" / f"{code}.json"


def _record(workspace: Workspace, code: str, identity: str, tiles, sources: list[YearSources]) -> None:
    """Record that département ``code`` is finished: its tiles' rows (no geometry: the grid's)
    and its sources (their files, for the cells across its borders)."""
    rows = [] if tiles is None else tiles.drop(columns="geometry").to_dict("records")
    classes = [] if tiles is None else tiles.attrs.get("classes_seen", [])
    record = {
        "identity": identity,
        "tiles": rows,
        "classes_seen": [int(c) for c in classes],
        "sources": [asdict(s) for s in sources],
    }
    atomic.write_text(_record_path(workspace, code), json.dumps(record, default=str))


def _read_record(workspace: Workspace, code: str, identity: str) -> dict | None:
    """The record of a département finished with ``identity``, else None."""
    try:
        record = json.loads(_record_path(workspace, code).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return record if record.get("identity") == identity else None


def _finished(workspace: Workspace, grid: Grid, code: str, identity: str):
    """The tiles of a département recorded as finished with ``identity``, else None."""
    record = _read_record(workspace, code, identity)
    if record is None:
        return None
    frame = tiles_frame(record["tiles"], grid)
    frame.attrs["classes_seen"] = record["classes_seen"]
    return frame
