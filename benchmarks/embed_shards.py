"""Sharded embedding: ``geosiam embed`` serial against ``--shards 2`` (two processes), end to end.

Both run the real command in a fresh process on the same GeoTIFF tiles (a small untrained
network, so that the figure is about the sharding, not the model): the wall time includes
what a user waits for, the start of each worker process and its model load. Both outputs are
compared (same table, same vectors within float tolerance).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import print_table
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


def timed_embed(root: Path, run: Path, out: Path, extra: list[str]) -> float:
    """Wall seconds of 'geosiam embed' in a fresh process."""
    command = [sys.executable, "-m", "geosiam.cli", "embed", str(root / "tiles" / "2015"), "-o", str(out)]
    command += ["--run", str(run), "-w", str(root), "-q", *extra]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--px", type=int, default=64)
    parser.add_argument("--images", type=int, default=2048)
    args = parser.parse_args(argv)

    from geosiam.retrieval.descriptors import read_descriptors

    classes = 9
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, args.px, args.px, 3), dtype=np.uint8)
    masks = rng.integers(0, classes, (args.images, args.px, args.px), dtype=np.uint8)
    root = Path(tempfile.mkdtemp(prefix="geosiam-bench-shards-"))
    try:
        write_tiles(root, images, masks)
        run = make_run(root, args.px, classes)
        serial_s = timed_embed(root, run, root / "serial.npy", [])
        sharded_s = timed_embed(root, run, root / "sharded.npy", ["--shards", "2"])
        serial, sharded = read_descriptors(root / "serial.npy"), read_descriptors(root / "sharded.npy")
        same_table = serial.table.drop(columns="geometry").equals(sharded.table.drop(columns="geometry"))
        difference = float(np.abs(serial.vectors - sharded.vectors).max())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print_table(
        f"geosiam embed, {args.images} tiles of {args.px} px, mobilenetv3small, {os.cpu_count()} cores "
        f"(same table: {same_table}; max |difference| of the vectors: {difference:.1e})",
        [
            ("serial", serial_s, args.images / serial_s, 1.0),
            ("--shards 2", sharded_s, args.images / sharded_s, serial_s / sharded_s),
        ],
        ("embed", "wall s", "tiles/s", "speed vs serial"),
    )


if __name__ == "__main__":
    main()
