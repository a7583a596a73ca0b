"""Embedding in shards: separate processes, or the workers of an existing Dask cluster.

The tiles are cut into ``shards`` contiguous runs; each shard is embedded by
:func:`geosiam.retrieval.embedding.embed_tiles` into its own hidden descriptor file beside the
output, so that a finished shard is never redone and an interrupted one resumes from its last
chunk. Each worker process loads the run's model once, whatever the number of shards it
embeds. When every shard is done, their rows are joined in the tiles' order into one array and
one table, as a serial run writes them, and the shard files are removed. The jobs go through
:class:`geosiam.tiling.chunks.Runner`, the same engine as ``prepare`` (local processes, or
``--dask-scheduler`` with workers that see the same paths).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from geosiam.model.embedder import load_embedder
from geosiam.retrieval.descriptors import Descriptors, read_descriptors, table_path, write_descriptors
from geosiam.retrieval.embedding import EmbedStats, embed_tiles, finished_descriptors
from geosiam.retrieval.tilesets import TileSet
from geosiam.tiling.chunks import Runner


@dataclass(frozen=True)
class ShardJob:
    """One shard: its tiles, the descriptor file it writes, and the run whose model embeds."""

    run_dir: Path
    tiles: TileSet
    out: Path
    batch_size: int


def shard_path(out: Path, index: int, count: int) -> Path:
    """The hidden descriptor file of shard ``index`` (0-based) of ``count``, beside ``out``."""
    return out.with_name(f".{out.stem}.shard{index + 1}of{count}.npy")


def split_tiles(tiles: TileSet, count: int) -> list[TileSet]:
    """``tiles`` cut into at most ``count`` contiguous, non-empty runs of near-equal length."""
    bounds = np.linspace(0, len(tiles), min(count, len(tiles)) + 1).round().astype(int)
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


_MODELS: dict[str, object] = {}  # run folder -> Embedder, loaded once per worker process


def embed_shard(job: ShardJob) -> list[dict]:
    """Embed one shard (resuming it, or nothing when it is finished); runs in a worker."""

    key = str(Path(job.run_dir).resolve())
    if key not in _MODELS:
        _MODELS[key] = load_embedder(job.run_dir)
    _, stats = embed_tiles(_MODELS[key], job.tiles, job.out, batch_size=job.batch_size)
    return [{"tiles": stats.tiles, "resumed_from": stats.resumed_from, "model_seconds": stats.model_seconds}]


def embed_sharded(
    run_dir: Path,
    identity: str,
    tiles: TileSet,
    out: Path,
    shards: int,
    dask_scheduler: str | None = None,
    batch_size: int = 64,
    processes: int | None = None,
) -> tuple[Descriptors, EmbedStats]:
    """Embed ``tiles`` with the run's model (``identity``) into ``out`` in ``shards`` shards, on
    ``processes`` processes (default: one per shard) or on the Dask cluster at
    ``dask_scheduler``; the same files as
    :func:`~geosiam.retrieval.embedding.embed_tiles`, and nothing redone that is finished."""
    finished = finished_descriptors(out, tiles, identity)
    if finished is not None:
        return finished, EmbedStats(len(tiles), len(tiles), 0.0, 0.0)
    parts = split_tiles(tiles, shards)
    jobs = [
        ShardJob(Path(run_dir), part, shard_path(out, i, len(parts)), batch_size)
        for i, part in enumerate(parts)
    ]
    started = time.perf_counter()
    records = Runner(processes or len(jobs), dask_scheduler=dask_scheduler).run(embed_shard, jobs, "shards")
    vectors = np.concatenate([read_descriptors(job.out).vectors for job in jobs])
    descriptors = write_descriptors(out, vectors, tiles.table(identity), identity)
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
