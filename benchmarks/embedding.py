"""Embedding throughput: geosiam's pipeline against Keras' own ``model.predict``, side by side.

Same network, same images, one run:
- ``model.predict`` on in-memory arrays (the floor: Keras alone);
- ``Embedder.embed`` on the same arrays (the numpy batch pipeline used in training, with
  resizing and L2 normalisation);
- ``embed_tiles`` from GeoTIFFs on disk (what ``geosiam embed`` does: read, resample, embed,
  write the partial array) -- the cost of I/O on top.
Each is warmed up once (graph tracing) and timed as the best of three.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import best_of, print_table


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
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    import keras

    from geosiam.config import TrainSettings
    from geosiam.model.embedder import untrained_embedder
    from geosiam.retrieval.embedding import embed_tiles

    classes = 9
    settings = TrainSettings(backbone=args.backbone, weights="none", input_px=args.px, workers=1)
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

        def from_disk():
            out = root / "vectors.npy"
            for done in (out, out.with_suffix(".gpkg")):  # a complete output would be kept as is
                done.unlink(missing_ok=True)
            return embed_tiles(embedder, tiles, out, batch_size=args.batch_size)

        timings = {}
        for name, fn in (
            ("model.predict, in-memory arrays", predict),
            ("Embedder.embed, in-memory arrays", pipeline),
            ("embed_tiles, GeoTIFFs on disk", from_disk),
        ):
            fn()  # trace the graph once
            timings[name] = best_of(fn, 3)
        agree = np.abs(predict() - pipeline()).max()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    floor = timings["model.predict, in-memory arrays"]
    rows = [(name, args.images / seconds, floor / seconds) for name, seconds in timings.items()]
    print_table(
        f"embedding throughput: {args.backbone}, {args.px} px, {args.images} images, batch "
        f"{args.batch_size}, Keras backend {keras.backend.backend()} (max |difference| of the "
        f"descriptors predict vs embed: {agree:.1e})",
        rows,
        ("path", "images/s", "speed vs predict"),
    )


if __name__ == "__main__":
    main()
