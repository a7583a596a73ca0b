"""Embedding in shards: separate processes, or the workers of an existing Dask cluster.

The tiles are cut into ``shards`` contiguous runs, whole batches each (so that every model call
sees the batches of a serial run and the vectors are bit-identical to it); each shard is embedded
by :func:`geosiam.retrieval.embedding.embed_tiles` into its own hidden descriptor file beside the
output, so that a finished shard is never redone and an interrupted one resumes from its last
chunk. A workspace's own tiles go through its tile cache: once it is packed, each shard only
slices its rows of the memory map; until then, each shard packs its own rows as it embeds them
(into a cache of its own under the cache's ``.shards/``: one writer per cache, resumable like the
serial path), and this process joins them into the tile set's cache at the end, removing each
once copied. Other GeoTIFFs are read from their files by the shards. Each worker process loads
the run's model once, whatever the number of shards it embeds. When every shard is done, their
rows are joined in the tiles' order into one array and one table, as a serial run writes them,
and the shard files are removed. The jobs go through :class:`geosiam.tiling.chunks.Runner`, the
same engine as ``prepare`` (local processes, or ``--dask-scheduler`` with workers that see the
same paths, the cache's included).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from geosiam.errors import ModelError, WorkspaceError
from geosiam.model.cache import (
    Packing,
    PairCache,
    begin_packing,
    load_pair_cache,
    open_pair_cache,
    packed_cache,
)
from geosiam.model.embedder import Embedder, load_embedder
from geosiam.retrieval.descriptors import Descriptors, read_descriptors, table_path, write_descriptors
from geosiam.retrieval.embedding import EmbedStats, embed_tiles, finished_descriptors, tile_files
from geosiam.retrieval.tilesets import TileSet
from geosiam.tiling.chunks import Runner


@dataclass(frozen=True)
class ShardJob:
    """One shard: the run whose model embeds (and the model's identity), its tiles, the
    descriptor file it writes, and where its tiles are read: rows ``first_row:first_row +
    len(tiles)`` of the packed cache ``cache`` (a complete one, of the whole tile set), or
    through a cache of its own packed under ``pack_into``, or else from their GeoTIFFs."""

    run_dir: Path
    identity: str
    tiles: TileSet
    out: Path
    batch_size: int
    cache: Path | None = None
    first_row: int = 0
    pack_into: Path | None = None
    chunk: int | None = None  # tiles per chunk (default: embed_tiles')


SEGMENTS = ".shards"  # under a tile cache's root: the caches the shards pack, until joined


def segment_root(cache_root: Path, index: int, count: int) -> Path:
    """Where shard ``index`` (0-based) of ``count`` packs the cache of its own rows."""
    return cache_root / SEGMENTS / f"{index + 1}of{count}"


def shard_path(out: Path, index: int, count: int) -> Path:
    """The hidden descriptor file of shard ``index`` (0-based) of ``count``, beside ``out``."""
    return out.with_name(f".{out.stem}.shard{index + 1}of{count}.npy")


def split_tiles(tiles: TileSet, count: int, whole: int = 1) -> list[TileSet]:
    """``tiles`` cut into at most ``count`` contiguous, non-empty runs of near-equal length, each
    but the last a multiple of ``whole`` tiles."""
    cuts = (np.linspace(0, len(tiles), count + 1) / whole).round().astype(int) * whole
    bounds = np.unique(np.append(np.minimum(cuts[:-1], len(tiles)), len(tiles)))
    return [_subset(tiles, start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]


def _subset(tiles: TileSet, start: int, stop: int) -> TileSet:
    return replace(
        tiles,
        images=tiles.images[start:stop],
        masks=None if tiles.masks is None else tiles.masks[start:stop],
        tile_ids=tiles.tile_ids[start:stop],
        years=tiles.years[start:stop],
        footprints=list(tiles.footprints[start:stop]),
    )


_MODELS: dict[str, Embedder] = {}  # model identity -> Embedder, loaded once per worker process


def embed_shard(job: ShardJob) -> list[dict]:
    """Embed one shard (resuming it, or nothing when it is finished); runs in a worker."""
    packed = None if job.cache is None else cache_rows(job.cache, job.first_row, len(job.tiles))
    _, stats = embed_tiles(
        shard_model(job.run_dir, job.identity),
        job.tiles,
        job.out,
        batch_size=job.batch_size,
        chunk=job.chunk,
        cache_root=job.pack_into,
        packed=packed,
    )
    return [{"tiles": stats.tiles, "resumed_from": stats.resumed_from, "model_seconds": stats.model_seconds}]


def shard_model(run_dir: Path, identity: str) -> Embedder:
    """The model ``identity`` of ``run_dir``, loaded once per process (a Dask worker outlives a
    command: a run trained again has another identity)."""
    if identity not in _MODELS:
        embedder = load_embedder(run_dir)
        if embedder.identity != identity:
            raise ModelError(
                f"the model of {run_dir} changed while embedding: run the same command again "
                "(the shards embedded by the former model are embedded again)"
            )
        _MODELS[identity] = embedder
    return _MODELS[identity]


def cache_rows(folder: Path, start: int, rows: int) -> PairCache:
    """Rows ``start:start + rows`` of the complete packed cache in ``folder`` (memory-mapped)."""
    try:
        cache = open_pair_cache(folder)
    except FileNotFoundError:
        raise WorkspaceError(
            f"the tile cache {folder} was removed while embedding (its tiles changed?): run the "
            "same command again; finished shards are kept"
        ) from None
    stop = start + rows
    return replace(
        cache,
        pair_ids=cache.pair_ids[start:stop],
        images=cache.images[:, start:stop],
        masks=cache.masks[:, start:stop],
    )


def embed_sharded(
    run_dir: Path,
    embedder: Embedder,
    tiles: TileSet,
    out: Path,
    shards: int,
    dask_scheduler: str | None = None,
    batch_size: int = 64,
    processes: int | None = None,
    cache_root: Path | None = None,
    chunk: int | None = None,
) -> tuple[Descriptors, EmbedStats]:
    """Embed ``tiles`` with the model of ``run_dir`` (``embedder``, loaded here) into ``out`` in
    ``shards`` shards, on ``processes`` processes (default: one per shard) or on the Dask
    cluster at ``dask_scheduler``; the same files as
    :func:`~geosiam.retrieval.embedding.embed_tiles`, and nothing redone that is finished.
    With ``cache_root`` (a workspace's tiles, see
    :func:`~geosiam.retrieval.embedding.workspace_tile_cache`) the shards slice the tiles'
    packed cache, or pack their rows apart, joined into it at the end."""
    finished = finished_descriptors(out, tiles, embedder.identity)
    if finished is not None:
        return finished, EmbedStats(len(tiles), len(tiles), 0.0, 0.0)
    started = time.perf_counter()
    complete = None if cache_root is None else packed_cache(cache_root, tile_files(tiles), embedder.input_px)
    parts = split_tiles(tiles, shards, whole=batch_size)
    starts = [int(start) for start in np.cumsum([0, *map(len, parts)])[:-1]]
    packing = cache_root is not None and complete is None
    if complete is not None:  # what an interrupted sharded packing left, now of no use
        shutil.rmtree(cache_root / SEGMENTS, ignore_errors=True)
    jobs = [
        ShardJob(
            Path(run_dir),
            embedder.identity,
            part,
            shard_path(out, i, len(parts)),
            batch_size,
            cache=None if complete is None else complete.folder,
            first_row=start,
            pack_into=segment_root(cache_root, i, len(parts)) if packing else None,
            chunk=chunk,
        )
        for i, (part, start) in enumerate(zip(parts, starts))
    ]
    _MODELS[embedder.identity] = embedder  # the shards that run in this process use it
    try:
        records = Runner(processes or len(jobs), dask_scheduler=dask_scheduler).run(
            embed_shard, jobs, "shards"
        )
    finally:
        _MODELS.pop(embedder.identity, None)
    if packing:
        join_packed_shards(cache_root, tiles, parts, starts, embedder.input_px, embedder.num_classes)
    vectors = np.concatenate([read_descriptors(job.out).vectors for job in jobs])
    descriptors = write_descriptors(out, vectors, tiles.table(embedder.identity), embedder.identity)
    for job in jobs:
        job.out.unlink(missing_ok=True)
        table_path(job.out).unlink(missing_ok=True)
    stats = EmbedStats(
        len(tiles),
        sum(r["resumed_from"] for r in records),
        time.perf_counter() - started,
        sum(r["model_seconds"] for r in records),
    )
    return descriptors, stats


def join_packed_shards(
    cache_root: Path, tiles: TileSet, parts: list[TileSet], starts: list[int], input_px: int, num_classes: int
) -> None:
    """The packed cache of ``tiles`` made of the caches its shards (``parts``, starting at rows
    ``starts``) packed apart, copied in order, each removed once copied (resumable: the rows
    copied are committed; a shard's cache that is missing is packed here from its files)."""
    packing = begin_packing(cache_root, tile_files(tiles), input_px, num_classes)
    if isinstance(packing, Packing):
        for i, (part, start) in enumerate(zip(parts, starts)):
            root = segment_root(cache_root, i, len(parts))
            if start + len(part) > packing.done:
                packing.copy_in(start, load_pair_cache(root, tile_files(part), input_px, num_classes))
            shutil.rmtree(root, ignore_errors=True)
        packing.finish()
    shutil.rmtree(cache_root / SEGMENTS, ignore_errors=True)
