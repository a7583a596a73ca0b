"""``geosiam embed``: tiles -> L2-normalised descriptors (vectors.npy) and their table."""

from __future__ import annotations

from pathlib import Path

import typer

from geosiam.commands.options import WORKSPACE
from geosiam.runfolder import RunFolder, trained_run


def embed(
    tiles: str = typer.Argument(
        ...,
        help="The tiles: a folder (searched recursively), a glob ('tiles/2015/*.tif') or a tiles.gpkg.",
    ),
    output: Path = typer.Option(
        Path("vectors.npy"),
        "--output",
        "-o",
        help="Descriptor file (.npy); its table is written beside it (.gpkg).",
    ),
    run: str = typer.Option(
        None,
        "--run",
        help="Run (name in the workspace, or folder) whose model embeds; default: the newest.",
    ),
    masks: Path = typer.Option(
        None,
        "--masks",
        exists=True,
        file_okay=False,
        help="Folder of the tiles' masks (default: the workspace's masks/<year>/).",
    ),
    year: int = typer.Option(
        None,
        "--year",
        help="Year of the tiles, when neither tiles.gpkg nor a folder name says it.",
    ),
    no_masks: bool = typer.Option(
        False,
        "--no-masks",
        help="Embed from the images alone, even where masks exist (a fused run's image-only input).",
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Images per model call."),
    shards: int = typer.Option(
        1,
        "--shards",
        min=1,
        help="Split the tiles into N shards of whole batches embedded by N processes (each resumable); "
        "a workspace's tiles are read from its packed cache (each shard packs its rows on the first run).",
    ),
    dask_scheduler: str = typer.Option(
        None,
        "--dask-scheduler",
        help="Embed the shards on an existing Dask cluster (tcp://host:8786); its workers must see "
        "the same paths.",
    ),
    workspace: Path = WORKSPACE,
) -> None:
    """Embed tiles (from prepare, or any georeferenced RGB GeoTIFFs) with a trained run's model.

    Row i of the array is row i of the table (tile path, id, year, footprint, model identity).
    A workspace's own tiles are read through its packed tile cache (cache/tiles/, packed on the
    first embedding, then only sliced); other GeoTIFFs from their files.
    A fused run embeds a tile without labels (a year without them, or one its labels leave out:
    those masks are never read) from its image alone. An interrupted run resumes when the same
    command is run again; a complete one is kept.
    """
    # lazy: the command's modules load when it runs, so that geosiam --help starts fast
    from geosiam.errors import SettingsError
    from geosiam.model.embedder import load_embedder
    from geosiam.model.labels import unlabelled_years
    from geosiam.retrieval.descriptors import check_vectors_path, table_path
    from geosiam.retrieval.embedding import embed_tiles, workspace_tile_cache
    from geosiam.retrieval.sharding import embed_sharded
    from geosiam.retrieval.tilesets import find_tiles
    from geosiam.workspace import Workspace

    output = check_vectors_path(output)
    ws = Workspace(workspace)
    run_dir = trained_run(ws, run).root
    embedder = load_embedder(run_dir)
    if no_masks and embedder.mask_only:
        raise SettingsError(
            f"run {run_dir.name} is mask-only: it cannot embed without masks; drop --no-masks"
        )
    skipped = unlabelled_years(RunFolder(run_dir).load_settings())
    found = find_tiles(tiles, embedder.input_px, embedder.uses_masks and not no_masks, masks, year, skipped)
    cache_root = workspace_tile_cache(ws, found)
    if shards > 1 or dask_scheduler:
        descriptors, stats = embed_sharded(
            run_dir, embedder, found, output, shards, dask_scheduler, batch_size, cache_root=cache_root
        )
    else:
        descriptors, stats = embed_tiles(
            embedder, found, output, batch_size=batch_size, cache_root=cache_root
        )
    if not stats.embedded:
        typer.echo(f"{output} already holds these {len(found)} tiles embedded by run {run_dir.name}")
        return
    resumed = f", resumed after {stats.resumed_from}" if stats.resumed_from else ""
    if embedder.uses_masks:
        alone = len(found) if found.masks is None else sum(m is None for m in found.masks)
        resumed += f"; {alone} tile(s) without labels, from their images alone" if alone else ""
    typer.echo(
        f"{len(found)} tiles -> {output} ({descriptors.vectors.shape[1]}-d) and "
        f"{table_path(output).name}; run {run_dir.name}; {stats.images_per_s:.1f} img/s "
        f"overall, {stats.model_images_per_s:.1f} img/s in the model{resumed}"
    )
