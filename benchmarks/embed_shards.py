"""Sharded embedding: ``geosiam embed`` serial against ``--shards 2`` (two processes), end to end.

Every run is the real command in a fresh process on the same tiles of a workspace (a small
untrained network, so that the figure is about the sharding, not the model): the wall time
includes what a user waits for, the start of each worker process and its model load. Two ways
of reading the same files, each serial and in two shards:
- GeoTIFFs: the tiles as arbitrary GeoTIFFs (``-w`` a folder that is no workspace), decoded by
  each shard;
- the workspace's packed tile cache: first ``--shards 2`` on an empty cache (each shard packs its
  rows as it embeds them, joined into the cache at the end), then serial and ``--shards 2`` from
  the packed cache.
"speed vs serial" compares a run with the serial run of the same reads (the packing run with
the serial GeoTIFF run). Every output is compared with the serial GeoTIFF one (same table, same
vectors). The table and the machine's load are written to ``--out``.

    python -m benchmarks.embed_shards          # about 10 minutes on 2 loaded cores
    python -m benchmarks.embed_shards --images 128 --out /tmp/smoke.md    # a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import format_table, machine_state
from benchmarks.embedding import write_tiles


def make_run(root: Path, px: int, classes: int) -> Path:
    """A run folder with an untrained small network, saved as 'geosiam train' saves one."""
    from geosiam.config import Settings, TrainSettings, save_settings
    from geosiam.model.embedder import save_embedding, untrained_embedder

    settings = TrainSettings(backbone="mobilenetv3small", weights="none", input_px=px, workers=1)
    embedder = untrained_embedder(settings, classes, px)
    run = root / "run"
    save_settings(Settings(train=embedder.settings), run / "geosiam.toml")
    save_embedding(embedder.model, embedder.settings, classes, run)
    return run


def timed_embed(root: Path, workspace: Path, run: Path, out: Path, extra: list[str]) -> float:
    """Wall seconds of 'geosiam embed' of the workspace's tiles in a fresh process."""
    command = [sys.executable, "-m", "geosiam.cli", "embed", str(root / "tiles" / "2015"), "-o", str(out)]
    command += ["--run", str(run), "-w", str(workspace), "-q", *extra]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--px", type=int, default=64)
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "embed_shards.md")
    args = parser.parse_args(argv)
    before, started = machine_state(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    from geosiam.config import Settings, save_settings
    from geosiam.retrieval.descriptors import read_descriptors

    classes = 9
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, args.px, args.px, 3), dtype=np.uint8)
    masks = rng.integers(0, classes, (args.images, args.px, args.px), dtype=np.uint8)
    root = Path(tempfile.mkdtemp(prefix="geosiam-bench-shards-"))
    runs = [  # (reads, embed, workspace, options); the serial run of the same reads comes first
        ("GeoTIFFs", "serial", root / "not-a-workspace", []),
        ("GeoTIFFs", "--shards 2", root / "not-a-workspace", ["--shards", "2"]),
        ("GeoTIFFs, packing the cache", "--shards 2", root, ["--shards", "2"]),
        ("workspace cache", "serial", root, []),
        ("workspace cache", "--shards 2", root, ["--shards", "2"]),
    ]
    try:
        write_tiles(root, images, masks)
        save_settings(Settings(years=[2015]), root / "geosiam.toml")  # the tiles are this workspace's
        (root / "not-a-workspace").mkdir()
        run = make_run(root, args.px, classes)
        seconds = [
            timed_embed(root, workspace, run, root / f"{i}.npy", extra)
            for i, (*_, workspace, extra) in enumerate(runs)
        ]
        if not list(root.glob("cache/tiles/*/*/cache.json")):
            raise SystemExit("the workspace's runs left no tile cache: they read the GeoTIFFs")
        outputs = [read_descriptors(root / f"{i}.npy") for i in range(len(runs))]
        plain = [o.table.drop(columns="geometry") for o in outputs]
        same_table = all(t.equals(plain[0]) for t in plain)
        difference = max(float(np.abs(o.vectors - outputs[0].vectors).max()) for o in outputs)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    serial = {"GeoTIFFs": seconds[0], "workspace cache": seconds[3]}
    table = format_table(
        f"geosiam embed, {args.images} tiles of {args.px} px, mobilenetv3small, {os.cpu_count()} cores "
        f"(same table: {same_table}; max |difference| of the vectors: {difference:.1e})",
        [
            (reads, embed, s, args.images / s, serial.get(reads, serial["GeoTIFFs"]) / s)
            for (reads, embed, *_), s in zip(runs, seconds)
        ],
        ("reads", "embed", "wall s", "tiles/s", "speed vs serial"),
    )
    print(table)
    args.out.write_text(
        "# Sharded embedding: `python -m benchmarks.embed_shards`\n\n"
        f"Measured {started}, Python {platform.python_version()}; machine before: {before}; after: "
        f"{machine_state()}. Every run is the real command in a fresh process, end to end.\n{table}\n",
        encoding="utf-8",
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
