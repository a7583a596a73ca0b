"""``geosiam search``: the k best places of the other year for a query image."""

from __future__ import annotations

from pathlib import Path

import typer

from geosiam.commands.options import JSON, WORKSPACE, print_json
from geosiam.layer_styles import Categorized, Category, Single, Symbol, ramp_colour, write_style
from geosiam.runfolder import RunFolder, trained_run

MATCH_RAMP = ("#1a9641", "#ffffbf", "#d7191c")  # rank 1 green ... rank k red
QUERY_STYLE = Single(Symbol("#2b83ba", outline="#2b83ba", outline_mm=0.8, filled=False))


def search(
    query: Path = typer.Argument(
        ...,
        help="The query: a tile of the workspace, any georeferenced RGB GeoTIFF, or a photo "
        "without georeference (JPEG, PNG, scan).",
    ),
    k: int = typer.Option(5, "-k", min=1, help="Number of places to return."),
    vectors: Path = typer.Option(
        None,
        "--vectors",
        help="Descriptors written by 'geosiam embed' to search in "
        "(default: the workspace's tiles of the other year).",
    ),
    run: str = typer.Option(
        None,
        "--run",
        help="Run whose model embeds the query (default: the run that made --vectors, else the newest).",
    ),
    mask: Path = typer.Option(
        None,
        "--mask",
        exists=True,
        dir_okay=False,
        help="The query's mask (default: the workspace's matching mask).",
    ),
    year: int = typer.Option(None, "--year", help="The query's year, when its folder name does not say it."),
    in_year: int = typer.Option(None, "--in-year", help="Year to search in (default: the other year)."),
    output: Path = typer.Option(
        None,
        "--output",
        "-o",
        help="Write the matches as a GeoPackage (layers 'matches' and 'query').",
    ),
    gsd: float = typer.Option(
        None,
        "--gsd",
        help="A photo's scale: the ground size of one of its pixels, in metres "
        "(default: the photo's shorter side is one tile).",
    ),
    as_json: bool = JSON,
    workspace: Path = WORKSPACE,
) -> None:
    """Find where a tile's or a photo's place is in another year: ranked footprints with scores.

    A photo without georeference is cut into tiles at its scale (--gsd), embedded image-only,
    and its tiles' matches vote for footprints of the whole photo.
    """
    # lazy: the command's modules load when it runs, so that geosiam --help starts fast
    from geosiam.errors import SettingsError
    from geosiam.model.embedder import load_embedder
    from geosiam.model.labels import unlabelled_years
    from geosiam.retrieval import photo
    from geosiam.retrieval import search as lookup
    from geosiam.retrieval.descriptors import read_descriptors, require_identity
    from geosiam.retrieval.runs import run_that_made
    from geosiam.retrieval.search_index import load_year_index
    from geosiam.workspace import Workspace

    ws = Workspace(workspace)
    descriptors = read_descriptors(vectors) if vectors is not None else None
    if run is None and descriptors is not None:
        run_dir = run_that_made(ws, descriptors.identity, vectors)
    else:
        run_dir = trained_run(ws, run).root
    embedder = load_embedder(run_dir)
    if descriptors is not None:
        require_identity(descriptors, embedder.identity, vectors)
    skipped = unlabelled_years(RunFolder(run_dir).load_settings())
    is_photo = not photo.is_georeferenced(query)
    if is_photo:
        if mask is not None:
            raise SettingsError(f"{query} is a photo, searched by image only: drop --mask")
        if embedder.mask_only:
            raise SettingsError(
                f"run '{run_dir.name}' sees masks only and a photo has none: search with a run that "
                "sees images (--run)"
            )
        pixels = photo.read_photo(query)
        query_year = year or 0
    else:
        if gsd is not None:
            raise SettingsError(f"{query} is georeferenced, its scale is known: drop --gsd")
        query_set = lookup.query_tiles(
            query, embedder.input_px, embedder.uses_masks, mask, year, not embedder.mask_only, skipped
        )
        query_year = query_set.years[0]
    index = None  # a run's index serves the run's own descriptors of a year, not --vectors
    if descriptors is not None:
        years = sorted({int(y) for y in descriptors.table["year"]})
        target = lookup.target_year(query_year, in_year, years, str(vectors))
    else:
        target = lookup.target_year(query_year, in_year, ws.require_prepared().years, str(ws.root))
        descriptors = lookup.workspace_descriptors(ws, run_dir, embedder, target, target not in skipped)
        index = load_year_index(run_dir, target, descriptors, embedder.identity)
    if is_photo:
        candidates = photo.search_photo(embedder, pixels, descriptors, target, k, gsd, str(query), index)
        if as_json:
            print_json(matches_json(candidates, {"image": str(query), "year": year}, target, output))
        else:
            typer.echo(photo.format_candidates(candidates))
        if output is not None:
            photo.write_candidates(output, candidates)
            write_search_styles(output, k, query=False)
            typer.echo(f"candidate footprints written to {output} (layer 'matches')", err=as_json)
        return
    matches = lookup.best_matches(lookup.embed_query(embedder, query_set), descriptors, k, target, index)
    if as_json:
        print_json(matches_json(matches, tile_query(query_set), target, output))
    else:
        typer.echo(lookup.format_matches(matches))
    if output is not None:
        lookup.write_matches(output, matches, query_set)
        write_search_styles(output, k)
        typer.echo(f"matches written to {output} (layers 'matches' and 'query')", err=as_json)


def matches_json(matches, query: dict, in_year: int | None, output: Path | None) -> dict:
    """``search --json``: the query, the year searched, and each match (a tile, or a candidate
    footprint of a photo) with its columns and footprint bounds (xmin, ymin, xmax, ymax in ``crs``)."""
    records = [
        {**{k: v for k, v in row.items() if k != "geometry"}, "bounds": list(row["geometry"].bounds)}
        for row in matches.to_dict("records")
    ]
    return {
        "query": query,
        "in_year": in_year,
        "crs": str(matches.crs) if matches.crs else None,
        "matches": records,
        "output": str(output) if output is not None else None,
    }


def tile_query(query_set) -> dict:
    """A georeferenced query: its file, year (None when unknown) and footprint bounds."""
    return {
        "image": str(query_set.images[0]),
        "year": query_set.years[0] or None,
        "bounds": list(query_set.footprints[0].bounds),
    }


def write_search_styles(path: Path, k: int, query: bool = True) -> None:
    """QGIS styles for the search's GeoPackage: matches coloured by rank, the query outlined
    (a photo's output has no query layer)."""
    ranks = tuple(
        Category(r, ramp_colour(MATCH_RAMP, (r - 1) / max(k - 1, 1)), f"rank {r}") for r in range(1, k + 1)
    )
    write_style(path, "matches", Categorized("rank", ranks, opacity=0.6))
    if query:
        write_style(path, "query", QUERY_STYLE)
