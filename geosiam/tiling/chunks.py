"""Chunks: square groups of grid tiles processed together, in parallel over processes.

Reading a block of source imagery (or rasterising a block of vectors) once per chunk and cutting
it into tiles in memory amortises per-read and per-shape costs; chunks follow IGN's 5 km dalle
grid where the tile size divides 5 km (each dalle decoded once) and stay at most 4096 px a side,
so memory stays small whatever the area's size. Each finished chunk leaves a marker (its tile
records, as JSON) so that an interrupted stage restarts where it stopped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from pathlib import Path

from affine import Affine

from geosiam import atomic
from geosiam.errors import SettingsError
from geosiam.progress import progress
from geosiam.tiling.grid import Grid

CHUNK_PX = 1024
CHUNK_MAX_PX = 4096  # a chunk canvas is at most this many pixels a side (memory)
DASK_CONNECT_S = 5.0  # a scheduler that has not answered by then is reported as down
DALLE_M = 5000.0  # IGN BD ORTHO dalles are 5 km squares on the Lambert-93 km grid


@dataclass(frozen=True)
class Chunk:
    """A block of ``size`` x ``size`` grid cells whose lower-left cell is (col0, row0)."""

    col0: int
    row0: int
    size: int
    cells: tuple[tuple[int, int], ...]  # the cells of interest inside the block

    @property
    def key(self) -> str:
        return f"x{self.col0}_y{self.row0}"

    def transform(self, grid: Grid) -> Affine:
        """Transform of the chunk canvas (its top-left is the top-left of its top-left cell)."""
        return grid.transform(self.col0, self.row0 + self.size - 1)

    def shape(self, grid: Grid) -> tuple[int, int]:
        return (self.size * grid.tile_px, self.size * grid.tile_px)

    def bounds(self, grid: Grid) -> tuple[float, float, float, float]:
        xmin, ymin, _, _ = grid.bounds(self.col0, self.row0)
        span = self.size * grid.tile_size_m
        return (xmin, ymin, xmin + span, ymin + span)

    def cell_slices(self, grid: Grid, col: int, row: int) -> tuple[slice, slice]:
        """Row and column slices of cell (col, row) in the chunk canvas."""
        px = grid.tile_px
        top = (self.row0 + self.size - 1 - row) * px
        left = (col - self.col0) * px
        return slice(top, top + px), slice(left, left + px)


def chunk_tiles(grid: Grid) -> int:
    """Tiles per chunk side: a whole number of chunks per 5 km dalle where the grid allows it.

    A chunk edge inside a dalle makes both chunks decode the JPEG2000 codestream tiles it
    crosses; chunks that tile the 5 km dalle grid (1000 m tiles: 5 per chunk, 1280 px at
    256 px) decode each dalle once. Otherwise, chunks of about CHUNK_PX pixels.
    """
    per_dalle = DALLE_M / grid.tile_size_m
    whole = round(per_dalle)
    if abs(per_dalle - whole) > 1e-9 or whole < 1:
        return max(1, CHUNK_PX // grid.tile_px)
    fitting = [d for d in range(1, whole + 1) if whole % d == 0 and d * grid.tile_px <= CHUNK_MAX_PX]
    if not fitting:
        return max(1, CHUNK_PX // grid.tile_px)
    size = max(fitting)
    if size == whole:  # small tiles: several dalles per chunk, still on the dalle grid
        size *= max(1, CHUNK_PX // (whole * grid.tile_px))
    return size


def plan(grid: Grid, cells: Iterable[tuple[int, int]]) -> list[Chunk]:
    """Group cells into chunks aligned on multiples of the chunk size, in a stable order."""
    size = chunk_tiles(grid)
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for col, row in cells:
        groups.setdefault((col // size * size, row // size * size), []).append((col, row))
    return [
        Chunk(col0, row0, size, tuple(sorted(groups[(col0, row0)])))
        for col0, row0 in sorted(groups, key=lambda k: (k[1], k[0]))
    ]


def read_marker(path: Path, fingerprint: str) -> list[dict] | None:
    """The records of a finished chunk, or None if absent or made from other inputs."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data["records"] if data.get("fingerprint") == fingerprint else None


def write_marker(path: Path, fingerprint: str, records: list[dict]) -> None:
    atomic.write_text(path, json.dumps({"fingerprint": fingerprint, "records": records}))


@dataclass
class Runner:
    """Where chunk jobs run: this process, a pool of local processes, or a Dask cluster.

    With ``dask_scheduler`` (``tcp://host:8786``), jobs go to an existing Dask distributed
    cluster whose workers see the same workspace path (a shared file system). Local workers (see
    :func:`local_pool`): inside ``with runner:`` one pool serves every run (tiles, then masks)
    and stops at the end, so that workers start once; outside, each run starts and stops its own.
    """

    processes: int = 1
    dask_scheduler: str | None = None
    _kept: bool = field(default=False, init=False, repr=False, compare=False)
    _pool: ProcessPoolExecutor | None = field(default=None, init=False, repr=False, compare=False)

    def __enter__(self) -> Runner:
        self._kept = True
        return self

    def __exit__(self, *exc_info) -> None:
        self._kept = False
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def run(self, worker: Callable[[object], list[dict]], jobs: list, desc: str) -> list[dict]:
        """Run ``worker`` over ``jobs``; concatenate the records they return."""
        if self.dask_scheduler:
            with dask_client(self.dask_scheduler) as client:
                return _gather(client.get_executor(), worker, jobs, desc)
        if self.processes <= 1 or len(jobs) <= 1:
            # inline: simple tracebacks and no process start-up for small jobs
            return [r for job in progress(jobs, desc=desc, unit="chunk") for r in worker(job)]
        if not self._kept:
            with local_pool(min(self.processes, len(jobs))) as pool:
                return _gather(pool, worker, jobs, desc)
        if self._pool is None:
            self._pool = local_pool(self.processes)
        return _gather(self._pool, worker, jobs, desc)


PRELOAD = ["numpy", "rasterio", "shapely"]  # what every chunk worker imports (forkserver only)


def local_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, each decoding with its share of the cores.

    Workers are forked from a server that has imported numpy, rasterio and shapely once
    (``forkserver``; spawned where the platform has no fork): a spawned worker paid about 0.2 s
    of CPU to start, nearly half a 0M50 dalle's chunk of tiles (benchmarks/results/
    tiling_dalles.md). Each worker decodes JPEG2000 with ``cores // workers`` threads (GDAL's
    driver otherwise starts one per core in every process), unless ``GDAL_NUM_THREADS`` is set.
    """
    context = start_context()
    threads = os.environ.get("GDAL_NUM_THREADS") or str(decoder_threads(workers))
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_set_threads, initargs=(threads,))


def start_context() -> BaseContext:
    """How worker processes start: forked from a preloaded server where possible, else spawned."""
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    context = get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def dask_client(address: str):
    """A client of the Dask scheduler at ``address``; one that does not answer within
    DASK_CONNECT_S seconds is a one-line error (not a half-minute wait and a traceback)."""
    from distributed import Client  # lazy: Dask is needed only with --dask-scheduler

    try:
        return Client(address, timeout=DASK_CONNECT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SettingsError(
            f"the Dask scheduler {address} does not answer ({type(exc).__name__} after "
            f"{DASK_CONNECT_S:g} s): start it ('dask scheduler', then 'dask worker {address}' on each "
            "machine) or fix --dask-scheduler"
        ) from None


def _gather(executor, worker, jobs: list, desc: str) -> list[dict]:
    futures = [executor.submit(worker, job) for job in jobs]
    records: list[dict] = []
    for future in progress(as_completed(futures), total=len(futures), desc=desc, unit="chunk"):
        records.extend(future.result())
    return records


def decoder_threads(processes: int) -> int:
    """JPEG2000 decoding threads per process: the cores shared between ``processes``."""
    return max(1, (os.cpu_count() or 1) // max(1, processes))


def _set_threads(threads: str) -> None:
    """In a worker: decode with ``threads`` threads (GDAL's driver, and OpenJPEG's own default)."""
    os.environ["GDAL_NUM_THREADS"] = threads
    os.environ["OPJ_NUM_THREADS"] = threads
