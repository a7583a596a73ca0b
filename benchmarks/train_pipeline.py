"""Training input pipeline on CPU: PyDataset batches from the memory-mapped cache against the
same compiled step on an in-memory batch, on TensorFlow and on JAX (one subprocess each, running
``benchmarks/gpu_train.py`` at CPU sizes), and the share of wall time that hard mining takes at
the default cadence (every 5 epochs) for an area like the built-in sample.

The pipeline must not be the bottleneck: pipeline / in-memory should stay near 1 (>= 0.9).
The mining share is derived from the measured rates: one mining embeds every train and val tile
of both years and runs the kNN; an epoch trains 8 images per anchor over 2 anchors per pair.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import print_table

GPU_TRAIN = Path(__file__).with_name("gpu_train.py")


def run_backend(backend: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(GPU_TRAIN),
            "--px",
            str(args.px),
            "--backbone",
            args.backbone,
            "--anchors",
            "6",
            "--steps",
            str(args.steps),
            "--epochs",
            "3",
            "--workers",
            "2",
            "--no-mixed-precision",
            "--embed-tiles",
            "512",
            "--knn",
            "1000",
            "--max-seconds",
            str(args.timeout),
            "--out",
            str(out),
        ]
        env = os.environ | {"KERAS_BACKEND": backend}
        try:
            subprocess.run(command, env=env, capture_output=True, timeout=args.timeout + 300, check=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            return {"error": f"{type(exc).__name__}"}
        return json.loads(out.read_text())


def mining_share(result: dict, pairs: int, mine_every: int) -> float:
    """Wall-time share of mining for ``pairs`` pairs split 60/20/20, one mining per ``mine_every`` epochs."""
    train_pairs, val_pairs = round(0.6 * pairs), round(0.2 * pairs)
    epoch = 2 * train_pairs * 8 / result["pipeline"]["train_images_per_s"]
    mining = 2 * (train_pairs + val_pairs) / result["embed"]["embed_images_per_s"]
    return mining / (mine_every * epoch + mining)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--backbone", default="mobilenetv3small")
    parser.add_argument("--px", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=480, help="pairs of the area for the mining share")
    parser.add_argument("--mine-every", type=int, default=5)
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args(argv)
    rows = []
    for backend in args.backends:
        result = run_backend(backend, args)
        try:
            piped = result["pipeline"]["train_images_per_s"]
            memory = result["in_memory"]["train_images_per_s"]
            share = mining_share(result, args.pairs, args.mine_every)
            rows.append(
                (
                    backend,
                    piped,
                    memory,
                    piped / memory,
                    result["embed"]["embed_images_per_s"],
                    f"{100 * share:.1f}%",
                )
            )
        except (KeyError, TypeError):
            rows.append((backend, "-", "-", "-", "-", json.dumps(result)[:200]))
    print_table(
        f"training on CPU, {args.backbone} at {args.px} px, 24 pairs per step",
        rows,
        (
            "backend",
            "pipeline img/s",
            "in-memory img/s",
            "pipeline/in-memory",
            "embed img/s",
            f"mining share ({args.pairs} pairs, every {args.mine_every})",
        ),
    )


if __name__ == "__main__":
    main()
