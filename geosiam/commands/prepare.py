"""``geosiam prepare``: sources -> tiles -> masks -> pairs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from geosiam.commands.options import WORKSPACE, parse_bands, parse_year_map
from geosiam.config import LABEL_MODES

if TYPE_CHECKING:
    from geosiam.prepare.pipeline import PrepareSummary


def prepare(
    years: tuple[int, int] = typer.Option(
        ..., "--years", help="The two survey years, e.g. --years 2000 2015."
    ),
    sample: bool = typer.Option(
        False, "--sample", help="Use the built-in synthetic sample area (the default when no area is given)."
    ),
    dept: list[str] = typer.Option(None, "--dept", help="IGN département code (repeatable): 54, 2A, 971."),
    bbox: tuple[float, float, float, float] = typer.Option(
        None, "--bbox", help="Area as xmin ymin xmax ymax in the grid CRS (EPSG:2154 for IGN)."
    ),
    aoi: Path = typer.Option(
        None, "--aoi", exists=True, dir_okay=False, help="Area as a vector file (any CRS)."
    ),
    ortho: list[str] = typer.Option(
        None, "--ortho", help="YEAR=PATH: your own rasters (file, folder or glob) for a year."
    ),
    topo: list[str] = typer.Option(
        None, "--topo", help="YEAR=PATH: your own vectors (file, folder or glob) for a year."
    ),
    classes: Path = typer.Option(
        None,
        "--classes",
        exists=True,
        dir_okay=False,
        help="Class table (TOML) replacing the built-in BD TOPO table.",
    ),
    crs: str = typer.Option(None, "--crs", help="Grid CRS (default: the rasters' CRS; EPSG:2154 for IGN)."),
    tile_size_m: float = typer.Option(
        None, "--tile-size-m", help="Tile size in metres (default 1000; sample 250)."
    ),
    tile_px: int = typer.Option(None, "--tile-px", help="Tile size in pixels (default 256; sample 64)."),
    min_valid: float = typer.Option(
        None, "--min-valid", help="Drop tiles with a smaller valid (non-nodata) fraction (default 0.9)."
    ),
    bands: str = typer.Option(
        None, "--bands", help="Source bands read as red,green,blue (default 1,2,3; one-band rasters: grey)."
    ),
    resolution: str = typer.Option(
        None, "--resolution", help="BD ORTHO resolution to download: 0M50, 0M20... (default: the coarsest)."
    ),
    topo_edition: list[str] = typer.Option(
        None, "--topo-edition", help="YEAR=YYYY-MM-DD: the BD TOPO edition to use for a year."
    ),
    labels: Literal[LABEL_MODES] = typer.Option(
        None,
        "--labels",
        help="Which years get masks (default auto: both when both have labels within the gap, newer "
        "when only the newer has, else none).",
    ),
    max_label_gap: float = typer.Option(
        None,
        "--max-label-gap",
        help="Years between an image and its labels beyond which the year has none (default 3).",
    ),
    ign_url: str = typer.Option(
        None,
        "--ign-url",
        envvar="GEOSIAM_IGN_URL",
        help="Root of IGN's services (default https://data.geopf.fr).",
    ),
    keep_downloads: bool = typer.Option(
        None,
        "--keep-downloads/--no-keep-downloads",
        help="Keep IGN archives and extracted dalles (default), or delete each département's once "
        "its tiles and masks are made.",
    ),
    max_disk: float = typer.Option(
        None,
        "--max-disk",
        metavar="GB",
        help="Keep the cache (downloads, extracted dalles) under this many GB: a download that would "
        "pass it waits for room ([disk] wait_s in geosiam.toml), then is refused (default: no budget).",
    ),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Worker processes (0 = all cores)."),
    dask_scheduler: str = typer.Option(
        None,
        "--dask-scheduler",
        envvar="GEOSIAM_DASK_SCHEDULER",
        help="Run chunks on a Dask cluster (tcp://host:8786) sharing the workspace's file system.",
    ),
    seed: int = typer.Option(None, "--seed", help="Seed of the split assignment."),
    sample_km: int = typer.Option(None, "--sample-km", help="Side of the sample area in km (default 8)."),
    sample_seed: int = typer.Option(
        None, "--sample-seed", help="Seed of the sample area's world (default 0; --seed leaves it)."
    ),
    panchromatic_before: int = typer.Option(
        None, "--panchromatic-before", help="Sample campaigns before this year are grey (default 2000)."
    ),
    force: bool = typer.Option(False, "--force", help="Discard tiles and masks made with other settings."),
    workspace: Path = WORKSPACE,
) -> None:
    """Download or find the sources of two years, cut them on one grid, burn masks, pair tiles.

    With no area option, the built-in sample area is used. Re-running finishes interrupted work
    and does nothing when everything is complete.
    """
    # lazy: the prepare package loads rasterio and geopandas, which --help does without
    from geosiam.prepare.pipeline import prepare_workspace
    from geosiam.prepare.settings import resolve_settings

    overrides = {
        "years": list(years),
        "area.sample": sample or None,
        "area.depts": list(dept) if dept else None,
        "area.bbox": list(bbox) if bbox else None,
        "area.aoi": str(aoi) if aoi else None,
        "sources.ortho": parse_year_map(ortho, "--ortho") or None,
        "sources.topo": parse_year_map(topo, "--topo") or None,
        "sources.resolution": resolution,
        "sources.topo_edition": parse_year_map(topo_edition, "--topo-edition") or None,
        "sources.ign_url": ign_url,
        "disk.keep_downloads": keep_downloads,
        "disk.max_gb": max_disk,
        "labels.mode": labels,
        "labels.max_gap_years": max_label_gap,
        "prepare.classes": str(classes) if classes else None,
        "prepare.min_valid_fraction": min_valid,
        "prepare.bands": parse_bands(bands),
        "grid.crs": crs,
        "grid.tile_size_m": tile_size_m,
        "grid.tile_px": tile_px,
        "split.seed": seed,
        "sample.km": sample_km,
        "sample.seed": sample_seed,
        "sample.panchromatic_before": panchromatic_before,
    }
    resolved = resolve_settings(workspace, overrides)
    if resolved.sample_by_default:
        typer.echo("No area given: using the built-in sample area (--sample).")
    summary = prepare_workspace(
        workspace,
        resolved.settings,
        jobs=jobs or os.cpu_count() or 1,
        force=force,
        dask_scheduler=dask_scheduler,
    )
    typer.echo(describe(summary))


def describe(summary: PrepareSummary) -> str:
    """The lines ``prepare`` ends with: each département, each year's labels, what was made."""
    lines = [
        f"Département {d.code}: already prepared ({d.tiles} tiles)."
        if d.resumed
        else f"Département {d.code}: {d.tiles} tiles and their masks made."
        for d in summary.departements
    ]
    lines += [labels.describe() for labels in summary.labels]
    asked = summary.asked_label_mode
    lines.append(
        f"Label mode: {summary.label_mode}" + (f" (--labels {asked})" if asked != summary.label_mode else "")
    )
    pairs = summary.pairs
    made = (
        f"{summary.pair_count} pairs (train {pairs['train']}, val {pairs['val']}, test {pairs['test']}), "
        f"tiles per year {summary.tiles}"
    )
    if summary.already_prepared:
        lines.append(f"Workspace {summary.workspace} is already prepared ({made}); nothing to do.")
    else:
        lines.append(f"Prepared {summary.workspace}: {made}.")
    return "\n".join(lines)
