"""Embedding throughput: geosiam's pipeline against Keras' own ``model.predict``, side by side.

Same network, same images, one run:
- ``model.predict`` on in-memory arrays (the floor: Keras alone);
- ``Embedder.embed`` on the same arrays (the numpy batch pipeline used in training, with
  resizing and L2 normalisation);
- ``embed_tiles`` from the workspace's packed tile cache (what ``geosiam embed`` does with a
  workspace's tiles once they are packed: slice the memory map a chunk ahead, embed, write the
  partial array); target >= 0.9 of ``model.predict``;
- ``embed_tiles`` from GeoTIFFs on disk (what ``geosiam embed`` does with other GeoTIFFs: read,
  resample, embed, write the partial array) -- the cost of decoding on top.
Each is warmed up once (graph tracing; the cache is packed then) and timed as the best of
``--repeat`` rounds, the paths taking turns within a round so that a loaded machine slows all
alike. The table and the machine's load are written to ``--out``.

    python -m benchmarks.embedding            # about a minute on 2 idle cores
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import format_table, machine_state


def write_tiles(root: Path, images: np.ndarray, masks: np.ndarray):
    """The arrays as GeoTIFF tiles and masks in a workspace layout; their TileSet."""
    import rasterio
    from rasterio.transform import from_origin

    from geosiam.retrieval.tilesets import find_tiles

    px = images.shape[1]
    for i, (image, mask) in enumerate(zip(images, masks)):
        transform = from_origin(1000.0 * i, 1000.0, 1000.0 / px, 1000.0 / px)
        for folder, data in (("tiles", np.moveaxis(image, -1, 0)), ("masks", mask[None])):
            path = root / folder / "2015" / f"x{i}_y0.tif"
            path.parent.mkdir(parents=True, exist_ok=True)
            with rasterio.open(
                path,
                "w",
                driver="GTiff",
                width=px,
                height=px,
                count=len(data),
                dtype="uint8",
                crs="EPSG:2154",
                transform=transform,
            ) as dst:
                dst.write(data)
    return find_tiles(root / "tiles", px, need_masks=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenetv3small")
    parser.add_argument("--px", type=int, default=64)
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "embedding.md")
    args = parser.parse_args(argv)
    before, started = machine_state(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    import keras

    from geosiam.config import TrainSettings
    from geosiam.model.embedder import untrained_embedder
    from geosiam.retrieval.embedding import embed_tiles

    classes = 9
    settings = TrainSettings(backbone=args.backbone, weights="none", input_px=args.px)
    embedder = untrained_embedder(settings, classes, args.px)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, args.px, args.px, 3), dtype=np.uint8)
    masks = rng.integers(0, classes, (args.images, args.px, args.px), dtype=np.uint8)
    root = Path(tempfile.mkdtemp(prefix="geosiam-bench-embed-"))
    try:
        tiles = write_tiles(root, images, masks)

        def predict():
            return embedder.model.predict(
                {"image": images, "mask": masks}, batch_size=args.batch_size, verbose=0
            )

        def pipeline():
            return embedder.embed(images, masks, batch_size=args.batch_size)

        def from_files(cache_root=None):
            out = root / "vectors.npy"
            for done in (out, out.with_suffix(".gpkg")):  # a complete output would be kept as is
                done.unlink(missing_ok=True)
            return embed_tiles(embedder, tiles, out, batch_size=args.batch_size, cache_root=cache_root)

        paths = {
            "model.predict, in-memory arrays": predict,
            "Embedder.embed, in-memory arrays": pipeline,
            "embed_tiles, workspace's packed cache": lambda: from_files(root / "cache" / "tiles"),
            "embed_tiles, GeoTIFFs on disk": from_files,
        }
        for fn in paths.values():
            fn()  # trace the graph once; pack the cache
        timings = dict.fromkeys(paths, float("inf"))
        for _ in range(args.repeat):
            for name, fn in paths.items():
                tick = time.perf_counter()
                fn()
                timings[name] = min(timings[name], time.perf_counter() - tick)
        agree = np.abs(predict() - pipeline()).max()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    floor = timings["model.predict, in-memory arrays"]
    rows = [(name, args.images / seconds, floor / seconds) for name, seconds in timings.items()]
    table = format_table(
        f"embedding throughput: {args.backbone}, {args.px} px, {args.images} images, batch "
        f"{args.batch_size}, Keras backend {keras.backend.backend()} (max |difference| of the "
        f"descriptors predict vs embed: {agree:.1e})",
        rows,
        ("path", "images/s", "speed vs predict"),
    )
    print(table)
    args.out.write_text(
        "# Embedding throughput: `python -m benchmarks.embedding`\n\n"
        f"Measured {started}, Python {platform.python_version()}; machine before: {before}; after: "
        f"{machine_state()}. Ratios are side by side in one run (paths taking turns).\n{table}\n",
        encoding="utf-8",
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
