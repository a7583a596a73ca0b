"""``geosiam search``: the k places of another year that look most like a query image.

The query is any georeferenced RGB image (a workspace tile, or a user's own); it is embedded
with a run's model and compared, by cosine kNN, with descriptors of the other year: either
a descriptor file written by ``geosiam embed`` (which must come from the same model), or the
workspace's tiles of that year, embedded once and kept in ``runs/<run>/vectors/<year>.npy`` for
the next searches, and searched through the run's FAISS index of that year when
``geosiam index build`` made one (exact otherwise). The answer is a GeoDataFrame of footprints
with rank and score, written as a GeoPackage layer beside a layer with the query's footprint, to
open in QGIS.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np

from geosiam import atomic
from geosiam.errors import SettingsError, WorkspaceError
from geosiam.mining import ann
from geosiam.ranking import knn
from geosiam.retrieval.descriptors import Descriptors
from geosiam.retrieval.embedding import embed_tiles, read_chunk, workspace_tile_cache
from geosiam.retrieval.tilesets import (
    TileSet,
    find_tiles,
    inspect_tiles,
    workspace_mask_path,
    year_from_path,
)
from geosiam.runfolder import RunFolder
from geosiam.workspace import Workspace

MATCH_COLUMNS = ["rank", "score", "tile_id", "year", "image"]


def query_tiles(
    image: Path,
    input_px: int,
    need_mask: bool,
    mask: Path | None,
    year: int | None,
    optional_mask: bool = False,
    unlabelled_years: frozenset[int] | set[int] = frozenset(),
) -> TileSet:
    """The query as a one-tile TileSet (checked like any tile); its mask when the model uses one.

    With ``optional_mask`` (a fused model), a query without a mask, or of a year whose masks the
    run leaves out, is embedded from its image alone; otherwise a missing mask is an error.
    """
    image = Path(image)
    if not image.is_file():
        raise SettingsError(f"query {image} does not exist: give the path of a GeoTIFF tile")
    year = year if year is not None else year_from_path(image)
    masks = None
    if need_mask:
        mask = Path(mask) if mask else None if year in unlabelled_years else workspace_mask_path(image)
        if mask is not None and mask.exists():
            masks = [mask]
        elif optional_mask:
            masks = [None]
        else:
            raise SettingsError(
                f"the query {image} has no mask{f' (looked for {mask})' if mask else ''}: give "
                "--mask FILE, or search with a fused or image-only run"
            )
    footprints, crs = inspect_tiles([image], masks, input_px)
    return TileSet([image], masks, [image.stem], [year], footprints, crs)


def embed_query(embedder, query: TileSet) -> np.ndarray:
    """The query's descriptor, (D,) float32."""
    images, masks = read_chunk(query, 0, 1, embedder.input_px)
    return embedder.embed(images, masks, batch_size=1)[0]


def neighbours(queries: np.ndarray, descriptors: Descriptors, k: int, year: int | None = None, index=None):
    """The ``k`` rows of ``descriptors`` (of ``year`` when given) most similar to each query:
    (scores, rows), best first, rows -1 where fewer; through ``index`` (the run's FAISS index of
    exactly these descriptors, which hold one year) when one is given, else exact."""
    if index is not None:
        return ann.search(index, queries, k, descriptors.vectors)
    rows = np.arange(len(descriptors.vectors))
    if year is not None:
        rows = np.flatnonzero(descriptors.table["year"].to_numpy() == year)
        if not len(rows):
            years = sorted(set(int(y) for y in descriptors.table["year"]))
            raise WorkspaceError(f"the descriptors hold no tile of {year} (years: {years}): pass --in-year")
    scores, found = knn(queries, descriptors.vectors[rows], k)
    return scores, np.where(found >= 0, rows[np.maximum(found, 0)], -1)


def best_matches(vector: np.ndarray, descriptors: Descriptors, k: int, year: int | None = None, index=None):
    """The ``k`` rows of ``descriptors`` (of ``year`` when given) most similar to ``vector``
    (see :func:`neighbours`), as a table of footprints with rank and score."""
    scores, found = neighbours(vector[None, :], descriptors, k, year, index)
    picked = found[0][found[0] >= 0]
    matches = descriptors.table.iloc[picked].reset_index(drop=True)
    matches.insert(0, "score", scores[0][: len(picked)].astype(float))
    matches.insert(0, "rank", np.arange(1, len(picked) + 1))
    return matches[MATCH_COLUMNS + ["geometry"]]


def target_year(query_year: int, in_year: int | None, years: list[int], where: str) -> int | None:
    """The year to search in: ``in_year``, else the one of ``years`` that is not the query's.

    None when every year may be searched (``years`` has a single one).
    """
    if in_year is not None:
        return in_year
    if len(years) <= 1:
        return None
    others = [y for y in years if y != query_year]
    if query_year == 0 or len(others) != 1:
        raise SettingsError(
            f"cannot tell which year to search in {where} (years {years}, query year "
            f"{query_year or 'unknown'}): pass --year (the query's) or --in-year"
        )
    return others[0]


def workspace_descriptors(
    workspace: Workspace, run_dir: Path, embedder, year: int, masked: bool = True
) -> Descriptors:
    """Descriptors of the workspace's tiles of ``year`` by this run's model, embedded once (kept
    in ``runs/<run>/vectors/<year>.npy``; redone when the tiles or the model change). With
    ``masked`` False the year's masks are not read: a fused model embeds its images alone."""
    tiles = find_tiles(workspace.tiles_index, embedder.input_px, masked and embedder.uses_masks, year=year)
    out = RunFolder(Path(run_dir)).vectors_path(year)
    return embed_tiles(embedder, tiles, out, cache_root=workspace_tile_cache(workspace, tiles))[0]


def write_matches(path: Path, matches, query: TileSet) -> None:
    """A GeoPackage with the layers ``matches`` and ``query`` (footprints), written atomically."""

    query_layer = gpd.GeoDataFrame(
        {"image": [str(query.images[0])], "year": query.years}, geometry=query.footprints, crs=query.crs
    )
    with atomic.atomic_path(path, suffix=".gpkg") as tmp:
        matches.to_file(tmp, layer="matches", driver="GPKG")
        query_layer.to_file(tmp, layer="query", driver="GPKG")


def format_matches(matches) -> str:
    """The matches as an aligned text table (rank, score, tile id, year, footprint bounds)."""
    lines = [f"{'rank':>4}  {'score':>6}  {'tile_id':<16} {'year':>4}  footprint (xmin ymin xmax ymax)"]
    for row in matches.itertuples():
        bounds = " ".join(f"{v:.1f}" for v in row.geometry.bounds)
        lines.append(f"{row.rank:>4}  {row.score:>6.3f}  {row.tile_id:<16} {row.year:>4}  {bounds}")
    return "\n".join(lines)
