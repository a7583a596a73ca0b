"""Training input pipeline on CPU: PyDataset batches from the memory-mapped cache against the
same ``model.fit`` on the same batches as in-memory arrays, on TensorFlow and on JAX (one
subprocess each, running ``benchmarks/gpu_train.py`` at CPU sizes), and the share of wall time
that hard mining takes at the default cadence (every 5 epochs) for an area like the built-in
sample.

The pipeline must not be the bottleneck: pipeline / in-memory >= 0.95 on both backends. The
workers only slice uint8 tiles out of the cache; turns, flips and colour jitter run in the compiled step; the
worker count is what ``geosiam train --workers auto`` picks. The table, the machine's load
before and after, and the versions are written to ``--out`` (benchmarks/results/train_pipeline.md).

    python -m benchmarks.train_pipeline          # about 3 minutes on 2 idle cores

The mining share is derived from the measured rates: one mining embeds every train and val tile
of both years and runs the kNN; an epoch trains 8 images per anchor over 2 anchors per pair.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import format_table, machine_state

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
            "auto",
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
        except subprocess.CalledProcessError as exc:
            return {"error": exc.stderr.decode(errors="replace")[-300:]}
        except subprocess.TimeoutExpired as exc:
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
    parser.add_argument("--steps", type=int, default=10, help="steps per epoch; 3 timed epochs per side")
    parser.add_argument("--pairs", type=int, default=480, help="pairs of the area for the mining share")
    parser.add_argument("--mine-every", type=int, default=5)
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "train_pipeline.md")
    args = parser.parse_args(argv)
    before, started = machine_state(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows, workers = [], {}
    for backend in args.backends:
        result = run_backend(backend, args)
        try:
            piped = result["pipeline"]["train_images_per_s"]
            memory = result["in_memory"]["train_images_per_s"]
            workers[backend] = result.get("workers_auto", result.get("workers"))
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
    table = format_table(
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
    print(table)
    notes = [
        "# Training input pipeline on CPU: `python -m benchmarks.train_pipeline`\n",
        f"Measured {started}, Python {platform.python_version()}; machine before: {before}; after: "
        f"{machine_state()}. Ratios are side by side in one run; a loaded machine slows both sides.",
        *(f"- {backend}: {said}" for backend, said in workers.items()),
        table,
    ]
    args.out.write_text("\n".join(notes) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
