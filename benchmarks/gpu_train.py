"""GPU training benchmark: the real input pipeline against in-memory tensors, and embedding speed.

Needs only keras + numpy + geosiam.model (no TensorFlow, no rasterio): it runs on a GPU machine
that carries JAX. Synthetic uint8 tiles and masks are packed into a memory-mapped pair cache (the
format ``geosiam train`` builds from GeoTIFFs), then, side by side in one process:

- training images/s through ``PairBatches`` (PyDataset worker threads slicing uint8 tiles, colour
  jitter in the compiled step, hard-negative slots), with ``--workers auto`` by default (the
  setting ``geosiam train`` picks),
- training images/s of the same model.fit on the same batches as in-memory numpy arrays (the
  ceiling: only the feeding differs),
- the pipeline's share: 1 - pipeline / ceiling, and the time one worker needs per batch,
- embedding images/s through ``Embedder.embed`` (``model.predict`` on uint8 arrays in chunks),
- exact kNN of one year against the other on the device (``knn_keras``).

Each measurement is guarded: an error is recorded and the next one runs. A table is printed and
JSON written to ``--out`` (default ``$OUT/gpu_train.json``, else ``./gpu_train.json``).

    KERAS_BACKEND=jax python benchmarks/gpu_train.py                      # ResNet50, 256 px
    python benchmarks/gpu_train.py --px 64 --backbone mobilenetv3small --steps 3 --no-mixed-precision
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from geosiam.config import TrainSettings  # noqa: E402
from geosiam.model import accelerator  # noqa: E402
from geosiam.model.cache import META_FILE, open_pair_cache  # noqa: E402
from geosiam.model.data import PairBatches  # noqa: E402
from geosiam.model.device_knn import knn_keras  # noqa: E402
from geosiam.model.embedder import Embedder  # noqa: E402
from geosiam.model.recipes import recipe_of  # noqa: E402
from geosiam.model.siamese import build_embedding_model, build_siamese_model, dtype_policy  # noqa: E402
from geosiam.model.workers import pick_workers  # noqa: E402

NUM_CLASSES = 9


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--px", type=int, default=256)
    parser.add_argument("--anchors", type=int, default=32, help="anchors per batch (4 pairs each)")
    parser.add_argument(
        "--epochs", type=int, default=3, help="timed epochs per side, pipeline and in-memory taking turns"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=40,
        help="steps per epoch: the cache holds steps * anchors / 2 pairs, one pass each",
    )
    parser.add_argument(
        "--workers", default="auto", help="worker threads, or auto: what 'geosiam train --workers auto' picks"
    )
    parser.add_argument("--embed-tiles", type=int, default=2048)
    parser.add_argument("--knn", type=int, default=50000, help="descriptors per year for the kNN timing")
    parser.add_argument("--no-mixed-precision", action="store_true")
    parser.add_argument(
        "--max-seconds", type=float, default=420.0, help="skip the measurements that would start after this"
    )
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args(argv)


def synthetic_cache(folder: Path, pairs: int, px: int, seed: int = 0):
    """A pair cache of smooth random tiles (older/newer differ by brightness and noise)."""
    rng = np.random.default_rng(seed)
    images = np.lib.format.open_memmap(folder / "images.npy", "w+", np.uint8, (2, pairs, px, px, 3))
    masks = np.lib.format.open_memmap(folder / "masks.npy", "w+", np.uint8, (2, pairs, px, px))
    cell = max(px // 8, 1)
    for start in range(0, pairs, 256):
        n = min(256, pairs - start)
        coarse = rng.integers(0, 220, (n, 8, 8, 3), dtype=np.uint8)
        base = np.repeat(np.repeat(coarse, cell, axis=1), cell, axis=2)[:, :px, :px]
        ids = rng.integers(0, NUM_CLASSES, (n, 8, 8), dtype=np.uint8)
        mask = np.repeat(np.repeat(ids, cell, axis=1), cell, axis=2)[:, :px, :px]
        for side, shift in ((0, 0), (1, 25)):
            noise = rng.integers(0, 12, base.shape, dtype=np.uint8)
            images[side, start : start + n] = np.minimum(base.astype(np.int16) + shift + noise, 255)
            masks[side, start : start + n] = mask
    images.flush()
    masks.flush()
    del images, masks
    (folder / META_FILE).write_text(json.dumps({"pair_ids": [str(i) for i in range(pairs)], "input_px": px}))
    return open_pair_cache(folder)


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def measure(results: dict, name: str, deadline: float, function) -> None:
    """Run one measurement, recording its figures or its error; skip it past the deadline."""
    if time.perf_counter() > deadline:
        results[name] = {"skipped": "over --max-seconds"}
        return
    started = time.perf_counter()
    try:
        results[name] = function()
    except Exception as exc:  # a benchmark records every failure and goes on
        results[name] = {
            "error": f"{type(exc).__name__}: {exc}"[:500],
            "traceback": traceback.format_exc()[-1500:],
        }
    results[name]["wall_seconds"] = round(time.perf_counter() - started, 2)
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {results[name]}", flush=True)


def main(argv=None) -> dict:
    args = parse_args(argv)
    args.pairs = max(args.steps * args.anchors // 2, 2)
    started = time.perf_counter()
    deadline = started + args.max_seconds
    settings = accelerator.resolve(
        TrainSettings(
            backbone=args.backbone,
            weights="none",
            input_px=args.px,
            anchors_per_batch=args.anchors,
            mixed_precision=False if args.no_mixed_precision else None,
        ),
        args.px,
    )
    policy = accelerator.mixed_policy() if settings.mixed_precision else "float32"
    results: dict = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "devices": keras.distribution.list_devices(),
        "python": platform.python_version(),
        "backbone": settings.backbone,
        "px": args.px,
        "policy": policy,
        "jit_compile": settings.jit_compile,
        "pairs_per_step": 4 * args.anchors,
        "images_per_step": 8 * args.anchors,
        "workers": args.workers,
    }
    print(json.dumps(results), flush=True)
    tmp = tempfile.TemporaryDirectory(prefix="geosiam-gpu-bench-")
    state: dict = {}

    def setup():
        t0 = time.perf_counter()
        state["cache"] = synthetic_cache(Path(tmp.name), args.pairs, args.px)
        t1 = time.perf_counter()
        keras.utils.set_random_seed(0)
        with dtype_policy(policy):
            embedding = build_embedding_model(settings, NUM_CLASSES, args.px)
            recipe = recipe_of(settings.loss)
            model = build_siamese_model(embedding, recipe.head, augment=True)
            model.compile(
                optimizer=keras.optimizers.Adam(1e-4),
                loss=recipe.make_loss(settings),
                jit_compile=settings.jit_compile,
            )
        state["model"], state["embedding"] = model, embedding
        return {
            "cache_seconds": round(t1 - t0, 2),
            "build_seconds": round(time.perf_counter() - t1, 2),
            "parameters": int(model.count_params()),
        }

    def pipeline():
        batches = PairBatches(state["cache"], args.anchors, seed=0, augment=True, greyscale=0.2)
        rng = np.random.default_rng(1)
        batches.hard_negatives = rng.integers(0, args.pairs, (2, args.pairs, 4)).astype(np.int32)
        if args.workers == "auto":
            choice = pick_workers(batches, accelerator.has_accelerator())
            batches.workers = choice.workers
            results["workers_auto"] = choice.describe()
        else:
            batches.workers = int(args.workers)
        results["workers"] = batches.workers
        timer = EpochTimer()
        state["model"].fit(batches, epochs=1, verbose=0, callbacks=[timer])  # compiles
        t0 = time.perf_counter()
        for i in range(5):
            batches[i]
        one_batch = (time.perf_counter() - t0) / 5
        state["batches"] = batches
        return {
            "steps_per_epoch": len(batches),
            "first_epoch_seconds": round(timer.seconds[0], 2),
            "one_worker_seconds_per_batch": round(one_batch, 4),
        }

    def in_memory():
        """The same batches as in-memory arrays; then timed epochs of both, taking turns."""
        batches, model = state["batches"], state["model"]
        drawn = [batches[i] for i in range(len(batches))]  # the pipeline's own batches, epoch 0
        x = {name: np.concatenate([inputs[name] for inputs, _ in drawn]) for name in drawn[0][0]}
        y = np.concatenate([labels for _, labels in drawn])
        fits = {
            "pipeline": lambda timer: model.fit(batches, epochs=1, verbose=0, callbacks=[timer]),
            "in_memory": lambda timer: model.fit(
                x, y, batch_size=4 * args.anchors, epochs=1, shuffle=False, verbose=0, callbacks=[timer]
            ),
        }
        fits["in_memory"](EpochTimer())  # traces the step for arrays
        seconds = {name: [] for name in fits}
        for _ in range(args.epochs):
            for name, fit in fits.items():
                timer = EpochTimer()
                fit(timer)
                seconds[name] += timer.seconds
        images = len(y) * 2
        for name, timed in seconds.items():
            results.setdefault(name, {})
            results[name]["epoch_seconds"] = [round(t, 2) for t in timed]
            results[name]["train_images_per_s"] = round(images / min(timed), 1)
        return results["in_memory"]

    def embed():
        cache = state["cache"]
        n = args.embed_tiles
        images = np.resize(cache.images[0], (n, args.px, args.px, 3))  # tiles repeated up to n
        masks = np.resize(cache.masks[0], (n, args.px, args.px))
        embedder = Embedder(state["embedding"], settings, NUM_CLASSES, args.px, False, "bench")
        embedder.embed(images[:256], masks[:256], batch_size=256)  # compile
        t0 = time.perf_counter()
        out = embedder.embed(images, masks, batch_size=256)
        seconds = time.perf_counter() - t0
        return {"embed_images_per_s": round(n / seconds, 1), "descriptor_dim": int(out.shape[1])}

    def nearest():
        rng = np.random.default_rng(2)
        older = rng.normal(size=(args.knn, 128)).astype(np.float32)
        older /= np.linalg.norm(older, axis=1, keepdims=True)
        newer = older + 0.05 * rng.normal(size=older.shape).astype(np.float32)
        newer /= np.linalg.norm(newer, axis=1, keepdims=True)
        knn_keras(newer[:1000], older, 5)
        t0 = time.perf_counter()
        _, indices = knn_keras(newer, older, 5)
        seconds = time.perf_counter() - t0
        return {
            "knn_seconds": round(seconds, 3),
            "queries": args.knn,
            "recall_at_1": float((indices[:, 0] == np.arange(args.knn)).mean()),
        }

    measure(results, "setup", deadline, setup)
    if "model" in state:
        measure(results, "pipeline", deadline, pipeline)
        if "batches" in state:
            measure(results, "in_memory", deadline, in_memory)
        measure(results, "embed", deadline, embed)
    measure(results, "knn", deadline, nearest)
    piped = results.get("pipeline", {}).get("train_images_per_s")
    ceiling = results.get("in_memory", {}).get("train_images_per_s")
    if piped and ceiling:
        results["pipeline_over_in_memory"] = round(piped / ceiling, 3)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    tmp.cleanup()
    report(results, args)
    return results


def report(results: dict, args) -> None:
    rows = [
        ("backend / policy / XLA", f"{results['backend']} / {results['policy']} / {results['jit_compile']}"),
        ("devices", ", ".join(results["devices"])),
        ("model", f"{results['backbone']} at {results['px']} px, {results['images_per_step']} images/step"),
        ("train img/s, PyDataset pipeline", results.get("pipeline", {}).get("train_images_per_s", "-")),
        ("train img/s, in-memory arrays", results.get("in_memory", {}).get("train_images_per_s", "-")),
        ("pipeline / in-memory", results.get("pipeline_over_in_memory", "-")),
        ("workers", results.get("workers_auto", results["workers"])),
        ("one worker, s per batch", results.get("pipeline", {}).get("one_worker_seconds_per_batch", "-")),
        ("embed img/s", results.get("embed", {}).get("embed_images_per_s", "-")),
        ("kNN seconds", f"{results.get('knn', {}).get('knn_seconds', '-')} ({args.knn} x {args.knn})"),
        ("total seconds", results["total_seconds"]),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    errors = [k for k, v in results.items() if isinstance(v, dict) and "error" in v]
    if errors:
        print("errors in:", ", ".join(errors))
    out = args.out or Path(os.environ.get("OUT", ".")) / "gpu_train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
