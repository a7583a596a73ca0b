"""Augmentation inside the compiled training step, on whatever device trains.

The data workers only slice uint8 tiles out of the memory-mapped cache (contiguous copies); what
moves or recolours pixels runs here, in ``keras.ops`` (any backend, under XLA). Randomness stays
with the workers: for every image they draw :data:`DRAWS` small numbers from (seed, epoch, batch
index) (:func:`draw_augment`), which travel with the batch as a (N, 7) float32 input. Batches
therefore stay reproducible, whatever the worker scheduling, and a resumed run sees the same ones.

Geometry (:class:`TurnFlip`): one of the 8 rotations and flips of the square (``code`` 0-7:
``code % 4`` quarter turns, then a left-right flip when ``code >= 4``), the same code for both
tiles of a couple, image and mask alike (the grid orientation is meaningful for retrieval), as
one gather per batch through a precomputed index table.

Colour, per image (:class:`ColourJitter`): contrast c ~ U(0.8, 1.2) about mid-grey, brightness
b ~ U(-20, 20), one gain g_k ~ U(0.9, 1.1) per channel, ``floor(clip((x - 128) c g_k + 128 + b,
0, 255))``; then, for a share of
images (random greyscale), the ITU-R 601 luminance rounded in all three channels, as a
panchromatic year is tiled. The result is whole numbers in [0, 255], returned as uint8: the
embedding network sees exactly the values a numpy jitter of the same draws would give.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

PACKAGE = "geosiam"
DRAWS = 7  # contrast, brightness, gain R, gain G, gain B, grey (1) or colour (0), geometry code
GEOMETRY = 6  # the column of the geometry code
GEOMETRIES = 8
LUMINANCE = (0.299, 0.587, 0.114)  # ITU-R 601
CONTRAST = (0.8, 1.2)
BRIGHTNESS = (-20.0, 20.0)
GAIN = (0.9, 1.1)


def draw_augment(rng: np.random.Generator, geometry: np.ndarray, greyscale: float) -> np.ndarray:
    """(n, :data:`DRAWS`) float32 draws for n images whose geometry codes are ``geometry`` (the
    couple's, drawn once for both sides); a share ``greyscale`` of them turn grey."""
    n = len(geometry)
    return np.column_stack(
        [
            rng.uniform(*CONTRAST, n),
            rng.uniform(*BRIGHTNESS, n),
            rng.uniform(*GAIN, (n, 3)),
            rng.random(n) < greyscale,
            geometry,
        ]
    ).astype(np.float32)


def geometric(array: np.ndarray, code: int) -> np.ndarray:
    """The numpy reference of :class:`TurnFlip` for one (H, W, ...) array."""
    array = np.rot90(array, code % 4, axes=(0, 1))
    return array[:, ::-1] if code >= 4 else array


def geometry_table(px: int) -> np.ndarray:
    """(8, px * px) int32: for each code, the source pixel of every output pixel (row-major)."""
    pixels = np.arange(px * px, dtype=np.int32).reshape(px, px)
    return np.stack([geometric(pixels, code).ravel() for code in range(GEOMETRIES)])


@keras.saving.register_keras_serializable(PACKAGE)
class ColourJitter(layers.Layer):
    """(uint8 images (N, H, W, 3), draws (N, :data:`DRAWS`)) -> uint8 images, jittered in
    training only (inference passes the images through untouched)."""

    def call(self, image, draws, training=None):
        if not training:
            return image
        draws = ops.cast(draws, "float32")
        per_image = ops.reshape(draws, (-1, 1, 1, DRAWS))
        contrast, brightness, gains, grey = (  # the geometry is TurnFlip's
            per_image[..., 0:1],
            per_image[..., 1:2],
            per_image[..., 2:5],
            per_image[..., 5:6],
        )
        x = ops.cast(image, "float32")
        x = ops.floor(ops.clip((x - 128.0) * contrast * gains + 128.0 + brightness, 0.0, 255.0))
        luminance = ops.round(ops.sum(x * ops.array(LUMINANCE, "float32"), axis=-1, keepdims=True))
        x = ops.where(grey > 0.5, luminance, x)  # broadcast: grey images take luminance thrice
        return ops.cast(x, "uint8")

    def compute_output_spec(self, image, draws, training=None):
        return keras.KerasTensor(image.shape, dtype="uint8")


@keras.saving.register_keras_serializable(PACKAGE)
class TurnFlip(layers.Layer):
    """(uint8 images (N, H, H, C) or masks (N, H, H), draws (N, :data:`DRAWS`)) -> the same,
    each turned and flipped by its geometry code, in training only."""

    def call(self, x, draws, training=None):
        if not training:
            return x
        px = x.shape[1]
        codes = ops.cast(draws[:, GEOMETRY], "int32")
        sources = ops.take(ops.convert_to_tensor(geometry_table(px)), codes, axis=0)  # (N, P)
        flat = ops.reshape(x, (-1, px * px, 1 if len(x.shape) == 3 else x.shape[-1]))
        moved = ops.take_along_axis(flat, ops.broadcast_to(sources[..., None], ops.shape(flat)), axis=1)
        return ops.reshape(moved, ops.shape(x))

    def compute_output_spec(self, x, draws, training=None):
        return keras.KerasTensor(x.shape, dtype=x.dtype)
