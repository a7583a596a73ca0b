"""Embed many tiles with a model, chunk by chunk, resuming an interrupted run.

Tiles are read (and resampled to the model's input size) a chunk at a time, so memory stays
bounded for national-scale folders, and go through ``Embedder.embed`` (``model.predict`` on
uint8 arrays); the next chunk is read in a background thread while the model embeds the
current one (GDAL, numpy's copies and the backend all release the GIL).

A workspace's tiles are read through its packed tile cache (:mod:`geosiam.model.cache`, the
format training uses, under ``cache/tiles/``): the first embedding packs each chunk as it reads
it (resumable, like the embedding itself), later ones (another run, ``eval``, ``search``) only
copy rows out of the memory map, at the speed of ``model.predict`` on in-memory arrays.
Arbitrary GeoTIFFs are read from their files each time. Finished chunks are kept in a hidden
partial array beside the output with a small state file; running the same command again (same
tiles, same model) continues where it stopped, and does nothing once it is complete. The output
pair (``vectors.npy`` + table) appears only when every tile is done.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geosiam import atomic
from geosiam.config import fingerprint
from geosiam.errors import WorkspaceError
from geosiam.model.cache import Packing, PairCache, PairFiles, begin_packing, chunk_rows
from geosiam.model.labels import NO_LABELS
from geosiam.progress import progress
from geosiam.retrieval.descriptors import (
    Descriptors,
    check_vectors_path,
    read_descriptors,
    write_descriptors,
)
from geosiam.retrieval.tilesets import TileSet
from geosiam.tiling.read import read_mask, read_tile
from geosiam.workspace import Workspace


@dataclass(frozen=True)
class EmbedStats:
    """What an embedding run did and how fast."""

    tiles: int
    resumed_from: int  # tiles already done by an interrupted run
    seconds: float  # reading + embedding, this run
    model_seconds: float  # inside Embedder.embed only

    @property
    def embedded(self) -> int:
        return self.tiles - self.resumed_from

    @property
    def images_per_s(self) -> float:
        return self.embedded / self.seconds if self.seconds else float("nan")

    @property
    def model_images_per_s(self) -> float:
        return self.embedded / self.model_seconds if self.model_seconds else float("nan")


def read_chunk(tiles: TileSet, start: int, stop: int, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Tiles ``start:stop`` as (n, size, size, 3) images and (n, size, size) masks (or None);
    a tile without a mask gets :data:`~geosiam.model.labels.NO_LABELS` throughout."""
    images = np.stack([read_tile(p, size) for p in tiles.images[start:stop]])
    if tiles.masks is None:
        return images, None
    absent = np.full((size, size), NO_LABELS, np.uint8)
    return images, np.stack([read_mask(p, size) if p else absent for p in tiles.masks[start:stop]])


def tile_files(tiles: TileSet) -> PairFiles:
    """The tiles as the one side of a packed cache."""
    masks = tiles.masks if tiles.masks is not None else [None] * len(tiles)
    return PairFiles([str(t) for t in tiles.tile_ids], (list(tiles.images),), (list(masks),))


def workspace_tile_cache(workspace: Workspace, tiles: TileSet) -> Path | None:
    """Where the packed cache of ``tiles`` lives when they are all the workspace's own tiles
    (one folder per list of files, so that the caches of other years or tile sets stay); None
    for other GeoTIFFs."""
    root = workspace.tiles_dir.resolve()
    if not workspace.settings_path.exists() or not all(
        Path(p).resolve().is_relative_to(root) for p in tiles.images
    ):
        return None
    listed = fingerprint({"images": [str(p) for p in tiles.images], "masks": tile_files(tiles).masks[0]})
    return workspace.cache_dir / "tiles" / listed[:16]


class _Reader:
    """Chunks of tiles as in-memory arrays: from their GeoTIFFs, or out of a packed cache (packing
    the rows not packed yet on the way), or out of ``packed``, rows of a complete one."""

    def __init__(
        self,
        tiles: TileSet,
        input_px: int,
        num_classes: int,
        cache_root: Path | None,
        packed: PairCache | None = None,
    ) -> None:
        self.tiles, self.input_px = tiles, input_px
        self.cache = (
            packed
            if packed is not None or cache_root is None
            else begin_packing(cache_root, tile_files(tiles), input_px, num_classes)
        )

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        if self.cache is None:
            return read_chunk(self.tiles, start, stop, self.input_px)
        if isinstance(self.cache, Packing):
            self.cache.pack(stop, desc="packing tile cache")
        masks = None if self.tiles.masks is None else np.array(self.cache.masks[0, start:stop])
        return np.array(self.cache.images[0, start:stop]), masks

    def finish(self) -> None:
        """Complete the cache: the rows not packed yet (none, unless this run resumed an
        embedding whose cache was lost) and the move into place."""
        if isinstance(self.cache, Packing):
            self.cache.finish()


def embed_tiles(
    embedder,
    tiles: TileSet,
    out: Path,
    batch_size: int = 64,
    chunk: int | None = None,
    cache_root: Path | None = None,
    packed: PairCache | None = None,
) -> tuple[Descriptors, EmbedStats]:
    """Embed ``tiles`` with ``embedder`` into ``out`` (+ its table); resumes a partial run and
    does nothing when ``out`` already holds these tiles embedded by this model. With
    ``cache_root`` (see :func:`workspace_tile_cache`) tiles are read through a packed cache;
    with ``packed`` (row i = tile i: a shard's rows of its tile set's complete cache, see
    :mod:`geosiam.retrieval.sharding`) only out of it."""
    out = check_vectors_path(out)
    finished = finished_descriptors(out, tiles, embedder.identity)
    if finished is not None:
        return finished, EmbedStats(len(tiles), len(tiles), 0.0, 0.0)
    partial = _Partial(
        out,
        fingerprint(
            {
                "images": [str(p) for p in tiles.images],
                "masks": [str(p) for p in tiles.masks or []],
                "model": embedder.identity,
                "input_px": embedder.input_px,
            }
        ),
    )
    done = partial.done()
    vectors = partial.open() if done else None
    started, model_seconds = time.perf_counter(), 0.0
    chunk = chunk or chunk_rows(embedder.input_px, batch_size)
    reader = _Reader(tiles, embedder.input_px, embedder.num_classes, cache_root, packed)
    bar = progress(total=len(tiles), initial=done, desc="embedding", unit="tile")
    bounds = [(start, min(start + chunk, len(tiles))) for start in range(done, len(tiles), chunk)]
    with ThreadPoolExecutor(max_workers=1) as pool:  # reads the next chunk while the model runs
        reads = [pool.submit(reader.read, *bounds[0])] if bounds else []
        for i, (start, stop) in enumerate(bounds):
            images, masks = reads[i].result()
            if i + 1 < len(bounds):
                reads.append(pool.submit(reader.read, *bounds[i + 1]))
            tick = time.perf_counter()
            batch = embedder.embed(images, masks, batch_size=batch_size)
            model_seconds += time.perf_counter() - tick
            if vectors is None:
                vectors = partial.create(len(tiles), batch.shape[1])
            vectors[start:stop] = batch
            partial.commit(vectors, stop)
            bar.update(stop - start)
    bar.close()
    reader.finish()
    stats = EmbedStats(len(tiles), done, time.perf_counter() - started, model_seconds)
    descriptors = write_descriptors(out, np.array(vectors), tiles.table(embedder.identity), embedder.identity)
    partial.remove()
    return descriptors, stats


def finished_descriptors(out: Path, tiles: TileSet, identity: str) -> Descriptors | None:
    """The descriptors already in ``out`` when they are these tiles by this model, else None."""
    if not out.exists():
        return None
    try:
        found = read_descriptors(out)
    except WorkspaceError:  # damaged or foreign: embedded again and replaced
        return None
    masks = list(tiles.table(identity)["mask"])
    same = (
        found.identity == identity
        and list(found.table["image"]) == [str(p) for p in tiles.images]
        and list(found.table["mask"]) == masks
    )
    return found if same else None


class _Partial:
    """The hidden partial array and state file of an unfinished embedding."""

    def __init__(self, out: Path, inputs: str) -> None:
        self.array = out.with_name(f".{out.name}.partial.npy")
        self.state = out.with_name(f".{out.name}.partial.json")
        self.inputs = inputs

    def done(self) -> int:
        """Tiles already embedded for the same inputs; 0 when none or for other inputs."""
        try:
            state = json.loads(self.state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        if state.get("inputs") != self.inputs or not self.array.exists():
            return 0
        return int(state.get("done", 0))

    def open(self) -> np.ndarray:
        return np.load(self.array, mmap_mode="r+")

    def create(self, rows: int, dim: int) -> np.ndarray:
        self.remove()
        self.array.parent.mkdir(parents=True, exist_ok=True)
        return np.lib.format.open_memmap(self.array, mode="w+", dtype=np.float32, shape=(rows, dim))

    def commit(self, vectors: np.ndarray, done: int) -> None:
        """Make the rows before ``done`` durable, then record them as done."""
        vectors.flush()
        atomic.write_text(self.state, json.dumps({"inputs": self.inputs, "done": done}))

    def remove(self) -> None:
        self.state.unlink(missing_ok=True)
        self.array.unlink(missing_ok=True)
