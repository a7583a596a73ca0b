"""Tiling real-size BD ORTHO dalles against the JPEG2000 decode floor, side by side in one run.

On 0M50 dalles (10,000 px) and 0M20 dalles (25,000 px), generated once and cached
(benchmarks/dalles.py), mosaics of several dalles so that tiles cross dalle borders, at the
default grid (1000 m, 256 px) and at 500 m / 256 px. Every row but the parallel ones runs in one
process with one decoding thread (GDAL_NUM_THREADS=OPJ_NUM_THREADS=1, GDAL's tools included),
so geosiam and the floor are timed alike, in CPU seconds. Seconds per dalle (one year) for:
- the floor: each dalle decoded once, whole, at the coarsest resolution level that still meets
  the tile resolution within the oversampling tolerance (``prepare.oversampling``, 0.05);
- geosiam: tiles (``make_tiles``), masks (``make_masks``) and both, with their ratio to the floor;
  and the split of the tiles' time (decode, resample, write) from a profiled run;
- one ``gdal_translate -projwin -outsize -r average`` per tile on a VRT of the dalles (a sample of
  tiles, scaled to a dalle's tile count);
- one ``gdalwarp -tr -tap -r average`` of the mosaic to the grid resolution, then cutting it into
  tiles (rasterio windows, the same GeoTIFF writer as geosiam).
Then: the oversampling tolerance (0, 0.05) against speed and sharpness (a PNG is written to
benchmarks/results/), tile compression options on real tiles (size against time), and processes
x decoding threads (wall time, CPU time, and the busiest process's CPU: see :func:`parallelism`).
GDAL's tools come from ``apt-get install gdal-bin``; without them their rows say n/a.

    python -m benchmarks.tiling_dalles                      # everything (dalles made if not cached)
    python -m benchmarks.tiling_dalles --dalles 0M50 --parts compare parallel --jobs 1 2
    python -m benchmarks.tiling_dalles MY_DALLES/ --parts compare parallel   # your own dalles
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import itertools
import os
import pstats
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from benchmarks.common import print_table
from benchmarks.dalles import DalleSet, ensure
from geosiam.tiling.chunks import Runner

GRIDS = [(1000.0, 256), (500.0, 256)]
YEAR = 2024
PICTURE = Path(__file__).resolve().parent / "results" / "oversampling_sharpness.png"


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (GDAL's tools), in seconds.

    The machine is shared: wall-clock time counts other people's work, CPU time only ours, and
    every row runs on one core, so on an idle machine the two agree.
    """
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def best_cpu(fn: Callable[[], object], repeat: int = 2) -> float:
    """The least CPU time of ``repeat`` runs of ``fn``."""
    times = []
    for _ in range(repeat):
        started = cpu_seconds()
        fn()
        times.append(cpu_seconds() - started)
    return min(times)


PARTS = ("compare", "oversampling", "compression", "parallel")
DALLE_SETS = {"0M50": DalleSet("0M50", 2, 2), "0M20": DalleSet("0M20", 2, 1)}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", help="folders of your own *.jp2 dalles (and a *.gpkg)")
    parser.add_argument(
        "--dalles", nargs="+", choices=sorted(DALLE_SETS), default=["0M50", "0M20"], help="generated dalles"
    )
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to time")
    parser.add_argument("--jobs", nargs="+", type=int, default=[1, 2], help="processes to compare")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each parallel mode (the least counts)")
    parser.add_argument("--grids", nargs="+", type=float, default=[m for m, _ in GRIDS], help="tile sizes, m")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """The parts asked for, on the generated dalles or on the folders given."""
    args = parse_args(argv)
    cores = os.cpu_count() or 1
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({cores} cores)")
    root = Path(tempfile.mkdtemp(prefix="geosiam-dalles-"))
    grids = [(m, px) for m, px in GRIDS if m in args.grids]
    cases = [(f.name, *_own(f)) for f in map(Path, args.folders)]
    cases = cases or [(DALLE_SETS[t].describe(), *ensure(DALLE_SETS[t])) for t in args.dalles]
    try:
        with _threads(1):  # one decoding thread in one process for every row but the parallel ones
            if "compare" in args.parts:
                for (label, paths, vectors), (tile_m, tile_px) in itertools.product(cases, grids):
                    compare(paths, vectors, label, tile_m, tile_px, root)
            if "oversampling" in args.parts and not args.folders:
                oversampling([DALLE_SETS[t] for t in args.dalles], root)
            if "compression" in args.parts:
                compression(*cases[0][1:], root / "compression")
        if "parallel" in args.parts:
            for label, paths, vectors in cases:
                parallelism(label, paths, vectors, args.jobs, root / "parallel", args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f} ({cores} cores)")


def _own(folder: Path) -> tuple[list[Path], Path | None]:
    """A folder's dalles and its GeoPackage of BD TOPO v3 layers, if it has one."""
    return sorted(folder.glob("*.jp2")), next(iter(sorted(folder.glob("*.gpkg"))), None)


def _settings(tile_m: float, tile_px: int, oversampling: float = 0.05):
    from geosiam.config import Settings, from_dict

    return from_dict(
        Settings,
        {
            "years": [YEAR - 1, YEAR],
            "grid": {
                "crs": "EPSG:2154",
                "tile_size_m": tile_m,
                "tile_px": tile_px,
                "origin_x": 0.0,
                "origin_y": 0.0,
            },
            "prepare": {"oversampling": oversampling},
        },
    )


def _tile(
    paths,
    vectors,
    workspace: Path,
    tile_m,
    tile_px,
    oversampling=0.05,
    processes=1,
    masks=True,
    clock=cpu_seconds,
    years=(YEAR,),
    runner=None,
    keep_pool=True,
):
    """geosiam's tiles (and masks) of ``years`` (the same dalles for each), from scratch:
    (seconds of tiles, of masks, tiles), run by ``runner`` (default: ``Runner(processes)``),
    whose workers serve both stages as in prepare (``keep_pool``) or start again for each."""
    from geosiam.prepare.stages import make_masks, make_tiles
    from geosiam.rasterize.classes import load_classes
    from geosiam.sources.labels import LabelPlan, YearLabels
    from geosiam.sources.sourceset import YearSources
    from geosiam.tiling.grid import grid_of
    from geosiam.workspace import Workspace

    shutil.rmtree(workspace, ignore_errors=True)
    settings = _settings(tile_m, tile_px, oversampling)
    settings.years = sorted(years)
    grid = grid_of(settings)
    records = [YearSources(y, tuple(paths), (vectors,) if vectors else (), label_version="3") for y in years]
    space = Workspace(workspace)
    runner = runner or Runner(processes)
    started = clock()
    with runner if keep_pool else contextlib.nullcontext():  # one pool for both stages, as prepare
        tiles, _ = make_tiles(space, grid, records, settings, runner)
        tiled = clock()
        if masks:
            labels = LabelPlan("both", {y: YearLabels(y, "bdtopo.gpkg", 0.0, version="3") for y in years})
            make_masks(space, grid, records, tiles, {"3": load_classes(version="3")}, labels, runner)
    return tiled - started, clock() - tiled, tiles


def floor_seconds(paths, resolution_m: float, oversampling: float = 0.05) -> float:
    """Seconds per dalle to decode each dalle once, whole, at the level the tolerance allows."""
    import rasterio
    from rasterio.enums import Resampling

    from geosiam.tiling.resample import level_factor

    def decode_all():
        for path in paths:
            with rasterio.open(path) as src:
                factor = level_factor(resolution_m / src.res[0], src.overviews(1), oversampling)
                shape = (3, round(src.height / factor), round(src.width / factor))
                src.read(out_shape=shape, resampling=Resampling.average)

    return best_cpu(decode_all, 2) / len(paths)


def compare(
    paths: list[Path], vectors: Path | None, label: str, tile_m: float, tile_px: int, root: Path
) -> None:
    """The main table of one case: geosiam, the floor, GDAL's tools, and geosiam's split.

    Without ``vectors`` (a GeoPackage of BD TOPO v3 layers) masks are not made.
    """
    n = len(paths)
    resolution = tile_m / tile_px
    workspace = root / f"{label.split(',')[0]}_{tile_m:.0f}m"
    masks = vectors is not None
    _tile(paths, vectors, workspace, tile_m, tile_px, masks=masks)  # warm the file cache
    runs = [_tile(paths, vectors, workspace, tile_m, tile_px, masks=masks) for _ in range(2)]
    tiles_s, masks_s = min(r[0] for r in runs) / n, min(r[1] for r in runs) / n
    tiles = runs[-1][2]
    floor = floor_seconds(paths, resolution)
    per_dalle = len(tiles) / n
    rows = [
        ("floor: each dalle decoded once at its level", floor, 1.0),
        ("geosiam tiles", tiles_s, tiles_s / floor),
        ("geosiam masks", masks_s, masks_s / floor) if masks else ("geosiam masks", "n/a (no vectors)", "-"),
        ("geosiam tiles + masks", tiles_s + masks_s, (tiles_s + masks_s) / floor),
    ]
    rows += _gdal_rows(paths, tiles, tile_px, resolution, root, per_dalle, floor)
    print_table(
        f"{label}, tiles of {tile_m:.0f} m / {tile_px} px ({resolution:.3f} m): {len(tiles)} tiles, "
        f"{per_dalle:.1f} per dalle; seconds per dalle",
        rows,
        ("method", "s/dalle", "x floor"),
    )
    split = _split(paths, vectors, workspace, tile_m, tile_px, masks)
    print_table(
        "geosiam's split (one profiled run of tiles + masks; profiling adds a little)",
        [(name, seconds / n, seconds / n / floor) for name, seconds in split],
        ("part", "s/dalle", "x floor"),
    )


def _split(paths, vectors, workspace, tile_m, tile_px, masks: bool) -> list[tuple[str, float]]:
    """Cumulative seconds of decode (rasterio reads), resample, tile writes and masks."""
    profile = cProfile.Profile(time.process_time)  # CPU time, as every row
    profile.enable()
    _, masks_s, _ = _tile(paths, vectors, workspace, tile_m, tile_px, masks=masks)
    profile.disable()
    stats = pstats.Stats(profile).stats

    def cumulative(module_part: str, name: str) -> float:
        return sum(v[3] for (file, _, fn), v in stats.items() if module_part in file and fn == name)

    decode = cumulative("geosiam/tiling/cut.py", "_read_aligned") - cumulative(
        "tiling/resample.py", "area_resize"
    )
    decode += cumulative("geosiam/tiling/cut.py", "_read_warped") - cumulative(
        "rasterio/warp.py", "reproject"
    )
    resize = cumulative("tiling/resample.py", "resize") + cumulative("rasterio/warp.py", "reproject")
    write = cumulative("geosiam/tiling/cut.py", "write_tile")
    return [
        ("decode (source reads)", decode),
        ("resample", resize),
        ("write tiles", write),
        ("masks", masks_s),
    ]


def _gdal_rows(paths, tiles, tile_px, resolution, root: Path, per_dalle: float, floor: float) -> list[tuple]:
    if not (shutil.which("gdal_translate") and shutil.which("gdalwarp") and shutil.which("gdalbuildvrt")):
        return [("gdal_translate per tile / gdalwarp + cut", "n/a (no gdal-bin)", "-")]
    vrt = root / "mosaic.vrt"
    subprocess.run(["gdalbuildvrt", "-q", str(vrt), *map(str, paths)], check=True)
    sample = tiles.sample(min(12, len(tiles)), random_state=0)

    def per_tile():
        for row in sample.itertuples():
            xmin, ymin, xmax, ymax = row.geometry.bounds
            subprocess.run(
                ["gdal_translate", "-q", "-projwin", *map(str, (xmin, ymax, xmax, ymin)),
                 "-outsize", str(tile_px), str(tile_px), "-r", "average",
                 "-co", "TILED=YES", "-co", "COMPRESS=ZSTD", "-co", "PREDICTOR=2",
                 str(vrt), str(root / "t.tif")],
                check=True,
            )  # fmt: skip

    translate = best_cpu(per_tile, 1) / len(sample) * per_dalle
    warped = root / "warped.tif"
    xmin, ymin, xmax, ymax = tiles.total_bounds

    def warp():
        subprocess.run(
            ["gdalwarp", "-q", "-overwrite", "-tr", str(resolution), str(resolution),
             "-te", *map(str, (xmin, ymin, xmax, ymax)), "-r", "average", str(vrt), str(warped)],
            check=True,
        )  # fmt: skip

    warp_s = best_cpu(warp, 1) / len(paths)
    cut_s = best_cpu(lambda: _cut_warped(warped, tiles, tile_px, root / "cut"), 1) / len(paths)
    return [
        ("gdal_translate -projwin per tile", translate, translate / floor),
        ("gdalwarp of the mosaic, then cut", warp_s + cut_s, (warp_s + cut_s) / floor),
        ("  of which gdalwarp", warp_s, warp_s / floor),
    ]


def _cut_warped(warped: Path, tiles, tile_px: int, out: Path) -> None:
    import rasterio
    from rasterio.windows import from_bounds

    from geosiam.geotiff import geotiff_profile
    from geosiam.tiling.cut import TILE_ENV

    out.mkdir(exist_ok=True)
    with rasterio.Env(**TILE_ENV), rasterio.open(warped) as src:
        for row in tiles.itertuples():
            window = (
                from_bounds(*row.geometry.bounds, transform=src.transform).round_offsets().round_lengths()
            )
            grid = _grid_like(src, tile_px)
            profile = geotiff_profile(tile_px, tile_px, 3, grid.crs, grid.transform(row.col, row.row))
            with rasterio.open(out / f"{row.tile_id}.tif", "w", **profile) as dst:
                dst.write(src.read(window=window, boundless=True))


def _grid_like(src, tile_px: int):
    from geosiam.tiling.grid import Grid

    return Grid("EPSG:2154", 0.0, 0.0, src.res[0] * tile_px, tile_px)


def oversampling(sets: Sequence[DalleSet], root: Path) -> None:
    """Speed and sharpness of tolerances 0 and 0.05 at the default grid; writes the PNG."""
    rows, crops = [], {}
    for dalles in sets:
        paths, vectors = ensure(dalles)
        for tolerance in (0.0, 0.05):
            workspace = root / f"over_{dalles.token}_{tolerance}"
            seconds, _, tiles = _tile(paths, vectors, workspace, 1000.0, 256, tolerance, masks=False)
            rmse, sharpness, crop = _quality(paths[0], workspace, tiles)
            crops[(dalles.token, tolerance)] = crop
            floor = floor_seconds(paths, 1000 / 256, tolerance)
            rows.append((dalles.token, tolerance, seconds / len(paths), floor, rmse, sharpness))
    print_table(
        "Oversampling tolerance at 1000 m / 256 px: speed and sharpness against the ideal tile "
        "(full-resolution decode, exact area mean); sharpness = mean |horizontal gradient| / the ideal's",
        rows,
        ("dalles", "tolerance", "tiles s/dalle", "floor s/dalle", "RMSE vs ideal", "sharpness"),
    )
    _picture(crops, [dalles.token for dalles in sets])


def _quality(path: Path, workspace: Path, tiles) -> tuple[float, float, np.ndarray]:
    """RMSE and gradient ratio of the dalle's centre tile against its ideal; a crop of both."""
    import rasterio
    from rasterio.windows import from_bounds

    from geosiam.tiling.resample import area_resize

    with rasterio.open(path) as src:
        xmin, ymin, xmax, ymax = src.bounds
        col, row = int(xmin // 1000) + 2, int(ymin // 1000) + 2  # the dalle's centre tile (1000 m grid)
        centre = tiles[(tiles["col"] == col) & (tiles["row"] == row)].iloc[0]
        full = src.read(window=from_bounds(*centre.geometry.bounds, transform=src.transform))
    ideal = area_resize(full.astype(np.float32), (256, 256))
    with rasterio.open(workspace / centre.image) as tile:
        made = tile.read().astype(np.float32)
    rmse = float(np.sqrt(((made - ideal) ** 2).mean()))
    sharpness = float(np.abs(np.diff(made, axis=2)).mean() / np.abs(np.diff(ideal, axis=2)).mean())
    return rmse, sharpness, np.stack([ideal, made])[:, :, 64:128, 64:128]


def _picture(crops: dict, tokens: Sequence[str]) -> None:
    """Ideal | tolerance 0 | tolerance 0.05, for 0M50 and 0M20, each 64 px crop shown 4x."""
    from PIL import Image, ImageDraw

    rows = []
    for token in tokens:
        ideal = crops[(token, 0.0)][0]
        panels = [ideal, crops[(token, 0.0)][1], crops[(token, 0.05)][1]]
        rows.append(
            np.concatenate([np.pad(p, ((0, 0), (0, 0), (0, 4)), constant_values=255) for p in panels], 2)
        )
    grid = np.concatenate([np.pad(r, ((0, 0), (0, 4), (0, 0)), constant_values=255) for r in rows], 1)
    image = np.clip(grid, 0, 255).astype(np.uint8).transpose(1, 2, 0).repeat(4, 0).repeat(4, 1)
    canvas = Image.new("RGB", (image.shape[1], image.shape[0] + 20), "white")
    canvas.paste(Image.fromarray(image), (0, 20))
    ImageDraw.Draw(canvas).text(
        (4, 4), "rows 0M50, 0M20 | ideal (full-res area mean) | tolerance 0 | tolerance 0.05", fill="black"
    )
    PICTURE.parent.mkdir(exist_ok=True)
    canvas.save(PICTURE)
    print(f"\nwrote {PICTURE}")


def compression(paths, vectors, workspace: Path) -> None:
    """Tile writes on real tiles (the first case's, default grid): ms and KiB per tile for each
    compression."""
    import rasterio

    from geosiam.tiling.cut import TILE_ENV

    _tile(paths, vectors, workspace, 1000.0, 256, masks=False)
    files = sorted((workspace / "tiles" / str(YEAR)).glob("*.tif"))[:40]
    tiles = []
    for path in files:
        with rasterio.open(path) as src:
            tiles.append((src.read(), src.profile))
    options = {
        "DEFLATE 6, predictor 2 (before)": {"compress": "deflate", "predictor": 2},
        "DEFLATE 1, predictor 2": {"compress": "deflate", "predictor": 2, "zlevel": 1},
        "DEFLATE 9, predictor 2": {"compress": "deflate", "predictor": 2, "zlevel": 9},
        "DEFLATE 6, no predictor": {"compress": "deflate"},
        "DEFLATE 1, no predictor": {"compress": "deflate", "zlevel": 1},
        "ZSTD 1, predictor 2 (chosen)": {"compress": "zstd", "predictor": 2, "zstd_level": 1},
        "ZSTD 9, predictor 2": {"compress": "zstd", "predictor": 2, "zstd_level": 9},
        "ZSTD 1, no predictor": {"compress": "zstd", "zstd_level": 1},
        "LZW, predictor 2": {"compress": "lzw", "predictor": 2},
        "LZW, no predictor": {"compress": "lzw"},
        "none": {"compress": None},
    }
    out = workspace / "compression"
    out.mkdir(exist_ok=True)
    rows = []
    for name, extra in options.items():

        def write_all(extra=extra):
            with rasterio.Env(**TILE_ENV):
                for index, (data, profile) in enumerate(tiles):
                    with rasterio.open(out / f"{index}.tif", "w", **{**profile, **extra}) as dst:
                        dst.write(data)

        seconds = best_cpu(write_all, 3)
        size = sum((out / f"{i}.tif").stat().st_size for i in range(len(tiles)))
        rows.append((name, seconds / len(tiles) * 1e3, size / len(tiles) / 1024))
    rows.append(_cog_row(tiles, out))
    print_table(
        f"Tile writes on {len(tiles)} real tiles ({paths[0].name}..., 256 px RGB): time and size per tile",
        rows,
        ("compression", "ms/tile", "KiB/tile"),
    )


def _cog_row(tiles, out: Path) -> tuple:
    """The COG driver (header and IFD first) through a MEM copy, ZSTD 1 with predictor 2."""
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy

    def write_all():
        for index, (data, profile) in enumerate(tiles):
            with MemoryFile() as memory:
                with memory.open(**{**profile, "driver": "MEM"}) as mem:
                    mem.write(data)
                    copy(
                        mem, out / f"cog{index}.tif", driver="COG", COMPRESS="ZSTD", LEVEL=1, PREDICTOR="YES"
                    )

    seconds = best_cpu(write_all, 3)
    size = sum((out / f"cog{i}.tif").stat().st_size for i in range(len(tiles)))
    return ("COG driver, ZSTD 1, predictor 2", seconds / len(tiles) * 1e3, size / len(tiles) / 1024)


def parallelism(label: str, paths, vectors, jobs: Sequence[int], root: Path, repeat: int = 2) -> None:
    """Tiles + masks of two years (as prepare) by processes x decoding threads per process.

    Each mode runs ``repeat`` times, the modes interleaved; per mode the least of: wall time;
    CPU time of every process (the parent and each worker from its start, decoding threads
    included), and of the parent alone; and the busiest path, the parent's CPU plus, per stage,
    the busiest worker's: the wall time with a core per process and nothing else running (an
    estimate for an idle machine, blind to waits; on a loaded machine the wall time counts other
    people's work). Workers: forked from the preloaded server, one pool for both stages (as
    prepare now); the same with a pool per stage; and as before this work, spawned (each
    importing numpy, rasterio and geosiam itself) with a pool per stage.
    """
    from unittest import mock

    from geosiam.tiling import chunks

    cores = os.cpu_count() or 1
    modes = [(1, 1, "-"), (1, cores, "-")]
    modes += [(p, chunks.decoder_threads(p), "forkserver, one pool") for p in jobs if p > 1]
    more = [p for p in jobs if p > 1][-1:]
    modes += [(p, chunks.decoder_threads(p), "forkserver, pool per stage") for p in more]
    modes += [(p, chunks.decoder_threads(p), "spawn, pool per stage (before)") for p in more]
    years = (YEAR - 1, YEAR)
    n = len(paths) * len(years)
    best: dict[tuple, list[float]] = {}
    for _ in range(repeat):
        for mode in modes:
            processes, threads, start = mode
            runner = _CpuRunner(Runner(processes))
            spawn = mock.patch.object(chunks, "start_context", lambda: get_context("spawn"))
            started, parent = time.perf_counter(), time.process_time()
            with _threads(threads), spawn if start.startswith("spawn") else contextlib.nullcontext():
                kept = start.endswith("one pool")
                _tile(paths, vectors, root, 1000.0, 256, years=years, runner=runner, keep_pool=kept)
            wall = time.perf_counter() - started
            parent = time.process_time() - parent
            figures = (wall, parent + sum(runner.worker_cpu.values()), parent, parent + runner.busiest)
            best[mode] = [min(a, b) for a, b in zip(best.get(mode, figures), figures)]
    base_wall, _, _, base_path = best[modes[0]]
    rows = [
        (*mode, wall / n, cpu / n, parent / n, path / n, base_wall / wall, base_path / path)
        for mode, (wall, cpu, parent, path) in best.items()
    ]
    print_table(
        f"Processes and decoding threads, {label}, two years, 1000 m / 256 px, tiles + masks; "
        f"seconds per dalle and year, least of {repeat} (load average now {os.getloadavg()[0]:.2f} "
        f"on {cores} cores)",
        rows,
        ("processes", "threads each", "workers", "wall", "CPU", "of which parent", "busiest path",
         "wall speed-up", "idle speed-up (est.)"),
    )  # fmt: skip


class _threads:
    """GDAL's and OpenJPEG's decoding threads set to ``n`` for the duration (as a user would)."""

    def __init__(self, n: int):
        self.n, self.saved = str(n), {}

    def __enter__(self):
        for name in ("GDAL_NUM_THREADS", "OPJ_NUM_THREADS"):
            self.saved[name] = os.environ.get(name)
            os.environ[name] = self.n

    def __exit__(self, *exc_info):
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


CPU_KEY = "_worker_cpu"


def _with_cpu(worker, job) -> list[dict]:
    """``worker(job)``'s records and one more: this process's id and CPU seconds since it started."""
    records = worker(job)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return [*records, {CPU_KEY: (os.getpid(), usage.ru_utime + usage.ru_stime)}]


@dataclass
class _CpuRunner:
    """geosiam's ``runner``, also noting each worker process's CPU seconds (all its threads), and
    the busiest worker's CPU seconds summed over the stages (which run one after the other)."""

    runner: Runner
    worker_cpu: dict[int, float] = field(default_factory=dict)
    busiest: float = 0.0

    def __enter__(self):
        self.runner.__enter__()
        return self

    def __exit__(self, *exc_info):
        self.runner.__exit__(*exc_info)

    def run(self, worker, jobs, desc):
        rows = self.runner.run(partial(_with_cpu, worker), jobs, desc)
        before = dict(self.worker_cpu)
        for row in rows:
            if CPU_KEY in row and row[CPU_KEY][0] != os.getpid():  # the parent's is timed apart
                pid, seconds = row[CPU_KEY]
                self.worker_cpu[pid] = max(seconds, self.worker_cpu.get(pid, 0.0))
        self.busiest += max((v - before.get(pid, 0.0) for pid, v in self.worker_cpu.items()), default=0.0)
        return [row for row in rows if CPU_KEY not in row]


if __name__ == "__main__":
    main()
