"""``prepare`` over IGN départements one at a time: fetch, tile, burn, then the next.

An area of many départements need not fit on disk at once: each département's deliveries are
downloaded, verified and extracted, its tiles cut and its masks burnt, and, with
``--no-keep-downloads``, its archives and extracted dalles deleted before the next one is
fetched. A finished département leaves a record of its tiles under
``cache/stages/departements/``, written only once its tiles and masks are complete, so an
interrupted run resumes with the next département and downloads nothing twice. Pairs and splits
are made afterwards over all départements (:func:`geosiam.stages.pair_and_split`).

A grid cell belongs to the first département (in the order given) whose imagery of both years
covers it; a later one leaves it out.
"""

from __future__ import annotations

import json
import logging

from geosiam import atomic
from geosiam.config import Settings
from geosiam.rasterize.classes import load_classes
from geosiam.sources.ign import IgnSources
from geosiam.sources.labels import LabelPlan, apply_plan
from geosiam.tiling.chunks import Runner
from geosiam.tiling.grid import Grid
from geosiam.workspace import Workspace

log = logging.getLogger(__name__)


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
    GeoDataFrame of them all, unreadable raster messages).

    ``identity`` fingerprints what the tiles and masks depend on: a finished département's
    record made with another is redone.
    """
    import pandas as pd

    frames, bad = [], []
    for code in sources.codes:
        frame = _finished(workspace, grid, code, identity)
        if frame is None:
            frame, unreadable = _prepare_one(workspace, grid, settings, sources, labels, runner, code)
            bad += unreadable
            if unreadable:  # tried again on the next run: neither recorded nor released
                frames.append(frame)
                continue
            _record(workspace, code, identity, frame)
        else:
            print(f"Département {code}: already prepared ({len(frame)} tiles).")
        if not settings.disk.keep_downloads:
            sources.release(code)
        frames.append(frame)
    made = [f for f in frames if f is not None and not f.empty]
    if not made:
        return None, bad
    tiles = pd.concat(made, ignore_index=True).sort_values(["year", "row", "col"]).reset_index(drop=True)
    tiles.attrs["classes_seen"] = sorted({c for f in made for c in f.attrs.get("classes_seen", [])})
    return tiles, bad


def _prepare_one(
    workspace: Workspace,
    grid: Grid,
    settings: Settings,
    sources: IgnSources,
    labels: LabelPlan,
    runner: Runner,
    code: str,
):
    """Fetch, tile and burn département ``code``; (its tiles, unreadable raster messages)."""
    from geosiam.stages import make_masks, make_tiles

    print(f"Département {code}: fetching its sources.")
    records = apply_plan(sources.fetch(code), labels)
    if not records:
        log.warning("département %s has no imagery in the area; skipped", code)
        return None, []
    made = frozenset(_cells_made(workspace, grid, sources.codes[: sources.codes.index(code)]))
    tiles, bad = make_tiles(workspace, grid, records, settings, runner, made, part=code)
    if tiles is None:
        return None, bad
    tables = {v: load_classes(settings.prepare.classes, v) for v in {r.label_version for r in records}}
    tiles = make_masks(workspace, grid, records, tiles, tables, labels, runner, part=code)
    print(f"Département {code}: {len(tiles)} tiles and their masks made.")
    return tiles, bad


def _cells_made(workspace: Workspace, grid: Grid, codes: list[str]) -> set[tuple[int, int]]:
    """The grid cells of the départements ``codes`` (recorded as finished)."""
    cells = set()
    for code in codes:
        path = _record_path(workspace, code)
        if path.exists():
            cells |= {(r["col"], r["row"]) for r in json.loads(path.read_text())["tiles"]}
    return cells


def _record_path(workspace: Workspace, code: str):
    return workspace.cache_dir / "stages" / "departements" / f"{code}.json"


def _record(workspace: Workspace, code: str, identity: str, tiles) -> None:
    """Record that département ``code`` is finished: its tiles' rows (no geometry: the grid's)."""
    rows = [] if tiles is None else tiles.drop(columns="geometry").to_dict("records")
    classes = [] if tiles is None else tiles.attrs.get("classes_seen", [])
    record = {"identity": identity, "tiles": rows, "classes_seen": [int(c) for c in classes]}
    atomic.write_text(_record_path(workspace, code), json.dumps(record))


def _finished(workspace: Workspace, grid: Grid, code: str, identity: str):
    """The tiles of a département recorded as finished with ``identity``, else None."""
    import geopandas as gpd
    import shapely

    try:
        record = json.loads(_record_path(workspace, code).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if record.get("identity") != identity:
        return None
    rows = record["tiles"]
    frame = gpd.GeoDataFrame(
        rows, geometry=[shapely.box(*grid.bounds(r["col"], r["row"])) for r in rows], crs=grid.crs
    )
    frame.attrs["classes_seen"] = record["classes_seen"]
    return frame
