"""``geosiam index build``: FAISS indexes of a run's descriptors, one per year, for search at scale."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from geosiam.commands.options import WORKSPACE
from geosiam.config import INDEX_KINDS
from geosiam.runfolder import trained_run

app = typer.Typer(help="FAISS indexes of a run's descriptors (search at scale).", no_args_is_help=True)


@app.command("build")
def build(
    run: str = typer.Option(
        None,
        "--run",
        help="Run whose descriptors to index (name in the workspace, or folder); default: the newest.",
    ),
    kind: Literal[INDEX_KINDS] = typer.Option(
        "auto",
        "--kind",
        help="Index (default auto: exact up to 100,000 descriptors, ivf above; flat: exact; ivfpq: "
        "compressed codes, re-ranked exactly).",
    ),
    workspace: Path = WORKSPACE,
) -> None:
    """Index the run's descriptors of each of the workspace's years (runs/<run>/index/<year>.faiss).

    'geosiam search' then goes through the index of the year it searches in ('geosiam changes'
    still ranks exactly). An approximate index is tuned as it is built (nprobe or efSearch) to
    find 99% of the exact top 5.
    """
    # lazy: the command's modules load when it runs, so that geosiam --help starts fast
    from geosiam.retrieval.search_index import build_year_index, index_path, run_descriptors
    from geosiam.workspace import Workspace

    ws = Workspace(workspace)
    years = ws.require_prepared().years
    run_dir = trained_run(ws, run).root
    found = {year: run_descriptors(run_dir, year, ws.tiles_index) for year in years}
    for year, descriptors in found.items():
        info = build_year_index(run_dir, year, descriptors, kind)
        tuning = f", {info.parameter}={info.value} (recall@5 {info.recall:.3f})" if info.parameter else ""
        typer.echo(
            f"{year}: {info.kind} index of {info.rows} descriptors -> {index_path(run_dir, year)} "
            f"in {info.build_s:.1f} s{tuning}"
        )
