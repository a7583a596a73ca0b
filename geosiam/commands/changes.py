"""``geosiam changes``: per place, how far its two years' descriptors moved: a change map."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from geosiam.commands.options import WORKSPACE
from geosiam.config import SPLITS
from geosiam.runfolder import trained_run


def changes(
    run: str = typer.Option(
        None,
        "--run",
        help="Run whose model embeds the tiles (name in the workspace, or folder); default: the newest.",
    ),
    split: Literal[SPLITS] = typer.Option(None, "--split", help="Places of one split (default: test)."),
    every_place: bool = typer.Option(
        False, "--all", help="Every place of the workspace, whatever its split."
    ),
    output: Path = typer.Option(
        None,
        "--output",
        "-o",
        help="GeoPackage to write (layer 'changes'; changes.tif beside it). Default: in the run "
        "folder, runs/<run>/changes.gpkg (changes_<split>.gpkg for another split, changes_all.gpkg "
        "with --all).",
    ),
    top: int = typer.Option(0, "--top", min=0, help="Print the N places that changed most."),
    workspace: Path = WORKSPACE,
) -> None:
    """Map where places changed: the distance between each place's two years' descriptors.

    For each place, the cosine distance between its two years' descriptors (0: the same, 2:
    opposite) and the rank of its own older tile when its newer tile is the query. Writes a
    GeoPackage layer 'changes' styled by distance for QGIS, and a one-band float32 GeoTIFF with
    one pixel per tile on the workspace's grid (nodata elsewhere). Places of the train split were
    seen in training, so their distances understate change: the default is the test split.
    """
    # lazy: the command's modules load when it runs, so that geosiam --help starts fast
    from geosiam.errors import SettingsError
    from geosiam.retrieval.change_map import default_output, map_changes, raster_path
    from geosiam.retrieval.changes import format_top
    from geosiam.workspace import Workspace

    if every_place and split is not None:
        raise SettingsError(f"--split {split} and --all ask for different places: give one of them")
    ws = Workspace(workspace)
    ws.require_prepared()
    run_dir = trained_run(ws, run).root
    chosen = None if every_place else split or "test"
    output = output if output is not None else default_output(run_dir, chosen)
    table = map_changes(ws, run_dir, chosen, output)
    if top:
        typer.echo(format_top(table, top))
    typer.echo(f"{len(table)} places: {output} (layer 'changes'), {raster_path(output)}")
